"""Telling people outside the console that a conversation waits for a human: the e-mail (to the
tenant's escalation address, and to its agents when none of them is online) with the transcript
and a link to the conversation in the inbox, once per conversation. (Each handoff move is the
event ``conversation.handoff``, delivered by the webhooks: ``inbox.services``.)"""

from datetime import datetime

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from chat.history.background import transcript
from chat.models import Conversation, Message
from inbox.presence import agents_online
from tenants.models import AGENT_ROLES, Membership, Tenant

log = structlog.stdlib.get_logger(__name__)


def inbox_link(conversation_id: int) -> str:
    """The conversation in the inbox page, for the tenant's agents (sign-in first)."""
    return f"{settings.SITE_URL}{reverse('inbox:page')}?conversation={conversation_id}"


def escalation_email_send(*, tenant_id: int, conversation_id: int, asking: str, now: datetime) -> bool:
    """The transcript and a link to the conversation in the inbox, once. ``asking``: the user's
    message that asked for a human, when they asked in words (stored only with its answer, so
    maybe not yet: it ends the transcript then)."""
    with transaction.atomic():
        conversation = (
            Conversation.objects.for_tenant(tenant_id)
            .select_for_update(of=("self",))
            .select_related("user", "tenant")
            .filter(pk=conversation_id)
            .first()
        )
        if (
            conversation is None
            or conversation.escalation_emailed_at is not None
            or not conversation.escalated
        ):
            return False
        tenant = conversation.tenant
        recipients = _recipients(tenant, now)
        if not recipients:
            log.warning("inbox.escalation_no_address", conversation_id=conversation_id)
            return False
        messages = list(
            Message.objects.for_tenant(tenant_id)
            .filter(conversation_id=conversation_id, replaced_by__isnull=True)
            .order_by("id")
        )
        lines = transcript(messages)
        if asking and not any(m.role == "user" and m.content == asking for m in messages[-2:]):
            lines = f"{lines}\nuser: {asking}".lstrip("\n")
        body = (
            f"{conversation.user.get_username()} asked for a human in a conversation with the "
            f"{tenant.name} assistant.\n\nReason: {conversation.escalation_reason or '(none given)'}\n"
            f"Answer it in the inbox: {inbox_link(conversation_id)}\n\nTranscript:\n\n{lines}\n"
        )
        send_mail(
            subject=f"[{tenant.name}] Escalated conversation #{conversation_id}",
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
        conversation.escalation_emailed_at = now
        conversation.save(update_fields=["escalation_emailed_at"])
    return True


def _recipients(tenant: Tenant, now: datetime) -> list[str]:
    """The escalation address; and the agents' own addresses while none of them is online."""
    recipients = {tenant.escalation_email} - {""}
    if not agents_online(tenant_id=tenant.pk, now=now):
        recipients |= set(
            Membership.objects.for_tenant(tenant)
            .filter(role__in=AGENT_ROLES, active=True, user__is_active=True)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    return sorted(recipients)
