"""GET /api/v1/usage/: the caller's tenant only, by day, model and user; the month's budget."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from billing.models import ModelPrice, UsageRecord
from billing.pricing import forget_prices
from tenants.models import Membership, Role
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, client_for, make_user
from testkit.ws import ask, open_chat

pytestmark = pytest.mark.django_db(transaction=True)


def record(
    world: World, tenant, user, model: str, tokens: tuple[int, int], cost: str, when: datetime
) -> None:  # type: ignore[no-untyped-def]
    usage = UsageRecord.objects.create(
        tenant=tenant,
        user=user,
        model=model,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=Decimal(cost),
    )
    UsageRecord.objects.for_tenant(tenant).filter(pk=usage.pk).update(created_at=when)


@pytest.fixture
def usage(world: World) -> datetime:
    today = timezone.now().astimezone(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1) if today.day > 1 else today
    record(world, world.acme, world.alice, "gpt-4o-mini", (100, 50), "0.00004500", today)
    record(world, world.acme, world.bob, "gpt-4o", (200, 100), "0.00150000", today)
    record(world, world.acme, world.alice, "gpt-4o", (10, 10), "0.00012500", yesterday)
    record(world, world.globex, world.carol, "gpt-4o", (9999, 9999), "1.00000000", today)  # another tenant
    return today


def test_the_owner_sees_their_tenants_usage_by_day_model_and_user(world: World, usage: datetime) -> None:
    body = client_for(world.token(world.alice, world.acme)).get("/api/v1/usage/").json()
    assert body["tenant"] == "acme"
    assert body["totals"]["input_tokens"] == 310 and body["totals"]["output_tokens"] == 160
    assert body["totals"]["cost_usd"] == "0.00167000" and body["totals"]["answers"] == 3
    assert {row["model"]: row["answers"] for row in body["by_model"]} == {"gpt-4o": 2, "gpt-4o-mini": 1}
    assert {row["username"]: row["input_tokens"] for row in body["by_user"]} == {"alice": 110, "bob": 200}
    assert sum(row["answers"] for row in body["by_day"]) == 3
    assert body["budget"]["monthly_token_budget"] == 1_000_000  # Professional
    assert body["budget"]["tokens_used"] == 470 and body["budget"]["tokens_left"] == 1_000_000 - 470
    assert body["budget"]["resets_on"].endswith("-01")


def test_a_date_range_narrows_the_report(world: World, usage: datetime) -> None:
    day = usage.date().isoformat()
    body = client_for(world.token(world.alice, world.acme)).get(f"/api/v1/usage/?from={day}&to={day}").json()
    assert [row["day"] for row in body["by_day"]] == [day]


def test_roles_staff_and_other_tenants(world: World, usage: datetime) -> None:
    assert client_for(world.token(world.bob, world.acme)).get("/api/v1/usage/").status_code == 403  # member
    viewer = make_user("vera")
    Membership.objects.create(tenant=world.acme, user=viewer, role=Role.VIEWER)
    assert client_for(world.token(viewer, world.acme)).get("/api/v1/usage/").status_code == 200
    owner = client_for(world.token(world.alice, world.acme))
    assert owner.get("/api/v1/usage/?tenant=globex").status_code == 404
    staff = client_for(world.token(world.staff, None))
    assert staff.get("/api/v1/usage/?tenant=globex").json()["totals"]["input_tokens"] == 9999
    refused = staff.get("/api/v1/usage/")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"


@pytest.mark.parametrize(
    "query", ["from=yesterday", "from=2026-11-10&to=2026-11-01", "from=2024-01-01&to=2026-01-01"]
)
def test_bad_ranges_are_400_json(world: World, query: str) -> None:
    response = client_for(world.token(world.alice, world.acme)).get(f"/api/v1/usage/?{query}")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


async def test_a_model_whose_price_was_deleted_is_billed_at_the_dearest_price_and_flagged(
    world: World, fake_llm: FakeOpenAI
) -> None:
    """Never free: the tenant chose a priced model, then its price row went."""
    await ModelPrice.objects.filter(model="gpt-4o-mini").adelete()
    forget_prices()
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    done = (await ask(communicator, "what does this cost? [[tokens=10]]"))[-1]
    await communicator.disconnect()
    assert done["model"] == "gpt-4o-mini"
    # The dearest seeded price, input and output: claude-opus-4.6, $15 / $75 per 1M tokens.
    used = done["usage"]
    expected = (Decimal(used["input_tokens"]) * 15 + Decimal(used["output_tokens"]) * 75) / 1_000_000
    assert Decimal(done["cost_usd"]) == expected.quantize(Decimal("0.00000001")) > 0
    record = await UsageRecord.all_tenants.aget(message_id=done["message_id"])
    assert record.priced_by_default and record.cost_usd == Decimal(done["cost_usd"])
    owner = client_for(world.token(world.alice, world.acme))
    body = (await sync_to_async(owner.get)("/api/v1/usage/")).json()
    assert body["totals"]["priced_by_default"] == 1
    assert body["by_model"][0]["model"] == "gpt-4o-mini" and body["by_model"][0]["priced_by_default"] == 1
