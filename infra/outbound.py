"""Where the platform may send a request on a tenant's behalf (a tool's URL, an alert webhook):
HTTPS (``TOOLS_ALLOW_HTTP`` allows plain HTTP, for tests and development), a host, no user name
or password in the URL (a secret signs each call), and only public addresses (no private,
loopback, link-local, multicast or reserved one; ``TOOLS_ALLOW_LOOPBACK`` allows loopback, for
tests only).

A URL is checked when it is saved (``validate_outbound_url``, on the model fields, so the REST
API and the admin refuse it with the field named) and again on every call, where the host is
resolved once and the connection goes to the address checked (``tools.http``).
"""

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


class OutboundRefused(Exception):
    """The URL or its address may not be called; the message says why."""


def public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.is_loopback and settings.TOOLS_ALLOW_LOOPBACK:
        return True
    return ip.is_global and not ip.is_multicast


def outbound_url(url: str) -> SplitResult:
    """The parts of a URL that may be called, or ``OutboundRefused``."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and settings.TOOLS_ALLOW_HTTP):
        raise OutboundRefused("HTTPS only: no plain HTTP URL is called")
    if not parts.hostname:
        raise OutboundRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("the URL may not carry a user name or password (the secret signs each call)")
    try:
        parts.port  # noqa: B018  (raises for a port out of range)
    except ValueError as exc:
        raise OutboundRefused(f"the URL's port is not valid: {exc}") from None
    return parts


def address_checked(infos: list[tuple[object, ...]], what: str) -> str:
    """The address to connect to from a host's ``getaddrinfo`` answers, once every one of them
    is public (a host that resolves to one private address among public ones is refused: which
    one is used is not ours to choose); ``what`` names the host's owner in the refusal."""
    addresses = {str(info[4][0]) for info in infos}  # type: ignore[index]
    if not addresses or not all(public_address(address) for address in addresses):
        raise OutboundRefused(f"{what}'s address is not a public one")
    return sorted(addresses)[0]


def resolve_checked(host: str, port: int, what: str) -> str:
    """``address_checked`` of the host, resolved now (blocking: for the synchronous clients)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise OutboundRefused(f"{what}'s host {host!r} does not resolve") from None
    return address_checked(infos, what)  # type: ignore[arg-type]


def outbound_url_refusal(url: str) -> str | None:
    """Why ``url`` cannot be saved, or None: what every call checks, and the addresses its host
    resolves to now must all be public. A host that does not resolve yet is accepted (its DNS
    may come later): every call resolves it and checks it again."""
    try:
        parts = outbound_url(url)
    except OutboundRefused as refused:
        return str(refused)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return None
    if not all(public_address(str(info[4][0])) for info in infos):
        return "the URL's host has an address that is not a public one"
    return None


def validate_outbound_url(url: str) -> None:
    """A model field's validator (a tool's URL, an alert webhook's)."""
    refusal = outbound_url_refusal(url) if url else None
    if refusal is not None:
        raise ValidationError(refusal, code="outbound_url")
