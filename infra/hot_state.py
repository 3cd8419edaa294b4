"""Deleting a tenant's hot state by key: in Redis when the platform has one (``SCAN`` for each
prefix, ``UNLINK`` in batches: a tenant's keys share its hash tag, so on a Cluster each batch is
one slot's), else in the stores of this process (the embedded default), each of which drops
its own entries under a prefix (``forget``)."""

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from django.conf import settings

from infra.redis_topology import sync_client

_BATCH = 500


@runtime_checkable
class Forgets(Protocol):
    def forget(self, prefix: str) -> int: ...


def hot_state_forget(
    *, prefixes: Sequence[str] = (), keys: Sequence[str] = (), stores: Iterable[object] = ()
) -> int:
    """How many entries went. ``stores``: the in-process stores to ask when there is no Redis
    (a store that is Redis's own has nothing in this process and is skipped; a key is dropped
    there as the prefix of itself)."""
    if not settings.REDIS_URL:
        local = [store for store in stores if isinstance(store, Forgets)]
        return sum(store.forget(p) for store in local for p in [*prefixes, *keys])
    client = sync_client()
    try:
        found = [key for prefix in prefixes for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        found += [key.encode() for key in keys]
        return sum(int(client.unlink(*found[i : i + _BATCH])) for i in range(0, len(found), _BATCH))
    finally:
        client.close()
