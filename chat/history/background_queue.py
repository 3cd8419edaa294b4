"""Which background work a finished turn makes due, and queueing it without delaying anyone."""

import asyncio
import threading

import structlog

from chat.tasks import summarize_conversation, title_conversation
from infra.db import in_db_thread

log = structlog.stdlib.get_logger(__name__)

_queued: set["asyncio.Future[None]"] = set()  # kept referenced until done
# Sends in flight, counted across threads and event loops (``background_sent``).
_in_flight = 0
_settled = threading.Condition()


def background_work_due(
    *, message_count: int, uncovered: int, summarize_every: int, context_overflow: bool
) -> list[str]:
    """``uncovered``: messages the summary does not cover, this turn's two included. A summary
    is due when that count reaches ``summarize_every`` (once per crossing, not on every later
    message) or when recent messages no longer fit the model's context."""
    due = []
    if message_count == 2:
        due.append("title")
    if context_overflow or uncovered - 2 < summarize_every <= uncovered:
        due.append("summary")
    return due


def enqueue_background_work(due: list[str], *, tenant_id: int, conversation_id: int) -> None:
    """Send the tasks from a worker thread: Celery's send is blocking I/O, and in the embedded
    default (eager) the task itself runs there."""
    global _in_flight
    tasks = {"title": title_conversation, "summary": summarize_conversation}
    # "queued" until the thread takes it, then "sending"; "dropped" if its event loop ended
    # first (a loop closed under it cancels the send before the thread runs it).
    state = ["queued"]

    def settled() -> None:
        global _in_flight
        _in_flight -= 1
        _settled.notify_all()

    def send() -> None:
        with _settled:
            if state[0] == "dropped":
                return
            state[0] = "sending"
        try:
            for name in due:
                tasks[name].delay(tenant_id, conversation_id)
        finally:
            with _settled:
                settled()

    def sent(future: "asyncio.Future[None]") -> None:
        _queued.discard(future)
        if future.cancelled():
            with _settled:
                if state[0] == "queued":
                    state[0] = "dropped"
                    settled()
            log.warning("chat.background_enqueue_cancelled", conversation_id=conversation_id, due=due)
        elif future.exception() is not None:
            log.error("chat.background_enqueue_failed", error=repr(future.exception()))

    with _settled:
        _in_flight += 1
    future = asyncio.ensure_future(in_db_thread(send)())
    _queued.add(future)
    future.add_done_callback(sent)


def background_sent(timeout: float) -> bool:
    """Wait until every queued send has finished (in the embedded default the task itself runs
    there): True unless ``timeout`` passed first. Tests wait on it before their database is
    flushed."""
    with _settled:
        return _settled.wait_for(lambda: _in_flight == 0, timeout)
