"""``infra.db.insert_rows``, the turn write's INSERT: the rows read back as the ORM wrote
them with ``bulk_create`` (each value converted by its field, defaults and ``auto_now_add``
filled in), and it refuses what ``bulk_create`` refuses."""

import uuid
from decimal import Decimal

import pytest

from billing.models import UsageRecord
from chat.history.ids import allocate_message_ids
from chat.models import Conversation, Message, Role
from tenants.scoping import TenantScopeError
from testkit.world import World

pytestmark = pytest.mark.django_db(transaction=True)


def test_rows_read_back_as_bulk_create_writes_them(world: World) -> None:
    conversation = Conversation.objects.create(tenant=world.acme, user=world.alice)
    question_id, answer_id, reference_id = allocate_message_ids(3)
    client_id = uuid.uuid4()
    sources = [{"n": 1, "title": "Refunds “policy”", "document_id": 7}]
    Message.objects.insert_rows(
        [
            {
                "id": question_id,
                "tenant_id": world.acme.pk,
                "conversation_id": conversation.pk,
                "role": Role.USER,
                "content": "where is my order?\u2028",
                "client_id": client_id,
            },
            {
                "id": answer_id,
                "tenant_id": world.acme.pk,
                "conversation_id": conversation.pk,
                "role": Role.ASSISTANT,
                "content": "On its way.",
                "reply_to_id": question_id,
                "sources": sources,
                "cost_usd": Decimal("0.00012345"),
                "ttft_ms": 250,
            },
        ]
    )
    Message.objects.bulk_create(
        [
            Message(
                id=reference_id,
                tenant_id=world.acme.pk,
                conversation_id=conversation.pk,
                role=Role.ASSISTANT,
                content="On its way.",
                sources=sources,
                cost_usd=Decimal("0.00012345"),
                ttft_ms=250,
            )
        ]
    )
    stored = {m.pk: m for m in Message.objects.for_tenant(world.acme).filter(conversation=conversation)}
    question, answer, reference = stored[question_id], stored[answer_id], stored[reference_id]
    assert question.client_id == client_id and question.content == "where is my order?\u2028"
    assert question.sources == [] and question.cost_usd == 0 and question.ttft_ms is None
    assert question.created_at is not None
    # Every field but the id, the time and the (one-to-one) reply as bulk_create wrote it.
    skip = {"id", "created_at", "reply_to_id"}
    fields = [f.attname for f in Message._meta.concrete_fields if f.attname not in skip]
    assert {f: getattr(answer, f) for f in fields} == {f: getattr(reference, f) for f in fields}
    assert answer.reply_to_id == question_id


def test_it_refuses_a_row_without_its_tenant_or_with_an_unknown_field(world: World) -> None:
    conversation = Conversation.objects.create(tenant=world.acme, user=world.alice)
    row = {"tenant_id": world.acme.pk, "conversation_id": conversation.pk, "model": "m"}
    with pytest.raises(TenantScopeError):
        UsageRecord.objects.insert_rows([row, {**row, "tenant_id": None}])
    with pytest.raises(TypeError, match="no field inputs_tokens"):
        UsageRecord.objects.insert_rows([{**row, "inputs_tokens": 5}])
    assert not UsageRecord.objects.for_tenant(world.acme).exists()
    UsageRecord.objects.insert_rows([row, {**row, "input_tokens": 5}])
    assert sorted(r.input_tokens for r in UsageRecord.objects.for_tenant(world.acme)) == [0, 5]


@pytest.mark.parametrize("count", [1, 3, 7, 60])
def test_a_batch_of_any_size_is_written_whole(world: World, count: int) -> None:
    """The rows go in statements of a few rows each (full ones pipelined, the rest in one more):
    every row arrives once, with its own values, whatever the batch's size."""
    conversation = Conversation.objects.create(tenant=world.acme, user=world.alice)
    UsageRecord.objects.insert_rows(
        [
            {
                "tenant_id": world.acme.pk,
                "conversation_id": conversation.pk,
                "model": f"m{n}",
                "input_tokens": n,
            }
            for n in range(count)
        ]
    )
    stored = UsageRecord.objects.for_tenant(world.acme).values_list("model", "input_tokens")
    assert sorted(stored, key=lambda r: r[1]) == [(f"m{n}", n) for n in range(count)]
