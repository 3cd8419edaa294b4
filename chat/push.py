"""Frames pushed to every open chat socket of one user, on every instance, through the channel
layer. Each socket joins its user's group on connect; the group name starts with the tenant, so
no push can cross tenants."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chat.frames import Frame


def user_group(*, tenant_id: int, user_id: int) -> str:
    return f"t{tenant_id}.u{user_id}"


def key_group(*, tenant_id: int, key_id: int) -> str:
    """Every chat socket an API key opened (its end users'): its revocation closes them."""
    return f"t{tenant_id}.k{key_id}"


async def push_to_user(*, tenant_id: int, user_id: int, frame: Frame) -> None:
    """Send ``frame`` (a protocol v1 server frame) to all the user's sockets in that tenant."""
    layer = get_channel_layer()
    assert layer is not None  # CHANNEL_LAYERS is always configured (settings.data_stores)
    await layer.group_send(
        user_group(tenant_id=tenant_id, user_id=user_id), {"type": "user.push", "frame": frame}
    )


def push_event_sync(*, tenant_id: int, user_id: int, event: dict[str, Any]) -> None:
    """A channel-layer ``event`` for the consumers of all the user's sockets in that tenant, from
    synchronous code (a view, a signal)."""
    layer = get_channel_layer()
    assert layer is not None
    async_to_sync(layer.group_send)(user_group(tenant_id=tenant_id, user_id=user_id), event)


def inbox_group(tenant_id: int) -> str:
    """The tenant's support team: every open inbox socket (``inbox.consumers``) of the tenant."""
    return f"t{tenant_id}.inbox"


async def tell_inbox(*, tenant_id: int, event: dict[str, Any]) -> None:
    """A channel-layer ``event`` (``type`` ``inbox.*``) for every inbox socket of the tenant, on
    every instance: what happens in its conversations that the support team follows live."""
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_send(inbox_group(tenant_id), event)


def tell_inbox_sync(*, tenant_id: int, event: dict[str, Any]) -> None:
    async_to_sync(tell_inbox)(tenant_id=tenant_id, event=event)
