"""Step 3 of the message path (DESIGN.md), in one trip to a database thread: the caller's rights,
the tenant's config (with the conversation's experiment variant over it), moderation, routing,
and the context of the turn."""

from collections.abc import Callable

import structlog

from chat.events import PII_REDACTED, events
from chat.files import FileNotFound
from chat.gateway.model_routing import UNROUTED, route_model
from chat.gateway.moderation import BlockedTopic, PiiPolicy, moderate
from chat.history.memory import Remembered
from chat.history.pending import conversation_allocate, conversation_pending
from chat.protocol import ErrorCode, UserMessage
from chat.selectors import (
    ClientIdTaken,
    ConversationNotFound,
    StoredAnswer,
    conversation_for_user,
    turn_opening,
)
from chat.services import turn_begin
from chat.turn import ChatSession, PreparedTurn, RightsRevoked, TurnRefused
from infra import metrics
from infra.tracing import tracer
from tenants.experiments import Overrides, active_experiment, assign
from tenants.models import Variant
from tenants.selectors import ChatConfig

log = structlog.stdlib.get_logger(__name__)


def session_open(
    *, tenant_id: int, tenant_slug: str, user_id: int, role: str, conversation_id: int | None
) -> tuple[ChatSession, ChatConfig]:
    """The session of a new conversation (``conversation_id`` None: an id, no row yet, see
    ``chat.history.pending``) or of one of the user's own, written or still pending (else
    ``ConversationNotFound``); it keeps the experiment variant it started in."""
    variant: Variant | None
    if conversation_id is None:
        experiment = active_experiment(tenant_id=tenant_id)
        variant = assign(experiment=experiment, user_id=user_id) if experiment is not None else None
        conversation_id = conversation_allocate(
            tenant_id=tenant_id, user_id=user_id, variant_id=variant.pk if variant is not None else None
        )
    else:
        try:
            variant = conversation_for_user(
                tenant_id=tenant_id, user_id=user_id, conversation_id=conversation_id
            ).variant
        except ConversationNotFound:
            pending, variant_id = conversation_pending(
                tenant_id=tenant_id, user_id=user_id, conversation_id=conversation_id
            )
            if not pending:
                raise
            variant = Variant.objects.filter(pk=variant_id).first() if variant_id is not None else None
    session = ChatSession(
        tenant_id=tenant_id,
        tenant_slug=tenant_slug,
        user_id=user_id,
        conversation_id=conversation_id,
        role=role,
        overrides=Overrides.of(variant) if variant is not None else None,
    )
    return session, session.config()


def turn_prepare(
    *,
    session: ChatSession,
    message: UserMessage,
    model_name: Callable[[str], str],
    history: list[Remembered],
) -> tuple[ChatConfig, StoredAnswer | PreparedTurn]:
    """Routing comes before limits: the budget reservation needs the routed request. A
    regenerated answer is not routed: the tenant's default model gives it."""
    content, client_id = message.content, message.client_id
    try:
        opening = turn_opening(
            tenant_id=session.tenant_id,
            user_id=session.user_id,
            conversation_id=session.conversation_id,
            client_id=client_id,
        )
    except ClientIdTaken:
        raise TurnRefused(ErrorCode.BAD_REQUEST, "client_id is already in use") from None
    if opening is None or opening.access.role != session.role:
        raise RightsRevoked
    with tracer.start_as_current_span("chat.config"):
        config = session.config()
    if len(content) > config.max_message_chars:
        raise TurnRefused(
            ErrorCode.BAD_REQUEST, f"'content' is longer than {config.max_message_chars} characters"
        )
    with tracer.start_as_current_span("chat.moderation") as span:
        try:
            moderated = moderate(blocked_topics=config.blocked_topics, pii=PiiPolicy.of(config), text=content)
        except BlockedTopic as blocked:
            raise TurnRefused(
                ErrorCode.BLOCKED_TOPIC, f"This assistant cannot help with “{blocked.topic}”."
            ) from None
        span.set_attribute("chat.pii_redacted", moderated.found.total())
        events().add(session.tenant_id, PII_REDACTED, moderated.found.total())
    with tracer.start_as_current_span("chat.routing") as span:
        route, model = (UNROUTED, config.model) if message.regenerate else route_model(config, moderated.text)
        span.set_attributes({"chat.route": route or "unrouted", "gen_ai.request.model": model})
    metrics.ROUTING.labels(config.tenant_slug, route or "unrouted", model).inc()
    log.info("chat.routed", route=route, model=model)
    with tracer.start_as_current_span("chat.context"):
        try:
            begun = turn_begin(
                config=config,
                user_id=session.user_id,
                conversation_id=session.conversation_id,
                content=moderated.text,
                client_id=client_id,
                files=message.files,
                answering_model=model_name(model),
                history=history,
                opening=opening,
                route=route,
                regenerate=message.regenerate,
                variant_id=session.overrides.variant_id if session.overrides is not None else None,
            )
        except FileNotFound:
            raise TurnRefused(ErrorCode.NOT_FOUND, "no such attachment (upload it first)") from None
    return config, begun
