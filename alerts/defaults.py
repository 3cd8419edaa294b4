"""The brief's monitoring table: each figure's alert threshold, the default rules of a tenant."""

from typing import Any

from alerts.models import AlertRule, Metric

ABOVE, BELOW = AlertRule.Direction.ABOVE, AlertRule.Direction.BELOW
DAY = 24 * 60

DEFAULT_RULES: list[dict[str, Any]] = [
    {"metric": Metric.RESPONSE_P50_S, "direction": ABOVE, "threshold": 5.0},
    {"metric": Metric.RESPONSE_P99_S, "direction": ABOVE, "threshold": 15.0},
    {"metric": Metric.RESOLUTION_RATE, "direction": BELOW, "threshold": 0.5, "window_minutes": DAY},
    {"metric": Metric.ESCALATION_RATE, "direction": ABOVE, "threshold": 0.3, "window_minutes": DAY},
    {"metric": Metric.ERROR_RATE, "direction": ABOVE, "threshold": 0.05},
    {"metric": Metric.ACTIVE_USERS_DROP, "direction": ABOVE, "threshold": 0.2, "window_minutes": DAY},
    {"metric": Metric.COST_PER_CONVERSATION, "direction": ABOVE, "threshold": 0.5, "window_minutes": DAY},
    {"metric": Metric.CSAT, "direction": BELOW, "threshold": 3.0, "window_minutes": DAY, "min_samples": 5},
    {"metric": Metric.SAFETY_SPIKE, "direction": ABOVE, "threshold": 3.0, "min_samples": 5},
    # Customers who asked for a person wait more than 15 minutes for one (issue 33).
    {
        "metric": Metric.FIRST_HUMAN_REPLY_P90_S,
        "direction": ABOVE,
        "threshold": 900.0,
        "window_minutes": 4 * 60,
        "min_samples": 3,
    },
]


def default_rules_ensure(*, tenant_id: int) -> None:
    """Give the tenant the brief's rules it does not have yet (an edited rule is left alone)."""
    have = set(AlertRule.objects.for_tenant(tenant_id).values_list("metric", flat=True))
    AlertRule.objects.bulk_create(
        [AlertRule(tenant_id=tenant_id, **rule) for rule in DEFAULT_RULES if rule["metric"] not in have],
        ignore_conflicts=True,
    )
