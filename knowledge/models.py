"""A tenant's knowledge base: its documents and their chunks (text, and the embedding the
retrieval ranks them by). Every row carries the tenant (``TenantOwnedModel``)."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.scoping import TenantOwnedModel


class Document(TenantOwnedModel):
    class Status(models.TextChoices):
        PENDING = "pending"  # uploaded, waiting for the ingestion task
        READY = "ready"  # chunked and embedded: retrieved from
        FAILED = "failed"  # not usable; ``error`` says why

    title = models.CharField(max_length=200)
    filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100)
    size_bytes = models.PositiveIntegerField()
    # The uploaded file, as sent; kept so that a document can be ingested again.
    source = models.BinaryField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When it was last queued for ingestion (added, or read again): a document pending for long
    # after it is failed by the sweep (knowledge.services.documents_fail_stuck).
    queued_at = models.DateTimeField(default=timezone.now)
    ingested_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="knowledge_doc_tenant"),
            models.Index(fields=["status", "queued_at"], name="knowledge_doc_queue"),
        ]

    def __str__(self) -> str:
        return self.title


class Chunk(TenantOwnedModel):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()  # its place in the document, from 1
    heading = models.CharField(max_length=300, blank=True)  # the section it is in
    text = models.TextField()
    tokens = models.PositiveIntegerField()
    # float32 times the embedder's dimensions, normalized; empty without the local embedding model.
    embedding = models.BinaryField(blank=True, default=b"")

    class Meta(TenantOwnedModel.Meta):
        indexes = [models.Index(fields=["tenant", "document", "ordinal"], name="knowledge_chunk_doc")]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


class CuratedAnswer(TenantOwnedModel):
    """An answer the tenant's owners or admins wrote or approved for a frequent question, in
    several phrasings: a message that matches one of them is answered from it, before the model
    and at no token cost (``knowledge.curated``). The answers it gave point to it
    (``chat.Message.curated_answer``): that is its hit count."""

    # The question's phrasings, as written (at least one).
    questions = models.JSONField()
    # Questions an owner said ask something else (a suggested phrasing turned down): never
    # suggested for this entry again, never answered from it.
    declined_questions = models.JSONField(default=list, blank=True)
    answer = models.TextField()
    enabled = models.BooleanField(default=True)
    # float32 rows, one per phrasing in order, normalized; empty until embedded (or without the
    # local embedding model): until then a phrasing matches by its words only.
    embeddings = models.BinaryField(blank=True, default=b"")
    # The stored answer it was saved from ("save as curated" in a conversation), if any.
    source_message_id = models.BigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        indexes = [models.Index(fields=["tenant", "-updated_at"], name="knowledge_curated_tenant")]

    def __str__(self) -> str:
        return str(self.questions[0]) if self.questions else f"curated answer {self.pk}"
