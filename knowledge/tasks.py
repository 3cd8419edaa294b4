from celery import shared_task
from django.utils import timezone

from infra.tasks import retried
from knowledge import curated, services


@shared_task(**retried())
def ingest_document(tenant_id: int, document_id: int) -> str:
    """Extract, chunk and embed an uploaded document (``knowledge.services.document_ingest``)."""
    return services.document_ingest(tenant_id=tenant_id, document_id=document_id)


@shared_task(**retried())
def embed_curated_answer(tenant_id: int, entry_id: int) -> str:
    """Embed a curated answer's phrasings (``knowledge.curated.curated_embed``)."""
    return curated.curated_embed(tenant_id=tenant_id, entry_id=entry_id)


@shared_task
def fail_stuck_documents() -> int:
    """Beat: documents pending for too long are failed (``knowledge.services.documents_fail_stuck``)."""
    return services.documents_fail_stuck(now=timezone.now())
