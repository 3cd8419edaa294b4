"""The pages in Chromium: the chat (log in, watch an answer stream in rendered, press Stop) and
the tenant console's charts."""

import asyncio
import json
import os
import subprocess
import uuid
from http.server import BaseHTTPRequestHandler

import pytest
from playwright.sync_api import expect
from websockets.asyncio.client import connect

from testkit.browser import chromium, sign_in, wait_until
from testkit.fake_openai import FakeOpenAI
from testkit.live import LIVE_REDIS_URL, ROOT, LivePlatform
from testkit.local_http import serving
from testkit.world import chat_calls_with

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_log_in_see_the_answer_stream_rendered_and_stop_it(
    platform: LivePlatform, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with chromium() as browser:
        page = browser.new_page()
        sign_in(page, platform, "/chat/")
        expect(page.locator(".msg.greeting")).to_contain_text("Demo Company")

        page.fill("#input", "Show me some markdown [[markdown]] [[delay=0.03]]")
        page.keyboard.press("Enter")
        answer = page.locator(".msg.assistant").nth(1)
        expect(page.locator("#stop")).to_be_visible()
        expect(answer.locator("strong")).to_have_text("bold")
        expect(answer.locator("pre code")).to_contain_text("print('hello')")
        expect(answer).to_have_attribute("data-finish-reason", "stop")
        expect(answer.locator(".meta")).to_contain_text("gpt-4o-mini")
        # The model's raw HTML was never executed or kept.
        assert page.evaluate("window.__pwned") is None
        assert answer.locator("script, img[onerror]").count() == 0
        expect(answer.locator(".table-scroll table td").first).to_have_text("free")
        expect(page.locator("#send")).to_be_enabled()

        page.fill("#input", "Tell me everything [[tokens=3000]] [[delay=0.01]]")
        page.click("#send")
        streaming = page.locator(".msg.assistant").nth(2)
        expect(streaming).to_contain_text("tok20")
        page.click("#stop")
        expect(streaming).to_have_attribute("data-finish-reason", "cancelled")
        expect(streaming.locator(".meta")).to_contain_text("cancelled")
        expect(page.locator("#stop")).to_be_hidden()
        page.click("#escalate")
        # The demo tenant has no escalation address: the request is recorded, nobody is notified.
        expect(page.locator("#status")).to_contain_text("Your request for a human is recorded")
        expect(page.locator("#escalate")).to_be_disabled()
        page.screenshot(path=str(tmp_path_factory.mktemp("shots") / "chat.png"))


# Every WebSocket the page opens, so a test can cut one as a network drop would.
RECORD_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    window.__sockets.push(socket);
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, { OPEN: Native.OPEN, CLOSED: Native.CLOSED });
})();
"""


def expected_text(tokens: int) -> str:
    return " ".join(f"tok{i}" for i in range(tokens))


def test_an_answer_survives_a_dropped_socket_and_a_reload_shown_whole_and_once(
    platform: LivePlatform, fake_openai_server: FakeOpenAI
) -> None:
    with chromium() as browser:
        page = browser.new_page()
        page.add_init_script(RECORD_SOCKETS)
        page.goto(f"{platform.base_url}/chat/")
        page.fill("input[name=username]", "demo")
        page.fill("input[name=password]", platform.passwords["demo"])
        page.click("button[type=submit]")
        expect(page.locator(".msg.greeting")).to_be_visible()

        dropped = uuid.uuid4().hex
        page.fill("#input", f"{dropped} [[tokens=200]] [[delay=0.02]]")
        page.keyboard.press("Enter")
        answer = page.locator(".msg.assistant:not(.greeting)").nth(0)
        expect(answer).to_contain_text("tok20")
        page.evaluate("window.__sockets.at(-1).close()")  # the network drops mid-answer
        try:
            expect(answer).to_have_attribute("data-finish-reason", "stop", timeout=30_000)
        except AssertionError as failed:  # what the page shows and how its sockets went
            sockets = page.evaluate("window.__sockets.map((s) => s.readyState)")
            status = page.locator("#status").inner_text()
            raise AssertionError(f"{failed}\nstatus: {status!r}\nsockets' states: {sockets}") from None
        assert answer.locator(".body").inner_text() == expected_text(200)
        assert page.evaluate("window.__sockets.length") == 2  # it reconnected, once
        expect(page.locator(".msg.assistant:not(.greeting)")).to_have_count(1)

        reloaded = uuid.uuid4().hex
        page.fill("#input", f"{reloaded} [[tokens=200]] [[delay=0.02]]")
        page.keyboard.press("Enter")
        expect(page.locator(".msg.assistant:not(.greeting)").nth(1)).to_contain_text("tok20")
        page.reload()  # mid-answer: the stored conversation comes back, the answer resumes
        answers = page.locator(".msg.assistant:not(.greeting)")
        expect(answers).to_have_count(2, timeout=30_000)
        expect(answers.nth(1)).to_have_attribute("data-finish-reason", "stop", timeout=30_000)
        assert answers.nth(0).locator(".body").inner_text() == expected_text(200)
        assert answers.nth(1).locator(".body").inner_text() == expected_text(200)
        expect(page.locator(".msg.user")).to_have_count(2)
    for marker in (dropped, reloaded):  # one upstream call each, whatever the page went through
        assert len(chat_calls_with(fake_openai_server, marker)) == 1


async def demo_traffic(platform: LivePlatform) -> None:
    """A few conversations as the demo user: answers, ratings, a resolution."""
    token = platform.token("demo", platform.passwords["demo"], "demo")
    for n in range(6):
        async with connect(f"{platform.ws_url}/ws/chat/?token={token}") as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            await ws.send(
                json.dumps(
                    {
                        "type": "message",
                        "content": f"question {n} [[tokens=20]]",
                        "client_id": str(uuid.uuid4()),
                    }
                )
            )
            while (frame := json.loads(await ws.recv()))["type"] != "done":
                pass
            await ws.send(
                json.dumps({"type": "feedback", "message_id": frame["message_id"], "rating": 3 + n % 3})
            )
            if n % 2:
                await ws.send(json.dumps({"type": "resolve"}))
                while json.loads(await ws.recv())["type"] != "resolved":
                    pass


def test_the_console_shows_the_tenants_charts(
    platform: LivePlatform, tmp_path_factory: pytest.TempPathFactory
) -> None:
    asyncio.run(demo_traffic(platform))
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://root@127.0.0.1:5432/{platform.database}",
        "REDIS_URL": LIVE_REDIS_URL,
    }
    computed = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "compute_analytics"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "daily and hourly rows written" in computed.stdout
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        sign_in(page, platform, "/console/")
        page.goto(f"{platform.base_url}/console/")
        expect(page.locator("#chart-volume")).to_be_visible()
        wait_until(page, "window.consoleCharts && window.consoleCharts.length === 14")
        charts = page.evaluate(
            "window.consoleCharts.map(c => ({id: c.canvas.id, points: c.data.datasets.flatMap(d => d.data)"
            ".filter(v => v !== null && v !== 0).length, width: c.width}))"
        )
        assert [c["id"] for c in charts] == [
            "chart-volume",
            "chart-cost",
            "chart-ttft",
            "chart-cache",
            "chart-outcomes",
            "chart-csat",
            "chart-latency",
            "chart-errors",
            "chart-users",
            "chart-safety",
            "chart-cost-conversation",
            "chart-handoff",
            "chart-first-reply",
            "chart-csat-who",
        ]
        drawn = {c["id"] for c in charts if c["points"] > 0 and c["width"] > 100}
        assert drawn >= {
            "chart-volume",
            "chart-ttft",
            "chart-outcomes",
            "chart-csat",
            "chart-latency",
            "chart-users",
            "chart-cost-conversation",
        }, charts
        page.screenshot(path=str(tmp_path_factory.mktemp("shots") / "console.png"))


class _Recorder(BaseHTTPRequestHandler):
    """An attacker's server: every request it gets is a leak."""

    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(204)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


def test_an_answer_cannot_make_the_browser_fetch_or_post_anything_elsewhere(platform: LivePlatform) -> None:
    """A prompt-injected answer with a remote image and a form: the image is shown as a link, the
    form is gone, and the page's CSP refuses what a sanitizer might miss; the attacker's server
    hears nothing."""
    with serving(_Recorder) as attacker:
        port = int(attacker.rsplit(":", 1)[1])
        with chromium() as browser:
            page = browser.new_page()
            sign_in(page, platform, "/chat/")
            expect(page.locator(".msg.greeting")).to_be_visible()
            policy = page.evaluate("fetch(location.href).then(r => r.headers.get('content-security-policy'))")
            for rule in [
                "script-src 'self'",
                "img-src 'self' data:",
                "form-action 'self'",
                "frame-ancestors 'none'",
            ]:
                assert rule in policy, policy

            page.fill("#input", f"What is my status? [[exfiltrate={port}]]")
            page.keyboard.press("Enter")
            answer = page.locator(".msg.assistant").nth(1)
            expect(answer).to_have_attribute("data-finish-reason", "stop")
            expect(answer.locator("a.blocked-image")).to_have_attribute(
                "href", f"http://127.0.0.1:{port}/leak.png?c=SECRET"
            )
            assert answer.locator(".body").locator("img, form, input, button").count() == 0
            # An image that got into the page anyway is refused by the CSP, not fetched.
            blocked = page.evaluate(
                """url => new Promise(resolve => {
                    const done = e => resolve(e.blockedURI);
                    document.addEventListener("securitypolicyviolation", done, {once: true});
                    const image = document.createElement("img");
                    image.src = url;
                    document.body.appendChild(image);
                })""",
                f"http://127.0.0.1:{port}/csp.png",
            )
            assert blocked == f"http://127.0.0.1:{port}/csp.png"
    assert _Recorder.seen == []
