"""Every mutating route of the OpenAPI schema writes the audit log (issue 36), or says here why it
changes nothing a tenant's auditor asks about. The schema is walked: a route added without a
step here, or without an entry when it succeeds, fails this test."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drf_spectacular.generators import SchemaGenerator

from audit.models import AuditEntry
from knowledge.models import Document
from scim.models import ScimGroup
from tenants.models import EndUser, Membership
from testkit.world import World, client_for, make_user

MUTATING = {"post", "put", "patch", "delete"}

# Routes that change no tenant setting, member, credential or integration: the reason each is
# left out of the log.
NOT_AUDITED = {
    ("POST", "/api/v1/auth/token/"): "a sign-in (recorded in the sign-in attempts, not a change)",
    ("POST", "/api/v1/auth/token/refresh/"): "a sign-in renewed",
    ("POST", "/api/v1/auth/logout/"): "a sign-in ended",
    ("POST", "/api/v1/attachments/"): "a person's own file for their own conversation",
    ("PATCH", "/api/v1/conversations/{id}/"): "a person renaming their own conversation",
    ("DELETE", "/api/v1/conversations/{id}/"): "a person deleting their own conversation",
    ("POST", "/api/v1/alerts/{id}/acknowledge/"): "an alert's handling, kept on the alert itself",
    ("POST", "/api/v1/inbox/{id}/take/"): "support work, kept in the conversation's events",
    ("POST", "/api/v1/inbox/{id}/assign/"): "support work, kept in the conversation's events",
    ("POST", "/api/v1/inbox/{id}/reply/"): "support work, kept in the conversation's events",
    ("POST", "/api/v1/inbox/{id}/notes/"): "support work, kept in the conversation's events",
    ("POST", "/api/v1/inbox/{id}/hand-back/"): "support work, kept in the conversation's events",
    ("POST", "/api/v1/inbox/{id}/resolve/"): "support work, kept in the conversation's events",
    ("POST", "/api/v1/webhooks/deliveries/{id}/redeliver/"): "a delivery sent again: nothing changes",
}


@dataclass
class Step:
    method: str
    path: str
    body: Any = None
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> a saved id's name
    save: str | None = None  # keep the answer's id under this name
    staff: bool = False
    prepare: Callable[[dict[str, Any]], object] | None = None  # what the route needs first


def _failed(saved: dict[str, Any]) -> object:
    """Only a failed document is read again."""
    return Document.all_tenants.filter(pk=saved["document"]).update(status=Document.Status.FAILED)


TOOL = {
    "name": "crm_lookup",
    "description": "Look a customer up.",
    "parameters": {"type": "object", "properties": {"email": {"type": "string"}}},
    "url": "https://crm.acme.test/lookup",
    "secret": "tool-secret-value",
}
EXPERIMENT = {
    "name": "Shorter answers",
    "variants": [{"name": "control", "is_control": True, "weight": 50}, {"name": "short", "weight": 50}],
}
DOCUMENT = {"title": "FAQ", "content": "# Opening hours\nNine to five.", "content_type": "text/markdown"}

STEPS = [
    Step("POST", "/api/v1/tenants/", {"slug": "initech", "name": "Initech", "tier": "free"}, staff=True),
    Step("PATCH", "/api/v1/tenants/{slug}/config/", {"custom_greeting": "Hi!"}, {"slug": "acme"}),
    Step(
        "POST",
        "/api/v1/tenants/{slug}/members/",
        {
            "username": "dora",
            "email": "dora@acme.test",
            "password": "Correct-Horse-Battery-9",
            "role": "member",
        },
        {"slug": "acme"},
        save="member",
    ),
    Step(
        "PATCH", "/api/v1/tenants/{slug}/members/{id}/", {"role": "agent"}, {"slug": "acme", "id": "member"}
    ),
    Step("DELETE", "/api/v1/tenants/{slug}/members/{id}/", None, {"slug": "acme", "id": "member"}),
    Step(
        "POST",
        "/api/v1/tenants/{slug}/invitations/",
        {"email": "new@acme.test"},
        {"slug": "acme"},
        save="invitation",
    ),
    Step("DELETE", "/api/v1/tenants/{slug}/invitations/{id}/", None, {"slug": "acme", "id": "invitation"}),
    Step("POST", "/api/v1/api-keys/", {"name": "crm", "scopes": ["chat"]}, save="key"),
    Step("POST", "/api/v1/api-keys/{id}/rotate/", None, {"id": "key"}, save="rotated"),
    Step("POST", "/api/v1/api-keys/{id}/revoke/", None, {"id": "rotated"}),
    Step("POST", "/api/v1/experiments/", EXPERIMENT, save="experiment"),
    Step(
        "PUT", "/api/v1/experiments/{id}/", {**EXPERIMENT, "description": "Fewer words"}, {"id": "experiment"}
    ),
    Step("PATCH", "/api/v1/experiments/{id}/", {"active": False}, {"id": "experiment"}),
    Step("DELETE", "/api/v1/experiments/{id}/", None, {"id": "experiment"}),
    Step("POST", "/api/v1/tools/", TOOL, save="tool"),
    Step("PATCH", "/api/v1/tools/{id}/", {"timeout_s": 3}, {"id": "tool"}),
    Step("DELETE", "/api/v1/tools/{id}/", None, {"id": "tool"}),
    Step("POST", "/api/v1/knowledge/documents/", DOCUMENT, save="document"),
    Step("POST", "/api/v1/knowledge/documents/{id}/reingest/", None, {"id": "document"}, prepare=_failed),
    Step("DELETE", "/api/v1/knowledge/documents/{id}/", None, {"id": "document"}),
    Step(
        "POST",
        "/api/v1/knowledge/curated/",
        {"questions": ["Open?"], "answer": "Nine to five."},
        save="curated",
    ),
    Step("PATCH", "/api/v1/knowledge/curated/{id}/", {"answer": "Nine to six."}, {"id": "curated"}),
    Step("DELETE", "/api/v1/knowledge/curated/{id}/", None, {"id": "curated"}),
    Step("PATCH", "/api/v1/alerts/rules/{id}/", {"muted": True}, {"id": "rule"}),
    Step("POST", "/api/v1/sites/", {"name": "Shop"}, save="site"),
    Step("PATCH", "/api/v1/sites/{id}/", {"enabled": False}, {"id": "site"}),
    Step("POST", "/api/v1/sites/{id}/rotate-secret/", None, {"id": "site"}),
    Step("DELETE", "/api/v1/sites/{id}/", None, {"id": "site"}),
    Step(
        "POST",
        "/api/v1/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "events": ["message.answered"]},
        save="webhook",
    ),
    Step("PATCH", "/api/v1/webhooks/{id}/", {"enabled": False}, {"id": "webhook"}),
    Step("POST", "/api/v1/webhooks/{id}/rotate-secret/", None, {"id": "webhook"}),
    Step("DELETE", "/api/v1/webhooks/{id}/", None, {"id": "webhook"}),
    Step(
        "PUT", "/api/v1/sso/", {"issuer": "http://127.0.0.1:9", "client_id": "platform", "client_secret": "s"}
    ),
    Step("DELETE", "/api/v1/sso/"),
    Step("PATCH", "/api/v1/scim/groups/{scim_id}/", {"role": "agent"}, {"scim_id": "group"}),
    Step("POST", "/api/v1/data-subjects/{kind}/{ident}/erase/", None, {"kind": "kind", "ident": "end_user"}),
]


def mutating_routes() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in MUTATING
    }


def test_the_walk_covers_every_mutating_route_of_the_schema() -> None:
    walked = {(step.method, step.path) for step in STEPS}
    assert not walked & NOT_AUDITED.keys()
    assert walked | NOT_AUDITED.keys() == mutating_routes()


def test_every_mutating_route_writes_the_audit_log(world: World, settings: Any) -> None:
    settings.TOOLS_ALLOW_HTTP = settings.TOOLS_ALLOW_LOOPBACK = True
    owner = client_for(world.token(world.alice, world.acme))
    staff = client_for(world.token(world.staff, None))
    person = make_user("crm-7-account")
    EndUser.objects.create(tenant=world.acme, user=person, external_id="crm-7")
    group = ScimGroup.objects.create(tenant=world.acme, display_name="Support")
    group.members.set([])
    saved: dict[str, Any] = {
        "acme": "acme",
        "kind": "end_user",
        "end_user": "crm-7",
        "rule": owner.get("/api/v1/alerts/rules/").json()[0]["id"],
        "group": str(group.scim_id),
    }
    for step in STEPS:
        if step.prepare:
            step.prepare(saved)
        before = AuditEntry.all_tenants.count()
        path = step.path.format(**{parameter: saved[name] for parameter, name in step.ids.items()})
        client = staff if step.staff else owner
        answer = getattr(client, step.method.lower())(path, step.body, format="json")
        assert 200 <= answer.status_code < 300, (step.method, step.path, answer.status_code, answer.content)
        written = list(AuditEntry.all_tenants.order_by("pk")[before:])
        assert written, f"{step.method} {step.path} wrote no audit entry"
        assert {(entry.actor_name, entry.credential) for entry in written} == {
            ("root" if step.staff else "alice", "token")
        }, (step.method, step.path)
        if step.save:
            saved[step.save] = answer.json()["id"]
    assert not Membership.objects.for_tenant(world.acme).filter(user__username="dora").exists()
