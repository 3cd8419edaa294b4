"""Issue 33's figures: the handoff rate, the time to a person's first reply (p50 / p90), and
resolution and CSAT for conversations the assistant handled alone and those a person replied in,
in the analytics API; and the alert rule on the time to a first reply, which counts those still
waiting with their wait so far."""

from datetime import datetime, timedelta

from django.utils import timezone

from alerts.defaults import default_rules_ensure
from alerts.evaluation import tenant_alerts_evaluate
from alerts.figures import window_figures
from alerts.models import Alert, AlertRule, Metric
from chat.analytics import day_stats, today_utc
from chat.models import Conversation, Handoff
from testkit.world import World, client_for


def conversation(world: World, now: datetime, **fields: object) -> Conversation:
    return Conversation.objects.create(tenant=world.acme, user=world.alice, started_at=now, **fields)


def test_the_analytics_api_reports_who_answered(world: World) -> None:
    now = timezone.now().replace(hour=12)
    asked = now - timedelta(hours=1)
    # Two a person replied in (after 60 s and 600 s), one waiting, three the assistant handled.
    conversation(
        world,
        now,
        escalated=True,
        escalated_at=asked,
        first_human_reply_at=asked + timedelta(seconds=60),
        resolved=True,
        rating=5,
    )
    conversation(
        world,
        now,
        escalated=True,
        escalated_at=asked,
        first_human_reply_at=asked + timedelta(seconds=600),
        rating=3,
    )
    conversation(world, now, escalated=True, escalated_at=asked, handoff=Handoff.WAITING)
    conversation(world, now, resolved=True, rating=4)
    conversation(world, now, resolved=True, rating=2)
    conversation(world, now)
    Conversation.objects.create(tenant=world.globex, user=world.carol, escalated=True, escalated_at=asked)
    day_stats(tenant_id=world.acme.pk, day=today_utc())

    days = client_for(world.token(world.alice, world.acme)).get("/api/v1/analytics/").json()["days"]
    handoff = days[-1]["handoff"]
    assert handoff == {
        "requested": 3,
        "handoff_rate": 0.5,
        "human_replied": 2,
        "first_reply_p50_s": 60,  # nearest rank of two
        "first_reply_p90_s": 600,
        "resolution_rate_bot": 0.5,  # 2 of the 4 the assistant handled alone (one is waiting)
        "resolution_rate_human": 0.5,
        "csat_bot": 3.0,
        "csat_human": 4.0,
    }


def test_the_first_reply_alert_counts_those_still_waiting(world: World) -> None:
    now = timezone.now()
    # Three requests in the window: one answered in 2 minutes, two still waiting for 30 minutes.
    conversation(
        world,
        now,
        escalated=True,
        escalated_at=now - timedelta(minutes=30),
        first_human_reply_at=now - timedelta(minutes=28),
        handoff=Handoff.HUMAN,
    )
    for _ in range(2):
        conversation(
            world, now, escalated=True, escalated_at=now - timedelta(minutes=30), handoff=Handoff.WAITING
        )
    # Handed back to the assistant without a person's reply: no longer a wait for a person.
    conversation(world, now, escalated=True, escalated_at=now - timedelta(minutes=30))
    figure = window_figures(tenant_id=world.acme.pk, now=now, window=timedelta(hours=4))[
        Metric.FIRST_HUMAN_REPLY_P90_S
    ]
    assert figure.samples == 3 and figure.value == 30 * 60

    default_rules_ensure(tenant_id=world.acme.pk)
    rule = AlertRule.objects.for_tenant(world.acme.pk).get(metric=Metric.FIRST_HUMAN_REPLY_P90_S)
    assert (rule.direction, rule.threshold, rule.min_samples) == ("above", 900.0, 3)
    tenant_alerts_evaluate(tenant_id=world.acme.pk, now=now)
    assert Alert.objects.for_tenant(world.acme.pk).filter(rule=rule, state=Alert.State.OPEN).exists()
    assert not Alert.objects.for_tenant(world.globex.pk).exists()
