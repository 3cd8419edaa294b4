"""What a process keeps per tenant of its knowledge base (the retrieval index, the curated
answers), built for one ``Tenant.knowledge_version`` and rebuilt when the version moves on: a
change on any instance bumps it, so the next question everywhere sees the change."""

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

Built = TypeVar("Built")

TENANTS_KEPT = 64  # tenants whose index a process keeps (least recently used dropped)


class VersionedIndexes(Generic[Built]):
    def __init__(self, build: Callable[[int], Built]) -> None:
        self._build = build  # the tenant's index, from the database
        self._kept: OrderedDict[int, tuple[int, Built]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, tenant_id: int, version: int) -> Built:
        with self._lock:
            kept = self._kept.get(tenant_id)
            if kept is not None and kept[0] == version:
                self._kept.move_to_end(tenant_id)
                return kept[1]
        built = self._build(tenant_id)
        with self._lock:
            self._kept[tenant_id] = (version, built)
            self._kept.move_to_end(tenant_id)
            while len(self._kept) > TENANTS_KEPT:
                self._kept.popitem(last=False)
        return built

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
