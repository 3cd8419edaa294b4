"""Generations whose process died (a SIGKILL, a lost machine): ended by another instance.

Every generation keeps a record in the generation store (``turn_record``): the turn without its
prompt, the prompt's token estimate and its admission ticket. When its lease lapses, one
instance takes it over (``GenerationStore.take``) and ends it as the dead process would have with
an upstream failure: the question and the text already streamed are stored with
``finish_reason: "error"``, the estimated tokens are billed, the stream slot and the budget
reservation are released, and clients attached or resuming get ``done`` and ``UPSTREAM_ERROR``.
"""

import time

import orjson
import structlog
from django.conf import settings

from billing import admission
from chat.frames import TYPING_OFF, done_frame, error_frame
from chat.gateway.llm import Usage
from chat.gateway.llm.tokens import estimate_tokens
from chat.history.outbox import get_outbox
from chat.history.recorder import turn_recorder
from chat.history.working_memory import get_working_memory
from chat.protocol import ErrorCode
from chat.selectors import answer_exists
from chat.turn import Outcome, PreparedTurn, turn_dump, turn_load
from chat.turns.store import GenerationStore, GenKey
from infra import safe_json
from infra.db import in_db_thread

log = structlog.stdlib.get_logger(__name__)

LOST = "the server answering this message was lost; ask again"


def turn_record(turn: PreparedTurn, ticket: admission.Ticket | None, *, prompt_tokens: int) -> str:
    """The JSON the reaper needs to end ``turn`` (its prompt left out: only its size counts)."""
    return safe_json.dumps(
        {
            "turn": turn_dump(turn),
            "prompt_tokens": prompt_tokens,
            "ticket": admission.ticket_state(ticket),
            "started_at": time.time(),
        }
    )


async def _kept(key: GenKey) -> bool:
    if await in_db_thread(answer_exists)(tenant_id=key.tenant_id, message_id=key.message_id):
        return True
    return await get_outbox().holds(key.tenant_id, key.message_id)


async def reap(store: GenerationStore, key: GenKey) -> None:
    info = await store.info(key)
    # Ended (its process went after the end, before giving the lease back), or its frames lapsed
    # too (or never began: the lease is taken first): nothing is left to end.
    if info is None or info.finished:
        return
    raw = await store.record(key)
    if raw is None:
        return
    data = orjson.loads(raw)
    turn = turn_load(data["turn"])
    entries = await store.read(key)
    text = "".join(f["content"] for _, f in entries if f is not None and f.get("type") == "token")
    usage = Usage(input_tokens=data["prompt_tokens"], output_tokens=estimate_tokens(text), estimated=True)
    outcome = Outcome(
        text=text,
        finish_reason="error",
        usage=usage,
        cost_usd=turn.price.cost(
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, cached_input_tokens=0
        ),
        ttft_ms=None,
        latency_ms=round((time.time() - data["started_at"]) * 1000),
        error=LOST,
    )
    log.warning("generation.reaped", message_id=key.message_id, tenant_id=key.tenant_id, chars=len(text))
    # The dead process may have stored the turn (and settled it) before it could close the stream,
    # or put it in the outbox, the database away: that whole answer is the one to keep.
    if not await _kept(key):
        await turn_recorder().record(turn, outcome)
        await admission.finish_lost(data["ticket"], spent=outcome.spent)
        # The conversation's working memory lacks this turn (or still holds the one it replaced):
        # emptied, the next message refills it from PostgreSQL.
        await get_working_memory().refill(
            tenant_id=turn.tenant_id, conversation_id=turn.conversation_id, items=[]
        )
    frames = [
        TYPING_OFF,
        done_frame(
            message_id=key.message_id,
            finish_reason=outcome.finish_reason,
            model=turn.request.model,
            usage=usage,
            cost_usd=outcome.cost_usd,
        ),
        error_frame(ErrorCode.UPSTREAM_ERROR, LOST),
    ]
    await store.append([(key, frame) for frame in frames])
    await store.finish(key=key, keep_s=settings.CHAT_GENERATION_KEEP_S)
