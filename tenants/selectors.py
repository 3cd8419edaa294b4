"""Reads about tenants: the chat configuration snapshot and membership checks."""

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from tenants.models import Membership, Role, Tenant
from tools.catalog import ToolSpec, allowed_tools

# Where a browser session keeps the tenant its user chose (chat page, session-authenticated API).
SESSION_TENANT_KEY = "chat_tenant"

# A configuration edit reaches every live connection within this many seconds.
_CONFIG_TTL_SECONDS = 5.0
_config_cache: dict[int, tuple[float, "ChatConfig"]] = {}


@dataclass(frozen=True, slots=True)
class TenantLimits:
    """The tier's limits with the tenant's overrides applied; ``None`` means unlimited."""

    messages_per_minute: int
    messages_per_hour: int | None
    user_messages_per_minute: int
    max_concurrent_streams: int
    monthly_token_budget: int | None
    conversation_cost_cap_usd: Decimal | None
    tier_name: str
    max_sockets_per_user: int | None = None
    max_sockets: int | None = None


def _first_set(*values: int | None) -> int | None:
    return next((value for value in values if value is not None), None)


def tenant_limits(tenant: Tenant) -> TenantLimits:
    tier = tenant.tier
    per_minute = _first_set(tenant.messages_per_minute_override, tier.messages_per_minute)
    assert per_minute is not None
    return TenantLimits(
        messages_per_minute=per_minute,
        messages_per_hour=_first_set(tenant.messages_per_hour_override, tier.messages_per_hour),
        user_messages_per_minute=tenant.user_messages_per_minute or per_minute,
        max_concurrent_streams=_first_set(tenant.max_concurrent_streams_override, tier.max_concurrent_streams)
        or 1,
        monthly_token_budget=_first_set(tenant.monthly_token_budget_override, tier.monthly_token_budget),
        conversation_cost_cap_usd=tenant.conversation_cost_cap_usd,
        tier_name=tier.name,
        max_sockets_per_user=_first_set(tenant.max_sockets_per_user_override, tier.max_sockets_per_user),
        max_sockets=_first_set(tenant.max_sockets_override, tier.max_sockets),
    )


_USAGE_ROLES = frozenset({Role.OWNER, Role.ADMIN})


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
    limits: TenantLimits
    fallback_model: str
    # Model per routing class ("simple", "moderate", "complex"); a missing class uses `model`.
    routing: dict[str, str]
    blocked_topics: tuple[str, ...]
    pii_filter: bool
    pii_region: str
    pii_keep_patterns: tuple[str, ...]
    # An escalation is e-mailed (the tenant has an escalation address), not only recorded.
    escalation_notifies: bool
    # The handover rules (issue 33): a 👎 hands the conversation to a person; so do this many
    # failed, fallback or refused answers in a row (0: never).
    handoff_on_thumbs_down: bool
    handoff_after_failures: int
    members_see_usage: bool
    # The tools the assistant is offered (allowed ones only), how many rounds, arguments shown.
    tools: tuple[ToolSpec, ...]
    max_tool_rounds: int
    show_tool_arguments: bool
    exact_cache: bool
    semantic_cache: bool
    semantic_threshold: float
    curated_threshold: float
    cache_ttl_s: int
    summarize_after_messages: int
    # A generation nobody is attached to for this long is cancelled (chat.turns.generations).
    orphan_grace_s: float

    def shows_usage_to(self, role: str) -> bool:
        """Whether the chat page shows this role each answer's model, tokens and cost: never to
        anyone but a member (a widget visitor)."""
        return role in _USAGE_ROLES or (self.members_see_usage and role in Role.values)


def routing_models(tenant: Tenant) -> dict[str, str]:
    """The model each routing class goes to, for the classes the tenant maps while routing is on
    (any other class, and every class with routing off, goes to its ``model``)."""
    if not tenant.model_routing_enabled:
        return {}
    mapped = {
        "simple": tenant.routing_model_simple,
        "moderate": tenant.routing_model_moderate,
        "complex": tenant.routing_model_complex,
    }
    return {route: model for route, model in mapped.items() if model}


def chat_config_get(*, tenant_id: int) -> ChatConfig:
    now = time.monotonic()
    cached = _config_cache.get(tenant_id)
    if cached is not None and now - cached[0] < _CONFIG_TTL_SECONDS:
        return cached[1]
    tenant = Tenant.objects.select_related("tier").get(pk=tenant_id)
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
        limits=tenant_limits(tenant),
        fallback_model=tenant.fallback_model,
        routing=routing_models(tenant),
        blocked_topics=tuple(str(topic) for topic in tenant.blocked_topics),
        pii_filter=tenant.pii_filter,
        pii_region=tenant.pii_region,
        pii_keep_patterns=tuple(str(pattern) for pattern in tenant.pii_keep_patterns),
        escalation_notifies=bool(tenant.escalation_email),
        handoff_on_thumbs_down=tenant.handoff_on_thumbs_down,
        handoff_after_failures=tenant.handoff_after_failures,
        members_see_usage=tenant.members_see_usage,
        tools=allowed_tools(tenant_id=tenant.pk, allowed=list(tenant.allowed_tools))
        if tenant.allowed_tools
        else (),
        max_tool_rounds=tenant.max_tool_rounds,
        show_tool_arguments=tenant.show_tool_arguments,
        exact_cache=tenant.exact_cache_enabled,
        semantic_cache=tenant.semantic_cache_enabled,
        semantic_threshold=tenant.semantic_cache_threshold,
        curated_threshold=tenant.curated_answer_threshold,
        cache_ttl_s=tenant.cache_ttl_seconds,
        summarize_after_messages=tenant.summarize_after_messages,
        orphan_grace_s=float(
            tenant.orphan_grace_seconds
            if tenant.orphan_grace_seconds is not None
            else settings.CHAT_ORPHAN_GRACE_S
        ),
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


def session_membership(*, session: Any, user_id: int) -> Membership | None:
    """The membership of the tenant a browser session chose (chat page, session-authenticated
    API), if it is still active."""
    tenant_slug = session.get(SESSION_TENANT_KEY)
    return active_membership(user_id=user_id, tenant_slug=tenant_slug) if tenant_slug else None


def page_membership(*, session: Any, user_id: int) -> tuple[Membership | None, int]:
    """The membership of the tenant a page's session chose (the only one, chosen now, when the
    user has one), and how many the user has (the pages offer to switch when several)."""
    memberships = memberships_of_user(user_id=user_id)
    chosen = session.get(SESSION_TENANT_KEY)
    current = next((m for m in memberships if m.tenant.slug == chosen), None)
    if current is None and len(memberships) == 1:
        current = memberships[0]
        session[SESSION_TENANT_KEY] = current.tenant.slug
    return current, len(memberships)


def member_emails(*, tenant_id: int, roles: Iterable[str]) -> list[str]:
    """The addresses of the tenant's active members with one of ``roles`` (the ones a notice
    about the tenant goes to), each once."""
    return sorted(
        set(
            Membership.objects.for_tenant(tenant_id)
            .filter(role__in=list(roles), active=True, user__is_active=True)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )


def memberships_of_user(*, user_id: int) -> list[Membership]:
    """Every tenant the user may chat in (a user-level, deliberately cross-tenant read)."""
    return list(
        Membership.objects.unscoped()
        .select_related("tenant")
        .filter(user_id=user_id, active=True, tenant__active=True)
        .order_by("tenant__name")
    )


@functools.cache
def chat_access_sql() -> str:
    """The member's role, budget and tenant's knowledge version, one row while membership,
    tenant and user are all active (params: tenant id, user id); ``chat.selectors.turn_opening``
    embeds it."""
    return (
        "SELECT m.role, COALESCE(m.monthly_token_budget, t.member_monthly_token_budget) AS budget, "  # noqa: S608 (table names from the models)
        "t.knowledge_version "
        f"FROM {Membership._meta.db_table} m "
        f"JOIN {Tenant._meta.db_table} t ON t.id = m.tenant_id "
        f"JOIN {get_user_model()._meta.db_table} u ON u.id = m.user_id "
        "WHERE m.tenant_id = %s AND m.user_id = %s AND m.active AND t.active AND u.is_active"
    )


@dataclass(frozen=True, slots=True)
class ChatAccess:
    role: str
    # The member's own monthly token budget (theirs, else the tenant's default; None: none).
    monthly_token_budget: int | None


def chat_access(*, tenant_id: int, user_id: int) -> ChatAccess | None:
    """The user's role and budget in the tenant while membership, tenant and user are all
    active; else None. Checked on every chat message (one indexed query in plain SQL): rights
    revoked while a socket is open stop it even if the push that closes it is missed."""
    with connection.cursor() as cursor:
        cursor.execute(chat_access_sql(), [tenant_id, user_id])
        row = cursor.fetchone()
    return ChatAccess(role=row[0], monthly_token_budget=row[1]) if row is not None else None
