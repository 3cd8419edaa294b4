"""The answer's text as ``token`` frames, coalesced so a fast model does not send a frame per token."""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from chat.frames import token_frame

SendFrame = Callable[[Mapping[str, Any]], Awaitable[None]]


class TokenFrames:
    """Coalesces text deltas into ``token`` frames: the first at once (time to first token is
    what users feel), then at most one frame per interval, and never holds text longer than
    that interval even when the upstream pauses."""

    def __init__(self, send: SendFrame, *, message_id: int, interval: float) -> None:
        self._send = send
        self._message_id = message_id
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._buffer: list[str] = []
        self._lock = asyncio.Lock()
        self._last_flush = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timed_flush: asyncio.Task[None] | None = None
        self.seq = 0

    async def push(self, text: str) -> None:
        self._buffer.append(text)
        wait = self._last_flush + self._interval - self._loop.time()
        if self.seq == 0 or wait <= 0:
            await self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timed_flush = asyncio.ensure_future(self.flush())

    async def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._lock:
            if not self._buffer:
                return
            text = "".join(self._buffer)
            self._buffer.clear()
            self.seq += 1
            self._last_flush = self._loop.time()
            await self._send(token_frame(message_id=self._message_id, seq=self.seq, content=text))

    async def event(self, frame: Mapping[str, Any]) -> None:
        """Another frame of the answer (a ``tool`` frame), after the text streamed before it."""
        await self.flush()
        await self._send(frame)

    async def close(self) -> None:
        """Send what is still buffered; after this no frame is sent."""
        if self._timed_flush is not None:
            await self._timed_flush
        await self.flush()
