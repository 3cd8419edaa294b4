"""Daily analytics: computed from a seeded day, per variant, served by the API and the console,
each tenant seeing only its own."""

from datetime import timedelta
from decimal import Decimal

from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from billing.models import UsageRecord
from chat.analytics import HOURLY_KEEP_DAYS, day_stats, days_due, hour_stats, hours_due, today_utc
from chat.events import get_event_counts, hour_start
from chat.models import Conversation, DailyTenantStats, HourlyTenantStats, Message
from chat.tasks import compute_daily_stats
from tenants.models import Experiment, Membership, Variant
from tenants.models import Role as MemberRole
from tenants.selectors import SESSION_TENANT_KEY
from testkit.fake_openai import FakeOpenAI
from testkit.world import PASSWORD, World, client_for, make_user, reconfigure
from testkit.ws import ask, frames_until, open_chat, send_message


def seed_day(world: World) -> Variant:
    experiment = Experiment.objects.create(tenant=world.acme, name="e")
    control = Variant.objects.create(experiment=experiment, name="control", is_control=True, weight=50)
    Variant.objects.create(experiment=experiment, name="b", weight=50)
    for n, (resolved, escalated, rating) in enumerate(
        [(True, False, 5), (False, True, 2), (True, False, None)]
    ):
        conversation = Conversation.objects.create(
            tenant=world.acme,
            user=world.alice,
            resolved=resolved,
            escalated=escalated,
            rating=rating,
            variant=control if n == 0 else None,
        )
        answer = Message.objects.create(
            tenant=world.acme,
            conversation=conversation,
            role="assistant",
            content="a",
            model="gpt-4o-mini",
            ttft_ms=100 * (n + 1),
            latency_ms=1000,
            cached=n == 2,
            variant=conversation.variant,
        )
        UsageRecord.objects.create(
            tenant=world.acme,
            conversation=conversation,
            message=answer,
            model="gpt-4o-mini",
            input_tokens=10,
            output_tokens=20,
            cost_usd=Decimal("0.001"),
        )
    Conversation.objects.create(tenant=world.globex, user=world.carol, resolved=True)
    return control


def test_a_day_is_summed_in_total_and_per_variant(world: World) -> None:
    control = seed_day(world)
    compute_daily_stats.apply().get()
    total = DailyTenantStats.objects.for_tenant(world.acme.pk).get(day=today_utc(), variant=None)
    assert (total.conversations, total.answers, total.resolved, total.escalated) == (3, 3, 2, 1)
    assert (total.csat_count, total.csat_sum, total.cache_hits) == (2, 7, 1)
    assert (total.input_tokens, total.output_tokens, total.cost_usd) == (30, 60, Decimal("0.003"))
    assert total.ttft_p50_ms == 100 and total.model_mix == {"gpt-4o-mini": 3}  # cached answers: no TTFT
    per_variant = DailyTenantStats.objects.for_tenant(world.acme.pk).get(day=today_utc(), variant=control)
    assert (per_variant.conversations, per_variant.resolved, per_variant.csat_sum) == (1, 1, 5)
    # Recomputing changes nothing; the backfill covered 30 days, from now on only two.
    assert day_stats(tenant_id=world.acme.pk, day=today_utc()) == 2
    assert DailyTenantStats.objects.for_tenant(world.acme.pk).filter(day=today_utc()).count() == 2
    assert days_due(tenant_id=world.acme.pk, today=today_utc()) == [
        today_utc() - timedelta(days=1),
        today_utc(),
    ]
    assert DailyTenantStats.objects.for_tenant(world.acme.pk).filter(variant=None).count() == 31


def test_the_api_and_the_console_serve_the_figures_to_the_right_roles(world: World) -> None:
    seed_day(world)
    compute_daily_stats.apply().get()
    today = today_utc().isoformat()
    body = (
        client_for(world.token(world.alice, world.acme))
        .get(f"/api/v1/analytics/?from={today}&to={today}")
        .json()
    )
    (day,) = body["days"]
    assert day["conversations"] == 3 and day["resolution_rate"] == 2 / 3 and day["csat_mean"] == 3.5
    assert day["cache_hit_rate"] == 1 / 3 and day["cost_by_model"] == {"gpt-4o-mini": "0.00300000"}
    viewer = make_user("val")
    Membership.objects.create(tenant=world.acme, user=viewer, role=MemberRole.VIEWER)
    assert client_for(world.token(viewer, world.acme)).get("/api/v1/analytics/").status_code == 200
    assert client_for(world.token(world.bob, world.acme)).get("/api/v1/analytics/").status_code == 403
    globex = client_for(world.token(world.carol, world.globex))
    assert globex.get("/api/v1/analytics/").status_code == 403  # a member there
    bad = client_for(world.token(world.alice, world.acme)).get(
        "/api/v1/analytics/?from=2026-02-10&to=2026-01-01"
    )
    assert bad.status_code == 400 and "to" in bad.json()["errors"]

    browser = Client()
    assert browser.login(username="alice", password=PASSWORD)
    session = browser.session
    session[SESSION_TENANT_KEY] = "acme"
    session.save()
    page = browser.get("/console/")
    assert (
        page.status_code == 200
        and b'id="chart-cost"' in page.content
        and b'"conversations": 3' in page.content
    )
    member = Client()
    assert member.login(username="bob", password=PASSWORD)
    assert member.get("/console/").status_code == 403


async def test_the_operator_figures_errors_refusals_safety_and_active_users(
    world: World, fake_llm: FakeOpenAI
) -> None:
    """Through the chat itself: an answer that fails, a blocked topic, a redacted e-mail address,
    two users; the day's row then holds the error rate, the refusals by code, the safety figures,
    the active users, p99 and the cost per conversation."""
    await reconfigure(world.acme, blocked_topics=["lottery"], pii_filter=True)
    alice, _ = await open_chat(world.token(world.alice, world.acme))
    await ask(alice, "hello [[tokens=3]]")
    await ask(alice, "this one breaks [[fail-before]]")
    await ask(alice, "mail me at ann@example.com [[tokens=2]]")
    await send_message(alice, "tell me about the lottery")
    assert (await frames_until(alice, "error"))[-1]["code"] == "BLOCKED_TOPIC"
    bob, _ = await open_chat(world.token(world.bob, world.acme))
    await ask(bob, "hi [[tokens=2]]")
    for socket in (alice, bob):
        await socket.disconnect()
    await database_sync_to_async(get_event_counts().flush)()
    await database_sync_to_async(day_stats)(tenant_id=world.acme.pk, day=today_utc())
    client = client_for(world.token(world.alice, world.acme))
    [day] = (await database_sync_to_async(client.get)("/api/v1/analytics/")).json()["days"][-1:]
    assert day["answers"] == 4 and day["errors"] == 1
    assert day["refused_by_code"] == {"BLOCKED_TOPIC": 1} and day["refused"] == 1
    assert day["error_rate"] == 2 / 5
    assert day["blocked_topics"] == 1 and day["pii_redactions"] == 1
    assert day["active_users"] == 2 and day["weekly_active_users"] == 2
    assert day["latency_p99_ms"] is not None and day["cost_per_conversation_usd"] is not None
    # The same in the hour's row (the hourly figures have no weekly users).
    now = timezone.now()
    await database_sync_to_async(hour_stats)(tenant_id=world.acme.pk, hour=hour_start(now))
    hourly = (await database_sync_to_async(client.get)("/api/v1/analytics/?granularity=hour")).json()
    assert hourly["granularity"] == "hour"
    [hour] = hourly["hours"]
    assert hour["hour"] == hour_start(now).isoformat().replace("+00:00", "Z")
    assert {k: v for k, v in hour.items() if k != "hour"} == {
        k: v for k, v in day.items() if k not in {"day", "weekly_active_users"}
    }
    # Another tenant's figures hold none of these.
    await database_sync_to_async(day_stats)(tenant_id=world.globex.pk, day=today_utc())
    other = await DailyTenantStats.objects.for_tenant(world.globex.pk).aget(day=today_utc(), variant=None)
    assert (other.refused, other.pii_redactions, other.active_users, other.errors) == (0, 0, 0, 0)


def test_hours_are_computed_backfilled_kept_two_weeks_and_served_by_hour(world: World) -> None:
    seed_day(world)
    compute_daily_stats.apply().get()
    now = timezone.now()
    rows = HourlyTenantStats.objects.for_tenant(world.acme.pk)
    # A first run backfills 48 hours and this one; later runs recompute this hour and the last.
    assert rows.count() == 49
    assert rows.get(hour=hour_start(now)).conversations == 3
    assert hours_due(tenant_id=world.acme.pk, now=now) == [
        hour_start(now) - timedelta(hours=1),
        hour_start(now),
    ]
    old = hour_start(now) - timedelta(days=HOURLY_KEEP_DAYS, hours=1)
    HourlyTenantStats.objects.create(tenant=world.acme, hour=old, conversations=9)
    compute_daily_stats.apply().get()
    assert not rows.filter(hour=old).exists()  # past the two weeks: dropped
    client = client_for(world.token(world.alice, world.acme))
    today = today_utc()
    hours = client.get(f"/api/v1/analytics/?granularity=hour&from={today}&to={today}").json()["hours"]
    assert sum(h["conversations"] for h in hours) == 3 and len(hours) == hour_start(now).hour + 1
    assert client.get("/api/v1/analytics/?granularity=minute").status_code == 400
    too_long = client.get(f"/api/v1/analytics/?granularity=hour&from={today - timedelta(days=20)}")
    assert too_long.status_code == 400 and "to" in too_long.json()["errors"]
    # Another tenant's hours are its own.
    globex = client_for(world.token(world.carol, world.globex))
    assert globex.get("/api/v1/analytics/?granularity=hour").status_code == 403
    assert HourlyTenantStats.objects.for_tenant(world.globex.pk).filter(conversations=3).count() == 0
