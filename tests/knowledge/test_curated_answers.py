"""Curated answers: written (or saved from a conversation) by a tenant's owners over REST, given
before the model to a question that matches one of their phrasings, by its words or its meaning,
at no token cost and marked as such; counted per entry; never across tenants; each change seen
by the next question."""

import asyncio
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat.models import Message
from knowledge.curated import curated_embed, forget_indexes, normalized
from knowledge.models import CuratedAnswer
from knowledge.services import knowledge_changed
from tenants.models import Membership, Role
from tenants.selectors import forget_chat_configs
from testkit.fake_openai import FakeOpenAI
from testkit.worker import CeleryWorker, wait_for
from testkit.world import PASSWORD, World, chat_calls_with, client_for, make_user, word_marker
from testkit.ws import ask, open_chat

URL = "/api/v1/knowledge/curated/"
RESET = "To reset your password, open Settings, then Security, and choose Reset password."


@pytest.fixture(autouse=True)
def _fresh_indexes() -> None:
    forget_indexes()


def test_a_question_is_normalized_to_its_words() -> None:
    assert normalized("Hi, how do I reset my PASSWORD?? Thanks!") == "how do i reset my password"
    assert normalized("hello hello   how do i reset my password please") == "how do i reset my password"
    assert normalized("Where is order #48213?") == "where is order #48213"
    assert normalized("Thanks!") == ""


async def chat(token: str, question: str) -> list[dict[str, Any]]:
    communicator, _ = await open_chat(token)
    frames = await ask(communicator, question)
    await communicator.disconnect()
    return frames


def curate(client: Any, questions: list[str], answer: str = RESET, **extra: Any) -> dict[str, Any]:
    response = client.post(URL, {"questions": questions, "answer": answer, **extra}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_a_matching_question_is_answered_from_the_entry_at_no_cost_and_counted(
    world: World, fake_llm: FakeOpenAI
) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    entry = curate(owner, ["How do I reset my password?", "I forgot my password"])
    member_token = world.token(world.bob, world.acme)

    frames = asyncio.run(chat(member_token, "hi, how do I reset my password? thanks"))
    response, done = frames[0], frames[-1]
    assert response["type"] == "response" and response["cached"] and response["curated"], frames
    assert response["content"] == RESET
    assert done["usage"]["input_tokens"] == done["usage"]["output_tokens"] == 0
    assert done["cost_usd"] in {"0", "0E-8", "0.00000000"}
    assert fake_llm.calls == [] or all("password" not in str(c.messages[-1]) for c in fake_llm.calls)
    stored = Message.objects.for_tenant(world.acme.pk).get(pk=done["message_id"])
    assert (stored.curated_answer_id, stored.cached, stored.content) == (entry["id"], True, RESET)

    # Another question goes to the model as before.
    marker = word_marker()
    other = asyncio.run(chat(member_token, f"Do you ship to Canada? {marker}"))
    assert other[0]["type"] == "typing" and len(chat_calls_with(fake_llm, marker)) == 1

    listed = owner.get(URL).json()
    assert [(e["id"], e["hits"]) for e in listed] == [(entry["id"], 1)]
    assert listed[0]["last_hit_at"] is not None
    # The REST message says where the answer came from.
    conversation = owner.get("/api/v1/conversations/").json()["results"]
    messages = owner.get(f"/api/v1/conversations/{conversation[-1]['id']}/messages/").json()["results"]
    assert [m["curated_answer"] for m in messages if m["role"] == "assistant"] == [entry["id"]]


def test_never_across_tenants_and_each_change_is_seen_by_the_next_question(
    world: World, fake_llm: FakeOpenAI
) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    entry = curate(owner, ["What are your opening hours?"], answer="9 to 5, Monday to Friday.")

    # Globex asks the same words: its own model answers.
    globex = asyncio.run(chat(world.token(world.carol, world.globex), "What are your opening hours?"))
    assert globex[0]["type"] == "typing" and len(fake_llm.calls) >= 1

    token = world.token(world.bob, world.acme)
    assert (
        asyncio.run(chat(token, "what are your opening hours"))[0]["content"] == "9 to 5, Monday to Friday."
    )
    changed = owner.patch(f"{URL}{entry['id']}/", {"answer": "8 to 6 every day."}, format="json")
    assert changed.status_code == 200, changed.content
    assert asyncio.run(chat(token, "What are your opening hours?"))[0]["content"] == "8 to 6 every day."
    assert owner.patch(f"{URL}{entry['id']}/", {"enabled": False}, format="json").status_code == 200
    assert asyncio.run(chat(token, "What are your opening hours?"))[0]["type"] == "typing"
    assert owner.delete(f"{URL}{entry['id']}/").status_code == 204
    # The answers it gave stay, no longer pointing to it.
    assert Message.objects.for_tenant(world.acme.pk).filter(content="8 to 6 every day.").count() == 1


def test_roles_validation_and_another_tenants_ids(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    member = client_for(world.token(world.bob, world.acme))
    globex = client_for(world.token(world.carol, world.globex))
    entry = curate(owner, ["How do I cancel?"], answer="Settings, then Plan, then Cancel.")

    assert member.get(URL).status_code == 403
    assert member.post(URL, {"questions": ["x"], "answer": "y"}, format="json").status_code == 403
    for method in ("get", "patch", "delete"):
        response = getattr(globex, method)(f"{URL}{entry['id']}/", *([{}] if method == "patch" else []))
        assert response.status_code in {403, 404}, (method, response.content)
    assert CuratedAnswer.objects.for_tenant(world.acme.pk).filter(pk=entry["id"]).exists()

    refusals = [
        ({"questions": [], "answer": "a"}, "questions"),
        ({"questions": ["?!"], "answer": "a"}, "questions"),
        ({"questions": ["How do I cancel"], "answer": "a"}, "questions"),  # another entry has it
        ({"questions": ["q"] * 21, "answer": "a"}, "questions"),
        ({"questions": ["fine question"], "answer": "   "}, "answer"),
        ({"questions": "not a list", "answer": "a"}, "questions"),
        ({"questions": [{"deep": ["x"]}], "answer": "a"}, "questions"),
        ({"questions": ["nul \x00 byte"], "answer": "a"}, "NUL"),  # the JSON parser's refusal
        ({"message_id": 999999999}, "message_id"),
        ({"questions": ["Can I pause?"], "declined_questions": ["can I pause"], "answer": "a"}, "declined"),
        ({"questions": ["Can I pause?"], "declined_questions": "not a list", "answer": "a"}, "declined"),
        ({"questions": ["Can I pause?"], "declined_questions": ["x"] * 201, "answer": "a"}, "declined"),
        ({"questions": ["Can I pause?"], "declined_questions": ["?!"], "answer": "a"}, "declined"),
    ]
    for body, field in refusals:
        response = owner.post(URL, body, format="json")
        assert response.status_code == 400 and field in str(response.json()), (body, response.content)
    assert CuratedAnswer.objects.for_tenant(world.acme.pk).count() == 1


def test_an_answer_is_saved_as_curated_from_its_conversation(world: World, fake_llm: FakeOpenAI) -> None:
    token = world.token(world.bob, world.acme)
    marker = word_marker()
    done = asyncio.run(chat(token, f"Which couriers do you use {marker}? [[tokens=6]]"))[-1]
    owner = client_for(world.token(world.alice, world.acme))
    globex_owner = make_user("gina")
    Membership.objects.create(tenant=world.globex, user=globex_owner, role=Role.OWNER)
    globex = client_for(world.token(globex_owner, world.globex))
    refused = globex.post(URL, {"message_id": done["message_id"]}, format="json")
    assert refused.json()["errors"] == {"message_id": ["no such answer"]}, refused.content
    response = owner.post(URL, {"message_id": done["message_id"]}, format="json")
    assert response.status_code == 201, response.content
    saved = response.json()
    stored = Message.objects.for_tenant(world.acme.pk).get(pk=done["message_id"])
    assert saved["questions"] == [f"Which couriers do you use {marker}? [[tokens=6]]"]
    assert (saved["answer"], saved["source_message_id"]) == (stored.content.strip(), stored.pk)


def test_staff_write_a_tenants_curated_answers_in_the_admin(world: World, fake_llm: FakeOpenAI) -> None:
    staff = get_user_model().objects.create_superuser("boss", "boss@example.com", PASSWORD)
    browser = Client()
    browser.force_login(staff)
    form = {
        "tenant": world.acme.pk,
        "phrasings": "Do you ship abroad?\nInternational shipping?",
        "answer": "Yes.",
    }
    assert browser.post("/admin/knowledge/curatedanswer/add/", {**form, "enabled": "on"}).status_code == 302
    entry = CuratedAnswer.objects.for_tenant(world.acme.pk).get()
    assert entry.questions == ["Do you ship abroad?", "International shipping?"]
    assert (
        asyncio.run(chat(world.token(world.bob, world.acme), "international shipping?"))[0]["content"]
        == "Yes."
    )
    page = browser.get("/admin/knowledge/curatedanswer/")
    assert page.status_code == 200 and b"Do you ship abroad?" in page.content
    change = f"/admin/knowledge/curatedanswer/{entry.pk}/change/"
    assert browser.get(change).status_code == 200
    declined = {**form, "enabled": "on", "declined": "Do you ship to Mars?\n"}
    assert browser.post(change, declined).status_code == 302
    entry.refresh_from_db()
    assert (entry.questions, entry.declined_questions) == (
        ["Do you ship abroad?", "International shipping?"],
        ["Do you ship to Mars?"],
    )
    assert b"Do you ship to Mars?" in browser.get(change).content
    deleted = browser.post(f"/admin/knowledge/curatedanswer/{entry.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302 and not CuratedAnswer.objects.for_tenant(world.acme.pk).exists()
    # Through the service: every process's index moved on, the question goes to the model.
    assert (
        asyncio.run(chat(world.token(world.bob, world.acme), "international shipping?"))[0]["type"]
        == "typing"
    )


def test_an_entry_deleted_while_its_answer_is_given_loses_no_turn(world: World, fake_llm: FakeOpenAI) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    # Written without its embedding queued: a worker storing it would move the version.
    entry = {
        "id": CuratedAnswer.objects.for_tenant(world.acme.pk)
        .create(
            tenant=world.acme,
            questions=["Do you have a loyalty programme?"],
            answer="Yes: one point per euro.",
        )
        .pk
    }
    knowledge_changed(world.acme.pk)
    token = world.token(world.bob, world.acme)
    assert asyncio.run(chat(token, "do you have a loyalty programme"))[0]["curated"]
    # Gone from the database, not yet from this process's index (its version did not move): the
    # race of a deletion with a question being answered from the entry.
    CuratedAnswer.objects.for_tenant(world.acme.pk).filter(pk=entry["id"]).delete()
    frames = asyncio.run(chat(token, "Do you have a loyalty programme?"))
    assert frames[0].get("curated") and frames[-1]["type"] == "done", frames
    stored = Message.objects.for_tenant(world.acme.pk).get(pk=frames[-1]["message_id"])
    assert (stored.content, stored.curated_answer_id) == ("Yes: one point per euro.", entry["id"])
    assert owner.get(URL).json() == []


# Last in the module: its worker runs on until the module ends, and a test after it that did not
# wait for the worker to be idle could have the flush of its tables deadlock on a title.
@pytest.mark.timeout(600)  # the worker loads the embedding model before it embeds
def test_a_paraphrase_matches_by_meaning_once_a_worker_has_embedded_the_phrasings(
    world: World, fake_llm: FakeOpenAI, celery_worker: CeleryWorker, embedding_model: None
) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    entry = curate(owner, ["How do I reset my password?", "I forgot my password"])
    assert wait_for(lambda: owner.get(f"{URL}{entry['id']}/").json()["embedded"], timeout=300)
    token = world.token(world.bob, world.acme)
    frames = asyncio.run(chat(token, "I can't remember my password, how can I change it?"))
    assert frames[0].get("curated") and frames[0]["content"] == RESET, frames
    # An unrelated question is not curated, nor one with other numbers than the phrasings'.
    assert asyncio.run(chat(token, "Do you deliver on Sundays?"))[0]["type"] == "typing"
    assert asyncio.run(chat(token, "I forgot my password for account 4471"))[0]["type"] == "typing"
    assert curated_embed(tenant_id=world.globex.pk, entry_id=entry["id"]) == "skipped"  # not globex's
    # A stricter tenant: the same paraphrase goes to the model.
    config = f"/api/v1/tenants/{world.acme.slug}/config/"
    assert owner.patch(config, {"curated_answer_threshold": 0.95}, format="json").status_code == 200
    assert owner.patch(config, {"curated_answer_threshold": 1.5}, format="json").status_code == 400
    forget_chat_configs()
    paraphrase = asyncio.run(chat(token, "I can't remember my password, how can I change it?"))
    assert paraphrase[0]["type"] == "typing", paraphrase

    # It came close: suggested as a phrasing.
    suggestions = owner.get(f"{URL}suggestions/").json()
    assert [(s["entry_id"], s["question"]) for s in suggestions] == [
        (entry["id"], "I can't remember my password, how can I change it?")
    ], suggestions
    assert 0.70 <= suggestions[0]["similarity"] < 0.95
    assert client_for(token).get(f"{URL}suggestions/").status_code == 403  # a member
    detail = f"{URL}{entry['id']}/"

    # Declined (it asks something else, says the owner): not suggested again, and never answered
    # from the entry, even at the threshold that matched it before.
    declined = {"declined_questions": ["i can't remember my password how can i change it"]}
    assert owner.patch(detail, declined, format="json").status_code == 200
    assert owner.get(f"{URL}suggestions/").json() == []
    assert owner.patch(config, {"curated_answer_threshold": 0.85}, format="json").status_code == 200
    forget_chat_configs()
    asked = suggestions[0]["question"]
    assert asyncio.run(chat(token, asked))[0]["type"] == "typing"
    # The owner changes their mind: added as a phrasing, it is no longer declined and is answered.
    questions = [*owner.get(detail).json()["questions"], asked]
    changed = owner.patch(detail, {"questions": questions}, format="json").json()
    assert (changed["questions"][-1], changed["declined_questions"]) == (asked, []), changed
    again = asyncio.run(chat(token, asked))
    assert again[0].get("curated"), again
    assert owner.get(f"{URL}suggestions/").json() == []  # answered from it now
