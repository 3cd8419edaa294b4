"""The widget's pages, for any website's visitors: the snippet (``/widget.js``), the settings
its launcher needs (``/widget/<key>/settings``, readable only by the site's allowed domains),
and the panel (``/widget/<key>/``), the page inside the iframe that chats.

The panel is the one page of the platform that another site may frame, and only the site's
allowed domains may (``frame-ancestors``; the rest of the platform stays ``'none'``). The host
page can neither read nor style it; the panel keeps the visitor's token in its own origin's
storage, or, where the browser blocks a third-party frame's storage, asks the page to keep it.
"""

import functools
from typing import Any

from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from infra.csp import allow_framing_by, allow_images_from
from widget.domains import origin_allowed
from widget.models import Site
from widget.selectors import SiteNotFound, site_for_key
from widget.strings import panel_strings


def _luminance(color: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def readable_on(color: str) -> str:
    """Black or white, whichever contrasts more with the site's colour (its header, its buttons)."""
    light = _luminance(color)
    return "#000000" if (light + 0.05) / 0.05 > 1.05 / (light + 0.05) else "#ffffff"


@functools.cache
def _script() -> bytes:
    found = finders.find("widget/widget.js")
    assert isinstance(found, str), "static/widget/widget.js is part of the platform"
    with open(found, "rb") as file:
        return file.read()


@require_GET
def widget_script(request: HttpRequest) -> HttpResponse:
    """The snippet's script: any site may load it (it does nothing without an allowed site)."""
    response = HttpResponse(_script(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def _site(key: str) -> Site:
    try:
        return site_for_key(key)
    except SiteNotFound:
        raise Http404("no such site") from None


def _settings(site: Site) -> dict[str, Any]:
    strings = panel_strings(site.language)
    return {
        "title": site.title or site.tenant.name,
        "color": site.color,
        "color_fg": readable_on(site.color),
        "position": site.position,
        "theme": site.theme,
        "language": site.language,
        "launcher_text": site.launcher_text,
        "open_label": strings["open"],
        "close_label": strings["close"],
    }


@require_GET
def site_settings(request: HttpRequest, key: str) -> JsonResponse:
    """What the launcher shows, for a page of one of the site's allowed domains (CORS): any other
    page's script gets a 403 it cannot even read, and shows nothing."""
    try:
        site = site_for_key(key)
    except SiteNotFound:
        return JsonResponse({"detail": "no such site", "code": "not_found"}, status=404)
    origin = request.headers.get("Origin", "")
    if not origin_allowed(site.allowed_domains, origin):
        return JsonResponse(
            {"detail": "this website is not one of the site's allowed domains", "code": "origin_not_allowed"},
            status=403,
        )
    response = JsonResponse(_settings(site))
    response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    response["Cache-Control"] = "no-cache"
    return response


@xframe_options_exempt
@require_GET
def panel(request: HttpRequest, key: str) -> HttpResponse:
    site = _site(key)
    hosts = list(site.tenant.allowed_image_hosts)
    page = render(
        request,
        "widget/panel.html",
        {
            "site": site,
            "language": site.language,
            "title": site.title or site.tenant.name,
            "brand_fg": readable_on(site.color),
            "panel": {
                "greeting": site.greeting or site.tenant.greeting,
                "key": site.key,
                "allowed_domains": site.allowed_domains,
                "starter_prompts": site.starter_prompts,
                "require_verification": site.require_verification,
                "theme": site.theme,
                "strings": panel_strings(site.language),
                "image_hosts": hosts,
            },
        },
    )
    logo_host = [site.logo_url.split("/")[2]] if site.logo_url else []
    return allow_framing_by(allow_images_from(page, hosts + logo_host), site.allowed_domains)
