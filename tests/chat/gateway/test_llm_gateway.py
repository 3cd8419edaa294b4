"""The providers and pricing, without the WebSocket around them."""

import contextlib
from decimal import Decimal

import pytest

from billing.pricing import price_for
from chat.gateway.llm import ChatRequest, get_provider
from chat.gateway.llm.demo_provider import DemoProvider
from chat.gateway.llm.openai_provider import OpenAIProvider
from testkit.fake_openai import FakeOpenAI


def request(content: str, max_tokens: int = 1000) -> ChatRequest:
    return ChatRequest(
        model="gpt-4o",
        messages=[{"role": "user", "content": content}],
        max_tokens=max_tokens,
        temperature=0.2,
        end_user="t1-u1",
    )


async def collect(provider, req: ChatRequest) -> list:  # type: ignore[no-untyped-def]
    async with contextlib.aclosing(provider.stream(req)) as chunks:
        return [chunk async for chunk in chunks]


async def test_openai_provider_reports_usage_with_cached_prompt_tokens(fake_llm: FakeOpenAI) -> None:
    provider = get_provider()
    assert isinstance(provider, OpenAIProvider)
    chunks = await collect(provider, request("hello [[tokens=4]] [[cached=3]]"))
    assert "".join(c.text for c in chunks) == "tok0 tok1 tok2 tok3 "
    usage = next(c.usage for c in chunks if c.usage)
    assert (usage.output_tokens, usage.cached_input_tokens, usage.estimated) == (4, 3, False)
    assert next(c.finish_reason for c in chunks if c.finish_reason) == "stop"
    assert fake_llm.calls[-1].body["model"] == "gpt-4o"


async def test_finished_streams_hand_their_connection_back_for_reuse(fake_llm: FakeOpenAI, settings) -> None:  # type: ignore[no-untyped-def]
    settings.OPENAI_CONNECTION_POOLS = 4
    provider = get_provider()
    for _ in range(3 * 4):
        await collect(provider, request("again [[tokens=3]]"))
    assert len(fake_llm.calls) == 12
    assert fake_llm.connections_accepted == 4  # one per pool, each reused three times


async def test_openai_provider_reports_length_when_max_tokens_cuts_the_answer(fake_llm: FakeOpenAI) -> None:
    chunks = await collect(get_provider(), request("long [[tokens=50]]", max_tokens=5))
    assert next(c.finish_reason for c in chunks if c.finish_reason) == "length"


async def test_without_a_key_the_demo_model_answers_and_says_so(settings) -> None:  # type: ignore[no-untyped-def]
    settings.OPENAI_API_KEY = ""
    settings.DEMO_MODEL_CHUNK_DELAY = 0
    provider = get_provider()
    assert isinstance(provider, DemoProvider) and provider.model_name("gpt-4o") == "demo"
    first = await collect(provider, request("What is a tier?"))
    second = await collect(provider, request("What is a tier?"))
    text = "".join(c.text for c in first)
    assert text == "".join(c.text for c in second)  # deterministic
    assert "offline demo model" in text and "> What is a tier?" in text and "```python" in text
    assert first[-1].finish_reason == "stop" and first[-1].usage.output_tokens > 50
    cut = await collect(provider, request("What is a tier?", max_tokens=10))
    assert cut[-1].finish_reason == "length" and cut[-1].usage.output_tokens <= 10


@pytest.mark.django_db(transaction=True)
def test_cached_input_tokens_are_priced_at_the_cached_price(seeded: None) -> None:
    price = price_for("gpt-4o")
    # 1M input of which 400k cached, 100k output: 0.6M*2.50 + 0.4M*1.25 + 0.1M*10.00 = 3.00 USD.
    assert price.cost(input_tokens=1_000_000, output_tokens=100_000, cached_input_tokens=400_000) == Decimal(
        "3.00000000"
    )
    # A model with no price is billed at the dearest one (claude-opus-4.6: $15 / $75), flagged.
    unpriced = price_for("no-such-model")
    assert unpriced.by_default and not price.by_default
    assert unpriced.cost(input_tokens=1_000_000, output_tokens=100_000, cached_input_tokens=0) == Decimal(
        "22.50000000"
    )
