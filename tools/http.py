"""Calling a tenant's HTTP tool, guarded: the URL as ``infra.outbound`` allows (HTTPS, no
user name or password), and every address its host resolves to a public one. The connection goes
to the address that was checked (the host is not resolved a second time), redirects are not
followed, the response is read up to ``TOOLS_MAX_RESPONSE_BYTES``. Each call is signed:
``X-Chatplatform-Timestamp`` and ``X-Chatplatform-Signature: sha256=<HMAC-SHA256 of
"{timestamp}.{body}" with the tool's secret>`` (for GET the body is the query string)."""

import asyncio
import hashlib
import hmac
import json
import socket
import time
from typing import Any
from urllib.parse import urlencode, urlunsplit

import httpx2
from django.conf import settings

from infra.outbound import OutboundRefused, address_checked, outbound_url
from tools.catalog import ToolSpec


class ToolCallRefused(Exception):
    """The call was not made, or failed; the message is what the model and the logs are told."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


async def _public_address(host: str, port: int) -> str:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ToolCallRefused(f"the tool's host {host!r} does not resolve") from None
    try:
        return address_checked(infos, "the tool")  # type: ignore[arg-type]
    except OutboundRefused as refused:
        raise ToolCallRefused(str(refused)) from None


async def call_http_tool(
    spec: ToolSpec, arguments: dict[str, Any], *, extra_headers: dict[str, str] | None = None
) -> str:
    """The tool's response body (text, at most the size cap), or ``ToolCallRefused``."""
    try:
        parts = outbound_url(spec.url)
    except OutboundRefused as refused:
        raise ToolCallRefused(str(refused)) from None
    hostname = parts.hostname or ""  # outbound_url refused a URL without one
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = await _public_address(hostname, port)
    timestamp = str(int(time.time()))
    if spec.method == "GET":
        query = urlencode({k: json.dumps(v) if not isinstance(v, str) else v for k, v in arguments.items()})
        body, signed = b"", query.encode()
        path = urlunsplit(("", "", parts.path or "/", "&".join(p for p in (parts.query, query) if p), ""))
    else:
        body = signed = json.dumps(arguments, separators=(",", ":"), ensure_ascii=False).encode()
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    host = f"[{address}]" if ":" in address else address
    headers = {
        **(extra_headers or {}),
        "Host": parts.netloc,
        "Content-Type": "application/json",
        "User-Agent": "chatplatform-tools/1",
        "X-Chatplatform-Timestamp": timestamp,
        "X-Chatplatform-Signature": signature(spec.secret, timestamp, signed),
    }
    # The checked address is the one connected to; TLS still checks the certificate for the host.
    extensions = {"sni_hostname": hostname} if parts.scheme == "https" else {}
    try:
        async with httpx2.AsyncClient(timeout=spec.timeout_s, follow_redirects=False) as client:
            request = client.build_request(
                spec.method,
                f"{parts.scheme}://{host}:{port}{path}",
                content=body or None,
                headers=headers,
                extensions=extensions,
            )
            response = await client.send(request, stream=True)
            try:
                if 300 <= response.status_code < 400:
                    raise ToolCallRefused("the tool answered with a redirect, which is not followed")
                data = bytearray()
                async for piece in response.aiter_bytes():
                    data += piece
                    if len(data) > settings.TOOLS_MAX_RESPONSE_BYTES:
                        raise ToolCallRefused(
                            f"the tool's response is larger than {settings.TOOLS_MAX_RESPONSE_BYTES} bytes"
                        )
            finally:
                await response.aclose()
    except httpx2.TimeoutException:
        raise ToolCallRefused(f"the tool did not answer within {spec.timeout_s:g} s") from None
    except httpx2.HTTPError as exc:
        raise ToolCallRefused(f"the tool could not be reached ({type(exc).__name__})") from None
    if response.status_code >= 400:
        raise ToolCallRefused(f"the tool answered HTTP {response.status_code}")
    return data.decode("utf-8", errors="replace")
