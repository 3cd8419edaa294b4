"""The chat page as a ChatGPT or Open WebUI user would try it, in Chromium: conversations kept and
findable (sidebar, rename, delete, search, never anyone else's), answers copied, rated and
regenerated, the page in the dark and on a phone, an accessibility check, and the API docs with
no network but the server."""

import asyncio
import os
import re
import struct
import subprocess
import time
import uuid
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from testkit.browser import chromium, serious_accessibility_violations, sign_in, wait_until
from testkit.fake_openai import FakeOpenAI
from testkit.live import LIVE_REDIS_URL, ROOT, LivePlatform
from testkit.live_ws import frames_until, open_chat, send
from testkit.worker import wait_for
from testkit.world import chat_calls_with, word_marker

pytestmark = [pytest.mark.browser, pytest.mark.live]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def one_pixel_png() -> bytes:
    """A real 1 x 1 PNG (a browser decodes it: its thumbnail has a natural width of 1)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x20\x80\x40\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


async def converse(platform: LivePlatform, token: str, content: str) -> int:
    """A conversation with one answered message, as another client makes it; its id."""
    ws, ready = await open_chat(platform, token)
    await send(ws, content)
    await frames_until(ws, "done")
    await ws.close()
    return int(ready["conversation_id"])


def ask(page: Page, content: str) -> None:
    """Send a message from the composer and wait for its answer to end; if it does not, say
    what the page shows (its status line and messages: an error, or still waiting)."""
    answers = page.locator(".msg.assistant[data-finish-reason]")
    before = answers.count()
    page.fill("#input", content)
    page.keyboard.press("Enter")
    try:
        expect(answers).to_have_count(before + 1, timeout=60_000)
    except AssertionError as failed:
        status, shown = page.locator("#status").inner_text(), page.locator(".msg").all_inner_texts()
        raise AssertionError(f"{failed}\nstatus: {status!r}\nmessages: {shown}") from None


def new_chat(page: Page, platform: LivePlatform) -> None:
    """The chat page, once it has reopened the conversation last open, on a new chat (else the
    history arriving late would be counted as ``ask``'s answer)."""
    page.goto(f"{platform.base_url}/chat/")
    expect(page.locator("#conversations li.current")).to_have_count(1)
    expect(page.locator(".msg.user")).not_to_have_count(0)
    page.click("#new-chat")
    expect(page.locator(".msg.user")).to_have_count(0)


def sidebar_titles(page: Page) -> list[str]:
    return page.locator("#conversations .conv-open").all_inner_texts()


def test_conversations_are_kept_found_renamed_and_deleted_and_only_ones_own(
    platform: LivePlatform, tmp_path: Path
) -> None:
    slug, owner, owner_password = platform.new_tenant_with_member(role="owner")
    colleague, colleague_password = platform.add_member(slug)
    outsider_slug, outsider, outsider_password = platform.new_tenant_with_member()
    # The same words in a colleague's and another tenant's conversations: never listed or found.
    asyncio.run(converse(platform, platform.token(colleague, colleague_password, slug), "zebra colleague"))
    asyncio.run(
        converse(platform, platform.token(outsider, outsider_password, outsider_slug), "zebra outsider")
    )

    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        sign_in(page, platform, "/chat/", owner, owner_password)
        expect(page.locator(".msg.greeting")).to_be_visible()
        expect(page.locator("#conversations-empty")).to_be_visible()  # a page load leaves nothing
        ask(page, "alpha zebra question")
        page.click("#new-chat")
        expect(page.locator(".msg.user")).to_have_count(0)
        ask(page, "bravo question")
        expect(page.locator("#conversations li")).to_have_count(2)

        page.reload()
        expect(page.locator("#conversations li")).to_have_count(2)
        expect(page.locator(".msg.user .body")).to_have_text(["bravo question"])  # the open one, reopened
        page.locator("#conversations li").nth(1).locator(".conv-open").click()
        expect(page.locator(".msg.user .body")).to_have_text(["alpha zebra question"])
        expect(page.locator(".msg.assistant:not(.greeting)")).to_have_count(1)

        alpha = page.locator("#conversations li.current")
        alpha.locator(".rename").click()
        page.fill("#conversations .rename-field", "Renamed by me")
        page.keyboard.press("Enter")
        expect(page.locator("#conversations li.current .conv-open")).to_have_text("Renamed by me")
        expect(page.locator("#conversation-title")).to_have_text("Renamed by me")

        page.fill("#search", "zebra")
        expect(page.locator("#conversations li")).to_have_count(1)
        expect(page.locator("#conversations .conv-open")).to_have_text(["Renamed by me"])
        page.fill("#search", "Renamed")  # a title's words
        expect(page.locator("#conversations .conv-open")).to_have_text(["Renamed by me"])
        page.fill("#search", "colleague")
        expect(page.locator("#conversations-empty")).to_have_text("No conversation matches.")
        page.fill("#search", "")
        expect(page.locator("#conversations li")).to_have_count(2)

        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#conversations li.current .delete").click()
        expect(page.locator("#conversations li")).to_have_count(1)
        expect(page.locator(".msg.user")).to_have_count(0)  # a new chat in its place
        page.screenshot(path=str(tmp_path / "chat-sidebar.png"))
        page.reload()
        expect(page.locator("#conversations li")).to_have_count(1)
        assert "Renamed by me" not in sidebar_titles(page)

    token = platform.token(owner, owner_password, slug)
    status, mine = platform.http("GET", "/api/v1/conversations/?mine=true", token=token)
    assert status == 200 and mine["count"] == 1
    status, everything = platform.http("GET", "/api/v1/conversations/", token=token)
    deleted = [c for c in everything["results"] if c["deleted_at"]]
    assert [c["title"] for c in deleted] == ["Renamed by me"]  # kept for the tenant's retention
    assert everything["count"] == 3  # the owner's two and the colleague's, never the outsider's


def test_copy_rate_and_regenerate_an_answer_and_the_rating_reaches_the_console(
    platform: LivePlatform, fake_openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    _, owner, password = platform.new_tenant_with_member(role="owner")
    marker = uuid.uuid4().hex
    with chromium() as browser:
        context = browser.new_context(
            viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"], bypass_csp=True
        )  # bypass_csp: the accessibility check injects axe
        page = context.new_page()
        sign_in(page, platform, "/chat/", owner, password)
        ask(page, f"{marker} show me code [[markdown]]")
        answer = page.locator(".msg.assistant:not(.greeting)").first
        expect(answer.locator("pre code.hljs")).to_be_visible()  # highlighted
        expect(answer.locator(".usage")).to_contain_text("tokens")  # an owner sees the usage
        answer.locator(".copy-code").click()
        expect(answer.locator(".copy-code")).to_have_attribute("data-copied", "true")
        assert page.evaluate("navigator.clipboard.readText()") == "print('hello')\n"

        answer.locator(".rate-up").click()
        expect(answer.locator(".rate-up")).to_have_attribute(
            "aria-pressed", "true"
        )  # the server said `rated`

        # Regenerate replaces the answer in place and keeps the first as an earlier version.
        answer.locator(".regenerate").click()
        answers = page.locator(".msg.assistant:not(.greeting)")
        pager = page.locator(".msg.user .versions")
        expect(pager).to_contain_text("2/2", timeout=30_000)
        expect(answers).to_have_count(1)
        expect(answers.first).to_have_attribute("data-finish-reason", "stop")
        calls = chat_calls_with(fake_openai_server, marker)
        assert len(calls) == 2  # one more upstream call, without the turn it replaced
        assert [m["role"] for m in calls[1].messages] == ["system", "user"]
        assert serious_accessibility_violations(page) == [], "versions"
        page.locator(".msg.user .version-back").click()
        expect(pager).to_contain_text("1/2")
        expect(answers.first.locator(".regenerate")).to_be_hidden()  # an earlier version is read only
        page.locator(".msg.user .version-next").click()
        expect(pager).to_contain_text("2/2")

        # Edit and resend replaces the turn too: a third version.
        page.locator(".msg.user .edit").click()
        page.fill("#input", f"{marker} show me other code [[markdown]]")
        page.keyboard.press("Enter")
        expect(pager).to_contain_text("3/3", timeout=30_000)
        expect(answers.first).to_have_attribute("data-finish-reason", "stop")
        expect(page.locator(".msg.user")).to_have_count(1)
        edited = chat_calls_with(fake_openai_server, marker)[-1]
        assert [(m["role"], m["content"]) for m in edited.messages[1:]] == [
            ("user", f"{marker} show me other code [[markdown]]")
        ]

        # Esc stops an answer.
        page.fill("#input", "a long one [[tokens=3000]] [[delay=0.01]]")
        page.keyboard.press("Enter")
        expect(answers.nth(1)).to_contain_text("tok10")
        page.keyboard.press("Escape")
        expect(answers.nth(1)).to_have_attribute("data-finish-reason", "cancelled")

        # After a reload the owner still sees each answer's usage, its cost as people read it,
        # and the versions of the first turn.
        page.reload()
        expect(page.locator(".msg.user .versions").first).to_contain_text("3/3")
        expect(page.locator(".msg.assistant[data-finish-reason] .usage")).to_have_count(2)
        usage = page.locator(".msg.assistant[data-finish-reason] .usage").first.inner_text()
        assert re.search(r"· (\$0|< \$0\.0001|\$\d+\.\d+)$", usage), usage

    env = {**os.environ, "DATABASE_URL": platform.database_url or "", "REDIS_URL": LIVE_REDIS_URL}
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "compute_analytics"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        sign_in(page, platform, "/console/", owner, password)
        wait_until(page, "window.consoleCharts && window.consoleCharts.length === 14")
        csat = page.evaluate("window.consoleCharts[5].data.datasets[0].data.filter(v => v !== null)")
        assert csat == [5]
        # Per hour: the same answers in this hour's point, one point per hour.
        page.click("[data-period=hours]")
        expect(page.locator("#period-text")).to_have_text("One point per hour")
        wait_until(page, "window.consoleCharts.length === 14 && consoleCharts[0].data.labels.length > 1")
        labels = page.evaluate("window.consoleCharts[0].data.labels")
        assert all(label.endswith("h") for label in labels), labels
        answers = page.evaluate("window.consoleCharts[0].data.datasets[1].data")
        # Every answer given counts, replaced or not: the first, its regeneration, the edited
        # question's, the cancelled one.
        assert sum(answers) == 4, answers


def test_a_member_sees_no_cost_and_the_page_works_in_the_dark_and_on_a_phone(
    platform: LivePlatform, tmp_path: Path
) -> None:
    _, member, password = platform.new_tenant_with_member(role="member")
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP, color_scheme="dark")
        sign_in(page, platform, "/chat/", member, password)
        ask(page, "What does the dark look like? [[markdown]]")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(18, 21, 28)", background
        answer = page.locator(".msg.assistant:not(.greeting)").first
        expect(answer.locator(".meta time")).to_be_visible()
        assert answer.locator(".usage").count() == 0  # members see no tokens or cost by default
        page.screenshot(path=str(tmp_path / "chat-dark.png"))
        page.click("#theme-toggle")
        assert page.evaluate("document.documentElement.dataset.theme") == "light"
        page.screenshot(path=str(tmp_path / "chat-light.png"))
        page.reload()
        assert page.evaluate("document.documentElement.dataset.theme") == "light"  # the pick is kept

        page.set_viewport_size(PHONE)
        expect(page.locator(".msg.assistant:not(.greeting)")).to_have_count(1)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll
        for control in ["#open-sidebar", "#theme-toggle", "#resolve", "#escalate", "#input", "#send"]:
            box = page.locator(control).bounding_box()
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], control
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], control
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
        page.screenshot(path=str(tmp_path / "chat-phone.png"))
        page.click("#open-sidebar")
        expect(page.locator("#new-chat")).to_be_in_viewport()
        expect(page.locator("#conversations li")).to_have_count(1)
        page.screenshot(
            path=str(tmp_path / "chat-phone-drawer.png"), animations="disabled"
        )  # the slide ended
        page.keyboard.press("Escape")
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
        page.click("#resolve")
        expect(page.locator("#resolve")).to_have_text("Marked as solved ✓")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violation_on_the_chat_login_and_console_pages(
    platform: LivePlatform, scheme: str
) -> None:
    _, owner, password = platform.new_tenant_with_member(role="owner")
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP, color_scheme=scheme, bypass_csp=True)
        page.goto(f"{platform.base_url}/accounts/login/")
        assert serious_accessibility_violations(page) == [], "login page"
        sign_in(page, platform, "/chat/", owner, password)
        ask(page, "Check my page [[markdown]]")
        page.locator(".msg.assistant:not(.greeting) .rate-down").click()  # the comment field too
        expect(page.locator(".why input")).to_be_visible()
        assert serious_accessibility_violations(page) == [], "chat page"
        page.goto(f"{platform.base_url}/console/")
        wait_until(page, "window.consoleCharts && window.consoleCharts.length === 14")
        assert serious_accessibility_violations(page) == [], "console"
        # Every room of the console, once its script has drawn it.
        for room, drawn in (
            ("conversations", "#conversations-list tr"),
            ("knowledge", "#knowledge-status"),
            ("curated", "#curated-status"),
            ("tools", "#tools-list tr"),
            ("alerts", "#alert-rules tr"),
            ("sites", "#sites-status"),
            ("usage", "#usage-models tr"),
            ("team", "#team-members tr"),
            ("settings", "#f-model option"),
            ("integrations", "#key-form"),
            ("history", "#history-entries tr, #history-status:not(:empty)"),
        ):
            page.goto(f"{platform.base_url}/console/{room}/")
            expect(page.locator(drawn).first).to_be_attached()
            assert serious_accessibility_violations(page) == [], room


def test_the_api_docs_render_with_no_network_but_the_server(platform: LivePlatform) -> None:
    elsewhere: list[str] = []
    with chromium() as browser:
        context = browser.new_context(viewport=DESKTOP)

        def only_the_server(route):  # type: ignore[no-untyped-def]
            if route.request.url.startswith(platform.base_url):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        context.route("**/*", only_the_server)
        page = context.new_page()
        page.goto(f"{platform.base_url}/api/docs/")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("chatplatform management API")
        expect(page.locator(".opblock-tag-section").first).to_be_visible()
        page.click("button.authorize")  # the bearer scheme can be used
        expect(page.locator(".auth-container").filter(has_text="jwtAuth")).to_be_visible()
    assert elsewhere == []


def test_an_owner_uploads_a_document_in_the_console_and_the_answer_cites_it(
    platform: LivePlatform, fake_openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    _, owner, password = platform.new_tenant_with_member(role="owner")
    policy = tmp_path / "returns.md"
    policy.write_text("# Returns\nUnopened kettles may be returned within 30 days. Code RETKETTLE30.\n")
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        sign_in(page, platform, "/console/knowledge/", owner, password)
        page.fill("#knowledge-upload input[name=title]", "Returns policy")
        page.set_input_files("#knowledge-upload input[name=file]", str(policy))
        page.click("#knowledge-upload button[type=submit]")
        expect(page.locator("#knowledge-documents tr[data-status=ready]")).to_have_count(1, timeout=120_000)
        expect(page.locator("#knowledge-status")).to_contain_text("“Returns policy” is ready:")
        page.screenshot(path=str(tmp_path / "console-knowledge.png"))

        page.goto(f"{platform.base_url}/chat/")
        marker = uuid.uuid4().hex
        ask(page, f"Can I return my kettle? {marker}")
        answer = page.locator(".msg.assistant:not(.greeting)").first
        expect(answer.locator(".sources li")).to_have_text(["Returns policy — Returns"])
        page.reload()  # the citation is stored with the answer
        expect(page.locator(".msg.assistant:not(.greeting) .sources li")).to_have_text(
            ["Returns policy — Returns"]
        )
    calls = chat_calls_with(fake_openai_server, marker)
    assert len(calls) == 1 and "RETKETTLE30" in calls[0].messages[0]["content"]


def test_attach_a_file_ask_about_it_and_see_the_answer_with_a_citation(
    platform: LivePlatform, fake_openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    slug, owner, password = platform.new_tenant_with_member(role="owner")
    token = platform.token(owner, password, slug)
    status, document = platform.http(
        "POST",
        "/api/v1/knowledge/documents/",
        {"title": "Warranty policy", "content": "# Warranty\nEvery kettle has a 3-year warranty. WARR3Y."},
        token,
    )
    assert status == 201, document
    deadline = time.monotonic() + 120
    while (
        platform.http("GET", f"/api/v1/knowledge/documents/{document['id']}/", token=token)[1]["status"]
        != "ready"
    ):
        assert time.monotonic() < deadline, "the document was not ingested"
        time.sleep(0.3)
    order = tmp_path / "order.md"
    order.write_text("Order QZ991 was shipped on Monday with a kettle.\n")
    photo = tmp_path / "kettle.png"
    photo.write_bytes(one_pixel_png())
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        sign_in(page, platform, "/chat/", owner, password)
        expect(page.locator(".msg.greeting")).to_be_visible()
        page.set_input_files("#file-input", [str(order), str(photo)])
        expect(page.locator("#attached li")).to_have_count(2)
        expect(page.locator("#attached li").first).to_contain_text("order.md")
        expect(page.locator("#attached li img.thumb")).to_have_count(1)  # the photo's thumbnail
        marker = uuid.uuid4().hex
        ask(page, f"What about my kettle order and its warranty? {marker}")
        expect(page.locator("#attached li")).to_have_count(0)
        link = page.locator(".msg.user .files a").first
        expect(link).to_have_text("order.md")
        thumb = page.locator(".msg.user .files img.thumb")
        expect(thumb).to_have_count(1)
        wait_until(page, "document.querySelector('.msg.user .files img.thumb').naturalWidth === 1")
        assert (
            page.request.get(f"{platform.base_url}{link.get_attribute('href')}")
            .text()
            .startswith("Order QZ991")
        )
        answer = page.locator(".msg.assistant:not(.greeting)").first
        expect(answer.locator(".sources li")).to_have_text(["Warranty policy — Warranty"])
    # With the photo, the question is sent as parts (its text, then the image: the model reads images).
    call = next(c for c in fake_openai_server.calls if marker in str(c.messages[-1]["content"]))
    question = call.messages[-1]["content"]
    assert "QZ991" in str(question) and "WARR3Y" in call.messages[0]["content"]
    assert any(part.get("type") == "image_url" for part in question)


@pytest.mark.timeout(600)  # a worker and the web process each load the embedding model
def test_an_answer_saved_as_curated_from_the_chat_is_edited_in_the_console_and_given(
    platform: LivePlatform, fake_openai_server: FakeOpenAI
) -> None:
    _, owner, password = platform.new_tenant_with_member(role="owner")
    marker = word_marker()
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        sign_in(page, platform, "/chat/", owner, password)
        ask(page, f"What is the warranty {marker}? [[tokens=4]]")
        answer = page.locator(".msg.assistant:not(.greeting)").first
        answer.locator(".curate").click()
        expect(page.locator("#status")).to_contain_text("Saved as a curated answer")
        page.reload()  # saved stays saved: no ☆ to save it twice
        expect(page.locator(".msg.assistant[data-finish-reason]")).to_have_count(1)
        expect(page.locator(".msg.assistant[data-finish-reason] .curate")).to_have_count(0)

        page.goto(f"{platform.base_url}/console/curated/")
        entry = page.locator("#curated-answers tr")
        expect(entry).to_have_count(1)
        expect(entry).to_contain_text(f"What is the warranty {marker}?")
        entry.get_by_role("button", name="Edit").click()
        page.fill("#curated-form textarea[name=questions]", "How long is the warranty?\nWarranty period?")
        page.fill("#curated-form textarea[name=answer]", "Two years, parts and labour.")
        page.click("#curated-form button[type=submit]")
        expect(page.locator("#curated-status")).to_contain_text("Saved")
        expect(entry).to_contain_text("How long is the warranty? (+1 phrasing)")

        new_chat(page, platform)
        ask(page, "Hi! warranty period?")
        given = page.locator(".msg.assistant:not(.greeting)").last
        expect(given).to_contain_text("Two years, parts and labour.")
        expect(given.locator(".curated")).to_have_text("curated answer")
        assert not chat_calls_with(fake_openai_server, "warranty period?")  # the model never asked

        page.goto(f"{platform.base_url}/console/curated/")
        expect(page.locator("#curated-answers tr .hits")).to_have_text("1")

        # A question close in wording that asks something else: suggested once the worker has
        # embedded the phrasings; the owner declines it, and it is not suggested again.
        entry_url = f"{platform.base_url}/api/v1/knowledge/curated/{entry.get_attribute('data-id')}/"
        embedded = wait_for(lambda: page.request.get(entry_url).json()["embedded"], timeout=300)
        assert embedded, "the phrasings were never embedded"
        new_chat(page, platform)
        ask(page, "what does the warranty cover?")
        page.goto(f"{platform.base_url}/console/curated/")
        suggestion = page.locator("#curated-suggestions li", has_text="what does the warranty cover?")
        # The first suggestions load the embedding model in the web process: seconds, not minutes.
        expect(suggestion).to_have_count(1, timeout=120_000)
        suggestion.get_by_role("button", name="Not this one").click()
        expect(suggestion).to_have_count(0)
        assert page.request.get(entry_url).json()["declined_questions"] == ["what does the warranty cover?"]
        page.reload()
        expect(page.locator("#curated-answers tr")).to_have_count(1)
        expect(suggestion).to_have_count(0)


def test_an_owner_changes_an_alert_rule_and_reads_a_failed_document_again_in_the_console(
    platform: LivePlatform, tmp_path: Path
) -> None:
    """The console's alerts and knowledge scripts (ES modules on ``static/chat/api.js``) against
    the real API: a rule saved, a failed document read again."""
    slug, owner, password = platform.new_tenant_with_member(role="owner")
    token = platform.token(owner, password, slug)
    status, broken = platform.http(
        "POST",
        "/api/v1/knowledge/documents/",
        {"title": "Broken", "content": "<script>no text</script>", "content_type": "text/html"},
        token,
    )
    assert status == 201, broken
    failed = wait_for(
        lambda: (
            platform.http("GET", f"/api/v1/knowledge/documents/{broken['id']}/", token=token)[1]["status"]
            == "failed"
        ),
        timeout=120,
    )
    assert failed, "the broken document did not fail"
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        sign_in(page, platform, "/console/alerts/", owner, password)
        threshold = page.get_by_label("error rate: threshold in %")  # 0.05 in the API
        expect(threshold).to_have_value("5", timeout=30_000)
        threshold.fill("20")
        page.get_by_label("Save the error rate rule").click()
        expect(page.locator("#alerts-status")).to_contain_text("The error rate rule is saved.")

        page.screenshot(path=str(tmp_path / "console-alerts.png"))

        page.goto(f"{platform.base_url}/console/knowledge/")
        page.get_by_label("Read Broken again").click()
        expect(page.locator("#knowledge-status")).to_contain_text("“Broken” is being read again")
    rules = platform.http("GET", "/api/v1/alerts/rules/", token=token)[1]
    assert next(r for r in rules if r["metric"] == "error_rate")["threshold"] == 0.2
    again = platform.http("GET", f"/api/v1/knowledge/documents/{broken['id']}/", token=token)[1]
    assert again["status"] in ("pending", "failed") and again["error"] != "", again


def test_an_owner_adds_a_widget_site_in_the_console_and_a_bad_domain_is_explained(
    platform: LivePlatform, tmp_path: Path
) -> None:
    """The console's website widget section (``static/chat/sites.js``) against the real API: a
    domain that would allow every site is refused with the API's reason; a good site gets its
    key, is switched off, and deleted."""
    slug, owner, password = platform.new_tenant_with_member(role="owner")
    token = platform.token(owner, password, slug)
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        sign_in(page, platform, "/console/sites/", owner, password)
        page.get_by_label("Name", exact=True).fill("Online shop")
        page.get_by_label("Allowed domains, one per line").fill("shop.example.com\n*.com")
        page.get_by_role("button", name="Add a site").click()
        expect(page.locator("#sites-status")).to_contain_text("a wildcard needs a registered domain")
        page.get_by_label("Allowed domains, one per line").fill("shop.example.com\n*.example.com")
        page.get_by_role("button", name="Add a site").click()
        expect(page.locator("#sites-status")).to_contain_text("“Online shop” added: its key is site_")
        site = platform.http("GET", "/api/v1/sites/", token=token)[1][0]
        row = page.locator(f"#widget-sites tr[data-id='{site['id']}']")
        expect(row.locator("code")).to_have_text(site["key"])
        expect(row.locator(".site-domains")).to_have_text("shop.example.com, *.example.com")
        # The snippet to paste, and the identity secret shown once, as the API made them.
        expect(page.locator("#site-snippet-code")).to_have_text(
            f'<script async src="{platform.base_url}/widget.js" data-site="{site["key"]}"></script>'
        )
        expect(page.locator("#site-secret-value")).not_to_be_empty()
        page.locator("#sites").screenshot(path=str(tmp_path / "console-sites.png"))
        page.get_by_label("Only verified visitors on Online shop").click()
        expect(row.locator(".site-visitors")).to_have_text("verified only")
        old_secret = page.locator("#site-secret-value").inner_text()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_label("Make a new identity secret for Online shop").click()
        expect(page.locator("#sites-status")).to_contain_text("has a new identity secret")
        expect(page.locator("#site-secret-value")).not_to_have_text(old_secret)
        page.get_by_label("Switch off Online shop").click()
        expect(row.locator(".site-enabled")).to_have_text("no")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_label("Delete Online shop").click()
        expect(page.locator("#widget-sites tr")).to_have_count(0)
    assert platform.http("GET", "/api/v1/sites/", token=token)[1] == []


def test_a_person_of_the_team_takes_over_a_members_conversation_on_the_chat_page(
    platform: LivePlatform, tmp_path: Path
) -> None:
    """Issue 33 on the chat page: the member asks for a human; an agent of the tenant takes the
    conversation and writes (the inbox API); the member's next message goes to the agent."""
    slug, member, password = platform.new_tenant_with_member()
    agent, agent_password = platform.add_member(slug, role="agent")
    agent_token = platform.token(agent, agent_password, slug)
    with chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        sign_in(page, platform, "/chat/", member, password)
        ask(page, "My order never arrived [[tokens=3]]")
        page.click("#escalate")
        expect(page.locator("#escalate")).to_be_disabled()
        waiting = platform.http("GET", "/api/v1/inbox/", token=agent_token)[1]
        assert [c["who"] for c in waiting] == [{"kind": "member", "name": member}]
        conversation = waiting[0]["id"]
        assert platform.http("POST", f"/api/v1/inbox/{conversation}/take/", {}, agent_token)[0] == 204
        expect(page.locator("#status")).to_have_text(f"{agent} joined the conversation.")
        reply = {"content": "Sorry about that, I am checking with the carrier."}
        assert platform.http("POST", f"/api/v1/inbox/{conversation}/reply/", reply, agent_token)[0] == 201
        expect(page.locator(".msg.agent")).to_contain_text("checking with the carrier")
        page.reload()  # the history shows the person's reply as theirs, not the assistant's
        expect(page.locator(".msg.agent")).to_contain_text(f"{agent}: Sorry about that")
        expect(page.locator(".msg.assistant[data-finish-reason]")).to_have_count(1)
        page.fill("#input", "Thank you!")
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_have_text("Your message went to the person helping you.")
        expect(page.locator("#send")).to_be_enabled()
        page.screenshot(path=str(tmp_path / "chat-handoff.png"))
