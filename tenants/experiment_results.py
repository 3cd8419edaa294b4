"""Per-variant outcomes of an experiment, each with its sample size and 95 % interval, and each
variant compared with the control: two-proportion z-tests for rates, Welch's t-tests for means."""

from collections import defaultdict
from dataclasses import asdict
from typing import Any

from django.db.models import Count, Sum

from billing.models import UsageRecord
from chat.models import Conversation, Message, Role
from tenants import stats
from tenants.models import Experiment, Variant
from tenants.stats import percentile


def _variant_data(tenant_id: int, variant: Variant) -> dict[str, Any]:
    conversations = list(
        Conversation.objects.for_tenant(tenant_id)
        .filter(variant=variant)
        .values_list("pk", "resolved", "escalated", "rating")
    )
    ids = [pk for pk, *_ in conversations]
    usage: dict[int, tuple[int, float]] = defaultdict(lambda: (0, 0.0))
    rows = (
        UsageRecord.objects.for_tenant(tenant_id)
        .filter(conversation_id__in=ids)
        .values("conversation_id")
        .annotate(tokens=Sum("input_tokens") + Sum("output_tokens"), cost=Sum("cost_usd"))
    )
    for row in rows:
        usage[row["conversation_id"]] = (row["tokens"] or 0, float(row["cost"] or 0))
    answers = Message.objects.for_tenant(tenant_id).filter(variant=variant)
    counts = answers.aggregate(messages=Count("id"))
    ttfts = list(answers.filter(role=Role.ASSISTANT, ttft_ms__isnull=False).values_list("ttft_ms", flat=True))
    return {
        "n": len(conversations),
        "messages": counts["messages"],
        "resolved": sum(1 for _, resolved, _, _ in conversations if resolved),
        "escalated": sum(1 for _, _, escalated, _ in conversations if escalated),
        "ratings": [float(rating) for *_, rating in conversations if rating is not None],
        "tokens": [float(usage[pk][0]) for pk in ids],
        "costs": [usage[pk][1] for pk in ids],
        "ttft_ms": [float(t) for t in ttfts],
    }


def _estimate(estimate: stats.Estimate) -> dict[str, Any]:
    return asdict(estimate)


def experiment_results(*, tenant_id: int, experiment_id: int) -> dict[str, Any]:
    """Raises ``Experiment.DoesNotExist`` for an id outside the tenant."""
    experiment = Experiment.objects.for_tenant(tenant_id).get(pk=experiment_id)
    variants = list(experiment.variants.order_by("id"))
    data = {variant.pk: _variant_data(tenant_id, variant) for variant in variants}
    control = next(v for v in variants if v.is_control)
    base = data[control.pk]
    results = []
    for variant in variants:
        d = data[variant.pk]
        row: dict[str, Any] = {
            "variant": variant.name,
            "is_control": variant.is_control,
            "weight": variant.weight,
            "conversations": d["n"],
            "messages": d["messages"],
            "resolution_rate": _estimate(stats.proportion(d["resolved"], d["n"])),
            "escalation_rate": _estimate(stats.proportion(d["escalated"], d["n"])),
            "csat_mean": _estimate(stats.mean(d["ratings"])),
            "tokens_per_conversation": _estimate(stats.mean(d["tokens"])),
            "cost_usd_per_conversation": _estimate(stats.mean(d["costs"])),
            "ttft_p50_ms": percentile(d["ttft_ms"], 50),
            "ttft_samples": len(d["ttft_ms"]),
        }
        if not variant.is_control:
            comparisons = {
                "resolution_rate": stats.two_proportion_z_test(
                    base["resolved"], base["n"], d["resolved"], d["n"]
                ),
                "escalation_rate": stats.two_proportion_z_test(
                    base["escalated"], base["n"], d["escalated"], d["n"]
                ),
                "csat_mean": stats.welch_t_test(base["ratings"], d["ratings"]),
                "tokens_per_conversation": stats.welch_t_test(base["tokens"], d["tokens"]),
                "cost_usd_per_conversation": stats.welch_t_test(base["costs"], d["costs"]),
            }
            row["against_control"] = {
                name: {
                    **asdict(c),
                    "decision": (
                        "too small to decide"
                        if not c.enough_data
                        else ("significant" if c.significant else "no significant difference")
                    ),
                }
                for name, c in comparisons.items()
            }
        results.append(row)
    return {
        "experiment": experiment.pk,
        "name": experiment.name,
        "active": experiment.active,
        "minimum_sample": stats.MIN_SAMPLE,
        "variants": results,
    }
