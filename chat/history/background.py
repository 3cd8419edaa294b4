"""Background work on conversations (run by Celery tasks, ``chat.tasks``): rolling summaries,
titles, escalation e-mails, retention. Each function is idempotent and tenant-scoped.

Summaries and titles are written by the tenant's cheap model (its `simple` routing model, else
its model) through the same provider as chat answers; their tokens go to the ledger
(``UsageRecord.purpose``) and the month's budget, like any answer's.
"""

import asyncio
import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction

from billing.admission import Spend, charge_background
from billing.models import UsageRecord
from billing.pricing import price_for
from chat.files import files_delete
from chat.frames import title_frame
from chat.gateway.llm import ChatRequest, LLMProvider, Usage, get_provider, provider_close
from chat.gateway.llm.tokens import estimate_prompt_tokens, estimate_tokens
from chat.history.working_memory import get_working_memory, memory_key
from chat.models import ChatFile, Conversation, Message
from chat.push import push_event_sync
from infra.hot_state import hot_state_forget
from infra.safe_json import storable
from tenants.models import Tenant

log = structlog.stdlib.get_logger(__name__)

R = TypeVar("R")

SUMMARIZER_PROMPT = (
    "You maintain the running summary of a customer-support conversation. Merge the summary so "
    "far with the new messages into one short summary (at most 120 words) that keeps every fact, "
    "request, promise and open question a support agent would need. Write only the summary."
)
TITLER_PROMPT = "Give this support conversation a title of at most six words. Write only the title."


def cheap_model(tenant: Tenant) -> str:
    return tenant.routing_model_simple or tenant.model


async def _complete(provider: LLMProvider, request: ChatRequest) -> tuple[str, Usage]:
    parts: list[str] = []
    usage: Usage | None = None
    async with contextlib.aclosing(provider.stream(request)) as chunks:
        async for chunk in chunks:
            parts.append(chunk.text)
            usage = chunk.usage or usage
    # A title or a summary is stored whatever the model sent (it is paid for): what PostgreSQL
    # cannot store is replaced.
    text = storable("".join(parts).strip())
    if usage is None:
        usage = Usage(
            input_tokens=estimate_prompt_tokens(request.messages),
            output_tokens=estimate_tokens(text),
            estimated=True,
        )
    return text, usage


@dataclass(frozen=True)
class Asked:
    """One completion a piece of background work needs from the tenant's cheap model."""

    tenant: Tenant
    conversation: Conversation
    prompt: str
    content: str
    max_tokens: int
    purpose: str
    key: str  # the usage record's idempotency key


def _ask_all(asked: Sequence[Asked]) -> list[tuple[str, UsageRecord] | BaseException]:
    """Each completion (at most ``BACKGROUND_CONCURRENCY`` at a time, on one loop and one client
    for them all), and its usage record (unsaved: ``_bill`` it with what it produced); an
    upstream failure is returned in its place."""

    async def run() -> list[tuple[str, str, Usage] | BaseException]:
        provider = get_provider(connection_pools=1)  # this batch's calls, on a loop of its own
        gate = asyncio.Semaphore(settings.BACKGROUND_CONCURRENCY)

        async def one(job: Asked) -> tuple[str, str, Usage]:
            model = provider.model_name(cheap_model(job.tenant))
            request = ChatRequest(
                model=model,
                messages=[
                    {"role": "system", "content": job.prompt},
                    {"role": "user", "content": job.content},
                ],
                max_tokens=job.max_tokens,
                temperature=0.2,
                end_user=f"t{job.tenant.pk}-c{job.conversation.pk}",
            )
            async with gate:
                text, usage = await _complete(provider, request)
            return model, text, usage

        try:
            return await asyncio.gather(*(one(job) for job in asked), return_exceptions=True)
        finally:
            await provider_close()

    return [
        answer if isinstance(answer, BaseException) else (answer[1], _usage_record(job, answer[0], answer[2]))
        for job, answer in zip(asked, asyncio.run(run()) if asked else [], strict=True)
    ]


def _usage_record(job: Asked, model: str, usage: Usage) -> UsageRecord:
    price = price_for(model)
    cost = price.cost(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_input_tokens=usage.cached_input_tokens,
    )
    return UsageRecord(
        tenant=job.tenant,
        user_id=job.conversation.user_id,
        conversation=job.conversation,
        model=model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        estimated=usage.estimated,
        priced_by_default=price.by_default,
        cost_usd=cost,
        purpose=job.purpose,
        idempotency_key=job.key,
    )


def _bill(record: UsageRecord) -> bool:
    """Save ``record`` inside the caller's transaction, with what it paid for; False when another
    run of the same task billed it already (its idempotency key is taken): the caller writes
    nothing. The month's budget and the conversation's cost cap in Redis are charged once the
    transaction commits."""
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        log.info("chat.background_already_billed", key=record.idempotency_key)
        return False
    spent = Spend(tokens=record.input_tokens + record.output_tokens, cost_usd=record.cost_usd)
    transaction.on_commit(
        lambda: charge_background(
            tenant_id=record.tenant_id, conversation_id=record.conversation_id, spent=spent
        )
    )
    return True


# What the background work reads of a conversation and its tenant: selecting the two rows' every
# column (the tenant's are many) and making them was an eighth of a summary's CPU in the worker
# (bench/background_bench.py: 15.9 ms, 13.8 without).
_CONVERSATION_FIELDS = (
    "user_id",
    "title",
    "summary",
    "summary_upto_id",
    "summary_message_count",
    "tenant__model",
    "tenant__routing_model_simple",
)


def _conversation(tenant_id: int, conversation_id: int) -> Conversation | None:
    """With its tenant. A conversation deleted since the task was queued (a deleted tenant, a
    user's data erased) is no error: there is nothing left to do."""
    return (
        Conversation.objects.for_tenant(tenant_id)
        .select_related("tenant")
        .only(*_CONVERSATION_FIELDS)
        .filter(pk=conversation_id)
        .first()
    )


def transcript(messages: list[Message]) -> str:
    return "\n".join(f"{m.role}: {m.content}" for m in messages if m.content)


@dataclass(frozen=True)
class Pending(Generic[R]):
    """Work that waits on a completion: what it asks, and what it does with the answer."""

    asked: Asked
    write: Callable[[str, UsageRecord], R]


def _summary(tenant_id: int, conversation_id: int) -> bool | Pending[bool]:
    """Fold the messages the summary does not cover yet, all but the latest few, into the
    summary. The result: whether a summary was written."""
    conversation = _conversation(tenant_id, conversation_id)
    if conversation is None:
        return False
    upto = conversation.summary_upto_id or 0
    uncovered = list(
        Message.objects.for_tenant(tenant_id)
        .filter(conversation_id=conversation_id, id__gt=upto, replaced_by__isnull=True)
        .only("role", "content")
        .order_by("id")
    )
    keep = settings.CHAT_SUMMARY_KEEP_RECENT
    to_fold = uncovered[:-keep] if keep else uncovered
    if not any(m.content for m in to_fold):
        return False
    content = f"Summary so far:\n{conversation.summary or '(none)'}\n\nNew messages:\n{transcript(to_fold)}"

    def write(summary: str, record: UsageRecord) -> bool:
        with transaction.atomic():
            if not _bill(record) or not summary:
                return False
            # Only if no other run got there first (the summary moves forward once per range).
            written = (
                Conversation.objects.for_tenant(tenant_id)
                .filter(pk=conversation_id, summary_upto_id=conversation.summary_upto_id)
                .update(
                    summary=summary,
                    summary_upto_id=to_fold[-1].pk,
                    summary_message_count=conversation.summary_message_count + len(to_fold),
                )
            )
        log.info(
            "chat.summarized", conversation_id=conversation_id, messages=len(to_fold), written=bool(written)
        )
        return bool(written)

    asked = Asked(
        tenant=conversation.tenant,
        conversation=conversation,
        prompt=SUMMARIZER_PROMPT,
        content=content,
        max_tokens=300,
        purpose="summary",
        key=f"summary:{conversation_id}:{to_fold[-1].pk}",
    )
    return Pending(asked, write)


def _title(tenant_id: int, conversation_id: int) -> str | Pending[str]:
    """The conversation's title, from its first question and answer. The result: the title."""
    conversation = _conversation(tenant_id, conversation_id)
    if conversation is None:
        return ""
    if conversation.title:
        return conversation.title
    first = list(
        Message.objects.for_tenant(tenant_id)
        .filter(conversation_id=conversation_id)
        .only("role", "content")
        .order_by("id")[:2]
    )
    if not first:
        return ""
    if not settings.OPENAI_API_KEY:
        # The offline demo model cannot name anything: the question's first words do.
        title = plain_title(first[0].content, max_words=TITLE_WORDS)
        _title_store(conversation, title)
        return title

    def write(answer: str, record: UsageRecord) -> str:
        title = plain_title(answer)
        with transaction.atomic():
            if not _bill(record):
                return ""
            _title_store(conversation, title)
        return title

    asked = Asked(
        tenant=conversation.tenant,
        conversation=conversation,
        prompt=TITLER_PROMPT,
        content=transcript(first),
        max_tokens=20,
        purpose="title",
        key=f"title:{conversation_id}",
    )
    return Pending(asked, write)


# The kinds of background work on a conversation (``chat.history.background_queue``).
WORK: dict[str, Callable[[int, int], Any]] = {"summary": _summary, "title": _title}


def background_run(work: Sequence[tuple[str, int, int]]) -> list[Any]:
    """Each ``(kind, tenant_id, conversation_id)`` of ``work``, its result or the exception it
    met, in order. The reads go first, then every completion at once (one event loop and one
    client for the batch), then each write in a transaction of its own: one failure stops no
    other work."""
    results: list[Any] = []
    for kind, tenant_id, conversation_id in work:
        try:
            results.append(WORK[kind](tenant_id, conversation_id))
        except Exception as exc:
            results.append(exc)
    pending = [(index, result) for index, result in enumerate(results) if isinstance(result, Pending)]
    for (index, each), answer in zip(pending, _ask_all([p.asked for _, p in pending]), strict=True):
        try:
            results[index] = answer if isinstance(answer, BaseException) else each.write(*answer)
        except Exception as exc:
            results[index] = exc
    return results


def _only(results: list[Any]) -> Any:
    (result,) = results
    if isinstance(result, BaseException):
        raise result
    return result


def conversation_summarize(*, tenant_id: int, conversation_id: int) -> bool:
    """Whether a summary was written (``_summary``)."""
    return bool(_only(background_run([("summary", tenant_id, conversation_id)])))


def conversation_title(*, tenant_id: int, conversation_id: int) -> str:
    return str(_only(background_run([("title", tenant_id, conversation_id)])))


TITLE_WORDS = 8
_MARKUP = re.compile(r"[*_`#>~|\\[\]\"]+")
_LABEL = re.compile(r"^\s*title\s*:", re.IGNORECASE)
_SPACE_BEFORE_MARK = re.compile(r"\s+([,.;:!?])")


def plain_title(text: str, *, max_words: int = 12) -> str:
    """A title as plain text: the first line with no markdown marks or quotes, at most
    ``max_words`` words and 200 characters (a model may answer ``**"Title:** Refund"``)."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    words = _LABEL.sub("", _MARKUP.sub(" ", line)).split()
    title = _SPACE_BEFORE_MARK.sub(r"\1", " ".join(words[:max_words]))
    if len(words) > max_words:
        title += "…"
    return title[:200]


def _title_store(conversation: Conversation, title: str) -> None:
    """Only over no title: a user's rename is never overwritten. The user's open chat pages are
    told (``title``), once it is committed, so their heading follows without asking."""
    if not title:
        return
    tenant_id, conversation_id, user_id = conversation.tenant_id, conversation.pk, conversation.user_id
    if Conversation.objects.for_tenant(tenant_id).filter(pk=conversation_id, title="").update(title=title):
        frame = title_frame(conversation_id=conversation_id, title=title)
        transaction.on_commit(
            lambda: push_event_sync(
                tenant_id=tenant_id, user_id=user_id, event={"type": "user.push", "frame": frame}
            )
        )


def history_purge(*, tenant_id: int, retention_days: int, now: datetime) -> int:
    """Delete the tenant's messages older than its retention, the working memory of the
    conversations they were in, and the conversations their users deleted that have no message
    left; the ledger keeps its records (without the message)."""
    expired = Message.objects.for_tenant(tenant_id).filter(
        created_at__lt=now - timedelta(days=retention_days)
    )
    conversation_ids = set(expired.values_list("conversation_id", flat=True).distinct())
    if not conversation_ids:
        return 0
    files_delete(ChatFile.objects.for_tenant(tenant_id).filter(message__in=expired))
    deleted = expired.delete()[0]
    Conversation.objects.for_tenant(tenant_id).filter(
        pk__in=conversation_ids, deleted_at__isnull=False
    ).exclude(pk__in=Message.objects.for_tenant(tenant_id).values("conversation_id")).delete()
    hot_state_forget(keys=[memory_key(tenant_id, c) for c in conversation_ids], stores=[get_working_memory()])
    return deleted
