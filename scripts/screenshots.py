"""The README's screenshots (docs/screenshots/), taken from a running platform in Chromium.

    make run                                   # prints the demo login
    .venv/bin/python scripts/screenshots.py --password <demo password> [--url http://127.0.0.1:8000]

Two conversations with the demo model (or whatever model the platform uses), a thumbs up, then
the page in light and dark, on a 390 x 844 phone with its drawer open, and the tenant console.
"""

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", required=True)
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
        page.goto(f"{args.url}/chat/console/")
        page.wait_for_function("window.consoleCharts && window.consoleCharts.length === 11")
        page.screenshot(path=str(OUT / "console.png"))
        browser.close()
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()
