"""A tenant's webhook endpoints and the log of what was delivered to them."""

from django.conf import settings
from django.db import models

from infra.outbound import validate_outbound_url
from tenants.events import EVENT_NAMES
from tenants.models import Tenant
from tenants.scoping import TenantOwnedModel


class Endpoint(TenantOwnedModel):
    """A URL of the tenant's that receives the events it subscribes to, each POST signed with
    its secret (``X-Chatplatform-Signature``: HMAC-SHA256 of ``"{timestamp}.{body}"``)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500, validators=[validate_outbound_url])
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)
    secret = models.CharField(max_length=64)
    active = models.BooleanField(default=True)
    # Why it was turned off by the platform ("" when on, or turned off by a person).
    disabled_reason = models.CharField(max_length=200, blank=True)
    # Deliveries that failed in a row (every try spent): at ``WEBHOOK_DISABLE_AFTER`` it is turned off.
    failures_in_a_row = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # to be tried (again) at ``next_attempt_at``
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # every try spent


class Delivery(TenantOwnedModel):
    """One event for one endpoint: its payload as sent, each try's outcome. ``endpoint`` null:
    the tenant's alert webhook (``Tenant.alert_webhook_url``: alerts and handoff moves), whose
    URL is kept here."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    url = models.URLField(max_length=500)
    event = models.CharField(max_length=40, choices=[(name, name) for name in EVENT_NAMES])
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-id"]
        indexes = [models.Index(fields=["tenant", "endpoint", "-id"], name="delivery_endpoint_newest")]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.url} ({self.status})"
