"""``/api/v1/knowledge/curated/``: the caller's tenant's curated answers. Owners and admins
write, change, disable and delete them (or save one from a stored answer: ``message_id``);
viewers read them, with the answers each gave and what those would have cost from the model.
Another tenant's id is a 404."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.selectors import answer_with_question, curated_hits, model_answer_cost, questions_not_curated
from infra.db import BIGINT_MAX
from knowledge.curated import (
    MAX_ANSWER_CHARS,
    MAX_DECLINED,
    MAX_QUESTION_CHARS,
    MAX_QUESTIONS,
    curated_create,
    curated_delete,
    curated_suggestions,
    curated_update,
)
from knowledge.models import CuratedAnswer
from knowledge.retrieval import knowledge_version
from knowledge.services import KnowledgeRefused
from tenants.api.base import TenantEndpoint
from tenants.models import MANAGER_ROLES, ApiKeyScope

SAVINGS_WINDOW = timedelta(days=30)  # the answers whose average cost prices a hit
SUGGESTIONS_WINDOW = timedelta(days=7)  # the questions looked at for suggested phrasings
SUGGESTIONS_QUESTIONS = 300  # at most, the newest


class _CuratedEndpoint(TenantEndpoint, APIView):
    subject = "curated answers"
    key_scope = ApiKeyScope.KNOWLEDGE_WRITE


class CuratedAnswerSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    hits = serializers.IntegerField(read_only=True)
    last_hit_at = serializers.DateTimeField(read_only=True, allow_null=True)
    saved_usd = serializers.DecimalField(max_digits=14, decimal_places=6, read_only=True)
    embedded = serializers.SerializerMethodField()

    class Meta:
        model = CuratedAnswer
        fields = [
            "id",
            "questions",
            "declined_questions",
            "answer",
            "enabled",
            "source_message_id",
            "hits",
            "last_hit_at",
            "saved_usd",
            "embedded",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_embedded(self, entry: CuratedAnswer) -> bool:
        """Its phrasings match by meaning too (until then by their words only)."""
        return bool(entry.embeddings)


class CuratedAnswerWriteSerializer(serializers.Serializer):
    """Its phrasings and answer; or ``message_id``, a stored answer saved as curated (its
    question the first phrasing, its text the answer, unless given). ``declined_questions``:
    questions that ask something else (suggested phrasings turned down)."""

    questions = serializers.ListField(
        child=serializers.CharField(max_length=MAX_QUESTION_CHARS), max_length=MAX_QUESTIONS, required=False
    )
    declined_questions = serializers.ListField(
        child=serializers.CharField(max_length=MAX_QUESTION_CHARS), max_length=MAX_DECLINED, required=False
    )
    answer = serializers.CharField(max_length=MAX_ANSWER_CHARS, required=False)
    enabled = serializers.BooleanField(required=False)
    message_id = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, required=False)


def _with_hits(tenant_id: int, entries: list[CuratedAnswer]) -> list[CuratedAnswer]:
    """Each entry with its hits, and what they saved at the tenant's recent average cost of a
    model answer."""
    hits = curated_hits(tenant_id=tenant_id, entry_ids=[e.pk for e in entries])
    cost = Decimal(0)
    if hits:
        cost = model_answer_cost(tenant_id=tenant_id, since=timezone.now() - SAVINGS_WINDOW)
    for entry in entries:
        found = hits.get(entry.pk)
        entry.hits = found.hits if found else 0  # type: ignore[attr-defined]
        entry.last_hit_at = found.last_hit_at if found else None  # type: ignore[attr-defined]
        entry.saved_usd = cost * entry.hits  # type: ignore[attr-defined]
    return entries


def _shown(tenant_id: int, entry: CuratedAnswer) -> dict[str, Any]:
    return CuratedAnswerSerializer(_with_hits(tenant_id, [entry])[0]).data  # type: ignore[no-any-return]


def _refused(refused: KnowledgeRefused) -> ValidationError:
    return ValidationError({refused.field: [refused.message]})


class CuratedAnswerListView(_CuratedEndpoint):
    @extend_schema(responses=CuratedAnswerSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Most hits first: the answers that save the most."""
        entries = list(self.scoped(CuratedAnswer).select_related("created_by"))
        entries = _with_hits(self.tenant_id, entries)
        entries.sort(key=lambda e: (-e.hits, -e.updated_at.timestamp(), -e.pk))  # type: ignore[attr-defined]
        return Response(CuratedAnswerSerializer(entries, many=True).data)

    @extend_schema(request=CuratedAnswerWriteSerializer, responses={201: CuratedAnswerSerializer})
    def post(self, request: Request) -> Response:
        body = CuratedAnswerWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        questions, answer = data.get("questions"), data.get("answer")
        message_id = data.get("message_id")
        if message_id is not None:
            saved = answer_with_question(tenant_id=self.tenant_id, message_id=message_id)
            if saved is None:
                raise ValidationError({"message_id": ["no such answer"]})
            questions = questions or [saved[0]]
            answer = answer or saved[1]
        try:
            entry = curated_create(
                tenant_id=self.tenant_id,
                user_id=request.user.pk,
                questions=questions,
                answer=answer,
                enabled=data.get("enabled", True),
                declined_questions=data.get("declined_questions"),
                source_message_id=message_id,
            )
        except KnowledgeRefused as refused:
            raise _refused(refused) from None
        return Response(_shown(self.tenant_id, entry), status=status.HTTP_201_CREATED)


class CuratedAnswerDetailView(_CuratedEndpoint):
    @extend_schema(responses=CuratedAnswerSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(_shown(self.tenant_id, self.owned_or_404(CuratedAnswer, pk)))

    @extend_schema(request=CuratedAnswerWriteSerializer, responses=CuratedAnswerSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        """Any of ``questions``, ``answer``, ``enabled``, ``declined_questions``; the change
        reaches every instance's next question."""
        body = CuratedAnswerWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        if "message_id" in body.validated_data:
            raise ValidationError({"message_id": ["only when saving a new curated answer"]})
        try:
            entry = curated_update(tenant_id=self.tenant_id, entry_id=pk, changes=body.validated_data)
        except KnowledgeRefused as refused:
            raise _refused(refused) from None
        if entry is None:
            raise NotFound
        return Response(_shown(self.tenant_id, entry))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        """The entry; the answers it gave stay in their conversations."""
        if not curated_delete(tenant_id=self.tenant_id, entry_id=pk):
            raise NotFound
        return Response(status=status.HTTP_204_NO_CONTENT)


class CuratedSuggestionSerializer(serializers.Serializer):
    entry_id = serializers.IntegerField()
    question = serializers.CharField()
    similarity = serializers.FloatField()


class CuratedSuggestionsView(_CuratedEndpoint):
    readers = MANAGER_ROLES  # the questions members asked: for those who edit the answers

    @extend_schema(responses=CuratedSuggestionSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Questions of the last 7 days that came close to an entry (similarity from 0.70 to the
        tenant's ``curated_answer_threshold``) without matching it, most alike first: add one to
        the entry's phrasings (PATCH ``questions``) and the next such question is answered; or
        decline it (PATCH ``declined_questions``) and it is not suggested for the entry again."""
        tenant = self.caller.tenant
        suggestions = curated_suggestions(
            tenant_id=tenant.pk,
            questions=questions_not_curated(
                tenant_id=tenant.pk, since=timezone.now() - SUGGESTIONS_WINDOW, limit=SUGGESTIONS_QUESTIONS
            ),
            version=knowledge_version(tenant.pk),
            threshold=tenant.curated_answer_threshold,
        )
        return Response(CuratedSuggestionSerializer(suggestions, many=True).data)
