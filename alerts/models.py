"""A tenant's alert rules (the brief's monitoring table, editable per tenant) and the alerts
they opened (``alerts.evaluation``)."""

from django.conf import settings
from django.db import models

from tenants.scoping import TenantOwnedModel


class Metric(models.TextChoices):
    RESPONSE_P50_S = "response_p50_s", "response time p50 (s)"
    RESPONSE_P99_S = "response_p99_s", "response time p99 (s)"
    RESOLUTION_RATE = "resolution_rate", "resolution rate"
    ESCALATION_RATE = "escalation_rate", "escalation rate"
    ERROR_RATE = "error_rate", "error rate"
    ACTIVE_USERS_DROP = "active_users_drop", "daily active users, drop week over week"
    COST_PER_CONVERSATION = "cost_per_conversation", "cost per conversation (USD)"
    CSAT = "csat", "CSAT (1-5)"
    SAFETY_SPIKE = "safety_spike", "safety violations blocked, times their usual rate"
    FIRST_HUMAN_REPLY_P90_S = "first_human_reply_p90_s", "time to a person's first reply p90 (s)"


class AlertRule(TenantOwnedModel):
    class Direction(models.TextChoices):
        ABOVE = "above"
        BELOW = "below"

    metric = models.CharField(max_length=32, choices=Metric.choices)
    direction = models.CharField(max_length=5, choices=Direction.choices)
    threshold = models.FloatField()
    # The figure is computed over the last ``window_minutes``.
    window_minutes = models.PositiveIntegerField(default=60)
    # Below this many conversations (answers, for the time and error figures) in the window the
    # rule does not fire: a rate over three conversations says nothing.
    min_samples = models.PositiveIntegerField(default=10)
    # An open alert resolves once the figure is this fraction past the threshold on the good
    # side (hysteresis: a figure hovering at the threshold does not flap).
    hysteresis = models.FloatField(default=0.1)
    muted = models.BooleanField(default=False)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "metric"], name="alert_rule_per_metric")]

    def __str__(self) -> str:
        return f"{self.metric} {self.direction} {self.threshold:g}"

    def crossed(self, value: float) -> bool:
        return value > self.threshold if self.direction == self.Direction.ABOVE else value < self.threshold

    def recovered(self, value: float) -> bool:
        margin = abs(self.threshold) * self.hysteresis
        if self.direction == self.Direction.ABOVE:
            return value <= self.threshold - margin
        return value >= self.threshold + margin


class Alert(TenantOwnedModel):
    class State(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    value = models.FloatField()  # the figure when it opened
    last_value = models.FloatField()  # the figure at the last evaluation
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # When its opening and its resolution were notified (each once: ``alerts.notify``).
    notified_opened_at = models.DateTimeField(null=True, blank=True)
    notified_resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["rule"], condition=models.Q(state="open"), name="one_open_alert_per_rule"
            )
        ]
        indexes = [models.Index(fields=["tenant", "-opened_at"], name="alert_tenant_opened")]
