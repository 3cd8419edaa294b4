"""``/api/v1/inbox/``: the conversations handed to a human, for the tenant's support team
(agents, and owners and admins acting as agents): ``?view=mine|unassigned|all`` (``q``: words,
``channel``: chat or site:<id>), newest request first; ``{id}/`` (the whole transcript, with
the team's private notes), ``{id}/take/`` (the caller holds it), ``{id}/assign/`` (owners and
admins give it to an agent), ``{id}/reply/`` (the holder writes to the user), ``{id}/notes/``
(a private note), ``{id}/hand-back/`` (back to the assistant), ``{id}/resolve/`` (solved);
``agents/`` (the team and who is online). Another tenant's id, or a conversation not in the
inbox, is a 404; members, viewers and visitors have no inbox."""

from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.presence import agents_presence
from inbox.selectors import (
    VIEWS,
    InboxQuery,
    inbox_conversation,
    inbox_conversations,
    inbox_counts,
    who_asked,
)
from inbox.services import (
    HeldByAnother,
    NotAnAgent,
    NotInInbox,
    conversation_assign,
    conversation_hand_back,
    conversation_reply,
    conversation_resolve_by_agent,
    conversation_take,
    note_add,
)
from tenants.api.base import TenantEndpoint
from tenants.api.errors import Conflict
from tenants.models import AGENT_ROLES, MANAGER_ROLES


class InboxItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    handoff = serializers.CharField(help_text="'waiting' for a human, or 'human': held by the assignee")
    assignee = serializers.CharField(allow_null=True, help_text="the agent's username")
    assigned_at = serializers.DateTimeField(allow_null=True)
    requested_at = serializers.DateTimeField(allow_null=True, help_text="when a human was asked for")
    reason = serializers.CharField()
    who = serializers.DictField(help_text="kind: member (name) or visitor (name, email, verified, site)")
    site = serializers.IntegerField(allow_null=True, help_text="the widget site (None: the chat page)")
    message_count = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=8)
    rating = serializers.IntegerField(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)


class InboxQuerySerializer(serializers.Serializer):
    view = serializers.ChoiceField(choices=VIEWS, default="all")
    q = serializers.CharField(required=False, default="", max_length=200, allow_blank=True)
    channel = serializers.RegexField(r"^(chat|site:\d{1,18})$", required=False, default="")


class TranscriptItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="'message', or 'note' (the team's, never the user's)")
    role = serializers.CharField(help_text="user, assistant, agent; 'note' for a note")
    author = serializers.CharField(
        allow_null=True, help_text="the agent's username (an agent's reply, a note)"
    )
    content = serializers.CharField()
    created_at = serializers.DateTimeField()
    sources = serializers.ListField(required=False, help_text="the knowledge an answer cites")
    tool_calls = serializers.ListField(required=False, help_text="the tools an answer called")
    attachments = serializers.ListField(required=False, help_text="id, filename, content_type, size_bytes")
    rating = serializers.IntegerField(allow_null=True, required=False)
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=8, required=False)
    model = serializers.CharField(required=False)


class _InboxEndpoint(TenantEndpoint, APIView):
    """The inbox's refusals become the API's errors here, once for every view."""

    readers = writers = AGENT_ROLES
    subject = "the inbox"

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, NotInInbox):
            exc = NotFound("no such conversation in the inbox")
        elif isinstance(exc, NotAnAgent):
            exc = serializers.ValidationError({"agent": ["not an agent of this workspace"]})
        elif isinstance(exc, HeldByAnother):
            exc = Conflict(f"{exc} holds this conversation: take it first")
        return super().handle_exception(exc)


class InboxView(_InboxEndpoint):
    @extend_schema(
        parameters=[OpenApiParameter("view", str, enum=list(VIEWS), description="default: all")],
        responses=InboxItemSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = InboxQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        rows = list(
            inbox_conversations(
                InboxQuery(
                    self.caller.tenant_id, self.caller.user_id, data["view"], data["q"], data["channel"]
                )
            )[:200]
        )
        people = who_asked(self.caller.tenant_id, rows)
        items = [_item(c, people[c.user_id]) for c in rows]
        return Response(InboxItemSerializer(items, many=True).data)


def _item(c: Any, who: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": c.pk,
        "title": c.title,
        "handoff": c.handoff,
        "assignee": c.assignee.username if c.assignee is not None else None,
        "assigned_at": c.assigned_at,
        "requested_at": c.escalated_at,
        "reason": c.escalation_reason,
        "who": who,
        "site": c.site_id,
        "message_count": c.message_count,
        "cost_usd": c.cost or 0,
        "rating": c.rating,
        "last_message_at": c.last_message_at,
    }


class ConversationView(_InboxEndpoint):
    """One conversation of the inbox with its whole transcript: the user's messages, the bot's
    answers with their sources and tool calls, attachments, agents' replies, and the team's
    private notes, in order."""

    @extend_schema(
        responses=inline_serializer(
            "InboxConversation",
            {
                "conversation": InboxItemSerializer(),
                "transcript": TranscriptItemSerializer(many=True),
            },
        )
    )
    def get(self, request: Request, pk: int) -> Response:
        found = inbox_conversation(tenant_id=self.caller.tenant_id, conversation_id=pk)
        if found is None:
            raise NotInInbox(pk)
        conversation, transcript = found
        who = who_asked(self.caller.tenant_id, [conversation])[conversation.user_id]
        return Response(
            {
                "conversation": InboxItemSerializer(_item(conversation, who)).data,
                "transcript": TranscriptItemSerializer(transcript, many=True).data,
            }
        )


class TakeView(_InboxEndpoint):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, pk: int) -> Response:
        conversation_take(
            tenant_id=self.caller.tenant_id, conversation_id=pk, agent=request.user, now=timezone.now()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class AssignView(_InboxEndpoint):
    writers = MANAGER_ROLES

    @extend_schema(
        request=inline_serializer("InboxAssign", {"agent": serializers.CharField(help_text="a username")}),
        responses={204: None},
    )
    def post(self, request: Request, pk: int) -> Response:
        body = self.AssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        agent = get_user_model().objects.filter(username=body.validated_data["agent"]).first()
        conversation_assign(
            tenant_id=self.caller.tenant_id, conversation_id=pk, agent=agent, now=timezone.now()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    class AssignSerializer(serializers.Serializer):
        agent = serializers.CharField(max_length=150)


class ContentSerializer(serializers.Serializer):
    content = serializers.CharField(max_length=8000, trim_whitespace=True)


def _content(request: Request) -> str:
    """What an agent wrote (a reply, a note): 400 when it is empty or too long."""
    body = ContentSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    return str(body.validated_data["content"])


def _created(pk: int) -> Response:
    return Response({"id": pk}, status=status.HTTP_201_CREATED)


class ReplyView(_InboxEndpoint):
    """The agent who holds the conversation writes to its user (``agent_message`` on their
    sockets); another agent's conversation is a 409 (take it first)."""

    @extend_schema(
        request=inline_serializer("InboxReply", {"content": serializers.CharField()}),
        responses={201: inline_serializer("InboxReplied", {"id": serializers.IntegerField()})},
    )
    def post(self, request: Request, pk: int) -> Response:
        message = conversation_reply(
            tenant_id=self.caller.tenant_id,
            conversation_id=pk,
            agent=request.user,
            content=_content(request),
            now=timezone.now(),
        )
        return _created(message.pk)


class HandBackView(_InboxEndpoint):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, pk: int) -> Response:
        conversation_hand_back(tenant_id=self.caller.tenant_id, conversation_id=pk, now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ResolveView(_InboxEndpoint):
    """Solved by the team: out of the inbox and resolved; the user's next message goes to the
    assistant."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, pk: int) -> Response:
        conversation_resolve_by_agent(tenant_id=self.caller.tenant_id, conversation_id=pk, now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotesView(_InboxEndpoint):
    """A private note for the team (any agent, whoever holds the conversation)."""

    @extend_schema(
        request=inline_serializer("InboxNote", {"content": serializers.CharField()}),
        responses={201: inline_serializer("InboxNoted", {"id": serializers.IntegerField()})},
    )
    def post(self, request: Request, pk: int) -> Response:
        note = note_add(
            tenant_id=self.caller.tenant_id, conversation_id=pk, agent=request.user, content=_content(request)
        )
        return _created(note.pk)


class AgentsView(_InboxEndpoint):
    """The support team: each agent's username, the name users see and their state (online,
    away, offline); and the caller's counts."""

    @extend_schema(
        responses=inline_serializer(
            "InboxAgents",
            {
                "agents": serializers.ListField(child=serializers.DictField()),
                "counts": serializers.DictField(child=serializers.IntegerField()),
            },
        )
    )
    def get(self, request: Request) -> Response:
        tenant_id = self.caller.tenant_id
        return Response(
            {
                "agents": agents_presence(tenant_id=tenant_id, now=timezone.now()),
                "counts": inbox_counts(tenant_id=tenant_id, agent_id=self.caller.user_id),
            }
        )
