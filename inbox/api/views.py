"""``/api/v1/inbox/``: the conversations handed to a human, for the tenant's support team
(agents, and owners and admins acting as agents): ``?view=mine|unassigned|all``, newest request
first; ``{id}/take/`` (the caller holds it), ``{id}/assign/`` (owners and admins give it to an
agent), ``{id}/reply/`` (the holder writes to the user), ``{id}/hand-back/`` (back to the
assistant). Another tenant's id, or a conversation not
in the inbox, is a 404; members, viewers and visitors have no inbox."""

from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.selectors import VIEWS, InboxQuery, inbox_conversations, who_asked
from inbox.services import (
    HeldByAnother,
    NotAnAgent,
    NotInInbox,
    conversation_assign,
    conversation_hand_back,
    conversation_reply,
    conversation_take,
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
        rows = list(
            inbox_conversations(
                InboxQuery(self.caller.tenant_id, self.caller.user_id, query.validated_data["view"])
            )[:200]
        )
        people = who_asked(self.caller.tenant_id, rows)
        items: list[dict[str, Any]] = [
            {
                "id": c.pk,
                "title": c.title,
                "handoff": c.handoff,
                "assignee": c.assignee.username if c.assignee is not None else None,
                "assigned_at": c.assigned_at,
                "requested_at": c.escalated_at,
                "reason": c.escalation_reason,
                "who": people[c.user_id],
                "site": c.site_id,
                "message_count": c.message_count,
                "cost_usd": c.cost or 0,  # type: ignore[attr-defined]
                "rating": c.rating,
                "last_message_at": c.last_message_at,
            }
            for c in rows
        ]
        return Response(InboxItemSerializer(items, many=True).data)


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


class ReplyView(_InboxEndpoint):
    """The agent who holds the conversation writes to its user (``agent_message`` on their
    sockets); another agent's conversation is a 409 (take it first)."""

    class ReplySerializer(serializers.Serializer):
        content = serializers.CharField(max_length=8000, trim_whitespace=True)

    @extend_schema(
        request=inline_serializer("InboxReply", {"content": serializers.CharField()}),
        responses={201: inline_serializer("InboxReplied", {"id": serializers.IntegerField()})},
    )
    def post(self, request: Request, pk: int) -> Response:
        body = self.ReplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = conversation_reply(
            tenant_id=self.caller.tenant_id,
            conversation_id=pk,
            agent=request.user,
            content=body.validated_data["content"],
            now=timezone.now(),
        )
        return Response({"id": message.pk}, status=status.HTTP_201_CREATED)


class HandBackView(_InboxEndpoint):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, pk: int) -> Response:
        conversation_hand_back(tenant_id=self.caller.tenant_id, conversation_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
