"""The chat page in Chromium: log in, watch an answer stream in rendered, press Stop."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.fake_openai import FakeOpenAI
from tests.live import LivePlatform, start_platform

pytestmark = [pytest.mark.browser, pytest.mark.live]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def platform(
    fake_openai_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LivePlatform]:
    live = start_platform(
        "production", tmp_path=tmp_path_factory.mktemp("browser"), llm_url=fake_openai_server.url
    )
    yield live
    live.stop()


def test_log_in_see_the_answer_stream_rendered_and_stop_it(
    platform: LivePlatform, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{platform.base_url}/chat/")
        page.fill("input[name=username]", "demo")
        page.fill("input[name=password]", platform.passwords["demo"])
        page.click("button[type=submit]")
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
        expect(page.locator("#status")).to_contain_text("team has been notified")
        page.screenshot(path=str(tmp_path_factory.mktemp("shots") / "chat.png"))
        browser.close()
