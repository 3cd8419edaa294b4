"""A subject's data, exported whole or erased from every store.

What the platform holds about an end user of a tenant: their account's profile (a visitor's
name, address and e-mail; an end user's id), their conversations and every message (answers,
ratings and comments), the files they attached (rows and stored objects), their usage records,
and in hot state: the working memory and in-flight answers of their conversations, their
conversations opened and never written in, their limit counters, and the tenant's response
caches, which may hold their questions' answers. Webhook deliveries about their conversations
carry their ids.

The erasure removes all of it: files from the storage first, then the rows (the account last,
which takes what refers to it), the hot-state keys, the tenant's caches (every answer of the
tenant cached before now: a cache cannot tell whose question filled it), the webhook deliveries
(``subject_erasing``: the webhooks app listens) and a curated answer's link to a message of
theirs. Usage records stay, without the person, conversation or message: the tenant's bill does
not change. The record of the erasure (the audit log's ``data.erased``) holds its own id, the
kind of subject and how many rows each store lost: nothing about the person.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.dispatch import Signal
from redis.exceptions import RedisError

from billing.models import UsageRecord
from chat.files import files_delete
from chat.gateway.response_cache import get_response_cache
from chat.gateway.semantic_cache import get_semantic_cache
from chat.history.pending import pending_forget_user
from chat.history.working_memory import get_working_memory
from chat.models import ChatFile, Conversation, Message
from chat.revocation import revoke_sockets
from infra.hot_state import hot_state_forget
from infra.keys import tenant_prefix
from knowledge.models import CuratedAnswer
from privacy.subjects import Subject
from tenants.changes import Change, tell
from tenants.models import Tenant
from tenants.selectors import forget_chat_configs

log = structlog.stdlib.get_logger(__name__)

# Sent inside the erasure's transaction with ``tenant_id``, ``user_id`` and ``conversation_ids``:
# a store kept by another app (the webhooks' deliveries) deletes what it holds of them and
# returns how many rows it deleted.
subject_erasing = Signal()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def subject_export(subject: Subject) -> dict[str, Any]:
    """Everything above, as one JSON document (the files' text included, not their bytes: they
    are downloaded by their own link, ``/api/v1/files/{id}/``)."""
    conversations = Conversation.objects.for_tenant(subject.tenant_id).filter(user_id=subject.user_id)
    messages = Message.objects.for_tenant(subject.tenant_id).filter(conversation__in=conversations)
    by_conversation: dict[int, list[dict[str, Any]]] = {}
    for m in messages.order_by("id"):
        by_conversation.setdefault(m.conversation_id, []).append(
            {
                "id": m.pk,
                "role": m.role,
                "content": m.content,
                "created_at": _iso(m.created_at),
                "model": m.model,
                "rating": m.rating,
                "feedback_comment": m.feedback_comment,
                "sources": m.sources,
            }
        )
    files = ChatFile.objects.for_tenant(subject.tenant_id).filter(user_id=subject.user_id).order_by("id")
    usage = UsageRecord.objects.for_tenant(subject.tenant_id).filter(user_id=subject.user_id).order_by("id")
    return {
        "subject": {"kind": subject.kind.value, **subject.profile()},
        "conversations": [
            {
                "id": c.pk,
                "title": c.title,
                "summary": c.summary,
                "started_at": _iso(c.started_at),
                "last_message_at": _iso(c.last_message_at),
                "rating": c.rating,
                "escalation_reason": c.escalation_reason,
                "messages": by_conversation.get(c.pk, []),
            }
            for c in conversations.order_by("id")
        ],
        "attachments": [
            {
                "id": f.pk,
                "conversation_id": f.conversation_id,
                "message_id": f.message_id,
                "filename": f.filename,
                "content_type": f.content_type,
                "size_bytes": f.size_bytes,
                "text": f.text,
                "created_at": _iso(f.created_at),
            }
            for f in files
        ],
        "usage": [
            {
                "message_id": u.message_id,
                "model": u.model,
                "input_tokens": u.input_tokens,
                "output_tokens": u.output_tokens,
                "cost_usd": str(u.cost_usd),
                "created_at": _iso(u.created_at),
            }
            for u in usage
        ],
    }


@dataclass(frozen=True, slots=True)
class Erasure:
    id: str
    kind: str
    counts: dict[str, int]


def _hot_state_erase(subject: Subject, conversation_ids: list[int], message_ids: list[int]) -> int:
    prefix = tenant_prefix(subject.tenant_id)
    prefixes = [
        *(f"{prefix}:conv:{c}:" for c in conversation_ids),  # working memory, answers in flight, costs
        f"{prefix}:user:{subject.user_id}:",  # conversations never written in
        f"{prefix}:rate:user:{subject.user_id}:",
        f"{prefix}:cache:",  # the tenant's exact and semantic caches
    ]
    keys = [
        *(f"{prefix}:gen:{m}{part}" for m in message_ids for part in ("", ":meta")),  # answers' frames
        f"{prefix}:sockets:user:{subject.user_id}",
    ]
    stores = [get_working_memory(), get_response_cache()]
    erased = hot_state_forget(prefixes=prefixes, keys=keys, stores=stores)
    get_semantic_cache().forget(f"{prefix}:")
    pending_forget_user(tenant_id=subject.tenant_id, user_id=subject.user_id)
    return erased


def _ids(subject: Subject) -> tuple[list[int], list[int]]:
    conversations = Conversation.objects.for_tenant(subject.tenant_id).filter(user_id=subject.user_id)
    conversation_ids = list(conversations.values_list("pk", flat=True))
    messages = Message.objects.for_tenant(subject.tenant_id).filter(conversation_id__in=conversation_ids)
    return conversation_ids, list(messages.values_list("pk", flat=True))


def subject_erase(subject: Subject) -> Erasure:
    """Erase the subject from every store; their open sockets close (4403) once committed.

    Hot state goes first: when Redis cannot be reached (``RedisError``, ``OSError``) nothing is
    erased and the caller can try again; once the rows are gone, what the last moments wrote
    there is erased too (a failure then is logged: those keys expire within hours)."""
    erasure_id = str(uuid.uuid4())
    hot_state_keys = _hot_state_erase(subject, *_ids(subject))
    with transaction.atomic():
        conversation_ids, message_ids = _ids(subject)
        conversations = Conversation.objects.for_tenant(subject.tenant_id).filter(pk__in=conversation_ids)
        messages = Message.objects.for_tenant(subject.tenant_id).filter(pk__in=message_ids)
        revoke_sockets(tenant_id=subject.tenant_id, user_ids=[subject.user_id])
        files = files_delete(ChatFile.objects.for_tenant(subject.tenant_id).filter(user_id=subject.user_id))
        curated = (
            CuratedAnswer.objects.for_tenant(subject.tenant_id)
            .filter(source_message_id__in=message_ids)
            .update(source_message_id=None)
        )
        elsewhere = sum(
            int(count or 0)
            for _, count in subject_erasing.send(
                sender=Subject,
                tenant_id=subject.tenant_id,
                user_id=subject.user_id,
                conversation_ids=conversation_ids,
            )
        )
        message_count = messages.delete()[0]
        conversations.delete()
        subject.row.delete()
        get_user_model().objects.filter(pk=subject.user_id).delete()
        # Answers cached before now are unreachable from here on, in every process's index too.
        Tenant.objects.filter(pk=subject.tenant_id).update(config_version=F("config_version") + 1)
        counts = {
            "conversations": len(conversation_ids),
            "messages": message_count,
            "files": files,
            "curated_links": curated,
            "webhook_deliveries": elsewhere,
        }
        tell(
            tenant_id=subject.tenant_id,
            change=Change.DATA_ERASED,
            target=f"erasure {erasure_id}",
            changes={"kind": [subject.kind.value, None], **{k: [v, 0] for k, v in counts.items()}},
        )
    forget_chat_configs()
    try:
        hot_state_keys += _hot_state_erase(subject, conversation_ids, message_ids)
    except (RedisError, OSError) as exc:
        log.warning("privacy.hot_state_unreached", erasure=erasure_id, error=repr(exc))
    counts["hot_state_keys"] = hot_state_keys
    return Erasure(id=erasure_id, kind=subject.kind.value, counts=counts)
