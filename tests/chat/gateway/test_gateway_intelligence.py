"""Cost control before the call: the exact response cache, model routing, moderation and PII
redaction, through the WebSocket on real Redis and PostgreSQL, against the fake OpenAI server."""

import asyncio
import json
import uuid
from typing import Any

import pytest
import redis
from django.conf import settings

from billing.models import UsageRecord
from chat.gateway.model_routing import Route, classify
from chat.gateway.moderation import PiiPolicy, blocked_topic, iban_valid, keep_pattern, luhn_valid, redact_pii
from chat.models import Message, Role
from tenants.selectors import forget_chat_configs
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, client_for, reconfigure
from testkit.ws import ask, frames_until, open_chat, send_message, streamed_text


async def ask_in_new_conversation(token: str, content: str) -> list[dict]:
    communicator, _ = await open_chat(token)
    frames = await ask(communicator, content)
    await communicator.disconnect()
    return frames


# -- exact cache ---------------------------------------------------------------------------


async def test_the_same_question_is_answered_once_then_from_the_cache(
    world: World, fake_llm: FakeOpenAI
) -> None:
    token = world.token(world.alice, world.acme)
    first = await ask_in_new_conversation(token, "What are your opening hours? [[tokens=6]]")
    again = await ask_in_new_conversation(token, "  what are your OPENING hours?   [[tokens=6]]")
    assert len(fake_llm.calls) == 1
    response, done = again
    assert response["type"] == "response" and response["cached"] is True
    assert response["content"] == streamed_text(first)
    assert done["usage"]["input_tokens"] == done["usage"]["output_tokens"] == 0
    assert done["cost_usd"] == "0.00000000" and done["finish_reason"] == "stop"

    answer = await Message.objects.for_tenant(world.acme.pk).aget(pk=response["message_id"])
    assert answer.cached and answer.content == response["content"] and answer.output_tokens == 0
    record = await UsageRecord.objects.for_tenant(world.acme.pk).aget(message_id=answer.pk)
    assert record.cached and record.input_tokens == record.output_tokens == 0 and record.cost_usd == 0
    question = await Message.objects.for_tenant(world.acme.pk).aget(pk=answer.reply_to_id)
    assert question.role == Role.USER and "OPENING" in question.content


async def test_no_hit_across_tenants_even_with_the_same_configuration(
    world: World, fake_llm: FakeOpenAI
) -> None:
    # Everything the key covers is equal but the tenant.
    await reconfigure(
        world.acme, world.globex, system_prompt="You help.", model="gpt-4o-mini", config_version=7
    )
    question = "Do you ship abroad? [[tokens=3]]"
    await ask_in_new_conversation(world.token(world.alice, world.acme), question)
    other = await ask_in_new_conversation(world.token(world.carol, world.globex), question)
    assert other[0]["type"] == "typing" and len(fake_llm.calls) == 2
    keys = redis.Redis.from_url(settings.REDIS_URL).keys("*cache:exact*")
    assert {key.decode().split(":")[1] for key in keys} >= {f"{{{world.acme.pk}}}", f"{{{world.globex.pk}}}"}
    assert all(key.decode().startswith("t:{") for key in keys)


async def test_a_config_change_or_a_different_history_misses(world: World, fake_llm: FakeOpenAI) -> None:
    token = world.token(world.alice, world.acme)
    question = "How do refunds work? [[tokens=3]]"
    await ask_in_new_conversation(token, question)
    await reconfigure(world.acme, temperature=0.2)  # any change bumps the config version
    assert (await ask_in_new_conversation(token, question))[0]["type"] == "typing"
    assert len(fake_llm.calls) == 2

    communicator, _ = await open_chat(token)
    await ask(communicator, "I bought a lamp. [[tokens=2]]")
    frames = await ask(communicator, question)  # same question, other context: a new answer
    await communicator.disconnect()
    assert frames[0]["type"] == "typing" and len(fake_llm.calls) == 4


async def test_a_tenant_can_turn_the_cache_off_and_failed_answers_are_not_cached(
    world: World, fake_llm: FakeOpenAI
) -> None:
    token = world.token(world.alice, world.acme)
    await ask_in_new_conversation(token, "[[fail-mid]] tell me")
    assert (await ask_in_new_conversation(token, "[[fail-mid]] tell me"))[0]["type"] == "typing"
    await reconfigure(world.acme, exact_cache_enabled=False)
    await ask_in_new_conversation(token, "Hello there [[tokens=2]]")
    await ask_in_new_conversation(token, "Hello there [[tokens=2]]")
    assert len(fake_llm.calls) == 4


# -- model routing -------------------------------------------------------------------------


async def test_messages_are_routed_to_the_tenants_model_for_their_class(
    world: World, fake_llm: FakeOpenAI
) -> None:
    await reconfigure(
        world.acme,
        exact_cache_enabled=False,
        routing_model_simple="gpt-4o-mini",
        routing_model_moderate="gpt-4o",
        routing_model_complex="gpt-4.1",
    )
    token = world.token(world.alice, world.acme)
    communicator, _ = await open_chat(token)
    simple = (await ask(communicator, "Thanks! [[tokens=2]]"))[-1]
    complex_ = (
        await ask(
            communicator,
            "Explain step by step why my invoice differs from the quote and compare both [[tokens=2]]",
        )
    )[-1]
    await communicator.disconnect()
    assert [call.body["model"] for call in fake_llm.calls] == ["gpt-4o-mini", "gpt-4.1"]
    assert (simple["model"], complex_["model"]) == ("gpt-4o-mini", "gpt-4.1")
    answers = Message.objects.for_tenant(world.acme.pk).filter(role=Role.ASSISTANT).order_by("id")
    assert [(m.route, m.model) async for m in answers] == [("simple", "gpt-4o-mini"), ("complex", "gpt-4.1")]


async def regenerate(communicator: Any, content: str) -> list[dict[str, Any]]:
    """The frame the chat page's Regenerate sends: the last question again, ``regenerate: true``."""
    frame = {"type": "message", "content": content, "client_id": str(uuid.uuid4()), "regenerate": True}
    await communicator.send_to(text_data=json.dumps(frame))
    return await frames_until(communicator, "done", "error")


async def test_routing_is_a_choice_regenerate_uses_the_default_model_and_never_a_cache(
    world: World, fake_llm: FakeOpenAI
) -> None:
    await reconfigure(
        world.acme, model="gpt-4o", routing_model_simple="gpt-4o-mini", exact_cache_enabled=True
    )
    token = world.token(world.alice, world.acme)
    communicator, _ = await open_chat(token)
    routed = (await ask(communicator, "Where is my parcel? [[tokens=2]]"))[-1]
    assert routed["model"] == "gpt-4o-mini"
    # Regenerated: the default model answers anew, though the exact cache holds the first answer.
    again = await regenerate(communicator, "Where is my parcel? [[tokens=2]]")
    assert again[0]["type"] == "typing" and again[-1]["model"] == "gpt-4o", again
    assert [c.body["model"] for c in fake_llm.calls] == ["gpt-4o-mini", "gpt-4o"]
    wrong = {"type": "message", "content": "y", "client_id": str(uuid.uuid4()), "regenerate": 1}
    await communicator.send_to(text_data=json.dumps(wrong))
    error = await communicator.receive_json_from(5)
    assert (error["type"], error["code"]) == ("error", "BAD_REQUEST") and "regenerate" in error["message"]

    # Routing turned off: the same simple question goes to the default model.
    owner = client_for(world.token(world.alice, world.acme))
    changed = await asyncio.to_thread(
        owner.patch,
        f"/api/v1/tenants/{world.acme.slug}/config/",
        {"model_routing_enabled": False},
        format="json",
    )
    assert changed.status_code == 200 and changed.json()["model_routing_enabled"] is False, changed.content
    forget_chat_configs()
    off = (await ask(communicator, "Is my parcel late? [[tokens=2]]"))[-1]
    await communicator.disconnect()
    assert off["model"] == "gpt-4o"
    answers = Message.objects.for_tenant(world.acme.pk).filter(role=Role.ASSISTANT).order_by("id")
    assert [(m.route, m.model) async for m in answers][:2] == [("simple", "gpt-4o-mini"), ("", "gpt-4o")]

    # What routing did, per class: the share of answers each got, its models and their cost.
    report = (await asyncio.to_thread(owner.get, "/api/v1/analytics/routing/")).json()
    assert report["enabled"] is False and report["default_model"] == "gpt-4o"
    by_route = {c["route"]: c for c in report["classes"]}
    assert by_route["simple"]["answers"] == 2 and by_route["unrouted"]["answers"] == 1
    assert {m["model"] for m in by_route["simple"]["by_model"]} == {"gpt-4o-mini", "gpt-4o"}
    assert by_route["simple"]["model"] == "gpt-4o"  # off: the default model, whatever is mapped
    assert sum(c["share"] for c in report["classes"]) == pytest.approx(1.0)
    assert sum(c["answers"] for c in report["classes"]) == report["answers"] == 3
    member = client_for(world.token(world.bob, world.acme))
    assert (await asyncio.to_thread(member.get, "/api/v1/analytics/routing/")).status_code == 403
    bad = await asyncio.to_thread(owner.get, "/api/v1/analytics/routing/?from=2026-01-10&to=2026-01-01")
    assert bad.status_code == 400


def test_the_classifier_sorts_by_features_of_the_message() -> None:
    assert classify("hi") == Route.SIMPLE
    assert classify("What are your opening hours?") == Route.SIMPLE
    assert classify("My parcel came late and the box was damaged, and I was charged twice for it too.") == (
        Route.MODERATE
    )
    assert classify("Why does this fail?\n```python\nimport os\n```") == Route.COMPLEX
    assert classify("Compare the plans and explain the trade-offs for a team of 40") == Route.COMPLEX
    assert classify(" ".join(["word"] * 200)) == Route.COMPLEX


# -- moderation and PII --------------------------------------------------------------------


async def test_a_blocked_topic_is_refused_before_anything_goes_upstream(
    world: World, fake_llm: FakeOpenAI
) -> None:
    await reconfigure(world.acme, blocked_topics=["crypto trading", "lawsuit"])
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    await send_message(communicator, "Any tips on CRYPTO   trading?")
    refusal = await communicator.receive_json_from()
    assert refusal["type"] == "error" and refusal["code"] == "BLOCKED_TOPIC"
    assert "CRYPTO   trading" in refusal["message"]
    ok = await ask(communicator, "What is a lawsuits-free plan? [[tokens=2]]")  # not the word itself
    await communicator.disconnect()
    assert ok[-1]["type"] == "done" and len(fake_llm.calls) == 1
    assert not await Message.objects.for_tenant(world.acme.pk).filter(content__icontains="crypto").aexists()


async def test_pii_is_redacted_before_it_leaves_the_platform_and_as_stored(
    world: World, fake_llm: FakeOpenAI
) -> None:
    text = "I am jane@example.com, card 4111 1111 1111 1111, call +1 415 555 2671 [[tokens=2]]"
    token = world.token(world.alice, world.acme)
    await reconfigure(world.acme, pii_filter=True)
    await ask_in_new_conversation(token, text)
    sent = fake_llm.calls[-1].messages[-1]["content"]
    assert sent == "I am [EMAIL], card [CARD], call [PHONE] [[tokens=2]]"
    stored = await Message.objects.for_tenant(world.acme.pk).filter(role=Role.USER).alast()
    assert stored is not None and stored.content == sent

    await reconfigure(world.acme, pii_filter=False, exact_cache_enabled=False)
    await ask_in_new_conversation(token, text)
    assert fake_llm.calls[-1].messages[-1]["content"] == text


def test_pii_kinds_and_their_checks() -> None:
    found = redact_pii(
        "IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789, card 5500-0000-0000-0004, "
        "not a card 4111 1111 1111 1112, order 12345 of 2024-05-01, mail a.b+c@mail.example.org"
    )
    assert found.text == (
        "IBAN [IBAN], SSN [SSN], card [CARD], not a card 4111 1111 1111 1112, order 12345 of "
        "2024-05-01, mail [EMAIL]"
    )
    assert dict(found.found) == {"IBAN": 1, "SSN": 1, "CARD": 1, "EMAIL": 1}
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert blocked_topic("a Loan?", ["loan"]) == "Loan" and blocked_topic("loans", ["loan"]) is None


def test_phone_numbers_are_told_from_order_numbers_and_kept_patterns_stay() -> None:
    """Issue 30, 8: any run of 7+ digits was a phone number, digits before it swallowed ("my order
    17 12345678" became "my order [PHONE]"). A candidate is now a valid number of the tenant's
    region, or of the country its "+" names; what the tenant keeps is never redacted."""
    us = PiiPolicy(region="US")
    assert redact_pii("my order 17 12345678", us).text == "my order 17 12345678"
    assert redact_pii("tracking 1Z999AA10123456784, SKU 4006381333931", us).found == {}
    assert redact_pii("call 415-555-2671 or (415) 555 2672 about 1234567", us).text == (
        "call [PHONE] or [PHONE] about 1234567"
    )
    assert redact_pii("in Berlin: +49 30 901820, order 30901820", us).text == (
        "in Berlin: [PHONE], order 30901820"
    )
    assert redact_pii("ring 030 901820", PiiPolicy(region="DE")).text == "ring [PHONE]"
    assert redact_pii("ring 030 901820", us).text == "ring 030 901820"  # not a US number
    # An order number that is also a valid US number, kept by the tenant's template.
    keep = PiiPolicy(region="US", keep=("order ##########", "SKU-*"))
    assert redact_pii("order 2125551234, call 212-555-1234", us).text == "order [PHONE], call [PHONE]"
    kept = redact_pii("Order 2125551234, call 212-555-1234, sku-AB12 of jane@example.com", keep)
    assert kept.text == "Order 2125551234, call [PHONE], sku-AB12 of [EMAIL]"
    assert dict(kept.found) == {"PHONE": 1, "EMAIL": 1}


def test_keep_templates_are_literal_and_linear() -> None:
    assert keep_pattern("A.#?*") == r"A\.\d[^\W_][^\W_]+"
    slow = PiiPolicy(keep=("* * * * * * * * x",))
    assert redact_pii("a " * 5000 + "y", slow).text.endswith("y")  # no catastrophic backtracking


def test_the_tenant_sets_its_region_and_keep_templates(world: World, fake_llm: FakeOpenAI) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    config = "/api/v1/tenants/acme/config/"
    patch = owner.patch(
        config, {"pii_region": "DE", "pii_keep_patterns": ["Auftrag ########"]}, format="json"
    )
    assert patch.status_code == 200, patch.content
    for bad in ({"pii_region": "XX"}, {"pii_keep_patterns": ["x" * 101]}, {"pii_keep_patterns": ["#"] * 21}):
        refused = owner.patch(config, bad, format="json")
        assert refused.status_code == 400 and next(iter(bad)) in refused.json()["errors"], refused.json()
    forget_chat_configs()
    question = "Auftrag 30901820, Rückruf 030 901820 [[tokens=2]]"
    asyncio.run(ask_in_new_conversation(world.token(world.alice, world.acme), question))
    assert fake_llm.calls[-1].messages[-1]["content"] == "Auftrag 30901820, Rückruf [PHONE] [[tokens=2]]"
