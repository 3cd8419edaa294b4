"""``/api/v1/conversations/``: roles, filters, full-text search, messages, streamed exports, and
another tenant's ids."""

import csv
import io
import json
from datetime import timedelta

from django.utils import timezone

from chat.models import Conversation, Message
from tenants.models import Membership
from tenants.models import Role as MemberRole
from tests.conftest import World, client_for, make_user


def conversation(world: World, tenant, user, texts: list[str], **fields) -> Conversation:  # type: ignore[no-untyped-def]
    made = Conversation.objects.create(tenant=tenant, user=user, **fields)
    for index, text in enumerate(texts):
        Message.objects.create(
            tenant=tenant, conversation=made, role="user" if index % 2 == 0 else "assistant", content=text
        )
    return made


def streamed(response) -> str:  # type: ignore[no-untyped-def]
    return b"".join(response.streaming_content).decode()


def test_roles_filters_and_search(world: World) -> None:
    refund = conversation(
        world, world.acme, world.alice, ["I want my refunds back", "Sure."], resolved=True, rating=5
    )
    shipping = conversation(world, world.acme, world.bob, ["Where is my parcel?", "On its way."], rating=2)
    conversation(world, world.globex, world.carol, ["refund please", "no"])
    Conversation.objects.for_tenant(world.acme.pk).filter(pk=shipping.pk).update(
        started_at=timezone.now() - timedelta(days=10)
    )

    owner = client_for(world.token(world.alice, world.acme))
    listed = owner.get("/api/v1/conversations/").json()
    assert listed["count"] == 2 and {c["id"] for c in listed["results"]} == {refund.pk, shipping.pk}
    assert owner.get("/api/v1/conversations/?q=refund").json()["results"][0]["id"] == refund.pk  # stemmed
    assert owner.get("/api/v1/conversations/?q=refund").json()["count"] == 1  # never globex's
    assert [c["id"] for c in owner.get("/api/v1/conversations/?user=bob").json()["results"]] == [shipping.pk]
    assert [c["id"] for c in owner.get("/api/v1/conversations/?resolved=true").json()["results"]] == [
        refund.pk
    ]
    assert [c["id"] for c in owner.get("/api/v1/conversations/?rating=2").json()["results"]] == [shipping.pk]
    since = (timezone.now() - timedelta(days=2)).date().isoformat()
    assert [c["id"] for c in owner.get(f"/api/v1/conversations/?from={since}").json()["results"]] == [
        refund.pk
    ]
    bad = owner.get("/api/v1/conversations/?rating=9")
    assert bad.status_code == 400 and "rating" in bad.json()["errors"]

    member = client_for(world.token(world.bob, world.acme))
    assert [c["id"] for c in member.get("/api/v1/conversations/").json()["results"]] == [shipping.pk]
    assert member.get(f"/api/v1/conversations/{refund.pk}/").status_code == 404  # a colleague's

    viewer = make_user("vic")
    Membership.objects.create(tenant=world.acme, user=viewer, role=MemberRole.VIEWER)
    assert client_for(world.token(viewer, world.acme)).get("/api/v1/conversations/").json()["count"] == 2

    messages = owner.get(f"/api/v1/conversations/{refund.pk}/messages/").json()
    assert [m["content"] for m in messages["results"]] == ["I want my refunds back", "Sure."]


def test_exports_stream_csv_and_json_and_never_another_tenants_rows(world: World) -> None:
    mine = conversation(world, world.acme, world.alice, ["a, with comma", 'b "quoted"'])
    theirs = conversation(world, world.globex, world.carol, ["secret of globex", "x"])
    owner = client_for(world.token(world.alice, world.acme))

    response = owner.get(f"/api/v1/conversations/{mine.pk}/export/?format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(streamed(response))))
    assert [r["content"] for r in rows] == ["a, with comma", 'b "quoted"'] and rows[0]["user"] == "alice"

    everything = json.loads(streamed(owner.get("/api/v1/conversations/export/?format=json")))
    assert {row["conversation_id"] for row in everything} == {mine.pk}
    assert "secret of globex" not in json.dumps(everything)
    assert owner.get("/api/v1/conversations/export/?format=xml").status_code == 400

    for path in [
        f"/api/v1/conversations/{theirs.pk}/",
        f"/api/v1/conversations/{theirs.pk}/messages/",
        f"/api/v1/conversations/{theirs.pk}/export/",
    ]:
        assert owner.get(path).status_code == 404, path


def test_csv_exports_neutralise_formulas(world: World) -> None:
    """A message or username a spreadsheet would run as a formula is exported with a quote
    before it (OWASP's CSV injection advice); the JSON export keeps the text as it is."""
    hostile = ["=cmd|' /C calc'!A0", "+SUM(1)", "-2+3", "@SUM(1)", "\tTAB", "\rCR"]
    schemer = make_user("=HYPERLINK(evil)")
    Membership.objects.create(tenant=world.acme, user=schemer, role=MemberRole.MEMBER)
    made = conversation(world, world.acme, schemer, [*hostile, "plain - text"])
    owner = client_for(world.token(world.alice, world.acme))
    rows = list(
        csv.DictReader(
            io.StringIO(streamed(owner.get(f"/api/v1/conversations/{made.pk}/export/?format=csv")))
        )
    )
    assert [row["content"] for row in rows] == [f"'{text}" for text in hostile] + ["plain - text"]
    assert {row["user"] for row in rows} == {"'=HYPERLINK(evil)"}
    exported = json.loads(streamed(owner.get(f"/api/v1/conversations/{made.pk}/export/?format=json")))
    assert [row["content"] for row in exported] == [*hostile, "plain - text"]
