"""The tenant's audit log: every team action and settings change, with who made it, when and from
where, in the change's own transaction; read by the tenant's owners and admins only, never across
tenants, and never changed once written."""

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.models import AppendOnly, AuditEntry
from audit.tasks import purge_audit_log
from tenants.models import Membership, Role, Tenant
from testkit.world import World, client_for, make_user


def entries(world: World, query: str = "") -> list[dict]:
    owner = client_for(world.token(world.alice, world.acme))
    response = owner.get(f"/api/v1/audit/{query}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_team_and_settings_changes_are_recorded_with_who_and_what(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    bob = Membership.objects.for_tenant(world.acme).get(user=world.bob)
    members = f"/api/v1/tenants/acme/members/{bob.pk}/"
    assert owner.patch(members, {"role": "admin"}, format="json").status_code == 200
    assert owner.patch(members, {"monthly_token_budget": 5000}, format="json").status_code == 200
    assert owner.patch(members, {"active": False}, format="json").status_code == 200
    assert owner.patch(members, {"active": False}, format="json").status_code == 200  # nothing changed
    invited = owner.post("/api/v1/tenants/acme/invitations/", {"email": "new@example.com"}, format="json")
    assert invited.status_code == 201
    assert owner.delete(f"/api/v1/tenants/acme/invitations/{invited.json()['id']}/").status_code == 204
    config = "/api/v1/tenants/acme/config/"
    changed = owner.patch(
        config,
        {"custom_greeting": "Hello!", "blocked_topics": ["bitcoin"], "alert_webhook_secret": "s3cret-value"},
        format="json",
    )
    assert changed.status_code == 200, changed.content

    log = entries(world)
    assert [e["action"] for e in log] == [
        "settings.changed",
        "invitation.revoked",
        "invitation.sent",
        "member.deactivated",
        "member.budget_changed",
        "member.role_changed",
    ]
    assert {(e["actor"], e["ip"]) for e in log} == {("alice", "127.0.0.1")}
    settings_change, *_, deactivated, budget, role = log
    assert (role["target"], role["changes"]) == ("bob", {"role": ["member", "admin"]})
    assert budget["changes"] == {"monthly_token_budget": [None, 5000]}
    assert deactivated["changes"] == {"active": [True, False]}
    assert settings_change["changes"]["custom_greeting"][1] == "Hello!"
    assert settings_change["changes"]["blocked_topics"][1] == ["bitcoin"]
    assert "config_version" not in settings_change["changes"]  # what follows, not what was set
    # A secret is recorded as changed, never its value.
    assert settings_change["changes"]["alert_webhook_secret"] == ["(secret)", "(changed)"]
    assert "s3cret-value" not in str(log)

    # Filters: one action, a family, a person, days.
    invitations = entries(world, "?action=invitation.")
    assert [e["action"] for e in invitations] == ["invitation.revoked", "invitation.sent"]
    assert len(entries(world, "?action=member.role_changed")) == 1
    assert entries(world, "?actor=bob") == []
    assert len(entries(world, "?from=2000-01-01&to=9000-01-01")) == 6
    assert owner.get("/api/v1/audit/?from=someday").status_code == 400


def test_a_refused_change_leaves_no_entry_and_an_accepted_invitation_names_who_joined(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    alice = Membership.objects.for_tenant(world.acme).get(user=world.alice)
    # The last owner cannot step down: refused, nothing recorded.
    refused = owner.patch(f"/api/v1/tenants/acme/members/{alice.pk}/", {"role": "member"}, format="json")
    assert refused.status_code == 409
    assert entries(world) == []

    mail.outbox.clear()
    invitation = {"email": "carol@example.com", "role": "viewer"}
    owner.post("/api/v1/tenants/acme/invitations/", invitation, format="json")
    link = re.search(r"https?://[^/]+(/invitations/\S+/)", mail.outbox[0].body)
    assert link is not None
    browser = Client()
    browser.force_login(world.carol)
    assert browser.post(link.group(1)).status_code == 302
    accepted = entries(world)[0]
    assert (accepted["action"], accepted["actor"], accepted["target"]) == (
        "invitation.accepted",
        "carol",
        "carol@example.com",
    )


def test_only_the_tenants_owners_and_admins_read_it_and_never_another_tenants(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    owner.patch("/api/v1/tenants/acme/config/", {"custom_greeting": "Hi"}, format="json")
    assert len(entries(world)) == 1
    assert client_for(world.token(world.bob, world.acme)).get("/api/v1/audit/").status_code == 403
    vera = make_user("vera")
    Membership.objects.create(tenant=world.acme, user=vera, role=Role.VIEWER)
    assert client_for(world.token(vera, world.acme)).get("/api/v1/audit/").status_code == 403
    gina = make_user("gina")
    Membership.objects.create(tenant=world.globex, user=gina, role=Role.OWNER)
    other = client_for(world.token(gina, world.globex)).get("/api/v1/audit/")
    assert other.status_code == 200 and other.json()["results"] == []
    assert client_for().get("/api/v1/audit/").status_code == 401
    # Read only, for everyone: the API has no write, and the rows refuse to change or go.
    assert owner.post("/api/v1/audit/", {}, format="json").status_code == 405
    entry = AuditEntry.objects.for_tenant(world.acme).get()
    entry.target = "forged"
    with pytest.raises(AppendOnly):
        entry.save()
    with pytest.raises(AppendOnly):
        entry.delete()


def test_platform_staffs_changes_in_the_admin_are_in_the_tenants_history(world: World) -> None:
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "a-long-passphrase-1")
    staff = Client()
    staff.force_login(boss)
    changelist = "/admin/tenants/tenant/"
    answer = staff.post(changelist, {"action": "deactivate", "_selected_action": [world.acme.pk]})
    assert answer.status_code == 302
    (entry,) = AuditEntry.objects.for_tenant(world.acme).all()
    assert (entry.actor_name, entry.action, entry.changes) == (
        "boss",
        "settings.changed",
        {"active": [True, False]},
    )
    assert not AuditEntry.objects.for_tenant(world.globex).exists()


def test_the_log_is_exported_for_an_auditor_as_csv_or_json(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    bob = Membership.objects.for_tenant(world.acme).get(user=world.bob)
    assert (
        owner.patch(f"/api/v1/tenants/acme/members/{bob.pk}/", {"role": "admin"}, format="json").status_code
        == 200
    )
    greeting = {"custom_greeting": '=HYPERLINK("https://evil.example")'}
    assert owner.patch("/api/v1/tenants/acme/config/", greeting, format="json").status_code == 200
    AuditEntry.objects.create(tenant=world.globex, action="settings.changed", target="settings")

    exported = owner.get("/api/v1/audit/export/")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    assert exported["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert [(r["action"], r["target"], r["actor"], r["credential"]) for r in rows] == [
        ("member.role_changed", "bob", "alice", "token"),
        ("settings.changed", "settings", "alice", "token"),
    ]  # oldest first, the tenant's own only
    assert json.loads(rows[0]["changes"]) == {"role": ["member", "admin"]}
    assert json.loads(rows[1]["changes"])["custom_greeting"][1].startswith("=HYPERLINK")  # JSON in one cell

    as_json = owner.get("/api/v1/audit/export/?format=json&action=member.")
    assert [e["action"] for e in json.loads(b"".join(as_json.streaming_content))] == ["member.role_changed"]
    assert owner.get("/api/v1/audit/export/?format=xml").status_code == 400
    member = client_for(world.token(world.carol, world.globex))
    assert member.get("/api/v1/audit/export/").status_code == 403


def test_entries_past_the_tenants_retention_are_purged_and_the_purge_is_recorded(world: World) -> None:
    now = timezone.now()
    old = AuditEntry.objects.create(tenant=world.acme, action="settings.changed", target="settings")
    recent = AuditEntry.objects.create(tenant=world.acme, action="settings.changed", target="settings")
    other = AuditEntry.objects.create(tenant=world.globex, action="settings.changed", target="settings")
    AuditEntry.all_tenants.filter(pk__in=[old.pk, other.pk]).update(created_at=now - timedelta(days=400))
    Tenant.objects.filter(pk=world.globex.pk).update(audit_retention_days=None)  # kept forever

    assert purge_audit_log() == 1
    kept = AuditEntry.objects.for_tenant(world.acme).order_by("pk")
    assert [e.pk for e in kept][:1] == [recent.pk] and not kept.filter(pk=old.pk).exists()
    purged = kept.get(action="audit.purged")
    assert purged.actor is None and purged.changes["entries"] == [1, 0]
    assert AuditEntry.objects.for_tenant(world.globex).filter(pk=other.pk).exists()

    owner = client_for(world.token(world.alice, world.acme))
    too_short = owner.patch("/api/v1/tenants/acme/config/", {"audit_retention_days": 7}, format="json")
    assert too_short.status_code == 400 and "audit_retention_days" in too_short.json()["errors"]


def test_tools_knowledge_curated_answers_alert_rules_and_sites_are_recorded(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    tool = {
        "name": "crm_lookup",
        "description": "Look a customer up.",
        "parameters": {"type": "object", "properties": {"email": {"type": "string"}}},
        "url": "https://crm.acme.test/lookup",
        "secret": "tool-secret-value-1",
    }
    tool_id = owner.post("/api/v1/tools/", tool, format="json").json()["id"]
    patch = {"timeout_s": 3, "secret": "tool-secret-value-2"}
    assert owner.patch(f"/api/v1/tools/{tool_id}/", patch, format="json").status_code == 200
    assert owner.delete(f"/api/v1/tools/{tool_id}/").status_code == 204
    document = {"title": "FAQ", "content": "# Opening hours\nNine to five.", "content_type": "text/markdown"}
    document_id = owner.post("/api/v1/knowledge/documents/", document, format="json").json()["id"]
    assert owner.delete(f"/api/v1/knowledge/documents/{document_id}/").status_code == 204
    curated = {"questions": ["When are you open?"], "answer": "Nine to five."}
    curated_id = owner.post("/api/v1/knowledge/curated/", curated, format="json").json()["id"]
    assert (
        owner.patch(
            f"/api/v1/knowledge/curated/{curated_id}/", {"answer": "Nine to six."}, format="json"
        ).status_code
        == 200
    )
    assert owner.delete(f"/api/v1/knowledge/curated/{curated_id}/").status_code == 204
    rule = owner.get("/api/v1/alerts/rules/").json()[0]
    assert (
        owner.patch(f"/api/v1/alerts/rules/{rule['id']}/", {"muted": True}, format="json").status_code == 200
    )
    site_id = owner.post("/api/v1/sites/", {"name": "Shop"}, format="json").json()["id"]
    assert owner.patch(f"/api/v1/sites/{site_id}/", {"enabled": False}, format="json").status_code == 200
    assert owner.post(f"/api/v1/sites/{site_id}/rotate-secret/").status_code in (200, 201)
    assert owner.delete(f"/api/v1/sites/{site_id}/").status_code == 204

    log = {e["action"]: e for e in reversed(entries(world, "?page_size=100"))}
    assert set(log) >= {
        "tool.created", "tool.changed", "tool.deleted", "document.added", "document.deleted",
        "curated.created", "curated.changed", "curated.deleted", "alert_rule.changed",
        "site.created", "site.changed", "site.secret_rotated", "site.deleted",
    }  # fmt: skip
    assert log["tool.created"]["changes"]["secret"] == [None, "(secret)"]
    assert log["tool.changed"]["changes"] == {"timeout_s": [10.0, 3.0], "secret": ["(secret)", "(changed)"]}
    assert "tool-secret-value" not in str(list(log.values()))
    assert log["curated.changed"]["changes"] == {"answer": ["Nine to five.", "Nine to six."]}
    assert log["alert_rule.changed"]["changes"] == {"muted": [False, True]}
    assert log["site.changed"]["changes"] == {"enabled": [True, False]}
    assert log["document.deleted"]["target"] == "FAQ" and {e["actor"] for e in log.values()} == {"alice"}
