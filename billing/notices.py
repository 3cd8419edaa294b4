"""E-mails about money: a member's monthly token budget nearly spent (``chat.turns.budget_notice``
sends it once a month), to the tenant's owners and admins, and the event ``budget.threshold``."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from tenants.events import Event, emit
from tenants.models import MANAGER_ROLES, Tenant
from tenants.selectors import member_emails


def budget_warning_send(*, tenant_id: int, user_id: int, used: int, budget: int) -> int:
    """Returns how many addresses it was sent to."""
    tenant = Tenant.objects.get(pk=tenant_id)
    member = get_user_model().objects.get(pk=user_id)
    recipients = member_emails(tenant_id=tenant_id, roles=MANAGER_ROLES)
    emit(
        tenant_id=tenant_id,
        event=Event.BUDGET_THRESHOLD,
        data={"user_id": user_id, "username": member.get_username(), "used_tokens": used,
              "budget_tokens": budget, "share": round(used / budget, 4)},
    )  # fmt: skip
    if recipients:
        send_mail(
            subject=f"[{tenant.name}] {member.get_username()} has used {used / budget:.0%} of their tokens",
            message=(
                f"{member.get_username()} has used or holds {used:,} of their {budget:,} tokens this month "
                f"in {tenant.name}. At the limit their messages are refused until the 1st; raise it in "
                f"the members' settings ({settings.SITE_URL}/admin/tenants/membership/).\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
    return len(recipients)
