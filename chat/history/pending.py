"""A conversation before its first message: its id, not its row.

A socket's ``ready`` names its conversation from the first frame, and a client may reconnect to
it before sending anything; but a page load or a bare connection must leave nothing behind (no
row in lists, the admin, analytics; no write per handshake). So a new conversation gets an id
from the table's sequence and is remembered for its user in the cache (Redis in production) for
``CHAT_PENDING_CONVERSATION_S``; its row is written with its first message, or when its user
asks for a human (``conversation_materialize``). Without the cache, the row is written at once:
the id must stay valid for a reconnect.

A user's pending conversations take ``PENDING_PER_USER`` slots, reused in turn: a loop of bare
handshakes keeps overwriting them instead of leaving a key a day each (issue 30, 6). A slot is
picked by an atomic counter, so concurrent handshakes (several tabs) take different ones; the
oldest pending conversation is forgotten once as many newer ones were opened (its row, if it got
one, is what finds it from then on).
"""

from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError

from chat.history.ids import allocate_conversation_id
from chat.models import Conversation
from infra.keys import tenant_prefix
from infra.shared_cache import shared_cache
from tenants.events import Event, emit

log = structlog.stdlib.get_logger(__name__)

PENDING_PER_USER = 8


def _prefix(tenant_id: int, user_id: int) -> str:
    return f"{tenant_prefix(tenant_id)}:user:{user_id}:pending"


def _slot_keys(tenant_id: int, user_id: int) -> list[str]:
    return [f"{_prefix(tenant_id, user_id)}:{slot}" for slot in range(PENDING_PER_USER)]


def pending_forget_user(*, tenant_id: int, user_id: int) -> None:
    """Every conversation the user opened and never wrote in (an erasure: ``privacy``)."""
    shared_cache().delete_many(_slot_keys(tenant_id, user_id))


def conversation_allocate(
    *, tenant_id: int, user_id: int, variant_id: int | None, site_id: int | None = None
) -> int:
    conversation_id = allocate_conversation_id()
    try:
        _remember(tenant_id, user_id, [conversation_id, variant_id])
    except (RedisError, OSError) as exc:
        log.warning("conversation.pending_unavailable", error=repr(exc))
        conversation_materialize(
            tenant_id=tenant_id,
            user_id=user_id,
            conversation_id=conversation_id,
            variant_id=variant_id,
            site_id=site_id,
        )
    return conversation_id


def _remember(tenant_id: int, user_id: int, entry: list[int | None]) -> None:
    cache, ttl = shared_cache(), settings.CHAT_PENDING_CONVERSATION_S
    counter = f"{_prefix(tenant_id, user_id)}:next"
    try:
        turn = cache.incr(counter)
        cache.touch(counter, ttl)  # it lives as long as the newest slot
    except ValueError:  # the user's first in a while: no counter yet
        turn = 1 if cache.add(counter, 1, ttl) else cache.incr(counter)
    cache.set(f"{_prefix(tenant_id, user_id)}:{turn % PENDING_PER_USER}", entry, ttl)


def _slots(tenant_id: int, user_id: int) -> dict[str, Any]:
    return shared_cache().get_many(_slot_keys(tenant_id, user_id))


def conversation_pending(*, tenant_id: int, user_id: int, conversation_id: int) -> tuple[bool, int | None]:
    """(whether ``conversation_id`` is this user's conversation with no row yet, its variant)."""
    try:
        slots = _slots(tenant_id, user_id)
    except (RedisError, OSError) as exc:
        log.warning("conversation.pending_unavailable", error=repr(exc))
        return False, None
    for entry in slots.values():
        if isinstance(entry, list) and entry[0] == conversation_id:
            return True, entry[1]
    return False, None


def conversation_pending_forget(*, tenant_id: int, user_id: int, conversation_id: int) -> None:
    """The id is no longer a pending conversation (its row was deleted by its user): a reconnect
    to it is refused from now on."""
    try:
        cache = shared_cache()
        for key, entry in _slots(tenant_id, user_id).items():
            if isinstance(entry, list) and entry[0] == conversation_id:
                cache.delete(key)
    except (RedisError, OSError) as exc:
        log.warning("conversation.pending_unavailable", error=repr(exc))


def conversation_materialize(
    *, tenant_id: int, user_id: int, conversation_id: int, variant_id: int | None, site_id: int | None = None
) -> None:
    """Write the conversation's row if it is not there yet (two sockets may race to it);
    ``site_id``: a widget visitor's, the site it is held on (its channel)."""
    with transaction.atomic():
        # The socket that writes it tells it: a race's loser finds the row (get_or_create's savepoint).
        _, created = Conversation.objects.for_tenant(tenant_id).get_or_create(
            pk=conversation_id,
            defaults={
                "tenant_id": tenant_id,
                "user_id": user_id,
                "variant_id": variant_id,
                "site_id": site_id,
            },
        )
        if not created:
            return
        emit(
            tenant_id=tenant_id,
            event=Event.CONVERSATION_CREATED,
            data={"conversation_id": conversation_id, "user_id": user_id,
                  "channel": f"site:{site_id}" if site_id is not None else "chat"},
        )  # fmt: skip
