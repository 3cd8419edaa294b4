"""``requests`` held to the outbound rules (``infra.outbound``), for the synchronous clients a
library drives (Authlib's OpenID Connect client: a tenant's identity provider's discovery
document, keys and token endpoint, all at addresses a tenant's admin typed).

Each request's URL is checked, its host resolved once and every address it resolves to must be
public; the connection goes to the address checked (TLS still verifies the certificate for the
host name); a redirect is refused, never followed; no proxy from the environment is used; the
body is read up to ``max_bytes``; a request has a timeout whatever its caller passes.
"""

from typing import Any

from requests import PreparedRequest, Response, Session
from requests.adapters import HTTPAdapter

from infra.outbound import OutboundRefused, outbound_url, resolve_checked


class GuardedAdapter(HTTPAdapter):
    def __init__(self, *, what: str, timeout_s: float, max_bytes: int) -> None:
        super().__init__(max_retries=0)
        self.what, self.timeout_s, self.max_bytes = what, timeout_s, max_bytes

    def send(  # type: ignore[override]
        self, request: PreparedRequest, stream: bool = False, timeout: Any = None, **kwargs: Any
    ) -> Response:
        parts = outbound_url(request.url or "")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        request.checked_address = resolve_checked(parts.hostname or "", port, self.what)  # type: ignore[attr-defined]
        request.headers["Host"] = parts.netloc
        response = super().send(request, stream=True, timeout=timeout or self.timeout_s, **kwargs)
        try:
            if response.is_redirect:
                raise OutboundRefused(f"{self.what} answered with a redirect, which is not followed")
            content = response.raw.read(self.max_bytes + 1, decode_content=True)
            if len(content) > self.max_bytes:
                raise OutboundRefused(f"{self.what}'s answer is larger than {self.max_bytes} bytes")
        finally:
            response.close()
        response._content, response._content_consumed = content, True  # type: ignore[attr-defined]
        return response

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The pool for the checked address, with the host name for TLS (SNI and certificate)."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        address = getattr(request, "checked_address", None)
        if address is None:
            raise OutboundRefused(f"{self.what}'s address was not checked")
        if host_params["scheme"] == "https":
            pool_kwargs.update(server_hostname=host_params["host"], assert_hostname=host_params["host"])
        host_params["host"] = address
        return host_params, pool_kwargs


def guard(session: Session, *, what: str, timeout_s: float, max_bytes: int) -> Session:
    """``session`` with every request held to the rules above."""
    session.trust_env = False  # no proxy, .netrc or CA bundle from the environment
    adapter = GuardedAdapter(what=what, timeout_s=timeout_s, max_bytes=max_bytes)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
