"""Files attached to chat messages: stored through Django's storage API (``STORAGES
["attachments"]``: the file system, or an S3-compatible bucket), keys beginning with the tenant;
a document's text read at upload (``knowledge.extract``), for the model's context.

A file is uploaded first (``POST /api/v1/attachments/``), then named by the ``message`` frame's
``attachments``; the turn binds it to the conversation and the user message. Only its uploader
may send it; another user's or tenant's id is not found. Downloads: the conversation's user and
the tenant's owners and admins. Retention deletes files with their messages; a file never sent
is deleted after ``UNSENT_FILES_KEPT``. An upload's content must be what its type says, and the
files not yet sent are held to the tier's quotas (``_check_quotas``).
"""

import base64
import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import filetype
import structlog
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from chat.gateway.llm.tokens import estimate_tokens
from chat.models import ChatFile
from infra.safe_json import storable
from knowledge.extract import Unreadable, content_type_of, sections_of
from tenants.models import Tenant

log = structlog.stdlib.get_logger(__name__)

MAX_FILES_PER_MESSAGE = 5
UNSENT_FILES_KEPT = timedelta(hours=24)
UPLOAD_WINDOW = timedelta(minutes=1)
# What the files of one message may take of the model's context, at most.
FILES_SHARE = 0.25
FILES_MAX_TOKENS = 4000
IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def attachments_storage() -> Storage:
    return storages["attachments"]


class FileRefused(Exception):
    """An upload the tier or the file itself does not allow; the message says why."""


class FileQuotaExceeded(FileRefused):
    """An upload past one of the tier's attachment quotas (``limit`` names it); with
    ``retry_after`` (seconds) when it is the uploads per minute."""

    def __init__(self, message: str, *, limit: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.limit, self.retry_after = limit, retry_after


class FileNotFound(Exception):
    """Unknown, another user's, another tenant's, or already sent in another conversation."""


def file_store(*, tenant: Tenant, user_id: int, filename: str, declared_type: str, data: bytes) -> ChatFile:
    """Checked (size, type against the content's signature, readable text), stored, then
    counted against the tier's quotas under the tenant's lock: a refused file is removed."""
    limit = tenant.tier.attachment_max_bytes
    if len(data) > limit:
        raise FileRefused(f"at most {limit} bytes a file on the {tenant.tier.name} tier")
    if not data:
        raise FileRefused("the file is empty")
    declared = declared_type.split(";")[0].strip().lower()
    text = ""
    try:
        content_type = declared if declared in IMAGE_TYPES else content_type_of(filename, declared)
        _check_signature(content_type, data)
        if content_type not in IMAGE_TYPES:
            text = "\n\n".join(
                f"{s.heading}\n{s.text}" if s.heading else s.text for s in sections_of(content_type, data)
            )
    except Unreadable as exc:
        raise FileRefused(str(exc)) from None
    safe_name = _UNSAFE.sub("_", filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])[:100] or "file"
    storage = attachments_storage()
    stored_key = storage.save(f"t{tenant.pk}/u{user_id}/{uuid.uuid4().hex}/{safe_name}", ContentFile(data))
    try:
        with transaction.atomic():
            _check_quotas(tenant, user_id, len(data))
            return ChatFile.objects.for_tenant(tenant.pk).create(
                tenant=tenant,
                user_id=user_id,
                filename=storable(filename)[:255] or safe_name,
                content_type=content_type,
                size_bytes=len(data),
                key=stored_key,
                text=storable(text),
            )
    except BaseException:
        storage.delete(stored_key)
        raise


def _check_signature(content_type: str, data: bytes) -> None:
    """The declared (or named) type must be what the content is: an image or a PDF by its
    signature, a text type by having none of a known binary format (``filetype``)."""
    found = filetype.guess_mime(data)
    if content_type in IMAGE_TYPES or content_type == "application/pdf":
        if found != content_type:
            raise Unreadable(f"the file's content is not {content_type} (it looks like {found or 'text'})")
    elif found is not None:
        raise Unreadable(f"the file's content is {found}, not {content_type}")


def _check_quotas(tenant: Tenant, user_id: int, size: int) -> None:
    """Within a transaction. The tenant row is the lock: concurrent uploads cannot all take the
    last room (as documents take their places, ``knowledge.services``)."""
    tier = tenant.tier
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    files = ChatFile.objects.for_tenant(tenant.pk)
    now = timezone.now()
    if tier.attachment_uploads_per_minute is not None:
        recent = list(
            files.filter(user_id=user_id, created_at__gt=now - UPLOAD_WINDOW)
            .order_by("created_at")
            .values_list("created_at", flat=True)[: tier.attachment_uploads_per_minute]
        )
        if len(recent) >= tier.attachment_uploads_per_minute:
            wait = max(1, math.ceil((recent[0] + UPLOAD_WINDOW - now).total_seconds()))
            raise FileQuotaExceeded(
                f"at most {tier.attachment_uploads_per_minute} uploads a minute on the {tier.name} tier",
                limit="attachment_uploads_per_minute",
                retry_after=wait,
            )
    unsent = files.filter(conversation__isnull=True).aggregate(
        files=Count("id"),
        bytes=Sum("size_bytes", default=0),
        member_files=Count("id", filter=Q(user_id=user_id)),
        member_bytes=Sum("size_bytes", filter=Q(user_id=user_id), default=0),
    )
    for limit, held, more, what in [
        ("attachment_unsent_files_per_member", unsent["member_files"], 1, "unsent files a member"),
        ("attachment_unsent_bytes_per_member", unsent["member_bytes"], size, "bytes unsent a member"),
        ("attachment_unsent_files", unsent["files"], 1, "unsent files in the workspace"),
        ("attachment_unsent_bytes", unsent["bytes"], size, "bytes unsent in the workspace"),
    ]:
        cap = getattr(tier, limit)
        if cap is not None and held + more > cap:
            raise FileQuotaExceeded(
                f"at most {cap} {what} on the {tier.name} tier; send or delete some first", limit=limit
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
