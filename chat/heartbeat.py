"""The timers of one chat socket: the server's heartbeat (a ``ping`` every
``CHAT_PING_INTERVAL_S``; closed with 4408 when the ``pong`` is later than
``CHAT_PONG_TIMEOUT_S``) and the access token's expiry (closed with 4401)."""

import asyncio
import time
from collections.abc import Awaitable, Callable

from django.conf import settings

from chat.protocol import CLOSE_PONG_TIMEOUT, CLOSE_TOKEN_EXPIRED


class SocketTimers:
    def __init__(
        self, *, send_ping: Callable[[], Awaitable[None]], close: Callable[[int], Awaitable[None]]
    ) -> None:
        self._send_ping, self._close = send_ping, close
        self._expiry: asyncio.TimerHandle | None = None
        # The next ping, or the deadline of the pong the last ping asked for.
        self._heartbeat: asyncio.TimerHandle | None = None

    def start(self, *, expires_at: float | None) -> None:
        """``expires_at``: the token's expiry (Unix time), None for a session."""
        if expires_at is not None:
            self._expiry = self._close_later(max(0.0, expires_at - time.time()), CLOSE_TOKEN_EXPIRED)
        self._schedule_ping()

    def pong(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self._schedule_ping()

    def stop(self) -> None:
        for timer in (self._expiry, self._heartbeat):
            if timer is not None:
                timer.cancel()

    def _schedule_ping(self) -> None:
        self._heartbeat = asyncio.get_running_loop().call_later(
            settings.CHAT_PING_INTERVAL_S, lambda: asyncio.ensure_future(self._ping())
        )

    async def _ping(self) -> None:
        self._heartbeat = self._close_later(settings.CHAT_PONG_TIMEOUT_S, CLOSE_PONG_TIMEOUT)
        await self._send_ping()

    def _close_later(self, delay: float, code: int) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(delay, lambda: asyncio.ensure_future(self._close(code)))
