"""Issue 33 in two browsers on two Daphne instances of one deployment: a member on the chat page
of one asks for a person; an agent in the inbox page of the other gets it at once (round robin,
the only one online), takes it live, and they talk: replies, typing both ways, the member's
answer to the agent with no upstream call, a private note the member never sees; the agent hands
back and the assistant answers again."""

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat.history.background import TITLER_PROMPT
from testkit.browser import chromium, serious_accessibility_violations, sign_in
from testkit.fake_openai import FakeOpenAI
from testkit.live import LivePlatform, start_platform
from tests.browser.test_browser_product import DESKTOP, ask


@pytest.fixture(scope="module")
def instances(
    fake_openai_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LivePlatform, LivePlatform]]:
    shared = {"SECRET_KEY": secrets.token_urlsafe(32)}  # one deployment
    root = tmp_path_factory.mktemp("inbox")
    first = start_platform(
        "production", tmp_path=root / "a", llm_url=fake_openai_server.url, extra_env=shared
    )
    try:
        second = start_platform(
            "production",
            tmp_path=root / "b",
            llm_url=fake_openai_server.url,
            extra_env=shared,
            database=first.database,
        )
    except BaseException:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


def answers_since(fake: FakeOpenAI, calls: int) -> int:
    """The assistant's calls after the first ``calls``: the conversation's title is made by the
    worker meanwhile, whenever its batch goes."""
    return sum(call.messages[0]["content"] != TITLER_PROMPT for call in fake.calls[calls:])


def test_an_agent_in_the_inbox_answers_a_member_live_across_instances(
    instances: tuple[LivePlatform, LivePlatform], fake_openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    first, second = instances
    # Each start resets the staff password: the second instance's is the valid one.
    slug, member, password = second.new_tenant_with_member()
    agent, agent_password = second.add_member(slug, role="agent")
    with chromium() as browser:
        inbox = browser.new_context(viewport=DESKTOP, bypass_csp=True).new_page()
        sign_in(inbox, first, "/inbox/", agent, agent_password)
        expect(inbox.locator("#team .agent.online")).to_contain_text(f"{agent} (you)")
        expect(inbox.locator("#inbox-empty")).to_be_visible()

        chat = browser.new_context(viewport=DESKTOP).new_page()
        sign_in(chat, second, "/chat/", member, password)
        ask(chat, "My order never arrived [[tokens=3]]")
        chat.click("#escalate")
        # The only agent online gets it at once; the member is told who.
        expect(chat.locator("#status")).to_have_text(f"{agent} joined the conversation.")
        expect(inbox.locator('[data-count="mine"]')).to_have_text("1")
        inbox.locator("#inbox-conversations .conv-open").first.click()
        expect(inbox.locator("#log .msg.user")).to_contain_text("My order never arrived")
        expect(inbox.locator("#log .msg.assistant")).to_have_count(1)
        expect(inbox.locator("#take")).to_be_hidden()  # it is theirs already

        # Typing both ways, then the reply arrives live on the other instance.
        inbox.fill("#input", "Sorry about that")
        inbox.locator("#input").press_sequentially(", let me check")
        expect(chat.locator("#status")).to_have_text(f"{agent} is typing…")
        inbox.keyboard.press("Enter")
        expect(chat.locator(".msg.agent")).to_contain_text("Sorry about that, let me check")
        calls = len(fake_openai_server.calls)
        chat.locator("#input").press_sequentially("It was order 1234")
        expect(inbox.locator("#typing")).to_have_text("The customer is typing…")
        chat.keyboard.press("Enter")
        expect(inbox.locator("#log .msg.user .body").last).to_have_text("It was order 1234")
        expect(chat.locator("#status")).to_have_text("Your message went to the person helping you.")
        assert answers_since(fake_openai_server, calls) == 0  # the assistant made no call

        # A private note: the team's only.
        inbox.check("#note-mode")
        inbox.fill("#input", "VIP customer, refund approved")
        inbox.keyboard.press("Enter")
        expect(inbox.locator("#log .msg.note")).to_contain_text("VIP customer")
        assert inbox.locator("#log .msg").count() == 5
        assert serious_accessibility_violations(inbox) == []
        inbox.screenshot(path=str(tmp_path / "inbox.png"))
        chat.screenshot(path=str(tmp_path / "inbox-chat.png"))
        expect(chat.locator(".msg.agent")).to_have_count(1)
        assert "VIP" not in chat.locator("#log").inner_text()
        expect(chat.locator("#status")).not_to_contain_text("typing")  # a note is typed unseen

        # Handed back: the assistant answers the next message.
        inbox.click("#hand-back")
        expect(chat.locator("#status")).to_have_text("The assistant answers again.")
        expect(inbox.locator('[data-count="all"]')).to_have_text("0")
        ask(chat, "And when will the refund arrive? [[tokens=2]]")
        assert answers_since(fake_openai_server, calls) == 1
