"""What the support team's inbox shows: the tenant's conversations handed to a human, waiting or
held, newest request first, with who asked (a member, or a widget visitor with the name and
e-mail the tenant's server gave), what the conversation cost and its CSAT."""

from dataclasses import dataclass
from typing import Any, Literal

from django.db.models import Count, Q, QuerySet, Sum

from chat.models import Conversation, Handoff, Message
from inbox.frames import Counts
from inbox.models import Note
from widget.models import Visitor

View = Literal["mine", "unassigned", "all"]
VIEWS: tuple[View, ...] = ("mine", "unassigned", "all")


@dataclass(frozen=True, slots=True)
class InboxQuery:
    tenant_id: int
    agent_id: int
    view: View = "all"
    # Words in the title, the reason, or the user's name or e-mail.
    search: str = ""
    # "chat" (the chat page) or "site:<id>" (a widget site); "" for every channel.
    channel: str = ""


def _in_inbox(tenant_id: int) -> QuerySet[Conversation]:
    return Conversation.objects.for_tenant(tenant_id).filter(
        handoff__in=(Handoff.WAITING, Handoff.HUMAN), deleted_at__isnull=True
    )


def inbox_conversations(query: InboxQuery) -> QuerySet[Conversation]:
    conversations = (
        _in_inbox(query.tenant_id).select_related("user", "assignee").annotate(cost=Sum("messages__cost_usd"))
    )
    if query.view == "mine":
        conversations = conversations.filter(assignee_id=query.agent_id)
    elif query.view == "unassigned":
        conversations = conversations.filter(assignee__isnull=True)
    for word in query.search.split()[:5]:
        conversations = conversations.filter(
            Q(title__icontains=word)
            | Q(escalation_reason__icontains=word)
            | Q(user__username__icontains=word)
            | Q(user__first_name__icontains=word)
            | Q(user__email__icontains=word)
        )
    if query.channel == "chat":
        conversations = conversations.filter(site_id__isnull=True)
    elif query.channel.startswith("site:") and query.channel[5:].isdigit():
        conversations = conversations.filter(site_id=int(query.channel[5:]))
    return conversations.order_by("-escalated_at", "-id")


def inbox_counts(*, tenant_id: int, agent_id: int) -> Counts:
    """What the inbox's tabs show: one aggregate over the tenant's inbox."""
    counts = _in_inbox(tenant_id).aggregate(
        all=Count("pk"),
        waiting=Count("pk", filter=Q(handoff=Handoff.WAITING)),
        unassigned=Count("pk", filter=Q(assignee__isnull=True)),
        mine=Count("pk", filter=Q(assignee_id=agent_id)),
    )
    return {
        "waiting": counts["waiting"],
        "unassigned": counts["unassigned"],
        "mine": counts["mine"],
        "all": counts["all"],
    }


def who_asked(tenant_id: int, conversations: list[Conversation]) -> dict[int, dict[str, Any]]:
    """Per user id: a member (their username) or a visitor (their site, name, e-mail, verified)."""
    user_ids = {c.user_id for c in conversations}
    visitors = {
        v.user_id: v
        for v in Visitor.objects.for_tenant(tenant_id).filter(user_id__in=user_ids).select_related("site")
    }
    people: dict[int, dict[str, Any]] = {}
    for c in conversations:
        visitor = visitors.get(c.user_id)
        if visitor is None:
            people[c.user_id] = {"kind": "member", "name": c.user.username}
        else:
            people[c.user_id] = {
                "kind": "visitor",
                "name": visitor.name or str(visitor),
                "email": visitor.email,
                "verified": visitor.verified,
                "site": visitor.site.name if visitor.site is not None else None,
            }
    return people


def inbox_conversation(
    *, tenant_id: int, conversation_id: int
) -> tuple[Conversation, list[dict[str, Any]]] | None:
    """A conversation of the inbox and its transcript for the team: messages (with sources, tool
    calls, attachments, cost) and private notes, in the order they were written; None when it is
    not in the tenant's inbox."""
    conversation = (
        _in_inbox(tenant_id)
        .filter(pk=conversation_id)
        .select_related("user", "assignee")
        .annotate(cost=Sum("messages__cost_usd"))
        .first()
    )
    if conversation is None:
        return None
    messages = (
        Message.objects.for_tenant(tenant_id)
        .filter(conversation_id=conversation_id, replaced_by__isnull=True)
        .select_related("author")
        .prefetch_related("files")
        .order_by("id")
    )
    items: list[dict[str, Any]] = [
        {
            "id": m.pk,
            "kind": "message",
            "role": m.role,
            "author": m.author.username if m.author is not None else None,
            "content": m.content,
            "created_at": m.created_at,
            "sources": m.sources or [],
            "tool_calls": m.tool_calls or [],
            "attachments": [
                {
                    "id": f.pk,
                    "filename": f.filename,
                    "content_type": f.content_type,
                    "size_bytes": f.size_bytes,
                }
                for f in m.files.all()
            ],
            "rating": m.rating,
            "cost_usd": m.cost_usd,
            "model": m.model,
        }
        for m in messages
    ]
    notes = (
        Note.objects.for_tenant(tenant_id).filter(conversation_id=conversation_id).select_related("author")
    )
    items += [
        {
            "id": n.pk,
            "kind": "note",
            "role": "note",
            "author": n.author.username if n.author is not None else None,
            "content": n.content,
            "created_at": n.created_at,
        }
        for n in notes
    ]
    items.sort(key=lambda item: item["created_at"])
    return conversation, items
