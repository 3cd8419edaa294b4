"""Hostile input at the edges: deep JSON, text PostgreSQL cannot store, dates at the end of time.
Each is a clear refusal (an ``error`` frame on a socket that stays open, an HTTP 400 with a JSON
body), before anything is spent; what a model sends is kept and billed whatever it holds."""

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async

from billing.models import UsageRecord
from chat.history.background import conversation_title
from chat.models import Conversation, Message
from infra.safe_json import REPLACEMENT
from testkit.fake_openai import FakeOpenAI
from testkit.world import PASSWORD, World, client_for
from testkit.ws import TIMEOUT, ask, open_chat, send_message, streamed_text

DEEP = "[" * 1000 + "]" * 1000
UNSTORABLE = ["hi \u0000 there", "hi \ud800 there"]


async def refused(communicator: Any, raw: str) -> str:
    """Send ``raw``; the answer is a BAD_REQUEST and the socket still answers a ping."""
    await communicator.send_to(text_data=raw)
    error = await communicator.receive_json_from(TIMEOUT)
    assert error["type"] == "error" and error["code"] == "BAD_REQUEST", error
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(TIMEOUT) == {"type": "pong"}
    return str(error["message"])


async def test_deeply_nested_frames_are_bad_requests(world: World, fake_llm: FakeOpenAI) -> None:
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    assert "nested deeper than" in await refused(communicator, DEEP)
    deep_field = (
        json.dumps({"type": "message", "content": "x", "client_id": "x"})[:-1] + ', "extra": ' + DEEP + "}"
    )
    assert "nested deeper than" in await refused(communicator, deep_field)
    assert "nested deeper than" in await refused(
        communicator, '{"type": "ping", "x": ' + "[" * 40 + "]" * 40 + "}"
    )
    assert "not valid JSON" in await refused(communicator, '{"type": "ping", "x": NaN}')
    await communicator.disconnect()


@pytest.mark.parametrize("text", UNSTORABLE, ids=["nul", "lone-surrogate"])
async def test_unstorable_text_in_any_frame_is_refused_before_the_model_is_called(
    world: World, fake_llm: FakeOpenAI, text: str
) -> None:
    """Globex is on the free tier (one stream at a time): a refused message holds no slot, so
    the member can still chat after repeating it."""
    communicator, _ = await open_chat(world.token(world.carol, world.globex))
    for _ in range(3):
        await send_message(communicator, text)
        assert "must not contain" in (await communicator.receive_json_from(TIMEOUT))["message"]
    assert fake_llm.calls == []
    done = (await ask(communicator, "a clean one [[tokens=3]]"))[-1]
    assert done["type"] == "done" and done["finish_reason"] == "stop"
    for frame in [
        {"type": "feedback", "message_id": done["message_id"], "rating": 4, "comment": text},
        {"type": "escalate", "reason": text},
        {"type": "message", "content": "ok", "client_id": text},
        {"type": "ping", text: 1},
    ]:
        assert "must not contain" in await refused(communicator, json.dumps(frame))
    await communicator.disconnect()


async def test_a_model_answer_with_unstorable_text_is_kept_and_billed(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    frames = await ask(communicator, "say something odd [[unstorable]]")
    done = frames[-1]
    assert done["type"] == "done" and done["finish_reason"] == "stop", frames
    expected = f"before nul{REPLACEMENT} half{REPLACEMENT} after"
    assert streamed_text(frames) == expected
    stored = await database_sync_to_async(Message.all_tenants.get)(pk=done["message_id"])
    assert stored.content == expected
    usage = await database_sync_to_async(UsageRecord.all_tenants.get)(message_id=done["message_id"])
    assert usage.output_tokens == done["usage"]["output_tokens"] > 0
    await communicator.disconnect()


@pytest.mark.parametrize("path", ["/api/v1/auth/token/", "/api/v1/auth/token/refresh/"])
def test_deep_request_bodies_are_400(world: World, path: str) -> None:
    response = client_for().post(
        path, data='{"username": ' + "[" * 5000 + "]" * 5000 + "}", content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested deeper than" in response.json()["detail"]


def test_unstorable_text_in_request_bodies_is_400(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    for text in UNSTORABLE:
        # json.dumps escapes them (\u0000, \ud800), as a client's JSON encoder would.
        body = json.dumps({"username": text, "password": PASSWORD})
        response = client_for().post("/api/v1/auth/token/", body, content_type="application/json")
        assert response.status_code == 400 and "must not contain" in response.json()["detail"]
        body = json.dumps({"system_prompt": text})
        response = owner.patch("/api/v1/tenants/acme/config/", body, content_type="application/json")
        assert response.status_code == 400, response.content
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    deep = {"blocked_topics": deep}
    assert owner.patch("/api/v1/tenants/acme/config/", deep, format="json").status_code == 400
    world.acme.refresh_from_db()
    assert world.acme.system_prompt == "You are Acme's assistant."
    assert owner.get("/api/v1/conversations/", {"q": "a\u0000b"}).status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/usage/", "/api/v1/analytics/", "/api/v1/conversations/"])
def test_dates_at_the_end_of_time_are_400(world: World, path: str) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    response = owner.get(path, {"from": "9999-12-31", "to": "9999-12-31"})
    assert response.status_code == 400, response.content
    assert "to" in response.json()["errors"]
    assert owner.get(path, {"from": "2026-01-01", "to": "2026-01-31"}).status_code == 200


def test_a_title_with_unstorable_text_is_kept_and_billed(world: World, fake_llm: FakeOpenAI) -> None:
    """The titler is a model too: what it sends is stored whatever it holds."""
    conversation = Conversation.objects.create(tenant=world.acme, user=world.alice)
    for role, content in [("user", "odd one [[unstorable]]"), ("assistant", "ok")]:
        Message.objects.create(tenant=world.acme, conversation=conversation, role=role, content=content)
    title = conversation_title(tenant_id=world.acme.pk, conversation_id=conversation.pk)
    assert title == f"before nul{REPLACEMENT} half{REPLACEMENT} after"
    conversation.refresh_from_db()
    assert conversation.title == title
    assert UsageRecord.objects.for_tenant(world.acme).get(purpose="title").output_tokens > 0
