"""Daphne on uvloop, with a graceful drain on SIGTERM:
``python -m chatplatform.server [daphne options] chatplatform.asgi:application``.

uvloop: Daphne creates its event loop when ``daphne.server`` is imported, with the current
asyncio policy; installing uvloop's policy first gives it uvloop. Per streamed token the process
does mostly event-loop work (socket readiness, wake-ups, transports), and uvloop roughly halved
the platform's overhead on time to first token at 100 concurrent streams (``bench/ws_bench.py``).

Drain: plain Daphne stops at once on SIGTERM, cancelling every answer in flight; this server
drains first (``chatplatform.daphne_ext``). Every ``daphne`` option works unchanged.
"""

import asyncio
import os

import uvloop


def _preload_embedding_model() -> None:
    """Start loading the semantic cache's model in the background when a tenant uses it (the
    first message must not wait for it; a deployment where no tenant does never loads it). A
    tenant that turns the cache on later starts the loading with its first message."""
    from django.db import DatabaseError, connections

    from chat.gateway.semantic_cache import embedder, embedder_installed
    from tenants.models import Tenant

    if not embedder_installed():
        return
    try:
        wanted = Tenant.objects.filter(active=True, semantic_cache_enabled=True).exists()
    except DatabaseError:
        wanted = True  # cannot tell: better loaded for nothing than a slow first message
    finally:
        connections.close_all()  # back to the pool: the event loop's thread holds none
    if wanted:
        embedder().start_loading()


def main() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
    import django

    django.setup()
    from chatplatform.metrics import warn_if_unscrapable

    warn_if_unscrapable()
    _preload_embedding_model()
    # Imported after the policy (see above) and after Django's set-up.
    from daphne.cli import CommandLineInterface

    from chatplatform.daphne_ext import ChatServer

    CommandLineInterface.server_class = ChatServer
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
