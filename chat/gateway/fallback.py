"""The circuit breaker on the message path: which model a turn may call, and the fallback.

While the breaker of the routed model is open, the turn goes to the tenant's fallback model
(recorded on the answer as ``fallback_from``); with no fallback, or with the fallback's breaker
open too, the message fails fast instead of waiting on a failing provider.
"""

from dataclasses import replace

import structlog

from billing.pricing import price_for
from chat.gateway.llm import LLMProvider
from chat.gateway.llm.breaker import BreakerSettings, Pass, get_breaker_store
from chat.turn import Outcome, PreparedTurn
from infra import metrics
from infra.db import in_db_thread

log = structlog.stdlib.get_logger(__name__)

_STATE_VALUES = {Pass.CLOSED: 0, Pass.PROBE: 1, Pass.OPEN: 2}


class ModelUnavailable(Exception):
    pass


def _scope(provider: LLMProvider, model: str) -> str:
    return f"{provider.name}:{model}"


async def _acquire(provider: LLMProvider, model: str) -> Pass:
    decision = await get_breaker_store().acquire(_scope(provider, model), BreakerSettings.from_settings())
    metrics.BREAKER_STATE.labels(model).set(_STATE_VALUES[decision])
    return decision


async def breaker_pass_for(
    turn: PreparedTurn, provider: LLMProvider, *, fallback: str
) -> tuple[PreparedTurn, Pass]:
    primary = turn.request.model
    decision = await _acquire(provider, primary)
    if decision is not Pass.OPEN:
        return turn, decision
    fallback_model = provider.model_name(fallback) if fallback else ""
    if not fallback_model or fallback_model == primary:
        raise ModelUnavailable(f"The model {primary} is failing at the moment; try again shortly.")
    fallback_pass = await _acquire(provider, fallback_model)
    if fallback_pass is Pass.OPEN:
        raise ModelUnavailable("The models of this assistant are failing at the moment; try again shortly.")
    price = await in_db_thread(price_for)(fallback_model)
    metrics.FALLBACKS.labels(turn.tenant_slug, primary, fallback_model).inc()
    log.warning("chat.fallback", model=primary, fallback=fallback_model)
    request = replace(turn.request, model=fallback_model)
    return replace(turn, request=request, price=price, fallback_from=primary), fallback_pass


async def breaker_report(provider: LLMProvider, turn: PreparedTurn, outcome: Outcome, decision: Pass) -> None:
    # A cancel before the first token says nothing about the provider.
    ok = None if outcome.finish_reason == "cancelled" and outcome.ttft_ms is None else outcome.error is None
    state = await get_breaker_store().report(
        _scope(provider, turn.request.model),
        BreakerSettings.from_settings(),
        ok=ok,
        probe=decision is Pass.PROBE,
    )
    metrics.BREAKER_STATE.labels(turn.request.model).set(_STATE_VALUES[state])
