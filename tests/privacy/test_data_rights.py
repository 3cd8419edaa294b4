"""Data rights (issue 36): a tenant's owners export everything the platform holds about one end
user and erase it; afterwards no store holds the person's words (looked for in PostgreSQL, every
Redis key of the tenant, the attachments' storage, the caches), the bill is unchanged, and the
record of the erasure says nothing about the person."""

from typing import Any

import redis
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from audit.models import AuditEntry
from billing.models import UsageRecord
from chat.files import attachments_storage
from chat.gateway.response_cache import CachedAnswer, MemoryResponseCache
from chat.history.working_memory import MemoryWorkingMemory
from chat.history.working_memory.base import Remembered
from chat.models import ChatFile, Conversation, Message
from infra.hot_state import hot_state_forget
from infra.keys import tenant_prefix
from knowledge.models import CuratedAnswer
from tenants.models import EndUser, Membership
from testkit.fake_openai import FakeOpenAI
from testkit.live import free_port
from testkit.world import World, client_for, word_marker
from testkit.ws import TIMEOUT, ask, closed_with
from tests.chat.test_chat_api_keys import key_socket, new_key
from webhooks.models import Delivery


def _redis_values_with(marker: str, tenant_id: int) -> list[str]:
    """Every key of the tenant in Redis whose value holds ``marker``, whatever its type."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    found = []
    for key in client.scan_iter(match=f"{tenant_prefix(tenant_id)}:*", count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            values: Any = [client.get(key)]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = list(client.hgetall(key).values())
        elif kind == "stream":
            values = [str(entry) for entry in client.xrange(key)]
        elif kind == "zset":
            values = client.zrange(key, 0, -1)
        else:
            values = list(client.smembers(key)) if kind == "set" else []
        if any(marker in (v.decode(errors="replace") if isinstance(v, bytes) else str(v)) for v in values):
            found.append(key.decode())
    return found


async def test_an_end_user_is_exported_then_erased_from_every_store(
    world: World, fake_llm: FakeOpenAI
) -> None:
    marker = word_marker()
    key = await new_key(world, ["chat"])
    socket, connected = await key_socket(key, "crm-77")
    assert connected and (await socket.receive_json_from(TIMEOUT))["type"] == "ready"
    frames = await ask(socket, f"My name is {marker}, where is my parcel?")
    assert frames[-1]["type"] == "done"
    await ask(socket, f"{marker} again")  # working memory holds both turns

    @database_sync_to_async
    def around_the_person() -> tuple[int, int]:
        person = EndUser.objects.for_tenant(world.acme).get(external_id="crm-77")
        conversation = Conversation.objects.for_tenant(world.acme).get(user=person.user)
        question = Message.objects.for_tenant(world.acme).filter(conversation=conversation).first()
        assert question is not None and marker in question.content
        stored = attachments_storage().save(
            f"t{world.acme.pk}/u{person.user_id}/x/{marker}.txt", ContentFile(marker)
        )
        ChatFile.objects.create(
            tenant=world.acme, user=person.user, conversation=conversation, message=question,
            filename=f"{marker}.txt", content_type="text/plain", size_bytes=10, key=stored, text=marker,
        )  # fmt: skip
        CuratedAnswer.objects.create(
            tenant=world.acme,
            questions=["where is my parcel"],
            answer="Tracking: …",
            source_message_id=question.pk,
        )
        Delivery.objects.create(
            tenant=world.acme, url="https://hooks.example.com/x", event="message.answered",
            payload={"conversation_id": conversation.pk, "user_id": person.user_id},
        )  # fmt: skip
        return person.user_id, conversation.pk

    user_id, conversation_id = await around_the_person()
    assert _redis_values_with(marker, world.acme.pk), "the test should find the words in Redis first"
    usage_before = await database_sync_to_async(
        lambda: sorted(UsageRecord.objects.for_tenant(world.acme).values_list("cost_usd", flat=True))
    )()

    @database_sync_to_async
    def export_then_erase() -> tuple[Any, Any]:
        owner = client_for(world.token(world.alice, world.acme))
        exported = owner.get("/api/v1/data-subjects/end_user/crm-77/export/")
        erased = owner.post("/api/v1/data-subjects/end_user/crm-77/erase/")
        return exported, erased

    exported, erased = await export_then_erase()
    assert exported.status_code == 200, exported.content
    data = exported.json()
    assert data["subject"] == {
        "kind": "end_user",
        "end_user": "crm-77",
        "created_at": data["subject"]["created_at"],
    }
    [conversation] = data["conversations"]
    assert conversation["id"] == conversation_id and marker in conversation["messages"][0]["content"]
    assert [a["text"] for a in data["attachments"]] == [marker] and len(data["usage"]) >= 2

    assert erased.status_code == 200, erased.content
    counts = erased.json()["counts"]
    assert counts["conversations"] == 1 and counts["messages"] >= 4 and counts["files"] == 1
    assert counts["curated_links"] == 1 and counts["webhook_deliveries"] == 1
    await closed_with(socket, 4403)

    @database_sync_to_async
    def in_the_database() -> dict[str, Any]:
        return {
            "messages": Message.objects.unscoped().filter(content__contains=marker).exists(),
            "files": ChatFile.objects.unscoped().filter(text__contains=marker).exists(),
            "conversation": Conversation.objects.unscoped().filter(pk=conversation_id).exists(),
            "user": get_user_model().objects.filter(pk=user_id).exists(),
            "end_user": EndUser.objects.unscoped().filter(external_id="crm-77").exists(),
            "deliveries": Delivery.objects.for_tenant(world.acme).exists(),
            "curated_link": CuratedAnswer.objects.for_tenant(world.acme).get().source_message_id,
            "usage": sorted(UsageRecord.objects.for_tenant(world.acme).values_list("cost_usd", flat=True)),
            "usage_of_person": UsageRecord.objects.for_tenant(world.acme).filter(user_id=user_id).exists(),
            "record": AuditEntry.objects.for_tenant(world.acme).get(action="data.erased"),
        }

    stored = await in_the_database()
    assert not any(stored[k] for k in ("messages", "files", "conversation", "user", "end_user", "deliveries"))
    assert stored["curated_link"] is None and not stored["usage_of_person"]
    assert stored["usage"] == usage_before  # the bill is the same
    record = stored["record"]
    assert record.target == f"erasure {erased.json()['id']}" and record.changes["kind"] == ["end_user", None]
    assert marker not in str(record.changes) and "crm-77" not in f"{record.target}{record.changes}"
    assert _redis_values_with(marker, world.acme.pk) == []
    assert not attachments_storage().exists(f"t{world.acme.pk}/u{user_id}/x/{marker}.txt")

    # The person is gone: both requests now find no one.
    owner = client_for(world.token(world.alice, world.acme))
    assert (
        await database_sync_to_async(owner.get)("/api/v1/data-subjects/end_user/crm-77/export/")
    ).status_code == 404


def test_only_the_tenants_owners_and_admins_reach_its_people(world: World) -> None:
    person = EndUser.objects.create(
        tenant=world.acme, user=get_user_model().objects.create_user("enduser-x"), external_id="p-1"
    )
    Membership.objects.for_tenant(world.globex).filter(user=world.carol).update(role="owner")
    other_owner = client_for(world.token(world.carol, world.globex))
    for path in ("/api/v1/data-subjects/end_user/p-1/export/", "/api/v1/data-subjects/visitor/1/export/"):
        assert other_owner.get(path).status_code == 404
    assert other_owner.post("/api/v1/data-subjects/end_user/p-1/erase/").status_code == 404
    assert (
        client_for(world.token(world.bob, world.acme))
        .get("/api/v1/data-subjects/end_user/p-1/export/")
        .status_code
        == 403
    )
    owner = client_for(world.token(world.alice, world.acme))
    assert owner.get("/api/v1/data-subjects/nobody/p-1/export/").status_code == 404
    assert owner.get("/api/v1/data-subjects/visitor/not-a-number/export/").status_code == 404
    assert owner.get("/api/v1/data-subjects/end_user/p%00-1/export/").status_code == 404  # hostile: no 500
    for odd in ("%C2%B3", "9" * 30):  # a superscript digit, an id past a bigint
        assert owner.post(f"/api/v1/data-subjects/visitor/{odd}/erase/").status_code == 404
    assert owner.get("/api/v1/data-subjects/end_user/p-1/export/").json()["conversations"] == []
    assert EndUser.objects.for_tenant(world.acme).filter(pk=person.pk).exists()


async def test_without_redis_the_processs_own_stores_forget_by_prefix(settings: Any) -> None:
    """The embedded default keeps hot state in this process: each store drops what the prefixes
    name, and only that."""
    settings.REDIS_URL = ""
    memory, answers = MemoryWorkingMemory(), MemoryResponseCache(max_entries=10)
    for conversation_id in (1, 12):
        await memory.refill(tenant_id=5, conversation_id=conversation_id, items=[Remembered(1, "user", "hi")])
    await answers.put("t:{5}:cache:exact:abc", CachedAnswer(text="x", model="m"), ttl_s=60)
    await answers.put("t:{6}:cache:exact:abc", CachedAnswer(text="y", model="m"), ttl_s=60)
    erased = hot_state_forget(prefixes=["t:{5}:conv:1:", "t:{5}:cache:"], stores=[memory, answers])
    assert erased == 2
    assert await memory.recent(tenant_id=5, conversation_id=1) is None
    assert await memory.recent(tenant_id=5, conversation_id=12) is not None
    assert await answers.get("t:{5}:cache:exact:abc") is None and await answers.get("t:{6}:cache:exact:abc")


def test_with_redis_away_nothing_is_erased_and_the_answer_says_try_again(world: World, settings: Any) -> None:
    person = EndUser.objects.create(
        tenant=world.acme, user=get_user_model().objects.create_user("enduser-y"), external_id="p-2"
    )
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    owner = client_for(world.token(world.alice, world.acme))
    answer = owner.post("/api/v1/data-subjects/end_user/p-2/erase/")
    assert answer.status_code == 503 and answer.json()["code"] == "service_unavailable"
    assert EndUser.objects.for_tenant(world.acme).filter(pk=person.pk).exists()
    assert not AuditEntry.objects.for_tenant(world.acme).filter(action="data.erased").exists()
