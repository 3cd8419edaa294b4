"""Reads about tenants: the chat configuration snapshot and membership checks."""

import time
from dataclasses import dataclass

from tenants.models import Membership, Tenant

# Where a browser session keeps the tenant its user chose (chat page, session-authenticated API).
SESSION_TENANT_KEY = "chat_tenant"

# A configuration edit reaches every live connection within this many seconds.
_CONFIG_TTL_SECONDS = 5.0
_config_cache: dict[int, tuple[float, "ChatConfig"]] = {}


@dataclass(frozen=True, slots=True)
class ChatConfig:
    """What a generation needs to know about its tenant, read once before it starts."""

    tenant_id: int
    tenant_slug: str
    version: int
    system_prompt: str
    model: str
    temperature: float
    max_tokens: int
    max_message_chars: int
    greeting: str


def chat_config_get(*, tenant_id: int) -> ChatConfig:
    now = time.monotonic()
    cached = _config_cache.get(tenant_id)
    if cached is not None and now - cached[0] < _CONFIG_TTL_SECONDS:
        return cached[1]
    tenant = Tenant.objects.get(pk=tenant_id)
    config = ChatConfig(
        tenant_id=tenant.pk,
        tenant_slug=tenant.slug,
        version=tenant.config_version,
        system_prompt=tenant.system_prompt,
        model=tenant.model,
        temperature=tenant.temperature,
        max_tokens=tenant.max_tokens_per_response,
        max_message_chars=tenant.max_message_chars,
        greeting=tenant.greeting,
    )
    _config_cache[tenant_id] = (now, config)
    return config


def forget_chat_configs() -> None:
    _config_cache.clear()


def active_membership(*, user_id: int, tenant_slug: str) -> Membership | None:
    """The user's active membership of an active tenant, or None: the gate for every session."""
    return (
        Membership.objects.unscoped()  # the tenant is what is being looked up
        .select_related("tenant", "user")
        .filter(
            user_id=user_id,
            user__is_active=True,
            tenant__slug=tenant_slug,
            tenant__active=True,
            active=True,
        )
        .first()
    )


def memberships_of_user(*, user_id: int) -> list[Membership]:
    """Every tenant the user may chat in (a user-level, deliberately cross-tenant read)."""
    return list(
        Membership.objects.unscoped()
        .select_related("tenant")
        .filter(user_id=user_id, active=True, tenant__active=True)
        .order_by("tenant__name")
    )
