"""Reads about conversations, always inside the caller's tenant.

The reads that run before every single message (``conversation_state``, the replay check of
``answer_for_client_id``, and ``recent_messages`` when the working memory misses) are written
in plain SQL (portable: PostgreSQL and SQLite),
each with its explicit ``tenant_id`` condition. Through the ORM each cost ~500 µs of CPU, almost
all of it building the query, against ~60 µs in plain SQL (``bench/ws_bench.py``).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from chat.history.memory import Remembered
from chat.models import Conversation, Message, Role

_MESSAGE = Message._meta.db_table
_CONVERSATION = Conversation._meta.db_table
_RECENT_SQL = (
    f"SELECT id, role, content FROM {_MESSAGE} "  # noqa: S608 (table names from the models)
    "WHERE tenant_id = %s AND conversation_id = %s ORDER BY id DESC LIMIT %s"
)
_STATE_SQL = (
    f"SELECT summary, summary_upto_id, summary_message_count, message_count FROM {_CONVERSATION} "  # noqa: S608
    "WHERE tenant_id = %s AND id = %s"
)
_CLIENT_ID_SQL = (
    f"SELECT m.id, c.user_id FROM {_MESSAGE} m JOIN {_CONVERSATION} c "  # noqa: S608
    "ON c.id = m.conversation_id WHERE m.tenant_id = %s AND m.client_id = %s"
)


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


@dataclass(frozen=True, slots=True)
class ConversationState:
    summary: str
    summary_upto_id: int | None
    summary_message_count: int
    message_count: int


def conversation_state(*, tenant_id: int, conversation_id: int) -> ConversationState:
    with connection.cursor() as cursor:
        cursor.execute(_STATE_SQL, [tenant_id, conversation_id])
        row = cursor.fetchone()
    if row is None:
        raise ConversationNotFound(conversation_id)
    return ConversationState(
        summary=row[0], summary_upto_id=row[1], summary_message_count=row[2], message_count=row[3]
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
    client_id_param = Message._meta.get_field("client_id").get_db_prep_value(client_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(_CLIENT_ID_SQL, [tenant_id, client_id_param])
        found = cursor.fetchone()
    if found is None:
        return None
    question_id, owner_id = found
    if owner_id != user_id:
        raise ClientIdTaken(client_id)
    answer = Message.objects.for_tenant(tenant_id).get(reply_to_id=question_id)
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
