from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from knowledge.models import Chunk, Document
from knowledge.services import KnowledgeRefused, Upload, document_add, document_delete


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
class DocumentAdmin(admin.ModelAdmin[Document]):
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

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        document_delete(tenant_id=obj.tenant_id, document_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for document in queryset:
            document_delete(tenant_id=document.tenant_id, document_id=document.pk)
