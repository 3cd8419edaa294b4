"""Who the client is behind a reverse proxy, for every HTTP request and WebSocket.

A client can send any ``X-Forwarded-For`` it likes: it is believed only when the connection
comes from a proxy named in ``TRUSTED_PROXIES`` (addresses or networks), and then the client is
the rightmost address in it that is not itself a trusted proxy (each proxy appends the address it
saw). Anywhere else the header is ignored and the client is the socket's peer. So the per-address
limits (sign-in attempts, widget visitors) count addresses a client cannot choose. Daphne runs
without ``--proxy-headers`` for that reason: it would believe the header from anyone.
"""

import ipaddress
from collections.abc import Iterable
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``TRUSTED_PROXIES`` parsed (``10.0.0.0/8``, ``127.0.0.1``, ``::1``); a bad entry raises."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _trusted(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def real_client(peer: str, forwarded_for: str, networks: tuple[IPNetwork, ...]) -> str:
    """The client's address: ``peer``, or the rightmost untrusted hop of ``forwarded_for`` when
    ``peer`` is a trusted proxy (an empty or garbled header leaves ``peer``)."""
    if not forwarded_for or not _trusted(peer, networks):
        return peer
    client = peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # garbled: stop at the last hop we could read
        client = hop
        if not _trusted(hop, networks):
            break
    return client


class TrustedProxies:
    """ASGI middleware: ``scope["client"]`` becomes the real client (Django's ``REMOTE_ADDR``
    and the chat sockets read it there)."""

    def __init__(self, app: Any, networks: tuple[IPNetwork, ...]) -> None:
        self.app, self.networks = app, networks

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in {"http", "websocket"} and self.networks and scope.get("client"):
            peer, port = scope["client"]
            headers = dict(scope.get("headers") or [])
            forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
            client = real_client(peer, forwarded, self.networks)
            if client != peer:
                scope = {**scope, "client": (client, port)}
        await self.app(scope, receive, send)


def scope_address(scope: dict[str, Any]) -> str:
    """The client's address of an ASGI scope (after ``TrustedProxies``)."""
    client = scope.get("client")
    return client[0] if client else "unknown"
