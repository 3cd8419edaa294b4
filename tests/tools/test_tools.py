"""Tool calling: a tenant's HTTP tool through a local tool server (signed calls, validated
arguments, refusals reported to the model), the built-in tools, the round limit and the budget,
``tool`` frames, what is stored, and the guard on tool addresses. The fake OpenAI server streams
``tool_calls`` as the real API does (deltas split across chunks, several calls in one response)."""

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from channels.db import database_sync_to_async

from billing.models import UsageRecord
from chat.models import Conversation, Message
from tenants.models import Membership, Role, Tenant
from tenants.selectors import forget_chat_configs
from testkit.fake_openai import FakeOpenAI
from testkit.local_http import serving
from testkit.world import World, client_for, make_user
from testkit.ws import ask, frames_until, open_chat, send_message
from tools.catalog import ToolSpec
from tools.http import ToolCallRefused, _public_address, call_http_tool, signature

SECRET = "s3cret-for-signing-calls"


class ToolServer(BaseHTTPRequestHandler):
    """The tenant's system: checks the signature, records each call, answers an order's status."""

    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        expected = signature(SECRET, self.headers["X-Chatplatform-Timestamp"], body)
        valid = self.headers["X-Chatplatform-Signature"] == expected
        self.seen.append({"path": self.path, "body": json.loads(body), "signed": valid})
        answer = json.dumps({"order": json.loads(body).get("order"), "status": "shipped"}).encode()
        self.send_response(200 if valid else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tool_server() -> Iterator[str]:
    ToolServer.seen = []
    with serving(ToolServer) as url:
        yield f"{url}/orders"


@pytest.fixture
def loopback_tools(settings: Any) -> None:
    """Tests only: the tool server is on this machine, over plain HTTP."""
    settings.TOOLS_ALLOW_HTTP = True
    settings.TOOLS_ALLOW_LOOPBACK = True


ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order": {"type": "string", "pattern": "^[A-Z]-[0-9]+$"}},
    "required": ["order"],
    "additionalProperties": False,
}


def define_tools(world: World, url: str, *, allowed: list[str], rounds: int = 4) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    created = owner.post(
        "/api/v1/tools/",
        {
            "name": "order_status",
            "description": "The status of one of the customer's orders.",
            "parameters": ORDER_SCHEMA,
            "url": url,
            "method": "POST",
            "secret": SECRET,
            "timeout_s": 5,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert "secret" not in created.json()
    configured = owner.patch(
        "/api/v1/tenants/acme/config/", {"allowed_tools": allowed, "max_tool_rounds": rounds}, format="json"
    )
    assert configured.status_code == 200, configured.content


@database_sync_to_async
def answer_row(tenant_id: int, message_id: int) -> tuple[Message, UsageRecord]:
    return (
        Message.objects.for_tenant(tenant_id).get(pk=message_id),
        UsageRecord.objects.for_tenant(tenant_id).get(message_id=message_id),
    )


async def test_a_tool_round_trip_signed_validated_streamed_stored_and_billed(
    world: World, fake_llm: FakeOpenAI, tool_server: str, loopback_tools: None
) -> None:
    await database_sync_to_async(define_tools)(world, tool_server, allowed=["order_status"])
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    frames = await ask(communicator, 'Where is my order? [[call:order_status {"order": "A-17"}]]')
    tools = [f for f in frames if f["type"] == "tool"]
    assert [(f["name"], f["status"]) for f in tools] == [
        ("order_status", "started"),
        ("order_status", "done"),
    ]
    assert "arguments" not in tools[1]  # not unless the tenant shows them
    text = "".join(f["content"] for f in frames if f["type"] == "token")
    assert text.startswith("Tool results:") and '"status": "shipped"' in text
    done = frames[-1]
    assert done["type"] == "done" and done["finish_reason"] == "stop"

    assert ToolServer.seen == [{"path": "/orders", "body": {"order": "A-17"}, "signed": True}]
    first, second = fake_llm.calls[-2:]
    assert [t["function"]["name"] for t in first.body["tools"]] == ["order_status"]
    assert "url" not in json.dumps(first.body["tools"]) and SECRET not in json.dumps(first.body)
    assistant, tool = second.messages[-2:]
    assert assistant["tool_calls"][0]["function"] == {
        "name": "order_status",
        "arguments": '{"order": "A-17"}',
    }
    assert tool["role"] == "tool" and tool["tool_call_id"] == assistant["tool_calls"][0]["id"]

    message, usage = await answer_row(world.acme.pk, done["message_id"])
    assert [(c["name"], c["status"], c["arguments"]) for c in message.tool_calls] == [
        ("order_status", "done", {"order": "A-17"})
    ]
    # Both model calls are billed: the usage is their sum, on the answer and in the ledger.
    prompts = sum(len((m.get("content") or "").split()) + 4 for c in (first, second) for m in c.messages)
    assert done["usage"]["input_tokens"] == message.input_tokens == usage.input_tokens == prompts
    await communicator.disconnect()

    def exported() -> list[dict[str, Any]]:
        owner = client_for(world.token(world.alice, world.acme))
        response = owner.get(f"/api/v1/conversations/{message.conversation_id}/export/?format=json")
        return list(json.loads(b"".join(response.streaming_content)))

    rows = await database_sync_to_async(exported)()
    assert rows[-1]["tools"] == "order_status:done"


async def test_invalid_arguments_and_a_private_address_are_refused_and_told_to_the_model(
    world: World, fake_llm: FakeOpenAI, tool_server: str, settings: Any
) -> None:
    settings.TOOLS_ALLOW_HTTP = True
    settings.TOOLS_ALLOW_LOOPBACK = True
    await database_sync_to_async(define_tools)(world, tool_server, allowed=["order_status"])
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    frames = await ask(communicator, 'Status? [[call:order_status {"order": 17}]]')
    failed = [f for f in frames if f["type"] == "tool" and f["status"] == "failed"]
    assert len(failed) == 1 and "invalid arguments at order" in failed[0]["error"]
    assert ToolServer.seen == []  # never called with arguments its schema refuses
    assert "invalid arguments at order" in fake_llm.calls[-1].messages[-1]["content"]

    settings.TOOLS_ALLOW_LOOPBACK = False  # as in production: 127.0.0.1 is not a public address
    frames = await ask(communicator, 'Again? [[call:order_status {"order": "B-2"}]]')
    failed = [f for f in frames if f["type"] == "tool" and f["status"] == "failed"]
    assert failed and "not a public one" in failed[0]["error"] and ToolServer.seen == []
    await communicator.disconnect()


async def test_the_round_limit_holds_and_a_last_call_answers_without_tools(
    world: World, fake_llm: FakeOpenAI, tool_server: str, loopback_tools: None
) -> None:
    await database_sync_to_async(define_tools)(world, tool_server, allowed=["order_status"], rounds=2)
    await database_sync_to_async(Tenant.objects.filter(pk=world.acme.pk).update)(show_tool_arguments=True)
    forget_chat_configs()
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    fake_llm.reset()
    frames = await ask(communicator, 'Loop [[call-always]] [[call:order_status {"order": "C-3"}]]')
    done = [f for f in frames if f["type"] == "tool" and f["status"] == "done"]
    assert len(done) == 2 and done[0]["arguments"] == {"order": "C-3"}  # the tenant shows them
    assert len(ToolServer.seen) == 2
    assert len(fake_llm.calls) == 3 and fake_llm.calls[-1].body["tool_choice"] == "none"
    assert frames[-1]["finish_reason"] == "stop"
    await communicator.disconnect()


async def test_the_built_in_tools_read_this_conversation_and_escalate_it(
    world: World, fake_llm: FakeOpenAI
) -> None:
    await database_sync_to_async(Tenant.objects.filter(pk=world.acme.pk).update)(
        allowed_tools=["conversation_facts", "escalate_to_human"]
    )
    forget_chat_configs()
    communicator, ready = await open_chat(world.token(world.bob, world.acme))
    frames = await ask(
        communicator,
        'Help [[call:conversation_facts {}]] [[call:escalate_to_human {"reason": "wants a person"}]]',
    )
    assert [f["status"] for f in frames if f["type"] == "tool"] == ["started", "done", "started", "done"]
    text = "".join(f["content"] for f in frames if f["type"] == "token")
    assert '"resolved": false' in text and '"escalated": true' in text
    stored = await database_sync_to_async(Conversation.objects.for_tenant(world.acme.pk).get)(
        pk=ready["conversation_id"]
    )
    assert stored.escalated and stored.escalation_reason == "wants a person"
    await communicator.disconnect()


async def test_tools_count_against_the_budget_before_the_answer(world: World, fake_llm: FakeOpenAI) -> None:
    """An answer that may take tool rounds reserves them all: near the end of the month's budget
    it is refused where a plain answer would still fit."""
    await database_sync_to_async(Tenant.objects.filter(pk=world.acme.pk).update)(
        monthly_token_budget_override=6000, allowed_tools=["conversation_facts"], max_tool_rounds=4
    )
    forget_chat_configs()
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    await send_message(communicator, "hello [[tokens=2]]")
    refused = (await frames_until(communicator, "error", "done"))[-1]
    assert refused["type"] == "error" and refused["code"] == "BUDGET_EXCEEDED"
    await database_sync_to_async(Tenant.objects.filter(pk=world.acme.pk).update)(allowed_tools=[])
    forget_chat_configs()
    frames = await ask(communicator, "hello again [[tokens=2]]")
    assert frames[-1]["type"] == "done"
    await communicator.disconnect()


# -- definitions and the address guard ---------------------------------------------------------


def test_tools_are_defined_by_owners_and_admins_within_their_tenant(world: World, settings: Any) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    member = client_for(world.token(world.bob, world.acme))
    spec = {
        "name": "crm_lookup",
        "description": "Look a customer up.",
        "parameters": {"type": "object", "properties": {"email": {"type": "string"}}},
        "url": "https://crm.acme.test/lookup",
        "secret": SECRET,
    }
    assert member.post("/api/v1/tools/", spec, format="json").status_code == 403
    created = owner.post("/api/v1/tools/", spec, format="json")
    assert created.status_code == 201 and created.json()["method"] == "POST"
    for bad, field in [
        ({"url": "http://crm.acme.test/x"}, "url"),
        ({"parameters": {"type": "string"}}, "parameters"),
        ({"parameters": {"type": "object", "properties": 5}}, "parameters"),
        ({"name": "search_knowledge"}, "name"),
        ({"name": "crm_lookup"}, "name"),
        ({"name": "has space"}, "name"),
        ({"secret": "short"}, "secret"),
    ]:
        refused = owner.post("/api/v1/tools/", {**spec, **bad}, format="json")
        assert refused.status_code == 400 and field in refused.json()["errors"], bad

    gina = make_user("gina")
    Membership.objects.create(tenant=world.globex, user=gina, role=Role.OWNER)
    other = client_for(world.token(gina, world.globex))
    tool_id = created.json()["id"]
    assert other.get(f"/api/v1/tools/{tool_id}/").status_code == 404
    assert other.delete(f"/api/v1/tools/{tool_id}/").status_code == 404
    refused = other.patch("/api/v1/tenants/globex/config/", {"allowed_tools": ["crm_lookup"]}, format="json")
    assert (
        refused.status_code == 400
        and "no such tool: crm_lookup" in refused.json()["errors"]["allowed_tools"][0]
    )

    allowed = owner.patch(
        "/api/v1/tenants/acme/config/", {"allowed_tools": ["crm_lookup", "search_knowledge"]}, format="json"
    )
    assert allowed.status_code == 200
    assert owner.delete(f"/api/v1/tools/{tool_id}/").status_code == 204
    assert Tenant.objects.get(pk=world.acme.pk).allowed_tools == ["search_knowledge"]


@pytest.mark.parametrize(
    "address",
    ["10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "127.0.0.1", "::1", "fd00::1", "0.0.0.0"],  # noqa: S104,
)
async def test_no_private_loopback_or_link_local_address_is_called(address: str, settings: Any) -> None:
    settings.TOOLS_ALLOW_LOOPBACK = False
    with pytest.raises(ToolCallRefused, match="not a public one"):
        await _public_address(address, 443)


async def test_https_only_and_redirects_are_not_followed(settings: Any, tool_server: str) -> None:
    settings.TOOLS_ALLOW_HTTP = False
    spec = ToolSpec("t", "d", ORDER_SCHEMA, tool_server, "POST", SECRET, 5.0)
    with pytest.raises(ToolCallRefused, match="HTTPS only"):
        await call_http_tool(spec, {"order": "A-1"})
    settings.TOOLS_ALLOW_HTTP = settings.TOOLS_ALLOW_LOOPBACK = True
    assert json.loads(await call_http_tool(spec, {"order": "A-1"}))["status"] == "shipped"
    redirecting = ToolSpec(
        "t", "d", ORDER_SCHEMA, tool_server.replace("/orders", "/redirect"), "POST", SECRET, 5.0
    )
    with pytest.raises(ToolCallRefused, match="redirect, which is not followed"):
        await call_http_tool(redirecting, {"order": "A-1"})
