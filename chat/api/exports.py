"""Exports of the caller's tenant's conversations: one conversation, or every one a filter
finds, streamed as CSV or JSON (``infra.exports``) so that a large date range never sits in
memory."""

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from chat.api.conversations import FILTER_PARAMETERS, ConversationsEndpoint
from chat.models import Message
from infra.exports import FORMATS, stream_rows
from infra.replicas import reading_alias

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
    "author",  # the person of the team who wrote it (role "agent"); empty otherwise
    "replaced_by",  # an earlier version: the question of the turn that replaced it; empty otherwise
]


def _rows(messages: QuerySet[Message]) -> Iterator[dict[str, Any]]:
    for m in (
        messages.select_related("conversation__user", "author")
        .prefetch_related("files")
        .iterator(chunk_size=1000)
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
            "author": m.author.get_username() if m.author is not None else "",
            "replaced_by": m.replaced_by_id or "",
        }


def export_response(messages: QuerySet[Message], fmt: str, filename: str) -> StreamingHttpResponse:
    # Streamed after the view returns: bound to its replica (or the primary) now.
    rows = _rows(messages.using(reading_alias()).order_by("conversation_id", "id"))
    return stream_rows(rows, fields=EXPORT_FIELDS, fmt=fmt, filename=filename)


class ExportQuery(serializers.Serializer):
    format = serializers.ChoiceField(choices=FORMATS, default="json")


_EXPORT_PARAMETERS = [OpenApiParameter("format", str, enum=FORMATS)]


class ConversationExportView(ConversationsEndpoint, APIView):
    @extend_schema(
        operation_id="v1_conversation_export",
        parameters=_EXPORT_PARAMETERS,
        responses={(200, "text/csv"): str, (200, "application/json"): str},
    )
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        query = ExportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        conversation = self.visible_or_404(pk)
        messages = self.scoped(Message).filter(conversation=conversation)
        return export_response(messages, query.validated_data["format"], f"conversation-{pk}")


class ConversationsExportView(ConversationsEndpoint, APIView):
    """Every message of the conversations the filters select (streamed)."""

    @extend_schema(
        operation_id="v1_conversations_export",
        parameters=[*FILTER_PARAMETERS, *_EXPORT_PARAMETERS],
        responses={(200, "text/csv"): str, (200, "application/json"): str},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = ExportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        conversations = self.filtered(request)
        messages = self.scoped(Message).filter(conversation__in=conversations.values("pk"))
        return export_response(messages, query.validated_data["format"], "conversations")
