"""Reads about conversations, always inside the caller's tenant."""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from chat.models import Conversation, Message


class ConversationNotFound(Exception):
    """Unknown id, or another user's or another tenant's conversation: the same answer."""


def conversation_for_user(*, tenant_id: int, user_id: int, conversation_id: int) -> Conversation:
    try:
        return Conversation.objects.for_tenant(tenant_id).get(pk=conversation_id, user_id=user_id)
    except Conversation.DoesNotExist:
        raise ConversationNotFound(conversation_id) from None


def context_messages(*, tenant_id: int, conversation_id: int, limit: int) -> list[dict[str, str]]:
    """The last ``limit`` messages of a conversation, oldest first, in chat-completion form."""
    rows = list(
        Message.objects.for_tenant(tenant_id)
        .filter(conversation_id=conversation_id)
        .exclude(content="")
        .order_by("-id")
        .values_list("role", "content")[:limit]
    )
    return [{"role": role, "content": content} for role, content in reversed(rows)]


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


class ClientIdTaken(Exception):
    """The client_id belongs to another user's message."""


def answer_for_client_id(*, tenant_id: int, user_id: int, client_id: uuid.UUID) -> StoredAnswer | None:
    """The stored answer to the user message sent with ``client_id``, if it was answered."""
    # Asked before every message and almost always empty: kept to one cheap indexed query.
    found = (
        Message.objects.for_tenant(tenant_id)
        .filter(client_id=client_id)
        .order_by()
        .values_list("pk", "conversation__user_id")[:1]
    )
    if not found:
        return None
    question_id, owner_id = found[0]
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
    )
