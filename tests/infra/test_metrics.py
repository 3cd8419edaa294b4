"""/metrics moves with a scripted conversation."""

from typing import Any

import pytest
from django.test import AsyncClient

from testkit.fake_openai import FakeOpenAI
from testkit.world import World, metric_value
from testkit.ws import TIMEOUT, ask, open_chat

SCRAPE_TOKEN = "scrape-secret"


@pytest.fixture(autouse=True)
def _scrape_token(settings: Any) -> None:
    settings.METRICS_TOKEN = SCRAPE_TOKEN


async def scrape() -> str:
    response = await AsyncClient().get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert response.status_code == 200
    return response.content.decode()


async def test_metrics_count_tokens_cost_latency_connections_budget_and_errors(
    world: World, fake_llm: FakeOpenAI
) -> None:
    before = await scrape()
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    during = await scrape()
    acme = {"tenant": "acme"}
    assert (
        metric_value(during, "chat_ws_connections", **acme)
        == metric_value(before, "chat_ws_connections", **acme) + 1
    )

    await ask(communicator, "count me [[tokens=30]] [[cached=8]]")
    await communicator.send_to(text_data="not json")
    assert (await communicator.receive_json_from(TIMEOUT))["code"] == "BAD_REQUEST"
    await communicator.disconnect()

    after = await scrape()
    labels = {"tenant": "acme", "model": "gpt-4o-mini"}
    assert (
        metric_value(after, "chat_tokens_total", direction="output", **labels)
        == metric_value(before, "chat_tokens_total", direction="output", **labels) + 30
    )
    assert (
        metric_value(after, "chat_ttft_seconds_count", **labels)
        == metric_value(before, "chat_ttft_seconds_count", **labels) + 1
    )
    assert metric_value(after, "chat_generation_seconds_count", **labels) == (
        metric_value(before, "chat_generation_seconds_count", **labels) + 1
    )
    assert metric_value(after, "chat_messages_total", finish_reason="stop", **labels) == (
        metric_value(before, "chat_messages_total", finish_reason="stop", **labels) + 1
    )
    assert (
        metric_value(after, "chat_tokens_total", direction="cached_input", **labels)
        == metric_value(before, "chat_tokens_total", direction="cached_input", **labels) + 8
    )
    assert metric_value(after, "chat_cost_usd_total", **labels) > metric_value(
        before, "chat_cost_usd_total", **labels
    )
    assert (
        metric_value(after, "chat_errors_total", code="BAD_REQUEST", **acme)
        == metric_value(before, "chat_errors_total", code="BAD_REQUEST", **acme) + 1
    )
    assert metric_value(after, "chat_ws_connections", **acme) == metric_value(
        before, "chat_ws_connections", **acme
    )
    # The session's conversation had one exchange: 2 messages.
    assert metric_value(after, "chat_conversation_messages_count", **acme) == (
        metric_value(before, "chat_conversation_messages_count", **acme) + 1
    )
    assert metric_value(after, "chat_conversation_messages_sum", **acme) == (
        metric_value(before, "chat_conversation_messages_sum", **acme) + 2
    )
    # Professional tier: 1M tokens a month, of which this answer's reservation is held.
    assert 900_000 < metric_value(after, "chat_budget_tokens_left", **acme) < 1_000_000


async def test_metrics_need_the_bearer_token(settings: Any) -> None:
    """They list every tenant's slug, usage and cost."""
    assert (await AsyncClient().get("/metrics")).status_code == 401
    for wrong in ["Bearer nope", "Bearer sécret", "scrape-secret"]:
        assert (await AsyncClient().get("/metrics", headers={"Authorization": wrong})).status_code == 401
    assert "chat_tokens_total" in await scrape()
    # No token set: closed in production, open in development.
    settings.METRICS_TOKEN = ""
    response = await AsyncClient().get("/metrics")
    assert response.status_code == 403 and response.json()["code"] == "metrics_token_required"
    settings.DEBUG = True
    assert (await AsyncClient().get("/metrics")).status_code == 200
