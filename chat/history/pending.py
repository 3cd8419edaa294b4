"""A conversation before its first message: its id, not its row.

A socket's ``ready`` names its conversation from the first frame, and a client may reconnect to
it before sending anything; but a page load or a bare connection must leave nothing behind (no
row in lists, the admin, analytics; no write per handshake). So a new conversation gets an id
from the table's sequence and is remembered for its user in the cache (Redis in production) for
``CHAT_PENDING_CONVERSATION_S``; its row is written with its first message, or when its user
asks for a human (``conversation_materialize``). Without the cache, the row is written at once:
the id must stay valid for a reconnect.
"""

from typing import Any

import structlog
from django.conf import settings
from redis.exceptions import RedisError

from chat.history.ids import allocate_conversation_id
from chat.models import Conversation
from chatplatform.shared_cache import shared_cache

log = structlog.stdlib.get_logger(__name__)


def _key(tenant_id: int, conversation_id: int) -> str:
    return f"t:{tenant_id}:conv:{conversation_id}:pending"


def conversation_allocate(*, tenant_id: int, user_id: int, variant_id: int | None) -> int:
    conversation_id = allocate_conversation_id()
    try:
        shared_cache().set(
            _key(tenant_id, conversation_id), [user_id, variant_id], settings.CHAT_PENDING_CONVERSATION_S
        )
    except (RedisError, OSError) as exc:
        log.warning("conversation.pending_unavailable", error=repr(exc))
        conversation_materialize(
            tenant_id=tenant_id, user_id=user_id, conversation_id=conversation_id, variant_id=variant_id
        )
    return conversation_id


def conversation_pending(*, tenant_id: int, user_id: int, conversation_id: int) -> tuple[bool, int | None]:
    """(whether ``conversation_id`` is this user's conversation with no row yet, its variant)."""
    try:
        entry: Any = shared_cache().get(_key(tenant_id, conversation_id))
    except (RedisError, OSError) as exc:
        log.warning("conversation.pending_unavailable", error=repr(exc))
        return False, None
    if not isinstance(entry, list) or entry[0] != user_id:
        return False, None
    return True, entry[1]


def conversation_pending_forget(*, tenant_id: int, conversation_id: int) -> None:
    """The id is no longer a pending conversation (its row was deleted by its user): a reconnect
    to it is refused from now on."""
    try:
        shared_cache().delete(_key(tenant_id, conversation_id))
    except (RedisError, OSError) as exc:
        log.warning("conversation.pending_unavailable", error=repr(exc))


def conversation_materialize(
    *, tenant_id: int, user_id: int, conversation_id: int, variant_id: int | None
) -> None:
    """Write the conversation's row if it is not there yet (two sockets may race to it)."""
    Conversation.objects.bulk_create(
        [Conversation(pk=conversation_id, tenant_id=tenant_id, user_id=user_id, variant_id=variant_id)],
        ignore_conflicts=True,
    )
