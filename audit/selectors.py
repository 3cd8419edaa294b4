"""Reading the audit log, inside one tenant."""

from datetime import date

from django.db.models import QuerySet

from audit.models import AuditEntry


def audit_entries(
    *, tenant_id: int, action: str = "", actor: str = "", start: date | None = None, end: date | None = None
) -> QuerySet[AuditEntry]:
    """The tenant's entries, newest first; ``action``: one action or a family ("member.");
    ``actor``: a username; ``start``/``end``: days, both included."""
    entries = AuditEntry.objects.for_tenant(tenant_id)
    if action:
        entries = (
            entries.filter(action__startswith=action)
            if action.endswith(".")
            else entries.filter(action=action)
        )
    if actor:
        entries = entries.filter(actor_name=actor)
    if start is not None:
        entries = entries.filter(created_at__date__gte=start)
    if end is not None:
        entries = entries.filter(created_at__date__lte=end)
    return entries.order_by("-id")
