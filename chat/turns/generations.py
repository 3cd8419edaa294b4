"""Generations that outlive their socket: each answer runs as a task of its own, and sockets
attach to it and detach from it.

A ``Generation`` writes every frame to the generation store, where a client that reconnected to
another instance reads it (``chat.turns.follow``), then sends it to the sockets attached to it in
this process directly (they never read it back from Redis). A socket that closes only
detaches; a generation nobody is attached to for its orphan grace is cancelled (and, like any
cancelled answer, stored and billed). An explicit cancel reaches it from any instance through the
channel layer (``GenerationRegistry.cancel``).

Each process has one ``GenerationRegistry`` per event loop: its generations, the mirror writer,
the lease renewer, the cancel listener and the reaper of other processes' lost generations.
"""

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from channels.layers import get_channel_layer
from django.conf import settings

from chat.frames import Frame
from chat.history.recorder import turn_recorder
from chat.turn import TurnSink
from chat.turns.reaper import reap
from chat.turns.store import GenerationInfo, GenerationStore, GenKey, get_generation_store
from infra import aio, metrics

log = structlog.stdlib.get_logger(__name__)

# Every instance listens on this channel-layer group for cancels of the generations it runs.
CONTROL_GROUP = "global.generations"


def replayed(frame: Frame, after: int) -> bool:
    """Whether a client that has seen every token frame up to ``seq == after`` needs ``frame``."""
    return frame.get("type") != "token" or frame["seq"] > after


class Mirror:
    """Writes published frames to the generation store. The frames published during one turn of
    the event loop go in one pipeline, sent at the end of that turn; pipelines of successive
    turns do not wait for each other (a generation has one frame in flight at most, so its
    frames stay in order)."""

    def __init__(self, store: GenerationStore, *, enabled: bool = True) -> None:
        self._store = store
        self._enabled = enabled  # off only to measure what the mirror costs (bench/ws_bench.py)
        self._batch: list[tuple[GenKey, Frame]] = []
        self._batch_written: asyncio.Future[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()  # referenced until done

    async def write(self, key: GenKey, frame: Frame) -> None:
        """Return once ``frame`` is in the store (or its write failed: the answer goes on, and
        resuming elsewhere would miss it)."""
        if not self._enabled:
            return
        if self._batch_written is None:
            loop = asyncio.get_running_loop()
            self._batch_written = loop.create_future()
            loop.call_soon(self._send_batch)
        self._batch.append((key, frame))
        # Shielded: a publisher cancelled meanwhile must not cancel the others' wait.
        await asyncio.shield(self._batch_written)

    def _send_batch(self) -> None:
        batch, written = self._batch, self._batch_written
        self._batch, self._batch_written = [], None
        assert written is not None
        task = asyncio.get_running_loop().create_task(self._append(batch, written))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _append(self, frames: list[tuple[GenKey, Frame]], written: asyncio.Future[None]) -> None:
        try:
            await self._store.append(frames)
        except Exception as exc:
            log.warning("generation.mirror_failed", frames=len(frames), error=repr(exc))
            metrics.MIRROR_FAILURES.inc(len(frames))
        finally:
            written.set_result(None)


class Generation:
    def __init__(self, *, info: GenerationInfo, registry: "GenerationRegistry") -> None:
        self.info = info
        self.frames: list[Frame] = []
        # ``answered``: its ``done`` is out (a socket may send its next message); ``finished``:
        # nothing more will be published (the error frame after ``done``, if any, included).
        self.answered = asyncio.Event()
        self.finished = asyncio.Event()
        # The upstream stream, once started: cancelling it ends the answer as "cancelled".
        self.streaming: asyncio.Task[Any] | None = None
        self.cancel_requested = False
        self.task: asyncio.Task[None] | None = None
        self._registry = registry
        self._sinks: list[TurnSink] = []
        self._lock = asyncio.Lock()
        self._stopped = False  # the stream's task was cancelled
        self._orphan_watch: asyncio.Task[None] | None = None

    @property
    def key(self) -> GenKey:
        return self.info.key

    def run(self, body: Callable[["Generation"], Awaitable[None]]) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(body))

    async def _run(self, body: Callable[["Generation"], Awaitable[None]]) -> None:
        try:
            await body(self)
        finally:
            try:
                await self._registry.store.finish(key=self.key, keep_s=settings.CHAT_GENERATION_KEEP_S)
            except Exception as exc:
                log.warning("generation.finish_failed", error=repr(exc))
            self.answered.set()
            self.finished.set()
            self._registry.forget(self)
            if self._orphan_watch is not None:
                self._orphan_watch.cancel()

    def publish(self, *frames: Frame) -> "asyncio.Future[None]":
        """Store the frames, then send them: a client never sees a frame that another instance
        resuming (or reaping) this generation after a crash would not know of. Several frames
        go to the store in one write. Frames go out in the order of the calls (each call's task
        is created, and takes its place in the lock's queue, at once), so a caller may publish
        and go on before awaiting. Shielded: a cancel of the caller (the upstream stream's task
        is cancelled at any await) lets the frames go out whole, so that no socket misses a
        frame the store has, nor the reverse."""
        return asyncio.shield(self._publish(frames))

    async def _publish(self, frames: tuple[Frame, ...]) -> None:
        mirror = self._registry.mirror
        async with self._lock:
            if len(frames) == 1:
                await mirror.write(self.key, frames[0])
            else:  # written in the same turn of the event loop: one pipeline
                await asyncio.gather(*(mirror.write(self.key, frame) for frame in frames))
            for frame in frames:
                self.frames.append(frame)
                for sink in list(self._sinks):
                    await self._deliver(sink, frame)
                if frame["type"] == "done":
                    self.answered.set()

    async def _deliver(self, sink: TurnSink, frame: Frame) -> None:
        try:
            await sink.emit(frame)
        except Exception as exc:  # a broken socket must not stop the answer for the others
            log.warning("generation.sink_failed", error=repr(exc))
            self.detach(sink)

    async def attach(self, sink: TurnSink, *, after: int = 0) -> None:
        """Send ``sink`` what it missed (every frame but the tokens up to ``seq == after``),
        then the rest live. Attaching again restarts the replay; nothing is sent twice live."""
        async with self._lock:
            with contextlib.suppress(ValueError):
                self._sinks.remove(sink)
            for frame in self.frames:
                if replayed(frame, after):
                    await self._deliver(sink, frame)
            if not self.finished.is_set():
                self._sinks.append(sink)
                if self._orphan_watch is not None:
                    self._orphan_watch.cancel()
                    self._orphan_watch = None

    def detach(self, sink: TurnSink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)
        if not self._sinks and not self.finished.is_set() and self._orphan_watch is None:
            self._orphan_watch = asyncio.get_running_loop().create_task(self._watch_orphan())

    def cancel(self) -> None:
        """Stop the answer now: the upstream stream is closed, what was generated is kept. The
        stream's task is cancelled once: the frames it still sends on its way out (what was
        buffered) must not cancel it again."""
        self.cancel_requested = True
        if not self._stopped and self.streaming is not None and not self.streaming.done():
            self._stopped = True
            self.streaming.cancel()

    async def _watch_orphan(self) -> None:
        """Cancel the generation once nobody has been attached, here or on another instance
        (``GenerationStore.watch``), for the orphan grace."""
        alone_since, grace = time.time(), self.info.orphan_grace_s
        while not self.finished.is_set():
            await aio.sleep(min(grace / 4, 5.0))
            try:
                info = await self._registry.store.info(self.key)
            except Exception:
                info = None
            last_seen = max(alone_since, info.watched_at if info is not None else 0.0)
            if time.time() - last_seen >= grace:
                log.info("generation.orphaned", message_id=self.key.message_id, grace_s=grace)
                self.cancel()
                return


class GenerationRegistry:
    def __init__(self, store: GenerationStore) -> None:
        self.store = store
        self.mirror = Mirror(store, enabled=settings.CHAT_STREAM_MIRROR)
        self.local: dict[GenKey, Generation] = {}
        self._background: list[asyncio.Task[None]] = []

    def add(self, generation: Generation) -> None:
        self.local[generation.key] = generation

    def forget(self, generation: Generation) -> None:
        if self.local.get(generation.key) is generation:
            del self.local[generation.key]

    def start_background(self) -> None:
        """The lease renewer, the cancel listener and the reaper: once per event loop."""
        if self._background:
            return
        loop = asyncio.get_running_loop()
        turn_recorder().start_replaying()  # turns another instance left in the outbox
        self._background = [
            loop.create_task(self._renew_leases()),
            loop.create_task(self._listen_for_cancels()),
            loop.create_task(self._reap_lost()),
        ]

    async def cancel(self, key: GenKey) -> None:
        """Cancel a generation wherever it runs (the caller checked that it may)."""
        generation = self.local.get(key)
        if generation is not None:
            generation.cancel()
            return
        layer = get_channel_layer()
        assert layer is not None
        await layer.group_send(
            CONTROL_GROUP,
            {"type": "generation.cancel", "tenant_id": key.tenant_id, "message_id": key.message_id},
        )

    async def drain(self, grace_s: float) -> None:
        """Let this process's generations finish for ``grace_s``, then cancel the rest (they are
        stored and billed as cancelled answers)."""
        running = [g for g in self.local.values() if g.task is not None]
        if not running:
            return
        waits = [asyncio.ensure_future(g.finished.wait()) for g in running]
        _, late = await asyncio.wait(waits, timeout=grace_s)
        for generation in running:
            if not generation.finished.is_set():
                generation.cancel()
        if late:
            await asyncio.wait(late)

    async def _renew_leases(self) -> None:
        ttl = settings.STREAM_LEASE_TTL_S
        while True:
            await aio.sleep(ttl / 3)
            keys = [key for key, g in self.local.items() if not g.finished.is_set()]
            try:
                await self.store.renew(keys=keys, lease_ttl_s=ttl)
            except Exception as exc:
                log.warning("generation.renew_failed", error=repr(exc))

    async def _listen_for_cancels(self) -> None:
        layer = get_channel_layer()
        assert layer is not None
        while True:
            try:
                channel = await layer.new_channel()
                await layer.group_add(CONTROL_GROUP, channel)
                while True:
                    message = await layer.receive(channel)
                    if message.get("type") == "generation.cancel":
                        generation = self.local.get(GenKey(message["tenant_id"], message["message_id"]))
                        if generation is not None:
                            generation.cancel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("generation.control_failed", error=repr(exc))
                await aio.sleep(1)

    async def _reap_lost(self) -> None:
        while True:
            await aio.sleep(max(1.0, settings.STREAM_LEASE_TTL_S / 4))
            try:
                for key in await self.store.lapsed(limit=20):
                    if key not in self.local and await self.store.take(key):
                        await reap(self.store, key)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("generation.reap_failed")


_registries: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GenerationRegistry]" = (
    weakref.WeakKeyDictionary()
)


def generation_registry() -> GenerationRegistry:
    """The registry of the running event loop, on the store this deployment uses."""
    loop = asyncio.get_running_loop()
    registry = _registries.get(loop)
    if registry is None:
        registry = _registries[loop] = GenerationRegistry(get_generation_store())
    return registry
