"""Step 3 of the message path (DESIGN.md), in one trip to a database thread: the caller's rights,
the tenant's config (with the conversation's experiment variant over it), moderation, routing,
curated answers and the context of the turn (``turn_prepare``, which ends in ``turn_begin``)."""

import functools
import uuid
from collections.abc import Callable

import structlog

from billing.admission import VisitorLimits
from billing.pricing import price_for
from chat.events import PII_REDACTED, get_event_counts
from chat.files import FileNotFound, files_block, files_for_turn, image_parts
from chat.gateway.llm import ChatRequest
from chat.gateway.llm.tokens import IMAGE_TOKENS
from chat.gateway.model_routing import UNROUTED, route_model
from chat.gateway.moderation import BlockedTopic, PiiPolicy, moderate, scrubbed
from chat.history.context import build_context
from chat.history.pending import conversation_allocate, conversation_materialize, conversation_pending
from chat.history.working_memory import Remembered
from chat.models import Handoff
from chat.protocol import ErrorCode, UserMessage
from chat.selectors import (
    ClientIdTaken,
    ConversationNotFound,
    ConversationState,
    NotReplaceable,
    StoredAnswer,
    TurnOpening,
    conversation_for_user,
    replaced_question,
    turn_opening,
)
from chat.services import message_held
from chat.turn import ChatSession, HeldMessage, PreparedTurn, RightsRevoked, TurnRefused
from infra import metrics
from infra.embedder import question_vector
from infra.tracing import tracer
from knowledge.curated import curated_match
from knowledge.retrieval import knowledge_block, turn_passages
from tenants.experiments import Overrides, active_experiment, assign
from tenants.models import Variant
from tenants.selectors import ChatConfig

log = structlog.stdlib.get_logger(__name__)


def session_open(
    *,
    tenant_id: int,
    tenant_slug: str,
    user_id: int,
    role: str,
    conversation_id: int | None,
    access_sql: str | None = None,
    visitor: VisitorLimits | None = None,
) -> tuple[ChatSession, ChatConfig]:
    """The session of a new conversation (``conversation_id`` None: an id, no row yet, see
    ``chat.history.pending``) or of one of the user's own, written or still pending (else
    ``ConversationNotFound``); it keeps the experiment variant it started in."""
    variant: Variant | None
    if conversation_id is None:
        experiment = active_experiment(tenant_id=tenant_id)
        variant = assign(experiment=experiment, user_id=user_id) if experiment is not None else None
        conversation_id = conversation_allocate(
            tenant_id=tenant_id,
            user_id=user_id,
            variant_id=variant.pk if variant is not None else None,
            site_id=visitor.site_id if visitor is not None else None,
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
        access_sql=access_sql,
        visitor=visitor,
    )
    return session, session.config()


def turn_prepare(
    *,
    session: ChatSession,
    message: UserMessage,
    model_name: Callable[[str], str],
    history: list[Remembered],
) -> tuple[ChatConfig, StoredAnswer | HeldMessage | PreparedTurn]:
    """Routing comes before limits: the budget reservation needs the routed request. A
    regenerated answer is not routed: the tenant's default model gives it."""
    content, client_id = message.content, message.client_id
    try:
        opening = turn_opening(
            tenant_id=session.tenant_id,
            user_id=session.user_id,
            conversation_id=session.conversation_id,
            client_id=client_id,
            access_sql=session.access_sql,
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
        get_event_counts().add(session.tenant_id, PII_REDACTED, moderated.found.total())
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
                replaces=message.replaces,
                variant_id=session.overrides.variant_id if session.overrides is not None else None,
                site_id=session.site_id,
            )
        except FileNotFound:
            raise TurnRefused(ErrorCode.NOT_FOUND, "no such attachment (upload it first)") from None
    return config, begun


def turn_begin(
    *,
    config: ChatConfig,
    user_id: int,
    conversation_id: int,
    content: str,
    client_id: uuid.UUID,
    answering_model: str,
    history: list[Remembered],
    opening: TurnOpening,
    route: str = "",
    variant_id: int | None = None,
    files: tuple[int, ...] = (),
    regenerate: bool = False,
    replaces: int | None = None,
    site_id: int | None = None,
) -> StoredAnswer | HeldMessage | PreparedTurn:
    """Everything a generation needs, read in one go so the token loop never queries.
    ``history`` is the conversation's recent messages (``chat.history.working_memory``), ``opening``
    what ``turn_opening`` read.

    A ``client_id`` that was already answered returns the stored answer instead (a replay
    after a reconnect must not call the LLM twice). While an agent holds the conversation the
    message is stored for them and the bot stays silent (``HeldMessage``, a replay too).
    ``replaces``: the last answer, whose turn this one replaces (``replaced_question``).
    """
    if opening.answered is not None:
        return opening.answered
    if opening.held is not None:
        return HeldMessage(conversation_id=conversation_id, message_id=opening.held, content=content)
    state = opening.state
    replaced_from = None
    if replaces is not None:
        replaced_from = _replaced_from(config.tenant_id, conversation_id, replaces, state)
        history = [m for m in history if m.id < replaced_from]
    if state is not None and state.handoff == Handoff.HUMAN:
        message_id = opening.message_ids[0]
        message_held(
            tenant_id=config.tenant_id,
            conversation_id=conversation_id,
            message_id=message_id,
            content=content,
            client_id=client_id,
        )
        return HeldMessage(conversation_id=conversation_id, message_id=message_id, content=content)
    if state is None:  # its first message: the row is written now (chat.history.pending)
        metrics.CONVERSATIONS.labels(config.tenant_slug).inc()
        conversation_materialize(
            tenant_id=config.tenant_id,
            user_id=user_id,
            conversation_id=conversation_id,
            variant_id=variant_id,
            site_id=site_id,
        )
        state = ConversationState(summary="", summary_upto_id=None, summary_message_count=0, message_count=0)
    price = price_for(answering_model)
    if price.by_default:
        log.warning("billing.priced_by_default", model=answering_model, tenant=config.tenant_slug)
    attached = files_for_turn(
        tenant_id=config.tenant_id, user_id=user_id, conversation_id=conversation_id, file_ids=files
    )
    question = content
    images = image_parts(attached) if price.accepts_images else []
    if attached:
        block = files_block(attached, context_tokens=price.context_tokens, images_given=bool(images))
        question = f"{content}\n\n{scrubbed(pii=PiiPolicy.of(config), text=block)}"
    vector = functools.cache(lambda: question_vector(content))  # embedded once, if at all
    curated = None
    if not (attached or regenerate):  # a question about a file is not a frequent one
        curated = curated_match(
            tenant_id=config.tenant_id,
            question=content,
            version=opening.knowledge_version,
            vector=vector,
            threshold=config.curated_threshold,
        )
    passages = []
    if curated is None:  # a curated answer is given as written: no passages to cite
        passages = turn_passages(
            tenant_id=config.tenant_id,
            question=content,
            context_tokens=price.context_tokens,
            version=opening.knowledge_version,
            vector=vector,
        )
    context = build_context(
        system_prompt=config.system_prompt,
        summary=state.summary,
        summary_upto_id=state.summary_upto_id,
        history=history,
        question=question,
        budget_tokens=price.context_tokens - len(images) * IMAGE_TOKENS,
        knowledge=knowledge_block(passages),
    )
    messages = context.messages
    if images:  # the question with its images, as parts (a model that reads images)
        messages = [
            *messages[:-1],
            {"role": "user", "content": [{"type": "text", "text": question}, *images]},
        ]
    user_message_id, answer_message_id = opening.message_ids
    return PreparedTurn(
        tenant_id=config.tenant_id,
        tenant_slug=config.tenant_slug,
        user_id=user_id,
        conversation_id=conversation_id,
        user_message_id=user_message_id,
        answer_message_id=answer_message_id,
        client_id=client_id,
        content=content,
        request=ChatRequest(
            model=answering_model,
            messages=messages,
            max_tokens=config.max_tokens,
            temperature=config.temperature,
            end_user=f"t{config.tenant_id}-u{user_id}",
            tools=tuple(spec.openai() for spec in config.tools),
        ),
        price=price,
        route=route,
        summary_message_count=state.summary_message_count,
        message_count=state.message_count,
        context_overflow=context.overflow,
        variant_id=variant_id,
        sources=tuple(p.source(n) for n, p in enumerate(passages, 1)),
        tool_rounds=config.max_tool_rounds if config.tools else 0,
        files=tuple(f.id for f in attached),
        user_budget=opening.access.monthly_token_budget,
        curated_answer_id=curated.entry_id if curated is not None else None,
        curated_answer=curated.answer if curated is not None else "",
        regenerate=regenerate,
        replaces=replaced_from,
    )


def _replaced_from(
    tenant_id: int, conversation_id: int, answer_id: int, state: ConversationState | None
) -> int:
    """The first message (the question) of the turn ``answer_id`` ends, which a new turn may
    replace: the conversation's last answer, while the assistant (not a person) answers."""
    if state is not None and state.handoff == Handoff.HUMAN:
        raise TurnRefused(
            ErrorCode.BAD_REQUEST, "a person of the team is answering this conversation: send a new message"
        )
    try:
        return replaced_question(tenant_id=tenant_id, conversation_id=conversation_id, answer_id=answer_id)
    except NotReplaceable as refused:
        if not refused.found:
            raise TurnRefused(ErrorCode.NOT_FOUND, "no such answer in this conversation") from None
        raise TurnRefused(
            ErrorCode.BAD_REQUEST, "only the conversation's last answer can be replaced"
        ) from None
