"""The README's screenshots (docs/screenshots/), taken from a running platform in Chromium.

    make run                                   # prints the demo login
    .venv/bin/python scripts/screenshots.py --password <demo password> --admin-password <admin password> \
        [--url http://127.0.0.1:8000]

Two conversations with the demo model (or whatever model the platform uses), a thumbs up, then
the page in light and dark, on a 390 x 844 phone with its drawer open, and the tenant console
(its overview, team and settings);
then the website widget on a shop's page served from another origin (a site made over the API);
then the inbox: a customer (a member made with the staff login) asks for a person, the demo user
(the owner: on the support team) takes it, replies and leaves a private note.
"""

import argparse
import contextlib
import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def ask(page: Page, content: str) -> None:
    answers = page.locator(".msg.assistant[data-finish-reason]")
    before = answers.count()
    page.fill("#input", content)
    page.keyboard.press("Enter")
    expect(answers).to_have_count(before + 1, timeout=60_000)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _api(url: str, body: dict[str, object], token: str = "") -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310 (the platform given on the command line)
        url,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return dict(json.loads(response.read()))


SHOP = """<!doctype html><html lang=en><head><title>Acme Outdoor</title><style>
body {{ margin: 0; font: 16px/1.5 Georgia, serif; color: #2b2b2b; background: #faf7f2; }}
header {{ padding: 1.2rem 2rem; background: #1f3b2d; color: #fff; font-size: 1.4rem; }}
main {{ padding: 2rem; max-width: 40rem; }}</style></head>
<body><header>Acme Outdoor</header><main><h1>Tents for every season</h1>
<p>Free returns within 30 days. Questions about sizes, shipping or your order? Ask our assistant.</p>
</main>{snippet}</body></html>"""


def widget(browser: object, args: argparse.Namespace) -> None:
    """The widget on a shop's page (this script serves it on localhost, another origin)."""
    pages: dict[str, str] = {}

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages["/"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token = _api(
        f"{args.url}/api/v1/auth/token/",
        {"username": args.username, "password": args.password, "tenant": "demo"},
    )["access"]
    site = _api(
        f"{args.url}/api/v1/sites/",
        {
            "name": f"Shop on port {port}",
            "allowed_domains": [f"localhost:{port}"],
            "title": "Acme Outdoor help",
            "color": "#1f3b2d",
            "launcher_text": "Questions?",
            "starter_prompts": ["Where is my order?", "Which tent for winter?"],
        },
        str(token),
    )
    pages["/"] = SHOP.format(
        snippet=f'<script async src="{args.url}/widget.js" data-site="{site["key"]}"></script>'
    )
    for name, viewport in (
        ("widget", {"width": 1280, "height": 860}),
        ("widget-phone", {"width": 390, "height": 844}),
    ):
        page = browser.new_page(viewport=viewport)  # type: ignore[attr-defined]
        page.goto(f"http://localhost:{port}/")
        page.click("#chatplatform-launcher")
        chat = page.frame_locator("#chatplatform-panel iframe")
        expect(chat.locator(".starter").first).to_be_visible(timeout=30_000)
        expect(chat.locator("#send")).to_be_enabled(timeout=30_000)
        if name == "widget":
            chat.locator("#input").fill("What is your return policy?")
            chat.locator("#input").press("Enter")
            expect(chat.locator(".msg.assistant[data-finish-reason]")).to_have_count(1, timeout=60_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(OUT / f"{name}.png"))
        page.close()
    server.shutdown()


def inbox(browser: object, args: argparse.Namespace) -> None:
    """A customer's conversation held by the demo user in the inbox, with a reply and a note."""
    staff = _api(f"{args.url}/api/v1/auth/token/", {"username": "admin", "password": args.admin_password})
    customer: dict[str, object] = {"username": "jordan", "password": "screenshots-only-1", "role": "member"}
    with contextlib.suppress(urllib.error.HTTPError):  # made by an earlier run
        _api(f"{args.url}/api/v1/tenants/demo/members/", customer, str(staff["access"]))
    chat = browser.new_page(viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
    chat.goto(f"{args.url}/chat/")
    chat.fill("input[name=username]", customer["username"])
    chat.fill("input[name=password]", customer["password"])
    chat.click("button[type=submit]")
    expect(chat.locator(".msg.greeting")).to_be_visible()
    ask(chat, "My tent arrived with a torn seam. Can I talk to a person?")
    agent = browser.new_page(viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
    agent.goto(f"{args.url}/inbox/")
    agent.fill("input[name=username]", args.username)
    agent.fill("input[name=password]", args.password)
    agent.click("button[type=submit]")
    agent.locator("#inbox-conversations .conv-open").first.click()
    if agent.locator("#take").is_visible():
        agent.click("#take")
    expect(agent.locator("#send")).to_be_enabled()
    agent.fill("#input", "I'm sorry about that! I've sent you a return label; a new tent ships today.")
    agent.keyboard.press("Enter")
    expect(chat.locator(".msg.agent")).to_have_count(1)
    chat.fill("#input", "Thank you, that was quick")
    chat.keyboard.press("Enter")
    expect(agent.locator("#log .msg.user")).to_have_count(2)
    agent.check("#note-mode")
    agent.fill("#input", "Second torn seam this month on this model: told the supplier.")
    agent.keyboard.press("Enter")
    expect(agent.locator("#log .msg.note")).to_have_count(1)
    agent.wait_for_timeout(300)
    agent.screenshot(path=str(OUT / "inbox.png"))
    agent.close()
    chat.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", required=True)
    parser.add_argument("--admin-password", required=True, help="the staff login, to make a customer")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860}, color_scheme="light")
        page.goto(f"{args.url}/chat/")
        page.fill("input[name=username]", args.username)
        page.fill("input[name=password]", args.password)
        page.click("button[type=submit]")
        expect(page.locator(".msg.greeting")).to_be_visible()
        ask(page, "Which plans do you offer, and what do they cost?")
        page.click("#new-chat")
        ask(page, "How do I reset my password?")
        page.locator(".msg.assistant:not(.greeting) .regenerate").last.click()  # a second version
        expect(page.locator(".msg.user .versions")).to_contain_text("2/2")
        expect(page.locator(".msg.assistant[data-finish-reason]")).to_have_count(1)
        page.locator(".msg.assistant:not(.greeting) .rate-up").last.click()
        page.wait_for_timeout(4000)  # the background title
        page.reload()
        expect(page.locator(".msg.assistant[data-finish-reason]")).to_have_count(1)
        expect(page.locator(".msg.greeting")).to_be_visible()
        page.screenshot(path=str(OUT / "chat-light.png"))
        page.click("#theme-toggle")
        page.screenshot(path=str(OUT / "chat-dark.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(OUT / "chat-phone.png"))
        page.click("#open-sidebar")
        page.wait_for_timeout(400)
        page.screenshot(path=str(OUT / "chat-phone-drawer.png"))
        page.keyboard.press("Escape")  # the drawer closes
        page.click("#theme-toggle")  # back to light for the console
        page.set_viewport_size({"width": 1280, "height": 1100})
        page.goto(f"{args.url}/console/")
        page.wait_for_function("window.consoleCharts && window.consoleCharts.length === 14")
        page.screenshot(path=str(OUT / "console.png"))
        page.set_viewport_size({"width": 1280, "height": 860})
        page.goto(f"{args.url}/console/team/")
        expect(page.locator("#team-members tr").first).to_be_visible()
        page.fill("#invite-form input[name=email]", "sam@example.com")
        page.select_option("#invite-form select[name=role]", "agent")
        page.click("#invite-form button[type=submit]")
        expect(page.locator("#team-invitations tr", has_text="sam@example.com")).to_be_visible()
        page.screenshot(path=str(OUT / "console-team.png"))
        page.goto(f"{args.url}/console/settings/")
        expect(page.locator("#f-model option").first).to_be_attached()
        page.screenshot(path=str(OUT / "console-settings.png"))
        greeting = "Hello! I am the Demo Company assistant: ask me about plans, billing or your account."
        page.fill("#f-custom_greeting", greeting)
        page.click("#settings-save")
        expect(page.locator("#settings-status")).to_contain_text("Saved")
        page.goto(f"{args.url}/console/integrations/")
        page.fill("#key-form input[name=name]", "CRM sync")
        page.check("#key-form input[value='conversations:read']")
        page.click("#key-form button[type=submit]")
        expect(page.locator("#key-secret")).to_be_visible()
        page.fill("#webhook-form input[name=url]", "https://hooks.example.com/chat")
        page.check("#webhook-form input[value='conversation.escalated']")
        page.click("#webhook-form button[type=submit]")
        expect(page.locator("#webhooks-list tr").first).to_be_visible()
        page.locator("#webhooks-heading").scroll_into_view_if_needed()
        page.screenshot(path=str(OUT / "console-integrations.png"))
        sso = page.locator("#sso-form")
        sso.get_by_label("Issuer URL").fill("https://login.example.com")
        sso.get_by_label("Client ID").fill("chatplatform")
        sso.get_by_label("Client secret").fill("a-client-secret")
        sso.get_by_label("E-mail domains").fill("example.com")
        sso.get_by_label("Roles of groups").fill("support-team = agent\nit-admins = admin")
        sso.get_by_role("button", name="Save single sign-on").click()
        expect(page.locator("#integrations-status")).to_have_text("Single sign-on is saved.")
        page.evaluate("document.getElementById('sso-heading').scrollIntoView()")
        page.screenshot(path=str(OUT / "console-sso.png"))
        page.goto(f"{args.url}/console/history/")
        expect(page.locator("#history-entries tr").first).to_be_visible()
        page.screenshot(path=str(OUT / "console-history.png"))
        stranger = browser.new_page(viewport={"width": 1280, "height": 700}, color_scheme="light")
        stranger.goto(f"{args.url}/sso/")
        stranger.screenshot(path=str(OUT / "sso-sign-in.png"))
        stranger.close()
        widget(browser, args)
        inbox(browser, args)
        browser.close()
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()
