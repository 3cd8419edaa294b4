"""Chat sockets open at once, per user and per tenant (the tier's ``max_sockets_per_user`` and
``max_sockets``, overridable per tenant): a slot in each, taken at the handshake, renewed with
the heartbeat and given back at the close; a crashed instance's slots lapse after
``SOCKET_LEASE_TTL_S``.

Unlike messages, sockets fail open when the limit store cannot be reached: an open socket costs
nothing by itself, and every message it sends is still admitted (and refused while the store is
away, ``billing.admission``).
"""

import uuid
from dataclasses import dataclass

import structlog
from django.conf import settings

from billing.limits import get_limit_store
from billing.limits.base import LimitStore, LimitStoreUnavailable, StreamLease
from infra.keys import tenant_prefix
from tenants.selectors import TenantLimits

log = structlog.stdlib.get_logger(__name__)

# Names the client is told (the error frame's ``limit``).
USER_SOCKETS, TENANT_SOCKETS = "user_sockets", "tenant_sockets"


class TooManySockets(Exception):
    def __init__(self, limit: str, most: int) -> None:
        super().__init__(limit)
        self.limit, self.most = limit, most


@dataclass
class SocketSlots:
    store: LimitStore
    leases: list[StreamLease]

    async def renew(self) -> None:
        try:
            for lease in self.leases:
                await self.store.renew(lease=lease)
        except LimitStoreUnavailable as exc:
            log.warning("sockets.renew_failed", error=str(exc))

    async def release(self) -> None:
        try:
            await self.store.release(leases=self.leases)
        except LimitStoreUnavailable as exc:  # the slots lapse by themselves
            log.warning("sockets.release_failed", error=str(exc))


async def socket_slots_take(*, tenant_id: int, user_id: int, limits: TenantLimits) -> SocketSlots | None:
    """The socket's slots, or ``TooManySockets``; None when nothing is counted."""
    if not settings.LIMITS_ENABLED:
        return None
    lease_id, ttl_s = uuid.uuid4().hex, settings.SOCKET_LEASE_TTL_S
    wanted = [
        (USER_SOCKETS, f"{tenant_prefix(tenant_id)}:sockets:user:{user_id}", limits.max_sockets_per_user),
        (TENANT_SOCKETS, f"{tenant_prefix(tenant_id)}:sockets", limits.max_sockets),
    ]
    counted = [
        (name, StreamLease(key, lease_id, most, ttl_s)) for name, key, most in wanted if most is not None
    ]
    if not counted:
        return None
    store = get_limit_store()
    leases = [lease for _, lease in counted]
    try:
        full = await store.hold(leases=leases)
    except LimitStoreUnavailable as exc:
        log.warning("sockets.store_unavailable", error=str(exc))
        return None
    if full is not None:
        name, lease = counted[full]
        raise TooManySockets(name, lease.max_streams)
    return SocketSlots(store=store, leases=leases)
