"""Deliveries: an event becomes one delivery per endpoint that subscribes to it (and the tenant's
alert webhook for alerts and handoff moves), queued when the event's transaction commits; each
is POSTed by the guarded outbound client (``tools.webhook``: HTTPS, public addresses only, no
redirect, no placeholder ever expanded), signed with the endpoint's secret over a timestamp and
the body; a failed try is tried again after 30 s, 2 min, 10 min, 1 h and 6 h (Celery beat picks
the due ones: no countdown outlives the broker's visibility timeout); an endpoint whose
deliveries fail ``WEBHOOK_DISABLE_AFTER`` times in a row is turned off, which the audit log
records and its tenant's owners are told by e-mail."""

import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from tenants.changes import Change, differences, shown, tell, tell_made
from tenants.events import Event
from tenants.models import MANAGER_ROLES, Tenant
from tenants.selectors import member_emails
from tools.webhook import webhook_send
from webhooks.models import Delivery, DeliveryStatus, Endpoint

log = structlog.stdlib.get_logger(__name__)

# After the first try: the waits before each next one.
RETRY_AFTER = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)
# The tenant's alert webhook (``Tenant.alert_webhook_url``) receives these.
ALERT_WEBHOOK_EVENTS = frozenset({Event.ALERT_OPENED, Event.ALERT_RESOLVED, Event.CONVERSATION_HANDOFF})

# Which endpoints listen, per tenant, for a few seconds: an answer's event costs no query when
# nobody listens (most tenants), and a new endpoint is heard within ``_SUBSCRIBERS_TTL_S``.
_SUBSCRIBERS_TTL_S = 5.0
_subscribers: dict[int, tuple[float, list[tuple[int, str, frozenset[str]]]]] = {}


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def _listening(tenant_id: int) -> list[tuple[int, str, frozenset[str]]]:
    now = time.monotonic()
    found = _subscribers.get(tenant_id)
    if found is None or found[0] < now:
        rows = Endpoint.objects.for_tenant(tenant_id).filter(active=True).values_list("pk", "url", "events")
        found = _subscribers[tenant_id] = (
            now + _SUBSCRIBERS_TTL_S,
            [(pk, url, frozenset(ev)) for pk, url, ev in rows],
        )
    return found[1]


def endpoints_changed(tenant_id: int) -> None:
    """An endpoint was added, changed or removed: heard at once in this process."""
    _subscribers.pop(tenant_id, None)


# The alert webhook has always named its alert events so; every other receiver gets the event's name.
_ALERT_WEBHOOK_NAMES: dict[str, str] = {Event.ALERT_OPENED: "opened", Event.ALERT_RESOLVED: "resolved"}


def payload_of(*, slug: str, event: str, data: dict[str, Any], alert_webhook: bool) -> dict[str, Any]:
    """What is POSTed: the event's fields beside ``id`` (the same on a redelivery: a receiver
    that keeps it can drop a repeat), ``event``, ``tenant`` and ``created_at``."""
    name = _ALERT_WEBHOOK_NAMES.get(event, event) if alert_webhook else event
    return {
        **data,
        "id": str(uuid.uuid4()),
        "event": name,
        "tenant": slug,
        "created_at": timezone.now().isoformat(),
    }


def deliveries_queue(*, tenant_id: int, event: str, data: dict[str, Any]) -> list[int]:
    """The event's deliveries, written now and sent once the caller's transaction commits."""
    targets: list[tuple[int | None, str]] = [
        (pk, url) for pk, url, events in _listening(tenant_id) if event in events
    ]
    if not targets and event not in ALERT_WEBHOOK_EVENTS:
        return []  # an answer's event, when nobody listens: no query
    tenant = Tenant.objects.filter(pk=tenant_id).values("slug", "alert_webhook_url").first()
    if tenant is None:
        return []
    if event in ALERT_WEBHOOK_EVENTS and tenant["alert_webhook_url"]:
        targets.append((None, tenant["alert_webhook_url"]))
    if not targets:
        return []
    slug = tenant["slug"]
    rows = [
        Delivery(
            tenant_id=tenant_id,
            endpoint_id=endpoint_id,
            url=url,
            event=event,
            payload=payload_of(slug=slug, event=event, data=data, alert_webhook=endpoint_id is None),
            next_attempt_at=timezone.now(),
        )
        for endpoint_id, url in targets
    ]
    created = Delivery.objects.bulk_create(rows)
    ids = [delivery.pk for delivery in created]
    transaction.on_commit(lambda: _send_soon(tenant_id, ids))
    return ids


def _send_soon(tenant_id: int, ids: Sequence[int]) -> None:
    from webhooks.tasks import deliver

    for delivery_id in ids:
        deliver.delay(tenant_id, delivery_id)


def _secret_of(delivery: Delivery) -> str:
    if delivery.endpoint_id is not None:
        return delivery.endpoint.secret  # type: ignore[union-attr]
    return (
        Tenant.objects.filter(pk=delivery.tenant_id).values_list("alert_webhook_secret", flat=True).first()
        or ""
    )


def delivery_attempt(*, tenant_id: int, delivery_id: int, now: datetime) -> str:
    """One try of a pending delivery that is due (another worker's claim wins: nothing twice);
    its status after."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.for_tenant(tenant_id)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return "not due"
        if delivery.endpoint is not None and not delivery.endpoint.active:
            delivery.status, delivery.last_error = DeliveryStatus.FAILED, "the endpoint is turned off"
            delivery.next_attempt_at = None
            delivery.save(update_fields=["status", "last_error", "next_attempt_at"])
            return delivery.status
        # Claimed while it is being sent: a second worker finds it not due.
        delivery.next_attempt_at = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_S * 3)
        delivery.save(update_fields=["next_attempt_at"])
    headers = {"X-Chatplatform-Event": delivery.event, "X-Chatplatform-Delivery": delivery.payload["id"]}
    error = webhook_send(
        url=delivery.url, secret=_secret_of(delivery), payload=delivery.payload, headers=headers
    )
    return _record(delivery, error=error, now=now)


def _record(delivery: Delivery, *, error: str | None, now: datetime) -> str:
    delivery.attempts += 1
    delivery.last_attempt_at = now
    if error is None:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, now, None
        delivery.last_error = ""
    elif delivery.attempts <= len(RETRY_AFTER):
        delivery.next_attempt_at, delivery.last_error = now + RETRY_AFTER[delivery.attempts - 1], error[:300]
    else:
        delivery.status, delivery.next_attempt_at, delivery.last_error = (
            DeliveryStatus.FAILED,
            None,
            error[:300],
        )
    with transaction.atomic():
        delivery.save(
            update_fields=[
                "attempts",
                "last_attempt_at",
                "status",
                "delivered_at",
                "next_attempt_at",
                "last_error",
            ]
        )
        if delivery.endpoint_id is not None and delivery.status != DeliveryStatus.PENDING:
            _endpoint_outcome(delivery)
    return delivery.status


def _endpoint_outcome(delivery: Delivery) -> None:
    endpoints = Endpoint.objects.for_tenant(delivery.tenant_id).filter(pk=delivery.endpoint_id)
    if delivery.status == DeliveryStatus.SUCCEEDED:
        endpoints.exclude(failures_in_a_row=0).update(failures_in_a_row=0)
        return
    endpoint = endpoints.select_for_update().first()
    if endpoint is None or not endpoint.active:
        return
    endpoint.failures_in_a_row += 1
    if endpoint.failures_in_a_row >= settings.WEBHOOK_DISABLE_AFTER:
        endpoint.active = False
        endpoint.disabled_reason = (
            f"{endpoint.failures_in_a_row} deliveries failed in a row: {delivery.last_error}"[:200]
        )
        tell(
            tenant_id=endpoint.tenant_id,
            change=Change.WEBHOOK_DISABLED,
            target=endpoint.url,
            changes={"active": [True, False], "reason": [None, endpoint.disabled_reason]},
        )
        transaction.on_commit(lambda: _tell_owners(endpoint))
    endpoint.save(update_fields=["failures_in_a_row", "active", "disabled_reason"])
    endpoints_changed(endpoint.tenant_id)


def _tell_owners(endpoint: Endpoint) -> None:
    recipients = member_emails(tenant_id=endpoint.tenant_id, roles=MANAGER_ROLES)
    if not recipients:
        return
    send_mail(
        subject="A webhook endpoint was turned off",
        message=(
            f"The webhook endpoint {endpoint.url} was turned off: {endpoint.disabled_reason}.\n"
            "Fix the receiver, then turn it on again in the console or with the API "
            '(PATCH /api/v1/webhooks/{id}/ {"active": true}); its failed deliveries can be sent again.'
        ),
        from_email=None,
        recipient_list=recipients,
    )


def redeliver(*, delivery: Delivery) -> Delivery:
    """The same event, the same payload id (a receiver that kept it sees a repeat), sent again now."""
    again = Delivery.objects.create(
        tenant_id=delivery.tenant_id,
        endpoint_id=delivery.endpoint_id,
        url=delivery.endpoint.url if delivery.endpoint is not None else delivery.url,
        event=delivery.event,
        payload=delivery.payload,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: _send_soon(again.tenant_id, [again.pk]))
    return again


def due_deliveries(*, now: datetime, limit: int = 500) -> list[tuple[int, int]]:
    """(tenant id, delivery id) of the pending deliveries whose time has come (beat)."""
    return list(
        Delivery.objects.unscoped()  # every tenant's, by the worker's sweep
        .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("tenant_id", "pk")[:limit]
    )


MAX_ENDPOINTS = 20
_SHOWN = ("url", "description", "events", "active")


def _shown(endpoint: Endpoint) -> dict[str, Any]:
    return shown(endpoint, _SHOWN)


def endpoint_create(*, tenant_id: int, user_id: int | None, fields: dict[str, Any]) -> Endpoint:
    """A new endpoint with a new secret (the caller shows it once)."""
    with transaction.atomic():
        endpoint = Endpoint.objects.create(
            tenant_id=tenant_id, created_by_id=user_id, secret=new_secret(), **fields
        )
        tell_made(
            tenant_id=tenant_id, change=Change.WEBHOOK_CREATED, target=endpoint.url, now=_shown(endpoint)
        )
    endpoints_changed(tenant_id)
    return endpoint


def endpoint_update(*, endpoint: Endpoint, fields: dict[str, Any]) -> Endpoint:
    """Turned on again by a person: its failure count starts over."""
    before = _shown(endpoint)
    for field, value in fields.items():
        setattr(endpoint, field, value)
    if fields.get("active") and not before["active"]:
        endpoint.failures_in_a_row, endpoint.disabled_reason = 0, ""
    with transaction.atomic():
        endpoint.save()
        tell(tenant_id=endpoint.tenant_id, change=Change.WEBHOOK_CHANGED, target=endpoint.url,
             changes=differences(before, _shown(endpoint)))  # fmt: skip
    endpoints_changed(endpoint.tenant_id)
    return endpoint


def endpoint_rotate_secret(*, endpoint: Endpoint) -> Endpoint:
    with transaction.atomic():
        endpoint.secret = new_secret()
        endpoint.save(update_fields=["secret"])
        tell(tenant_id=endpoint.tenant_id, change=Change.WEBHOOK_CHANGED, target=endpoint.url,
             changes={"secret": ["(changed)", "(changed)"]})  # fmt: skip
    return endpoint


def endpoint_delete(*, endpoint: Endpoint) -> None:
    with transaction.atomic():
        tell(tenant_id=endpoint.tenant_id, change=Change.WEBHOOK_DELETED, target=endpoint.url)
        endpoint.delete()
    endpoints_changed(endpoint.tenant_id)
