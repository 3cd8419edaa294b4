"""Driving the pages in Debian's Chromium with Playwright (the browser tests' shared steps)."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from testkit.live import LivePlatform

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(
    page: Page, platform: LivePlatform, path: str, username: str = "demo", password: str = ""
) -> None:
    """Open ``path`` and sign in on the login page it leads to (the demo user by default);
    returns once the page signed in to has loaded, its scripts run (they are modules, run after
    the document is parsed: a key pressed before would reach a composer with no listener yet)."""
    page.goto(f"{platform.base_url}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password or platform.passwords[username])
    with page.expect_navigation(wait_until="load"):
        page.click("button[type=submit]")


def wait_until(page: Page, expression: str, timeout_s: float = 30.0) -> None:
    """Poll ``expression`` in the page until it is truthy. Not ``wait_for_function``: its polling
    evaluates the string inside the page, which the pages' CSP (no 'unsafe-eval') refuses."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        time.sleep(0.1)


def serious_accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is (WCAG 2.1 A and AA rules).
    The page's CSP forbids injected scripts: the context must be made with ``bypass_csp``."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => (await axe.run(document, {runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}))
            .violations.filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" "))}))"""
    )
    return list(found)
