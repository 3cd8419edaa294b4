"""A/B experiments: which variant a user is in, and what it changes in the chat config.

Assignment is deterministic: the user's bucket is a hash of (experiment, user) in 0..9999, and
the variants own consecutive ranges of buckets in proportion to their weights. The first
assignment is stored (``ExperimentAssignment``), so a user keeps their variant even when the
weights change later; only users never seen before follow the new weights.
"""

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants.changes import Change, shown, tell_changed, tell_gone, tell_made
from tenants.models import Experiment, ExperimentAssignment, Variant
from tenants.selectors import ChatConfig

BUCKETS = 10_000


class ExperimentInvalid(Exception):
    pass


def bucket(*, experiment_id: int, user_id: int) -> int:
    digest = hashlib.sha256(f"{experiment_id}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def variant_for_bucket(variants: list[Variant], value: int) -> Variant:
    """The variant whose range of buckets holds ``value`` (weights in percent, summing to 100)."""
    upper = 0
    for variant in variants:
        upper += variant.weight * BUCKETS // 100
        if value < upper:
            return variant
    return variants[-1]


def validate_variants(variants: list[tuple[str, bool, int]]) -> None:
    """(name, is_control, weight) of each variant: at least two, one control, weights sum to 100."""
    if len(variants) < 2:
        raise ExperimentInvalid("an experiment needs at least two variants")
    if sum(1 for _, control, _ in variants if control) != 1:
        raise ExperimentInvalid("exactly one variant must be the control")
    if sum(weight for _, _, weight in variants) != 100:
        raise ExperimentInvalid("the variants' weights must sum to 100")
    if len({name for name, _, _ in variants}) != len(variants):
        raise ExperimentInvalid("variant names must differ")


def _shown(experiment: Experiment) -> dict[str, Any]:
    """What the audit log shows of an experiment: its fields, and each variant in a line."""
    variants = {
        variant.name: ", ".join(
            part
            for part in (
                f"{variant.weight}%",
                "control" if variant.is_control else "",
                f"model {variant.model}" if variant.model else "",
                f"temperature {variant.temperature}" if variant.temperature is not None else "",
                f"max tokens {variant.max_tokens}" if variant.max_tokens is not None else "",
                f"prompt: {variant.system_prompt[:200]}" if variant.system_prompt else "",
            )
            if part
        )
        for variant in experiment.variants.order_by("name")
    }
    return shown(experiment, ["name", "description", "active"]) | {"variants": variants}


def experiment_create(
    *, tenant_id: int, fields: dict[str, Any], variants: list[dict[str, Any]]
) -> Experiment:
    """An experiment and its variants, in one transaction (the variants already validated)."""
    with transaction.atomic():
        experiment = Experiment.objects.create(tenant_id=tenant_id, **fields)
        Variant.objects.bulk_create([Variant(experiment=experiment, **v) for v in variants])
        tell_made(
            tenant_id=tenant_id,
            change=Change.EXPERIMENT_CREATED,
            target=experiment.name,
            now=_shown(experiment),
        )
    return experiment


def experiment_update(
    *, experiment: Experiment, fields: dict[str, Any], variants: list[dict[str, Any]] | None
) -> Experiment:
    """Its fields changed (turned off: it ends now), its variants matched by name and updated
    or added; none is removed, so users keep their variant."""
    if fields.get("active") is False and experiment.active:
        fields = {**fields, "ended_at": timezone.now()}
    with transaction.atomic():
        before = _shown(experiment)
        for name, value in fields.items():
            setattr(experiment, name, value)
        experiment.save()
        for data in variants or []:
            Variant.objects.update_or_create(experiment=experiment, name=data["name"], defaults=data)
        tell_changed(
            tenant_id=experiment.tenant_id,
            change=Change.EXPERIMENT_CHANGED,
            target=experiment.name,
            before=before,
            after=_shown(experiment),
        )
    return experiment


@transaction.atomic
def experiment_delete(*, experiment: Experiment) -> None:
    """The experiment and its assignments go (its users are back on the tenant's configuration)."""
    tell_gone(
        tenant_id=experiment.tenant_id,
        change=Change.EXPERIMENT_DELETED,
        target=experiment.name,
        was=_shown(experiment),
    )
    experiment.delete()


def active_experiment(*, tenant_id: int) -> Experiment | None:
    """The tenant's running experiment (the oldest, should several be active)."""
    return Experiment.objects.for_tenant(tenant_id).filter(active=True).order_by("created_at").first()


def assign(*, experiment: Experiment, user_id: int) -> Variant:
    """The user's variant in ``experiment``: stored the first time, then always the same."""
    existing = (
        ExperimentAssignment.objects.for_tenant(experiment.tenant_id)
        .select_related("variant")
        .filter(experiment=experiment, user_id=user_id)
        .first()
    )
    if existing is not None:
        return existing.variant
    variants = list(experiment.variants.order_by("id"))
    chosen = variant_for_bucket(variants, bucket(experiment_id=experiment.pk, user_id=user_id))
    try:
        with transaction.atomic():
            ExperimentAssignment.objects.create(
                tenant_id=experiment.tenant_id, experiment=experiment, user_id=user_id, variant=chosen
            )
    except IntegrityError:  # assigned meanwhile (another tab, another instance): theirs stands
        return (
            ExperimentAssignment.objects.for_tenant(experiment.tenant_id)
            .get(experiment=experiment, user_id=user_id)
            .variant
        )
    return chosen


@dataclass(frozen=True, slots=True)
class Overrides:
    variant_id: int
    system_prompt: str
    model: str
    temperature: float | None
    max_tokens: int | None

    @classmethod
    def of(cls, variant: Variant) -> "Overrides":
        return cls(
            variant_id=variant.pk,
            system_prompt=variant.system_prompt,
            model=variant.model,
            temperature=variant.temperature,
            max_tokens=variant.max_tokens,
        )

    def apply(self, config: ChatConfig) -> ChatConfig:
        """The variant's values over the tenant's; a variant that sets a model turns model
        routing off (routing would otherwise replace the model under test)."""
        return replace(
            config,
            system_prompt=self.system_prompt or config.system_prompt,
            model=self.model or config.model,
            routing={} if self.model else config.routing,
            temperature=config.temperature if self.temperature is None else self.temperature,
            max_tokens=self.max_tokens or config.max_tokens,
        )
