"""Step 5 of the message path (DESIGN.md), with step 3's curated answers: the tenant's curated
answers, the exact cache, then the semantic cache, all tenant-scoped; and filling the caches
once an answer has ended well (step 8)."""

from dataclasses import dataclass

import structlog

from chat.gateway.response_cache import CachedAnswer, exact_key, get_response_cache
from chat.gateway.semantic_cache import SemanticProbe, get_semantic_cache, scope_of, standalone
from chat.turn import Outcome, PreparedTurn
from infra import metrics
from infra.embedder import embedder, embedder_installed
from infra.tracing import tracer
from tenants.selectors import ChatConfig

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CacheProbe:
    """What the lookups found, and what filling the caches after a miss needs."""

    hit: CachedAnswer | None = None
    hit_by: str = ""  # "curated", "exact" or "semantic"
    exact_key: str | None = None
    semantic: SemanticProbe | None = None


def semantic_cache_usable(config: ChatConfig) -> bool:
    """On for the tenant, and the model is loaded (until then the step is skipped, and the
    loading started if it was not: a message never waits for it)."""
    if not (config.semantic_cache and embedder_installed()):
        return False
    if not embedder().ready:
        embedder().start_loading()
        return False
    return True


async def exact_lookup(config: ChatConfig, turn: PreparedTurn) -> CacheProbe | None:
    """The exact cache's part of the lookup: one Redis read, no embedding, so the runner starts
    it alongside the admission. None: the question is not cached at all (it has images)."""
    if not isinstance(turn.request.messages[-1]["content"], str):
        return None  # a question with images: neither looked up nor kept
    if not config.exact_cache:
        return CacheProbe()
    key = exact_key(tenant_id=turn.tenant_id, config_version=config.version, request=turn.request)
    with tracer.start_as_current_span("chat.cache.exact") as span:
        hit = await get_response_cache().get(key)
        span.set_attribute("chat.cache_hit", hit is not None)
    if hit is not None:
        return CacheProbe(hit=hit, hit_by="exact", exact_key=key)
    return CacheProbe(exact_key=key)


async def cache_lookup(config: ChatConfig, turn: PreparedTurn, exact: CacheProbe | None) -> CacheProbe:
    """The lookup of an admitted message, given what ``exact_lookup`` found (counted here: a
    refused message's lookup is not one): the tenant's curated answer the turn matched comes
    first (nothing is cached then), the semantic cache after an exact miss."""
    if turn.curated_answer_id is not None:
        metrics.CACHE_LOOKUPS.labels(turn.tenant_slug, "curated", "hit").inc()
        return CacheProbe(
            hit=CachedAnswer(text=turn.curated_answer, model=turn.request.model), hit_by="curated"
        )
    if exact is None:
        return CacheProbe()
    if turn.regenerate:  # a new answer is asked for: it replaces the cached one
        return CacheProbe(exact_key=exact.exact_key)
    key = exact.exact_key
    if key is not None:
        metrics.CACHE_LOOKUPS.labels(turn.tenant_slug, "exact", "hit" if exact.hit else "miss").inc()
    if exact.hit is not None or not (semantic_cache_usable(config) and standalone(turn.request)):
        return exact
    with tracer.start_as_current_span("chat.cache.semantic") as span:
        question = turn.request.messages[-1]["content"]
        vector = await embedder().embed(question)
        probe = await get_semantic_cache().lookup(
            scope=scope_of(tenant_id=turn.tenant_id, config_version=config.version, request=turn.request),
            text=question,
            vector=vector,
            threshold=config.semantic_threshold,
            ttl_s=config.cache_ttl_s,
        )
        span.set_attributes(
            {"chat.cache_hit": probe.answer is not None, "chat.similarity": probe.score or 0.0}
        )
    metrics.CACHE_LOOKUPS.labels(turn.tenant_slug, "semantic", "hit" if probe.answer else "miss").inc()
    if probe.answer is not None:
        log.info("cache.semantic_hit", similarity=round(probe.score or 0.0, 4))
        return CacheProbe(hit=probe.answer, hit_by="semantic", exact_key=key, semantic=probe)
    return CacheProbe(exact_key=key, semantic=probe)


async def cache_fill(config: ChatConfig, turn: PreparedTurn, probe: CacheProbe, outcome: Outcome) -> None:
    """Only complete answers are kept: not cut off, cancelled or failed ones, nor one that called
    tools (its answer depends on what they returned then)."""
    if outcome.finish_reason != "stop" or outcome.error is not None or not outcome.text or outcome.tool_calls:
        return
    answer = CachedAnswer(text=outcome.text, model=turn.request.model)
    if probe.exact_key is not None:
        await get_response_cache().put(probe.exact_key, answer, ttl_s=config.cache_ttl_s)
    if probe.semantic is not None:
        await get_semantic_cache().put(probe.semantic, answer, ttl_s=config.cache_ttl_s)
