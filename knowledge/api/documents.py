"""``/api/v1/knowledge/``: the caller's tenant's knowledge base. Owners and admins add (a file,
multipart; or text, JSON) and delete documents; viewers read them; members neither. Another
tenant's document id is a 404. ``search/`` shows what a question would retrieve."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from infra.parsers import BoundedJSONParser
from knowledge.models import Document
from knowledge.retrieval import retrieve
from knowledge.services import KnowledgeRefused, Upload, document_add, document_delete, document_reingest
from tenants.api.base import TenantEndpoint
from tenants.models import ApiKeyScope

SEARCH_BUDGET_TOKENS = 4000


class _KnowledgeEndpoint(TenantEndpoint, APIView):
    subject = "the knowledge base"
    key_scope = ApiKeyScope.KNOWLEDGE_WRITE


class DocumentSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = Document
        fields = [
            "id",
            "title",
            "filename",
            "content_type",
            "size_bytes",
            "status",
            "error",
            "chunk_count",
            "created_by",
            "created_at",
            "ingested_at",
        ]
        read_only_fields = fields


class DocumentUploadSerializer(serializers.Serializer):
    """A file (multipart ``file``), or text in JSON (``content`` with its ``content_type``)."""

    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    file = serializers.FileField(required=False)
    content = serializers.CharField(required=False, trim_whitespace=False)
    content_type = serializers.ChoiceField(
        choices=["text/plain", "text/markdown", "text/html", "text/csv"], default="text/markdown"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("file" in attrs) == ("content" in attrs):
            raise ValidationError({"file": ["send a file, or text as 'content', not both"]})
        if "content" in attrs and not attrs["title"]:
            raise ValidationError({"title": ["a text document needs a title"]})
        return attrs


class DocumentListView(_KnowledgeEndpoint):
    parser_classes = [MultiPartParser, BoundedJSONParser]

    @extend_schema(responses=DocumentSerializer(many=True))
    def get(self, request: Request) -> Response:
        documents = self.scoped(Document).select_related("created_by")
        return Response(DocumentSerializer(documents.order_by("-created_at", "-id"), many=True).data)

    @extend_schema(request=DocumentUploadSerializer, responses={201: DocumentSerializer})
    def post(self, request: Request) -> Response:
        """Plain text, Markdown, HTML, CSV or PDF, up to the tier's size; ingested in the
        background: ``status`` goes ``pending`` → ``ready`` (or ``failed``, with ``error``)."""
        body = DocumentUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "file" in data:
            upload = Upload(
                title=data["title"],
                filename=data["file"].name or "",
                content_type=data["file"].content_type or "",
                data=data["file"].read(),
            )
        else:
            upload = Upload(
                title=data["title"],
                filename="",
                content_type=data["content_type"],
                data=data["content"].encode(),
            )
        try:
            document = document_add(tenant=self.caller.tenant, user_id=request.user.pk, upload=upload)
        except KnowledgeRefused as refused:
            raise ValidationError({refused.field: [refused.message]}) from None
        return Response(DocumentSerializer(document).data, status=status.HTTP_201_CREATED)


class DocumentDetailView(_KnowledgeEndpoint):
    @extend_schema(responses=DocumentSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(DocumentSerializer(self.owned_or_404(Document, pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        """The document, its chunks and their embeddings: retrieval stops finding it at once."""
        if not document_delete(tenant_id=self.tenant_id, document_id=pk):
            raise NotFound
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentReingestView(_KnowledgeEndpoint):
    @extend_schema(request=None, responses=DocumentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """A failed document read again from its stored file: ``status`` goes back to
        ``pending``. 400 when it is not failed, or when the tier has no place left for it."""
        try:
            document = document_reingest(tenant=self.caller.tenant, document_id=pk)
        except KnowledgeRefused as refused:
            raise ValidationError({refused.field: [refused.message]}) from None
        if document is None:
            raise NotFound
        return Response(DocumentSerializer(document).data)


class SearchQuery(serializers.Serializer):
    q = serializers.CharField(max_length=2000)
    k = serializers.IntegerField(min_value=1, max_value=20, default=5)


class KnowledgeSearchView(_KnowledgeEndpoint):
    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=True), OpenApiParameter("k", int)],
        responses={200: serializers.ListSerializer(child=serializers.DictField())},
    )
    def get(self, request: Request) -> Response:
        """The passages a chat question would be given (what the assistant answers from)."""
        query = SearchQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        passages = retrieve(
            tenant_id=self.tenant_id,
            question=query.validated_data["q"],
            budget_tokens=SEARCH_BUDGET_TOKENS,
            k=query.validated_data["k"],
        )
        return Response(
            [{**p.source(n), "text": p.text, "score": round(p.score, 5)} for n, p in enumerate(passages, 1)]
        )
