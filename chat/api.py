"""``/api/v1/conversations/``: the caller's tenant's conversations, their messages, exports.

Owners, admins and viewers read every conversation of the tenant; members read their own.
Search is PostgreSQL full-text search over the messages (a plain substring match on SQLite).
Exports stream (CSV or JSON), so a large date range never sits in memory. Another tenant's
conversation is a 404.
"""

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.analytics import HOURLY_KEEP_DAYS, day_start, hourly_rows, stats_rows, today_utc
from chat.models import ChatFile, Conversation, Message
from chat.services import conversation_delete, conversation_rename
from tenants.api.access import request_membership, required_membership
from tenants.api.queries import FromToQuery
from tenants.models import READER_ROLES

EXPORT_FIELDS = [
    "conversation_id",
    "message_id",
    "created_at",
    "user",
    "role",
    "content",
    "model",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "finish_reason",
    "rating",
    "tools",
    "attachments",
]


class Pages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ConversationSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    variant = serializers.CharField(source="variant.name", default=None, read_only=True)

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

    class Meta:
        model = Message
        fields = [
            "id",
            "role",
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
        ]


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


def visible_conversations(request: Request) -> QuerySet[Conversation]:
    """Owners, admins and viewers: the tenant's conversations, deleted ones too (flagged by
    ``deleted_at``, kept until the retention purges them). Members: their own, not deleted."""
    membership = required_membership(request)
    conversations = Conversation.objects.for_tenant(membership.tenant_id).select_related("user", "variant")
    if membership.role not in READER_ROLES:
        conversations = conversations.filter(user_id=membership.user_id, deleted_at__isnull=True)
    return conversations


def filtered(request: Request) -> QuerySet[Conversation]:
    query = ConversationFilters(data=request.query_params)
    query.is_valid(raise_exception=True)
    f = query.validated_data
    conversations = visible_conversations(request)
    membership = required_membership(request)
    if f["mine"]:
        conversations = conversations.filter(user_id=membership.user_id, deleted_at__isnull=True)
    if f.get("user"):
        conversations = conversations.filter(user__username=f["user"])
    if f.get("from"):
        conversations = conversations.filter(started_at__date__gte=f["from"])
    if f.get("to"):
        conversations = conversations.filter(started_at__date__lte=f["to"])
    if f.get("rating"):
        conversations = conversations.filter(rating=f["rating"])
    for flag in ("resolved", "escalated"):
        if f.get(flag) is not None:
            conversations = conversations.filter(**{flag: f[flag]})
    if f.get("q"):
        messages = Message.objects.for_tenant(membership.tenant_id)
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


_FILTER_PARAMETERS = [
    OpenApiParameter("q", str, description="full-text search in the messages, or words of the title"),
    OpenApiParameter("mine", bool, description="only the caller's own conversations, deleted ones left out"),
    OpenApiParameter("ordering", str, enum=list(_ORDERINGS), description="default: -started_at"),
    OpenApiParameter("user", str, description="username"),
    OpenApiParameter("from", OpenApiTypes.DATE, description="started on or after (YYYY-MM-DD)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="started on or before (YYYY-MM-DD)"),
    OpenApiParameter("rating", int),
    OpenApiParameter("resolved", bool),
    OpenApiParameter("escalated", bool),
]


class ConversationListView(generics.ListAPIView):
    serializer_class = ConversationSerializer
    pagination_class = Pages

    @extend_schema(parameters=_FILTER_PARAMETERS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Conversation]:
        return filtered(self.request)


class ConversationDetailView(generics.RetrieveAPIView):
    """Read a conversation; its own user renames it (``PATCH {title}``) or deletes it (``DELETE``:
    hidden from them, kept for the tenant until its retention purges it)."""

    serializer_class = ConversationSerializer

    def get_queryset(self) -> QuerySet[Conversation]:
        return visible_conversations(self.request)

    def _own(self) -> Conversation:
        conversation = self.get_object()
        if conversation.user_id != self.request.user.pk or conversation.deleted_at is not None:
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


class ConversationMessagesView(generics.ListAPIView):
    serializer_class = MessageSerializer
    pagination_class = Pages

    def get_queryset(self) -> QuerySet[Message]:
        conversation = visible_conversations(self.request).filter(pk=self.kwargs["pk"]).first()
        if conversation is None:
            raise Http404
        return (
            Message.objects.for_tenant(conversation.tenant_id)
            .filter(conversation=conversation)
            .prefetch_related("files")
            .order_by("id")
        )


def _rows(messages: QuerySet[Message]) -> Iterator[dict[str, Any]]:
    for m in (
        messages.select_related("conversation__user").prefetch_related("files").iterator(chunk_size=1000)
    ):
        yield {
            "conversation_id": m.conversation_id,
            "message_id": m.pk,
            "created_at": m.created_at.isoformat(),
            "user": m.conversation.user.get_username(),
            "role": m.role,
            "content": m.content,
            "model": m.model,
            "input_tokens": m.input_tokens,
            "output_tokens": m.output_tokens,
            "cost_usd": f"{m.cost_usd:f}",
            "finish_reason": m.finish_reason,
            "rating": m.rating,
            # The tools called for the answer, "name:status" each (the API's messages have it all).
            "tools": " ".join(f"{c['name']}:{c['status']}" for c in m.tool_calls),
            "attachments": " ".join(f.filename for f in m.files.all()),
        }


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): a message
# or a username such as ``=HYPERLINK(...)``. OWASP's advice: prefix them with a quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def _csv(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({field: _cell(value) for field, value in row.items()})
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _json(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    yield "["
    for index, row in enumerate(rows):
        yield ("," if index else "") + json.dumps(row, ensure_ascii=False)
    yield "]"


def export_response(messages: QuerySet[Message], fmt: str, filename: str) -> StreamingHttpResponse:
    rows = _rows(messages.order_by("conversation_id", "id"))
    if fmt == "csv":
        response = StreamingHttpResponse(_csv(rows), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(_json(rows), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


class ExportQuery(serializers.Serializer):
    format = serializers.ChoiceField(choices=["csv", "json"], default="json")


_EXPORT_PARAMETERS = [OpenApiParameter("format", str, enum=["csv", "json"])]


class ConversationExportView(APIView):
    @extend_schema(
        operation_id="v1_conversation_export",
        parameters=_EXPORT_PARAMETERS,
        responses={(200, "text/csv"): str, (200, "application/json"): str},
    )
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        query = ExportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        conversation = visible_conversations(request).filter(pk=pk).first()
        if conversation is None:
            raise Http404
        messages = Message.objects.for_tenant(conversation.tenant_id).filter(conversation=conversation)
        return export_response(messages, query.validated_data["format"], f"conversation-{pk}")


class ConversationsExportView(APIView):
    """Every message of the conversations the filters select (streamed)."""

    @extend_schema(
        operation_id="v1_conversations_export",
        parameters=[*_FILTER_PARAMETERS, *_EXPORT_PARAMETERS],
        responses={(200, "text/csv"): str, (200, "application/json"): str},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = ExportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        conversations = filtered(request)
        membership = required_membership(request)
        messages = Message.objects.for_tenant(membership.tenant_id).filter(
            conversation__in=conversations.values("pk")
        )
        return export_response(messages, query.validated_data["format"], "conversations")


class AnalyticsQuery(FromToQuery):
    granularity = serializers.ChoiceField(choices=["day", "hour"], default="day")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        hourly = attrs["granularity"] == "hour"
        end = attrs.get("to") or today_utc()
        start = attrs.get("from") or end - timedelta(days=1 if hourly else 29)
        if end < start:
            raise serializers.ValidationError({"to": ["must not be before 'from'"]})
        most = HOURLY_KEEP_DAYS if hourly else 366
        if (end - start).days > most:
            raise serializers.ValidationError({"to": [f"at most {most} days"]})
        return {"from": start, "to": end, "granularity": attrs["granularity"]}


class AnalyticsView(APIView):
    """The tenant's figures per day (``DailyTenantStats``) or per hour (``HourlyTenantStats``),
    computed by Celery beat."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.DATE,
                description="first day, YYYY-MM-DD (default: 30 days ago; by hour: yesterday)",
            ),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, description="last day, YYYY-MM-DD (default: today, UTC)"
            ),
            OpenApiParameter(
                "granularity",
                OpenApiTypes.STR,
                enum=["day", "hour"],
                description=f"'day' (default; `days` in the answer) or 'hour' (`hours`: the hours "
                f"of those days, kept {HOURLY_KEEP_DAYS} days)",
            ),
        ],
        responses={200: OpenApiResponse(description="totals and rates per day or per hour")},
    )
    def get(self, request: Request) -> Response:
        membership = request_membership(request)
        if membership is None or membership.role not in READER_ROLES:
            raise PermissionDenied("owners, admins and viewers read analytics")
        query = AnalyticsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["from"], query.validated_data["to"]
        period = {"from": start.isoformat(), "to": end.isoformat()}
        if query.validated_data["granularity"] == "hour":
            hours = hourly_rows(
                tenant_id=membership.tenant_id, start=day_start(start), end=day_start(end + timedelta(days=1))
            )
            return Response({**period, "granularity": "hour", "hours": hours})
        days = stats_rows(tenant_id=membership.tenant_id, start=start, end=end)
        return Response({**period, "granularity": "day", "days": days})
