"""Attempts that fail, counted to stop guessing: sign-ins per username and per client address
(``SIGN_IN_FAILURES_*`` in ``SIGN_IN_WINDOW_S``), and usernames found taken when a tenant admin
creates an account, per admin (``USERNAME_TAKEN_PER_ACTOR`` in the same window: the answer tells
that a username exists). Past a limit every attempt is refused until the window ends (the right
password included) and the answer says when to retry. Counted in the cache: Redis in production,
so that every instance sees the same count; in-process by default.

Locking a username lets anyone hold its owner out for a window; the window is short, the address
limit stops one client from trying many usernames, and a success clears the username's count.
"""

import hashlib
import math
import time

from django.conf import settings

from infra.shared_cache import shared_cache


def _keys(kind: str, subject: str) -> tuple[str, str]:
    digest = hashlib.sha256(subject.encode("utf-8", "replace")).hexdigest()[:32]
    key = f"global:attempts:{{{kind}:{digest}}}"  # both keys of a counter in one cluster slot
    return key, f"{key}:start"


def _retry_after(counted: list[tuple[str, str, int]]) -> int | None:
    window = settings.SIGN_IN_WINDOW_S
    waits = []
    for kind, subject, limit in counted:
        count_key, start_key = _keys(kind, subject)
        values = shared_cache().get_many([count_key, start_key])
        if values.get(count_key, 0) >= limit:
            started = values.get(start_key, time.time())
            waits.append(max(1, math.ceil(started + window - time.time())))
    return max(waits) if waits else None


def _failed(counted: list[tuple[str, str, int]]) -> None:
    window, cache = settings.SIGN_IN_WINDOW_S, shared_cache()
    for kind, subject, _ in counted:
        count_key, start_key = _keys(kind, subject)
        cache.add(start_key, time.time(), timeout=window)  # the window starts at the first failure
        if not cache.add(count_key, 1, timeout=window):
            try:
                cache.incr(count_key)
            except ValueError:  # the window ended in between
                cache.add(count_key, 1, timeout=window)


def _sign_in(username: str, address: str) -> list[tuple[str, str, int]]:
    return [
        ("sign-in-user", username.strip().lower(), settings.SIGN_IN_FAILURES_PER_USERNAME),
        ("sign-in-address", address, settings.SIGN_IN_FAILURES_PER_ADDRESS),
    ]


def sign_in_retry_after(username: str, address: str) -> int | None:
    """Seconds until this username may sign in again from this address, or None: it may now."""
    return _retry_after(_sign_in(username, address))


def sign_in_failed(username: str, address: str) -> None:
    _failed(_sign_in(username, address))


def sign_in_succeeded(username: str) -> None:
    shared_cache().delete_many(list(_keys("sign-in-user", username.strip().lower())))


def _taken(actor_id: int) -> list[tuple[str, str, int]]:
    return [("username-taken", str(actor_id), settings.USERNAME_TAKEN_PER_ACTOR)]


def username_taken_retry_after(actor_id: int) -> int | None:
    return _retry_after(_taken(actor_id))


def username_found_taken(actor_id: int) -> None:
    _failed(_taken(actor_id))
