"""The server's heartbeat: pings, pongs, and 4408 for a client that stopped answering."""

import asyncio

import pytest

from testkit.fake_openai import FakeOpenAI
from testkit.world import World, reconfigure
from testkit.ws import TIMEOUT, frames_until, open_chat, send_message


@pytest.fixture
def quick_heartbeat(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CHAT_PING_INTERVAL_S = 0.2
    settings.CHAT_PONG_TIMEOUT_S = 0.3


async def test_a_client_that_answers_pings_stays_connected(world: World, quick_heartbeat: None) -> None:
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    for _ in range(4):  # well past one ping interval plus the pong timeout, several times
        assert await communicator.receive_json_from(TIMEOUT) == {"type": "ping"}
        await communicator.send_json_to({"type": "pong"})
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(TIMEOUT) == {"type": "pong"}
    await communicator.disconnect()


async def test_a_silent_client_is_closed_with_4408_and_its_answer_ends_after_the_orphan_grace(
    world: World,
    fake_llm: FakeOpenAI,
    quick_heartbeat: None,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    await reconfigure(world.globex, orphan_grace_seconds=1)
    silent, _ = await open_chat(world.token(world.carol, world.globex))  # Free: one stream
    await send_message(silent, "[[tokens=2000]] [[delay=0.01]]")
    while True:  # never answers the pings
        output = await silent.receive_output(TIMEOUT)
        if output["type"] == "websocket.close":
            break
    assert output["code"] == 4408
    await silent.disconnect()  # what the server does once the socket is closed
    # Nobody follows the answer any more: it is cancelled after the grace, and its slot freed.
    assert await asyncio.to_thread(fake_llm.calls[-1].closed.wait, 30)
    # The socket that checks it does not answer pings while it waits: a heartbeat of the usual
    # pace, or a busy machine would close it with 4408 too.
    settings.CHAT_PING_INTERVAL_S, settings.CHAT_PONG_TIMEOUT_S = 30, 10
    other, _ = await open_chat(world.token(world.carol, world.globex))
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        await send_message(other, "my turn [[tokens=2]]")
        frame = (await frames_until(other, "done", "error"))[-1]
        if frame["type"] == "done" or asyncio.get_running_loop().time() > deadline:
            break
        assert frame["code"] == "TOO_MANY_STREAMS"  # the cancelled answer is still being stored
        await asyncio.sleep(frame["retry_after"])
    assert frame["finish_reason"] == "stop"
    await other.disconnect()
