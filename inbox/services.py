"""The handoff's moves: a conversation waiting for a human goes to the online agent whose turn it
is (round robin) or is taken by one, an owner or admin assigns it, the agent writes to its user
and leaves notes for colleagues, hands it back to the assistant or resolves it, and it moves on
to the next agent when its assignee does not reply in time. Each move holds the conversation's
row lock (two agents taking it at once cannot both get it), is recorded, and once committed is
told to the user's sockets, to the team's inbox sockets and to the tenant's webhook."""

from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, QuerySet, Value
from django.db.models.functions import Coalesce

from chat.frames import RESOLVED, Frame, agent_message_frame, agent_typing_frame, handoff_frame
from chat.history.working_memory import Remembered, get_working_memory
from chat.models import Conversation, Handoff, Message, Role
from chat.push import push_event_sync, push_to_user, tell_inbox_sync
from chat.selectors import agent_name
from chat.services import message_add
from inbox.models import Assignment, Note
from inbox.presence import agents_online
from tenants.events import Event, emit
from tenants.models import AGENT_ROLES, Membership, Tenant


class NotInInbox(Exception):
    """The conversation is not handed to a human (or no longer the caller's to move)."""


class NotAnAgent(Exception):
    """The user named is not an active agent (or owner, or admin) of the tenant."""


class HeldByAnother(Exception):
    """Another agent holds the conversation: take it first."""


def _in_inbox(tenant_id: int, conversation_id: int) -> QuerySet[Conversation]:
    return Conversation.objects.for_tenant(tenant_id).filter(
        pk=conversation_id, handoff__in=(Handoff.WAITING, Handoff.HUMAN), deleted_at__isnull=True
    )


def _move(
    *,
    tenant_id: int,
    conversation_id: int,
    now: datetime,
    agent: Any | None = None,
    how: Assignment.How | None = None,
    to: Handoff = Handoff.HUMAN,
    resolve: bool = False,
) -> None:
    """The conversation is ``agent``'s from now (``to`` HUMAN), or waits for one again (WAITING),
    or is the assistant's again (BOT; ``resolve``: solved), in one locked update."""
    with transaction.atomic():
        conversation = _in_inbox(tenant_id, conversation_id).select_for_update().first()
        if conversation is None:
            raise NotInInbox(conversation_id)
        conversation.handoff = to
        conversation.assignee, conversation.assigned_at = (
            (agent, now) if to == Handoff.HUMAN else (None, None)
        )
        fields = ["handoff", "assignee", "assigned_at"]
        if resolve:
            conversation.resolved, conversation.resolved_at = True, now
            fields += ["resolved", "resolved_at"]
        conversation.save(update_fields=fields)
        if agent is not None and how is not None:
            Assignment.objects.create(
                tenant_id=tenant_id, conversation_id=conversation_id, agent=agent, how=how, created_at=now
            )
        state = "resolved" if resolve else (to or "bot")
        user_id, site_id = conversation.user_id, conversation.site_id
        transaction.on_commit(
            lambda: _announce(
                tenant_id,
                conversation_id,
                user_id=user_id,
                site_id=site_id,
                state=state,
                agent=agent,
                now=now,
            )
        )


def _announce(
    tenant_id: int,
    conversation_id: int,
    *,
    user_id: int,
    site_id: int | None,
    state: str,
    agent: Any | None,
    now: datetime,
) -> None:
    """A move, told: the user's sockets (``handoff``, and ``resolved``), the team's inbox
    sockets (``inbox``: the counts move), the tenant's webhook (``conversation.handoff``)."""
    frames: list[Frame] = []
    if state == Handoff.HUMAN:
        frames.append(handoff_frame(conversation_id=conversation_id, state="human", agent=agent_name(agent)))
    elif state in ("bot", "resolved"):
        frames.append(handoff_frame(conversation_id=conversation_id, state="bot"))
    if state == "resolved":
        frames.append(RESOLVED)
    for frame in frames:
        _tell(tenant_id, user_id, frame)
    tell_inbox_sync(
        tenant_id=tenant_id,
        event={
            "type": "inbox.changed",
            "conversation_id": conversation_id,
            "state": state,
            "assignee": agent.username if agent is not None else None,
        },
    )
    emit(
        tenant_id=tenant_id,
        event=Event.CONVERSATION_HANDOFF,
        data={
            "conversation_id": conversation_id,
            "state": state,
            "agent": agent.username if agent is not None else None,
            "channel": f"site:{site_id}" if site_id is not None else "chat",
            "at": now.isoformat(),
        },
    )
    if state == "resolved":
        emit(
            tenant_id=tenant_id,
            event=Event.CONVERSATION_RESOLVED,
            data={"conversation_id": conversation_id, "by": "agent", "at": now.isoformat()},
        )


def next_agent(*, tenant_id: int, now: datetime, besides: int | None = None) -> Any | None:
    """Round robin: of the agents online now (``besides`` excepted), the one never assigned a
    conversation, else the one assigned longest ago; None when nobody is online."""
    online = [user_id for user_id in agents_online(tenant_id=tenant_id, now=now) if user_id != besides]
    if not online:
        return None
    last = dict(
        Assignment.objects.for_tenant(tenant_id)
        .filter(agent_id__in=online)
        .values("agent_id")
        .annotate(last=Max("created_at"))
        .values_list("agent_id", "last")
    )
    chosen = min(online, key=lambda user_id: (user_id in last, last.get(user_id) or now, user_id))
    return get_user_model().objects.get(pk=chosen)


def conversation_route(*, tenant_id: int, conversation_id: int, now: datetime) -> Any | None:
    """A conversation that starts waiting for a human: given to the online agent whose turn it
    is when the tenant assigns automatically, else (or with nobody online) it waits, unassigned,
    for everyone's inbox. Returns the agent it went to."""
    auto = Tenant.objects.filter(pk=tenant_id).values_list("handoff_auto_assign", flat=True).first()
    agent = next_agent(tenant_id=tenant_id, now=now) if auto else None
    if agent is None:
        _move(tenant_id=tenant_id, conversation_id=conversation_id, now=now, to=Handoff.WAITING)
        return None
    _move(tenant_id=tenant_id, conversation_id=conversation_id, now=now, agent=agent, how=Assignment.How.AUTO)
    return agent


def waiting_route(*, tenant_id: int, now: datetime) -> int:
    """The tenant's unassigned waiting conversations, oldest request first, to the agents online
    (one each in turn): when an agent comes online, and every minute (``inbox.tasks``)."""
    if not Tenant.objects.filter(pk=tenant_id, handoff_auto_assign=True).exists():
        return 0
    routed = 0
    waiting = (
        Conversation.objects.for_tenant(tenant_id)
        .filter(handoff=Handoff.WAITING, deleted_at__isnull=True)
        .order_by("escalated_at", "id")
        .values_list("pk", flat=True)[:100]
    )
    for conversation_id in waiting:
        agent = next_agent(tenant_id=tenant_id, now=now)
        if agent is None:
            break
        try:
            _move(
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                now=now,
                agent=agent,
                how=Assignment.How.AUTO,
            )
        except NotInInbox:  # handed back or taken meanwhile
            continue
        routed += 1
    return routed


def overdue_reassign(*, tenant_id: int, reply_minutes: int, now: datetime) -> int:
    """Conversations whose assignee has not replied within ``reply_minutes`` of getting them:
    to the next online agent, else back to waiting, unassigned (chatwoot#13516)."""
    replied = Message.objects.for_tenant(tenant_id).filter(
        conversation=OuterRef("pk"),
        role=Role.AGENT,
        author=OuterRef("assignee"),
        created_at__gte=OuterRef("assigned_at"),
    )
    overdue = list(
        Conversation.objects.for_tenant(tenant_id)
        .filter(
            handoff=Handoff.HUMAN,
            assigned_at__lt=now - timedelta(minutes=reply_minutes),
            deleted_at__isnull=True,
        )
        .exclude(Exists(replied))
        .values_list("pk", "assignee_id")[:100]
    )
    for conversation_id, assignee_id in overdue:
        agent = next_agent(tenant_id=tenant_id, now=now, besides=assignee_id)
        try:
            if agent is None:
                _move(tenant_id=tenant_id, conversation_id=conversation_id, now=now, to=Handoff.WAITING)
            else:
                _move(
                    tenant_id=tenant_id,
                    conversation_id=conversation_id,
                    now=now,
                    agent=agent,
                    how=Assignment.How.REASSIGNED,
                )
        except NotInInbox:
            continue
    return len(overdue)


def conversation_take(*, tenant_id: int, conversation_id: int, agent: Any, now: datetime) -> None:
    """The agent holds the conversation: waiting, or held by another (taking over is allowed: a
    colleague who does not answer must not lock it)."""
    _move(
        tenant_id=tenant_id, conversation_id=conversation_id, now=now, agent=agent, how=Assignment.How.TAKEN
    )


def conversation_assign(*, tenant_id: int, conversation_id: int, agent: Any, now: datetime) -> None:
    """An owner or admin gives the conversation to ``agent`` (``NotAnAgent`` unless that user
    works the tenant's inbox)."""
    if agent is None or not (
        Membership.objects.for_tenant(tenant_id)
        .filter(user_id=agent.pk, role__in=AGENT_ROLES, active=True, user__is_active=True)
        .exists()
    ):
        raise NotAnAgent()
    _move(
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        now=now,
        agent=agent,
        how=Assignment.How.ASSIGNED,
    )


def conversation_hand_back(*, tenant_id: int, conversation_id: int, now: datetime) -> None:
    """Back to the assistant: the next message is the bot's to answer."""
    _move(tenant_id=tenant_id, conversation_id=conversation_id, now=now, to=Handoff.BOT)


def conversation_resolve_by_agent(*, tenant_id: int, conversation_id: int, now: datetime) -> None:
    """Solved by the team: out of the inbox, resolved; a new message goes to the assistant."""
    _move(tenant_id=tenant_id, conversation_id=conversation_id, now=now, to=Handoff.BOT, resolve=True)


def _held_by(tenant_id: int, conversation_id: int, agent: Any) -> Conversation:
    """The conversation, locked, when ``agent`` holds it (``HeldByAnother`` else)."""
    conversation = (
        _in_inbox(tenant_id, conversation_id)
        .select_for_update(of=("self",))
        .select_related("assignee")
        .first()
    )
    if conversation is None:
        raise NotInInbox(conversation_id)
    if conversation.handoff != Handoff.HUMAN or conversation.assignee_id != agent.pk:
        raise HeldByAnother(conversation.assignee.username if conversation.assignee else "nobody")
    return conversation


def conversation_reply(
    *, tenant_id: int, conversation_id: int, agent: Any, content: str, now: datetime
) -> Message:
    """The agent who holds the conversation writes to its user: stored (role ``agent``, its
    author), then, once committed, pushed to the user's sockets on every instance, to the team's
    inbox sockets, and kept in the bot's context for when the conversation is handed back."""
    with transaction.atomic():
        conversation = _held_by(tenant_id, conversation_id, agent)
        message = message_add(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            now=now,
            counted={"first_human_reply_at": Coalesce("first_human_reply_at", Value(now))},
            role=Role.AGENT,
            author=agent,
            content=content,
        )
        frame = agent_message_frame(
            conversation_id=conversation_id, message_id=message.pk, content=content, agent=agent_name(agent)
        )
        user_id = conversation.user_id
        event = {
            "type": "inbox.agent_message",
            "conversation_id": conversation_id,
            "message_id": message.pk,
            "content": content,
            "agent": agent.username,
        }

        def told() -> None:
            _tell(tenant_id, user_id, frame, Remembered(message.pk, Role.AGENT, content))
            tell_inbox_sync(tenant_id=tenant_id, event=event)

        transaction.on_commit(told)
    return message


async def agent_typing(
    *, tenant_id: int, user_id: int, conversation_id: int, active: bool, agent: str
) -> None:
    """The holder's typing, to the user's sockets (``agent_typing``)."""
    await push_to_user(
        tenant_id=tenant_id,
        user_id=user_id,
        frame=agent_typing_frame(conversation_id=conversation_id, active=active, agent=agent),
    )


def holder_user(*, tenant_id: int, conversation_id: int, agent_id: int) -> int | None:
    """The user of a conversation ``agent_id`` holds (whose sockets their typing reaches)."""
    return (
        _in_inbox(tenant_id, conversation_id)
        .filter(handoff=Handoff.HUMAN, assignee_id=agent_id)
        .values_list("user_id", flat=True)
        .first()
    )


def note_add(*, tenant_id: int, conversation_id: int, agent: Any, content: str) -> Note:
    """A private note for the team on a conversation in the inbox: shown to the team's inbox
    sockets, never to the user."""
    if not _in_inbox(tenant_id, conversation_id).exists():
        raise NotInInbox(conversation_id)
    note = Note.objects.create(
        tenant_id=tenant_id, conversation_id=conversation_id, author=agent, content=content
    )
    event = {
        "type": "inbox.note",
        "conversation_id": conversation_id,
        "note_id": note.pk,
        "content": content,
        "agent": agent.username,
    }
    transaction.on_commit(lambda: tell_inbox_sync(tenant_id=tenant_id, event=event))
    return note


def _tell(tenant_id: int, user_id: int, frame: Frame, remembered: Remembered | None = None) -> None:
    """``frame`` to the user's sockets; ``remembered`` into the conversation's working memory."""
    push_event_sync(tenant_id=tenant_id, user_id=user_id, event={"type": "user.push", "frame": frame})
    if remembered is not None:
        async_to_sync(get_working_memory().append)(
            tenant_id=tenant_id, conversation_id=frame["conversation_id"], items=[remembered]
        )
