"""Reads about conversations, always inside the caller's tenant.

The reads that run before every single message (``turn_opening``, and ``recent_messages`` when
the working memory misses) are written in plain SQL (portable: PostgreSQL and SQLite), each with
its explicit ``tenant_id`` condition. Through the ORM each cost ~500 µs of CPU, almost all of it
building the query, against ~60 µs in plain SQL (``bench/ws_bench.py``); ``turn_opening`` makes
what were five round trips one.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Avg, Count, Max, Sum

from chat.history.ids import allocate_message_ids, message_ids_sql
from chat.history.working_memory import Remembered
from chat.models import Conversation, Handoff, Message, Role
from tenants.selectors import ChatAccess, chat_access_sql

_MESSAGE = Message._meta.db_table
_CONVERSATION = Conversation._meta.db_table
_RECENT_SQL = (
    f"SELECT id, role, content FROM {_MESSAGE} "  # noqa: S608 (table names from the models)
    "WHERE tenant_id = %s AND conversation_id = %s AND replaced_by_id IS NULL ORDER BY id DESC LIMIT %s"
)
_STATE_SQL = (
    f"SELECT summary, summary_upto_id, summary_message_count, message_count, handoff FROM {_CONVERSATION} "  # noqa: S608
    "WHERE tenant_id = %s AND id = %s"
)
_CLIENT_ID_SQL = (
    f"SELECT m.id, c.user_id FROM {_MESSAGE} m JOIN {_CONVERSATION} c "  # noqa: S608
    "ON c.id = m.conversation_id WHERE m.tenant_id = %s AND m.client_id = %s"
)


def agent_name(agent: Any) -> str:
    """What a user or visitor sees of an agent of the tenant: their first name, else their
    username."""
    return str(agent.first_name or agent.username)


class ConversationNotFound(Exception):
    """Unknown id, or another user's or another tenant's conversation: the same answer."""


def conversation_for_user(*, tenant_id: int, user_id: int, conversation_id: int) -> Conversation:
    try:
        return (
            Conversation.objects.for_tenant(tenant_id)
            .select_related("variant")
            .get(pk=conversation_id, user_id=user_id, deleted_at__isnull=True)
        )
    except Conversation.DoesNotExist:
        raise ConversationNotFound(conversation_id) from None


def conversation_in_inbox(*, tenant_id: int, conversation_id: int) -> bool:
    """Waiting for a human or held by one: the support team follows it live."""
    return (
        Conversation.objects.for_tenant(tenant_id)
        .filter(pk=conversation_id, handoff__in=(Handoff.WAITING, Handoff.HUMAN), deleted_at__isnull=True)
        .exists()
    )


def conversation_state_facts(*, tenant_id: int, user_id: int, conversation_id: int) -> dict[str, Any]:
    """What the ``conversation_facts`` tool tells the model about the user's own conversation."""
    conversation = conversation_for_user(
        tenant_id=tenant_id, user_id=user_id, conversation_id=conversation_id
    )
    return {
        "resolved": conversation.resolved,
        "escalated": conversation.escalated,
        "messages": conversation.message_count,
        "started_at": conversation.started_at.isoformat(),
        "title": conversation.title,
    }


def recent_messages(*, tenant_id: int, conversation_id: int, limit: int) -> list[Remembered]:
    """The last ``limit`` messages of a conversation, oldest first (what working memory holds)."""
    with connection.cursor() as cursor:
        cursor.execute(_RECENT_SQL, [tenant_id, conversation_id, limit])
        rows = cursor.fetchall()
    return [Remembered(id=i, role=role, content=content) for i, role, content in reversed(rows)]


class NotReplaceable(Exception):
    """``replaces`` names no answer of the conversation (``found`` False: another tenant's or
    user's id looks the same), or one that is not its last."""

    def __init__(self, *, found: bool) -> None:
        super().__init__(found)
        self.found = found


def replaced_question(*, tenant_id: int, conversation_id: int, answer_id: int) -> int:
    """The question of ``answer_id``, the conversation's last message and an answer of the
    assistant: the turn a Regenerate or an edit replaces. Only the last turn is replaced, so a
    version is always one question and its answer."""
    messages = Message.objects.for_tenant(tenant_id).filter(conversation_id=conversation_id)
    last = (
        messages.filter(replaced_by__isnull=True)
        .order_by("-id")
        .values_list("id", "role", "reply_to_id")
        .first()
    )
    if last is not None and last[0] == answer_id and last[1] == Role.ASSISTANT and last[2] is not None:
        return int(last[2])
    raise NotReplaceable(found=messages.filter(pk=answer_id, role=Role.ASSISTANT).exists())


@dataclass(frozen=True, slots=True)
class ConversationState:
    summary: str
    summary_upto_id: int | None
    summary_message_count: int
    message_count: int
    handoff: str = ""  # Handoff: "human" while an agent holds it (the bot is silent)


def conversation_state(*, tenant_id: int, conversation_id: int) -> ConversationState:
    with connection.cursor() as cursor:
        cursor.execute(_STATE_SQL, [tenant_id, conversation_id])
        row = cursor.fetchone()
    if row is None:
        raise ConversationNotFound(conversation_id)
    return ConversationState(
        summary=row[0],
        summary_upto_id=row[1],
        summary_message_count=row[2],
        message_count=row[3],
        handoff=row[4],
    )


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    conversation_id: int
    message_id: int
    content: str
    model: str
    finish_reason: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    tokens_estimated: bool
    cost_usd: Decimal
    sources: list[dict[str, Any]]


class ClientIdTaken(Exception):
    """The client_id belongs to another user's message."""


def answer_for_client_id(*, tenant_id: int, user_id: int, client_id: uuid.UUID) -> StoredAnswer | None:
    """The stored answer to the user message sent with ``client_id``, if it was answered."""
    with connection.cursor() as cursor:
        cursor.execute(_CLIENT_ID_SQL, [tenant_id, _client_id_param(client_id)])
        found = cursor.fetchone()
    return _stored_answer(tenant_id, user_id, client_id, found)


@dataclass(frozen=True, slots=True)
class TurnOpening:
    """What a turn reads before its context is built, in one round trip (``turn_opening``)."""

    access: ChatAccess
    knowledge_version: int
    state: ConversationState | None  # None: the conversation's row is not written yet
    answered: StoredAnswer | None  # the client_id's message was answered before
    held: int | None  # the client_id's message, given to an agent (no answer of the bot's)
    message_ids: tuple[int, int]  # the user message's and the answer's, allocated


def turn_opening(
    *,
    tenant_id: int,
    user_id: int,
    conversation_id: int,
    client_id: uuid.UUID,
    access_sql: str | None = None,
) -> TurnOpening | None:
    """The caller's rights (None: no longer a member, see ``chat_access``; ``access_sql`` reads
    them instead for callers who are not members: widget visitors), the conversation's state, the
    answer already stored for ``client_id`` (``ClientIdTaken`` if another user's message has it)
    and two message ids: one statement instead of five."""
    ids_sql = message_ids_sql(2)
    sql = (
        "SELECT a.role, a.budget, a.knowledge_version, s.summary, s.summary_upto_id, "  # noqa: S608
        "s.summary_message_count, s.message_count, s.handoff, q.id, q.user_id"
        f"{', ' + ids_sql if ids_sql else ''} FROM ({access_sql or chat_access_sql()}) a "
        f"LEFT JOIN ({_STATE_SQL}) s ON TRUE LEFT JOIN ({_CLIENT_ID_SQL}) q ON TRUE"
    )
    params = [tenant_id, user_id, tenant_id, conversation_id, tenant_id, _client_id_param(client_id)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    role, budget, knowledge_version, summary, upto_id, summary_count, message_count, handoff = row[:8]
    state = None
    if message_count is not None:
        state = ConversationState(
            summary=summary,
            summary_upto_id=upto_id,
            summary_message_count=summary_count,
            message_count=message_count,
            handoff=handoff,
        )
    question = (row[8], row[9]) if row[8] is not None else None
    # Both ids come from one sequence: the user message's is the lower (history orders by id).
    first, second = sorted(row[10:12]) if ids_sql else allocate_message_ids(2)
    answered = _stored_answer(tenant_id, user_id, client_id, question)
    return TurnOpening(
        access=ChatAccess(role=role, monthly_token_budget=budget),
        knowledge_version=knowledge_version,
        state=state,
        answered=answered,
        # A question stored with no answer was given to the agent holding the conversation.
        held=question[0] if question is not None and answered is None else None,
        message_ids=(first, second),
    )


def _client_id_param(client_id: uuid.UUID) -> Any:
    return Message._meta.get_field("client_id").get_db_prep_value(client_id, connection)


def _stored_answer(
    tenant_id: int, user_id: int, client_id: uuid.UUID, question: tuple[int, int] | None
) -> StoredAnswer | None:
    """The answer to the message ``question`` (its id and its conversation's owner), if any."""
    if question is None:
        return None
    question_id, owner_id = question
    if owner_id != user_id:
        raise ClientIdTaken(client_id)
    answer = Message.objects.for_tenant(tenant_id).filter(reply_to_id=question_id).first()
    if answer is None:  # a message given to an agent: the bot never answers it
        return None
    return StoredAnswer(
        conversation_id=answer.conversation_id,
        message_id=answer.pk,
        content=answer.content,
        model=answer.model,
        finish_reason=answer.finish_reason,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        cached_input_tokens=answer.cached_input_tokens,
        tokens_estimated=answer.tokens_estimated,
        cost_usd=answer.cost_usd,
        sources=answer.sources,
    )


def answer_exists(*, tenant_id: int, message_id: int) -> bool:
    """Whether the answer ``message_id`` is stored (its turn was recorded)."""
    return Message.objects.for_tenant(tenant_id).filter(pk=message_id).exists()


def active_users(tenant_id: int, start: datetime, end: datetime) -> int:
    """The tenant's users with a message in [start, end)."""
    return (
        Message.objects.for_tenant(tenant_id)
        .filter(role=Role.USER, created_at__gte=start, created_at__lt=end)
        .values("conversation__user_id")
        .distinct()
        .count()
    )


def answer_with_question(*, tenant_id: int, message_id: int) -> tuple[str, str] | None:
    """(the question, its answer) of one of the tenant's stored answers; None for any other id."""
    answer = (
        Message.objects.for_tenant(tenant_id)
        .filter(pk=message_id, role=Role.ASSISTANT, reply_to__isnull=False)
        .select_related("reply_to")
        .first()
    )
    if answer is None or answer.reply_to is None:
        return None
    return answer.reply_to.content, answer.content


@dataclass(frozen=True, slots=True)
class CuratedHits:
    hits: int
    last_hit_at: datetime | None


def curated_hits(*, tenant_id: int, entry_ids: list[int]) -> dict[int, CuratedHits]:
    """How many answers each of the tenant's curated entries gave, and when it last did."""
    rows = (
        Message.objects.for_tenant(tenant_id)
        .filter(curated_answer_id__in=entry_ids)
        .values("curated_answer_id")
        .annotate(hits=Count("id"), last_hit_at=Max("created_at"))
    )
    return {row["curated_answer_id"]: CuratedHits(row["hits"], row["last_hit_at"]) for row in rows}


def model_answer_cost(*, tenant_id: int, since: datetime) -> Decimal:
    """The average cost of the tenant's answers that came from the model since ``since`` (what
    an answer given from a cache or a curated entry would have cost, all things equal)."""
    average = (
        Message.objects.for_tenant(tenant_id)
        .filter(role=Role.ASSISTANT, cached=False, created_at__gte=since)
        .aggregate(average=Avg("cost_usd"))["average"]
    )
    return Decimal(average or 0)


@dataclass(frozen=True, slots=True)
class RoutedAnswers:
    route: str  # the class ("simple", "moderate", "complex"), "" when not sorted
    model: str
    answers: int
    cost_usd: Decimal


def routed_answers(*, tenant_id: int, start: datetime, end: datetime) -> list[RoutedAnswers]:
    """The tenant's answers in [start, end) by the class they were sorted into and the model that
    gave them, with what they cost."""
    rows = (
        Message.objects.for_tenant(tenant_id)
        .filter(role=Role.ASSISTANT, created_at__gte=start, created_at__lt=end)
        .values("route", "model")
        .annotate(answers=Count("id"), cost=Sum("cost_usd"))
        .order_by("route", "model")
    )
    return [RoutedAnswers(r["route"], r["model"], r["answers"], Decimal(r["cost"] or 0)) for r in rows]


def questions_not_curated(*, tenant_id: int, since: datetime, limit: int) -> list[str]:
    """The tenant's recent questions (newest first, each text once) whose answer was not a
    curated one and that attached no file: what curated answers could have answered."""
    rows = (
        Message.objects.for_tenant(tenant_id)
        .filter(
            role=Role.ASSISTANT,
            created_at__gte=since,
            curated_answer__isnull=True,
            reply_to__files__isnull=True,
        )
        .order_by("-id")
        .values_list("reply_to__content", flat=True)[: limit * 3]
    )
    return list(dict.fromkeys(rows))[:limit]
