"""The semantic cache with the real local embedding model (all-MiniLM-L6-v2), on real Redis."""

import asyncio
import threading
import time

import numpy as np
import pytest

import infra.embedder
from chat.gateway.llm import ChatRequest
from chat.gateway.response_cache import CachedAnswer
from chat.gateway.semantic_cache import Entry, LocalIndex, SemanticCache, scope_of
from infra.embedder import Embedder, embedder
from tenants.models import Tenant
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, reconfigure
from testkit.ws import ask, open_chat


@pytest.fixture(scope="module", autouse=True)
def _model_loaded(embedding_model: None) -> None:
    """Every test here needs the model."""


async def enable_semantic_cache(*tenants: Tenant, threshold: float = 0.9) -> None:
    await reconfigure(
        *tenants, semantic_cache_enabled=True, semantic_cache_threshold=threshold, system_prompt="You help."
    )


async def first_message(token: str, content: str) -> list[dict]:
    communicator, _ = await open_chat(token)
    frames = await ask(communicator, content)
    await communicator.disconnect()
    return frames


async def test_a_paraphrase_is_answered_from_the_cache_an_unrelated_question_is_not(
    world: World, fake_llm: FakeOpenAI
) -> None:
    await enable_semantic_cache(world.acme)
    token = world.token(world.alice, world.acme)
    first = await first_message(token, "How do I reset my password? [[tokens=5]]")
    paraphrase = await first_message(token, "How can I reset my password? [[tokens=5]]")
    assert paraphrase[0] == {**paraphrase[0], "type": "response", "cached": True}
    assert paraphrase[0]["content"] == "".join(f["content"] for f in first if f["type"] == "token")
    unrelated = await first_message(token, "Do you ship to Canada? [[tokens=5]]")
    assert unrelated[0]["type"] == "typing"
    assert len(fake_llm.calls) == 2


async def test_never_across_tenants_nor_for_a_message_that_follows_earlier_turns(
    world: World, fake_llm: FakeOpenAI
) -> None:
    await enable_semantic_cache(world.acme, world.globex)
    await first_message(world.token(world.alice, world.acme), "How do I reset my password? [[tokens=3]]")
    other_tenant = await first_message(
        world.token(world.carol, world.globex), "How can I reset my password? [[tokens=3]]"
    )
    assert other_tenant[0]["type"] == "typing"

    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    await ask(communicator, "I use the mobile app. [[tokens=3]]")
    in_context = await ask(communicator, "How can I reset my password? [[tokens=3]]")
    await communicator.disconnect()
    assert in_context[0]["type"] == "typing" and len(fake_llm.calls) == 4


async def test_the_store_is_shared_by_instances_and_answers_expire(world: World) -> None:
    """Two caches stand for two instances: what one stores, the other finds through Redis."""
    request = ChatRequest(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
        max_tokens=10,
        temperature=0,
        end_user="u",
    )
    scope = scope_of(tenant_id=world.acme.pk, config_version=1, request=request)
    one, other = SemanticCache(shared=True, capacity=100), SemanticCache(shared=True, capacity=100)
    vector = await embedder().embed("Where is my parcel?")
    miss = await one.lookup(scope=scope, text="Where is my parcel?", vector=vector, threshold=0.9, ttl_s=60)
    assert miss.answer is None
    await one.put(miss, CachedAnswer(text="It is on its way.", model="gpt-4o-mini"), ttl_s=60)
    close = await embedder().embed("Where's my package?")
    found = await other.lookup(scope=scope, text="Where's my package?", vector=close, threshold=0.6, ttl_s=60)
    assert found.answer == CachedAnswer(text="It is on its way.", model="gpt-4o-mini")
    assert found.score is not None and 0.6 <= found.score < 1
    expired = await other.lookup(
        scope=scope, text="Where's my package?", vector=close, threshold=0.6, ttl_s=0
    )
    assert expired.answer is None

    # Alike in words, not in numbers: another order, another answer.
    await one.put(
        await one.lookup(scope=scope, text="Where is order 48213?", vector=close, threshold=0.9, ttl_s=60),
        CachedAnswer(text="Order 48213 ships today.", model="gpt-4o-mini"),
        ttl_s=60,
    )
    other_order = await other.lookup(
        scope=scope, text="Where is order 99812?", vector=close, threshold=0.6, ttl_s=60
    )
    assert other_order.answer is None
    same_order = await other.lookup(
        scope=scope, text="Where's order 48213?", vector=close, threshold=0.6, ttl_s=60
    )
    assert same_order.answer is not None and same_order.answer.text == "Order 48213 ships today."


def test_the_local_index_is_bounded_and_finds_the_nearest() -> None:
    index = LocalIndex(capacity=3)
    vectors = np.eye(4, 384, dtype=np.float32)
    now = time.time()
    index.add([Entry(f"e{i}", now, "7" if i == 3 else "", vectors[i]) for i in range(4)])
    assert sorted(index.ids) == ["e1", "e2", "e3"]  # the oldest went
    assert index.nearest(vectors[2], signature="", not_before=0) == ("e2", 1.0)
    assert index.nearest(vectors[0], signature="", not_before=0)[1] == 0.0  # type: ignore[index]
    assert index.nearest(vectors[2], signature="", not_before=now + 1) is None
    assert index.nearest(vectors[2], signature="7", not_before=0) == ("e3", 0.0)  # numbers must agree


async def test_a_message_never_waits_for_the_model_to_load(
    world: World, fake_llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process whose model is still loading answers without the semantic step, and uses it
    once the model is in."""
    await enable_semantic_cache(world.acme)
    slow = Embedder()
    held = threading.Event()
    slow._executor.submit(held.wait)  # the model's thread is busy: its loading cannot finish
    monkeypatch.setattr(infra.embedder, "_embedder", slow)
    token = world.token(world.alice, world.acme)
    first = await first_message(token, "How do I change my email address? [[tokens=4]]")
    assert first[-1]["type"] == "done" and len(fake_llm.calls) == 1
    assert slow.state == "loading"  # answered while the model was not there
    held.set()
    deadline = time.monotonic() + 600
    while not slow.ready:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    await first_message(token, "How do I change the email on my account? [[tokens=4]]")
    paraphrase = await first_message(token, "How can I change the email of my account? [[tokens=4]]")
    assert paraphrase[0]["type"] == "response" and paraphrase[0]["cached"] is True
