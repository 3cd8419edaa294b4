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
from testkit.world import World, client_for, make_user


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


def test_the_sidebar_list_is_the_callers_own_newest_first_and_searchable_by_title(world: World) -> None:
    """``?mine=true`` is what the chat page lists, whatever the role: the caller's own, deleted
    ones left out, by last activity; ``q`` finds a title's words too. Never a colleague's or
    another tenant's, even with the same words."""
    now = timezone.now()
    old = conversation(world, world.acme, world.alice, ["kettle broken", "sorry"], title="Broken kettle")
    new = conversation(world, world.acme, world.alice, ["toaster", "ok"], title="Toaster")
    gone = conversation(world, world.acme, world.alice, ["kettle again", "ok"], deleted_at=now)
    conversation(world, world.acme, world.bob, ["kettle too", "ok"], title="Bob's kettle")
    conversation(world, world.globex, world.carol, ["kettle of globex", "ok"], title="Kettle")
    for made, minutes in [(old, 30), (new, 5), (gone, 1)]:
        Conversation.objects.for_tenant(world.acme.pk).filter(pk=made.pk).update(
            last_message_at=now - timedelta(minutes=minutes)
        )
    owner = client_for(world.token(world.alice, world.acme))
    mine = owner.get("/api/v1/conversations/?mine=true&ordering=-last_message_at").json()
    assert [c["id"] for c in mine["results"]] == [new.pk, old.pk]
    by_title = owner.get("/api/v1/conversations/?mine=true&q=Broken").json()["results"]
    assert [c["id"] for c in by_title] == [old.pk]
    by_words = owner.get("/api/v1/conversations/?mine=true&q=kettle").json()["results"]
    assert [c["id"] for c in by_words] == [old.pk]
    # The owner's tenant-wide list keeps the deleted one, flagged, for the tenant's retention.
    everything = {c["id"]: c for c in owner.get("/api/v1/conversations/").json()["results"]}
    assert everything[gone.pk]["deleted_at"] is not None and len(everything) == 4
    assert owner.get("/api/v1/conversations/?ordering=title").status_code == 400


def test_its_own_user_renames_and_deletes_a_conversation_and_nobody_else(world: World) -> None:
    mine = conversation(world, world.acme, world.bob, ["hello", "hi"], title="**Hello** there")
    colleague = conversation(world, world.acme, world.alice, ["owner's", "ok"])
    theirs = conversation(world, world.globex, world.carol, ["globex", "ok"])
    member = client_for(world.token(world.bob, world.acme))

    renamed = member.patch(f"/api/v1/conversations/{mine.pk}/", {"title": "  Plain title  "}, format="json")
    assert renamed.status_code == 200 and renamed.json()["title"] == "Plain title"
    for bad in [{"title": ""}, {"title": "x" * 201}, {"title": 5 * [1]}, {}]:
        refused = member.patch(f"/api/v1/conversations/{mine.pk}/", bad, format="json")
        assert refused.status_code == 400 and "title" in refused.json()["errors"], bad
    # Text PostgreSQL cannot store is refused by the parser, before any field is read.
    assert (
        member.patch(f"/api/v1/conversations/{mine.pk}/", {"title": "a\x00b"}, format="json").status_code
        == 400
    )
    # A colleague's (invisible to a member) and another tenant's: 404, nothing changed.
    for other in (colleague, theirs):
        assert (
            member.patch(f"/api/v1/conversations/{other.pk}/", {"title": "x"}, format="json").status_code
            == 404
        )
        assert member.delete(f"/api/v1/conversations/{other.pk}/").status_code == 404
    # The owner sees the member's conversation but does not change it.
    owner = client_for(world.token(world.alice, world.acme))
    assert owner.patch(f"/api/v1/conversations/{mine.pk}/", {"title": "x"}, format="json").status_code == 403
    assert owner.delete(f"/api/v1/conversations/{mine.pk}/").status_code == 403

    assert member.delete(f"/api/v1/conversations/{mine.pk}/").status_code == 204
    kept = Conversation.objects.for_tenant(world.acme.pk).get(pk=mine.pk)
    assert kept.deleted_at is not None and kept.title == "Plain title"
    assert Message.objects.for_tenant(world.acme.pk).filter(conversation=kept).count() == 2
    assert member.get(f"/api/v1/conversations/{mine.pk}/").status_code == 404
    assert member.get(f"/api/v1/conversations/{mine.pk}/messages/").status_code == 404
    assert member.get("/api/v1/conversations/").json()["count"] == 0
    assert member.delete(f"/api/v1/conversations/{mine.pk}/").status_code == 404
    assert Conversation.objects.for_tenant(world.globex.pk).get(pk=theirs.pk).deleted_at is None
