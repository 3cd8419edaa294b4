"""Files attached to chat messages: stored through Django's storage API (``STORAGES
["attachments"]``: the file system, or an S3-compatible bucket), keys beginning with the tenant;
a document's text read at upload (``knowledge.extract``), for the model's context.

A file is uploaded first (``POST /api/v1/attachments/``), then named by the ``message`` frame's
``attachments``; the turn binds it to the conversation and the user message. Only its uploader
may send it; another user's or tenant's id is not found. Downloads: the conversation's user and
the tenant's owners and admins. Retention deletes files with their messages; a file never sent
is deleted after ``UNSENT_FILES_KEPT``.
"""

import base64
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db.models import Q, QuerySet

from chat.gateway.llm.tokens import estimate_tokens
from chat.models import ChatFile
from chatplatform.safe_json import storable
from knowledge.extract import Unreadable, content_type_of, sections_of
from tenants.models import Tenant

log = structlog.stdlib.get_logger(__name__)

MAX_FILES_PER_MESSAGE = 5
UNSENT_FILES_KEPT = timedelta(hours=24)
# What the files of one message may take of the model's context, at most.
FILES_SHARE = 0.25
FILES_MAX_TOKENS = 4000
IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def attachments_storage() -> Storage:
    return storages["attachments"]


class FileRefused(Exception):
    """An upload the tier or the file itself does not allow; the message says why."""


class FileNotFound(Exception):
    """Unknown, another user's, another tenant's, or already sent in another conversation."""


def file_store(*, tenant: Tenant, user_id: int, filename: str, declared_type: str, data: bytes) -> ChatFile:
    limit = tenant.tier.attachment_max_bytes
    if len(data) > limit:
        raise FileRefused(f"at most {limit} bytes a file on the {tenant.tier.name} tier")
    if not data:
        raise FileRefused("the file is empty")
    declared = declared_type.split(";")[0].strip().lower()
    text = ""
    if declared in IMAGE_TYPES:
        content_type = declared
    else:
        try:
            content_type = content_type_of(filename, declared)
            text = "\n\n".join(
                f"{s.heading}\n{s.text}" if s.heading else s.text for s in sections_of(content_type, data)
            )
        except Unreadable as exc:
            raise FileRefused(str(exc)) from None
    safe_name = _UNSAFE.sub("_", filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])[:100] or "file"
    key = f"t{tenant.pk}/u{user_id}/{uuid.uuid4().hex}/{safe_name}"
    stored_key = attachments_storage().save(key, ContentFile(data))
    return ChatFile.objects.for_tenant(tenant.pk).create(
        tenant=tenant,
        user_id=user_id,
        filename=storable(filename)[:255] or safe_name,
        content_type=content_type,
        size_bytes=len(data),
        key=stored_key,
        text=storable(text),
    )


@dataclass(frozen=True, slots=True)
class TurnFile:
    id: int
    filename: str
    content_type: str
    text: str
    key: str

    @property
    def image(self) -> bool:
        return self.content_type in IMAGE_TYPES


def files_for_turn(
    *, tenant_id: int, user_id: int, conversation_id: int, file_ids: tuple[int, ...]
) -> list[TurnFile]:
    """The user's own files named by a message: unsent ones, or sent before in this very
    conversation (a replay); anything else is ``FileNotFound``."""
    if not file_ids:
        return []
    found = list(
        ChatFile.objects.for_tenant(tenant_id)
        .filter(pk__in=file_ids, user_id=user_id)
        .filter(Q(conversation__isnull=True) | Q(conversation_id=conversation_id))
        .order_by("id")
    )
    if len(found) != len(set(file_ids)):
        raise FileNotFound(sorted(set(file_ids) - {f.pk for f in found}))
    return [TurnFile(f.pk, f.filename, f.content_type, f.text, f.key) for f in found]


def files_block(files: list[TurnFile], *, context_tokens: int, images_given: bool) -> str:
    """The files' text as the question carries it, cut to a share of the model's context; an
    image is named (and, ``images_given``, sent beside the text: ``image_parts``)."""
    budget = min(FILES_MAX_TOKENS, int(context_tokens * FILES_SHARE))
    parts = []
    for file in files:
        if file.image:
            given = "it is given with this message" if images_given else "this model is not given images"
            parts.append(f"[Attached image: {file.filename} ({given})]")
            continue
        room = max(0, budget - estimate_tokens("".join(parts)))
        text = file.text[: room * 4]
        cut = " (cut: the file is longer)" if len(text) < len(file.text) else ""
        parts.append(f"[Attached file: {file.filename}{cut}]\n{text}")
    return "\n\n".join(parts)


def image_parts(files: list[TurnFile]) -> list[dict[str, Any]]:
    """The attached images as OpenAI message parts (data URLs), for a model that reads images."""
    storage = attachments_storage()
    parts = []
    for file in files:
        if file.image:
            with storage.open(file.key, "rb") as stored:
                data = base64.b64encode(stored.read()).decode()
            parts.append(
                {"type": "image_url", "image_url": {"url": f"data:{file.content_type};base64,{data}"}}
            )
    return parts


def files_bind(
    *, tenant_id: int, user_id: int, conversation_id: int, message_id: int, file_ids: list[int]
) -> None:
    """With the turn's record: the files now belong to the conversation and the user message."""
    if file_ids:
        ChatFile.objects.for_tenant(tenant_id).filter(pk__in=file_ids, user_id=user_id).update(
            conversation_id=conversation_id, message_id=message_id
        )


def downloadable(*, tenant_id: int, user_id: int, manager: bool) -> QuerySet[ChatFile]:
    """The files a caller may download: those of their own conversations (or their own unsent
    uploads); a tenant's owners and admins, every file of the tenant."""
    files = ChatFile.objects.for_tenant(tenant_id)
    if manager:
        return files
    return files.filter(Q(conversation__user_id=user_id) | Q(conversation__isnull=True, user_id=user_id))


def files_delete(files: QuerySet[ChatFile]) -> int:
    """The files and their stored objects (the objects first: no row points at a lost object)."""
    storage = attachments_storage()
    keys = list(files.values_list("key", flat=True))
    for key in keys:
        storage.delete(key)
    files.delete()
    return len(keys)


def unsent_files_purge(*, now: datetime) -> int:
    # Every tenant's (a maintenance pass): deliberately unscoped.
    stale = ChatFile.objects.unscoped().filter(
        conversation__isnull=True, created_at__lt=now - UNSENT_FILES_KEPT
    )
    return files_delete(stale)
