"""Group commit for finished turns.

Every answer is written with its question and usage record in one transaction, and the client
gets ``done`` only after that commit. Answers that end while a write is under way do not each
wait for their own: they are written together in the next transaction, with one bulk insert per
table. At low load nothing waits (a turn is written at once); under load the transactions grow
instead of queueing. Writing a turn through five round trips and three ORM statements cost
~2.2 ms of CPU; in a batch of 50 it costs a fraction of that.

A database that cannot be reached does not lose a turn: it goes to the outbox
(``chat.history.outbox``), durable once put there, and this recorder writes it when the
database is back.
"""

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple, TypeVar

import structlog
from django.conf import settings

from chat.history.outbox import Entry, get_outbox
from chat.services import turns_record, turns_record_missing
from chat.turn import Outcome, PreparedTurn
from infra import aio, metrics
from infra.db import DATABASE_DOWN, in_db_thread

log = structlog.stdlib.get_logger(__name__)

MAX_BATCH = 200

T = TypeVar("T")


class _Pending(NamedTuple):
    turn: PreparedTurn
    outcome: Outcome
    stored: "asyncio.Future[None]"


class TurnRecorder:
    def __init__(self) -> None:
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self._replayer: asyncio.Task[None] | None = None

    async def record(self, turn: PreparedTurn, outcome: Outcome) -> None:
        """Return once the turn is committed, or durably in the outbox. Cancelling the caller
        does not cancel the write."""
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(turn, outcome, stored))
        if self._writer is None or self._writer.done():
            self._writer = _background(self._drain())
        await asyncio.shield(stored)

    def start_replaying(self) -> None:
        """Write the outbox's turns, this process's and those another left, from now on."""
        if self._replayer is None or self._replayer.done():
            self._replayer = _background(self._replay_forever())

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            await self._write(batch)

    async def _write(self, batch: list[_Pending]) -> None:
        def settle(pending: _Pending, error: BaseException | None) -> None:
            if error is None:
                pending.stored.set_result(None)
            else:
                log.error("chat.record_failed", message_id=pending.turn.answer_message_id, error=repr(error))
                pending.stored.set_exception(RuntimeError("the turn could not be stored"))

        await _one_by_one_on_error(
            [(p, (p.turn, p.outcome)) for p in batch],
            write=lambda turns: in_db_thread(turns_record)(turns=turns),
            written=lambda pending: settle(pending, None),
            failed=settle,
            database_down=self._defer,
        )

    async def _defer(self, batch: Sequence[_Pending]) -> None:
        """The database is down: the turns go to the outbox, and their clients get ``done``."""
        try:
            await get_outbox().put([(p.turn, p.outcome) for p in batch])
        except Exception as exc:
            for pending in batch:
                log.error("chat.record_failed", message_id=pending.turn.answer_message_id, error=repr(exc))
                pending.stored.set_exception(RuntimeError("the turn could not be stored"))
            return
        log.warning("chat.turns_deferred", message_ids=[p.turn.answer_message_id for p in batch])
        metrics.OUTBOX.labels("deferred").inc(len(batch))
        for pending in batch:
            pending.stored.set_result(None)
        self.start_replaying()

    async def _replay_forever(self) -> None:
        while True:
            try:
                left = await self.replay()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or the database still away: try again later
                log.warning("chat.outbox_replay_failed", error=repr(exc))
                left = True
            await aio.sleep(settings.OUTBOX_RETRY_S if left else settings.OUTBOX_IDLE_S)

    async def replay(self) -> bool:
        """Write what waits in the outbox; returns whether some is left (the database still
        down, or a tenant's turns being replayed by another instance)."""
        box, left = get_outbox(), False
        for tenant_id in await box.tenants():
            token = await box.lock(tenant_id)
            if token is None:
                left = True
                continue
            try:
                while entries := await box.read(tenant_id, MAX_BATCH):
                    if not await self._replay_batch(tenant_id, entries):
                        left = True
                        break
            finally:
                await box.unlock(tenant_id, token)
        return left

    async def _replay_batch(self, tenant_id: int, entries: list[Entry]) -> bool:
        """Returns False when the database is still down (nothing was removed)."""
        written: list[str] = []
        dead: list[Entry] = []
        down = False

        async def database_down(_: Sequence[Entry]) -> None:
            nonlocal down
            down = True

        def failed(entry: Entry, error: BaseException) -> None:
            log.error("chat.outbox_dead", message_id=entry[1][0].answer_message_id, error=repr(error))
            dead.append(entry)

        await _one_by_one_on_error(
            [(entry, entry[1]) for entry in entries],
            write=lambda turns: in_db_thread(turns_record_missing)(tenant_id=tenant_id, turns=turns),
            written=lambda entry: written.append(entry[0]),
            failed=failed,
            database_down=database_down,
        )
        if written or dead:
            await get_outbox().remove(tenant_id, written, dead=dead)
            metrics.OUTBOX.labels("written").inc(len(written))
        return not down


async def _one_by_one_on_error(
    items: list[tuple[T, tuple[PreparedTurn, Outcome]]],
    *,
    write: Callable[[list[tuple[PreparedTurn, Outcome]]], Awaitable[object]],
    written: Callable[[T], None],
    failed: Callable[[T, BaseException], None],
    database_down: Callable[[Sequence[T]], Awaitable[None]],
) -> None:
    """Write the turns of ``items`` in one transaction. The database down: ``database_down``
    with what is left. Another error: one bad turn must not sink the others, so they are written
    one by one and only the bad one ``failed``."""
    try:
        await write([turn for _, turn in items])
    except DATABASE_DOWN:
        await database_down([item for item, _ in items])
        return
    except Exception as exc:
        if len(items) == 1:
            failed(items[0][0], exc)
            return
        for index, (item, turn) in enumerate(items):
            try:
                await write([turn])
            except DATABASE_DOWN:
                await database_down([rest for rest, _ in items[index:]])
                return
            except Exception as exc_one:
                failed(item, exc_one)
            else:
                written(item)
        return
    for item, _ in items:
        written(item)


def _background(work: "Awaitable[None]") -> "asyncio.Task[None]":
    # A fresh context: the task serves many turns, it must not log as the first one.
    return asyncio.get_running_loop().create_task(work, context=contextvars.Context())  # type: ignore[arg-type]


# The recorder of the running event loop (one per process under Daphne).
turn_recorder = aio.per_loop(TurnRecorder)
