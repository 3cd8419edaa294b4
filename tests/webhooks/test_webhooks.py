"""Webhook endpoints (issue 36): a tenant's endpoints receive the events they subscribe to,
each POST signed with the endpoint's secret over its timestamp and body, with the event's name
and the delivery's id in headers; a delivery that fails is tried again on a backoff, is logged
with every try, and an endpoint failing delivery after delivery is turned off (audited, owners
e-mailed), turned on again by a person, and its deliveries sent again. Only owners and admins
of the tenant reach them."""

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditEntry
from chat.models import Conversation, Message, Role
from chat.services import conversation_escalate, feedback_record
from tenants.events import Event
from testkit.webhook import Webhook, signed_with
from testkit.worker import CeleryWorker, wait_for
from testkit.world import World, client_for
from webhooks.models import Delivery, DeliveryStatus, Endpoint
from webhooks.services import RETRY_AFTER, deliveries_queue, delivery_attempt, endpoints_changed


def endpoint_made(world: World, url: str, events: list[str]) -> dict[str, Any]:
    owner = client_for(world.token(world.alice, world.acme))
    made = owner.post("/api/v1/webhooks/", {"url": url, "events": events}, format="json")
    assert made.status_code == 201, made.content
    return made.json()


def conversation_with_answer(world: World, tenant: Any, user: Any) -> tuple[Conversation, Message]:
    conversation = Conversation.objects.create(tenant=tenant, user=user)
    Message.objects.create(tenant=tenant, conversation=conversation, role=Role.USER, content="Hi")
    answer = Message.objects.create(
        tenant=tenant, conversation=conversation, role=Role.ASSISTANT, content="Hello"
    )
    return conversation, answer


def test_an_endpoint_receives_what_it_subscribes_to_signed(
    world: World, webhook_worker: CeleryWorker, webhook: str, settings: Any
) -> None:
    settings.TOOLS_ALLOW_HTTP = settings.TOOLS_ALLOW_LOOPBACK = True  # as the worker has them
    made = endpoint_made(world, webhook, ["conversation.escalated", "feedback.received"])
    assert made["secret"].startswith("whsec_") and made["active"] is True
    conversation, answer = conversation_with_answer(world, world.acme, world.alice)
    others, _ = conversation_with_answer(world, world.globex, world.carol)
    conversation_escalate(
        tenant_id=world.globex.pk, conversation_id=others.pk, reason="asked", now=timezone.now()
    )
    conversation_escalate(
        tenant_id=world.acme.pk, conversation_id=conversation.pk, reason="asked", now=timezone.now()
    )
    feedback_record(
        tenant_id=world.acme.pk, user_id=world.alice.pk, message_id=answer.pk, rating=5, comment="great"
    )
    assert wait_for(lambda: len(Webhook.received) == 2)
    escalated, feedback = sorted(Webhook.received, key=lambda r: r["event"])
    assert (escalated["event"], escalated["conversation_id"], escalated["tenant"]) == (
        "conversation.escalated", conversation.pk, "acme",
    )  # fmt: skip
    assert (feedback["event"], feedback["message_id"], feedback["rating"]) == (
        "feedback.received",
        answer.pk,
        5,
    )
    for received in (escalated, feedback):
        assert signed_with(made["secret"], received) and not received["signed"]  # its own secret
        assert received["headers"]["X-Chatplatform-Event"] == received["event"]
        assert received["headers"]["X-Chatplatform-Delivery"] == received["id"]
    assert wait_for(
        lambda: (
            set(Delivery.objects.for_tenant(world.acme).values_list("status", "attempts"))
            == {(DeliveryStatus.SUCCEEDED, 1)}
        )
    )
    # The log over the API, the payload as sent.
    owner = client_for(world.token(world.alice, world.acme))
    log = owner.get(f"/api/v1/webhooks/{made['id']}/deliveries/").json()["results"]
    assert {d["event"] for d in log} == {"conversation.escalated", "feedback.received"}
    assert "secret" not in owner.get(f"/api/v1/webhooks/{made['id']}/").json()


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
    from pathlib import Path

    assert f"`{event}`" in (Path(__file__).parents[2] / "README.md").read_text()
