"""Browser defences on every response: a Content-Security-Policy and the headers beside it.

The model's answers are untrusted HTML (rendered from markdown, sanitized by DOMPurify): the
policy is the second wall. Scripts only from this origin (no inline script anywhere, the API
docs included), images only from this origin, ``data:`` and the hosts the tenant allows (a
prompt-injected answer cannot make the browser fetch ``https://evil.example/?c=SECRET``), forms
post only here, and no other site may frame the pages (clickjacking). A view widens ``img-src``
for its response with ``allow_images_from(response, hosts)``, and lets the sources it names frame
it with ``allow_framing_by(response, sources)`` (the widget's panel: its site's domains only).
"""

from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse

_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    # The admin and Swagger UI set inline style attributes; styles cannot run code.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:{images}",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors {ancestors}",
)
_IMAGE_HOSTS = "_csp_image_hosts"
_ANCESTORS = "_csp_frame_ancestors"


def allow_images_from(response: HttpResponse, hosts: Iterable[str]) -> HttpResponse:
    setattr(response, _IMAGE_HOSTS, [f"https://{host}" for host in hosts])
    return response


def allow_framing_by(response: HttpResponse, sources: Iterable[str]) -> HttpResponse:
    """``sources`` (CSP host sources) may frame this response; none: nobody may."""
    setattr(response, _ANCESTORS, list(sources))
    return response


def policy(image_sources: Iterable[str] = (), frame_ancestors: Iterable[str] = ()) -> str:
    images = "".join(f" {source}" for source in image_sources)
    ancestors = " ".join(frame_ancestors) or "'none'"
    return "; ".join(_POLICY).format(images=images, ancestors=ancestors)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault(
            "Content-Security-Policy",
            policy(getattr(response, _IMAGE_HOSTS, ()), getattr(response, _ANCESTORS, ())),
        )
        response.setdefault("Referrer-Policy", "same-origin")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response
