"""The chat page: login, the tenant chooser, and the tenant kept in the session."""

import json
import os

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings

from chat.analytics import today_utc
from chat.models import Conversation, DailyTenantStats, Message
from tenants.models import Membership, Role
from tenants.selectors import SESSION_TENANT_KEY
from testkit.world import PASSWORD, World, client_for

pytestmark = pytest.mark.django_db(transaction=True)


def logged_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def test_the_page_needs_a_login(world: World) -> None:
    response = Client().get("/chat/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_user_with_one_tenant_goes_straight_to_it(world: World) -> None:
    client = logged_in("carol")
    response = client.get("/chat/")
    assert response.status_code == 200 and b"Globex" in response.content
    assert client.session[SESSION_TENANT_KEY] == "globex"


def test_a_user_with_several_tenants_chooses_and_cannot_choose_a_foreign_one(world: World) -> None:
    Membership.objects.create(tenant=world.globex, user=world.alice, role=Role.MEMBER)
    client = logged_in("alice")
    assert client.get("/chat/")["Location"] == "/chat/tenant/"
    chooser = client.get("/chat/tenant/")
    assert b"Acme" in chooser.content and b"Globex" in chooser.content
    assert client.post("/chat/tenant/", {"tenant": "initech"}).status_code == 200  # not hers: stays
    assert SESSION_TENANT_KEY not in client.session
    assert client.post("/chat/tenant/", {"tenant": "globex"})["Location"] == "/chat/"
    assert b"Globex" in client.get("/chat/").content


def test_an_inactive_tenant_is_not_offered(world: World) -> None:
    world.globex.active = False
    world.globex.save()
    client = logged_in("carol")
    response = client.get("/chat/", follow=True)
    assert b"not a member of any active workspace" in response.content


def test_every_page_has_the_content_security_policy(world: World) -> None:
    """No script but this origin's (the API docs included: Swagger UI is served from here), no
    image from elsewhere but the tenant's allowed hosts, no framing."""
    client = logged_in("carol")
    for path in ["/chat/", "/accounts/login/", "/admin/login/", "/api/docs/", "/api/v1/tenants/"]:
        policy = client.get(path)["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy, path
        assert "img-src 'self' data:;" in policy, path
    docs = client.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr.net" not in docs and "/static/drf_spectacular_sidecar/" in docs
    assert "<script>" not in docs  # the start-up script is a file of its own
    assert client.get("/chat/")["X-Frame-Options"] == "DENY"


def test_a_tenants_allowed_image_hosts_widen_its_chat_pages_img_src_only(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    bad = owner.patch(
        "/api/v1/tenants/acme/config/", {"allowed_image_hosts": ["https://x.test/a"]}, format="json"
    )
    assert bad.status_code == 400 and "allowed_image_hosts" in bad.json()["errors"]
    good = owner.patch(
        "/api/v1/tenants/acme/config/", {"allowed_image_hosts": ["img.acme.test"]}, format="json"
    )
    assert good.status_code == 200, good.json()
    assert (
        "img-src 'self' data: https://img.acme.test;"
        in logged_in("bob").get("/chat/")["Content-Security-Policy"]
    )
    assert "img.acme.test" not in logged_in("carol").get("/chat/")["Content-Security-Policy"]  # globex's page


def test_the_api_schema_offers_the_bearer_scheme(world: World) -> None:
    """So that the API docs can authorize with a token (not only with a browser session)."""
    schema = json.loads(Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    assert schema["components"]["securitySchemes"]["jwtAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert {"jwtAuth": []} in schema["paths"]["/api/v1/conversations/"]["get"]["security"]


def test_the_schema_validates_without_a_warning(world: World) -> None:
    """What ``/api/docs/`` shows: no unresolved authenticator, no colliding operation ids or enum
    names (drf-spectacular's own validation, failing on any warning)."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull)


def test_a_favicon_for_every_page(world: World) -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("/favicon.svg")
    assert b'rel="icon"' in logged_in("alice").get("/chat/").content


def test_platform_staff_without_a_workspace_are_pointed_to_the_admin(world: World) -> None:
    staff = get_user_model().objects.create_user("ops", password=PASSWORD, is_staff=True)
    page = logged_in(staff.username).get("/chat/", follow=True).content.decode()
    assert "not a member of any active workspace" in page and 'href="/admin/"' in page
    assert 'href="/admin/"' not in logged_in("carol").get("/chat/tenant/").content.decode()


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_the_embedded_console_computes_its_figures_when_it_opens(world: World) -> None:
    conversation = Conversation.objects.create(tenant=world.acme, user=world.alice, rating=5)
    Message.objects.create(tenant=world.acme, conversation=conversation, role="user", content="hi")
    assert not DailyTenantStats.objects.for_tenant(world.acme.pk).exists()
    page = logged_in("alice").get("/console/").content.decode()
    assert "computed when this page opens" in page
    today = DailyTenantStats.objects.for_tenant(world.acme.pk).get(day=today_utc(), variant=None)
    assert (today.conversations, today.csat_count, today.csat_sum) == (1, 1, 5)


def test_the_admins_conversation_list_fits_the_page(world: World) -> None:
    """Long titles are cut in the list (the whole title is on the conversation's page)."""
    get_user_model().objects.create_superuser("root-admin", password=PASSWORD)
    long_title = "word " * 40
    Conversation.objects.create(tenant=world.acme, user=world.alice, title=long_title.strip())
    page = logged_in("root-admin").get("/admin/chat/conversation/").content.decode()
    cell = page.split('<td class="field-short_title">')[1].split("</td>")[0]
    assert cell.startswith("word word") and cell.endswith("…") and len(cell) <= 60
