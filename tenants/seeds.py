"""The tiers we sell: what the migrations wrote (each keeps a frozen copy of its part), and what
tests that flush the database write again."""

from typing import Any

TIERS: list[dict[str, Any]] = [
    {
        "slug": "free",
        "name": "Free",
        "messages_per_minute": 10,
        "messages_per_hour": 100,
        "max_concurrent_streams": 1,
        "monthly_token_budget": 100_000,
        "max_sockets_per_user": 5,
        "max_sockets": 25,
        "knowledge_max_document_bytes": 1_000_000,
        "knowledge_max_documents": 20,
        "attachment_max_bytes": 2_000_000,
        "attachment_uploads_per_minute": 10,
        "attachment_unsent_files_per_member": 20,
        "attachment_unsent_bytes_per_member": 20_000_000,
        "attachment_unsent_files": 200,
        "attachment_unsent_bytes": 200_000_000,
    },
    {
        "slug": "professional",
        "name": "Professional",
        "messages_per_minute": 30,
        "messages_per_hour": 500,
        "max_concurrent_streams": 3,
        "monthly_token_budget": 1_000_000,
        "max_sockets_per_user": 20,
        "max_sockets": 1000,
        "knowledge_max_document_bytes": 10_000_000,
        "knowledge_max_documents": 1_000,
        "attachment_max_bytes": 10_000_000,
        "attachment_uploads_per_minute": 30,
        "attachment_unsent_files_per_member": 50,
        "attachment_unsent_bytes_per_member": 100_000_000,
        "attachment_unsent_files": 5_000,
        "attachment_unsent_bytes": 5_000_000_000,
    },
    {
        "slug": "enterprise",
        "name": "Enterprise",
        "messages_per_minute": 60,
        "messages_per_hour": 2000,
        "max_concurrent_streams": 10,
        "monthly_token_budget": 10_000_000,
        "max_sockets_per_user": 50,
        "max_sockets": 10_000,
        "knowledge_max_document_bytes": 25_000_000,
        "knowledge_max_documents": 10_000,
        "attachment_max_bytes": 25_000_000,
        "attachment_uploads_per_minute": 60,
        "attachment_unsent_files_per_member": 100,
        "attachment_unsent_bytes_per_member": 250_000_000,
        "attachment_unsent_files": 50_000,
        "attachment_unsent_bytes": 50_000_000_000,
    },
    {
        "slug": "unlimited",
        "name": "Unlimited",
        "messages_per_minute": 120,
        "messages_per_hour": None,
        "max_concurrent_streams": 25,
        "monthly_token_budget": None,
        "max_sockets_per_user": None,
        "max_sockets": None,
        "knowledge_max_document_bytes": 50_000_000,
        "knowledge_max_documents": None,
        "attachment_max_bytes": 50_000_000,
        "attachment_uploads_per_minute": None,
        "attachment_unsent_files_per_member": None,
        "attachment_unsent_bytes_per_member": None,
        "attachment_unsent_files": None,
        "attachment_unsent_bytes": None,
    },
]


def seed_tiers(tier_model: Any) -> None:
    """Create or update the standard tiers (tests that flush the database; the migrations keep
    frozen copies of their values, which ``tests/chatplatform/test_migrations.py`` checks add up to these)."""
    for tier in TIERS:
        values = {key: value for key, value in tier.items() if key != "slug"}
        tier_model.objects.update_or_create(slug=tier["slug"], defaults=values)
