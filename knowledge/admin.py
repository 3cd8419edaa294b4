from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from chat.models import Message
from knowledge.curated import curated_create, curated_delete, curated_update
from knowledge.models import Chunk, CuratedAnswer, Document
from knowledge.services import KnowledgeRefused, Upload, document_add, document_delete


class DeletedThroughServices(admin.ModelAdmin[Any]):
    """Each deletion, one or a selection, goes through the service that tells every process's
    index of the tenant (``delete_one``)."""

    def delete_one(self, obj: Any) -> None:
        raise NotImplementedError

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_one(obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_one(obj)


class DocumentUploadForm(forms.ModelForm):
    file = forms.FileField(help_text="plain text, Markdown, HTML, CSV or PDF, up to the tier's size")

    class Meta:
        model = Document
        fields = ["tenant", "title"]


class ChunkInline(admin.TabularInline[Chunk, Document]):
    model = Chunk
    fk_name = "document"
    extra = 0
    can_delete = False
    fields = ("ordinal", "heading", "text", "tokens")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Document)
class DocumentAdmin(DeletedThroughServices):
    """Platform staff add a document for a tenant (ingested like an upload over the API), see its
    ingestion state and chunks, and delete it."""

    list_display = ["title", "tenant", "status", "chunk_count", "size_bytes", "created_at"]
    list_filter = ["status", "tenant"]
    search_fields = ["title", "filename", "tenant__slug"]
    readonly_fields = [
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
    inlines = [ChunkInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        return Document.all_tenants.select_related("tenant")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            return DocumentUploadForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["tenant", "title", "file"] if obj is None else ["tenant", "title", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else ["tenant", "title", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: Document, form: Any, change: bool) -> None:
        if change:
            return
        upload = form.cleaned_data["file"]
        try:
            created = document_add(
                tenant=form.cleaned_data["tenant"],
                user_id=request.user.pk,
                upload=Upload(
                    title=form.cleaned_data["title"],
                    filename=upload.name or "",
                    content_type=upload.content_type or "",
                    data=upload.read(),
                ),
            )
        except KnowledgeRefused as refused:
            self.message_user(request, refused.message, messages.ERROR)
            return
        obj.pk = created.pk

    def delete_one(self, obj: Document) -> None:
        document_delete(tenant_id=obj.tenant_id, document_id=obj.pk)


class CuratedAnswerForm(forms.ModelForm):
    """The phrasings, and the questions declined, one per line."""

    phrasings = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), help_text="one phrasing per line")
    declined = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="questions that ask something else, one per line: never answered from this entry",
    )

    class Meta:
        model = CuratedAnswer
        fields = ["tenant", "answer", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["phrasings"] = "\n".join(self.instance.questions)
            self.initial["declined"] = "\n".join(self.instance.declined_questions)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for field, lines in (("questions", "phrasings"), ("declined_questions", "declined")):
            cleaned[field] = [line for line in cleaned.get(lines, "").splitlines() if line.strip()]
        return cleaned


@admin.register(CuratedAnswer)
class CuratedAnswerAdmin(DeletedThroughServices):
    """Platform staff write a tenant's curated answers as its owners do over the API (the same
    checks; a change reaches the next question), and see how many answers each gave."""

    form = CuratedAnswerForm
    list_display = ["first_question", "tenant", "enabled", "hits", "updated_at"]
    list_filter = ["enabled", "tenant"]
    search_fields = ["answer", "tenant__slug"]

    def get_queryset(self, request: HttpRequest) -> Any:
        given = (
            Message.objects.unscoped()
            .filter(tenant_id=OuterRef("tenant_id"), curated_answer_id=OuterRef("pk"))
            .order_by()
            .values("curated_answer_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        return CuratedAnswer.all_tenants.select_related("tenant").annotate(
            hit_count=Coalesce(Subquery(given), 0)
        )

    @admin.display(description="question")
    def first_question(self, obj: CuratedAnswer) -> str:
        return str(obj)

    @admin.display(description="answers given", ordering="hit_count")
    def hits(self, obj: CuratedAnswer) -> int:
        return int(getattr(obj, "hit_count", 0))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["tenant"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: CuratedAnswer, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            if change:
                curated_update(
                    tenant_id=obj.tenant_id,
                    entry_id=obj.pk,
                    changes={
                        "questions": data["questions"],
                        "declined_questions": data["declined_questions"],
                        "answer": data["answer"],
                        "enabled": data["enabled"],
                    },
                )
                return
            created = curated_create(
                tenant_id=data["tenant"].pk,
                user_id=request.user.pk,
                questions=data["questions"],
                answer=data["answer"],
                enabled=data["enabled"],
                declined_questions=data["declined_questions"],
            )
        except KnowledgeRefused as refused:
            self.message_user(request, refused.message, messages.ERROR)
            return
        obj.pk = created.pk

    def delete_one(self, obj: CuratedAnswer) -> None:
        curated_delete(tenant_id=obj.tenant_id, entry_id=obj.pk)
