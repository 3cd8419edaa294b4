"""``/api/v1/conversations/``: the caller's tenant's conversations and their messages.

Owners, admins and viewers read every conversation of the tenant; members read their own.
Search is PostgreSQL full-text search over the messages (a plain substring match on SQLite).
Another tenant's conversation is a 404.
"""

from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from chat.models import ChatFile, Conversation, Handoff, Message
from chat.services import conversation_delete, conversation_rename
from infra.replicas import replica_reads
from knowledge.models import CuratedAnswer
from tenants.api.base import ALL_ROLES, TenantEndpoint
from tenants.api.queries import FromToQuery, Pages
from tenants.models import AGENT_ROLES, READER_ROLES, ApiKeyScope


class ConversationSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    variant = serializers.CharField(source="variant.name", default=None, read_only=True)
    assignee = serializers.CharField(source="assignee.username", default=None, read_only=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "user",
            "title",
            "summary",
            "started_at",
            "ended_at",
            "last_message_at",
            "message_count",
            "resolved",
            "escalated",
            "rating",
            "variant",
            "site",
            "handoff",
            "assignee",
            "deleted_at",
        ]
        read_only_fields = fields


class ConversationRenameSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, allow_blank=False, trim_whitespace=True)


class AttachedFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChatFile
        fields = ["id", "filename", "content_type", "size_bytes"]


class MessageSerializer(serializers.ModelSerializer):
    attachments = AttachedFileSerializer(source="files", many=True, read_only=True)
    author = serializers.CharField(
        source="author.username", default=None, read_only=True, help_text="the agent (role 'agent')"
    )
    saved_as_curated = serializers.BooleanField(
        default=False, read_only=True, help_text="an owner or admin saved this answer as a curated answer"
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "role",
            "author",
            "content",
            "client_id",
            "created_at",
            "model",
            "input_tokens",
            "output_tokens",
            "cached_input_tokens",
            "cached",
            "curated_answer",
            "route",
            "finish_reason",
            "ttft_ms",
            "latency_ms",
            "cost_usd",
            "rating",
            "feedback_comment",
            "sources",
            "tool_calls",
            "attachments",
            "saved_as_curated",
            "replaced_by",
        ]
        extra_kwargs = {
            "replaced_by": {
                "read_only": True,
                "help_text": "an earlier version: the question of the turn that replaced its turn "
                "(Regenerate, or edit and resend); null: the current version",
            }
        }


_ORDERINGS = {
    "-started_at": (F("started_at").desc(), F("id").desc()),
    "-last_message_at": (F("last_message_at").desc(nulls_last=True), F("id").desc()),
}


class ConversationFilters(FromToQuery):
    q = serializers.CharField(
        required=False, max_length=200, help_text="full-text search in the messages, or words of the title"
    )
    mine = serializers.BooleanField(required=False, default=False)
    ordering = serializers.ChoiceField(choices=list(_ORDERINGS), default="-started_at")
    user = serializers.CharField(required=False, help_text="username")
    rating = serializers.IntegerField(required=False, min_value=1, max_value=5)
    resolved = serializers.BooleanField(required=False, allow_null=True, default=None)
    escalated = serializers.BooleanField(required=False, allow_null=True, default=None)
    channel = serializers.CharField(
        required=False,
        max_length=40,
        help_text="'chat' (the chat page, clients) or 'site:<id>' (a widget site)",
    )

    def validate_channel(self, channel: str) -> int | None:
        """The site id the channel names (None: the chat page)."""
        if channel == "chat":
            return None
        site = channel.removeprefix("site:")
        if channel.startswith("site:") and site.isascii() and site.isdigit() and len(site) < 12:
            return int(site)
        raise serializers.ValidationError("'chat' or 'site:<id>'")


FILTER_PARAMETERS = [
    OpenApiParameter("q", str, description="full-text search in the messages, or words of the title"),
    OpenApiParameter("mine", bool, description="only the caller's own conversations, deleted ones left out"),
    OpenApiParameter("ordering", str, enum=list(_ORDERINGS), description="default: -started_at"),
    OpenApiParameter("user", str, description="username"),
    OpenApiParameter("from", OpenApiTypes.DATE, description="started on or after (YYYY-MM-DD)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="started on or before (YYYY-MM-DD)"),
    OpenApiParameter("rating", int),
    OpenApiParameter("resolved", bool),
    OpenApiParameter("escalated", bool),
    OpenApiParameter(
        "channel", str, description="'chat' (the chat page, clients) or 'site:<id>' (a widget site)"
    ),
]


class ConversationsEndpoint(TenantEndpoint):
    """Every member reaches conversations: owners, admins and viewers all of the tenant's,
    deleted ones too (flagged by ``deleted_at``, kept until the retention purges them); members
    their own, not deleted; agents theirs and those handed to a human (the inbox's)."""

    readers = writers = ALL_ROLES
    subject = "conversations"
    key_read_scope = ApiKeyScope.CONVERSATIONS_READ
    key_scope = ApiKeyScope.CHAT

    def visible(self) -> QuerySet[Conversation]:
        conversations = self.scoped(Conversation).select_related("user", "variant", "assignee")
        if self.caller.role is not None and self.caller.role not in READER_ROLES:
            own = Q(user_id=self.caller.user_id, deleted_at__isnull=True)
            if self.caller.role in AGENT_ROLES:  # and those handed to a human: the inbox's
                own |= Q(handoff__in=(Handoff.WAITING, Handoff.HUMAN), deleted_at__isnull=True)
            conversations = conversations.filter(own)
        return conversations

    def visible_or_404(self, pk: int) -> Conversation:
        return self.owned_or_404(self.visible(), pk)

    def filtered(self, request: Request) -> QuerySet[Conversation]:
        """``visible``, narrowed by the request's ``ConversationFilters``."""
        query = ConversationFilters(data=request.query_params)
        query.is_valid(raise_exception=True)
        f = query.validated_data
        conversations = self.visible()
        if f["mine"]:
            conversations = conversations.filter(user_id=self.caller.user_id, deleted_at__isnull=True)
        if f.get("user"):
            conversations = conversations.filter(user__username=f["user"])
        if f.get("from"):
            conversations = conversations.filter(started_at__date__gte=f["from"])
        if f.get("to"):
            conversations = conversations.filter(started_at__date__lte=f["to"])
        if f.get("rating"):
            conversations = conversations.filter(rating=f["rating"])
        if "channel" in f:
            conversations = conversations.filter(site_id=f["channel"])
        for flag in ("resolved", "escalated"):
            if f.get(flag) is not None:
                conversations = conversations.filter(**{flag: f[flag]})
        if f.get("q"):
            messages = self.scoped(Message)
            matching: QuerySet[Message]
            if connection.vendor == "postgresql":
                matching = messages.annotate(search=SearchVector("content")).filter(
                    search=SearchQuery(f["q"], search_type="websearch")
                )
            else:
                matching = messages.filter(content__icontains=f["q"])
            conversations = conversations.filter(
                Q(pk__in=matching.values("conversation_id")) | Q(title__icontains=f["q"])
            )
        return conversations.order_by(*_ORDERINGS[f["ordering"]])


class ConversationListView(ConversationsEndpoint, generics.ListAPIView):
    serializer_class = ConversationSerializer
    pagination_class = Pages

    @extend_schema(parameters=FILTER_PARAMETERS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if request.query_params.get("mine") in serializers.BooleanField.TRUE_VALUES:
            return super().get(request, *args, **kwargs)  # the chat page's own: its writes
        return replica_reads(super().get)(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Conversation]:
        return self.filtered(self.request)


class ConversationDetailView(ConversationsEndpoint, generics.RetrieveAPIView):
    """Read a conversation; its own user renames it (``PATCH {title}``) or deletes it (``DELETE``:
    hidden from them, kept for the tenant until its retention purges it)."""

    serializer_class = ConversationSerializer

    def get_queryset(self) -> QuerySet[Conversation]:
        return self.visible()

    def _own(self) -> Conversation:
        conversation = self.get_object()
        if conversation.user_id != self.caller.user_id or conversation.deleted_at is not None:
            raise PermissionDenied("only its own user changes a conversation")
        return conversation

    @extend_schema(request=ConversationRenameSerializer, responses=ConversationSerializer)
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = self._own()
        body = ConversationRenameSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        conversation_rename(
            tenant_id=conversation.tenant_id,
            user_id=conversation.user_id,
            conversation_id=conversation.pk,
            title=body.validated_data["title"],
        )
        conversation.refresh_from_db()
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = self._own()
        conversation_delete(
            tenant_id=conversation.tenant_id,
            user_id=conversation.user_id,
            conversation_id=conversation.pk,
            now=timezone.now(),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageFilters(serializers.Serializer):
    versions = serializers.BooleanField(default=False)


class ConversationMessagesView(ConversationsEndpoint, generics.ListAPIView):
    """The conversation's messages, oldest first: the current version of each turn, or with
    ``versions=true`` the earlier ones too (each with its ``replaced_by``)."""

    serializer_class = MessageSerializer
    pagination_class = Pages

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "versions", bool, description="also the earlier versions of replaced turns (default: false)"
            )
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Message]:
        conversation = self.visible_or_404(self.kwargs["pk"])
        query = MessageFilters(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        messages = self.scoped(Message).filter(conversation=conversation).select_related("author")
        if not query.validated_data["versions"]:
            messages = messages.filter(replaced_by__isnull=True)
        saved = self.scoped(CuratedAnswer).filter(source_message_id=OuterRef("pk"))
        return messages.annotate(saved_as_curated=Exists(saved)).prefetch_related("files").order_by("id")
