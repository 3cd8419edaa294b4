"""The widget's pages: the panel may be framed by its site's domains and nothing else (the rest
of the platform by nobody), the launcher's settings are readable by those domains only (CORS),
the snippet is served to anyone, small and self-contained, in the site's language."""

import gzip
import re
from typing import Any

import pytest
from django.test import Client

from testkit.world import World
from widget.domains import origin_allowed
from widget.models import Site
from widget.services import site_create
from widget.views import readable_on

pytestmark = pytest.mark.django_db(transaction=True)


def new_site(world: World, **fields: Any) -> Site:
    return site_create(tenant=world.acme, fields={"name": "Shop", **fields})


def directives(response: Any) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in policy.split("; ")}


def test_the_panel_may_be_framed_by_the_sites_domains_only(world: World) -> None:
    site = new_site(
        world,
        allowed_domains=["shop.example.com", "*.example.org", "localhost:8080"],
        logo_url="https://cdn.example.net/logo.png",
        starter_prompts=["Where is my order?"],
        title="Acme help",
    )
    page = Client().get(f"/widget/{site.key}/")
    assert page.status_code == 200
    csp = directives(page)
    assert csp["frame-ancestors"] == "shop.example.com *.example.org localhost:8080"
    assert "X-Frame-Options" not in page
    assert "https://cdn.example.net" in csp["img-src"]
    assert csp["script-src"] == "'self'"
    html = page.content.decode()
    assert "Acme help" in html and "Where is my order?" in html and 'lang="en"' in html
    # The rest of the platform stays unframeable.
    login = Client().get("/accounts/login/")
    assert directives(login)["frame-ancestors"] == "'none'" and login["X-Frame-Options"] == "DENY"
    # A site with no domain yet may be framed nowhere; a disabled or unknown one is a 404.
    bare = site_create(tenant=world.acme, fields={"name": "Bare"})
    assert directives(Client().get(f"/widget/{bare.key}/"))["frame-ancestors"] == "'none'"
    Site.all_tenants.filter(pk=bare.pk).update(enabled=False)
    assert Client().get(f"/widget/{bare.key}/").status_code == 404
    assert Client().get("/widget/site_nothing/").status_code == 404


def test_the_panel_speaks_the_sites_language(world: World) -> None:
    site = new_site(world, language="fr")
    html = Client().get(f"/widget/{site.key}/").content.decode()
    assert 'lang="fr"' in html and "Envoyer" in html and "Écrivez votre message…" in html
    settings = Client().get(f"/widget/{site.key}/settings", HTTP_ORIGIN="https://x.example.com")
    assert settings.status_code == 403  # not an allowed domain
    site.allowed_domains = ["x.example.com"]
    site.save()
    settings = Client().get(f"/widget/{site.key}/settings", HTTP_ORIGIN="https://x.example.com")
    assert settings.json()["open_label"] == "Ouvrir la discussion"


def test_the_launchers_settings_are_for_the_sites_domains_only(world: World) -> None:
    site = new_site(world, allowed_domains=["shop.example.com"], color="#ffdd00", launcher_text="Help")
    url = f"/widget/{site.key}/settings"
    allowed = Client().get(url, HTTP_ORIGIN="https://shop.example.com")
    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example.com"
    body = allowed.json()
    assert (body["title"], body["color"], body["color_fg"], body["launcher_text"]) == (
        "Acme",
        "#ffdd00",
        "#000000",
        "Help",
    )
    for origin in ("https://evil.example", "https://shop.example.com.evil.example", "null", ""):
        refused = Client().get(url, HTTP_ORIGIN=origin) if origin else Client().get(url)
        assert refused.status_code == 403, origin
        assert "Access-Control-Allow-Origin" not in refused
        assert refused.json()["code"] == "origin_not_allowed"


@pytest.mark.parametrize(
    "origin, allowed",
    [
        ("https://shop.example.com", True),
        ("http://shop.example.com", True),
        ("https://shop.example.com:443", True),
        ("https://shop.example.com:8443", False),
        ("https://a.b.example.org", True),
        ("https://example.org", False),  # a wildcard is for subdomains only
        ("https://evilexample.org", False),
        ("http://localhost:8080", True),
        ("http://localhost", False),
        ("https://SHOP.EXAMPLE.COM", True),
        ("ftp://shop.example.com", False),
        ("https://shop.example.com/path", False),
        ("https://shop.example.com:99999", False),
        ("null", False),
    ],
)
def test_origins_match_the_allowed_domains_as_frame_ancestors_does(origin: str, allowed: bool) -> None:
    assert origin_allowed(["shop.example.com", "*.example.org", "localhost:8080"], origin) is allowed


def test_the_snippet_is_served_to_anyone_small_and_self_contained() -> None:
    script = Client().get("/widget.js")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("text/javascript")
    assert script["Cross-Origin-Resource-Policy"] == "cross-origin"
    source = script.content.decode()
    assert len(gzip.compress(script.content, 9)) < 4096
    # It loads nothing but the platform's own pages: no other URL (the SVG namespace and the
    # comment's example aside), no import, no eval.
    assert set(re.findall(r"https?://[\w.-]+", source)) == {"https://PLATFORM", "http://www.w3.org"}
    assert "import " not in source and "eval(" not in source


@pytest.mark.parametrize(
    "color, text",
    [("#ffffff", "#000000"), ("#000000", "#ffffff"), ("#2563eb", "#ffffff"), ("#ffdd00", "#000000")],
)
def test_the_brand_colours_text_is_the_more_readable_of_black_and_white(color: str, text: str) -> None:
    assert readable_on(color) == text
