"""Counting something per clock hour in the shared cache (new widget visitors from an address,
new end users an API key names): one more, and how long to wait once past the limit."""

import time

from infra.shared_cache import shared_cache


def hour_count_exceeded(key: str, limit: int) -> int | None:
    """One more under ``key`` this clock hour; the seconds to the next hour when that makes more
    than ``limit``, else None."""
    now = time.time()
    hour = int(now // 3600)
    counted = f"{key}:{hour}"
    cache = shared_cache()
    cache.add(counted, 0, 3600)
    if cache.incr(counted) > limit:
        return max(1, int((hour + 1) * 3600 - now))
    return None
