"""Webhook endpoints' rules (issue 36), tried by hand, with no Celery worker to race the test for
the deliveries it queues: a failing delivery is tried again on a backoff, logged with every
try, and an endpoint failing delivery after delivery is turned off (audited, owners e-mailed),
turned on again by a person, its delivery sent again; only the tenant's owners and admins reach
its endpoints; every event is documented."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditEntry
from chat.history.ids import allocate_conversation_id
from chat.history.pending import conversation_materialize
from tenants.events import Event
from testkit.webhook import Webhook
from testkit.world import World, client_for
from tests.webhooks.test_webhooks import endpoint_made
from webhooks.models import Delivery, DeliveryStatus, Endpoint
from webhooks.services import RETRY_AFTER, deliveries_queue, delivery_attempt, endpoints_changed


def test_a_failing_endpoint_is_retried_on_a_backoff_then_turned_off(
    world: World, webhook: str, settings: Any
) -> None:
    settings.TOOLS_ALLOW_HTTP = settings.TOOLS_ALLOW_LOOPBACK = True
    settings.WEBHOOK_DISABLE_AFTER = 2
    world.alice.email = "alice@acme.test"
    world.alice.save()
    made = endpoint_made(world, webhook, ["conversation.resolved"])
    endpoints_changed(world.acme.pk)
    Webhook.status = 503

    def fail_every_try(delivery_id: int) -> None:
        at = timezone.now()
        for wait in (timedelta(0), *RETRY_AFTER):
            at += wait
            assert delivery_attempt(tenant_id=world.acme.pk, delivery_id=delivery_id, now=at) in (
                "pending",
                "failed",
            )
            early = delivery_attempt(
                tenant_id=world.acme.pk, delivery_id=delivery_id, now=at + timedelta(seconds=1)
            )
            assert early in ("not due", "failed")

    first = deliveries_queue(
        tenant_id=world.acme.pk, event=Event.CONVERSATION_RESOLVED, data={"conversation_id": 1}
    )
    fail_every_try(first[0])
    delivery = Delivery.objects.for_tenant(world.acme).get(pk=first[0])
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1 + len(RETRY_AFTER))
    assert "503" in delivery.last_error and len(Webhook.received) == 1 + len(RETRY_AFTER)
    assert Endpoint.objects.for_tenant(world.acme).get(pk=made["id"]).failures_in_a_row == 1

    second = deliveries_queue(
        tenant_id=world.acme.pk, event=Event.CONVERSATION_RESOLVED, data={"conversation_id": 2}
    )
    fail_every_try(second[0])
    endpoint = Endpoint.objects.for_tenant(world.acme).get(pk=made["id"])
    assert not endpoint.active and "2 deliveries failed in a row" in endpoint.disabled_reason
    assert AuditEntry.objects.for_tenant(world.acme).filter(action="webhook.disabled").count() == 1
    assert [m.to for m in mail.outbox] == [["alice@acme.test"]] and webhook in mail.outbox[0].body
    assert deliveries_queue(tenant_id=world.acme.pk, event=Event.CONVERSATION_RESOLVED, data={}) == []

    # Turned on again by its owner, and the failed delivery sent again: it arrives, once.
    owner = client_for(world.token(world.alice, world.acme))
    turned_on = owner.patch(f"/api/v1/webhooks/{made['id']}/", {"active": True}, format="json").json()
    assert (turned_on["active"], turned_on["failures_in_a_row"], turned_on["disabled_reason"]) == (
        True,
        0,
        "",
    )
    Webhook.status, Webhook.received = 204, []
    again = owner.post(f"/api/v1/webhooks/deliveries/{first[0]}/redeliver/")
    assert again.status_code == 202
    assert (
        delivery_attempt(tenant_id=world.acme.pk, delivery_id=again.json()["id"], now=timezone.now())
        == "succeeded"
    )
    assert [r["conversation_id"] for r in Webhook.received] == [1]
    assert (
        Webhook.received[0]["id"] == delivery.payload["id"]
    )  # the same payload: a receiver can drop a repeat


def test_only_the_tenants_owners_and_admins_manage_its_webhooks(world: World, settings: Any) -> None:
    settings.TOOLS_ALLOW_HTTP = settings.TOOLS_ALLOW_LOOPBACK = False
    owner = client_for(world.token(world.alice, world.acme))
    for bad in (
        {"url": "http://hooks.example.com/x", "events": ["feedback.received"]},  # not HTTPS
        {"url": "https://127.0.0.1/x", "events": ["feedback.received"]},  # not a public address
        {"url": "https://user:pw@hooks.example.com/x", "events": ["feedback.received"]},
        {"url": "https://hooks.example.com/x", "events": []},
        {"url": "https://hooks.example.com/x", "events": ["everything"]},
    ):
        assert owner.post("/api/v1/webhooks/", bad, format="json").status_code == 400, bad
    made = owner.post(
        "/api/v1/webhooks/",
        {"url": "https://hooks.example.com/x", "events": ["feedback.received"]},
        format="json",
    ).json()
    # A placeholder in a URL is kept as written, never filled from the server's environment.
    literal = owner.post(
        "/api/v1/webhooks/",
        {"url": "https://hooks.example.com/${SECRET_KEY}", "events": ["feedback.received"]},
        format="json",
    ).json()
    assert literal["url"] == "https://hooks.example.com/${SECRET_KEY}"
    owner.delete(f"/api/v1/webhooks/{literal['id']}/")
    rotated = owner.post(f"/api/v1/webhooks/{made['id']}/rotate-secret/").json()
    assert rotated["secret"] != made["secret"]
    assert Endpoint.objects.for_tenant(world.acme).get(pk=made["id"]).secret == rotated["secret"]
    member = client_for(world.token(world.bob, world.acme))
    assert member.get("/api/v1/webhooks/").status_code == 403
    assert member.post(f"/api/v1/webhooks/{made['id']}/rotate-secret/").status_code == 403
    carol = client_for(world.token(world.carol, world.globex))
    for method, path in (
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("get", "deliveries/"),
        ("post", "rotate-secret/"),
    ):
        assert getattr(carol, method)(f"/api/v1/webhooks/{made['id']}/{path}").status_code in (403, 404)
    assert owner.delete(f"/api/v1/webhooks/{made['id']}/").status_code == 204
    actions = list(AuditEntry.objects.for_tenant(world.acme).order_by("id").values_list("action", flat=True))
    assert actions == [
        "webhook.created",
        "webhook.created",
        "webhook.deleted",
        "webhook.changed",
        "webhook.deleted",
    ]


@pytest.mark.parametrize("event", [e.value for e in Event])
def test_every_event_is_documented(event: str) -> None:
    assert f"`{event}`" in (Path(__file__).parents[2] / "README.md").read_text()


def test_a_conversation_is_told_created_once(world: World, webhook: str, settings: Any) -> None:
    """Two sockets writing the same new conversation's row (a race's two sides): one event."""
    settings.TOOLS_ALLOW_HTTP = settings.TOOLS_ALLOW_LOOPBACK = True
    endpoint_made(world, webhook, ["conversation.created"])
    endpoints_changed(world.acme.pk)
    conversation_id = allocate_conversation_id()
    for _ in range(2):
        conversation_materialize(
            tenant_id=world.acme.pk, user_id=world.bob.pk, conversation_id=conversation_id, variant_id=None
        )
    told = Delivery.objects.for_tenant(world.acme).filter(event="conversation.created")
    assert [d.payload["conversation_id"] for d in told] == [conversation_id]
    assert told[0].payload["channel"] == "chat" and told[0].payload["user_id"] == world.bob.pk
