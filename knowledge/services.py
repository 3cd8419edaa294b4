"""Writes to a tenant's knowledge base: add a document (checked against the tier's limits, then
ingested by a Celery task), ingest it (extract, chunk, embed), read a failed one again, fail the
ones stuck pending, delete one."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from chat.gateway.llm.tokens import estimate_tokens
from infra.embedder import embedder, embedder_installed
from knowledge.chunking import chunks_of
from knowledge.extract import Unreadable, content_type_of, sections_of
from knowledge.models import Chunk, Document
from tenants.changes import Change, shown, tell, tell_gone, tell_made
from tenants.models import Tenant

log = structlog.stdlib.get_logger(__name__)


class KnowledgeRefused(Exception):
    """An upload the tenant's tier or the file itself does not allow; ``field`` names what."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True, slots=True)
class Upload:
    title: str
    filename: str
    content_type: str
    data: bytes


def document_add(*, tenant: Tenant, user_id: int | None, upload: Upload) -> Document:
    tier = tenant.tier
    try:
        content_type = content_type_of(upload.filename, upload.content_type)
    except Unreadable as exc:
        raise KnowledgeRefused("file", str(exc)) from None
    if len(upload.data) > tier.knowledge_max_document_bytes:
        raise KnowledgeRefused(
            "file", f"at most {tier.knowledge_max_document_bytes} bytes a document on the {tier.name} tier"
        )
    with transaction.atomic():
        _take_a_place(tenant, "file")
        document = Document.objects.for_tenant(tenant.pk).create(
            tenant=tenant,
            title=upload.title or upload.filename or "Untitled",
            filename=upload.filename,
            content_type=content_type,
            size_bytes=len(upload.data),
            source=upload.data,
            created_by_id=user_id,
        )
        tell_made(
            tenant_id=tenant.pk, change=Change.DOCUMENT_ADDED, target=document.title, now=_shown(document)
        )
        transaction.on_commit(lambda: _queue_ingestion(tenant.pk, document.pk))
    return document


def _shown(document: Document) -> dict[str, Any]:
    return shown(document, ["filename", "content_type", "size_bytes"])


def _take_a_place(tenant: Tenant, field: str) -> None:
    """Within a transaction: refuse when the tenant holds as many documents as its tier allows
    (a failed one takes no place). The tenant row is the lock: two uploads at once cannot both
    take the last place."""
    tier = tenant.tier
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    count = Document.objects.for_tenant(tenant.pk).exclude(status=Document.Status.FAILED).count()
    if tier.knowledge_max_documents is not None and count >= tier.knowledge_max_documents:
        raise KnowledgeRefused(
            field, f"at most {tier.knowledge_max_documents} documents on the {tier.name} tier"
        )


def document_reingest(*, tenant: Tenant, document_id: int) -> Document | None:
    """A failed document read again from its stored file (its failure may have been the
    worker's, not the file's): pending, queued, taking a place again. None when the tenant has
    no such document; ``KnowledgeRefused`` when it is not failed or the tier is full."""
    with transaction.atomic():
        document = Document.objects.for_tenant(tenant.pk).select_for_update().filter(pk=document_id).first()
        if document is None:
            return None
        if document.status != Document.Status.FAILED:
            raise KnowledgeRefused(
                "status", f"only a failed document is read again; this one is {document.status}"
            )
        _take_a_place(tenant, "status")
        document.status, document.error, document.queued_at = Document.Status.PENDING, "", timezone.now()
        document.save(update_fields=["status", "error", "queued_at"])
        tell(tenant_id=tenant.pk, change=Change.DOCUMENT_REINGESTED, target=document.title)
        transaction.on_commit(lambda: _queue_ingestion(tenant.pk, document.pk))
    return document


def documents_fail_stuck(*, now: datetime) -> int:
    """Documents pending longer than ``KNOWLEDGE_PENDING_MAX_S`` since they were queued (their
    task was lost, or ran out of retries) are failed, so none stays pending for ever; each can
    be read again. Every tenant's: a maintenance pass, deliberately unscoped."""
    stuck = Document.objects.unscoped().filter(
        status=Document.Status.PENDING,
        queued_at__lt=now - timedelta(seconds=settings.KNOWLEDGE_PENDING_MAX_S),
    )
    failed = stuck.update(
        status=Document.Status.FAILED, error="reading the document did not finish; read it again to retry"
    )
    if failed:
        log.warning("knowledge.stuck_failed", documents=failed)
    return failed


def _queue_ingestion(tenant_id: int, document_id: int) -> None:
    from knowledge.tasks import ingest_document

    ingest_document.delay(tenant_id, document_id)


def document_ingest(*, tenant_id: int, document_id: int) -> str:
    """Extract, chunk and embed a pending document; its status says how it went. Idempotent:
    a document no longer pending (ingested, deleted) is left alone."""
    document = (
        Document.objects.for_tenant(tenant_id).filter(pk=document_id, status=Document.Status.PENDING).first()
    )
    if document is None:
        return "skipped"
    try:
        pieces = chunks_of(sections_of(document.content_type, bytes(document.source)))
    except Unreadable as exc:
        _fail(document, str(exc))
        return Document.Status.FAILED
    vectors = _embeddings([f"{document.title}. {p.heading}. {p.text}" for p in pieces])
    chunks = [
        Chunk(
            tenant_id=tenant_id,
            document=document,
            ordinal=number,
            heading=piece.heading,
            text=piece.text,
            tokens=estimate_tokens(piece.text),
            embedding=vectors[number - 1].tobytes() if vectors is not None else b"",
        )
        for number, piece in enumerate(pieces, start=1)
    ]
    with transaction.atomic():
        locked = (
            Document.objects.for_tenant(tenant_id)
            .select_for_update()
            .filter(pk=document_id, status=Document.Status.PENDING)
            .first()
        )
        if locked is None:  # deleted meanwhile
            return "skipped"
        Chunk.objects.for_tenant(tenant_id).filter(document=locked).delete()
        Chunk.objects.bulk_create(chunks, batch_size=500)
        locked.status, locked.chunk_count, locked.ingested_at = (
            Document.Status.READY,
            len(chunks),
            timezone.now(),
        )
        locked.save(update_fields=["status", "chunk_count", "ingested_at"])
        knowledge_changed(tenant_id)
    log.info("knowledge.ingested", document_id=document_id, chunks=len(chunks), embedded=vectors is not None)
    return Document.Status.READY


def _embeddings(texts: list[str]) -> np.ndarray | None:
    if not texts or not embedder_installed():
        return None
    return embedder().embed_now(texts)


def _fail(document: Document, reason: str) -> None:
    Document.objects.for_tenant(document.tenant_id).filter(pk=document.pk).update(
        status=Document.Status.FAILED, error=reason[:1000]
    )
    log.info("knowledge.failed", document_id=document.pk, reason=reason)


def document_delete(*, tenant_id: int, document_id: int) -> bool:
    """The document, its chunks and their embeddings; retrieval stops finding it at once."""
    with transaction.atomic():
        document = Document.objects.for_tenant(tenant_id).filter(pk=document_id).defer("source").first()
        if document is None:
            return False
        tell_gone(
            tenant_id=tenant_id, change=Change.DOCUMENT_DELETED, target=document.title, was=_shown(document)
        )
        document.delete()
        knowledge_changed(tenant_id)
    return True


def knowledge_changed(tenant_id: int) -> None:
    """Every process's index of this tenant is stale from now on (``knowledge.retrieval``)."""
    Tenant.objects.filter(pk=tenant_id).update(knowledge_version=F("knowledge_version") + 1)
