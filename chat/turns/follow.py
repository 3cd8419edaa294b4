"""Following a generation that runs in another process: its frames from the generation store,
then live, until its end marker."""

import asyncio
import contextlib
import time

import structlog

from chat.frames import error_frame
from chat.protocol import ErrorCode
from chat.turn import TurnSink
from chat.turns.generations import replayed
from chat.turns.store import START, GenerationInfo, GenerationStore

log = structlog.stdlib.get_logger(__name__)


class Follower:
    """One socket following one remote generation. It tells the generation's process that
    someone is attached (so it is not cancelled as an orphan) every third of the grace."""

    def __init__(self, *, store: GenerationStore, info: GenerationInfo, sink: TurnSink, after: int) -> None:
        self.key = info.key  # as ``Generation.key``
        self.info = info
        self.answered = asyncio.Event()  # as ``Generation.answered``
        self.finished = asyncio.Event()
        self._store, self._sink, self._after = store, sink, after
        self._watch_every = max(0.5, info.orphan_grace_s / 3)
        self._task = asyncio.get_running_loop().create_task(self._run())

    def detach(self, sink: TurnSink) -> None:
        self._task.cancel()

    async def _run(self) -> None:
        last, watched = START, 0.0
        try:
            while True:
                if time.monotonic() - watched >= self._watch_every:
                    await self._store.watch(self.key)
                    watched = time.monotonic()
                entries = await self._store.follow(self.key, after=last, block_s=self._watch_every)
                for entry_id, frame in entries:
                    last = entry_id
                    if frame is None:  # the end marker
                        return
                    if replayed(frame, self._after):
                        await self._sink.emit(frame)
                    if frame["type"] == "done":
                        self.answered.set()
                if not entries and await self._store.info(self.key) is None:
                    return  # lapsed (kept only so long after its end)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("generation.follow_failed", message_id=self.key.message_id, error=repr(exc))
            with contextlib.suppress(Exception):
                await self._sink.emit(
                    error_frame(ErrorCode.SERVICE_UNAVAILABLE, "lost track of the answer: resume it again")
                )
        finally:
            self.answered.set()
            self.finished.set()
