"""The website widget in Chromium, on a host page of another origin (a static server on its own
port, named ``localhost`` while the platform is ``127.0.0.1``): a visitor opens the launcher,
chats (streamed), reloads and finds the conversation, another page of the site continues it; a
page of a domain that is not allowed gets no launcher and cannot frame the panel; a verified
visitor's identity works and a forged one is refused; the phone layout keeps every control in
view; axe finds nothing serious in the panel."""

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import jwt
import pytest
from playwright.sync_api import FrameLocator, Page, expect

from testkit.browser import chromium, serious_accessibility_violations
from testkit.live import LivePlatform
from testkit.local_http import serving

pytestmark = [pytest.mark.browser, pytest.mark.live]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


class HostPages:
    """The tenant's website: pages by path, each with the snippet (``{snippet}`` in the page)."""

    pages: dict[str, str] = {}


class _Host(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        page = HostPages.pages.get(self.path.split("?")[0])
        body = (page or "not found").encode()
        self.send_response(200 if page else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def host() -> Iterator[int]:
    with serving(_Host) as url:
        yield int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def site(platform: LivePlatform, host: int) -> dict[str, Any]:
    token = platform.token("demo", platform.passwords["demo"], "demo")
    status, body = platform.http(
        "POST",
        "/api/v1/sites/",
        {
            "name": f"Shop {time.monotonic_ns()}",
            "allowed_domains": [f"localhost:{host}"],
            "title": "Demo help",
            "starter_prompts": ["Where is my order?"],
            "color": "#0f766e",
        },
        token,
    )
    assert status == 201, body
    snippet = (
        f'<script async src="{platform.base_url}/widget.js" data-site="{body["key"]}"{{extra}}></script>'
    )
    page = (
        "<!doctype html><html lang=en><head><title>{title}</title></head>"
        "<body><h1>{title}</h1>{snippet}</body></html>"
    )
    HostPages.pages = {
        path: page.format(title=title, snippet=snippet.format(extra=""))
        for path, title in (("/", "The shop"), ("/other.html", "Another page of the shop"))
    }
    body["page"] = page
    body["snippet"] = snippet
    return body


def panel(page: Page) -> FrameLocator:
    return page.frame_locator("#chatplatform-panel iframe")


def open_launcher(page: Page) -> FrameLocator:
    launcher = page.locator("#chatplatform-launcher")
    expect(launcher).to_be_visible(timeout=30_000)
    launcher.click()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    chat = panel(page)
    # The conversation is shown (the composer takes a message from then on), the socket ready.
    expect(chat.locator("#send")).to_be_enabled(timeout=30_000)
    expect(chat.locator("#status")).to_have_text("", timeout=30_000)
    return chat


def ask(chat: FrameLocator, content: str) -> None:
    answers = chat.locator(".msg.assistant[data-finish-reason]")
    before = answers.count()
    chat.locator("#input").fill(content)
    chat.locator("#input").press("Enter")
    try:
        expect(answers).to_have_count(before + 1, timeout=60_000)
    except AssertionError as failed:
        status, shown = chat.locator("#status").inner_text(), chat.locator(".msg").all_inner_texts()
        raise AssertionError(f"{failed}\nstatus: {status!r}\nmessages: {shown}") from None


def test_a_visitor_chats_on_the_tenants_website_and_finds_the_conversation_again(
    platform: LivePlatform, host: int, site: dict[str, Any], tmp_path: Path
) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(f"http://localhost:{host}/")
        chat = open_launcher(page)
        expect(chat.locator(".panel-title")).to_have_text("Demo help")
        expect(chat.locator(".msg.greeting")).to_contain_text("Demo Company")
        chat.get_by_role("button", name="Where is my order?").click()
        expect(chat.locator(".msg.assistant[data-finish-reason]")).to_have_count(1, timeout=60_000)
        ask(chat, "Show me some markdown [[markdown]] [[delay=0.02]]")
        last = chat.locator(".msg.assistant[data-finish-reason]").last
        expect(last.locator("strong")).to_have_text("bold")
        # No model, tokens or cost for a visitor.
        assert "gpt-4o-mini" not in last.inner_text() and "$" not in last.inner_text()
        page.screenshot(path=str(tmp_path / "widget-desktop.png"))

        # A reload, then another page of the site: the same conversation, shown whole.
        page.reload()
        chat = open_launcher(page)
        expect(chat.locator(".msg.user")).to_have_count(2)
        page.goto(f"http://localhost:{host}/other.html")
        chat = open_launcher(page)
        expect(chat.locator(".msg.user")).to_have_count(2)
        ask(chat, "And one more question [[tokens=4]]")
        # The visitor asks for a person: the conversation is escalated for the tenant's team.
        chat.get_by_role("button", name="Talk to a person").click()
        expect(chat.locator("#status")).to_have_text("Your request for a person is recorded.")
        # Escape closes the panel and gives the focus back to the launcher.
        chat.locator("#input").press("Escape")
        expect(page.locator("#chatplatform-launcher")).to_have_attribute("aria-expanded", "false")
        expect(page.locator("#chatplatform-launcher")).to_be_focused()

    row = platform.sql(
        "SELECT c.message_count, c.escalated, c.site_id, v.external_id FROM chat_conversation c "
        "JOIN widget_visitor v ON v.user_id = c.user_id WHERE v.site_id = %s",
        [site["id"]],
    )
    assert row == (6, True, site["id"], "")


def test_a_page_of_a_domain_that_is_not_allowed_gets_no_launcher_and_cannot_frame_the_panel(
    platform: LivePlatform, host: int, site: dict[str, Any]
) -> None:
    framer = (
        f"<!doctype html><html lang=en><head><title>Elsewhere</title></head><body>"
        f'<iframe id=raw src="{platform.base_url}/widget/{site["key"]}/"></iframe>'
        f"{site['snippet'].format(extra='')}"
        "</body></html>"
    )
    HostPages.pages["/framer.html"] = framer
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        warnings: list[str] = []
        page.on("console", lambda message: warnings.append(message.text))
        # The same server, as 127.0.0.1: another origin, not among the site's domains.
        page.goto(f"http://127.0.0.1:{host}/framer.html")
        deadline = time.monotonic() + 30
        while not any("not shown here" in w for w in warnings):
            assert time.monotonic() < deadline, warnings
            page.wait_for_timeout(100)
        assert page.locator("#chatplatform-launcher").count() == 0
        raw = page.frame_locator("#raw")
        expect(raw.locator("#log")).to_have_count(0)
        frame = next(f for f in page.frames if f != page.main_frame)
        assert frame.url.startswith("chrome-error://") or frame.url == "about:blank", frame.url
        # A socket the page makes by hand, with a visitor token it got itself, is refused (its
        # Origin is not the panel's).
        token = platform.http("POST", f"/widget/{site['key']}/visitors/", {})[1]["token"]
        page.evaluate(
            """([url, token]) => new Promise((done) => {
                const socket = new WebSocket(url, ["chat.v1", `bearer.${token}`]);
                socket.onopen = () => { window.__opened = true; };
                socket.onclose = (event) => { window.__closed = event.code; done(); };
            })""",
            [f"{platform.ws_url}/ws/widget/{site['key']}/", token],
        )
        assert page.evaluate("window.__opened") is None and page.evaluate("window.__closed") == 1006
        # Allowed, the same page frames it.
        page.goto(f"http://localhost:{host}/framer.html")
        expect(page.frame_locator("#raw").locator("#log")).to_have_count(1, timeout=30_000)


def test_a_verified_visitor_is_known_and_a_forged_identity_is_refused(
    platform: LivePlatform, host: int, site: dict[str, Any]
) -> None:
    def page_with(identity: str) -> str:
        return site["page"].format(
            title="Account", snippet=site["snippet"].format(extra=f' data-identity="{identity}"')
        )

    claims = {"sub": f"customer-{time.monotonic_ns()}", "name": "Dana", "exp": int(time.time()) + 600}
    HostPages.pages["/account.html"] = page_with(jwt.encode(claims, site["identity_secret"], "HS256"))
    HostPages.pages["/forged.html"] = page_with(
        jwt.encode(claims, "a-secret-the-visitor-made-up-32-bytes", "HS256")
    )
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(f"http://localhost:{host}/account.html")
        chat = open_launcher(page)
        ask(chat, "Hello, it is me [[tokens=3]]")
        # Another browser (another device): the same visitor, the same conversation.
        other = browser.new_context(viewport=DESKTOP).new_page()
        other.goto(f"http://localhost:{host}/account.html")
        expect(open_launcher(other).locator(".msg.user")).to_have_count(1)

        forged = browser.new_page(viewport=DESKTOP)
        forged.goto(f"http://localhost:{host}/forged.html")
        forged.locator("#chatplatform-launcher").click()
        expect(panel(forged).locator("#status")).to_contain_text("signature", timeout=30_000)
    assert platform.sql(
        "SELECT count(*) FROM widget_visitor WHERE external_id = %s AND name = 'Dana'", [claims["sub"]]
    ) == (1,)


def test_the_panel_fills_a_phone_keeps_every_control_in_view_and_passes_axe(
    platform: LivePlatform, host: int, site: dict[str, Any], tmp_path: Path
) -> None:
    with chromium() as browser:
        for scheme in ("light", "dark"):
            page = browser.new_page(viewport=PHONE, color_scheme=scheme)
            page.goto(f"http://localhost:{host}/")
            chat = open_launcher(page)
            box = page.locator("#chatplatform-panel").bounding_box()
            assert box == {"x": 0, "y": 0, "width": PHONE["width"], "height": PHONE["height"]}, box
            for control in ("#input", "#send", "#close", "#new"):
                expect(chat.locator(control)).to_be_in_viewport()
            ask(chat, "On my phone [[tokens=3]]")
            page.screenshot(path=str(tmp_path / f"widget-phone-{scheme}.png"))
            chat.locator("#close").click()
            expect(page.locator("#chatplatform-launcher")).to_be_in_viewport()
            # axe inside the panel (its CSP forbids injected scripts: a context that bypasses it).
            context = browser.new_context(viewport=PHONE, color_scheme=scheme, bypass_csp=True)
            direct = context.new_page()
            direct.goto(f"{platform.base_url}/widget/{site['key']}/")
            expect(direct.locator(".msg.greeting")).to_have_count(1, timeout=30_000)
            assert serious_accessibility_violations(direct) == [], scheme


def test_a_person_of_the_team_takes_over_the_widgets_conversation(
    platform: LivePlatform, host: int, site: dict[str, Any], tmp_path: Path
) -> None:
    """Issue 33 in the widget: the visitor asks for a person, the tenant's team takes the
    conversation (the inbox API), the visitor's message goes to them, their reply shows live,
    and handed back the assistant answers again."""
    owner = platform.token("demo", platform.passwords["demo"], "demo")
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(f"http://localhost:{host}/")
        chat = open_launcher(page)
        ask(chat, "I need help with an order [[tokens=2]]")
        chat.get_by_role("button", name="Talk to a person").click()
        expect(chat.locator("#status")).to_have_text("Your request for a person is recorded.")
        conversation = platform.http("GET", "/api/v1/inbox/?view=unassigned", token=owner)[1][0]
        assert conversation["who"]["kind"] == "visitor"
        assert platform.http("POST", f"/api/v1/inbox/{conversation['id']}/take/", {}, owner)[0] == 204
        expect(chat.locator("#status")).to_have_text("demo joined the conversation.")

        chat.locator("#input").fill("Hello, is someone there?")
        chat.locator("#input").press("Enter")
        expect(chat.locator("#status")).to_have_text("Your message went to the person helping you.")
        expect(chat.locator("#send")).to_be_enabled()
        reply = {"content": "Hi, I am looking at your order now."}
        assert platform.http("POST", f"/api/v1/inbox/{conversation['id']}/reply/", reply, owner)[0] == 201
        expect(chat.locator(".msg.agent")).to_contain_text("Hi, I am looking at your order now.")
        page.reload()  # the stored conversation shows the person's reply as theirs
        chat = open_launcher(page)
        expect(chat.locator(".msg.agent")).to_contain_text("demo: Hi, I am looking at your order now.")
        expect(chat.get_by_role("button", name="Talk to a person")).to_be_disabled()  # a person has it
        page.screenshot(path=str(tmp_path / "widget-handoff.png"))

        assert platform.http("POST", f"/api/v1/inbox/{conversation['id']}/hand-back/", {}, owner)[0] == 204
        expect(chat.locator("#status")).to_have_text("The assistant answers again.")
        expect(chat.get_by_role("button", name="Talk to a person")).to_be_enabled()
        ask(chat, "Thanks, one more question [[tokens=3]]")
