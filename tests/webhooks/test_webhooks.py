"""Webhook endpoints (issue 36), delivered by a real Celery worker: a tenant's endpoints receive
the events they subscribe to, each POST signed with the endpoint's secret over its timestamp and
body, with the event's name and the delivery's id in headers, logged. (Their rules, tried by
hand: ``test_endpoint_rules.py``.)"""

from typing import Any

from django.utils import timezone

from chat.models import Conversation, Message, Role
from chat.services import conversation_escalate, feedback_record
from testkit.webhook import Webhook, signed_with
from testkit.worker import CeleryWorker, wait_for
from testkit.world import World, client_for
from webhooks.models import Delivery, DeliveryStatus


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
