"""Daphne's server with a graceful drain on SIGTERM (see ``chatplatform.server``).

Importing this module imports ``daphne.server``, which creates the event loop: import it only
after the event-loop policy is set.
"""

import asyncio
from types import FrameType
from typing import Any

import autobahn.websocket.protocol as autobahn_protocol
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings
from twisted.internet import reactor

from chat import drain
from chat.protocol import CLOSE_SERVICE_RESTART, CLOSE_TRY_AGAIN_LATER
from infra import memory

WS_CONNECT_TIMEOUT_S = 15


class _Lazy:
    """A log argument formatted only if the line is written. Autobahn formats the arguments of
    its debug lines (coloured names through click) before the logger drops them: for every frame
    sent, 3 % of the process's CPU under load (a py-spy profile of bench/ceiling.py)."""

    __slots__ = ("_args", "_format", "_kwargs")

    def __init__(self, format_: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._format, self._args, self._kwargs = format_, args, kwargs

    def __str__(self) -> str:
        return str(self._format(*self._args, **self._kwargs))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _lazy_debug_arguments() -> None:
    for name in ("hltype", "hlval"):
        eager = getattr(autobahn_protocol, name)
        setattr(autobahn_protocol, name, lambda *args, _eager=eager, **kwargs: _Lazy(_eager, args, kwargs))


_lazy_debug_arguments()


class ChatWebSocketProtocol(WebSocketProtocol):  # type: ignore[misc]
    def serverClose(self, code: int | None = None) -> None:
        if code in (CLOSE_SERVICE_RESTART, CLOSE_TRY_AGAIN_LATER):
            # Autobahn lets applications send only 1000 and 3000-4999; 1012 and 1013 are the
            # codes clients know as "restarting, reconnect" and "try again later", so they go out
            # as plain close frames.
            self.sendCloseFrame(code=code)
        else:
            super().serverClose(code)


class ChatServer(Server):  # type: ignore[misc]
    """SIGTERM: stop listening (the load balancer sends new connections elsewhere), drain the
    chat sockets (``chat.drain``), then stop. SIGINT still stops at once."""

    def run(self) -> None:
        # A handshake may wait on the database pool (DB_POOL_TIMEOUT_S for each of its queries)
        # before it is refused with 1013; Daphne's command line default (5 s) would cut it first.
        self.websocket_connect_timeout: float = max(self.websocket_connect_timeout, WS_CONNECT_TIMEOUT_S)
        self.ports: list[Any] = []
        self.drain_started = False
        # Twisted installs `reactor.sigTerm` as the SIGTERM handler when the reactor starts.
        reactor.sigTerm = self.on_sigterm  # type: ignore[attr-defined]
        memory.freeze_startup_objects()  # the application is loaded by now
        super().run()

    def listen_success(self, port: Any) -> None:
        super().listen_success(port)
        self.ws_factory.protocol = ChatWebSocketProtocol
        # Autobahn fails a connection that breaks the protocol (a message over Daphne's
        # --websocket_max_message_size, text that is not UTF-8) by dropping TCP; clients then see
        # 1006 and cannot tell why. Without the drop they get the close code: 1009 and 1007.
        self.ws_factory.setProtocolOptions(failByDrop=False)
        self.ports.append(port)

    def on_sigterm(self, number: int, frame: FrameType | None = None) -> None:
        reactor.callFromThread(self.begin_drain)  # type: ignore[attr-defined]

    def begin_drain(self) -> None:
        if self.drain_started:
            return
        self.drain_started = True
        for port in self.ports:
            port.stopListening()
        drained = asyncio.ensure_future(drain.drain(settings.CHAT_DRAIN_TIMEOUT_S))
        drained.add_done_callback(lambda _: self.stop())
