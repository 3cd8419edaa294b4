"""Writes about conversations: a finished turn recorded, a message held for an agent or an
agent's reply, a conversation closed, resolved, escalated, renamed or deleted, an answer rated.
(A turn is prepared by ``chat.turns.prepare``.)"""

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.services import usage_records_create
from chat.files import files_bind
from chat.gateway.moderation import PiiPolicy, scrubbed
from chat.history.ids import allocate_message_ids
from chat.history.pending import conversation_pending_forget
from chat.models import Conversation, Handoff, Message, Role
from chat.push import push_event_sync
from chat.turn import Outcome, PreparedTurn
from tenants.events import Event, emit
from tenants.selectors import chat_config_get

log = structlog.stdlib.get_logger(__name__)


@transaction.atomic
def turns_record(*, turns: Sequence[tuple[PreparedTurn, Outcome]]) -> None:
    """Write finished turns (each: the user message, the answer, its usage record) in one
    transaction: all of them or none. ``chat.history.recorder`` groups the turns that end together."""
    messages: list[dict[str, Any]] = []
    usage_records: list[dict[str, Any]] = []
    added_per_conversation: Counter[int] = Counter()
    for turn, outcome in turns:
        usage = outcome.usage
        # What the answer and its ledger entry both record.
        accounted = {
            "tenant_id": turn.tenant_id,
            "conversation_id": turn.conversation_id,
            "model": turn.request.model,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "cost_usd": outcome.cost_usd,
        }
        messages.append(
            {
                "id": turn.user_message_id,
                "tenant_id": turn.tenant_id,
                "conversation_id": turn.conversation_id,
                "role": Role.USER,
                "content": turn.content,
                "client_id": turn.client_id,
                "variant_id": turn.variant_id,
            }
        )
        messages.append(
            {
                "id": turn.answer_message_id,
                "role": Role.ASSISTANT,
                "content": outcome.text,
                "reply_to_id": turn.user_message_id,
                "variant_id": turn.variant_id,
                "tokens_estimated": usage.estimated,
                "cached": outcome.cached,
                "curated_answer_id": turn.curated_answer_id if outcome.cached else None,
                "route": turn.route,
                "fallback_from": turn.fallback_from,
                "finish_reason": outcome.finish_reason,
                "sources": list(turn.sources),
                "tool_calls": list(outcome.tool_calls),
                "ttft_ms": outcome.ttft_ms,
                "latency_ms": outcome.latency_ms,
                **accounted,
            }
        )
        usage_records.append(
            {
                "user_id": turn.user_id,
                "message_id": turn.answer_message_id,
                "estimated": usage.estimated,
                "cached": outcome.cached,
                "priced_by_default": turn.price.by_default,
                **accounted,
            }
        )
        added_per_conversation[turn.conversation_id] += 2
    Message.objects.insert_rows(messages)  # one statement: the answers reply to their questions
    usage_records_create(records=usage_records)
    for turn, _ in turns:
        if turn.replaces is not None:
            _turn_replace(turn)
        files_bind(
            tenant_id=turn.tenant_id,
            user_id=turn.user_id,
            conversation_id=turn.conversation_id,
            message_id=turn.user_message_id,
            file_ids=list(turn.files),
        )
    now = timezone.now()
    # One UPDATE per distinct count (almost always one: each conversation adds one turn). A batch
    # holds turns of many tenants; each id was checked against its tenant when the turn began.
    by_count: dict[int, list[int]] = {}
    for conversation_id, added in added_per_conversation.items():
        by_count.setdefault(added, []).append(conversation_id)
    for added, conversation_ids in by_count.items():
        Conversation.objects.unscoped().filter(pk__in=conversation_ids).update(
            last_message_at=now, message_count=F("message_count") + added
        )
    for turn, outcome in turns:
        emit(tenant_id=turn.tenant_id, event=Event.MESSAGE_ANSWERED, data=answered_event(turn, outcome))


def answered_event(turn: PreparedTurn, outcome: Outcome) -> dict[str, Any]:
    """``message.answered``'s data: what was asked and answered, by which model, at what cost."""
    return {
        "conversation_id": turn.conversation_id,
        "message_id": turn.answer_message_id,
        "question_id": turn.user_message_id,
        "user_id": turn.user_id,
        "model": turn.request.model,
        "finish_reason": outcome.finish_reason,
        "cached": outcome.cached,
        "input_tokens": outcome.usage.input_tokens,
        "output_tokens": outcome.usage.output_tokens,
        "cost_usd": str(outcome.cost_usd),
    }


def _turn_replace(turn: PreparedTurn) -> None:
    """The messages from the replaced turn's question on become earlier versions of ``turn``:
    kept, shown as versions, out of the model's context."""
    (
        Message.objects.for_tenant(turn.tenant_id)
        .filter(conversation_id=turn.conversation_id, pk__gte=turn.replaces, replaced_by__isnull=True)
        .exclude(pk__in=(turn.user_message_id, turn.answer_message_id))
        .update(replaced_by_id=turn.user_message_id)
    )


@transaction.atomic
def turns_record_missing(*, tenant_id: int, turns: Sequence[tuple[PreparedTurn, Outcome]]) -> int:
    """Write those of ``turns`` (all of ``tenant_id``) whose answer is not stored yet, in one
    transaction; returns how many. A turn sent again after a commit whose acknowledgement was
    lost is written once (``chat.history.outbox``)."""
    answer_ids = [turn.answer_message_id for turn, _ in turns]
    stored = set(Message.objects.for_tenant(tenant_id).filter(pk__in=answer_ids).values_list("pk", flat=True))
    missing = [(turn, outcome) for turn, outcome in turns if turn.answer_message_id not in stored]
    if missing:
        turns_record(turns=missing)
    return len(missing)


def conversations_close_idle(*, tenant_id: int, idle_minutes: int, now: datetime) -> int:
    """End the tenant's conversations with no message for ``idle_minutes``; returns how many.
    Idempotent: an ended conversation is left as it is."""
    cutoff = now - timedelta(minutes=idle_minutes)
    idle = Q(last_message_at__lt=cutoff) | Q(last_message_at__isnull=True, started_at__lt=cutoff)
    return Conversation.objects.for_tenant(tenant_id).filter(idle, ended_at__isnull=True).update(ended_at=now)


def message_add(
    *,
    tenant_id: int,
    conversation_id: int,
    now: datetime,
    counted: dict[str, Any] | None = None,
    **fields: Any,
) -> Message:
    """A message written on its own, not as a model's turn (``turns_record``): a user's held for
    the agent who holds the conversation, an agent's reply. The conversation's count and last
    message move with it (and ``counted``: more of its fields to set). Its id comes from
    ``chat.history.ids`` like every message's (on SQLite the table's own autoincrement would take
    an id already handed to a turn in progress)."""
    fields.setdefault("id", allocate_message_ids(1)[0])
    with transaction.atomic():
        message = Message.objects.for_tenant(tenant_id).create(
            tenant_id=tenant_id, conversation_id=conversation_id, **fields
        )
        Conversation.objects.for_tenant(tenant_id).filter(pk=conversation_id).update(
            message_count=F("message_count") + 1, last_message_at=now, **(counted or {})
        )
    return message


def message_held(
    *, tenant_id: int, conversation_id: int, message_id: int, content: str, client_id: uuid.UUID
) -> None:
    """The user's message in a conversation an agent holds: stored (with its ``client_id``, so a
    replay finds it) for the agent; no answer of the bot's follows."""
    message_add(
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        now=timezone.now(),
        id=message_id,
        role=Role.USER,
        content=content,
        client_id=client_id,
    )


def conversation_resolve(*, tenant_id: int, conversation_id: int, now: datetime) -> None:
    """The user says the problem is solved."""
    with transaction.atomic():
        if (
            Conversation.objects.for_tenant(tenant_id)
            .filter(pk=conversation_id, resolved=False)
            .update(resolved=True, resolved_at=now)
        ):
            emit(
                tenant_id=tenant_id,
                event=Event.CONVERSATION_RESOLVED,
                data={"conversation_id": conversation_id, "by": "user", "at": now.isoformat()},
            )


@dataclass(frozen=True, slots=True)
class Escalated:
    first: bool  # its first escalation (the e-mail is due)
    waiting: bool  # it waits for a human now (False: an agent holds it already)


def conversation_escalate(*, tenant_id: int, conversation_id: int, reason: str, now: datetime) -> Escalated:
    """Hand the conversation to a human: waiting in the inbox, unless an agent holds it already.
    A conversation handed back to the assistant and escalated again waits again."""
    with transaction.atomic():
        first = (
            Conversation.objects.for_tenant(tenant_id)
            .filter(pk=conversation_id, escalated=False)
            .update(escalated=True, escalated_at=now, escalation_reason=reason)
        )
        waiting = (
            Conversation.objects.for_tenant(tenant_id)
            .filter(pk=conversation_id, handoff=Handoff.BOT)
            .update(handoff=Handoff.WAITING)
        )
        if first or waiting:
            emit(
                tenant_id=tenant_id,
                event=Event.CONVERSATION_ESCALATED,
                data={"conversation_id": conversation_id, "reason": reason, "at": now.isoformat()},
            )
    return Escalated(first=bool(first), waiting=bool(waiting))


def conversation_rename(*, tenant_id: int, user_id: int, conversation_id: int, title: str) -> bool:
    """The user's own conversation gets ``title``; False when it is not theirs (or deleted)."""
    return bool(
        Conversation.objects.for_tenant(tenant_id)
        .filter(pk=conversation_id, user_id=user_id, deleted_at__isnull=True)
        .update(title=title)
    )


def conversation_delete(*, tenant_id: int, user_id: int, conversation_id: int, now: datetime) -> bool:
    """The user deletes their own conversation: hidden from them from now on (lists, search,
    reconnects: 4404), kept for the tenant until its retention purges it
    (``chat.history.background.history_purge``). Its open sockets close with 4404, on every
    instance, once this is committed. False when it is not theirs (or already deleted)."""
    deleted = (
        Conversation.objects.for_tenant(tenant_id)
        .filter(pk=conversation_id, user_id=user_id, deleted_at__isnull=True)
        .update(deleted_at=now)
    )
    if deleted:
        conversation_pending_forget(tenant_id=tenant_id, user_id=user_id, conversation_id=conversation_id)
        transaction.on_commit(
            lambda: push_event_sync(
                tenant_id=tenant_id,
                user_id=user_id,
                event={"type": "conversation.deleted", "conversation_id": conversation_id},
            )
        )
    return bool(deleted)


class MessageNotFound(Exception):
    pass


def feedback_record(*, tenant_id: int, user_id: int, message_id: int, rating: int, comment: str) -> None:
    """CSAT for one answer of the user's own conversation; the conversation keeps the latest."""
    with transaction.atomic():
        answer = (
            Message.objects.for_tenant(tenant_id)
            .select_related("conversation")
            .filter(pk=message_id, role=Role.ASSISTANT, conversation__user_id=user_id)
            .first()
        )
        if answer is None:
            raise MessageNotFound(message_id)
        answer.rating = rating
        pii = PiiPolicy.of(chat_config_get(tenant_id=tenant_id))
        answer.feedback_comment = scrubbed(pii=pii, text=comment)
        answer.save(update_fields=["rating", "feedback_comment"])
        Conversation.objects.for_tenant(tenant_id).filter(pk=answer.conversation_id).update(rating=rating)
        emit(
            tenant_id=tenant_id,
            event=Event.FEEDBACK_RECEIVED,
            data={"conversation_id": answer.conversation_id, "message_id": message_id, "rating": rating,
                  "comment": answer.feedback_comment},
        )  # fmt: skip
