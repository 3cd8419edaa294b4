"""Which background work a finished turn makes due, and queueing it without delaying anyone.

The work due goes to Celery in batches (``chat.tasks.background_work``): a sender thread of
the process waits ``BACKGROUND_BATCH_WINDOW_S`` after the first item for more, then sends them
all as one task. Celery's own handling of a task, and the event loop and client of its
completions, are paid once a batch: the worker's CPU a summary fell from 15.3 ms to 9.5 in
batches of ten, a title's from 20.1 to 13.3 (bench/background_bench.py). Celery's send is
blocking I/O, off the event loop here; in the embedded default (eager) the task itself runs in
this thread. What is queued in the window is sent before a draining server exits
(``chat.drain``), not if the process is killed (nor was a send under way then).
"""

import threading
import time

import structlog
from django.conf import settings
from django.db import close_old_connections

from chat.tasks import background_work

log = structlog.stdlib.get_logger(__name__)

Work = tuple[str, int, int]  # (kind, tenant_id, conversation_id): chat.history.background.WORK

_pending: list[Work] = []
# Items queued and not sent yet, counted across threads and event loops (``background_sent``).
_in_flight = 0
_settled = threading.Condition()
_sender: threading.Thread | None = None


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
    """Queue ``due`` for the next batch; never blocks the caller (an event loop)."""
    global _in_flight, _sender
    with _settled:
        _pending.extend((kind, tenant_id, conversation_id) for kind in due)
        _in_flight += len(due)
        if _sender is None or not _sender.is_alive():
            _sender = threading.Thread(target=_send_forever, name="background-work", daemon=True)
            _sender.start()
        _settled.notify_all()


def _send_forever() -> None:
    global _in_flight
    while True:
        with _settled:
            _settled.wait_for(lambda: bool(_pending))
        time.sleep(settings.BACKGROUND_BATCH_WINDOW_S)  # what is due meanwhile goes in the same task
        with _settled:
            batch = _pending[: settings.BACKGROUND_BATCH_MAX]
            del _pending[: len(batch)]
        try:
            # Once each: two summaries of one conversation would both ask the model.
            background_work.delay([list(work) for work in dict.fromkeys(batch)])
        except Exception as exc:
            log.error("chat.background_enqueue_failed", error=repr(exc), work=batch)
        finally:
            close_old_connections()  # eager: the work ran here
            with _settled:
                _in_flight -= len(batch)
                _settled.notify_all()


def background_sent(timeout: float) -> bool:
    """Wait until every queued item has been sent (in the embedded default the work itself runs
    there): True unless ``timeout`` passed first. Tests wait on it before their database is
    flushed; a draining server before it exits."""
    with _settled:
        return _settled.wait_for(lambda: _in_flight == 0, timeout)
