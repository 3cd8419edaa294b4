"""Issue 34: an owner runs the tenant from the console, without platform staff. Team: invite by
e-mail, the invitee accepts and chats, the owner changes their role, then deactivates them and
their open chat is closed at once. Settings: a system prompt and a blocked topic saved on the page
are used by the next message. A member opens neither room. Single sign-on: a new person signs in
through the tenant's OpenID provider in Chromium and joins with the role their groups map to;
"SSO only" turns the members' passwords off."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import WebSocketRoute, expect

from testkit.browser import chromium, serious_accessibility_violations, sign_in
from testkit.fake_openai import FakeOpenAI
from testkit.live import LivePlatform, start_platform
from testkit.oidc_provider import OidcProvider
from testkit.world import word_marker
from tests.browser.test_browser_product import DESKTOP, ask


@pytest.fixture(scope="module")
def mailing_platform(
    fake_openai_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LivePlatform, Path]]:
    """A platform whose e-mails are files (the invitations are read from them)."""
    root = tmp_path_factory.mktemp("console")
    mail = root / "mail"
    mail.mkdir()
    live = start_platform(
        "production",
        tmp_path=root / "platform",
        llm_url=fake_openai_server.url,
        extra_env={
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(mail),
            # The tests' own OpenID provider listens on 127.0.0.1 over plain HTTP.
            "TOOLS_ALLOW_HTTP": "1",
            "TOOLS_ALLOW_LOOPBACK": "1",
        },
    )
    yield live, mail
    live.stop()


def invitation_path(mail: Path, address: str) -> str:
    """The path of the link the invitation e-mail to ``address`` carries."""
    for path in mail.glob("*.log"):
        text = path.read_text()
        found = re.search(r"/invitations/[^/\s]+/", text)
        if address in text and found:
            return found.group(0)
    raise AssertionError(f"no invitation to {address}")


SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def test_an_owner_runs_the_team_and_the_settings_from_the_console(
    mailing_platform: tuple[LivePlatform, Path], fake_openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    platform, mail = mailing_platform
    slug, owner, password = platform.new_tenant_with_member(role="owner")
    member, member_password = platform.add_member(slug)
    address = f"{word_marker()}@example.com"
    with chromium() as browser:
        console = browser.new_context(viewport=DESKTOP).new_page()
        sign_in(console, platform, "/console/team/", owner, password)
        expect(console.locator("#team-members tr")).to_have_count(2)
        console.fill("#invite-form input[name=email]", address)
        console.select_option("#invite-form select[name=role]", "member")
        console.click("#invite-form button[type=submit]")
        expect(console.locator("#team-status")).to_have_text(f"An invitation is on its way to {address}.")
        expect(console.locator("#team-invitations tr", has_text=address)).to_contain_text("pending")

        # The invitee opens the link, makes an account and chats.
        newcomer = browser.new_context(viewport=DESKTOP).new_page()
        newcomer.goto(platform.base_url + invitation_path(mail, address))
        newcomer.fill("input[name=username]", "newcomer")
        newcomer.fill("input[name=password1]", "a-long-enough-passphrase-1")
        newcomer.fill("input[name=password2]", "a-long-enough-passphrase-1")
        with newcomer.expect_navigation():
            newcomer.click("button[type=submit]")
        ask(newcomer, "Hello, I just joined [[tokens=2]]")

        # The owner sees them, makes them a viewer, then deactivates them: their chat closes.
        console.reload()
        row = console.locator("#team-members tr", has_text="newcomer")
        expect(row).to_have_count(1)
        row.get_by_label("Role of newcomer").select_option("viewer")
        row.get_by_role("button", name="Save newcomer").click()
        expect(console.locator("#team-status")).to_have_text("newcomer is saved.")
        newcomer.reload()
        expect(newcomer.locator(".msg.greeting")).to_be_visible()  # its socket is open again (ready)
        row = console.locator("#team-members tr", has_text="newcomer")
        expect(row.get_by_label("Role of newcomer")).to_have_value("viewer")
        row.get_by_label("newcomer is active").uncheck()
        row.get_by_role("button", name="Save newcomer").click()
        expect(console.locator("#team-status")).to_have_text("newcomer is saved.")
        expect(newcomer.locator("#status")).to_contain_text("Your access to this workspace has changed")
        # Who of the support team has the inbox open: the owner, once they open it in a tab.
        inbox = console.context.new_page()
        inbox.goto(f"{platform.base_url}/inbox/")
        expect(inbox.locator("#team .agent.online")).to_have_count(1)
        console.reload()
        expect(
            console.locator("#team-members tr", has_text=f"{owner} (you)").locator(".presence.online")
        ).to_have_count(1)
        console.screenshot(path=str(tmp_path / "console-team.png"))
        inbox.close()

        # Settings: a system prompt and a blocked topic, used by the next message.
        marker = word_marker()
        console.goto(f"{platform.base_url}/console/settings/")
        expect(console.locator("#f-model option")).not_to_have_count(0)
        console.fill("#f-system_prompt", f"You are the {marker} assistant.")
        console.fill("#t-blocked_topics", "bitcoin")
        console.keyboard.press("Enter")
        console.fill("#t-starter_prompts", "What are your opening hours?")
        console.keyboard.press("Enter")
        expect(console.locator("[data-tags=blocked_topics] .tag")).to_have_text(["bitcoin"])
        console.fill("#f-temperature", "7")  # refused, next to its field
        console.click("#settings-save")
        expect(console.locator("#e-temperature")).not_to_be_empty()
        console.fill("#f-temperature", "0.3")
        console.click("#settings-save")
        expect(console.locator("#settings-status")).to_have_text("Saved: 4 settings changed.")
        console.screenshot(path=str(tmp_path / "console-settings.png"), full_page=True)

        # The history says who did each of it, newest first (after platform staff made the
        # workspace and added the owner and the member).
        console.goto(f"{platform.base_url}/console/history/")
        changes = console.locator("#history-entries tr")
        expect(changes).to_have_count(8)
        expect(changes.nth(7)).to_contain_text("made the workspace")
        expect(changes.nth(0)).to_contain_text("changed the settings")
        expect(changes.nth(0)).to_contain_text("blocked topics: none → bitcoin")
        expect(changes.nth(1)).to_contain_text("deactivated newcomer")
        expect(changes.nth(2)).to_contain_text("changed the role of newcomer")
        expect(changes.nth(2)).to_contain_text("role: member → viewer")
        expect(changes.nth(3)).to_contain_text(f"accepted the invitation of {address}")
        expect(changes.nth(4)).to_contain_text(f"invited {address}")
        expect(changes.nth(4)).to_contain_text(owner)
        console.select_option("#history-filters select[name=action]", "member.")
        console.click("#history-filters button[type=submit]")
        expect(changes).to_have_count(4)
        expect(changes.nth(3)).to_contain_text(f"added the member {owner}")
        chat = browser.new_context(viewport=DESKTOP).new_page()
        # The chat's sockets pass through the test, which can take the connection away.
        network = {"up": True, "sockets": []}

        def through(route: WebSocketRoute) -> None:
            if not network["up"]:
                route.close(code=1001)  # refused: the page reconnects later
                return
            route.connect_to_server()
            network["sockets"].append(route)

        chat.route_web_socket(re.compile(r"/ws/chat/"), through)
        sign_in(chat, platform, "/chat/", member, member_password)
        # The chat page: the box has the focus, the tenant's starter questions wait in the empty chat.
        expect(chat.locator("#input")).to_be_focused()
        expect(chat.locator("#starters .starter")).to_have_text(["What are your opening hours?"])
        chat.locator("#starters .starter").click()
        expect(chat.locator(".msg.assistant[data-finish-reason]")).to_have_count(1)
        expect(chat.locator("#starters")).to_be_hidden()
        ask(chat, f"Who are you? {marker} [[tokens=2]]")
        # The answer's request (not the title's, which has its own prompt) carries the new ones.
        answer = [c for c in fake_openai_server.calls if f"Who are you? {marker}" in str(c.messages[-1])]
        assert answer and f"You are the {marker} assistant." in str(answer[0].messages[0])
        assert answer[0].body["temperature"] == 0.3
        chat.fill("#input", "What about bitcoin?")
        chat.keyboard.press("Enter")
        expect(chat.locator("#status")).to_have_text("This assistant cannot help with “bitcoin”.")

        # Offline, a message waits, said so, and goes once the connection is back.
        network["up"] = False
        for route in network["sockets"]:
            route.close(code=1001)
        expect(chat.locator("#status")).to_contain_text("reconnecting")
        chat.fill("#input", "Still there? [[tokens=2]]")
        chat.keyboard.press("Enter")
        expect(chat.locator("#status")).to_have_text(
            "You are offline: your message will be sent when the connection is back."
        )
        expect(chat.locator(".msg.user.queued")).to_have_count(1)
        network["up"] = True
        expect(chat.locator(".msg.assistant[data-finish-reason]")).to_have_count(3, timeout=60_000)
        expect(chat.locator(".msg.user.queued")).to_have_count(0)

        # Usage: this month's answers by member and model, in people's units.
        console.goto(f"{platform.base_url}/console/usage/")
        expect(console.locator("#usage-budget-text")).to_contain_text("tokens used in")
        expect(console.locator("#usage-members tr", has_text=member)).to_have_count(1)
        expect(console.locator("#usage-members tr", has_text="newcomer")).to_have_count(1)
        expect(console.locator("#usage-models tr").first).to_contain_text("$")

        # Conversations: found by a word of their messages, read in place.
        console.goto(f"{platform.base_url}/console/conversations/")
        console.fill("#conversation-filters input[name=q]", marker)
        console.click("#conversation-filters button[type=submit]")
        expect(console.locator("#conversations-list tr")).to_have_count(1)
        expect(console.locator("#conversations-list tr")).to_contain_text(member)
        console.locator("#conversations-list tr button").click()
        expect(console.locator("#conversation-view-log .msg.user").first).to_contain_text("opening hours")

        # Tools: one of the tenant's added, then offered to the assistant.
        console.goto(f"{platform.base_url}/console/tools/")
        expect(console.locator("#tools-list tr")).to_have_count(3)  # the built-in ones
        console.fill("#tool-form input[name=name]", "order_status")
        console.fill("#tool-form textarea[name=description]", "The status of an order, by its number")
        console.fill("#tool-form input[name=url]", "https://crm.example.com/orders/status")
        console.fill("#tool-form input[name=secret]", "a-secret-of-twenty-chars")
        console.click("#tool-form button[type=submit]")
        expect(console.locator("#tools-status")).to_have_text(
            "order_status is added: switch it on to offer it to the assistant."
        )
        console.get_by_label("Offer order_status to the assistant").check()
        expect(console.locator("#tools-status")).to_have_text("The assistant may call order_status now.")
        token = platform.token(owner, password, slug)
        assert (
            "order_status"
            in platform.http("GET", f"/api/v1/tenants/{slug}/config/", token=token)[1]["allowed_tools"]
        )

        # A member opens neither room.
        for room in ("/console/team/", "/console/settings/", "/console/history/", "/console/integrations/"):
            assert chat.goto(f"{platform.base_url}{room}").status == 403


def test_an_owner_makes_uses_and_revokes_an_api_key_and_adds_a_webhook(
    mailing_platform: tuple[LivePlatform, Path], tmp_path: Path
) -> None:
    """Issue 36 in the console's Integrations room: a key made with two scopes is shown once, works
    on the API with those scopes only, and stops at once when revoked; a webhook endpoint is added
    (its signing secret shown once), turned off and on; the history says who did it, with what."""
    platform, _ = mailing_platform
    slug, owner, password = platform.new_tenant_with_member(role="owner")
    with chromium() as browser:
        console = browser.new_context(viewport=DESKTOP, bypass_csp=True).new_page()  # axe is injected
        sign_in(console, platform, "/console/integrations/", owner, password)
        console.fill("#key-form input[name=name]", "CRM sync")
        console.check("#key-form input[value='conversations:read']")
        console.check("#key-form input[value='analytics:read']")
        console.fill("#key-form textarea[name=allowed_addresses]", "127.0.0.0/8")
        console.click("#key-form button[type=submit]")
        expect(console.locator("#integrations-status")).to_have_text("CRM sync is made.")
        key = console.locator("#key-secret-value").inner_text()
        assert key.startswith("cpk_")
        expect(console.locator("#keys-list tr")).to_contain_text("analytics:read, conversations:read")
        assert platform.http("GET", "/api/v1/conversations/", token=key)[0] == 200
        assert platform.http("GET", f"/api/v1/tenants/{slug}/config/", token=key)[0] == 403  # no management
        # Reloaded, the key is not shown again; revoked, it stops at once.
        console.reload()
        expect(console.locator("#key-secret")).to_be_hidden()
        console.once("dialog", lambda dialog: dialog.accept())
        console.get_by_label("Revoke the key CRM sync").click()
        expect(console.locator("#integrations-status")).to_have_text("CRM sync is revoked.")
        expect(console.locator("#keys-list tr")).to_contain_text("revoked")
        assert platform.http("GET", "/api/v1/conversations/", token=key)[0] == 401

        console.fill("#webhook-form input[name=url]", "https://hooks.example.com/chat")
        console.check("#webhook-form input[value='conversation.escalated']")
        console.check("#webhook-form input[value='feedback.received']")
        console.click("#webhook-form button[type=submit]")
        expect(console.locator("#integrations-status")).to_have_text(
            "https://hooks.example.com/chat is added."
        )
        assert console.locator("#webhook-secret-value").inner_text().startswith("whsec_")
        row = console.locator("#webhooks-list tr", has_text="hooks.example.com")
        expect(row).to_contain_text("conversation.escalated, feedback.received")
        console.get_by_label("Turn off https://hooks.example.com/chat").click()
        expect(row).to_contain_text("off")
        console.get_by_label("Show the deliveries to https://hooks.example.com/chat").click()
        expect(console.locator("#deliveries-heading")).to_have_text(
            "Deliveries to https://hooks.example.com/chat"
        )
        expect(console.locator("#integrations-status")).to_have_text(
            "Nothing was delivered to this endpoint yet."
        )
        assert serious_accessibility_violations(console) == []
        console.screenshot(path=str(tmp_path / "console-integrations.png"), full_page=True)

        console.goto(f"{platform.base_url}/console/history/")
        history = console.locator("#history-entries")
        expect(history).to_contain_text("revoked the API key CRM sync")
        expect(history).to_contain_text("made the API key CRM sync")
        expect(history).to_contain_text("changed the webhook https://hooks.example.com/chat")
        expect(history.locator("tr").first).to_contain_text("session")


def test_the_provider_provisions_by_scim_and_the_owner_gives_its_group_a_role(
    mailing_platform: tuple[LivePlatform, Path], tmp_path: Path
) -> None:
    """The owner makes the SCIM key in the Integrations room; the provider (this test, over HTTP)
    adds a person and a group with them; the owner gives the group a role in the room, and the
    person has it; the history names the SCIM key beside the provider's changes."""
    platform, _ = mailing_platform
    slug, owner, password = platform.new_tenant_with_member(role="owner")
    with chromium() as browser:
        console = browser.new_context(viewport=DESKTOP, bypass_csp=True).new_page()
        sign_in(console, platform, "/console/integrations/", owner, password)
        expect(console.locator("#scim-url")).to_have_text(f"{platform.base_url}/scim/v2/{slug}")
        expect(console.locator("#scim-none")).to_be_visible()
        console.fill("#key-form input[name=name]", "Directory")
        console.check("#key-form input[value='scim']")
        console.click("#key-form button[type=submit]")
        expect(console.locator("#integrations-status")).to_have_text("Directory is made.")
        key = console.locator("#key-secret-value").inner_text()
        scim = f"/scim/v2/{slug}"
        status, person = platform.http(
            "POST", f"{scim}/Users", {"schemas": [SCIM_USER], "userName": "pat@acme.example"}, key
        )
        assert status == 201, person
        status, _ = platform.http(
            "POST",
            f"{scim}/Groups",
            {"schemas": [SCIM_GROUP], "displayName": "Support team", "members": [{"value": person["id"]}]},
            key,
        )
        assert status == 201
        console.reload()
        row = console.locator("#scim-groups tr", has_text="Support team")
        expect(row).to_contain_text("1")
        row.get_by_label("Role the group Support team gives").select_option("agent")
        expect(console.locator("#integrations-status")).to_have_text("Support team gives agent now.")
        assert serious_accessibility_violations(console) == []
        console.screenshot(path=str(tmp_path / "console-integrations-scim.png"), full_page=True)
        console.goto(f"{platform.base_url}/console/history/")
        history = console.locator("#history-entries")
        expect(history).to_contain_text("changed the group Support team")
        expect(history).to_contain_text("added, by SCIM, the group Support team")
        expect(history).to_contain_text(f"scim {key[:14]}")
    found = platform.sql(
        "SELECT m.role FROM tenants_membership m JOIN tenants_tenant t ON t.id = m.tenant_id"
        " JOIN auth_user u ON u.id = m.user_id WHERE t.slug = %s AND u.username = %s",
        (slug, "pat@acme.example"),
    )
    assert found == ("agent",)


def test_a_new_person_signs_in_through_the_tenants_provider_with_their_groups_role(
    mailing_platform: tuple[LivePlatform, Path],
) -> None:
    platform, _ = mailing_platform
    slug, owner, password = platform.new_tenant_with_member(role="owner")
    member, member_password = platform.add_member(slug)
    person = f"{word_marker()}@acme.example"
    provider = OidcProvider(
        clients=[
            {
                "client_id": "chatplatform",
                "client_secret": "provider-secret",
                "redirect_uris": [f"{platform.base_url}/sso/{slug}/callback/"],
            }
        ],
        accounts={person: {"groups": ["support-team"], "given_name": "Pat"}},
    )
    try:
        with chromium() as browser:
            console = browser.new_context(viewport=DESKTOP, bypass_csp=True).new_page()
            sign_in(console, platform, "/console/integrations/", owner, password)
            expect(console.locator("#sso-callback")).to_have_text(f"{platform.base_url}/sso/{slug}/callback/")
            form = console.locator("#sso-form")
            form.get_by_label("Issuer URL").fill(provider.issuer)
            form.get_by_label("Client ID").fill("chatplatform")
            form.get_by_label("Client secret").fill("provider-secret")
            form.get_by_label("E-mail domains").fill("acme.example")
            form.get_by_label("Roles of groups").fill("support-team = agent")
            form.get_by_label("Single sign-on only").check()
            form.get_by_role("button", name="Save single sign-on").click()
            expect(console.locator("#integrations-status")).to_have_text("Single sign-on is saved.")
            expect(form.get_by_label("Client secret")).to_have_attribute("placeholder", "saved")
            assert serious_accessibility_violations(console) == []
            page = browser.new_context(viewport=DESKTOP).new_page()  # the new person's browser
            page.goto(f"{platform.base_url}/accounts/login/")
            page.get_by_role("link", name="Sign in with your company (single sign-on)").click()
            page.get_by_label("Workspace").fill(slug)
            page.get_by_role("button", name="Continue").click()
            page.fill("input[name=login]", person)  # the provider's own sign-in form
            page.fill("input[name=password]", "anything")
            with page.expect_navigation(url=f"{platform.base_url}/chat/", wait_until="load"):
                page.click("button[type=submit]")
            expect(page.locator("#input")).to_be_visible()
            console.goto(f"{platform.base_url}/sso/")
            assert serious_accessibility_violations(console) == []
            console.goto(f"{platform.base_url}/console/history/")
            expect(console.locator("#history-entries")).to_contain_text("changed single sign-on")
            expect(console.locator("#history-entries")).to_contain_text("added the member")
            # The room's download is what it shows, as CSV; the Settings room sets how long it is kept.
            console.select_option("#history-filters select[name=action]", "sso.")
            console.click("#history-filters button[type=submit]")
            href = console.locator("#history-export").get_attribute("href") or ""
            assert "action=sso." in href and "format=csv" in href
            exported = console.request.get(f"{platform.base_url}{href}")
            assert exported.ok and exported.text().count("sso.changed") == 1, exported.text()
            console.goto(f"{platform.base_url}/console/settings/")
            expect(console.locator("#f-model option").first).to_be_attached()  # the form is filled in
            console.fill("#f-audit_retention_days", "90")
            console.click("#settings-save")
            expect(console.locator("#settings-status")).to_contain_text("Saved")
        found = platform.sql(
            "SELECT m.role, u.password LIKE '!%%' FROM tenants_membership m"
            " JOIN tenants_tenant t ON t.id = m.tenant_id JOIN auth_user u ON u.id = m.user_id"
            " WHERE t.slug = %s AND u.email = %s",
            (slug, person),
        )
        assert found == ("agent", True)  # an agent, with no password
        assert platform.sql("SELECT audit_retention_days FROM tenants_tenant WHERE slug = %s", (slug,)) == (
            90,
        )
        # SSO only: the member's password no longer signs in; the owner's still does.
        assert (
            platform.http(
                "POST",
                "/api/v1/auth/token/",
                {"username": member, "password": member_password, "tenant": slug},
            )[0]
            == 401
        )
        assert platform.token(owner, password, slug)
    finally:
        provider.stop()
