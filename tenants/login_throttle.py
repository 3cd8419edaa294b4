"""Failed sign-ins, counted per username and per client address (``SIGN_IN_FAILURES_*`` in a
window of ``SIGN_IN_WINDOW_S``): past either limit, every attempt is refused until the window
ends, the right password included, and the answer says when to retry. Counted in the cache:
Redis in production, so that every instance sees the same count; in-process by default.

Locking a username lets anyone hold its owner out for a window; the window is short, the address
limit stops one client from trying many usernames, and a success clears the username's count.
"""

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache


def _keys(kind: str, subject: str) -> tuple[str, str]:
    digest = hashlib.sha256(subject.encode("utf-8", "replace")).hexdigest()[:32]
    key = f"global:sign-in:{kind}:{digest}"
    return key, f"{key}:start"


def _subjects(username: str, address: str) -> list[tuple[str, str, int]]:
    return [
        ("user", username.strip().lower(), settings.SIGN_IN_FAILURES_PER_USERNAME),
        ("address", address, settings.SIGN_IN_FAILURES_PER_ADDRESS),
    ]


def retry_after(username: str, address: str) -> int | None:
    """Seconds until this username may try again from this address, or None: it may now."""
    window = settings.SIGN_IN_WINDOW_S
    waits = []
    for kind, subject, limit in _subjects(username, address):
        count_key, start_key = _keys(kind, subject)
        values = cache.get_many([count_key, start_key])
        if values.get(count_key, 0) >= limit:
            started = values.get(start_key, time.time())
            waits.append(max(1, math.ceil(started + window - time.time())))
    return max(waits) if waits else None


def failed(username: str, address: str) -> None:
    window = settings.SIGN_IN_WINDOW_S
    for kind, subject, _ in _subjects(username, address):
        count_key, start_key = _keys(kind, subject)
        cache.add(start_key, time.time(), timeout=window)  # the window starts at the first failure
        if not cache.add(count_key, 1, timeout=window):
            try:
                cache.incr(count_key)
            except ValueError:  # the window ended in between
                cache.add(count_key, 1, timeout=window)


def succeeded(username: str) -> None:
    cache.delete_many(list(_keys("user", username.strip().lower())))
