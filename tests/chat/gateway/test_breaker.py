"""The circuit breaker: its state machine on both stores, and on the message path with the
fallback model, against a fake provider that fails and recovers."""

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from chat.gateway.llm.breaker import (
    BreakerSettings,
    BreakerStore,
    MemoryBreakerStore,
    Pass,
    RedisBreakerStore,
)
from chat.models import Message, Role
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, reconfigure
from testkit.ws import ask, open_chat, send_message

RULES = BreakerSettings(
    consecutive_failures=3, error_rate=0.5, min_requests=6, window_s=60, cooldown_s=0.3, probe_timeout_s=5
)


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest, settings: Any) -> Iterator[BreakerStore]:
    yield RedisBreakerStore() if request.param == "redis" else MemoryBreakerStore()


def scope_name() -> str:
    return f"test:{asyncio.get_running_loop().time()}"


async def fail(store: BreakerStore, scope: str, times: int) -> Pass:
    state = Pass.CLOSED
    for _ in range(times):
        assert await store.acquire(scope, RULES) is Pass.CLOSED
        state = await store.report(scope, RULES, ok=False, probe=False)
    return state


async def test_consecutive_failures_open_it_then_one_probe_closes_it(store: BreakerStore) -> None:
    scope = scope_name()
    assert await fail(store, scope, 2) is Pass.CLOSED
    assert await store.report(scope, RULES, ok=True, probe=False) is Pass.CLOSED  # resets the run
    assert await fail(store, scope, 2) is Pass.CLOSED
    assert await fail(store, scope, 1) is Pass.OPEN
    assert await store.acquire(scope, RULES) is Pass.OPEN
    await asyncio.sleep(RULES.cooldown_s + 0.05)
    assert await store.acquire(scope, RULES) is Pass.PROBE
    assert await store.acquire(scope, RULES) is Pass.OPEN  # one probe at a time
    assert await store.report(scope, RULES, ok=True, probe=True) is Pass.CLOSED
    assert await store.acquire(scope, RULES) is Pass.CLOSED


async def test_a_failed_probe_opens_it_again_and_no_verdict_frees_the_probe(store: BreakerStore) -> None:
    scope = scope_name()
    await fail(store, scope, 3)
    await asyncio.sleep(RULES.cooldown_s + 0.05)
    assert await store.acquire(scope, RULES) is Pass.PROBE
    assert await store.report(scope, RULES, ok=None, probe=True) is Pass.CLOSED  # cancelled: no verdict
    assert await store.acquire(scope, RULES) is Pass.PROBE
    assert await store.report(scope, RULES, ok=False, probe=True) is Pass.OPEN
    assert await store.acquire(scope, RULES) is Pass.OPEN


async def test_a_high_error_rate_opens_it_without_a_run_of_failures(store: BreakerStore) -> None:
    scope = scope_name()
    for ok in [True, False, True, False, True]:
        assert await store.report(scope, RULES, ok=ok, probe=False) is Pass.CLOSED
    assert await store.report(scope, RULES, ok=False, probe=False) is Pass.OPEN  # 3 of 6 failed


# -- on the message path -------------------------------------------------------------------


@pytest.fixture
def fast_breaker(settings: Any) -> None:
    settings.BREAKER_CONSECUTIVE_FAILURES = 3
    settings.BREAKER_COOLDOWN_S = 0.5
    settings.BREAKER_MIN_REQUESTS = 100


async def test_the_breaker_opens_on_failures_uses_the_fallback_and_closes_on_recovery(
    world: World, fake_llm: FakeOpenAI, fast_breaker: None
) -> None:
    await reconfigure(world.acme, exact_cache_enabled=False, model="gpt-4o", fallback_model="gpt-4o-mini")
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    fake_llm.failing_models.add("gpt-4o")
    for _ in range(3):
        done = (await ask(communicator, "anyone? [[tokens=2]]"))[-1]
        assert done["finish_reason"] == "error"
    keys = redis.Redis.from_url(django_settings.REDIS_URL).keys("global:breaker:*gpt-4o}:open")
    assert keys, "the open state is in Redis, for every instance"

    # Open: the fallback answers, and the failing model is not called at all.
    calls_before = len(fake_llm.calls)
    done = (await ask(communicator, "still there? [[tokens=2]]"))[-1]
    assert (done["finish_reason"], done["model"]) == ("stop", "gpt-4o-mini")
    assert [c.body["model"] for c in fake_llm.calls[calls_before:]] == ["gpt-4o-mini"]
    answer = await Message.objects.for_tenant(world.acme.pk).aget(pk=done["message_id"])
    assert (answer.model, answer.fallback_from) == ("gpt-4o-mini", "gpt-4o")

    # The provider recovers; after the cool-down a probe goes to gpt-4o and closes the breaker.
    fake_llm.failing_models.clear()
    await asyncio.sleep(0.6)
    for _ in range(2):
        done = (await ask(communicator, "back? [[tokens=2]]"))[-1]
        assert (done["finish_reason"], done["model"]) == ("stop", "gpt-4o")
    await communicator.disconnect()
    answers = Message.objects.for_tenant(world.acme.pk).filter(role=Role.ASSISTANT).order_by("id")
    assert [m.fallback_from async for m in answers] == ["", "", "", "gpt-4o", "", ""]


async def test_with_no_fallback_an_open_breaker_fails_fast(
    world: World, fake_llm: FakeOpenAI, fast_breaker: None
) -> None:
    await reconfigure(world.acme, exact_cache_enabled=False, model="gpt-4.1", fallback_model="")
    fake_llm.failing_models.add("gpt-4.1")
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    for _ in range(3):
        assert (await ask(communicator, "hello [[tokens=2]]"))[-1]["finish_reason"] == "error"
        assert (await communicator.receive_json_from())["code"] == "UPSTREAM_ERROR"  # after `done`
    calls = len(fake_llm.calls)
    await send_message(communicator, "and now? [[tokens=2]]")
    refusal = await communicator.receive_json_from()
    assert refusal["code"] == "UPSTREAM_ERROR" and refusal["retry_after"] == 0.5
    assert len(fake_llm.calls) == calls  # failed fast: nothing went upstream
    await communicator.disconnect()


async def test_retryable_errors_are_retried_before_the_first_token_never_after(
    world: World, fake_llm: FakeOpenAI, settings: Any
) -> None:
    settings.OPENAI_MAX_RETRIES = 2
    await reconfigure(world.acme, exact_cache_enabled=False)
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    done = (await ask(communicator, "flaky [[fail-first=2]] [[tokens=3]]"))[-1]
    assert done["finish_reason"] == "stop" and len(fake_llm.calls) == 3
    done = (await ask(communicator, "cut off [[fail-mid]] [[tokens=9]]"))[-1]
    assert done["finish_reason"] == "error" and len(fake_llm.calls) == 4  # tokens were sent: no retry
    await communicator.disconnect()
