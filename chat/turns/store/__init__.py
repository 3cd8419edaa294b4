"""Where generations are known beyond the process that runs them: the interface, and the
in-process implementation of the embedded default.

A generation (one answer being produced) is named by its tenant and answer ``message_id``. The
store keeps, per generation:

- the **claim** of its ``client_id``, taken before anything else happens to a message, so that
  a second ``message`` with the same id never starts a second upstream call: it joins the first;
- its **frames**, in order, so that a client that reconnects to any instance can ``resume``;
- its **info** (owner, conversation, last ``seq``, finished or not) and its **record** (what the
  reaper needs to store and bill it if the process running it dies);
- a **lease**, renewed by the process running it; a lapsed lease means that process is gone.

``RedisGenerationStore`` (``chat.turns.store.redis``) shares all of it between instances;
``MemoryGenerationStore`` keeps it in the one process of the embedded default. One contract test
module runs against both (``tests/contracts/test_generation_store_contract.py``).
"""

from django.conf import settings

from chat.turns.store.base import (
    START,
    Claim,
    Entry,
    GenerationInfo,
    GenerationStore,
    GenerationStoreUnavailable,
    GenKey,
    claim_value,
    encode_frame,
    parse_claim,
)
from chat.turns.store.memory import MemoryGenerationStore
from chat.turns.store.redis import RedisGenerationStore
from infra.hot_redis import hot_redis, lean_redis


def get_generation_store() -> GenerationStore:
    """A store for one event loop's registry (``chat.turns.generations``): Redis's is shared by
    every instance; the in-process one is this loop's own."""
    if settings.REDIS_URL:
        return RedisGenerationStore(hot_redis(), lean_redis())
    return MemoryGenerationStore()


__all__ = [
    "START",
    "Claim",
    "Entry",
    "GenKey",
    "GenerationInfo",
    "GenerationStore",
    "GenerationStoreUnavailable",
    "MemoryGenerationStore",
    "RedisGenerationStore",
    "claim_value",
    "encode_frame",
    "get_generation_store",
    "parse_claim",
]
