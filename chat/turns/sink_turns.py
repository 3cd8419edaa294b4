"""What one sink (a socket) does with turns: the message it is preparing and the answer it
follows. A transport holds one per connection and hands it the parsed frames; it never touches
generations itself."""

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable

import structlog

from chat.protocol import ErrorCode, FrameError, UserMessage
from chat.support import asks_for_human, escalation_request
from chat.turn import ChatSession, RightsRevoked, TurnRefused, TurnSink
from chat.turns.generations import Generation
from chat.turns.runner import (
    Attachment,
    GenerationNotFound,
    generation_cancel,
    generation_resume,
    refuse,
    turn_submit,
)
from infra.db import DATABASE_DOWN, DATABASE_DOWN_MESSAGE, DATABASE_DOWN_RETRY_AFTER_S

log = structlog.stdlib.get_logger(__name__)

_STILL_STREAMING = "an answer is still streaming: wait for done or cancel it"


class SinkTurns:
    def __init__(
        self, *, session: ChatSession, sink: TurnSink, on_revoked: Callable[[], Awaitable[None]]
    ) -> None:
        self._session, self._sink, self._on_revoked = session, sink, on_revoked
        # The message being prepared (until its generation starts), and its client_id.
        self._turn: asyncio.Task[None] | None = None
        self._client_id: uuid.UUID | None = None
        # A cancel that came while the message was being prepared, before its generation started.
        self._cancel_early = asyncio.Event()
        self._attachment: Attachment | None = None
        self._closed = False

    def _preparing(self) -> bool:
        return self._turn is not None and not self._turn.done()

    def _busy(self) -> bool:
        """A message is being prepared, or the answer followed has no ``done`` yet."""
        return self._preparing() or (self._attachment is not None and not self._attachment.answered.is_set())

    async def message(self, message: UserMessage) -> None:
        if self._busy() and message.client_id != self._client_id:
            raise FrameError(ErrorCode.BAD_REQUEST, _STILL_STREAMING)
        if self._preparing():
            return  # the same message again while it is being prepared: it is answered once
        self._client_id = message.client_id
        self._cancel_early = asyncio.Event()
        self._turn = asyncio.create_task(self._submit(message))

    async def _submit(self, message: UserMessage) -> None:
        session = self._session
        if asks_for_human(message.content):
            await escalation_request(
                session=session,
                reason=f"asked in the chat: {message.content}",
                sink=self._sink,
                asking=message.content,
            )
        try:
            attachment = await turn_submit(
                session=session, message=message, sink=self._sink, cancel=self._cancel_early
            )
        except RightsRevoked:
            await self._on_revoked()
            return
        except DATABASE_DOWN as exc:
            log.warning("chat.database_unavailable", error=repr(exc))
            refused = TurnRefused(
                ErrorCode.SERVICE_UNAVAILABLE, DATABASE_DOWN_MESSAGE, retry_after=DATABASE_DOWN_RETRY_AFTER_S
            )
            await refuse(session, self._sink, refused)
            return
        except Exception:
            log.exception("chat.turn_failed")
            await refuse(
                session,
                self._sink,
                TurnRefused(ErrorCode.INTERNAL_ERROR, "the answer could not be completed"),
            )
            return
        if attachment is None:
            return
        self._follow(attachment)
        if self._closed:  # closed while the message was prepared: the answer goes on, unattached
            attachment.detach(self._sink)
        elif self._cancel_early.is_set():
            await self._cancel(attachment.key.message_id)

    def _follow(self, attachment: Attachment) -> None:
        if self._attachment is not None and self._attachment is not attachment:
            self._attachment.detach(self._sink)
        self._attachment = attachment

    async def cancel(self, message_id: int | None) -> None:
        """Stop ``message_id`` (any running answer of the user's), or this sink's own."""
        if message_id is None:
            if self._preparing():
                self._cancel_early.set()
                return
            if self._attachment is None or self._attachment.answered.is_set():
                raise FrameError(ErrorCode.NOT_FOUND, "no answer is streaming")
            message_id = self._attachment.key.message_id
        await self._cancel(message_id)

    async def _cancel(self, message_id: int) -> None:
        try:
            await generation_cancel(session=self._session, message_id=message_id)
        except GenerationNotFound:
            raise FrameError(ErrorCode.NOT_FOUND, "no answer with that id is streaming") from None

    async def resume(self, message_id: int, after: int) -> None:
        current = self._attachment.key.message_id if self._attachment is not None else None
        if self._busy() and message_id != current:
            raise FrameError(ErrorCode.BAD_REQUEST, _STILL_STREAMING)
        try:
            attachment = await generation_resume(
                session=self._session, message_id=message_id, after=after, sink=self._sink
            )
        except GenerationNotFound:
            raise FrameError(ErrorCode.NOT_FOUND, "no resumable generation with that id") from None
        self._follow(attachment)
        self._client_id = uuid.UUID(attachment.info.client_id)

    async def stop(self) -> None:
        """Rights gone: the answer followed, if still running, is cancelled."""
        if self._attachment is not None and not self._attachment.answered.is_set():
            with contextlib.suppress(FrameError):
                await self._cancel(self._attachment.key.message_id)

    def close(self) -> None:
        """The sink is gone: the answer goes on without it (until its orphan grace); a message
        still being prepared detaches once its generation starts."""
        self._closed = True
        if self._attachment is not None:
            self._attachment.detach(self._sink)

    async def drain(self, grace_s: float) -> None:
        """Let the answer this instance runs for the sink finish (cancelled after ``grace_s``:
        stored and billed). An answer another instance runs is not this instance's to stop:
        the client resumes it after reconnecting elsewhere."""
        if self._turn is not None and not self._turn.done():
            await self._turn
        attachment = self._attachment
        if isinstance(attachment, Generation) and not attachment.finished.is_set():
            try:
                await asyncio.wait_for(asyncio.shield(attachment.finished.wait()), grace_s)
            except TimeoutError:
                attachment.cancel()
                await attachment.finished.wait()
