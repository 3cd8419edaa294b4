"""The server's heartbeat: pings, pongs, and 4408 for a client that stopped answering."""

import pytest

from tests.conftest import World
from tests.fake_openai import FakeOpenAI
from tests.ws import TIMEOUT, frames_until, open_chat, send_message


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


async def test_a_silent_client_is_closed_with_4408_and_frees_its_stream_slot(
    world: World, fake_llm: FakeOpenAI, quick_heartbeat: None
) -> None:
    silent, _ = await open_chat(world.token(world.carol, world.globex))  # Free: one stream
    await send_message(silent, "[[tokens=2000]] [[delay=0.01]]")
    while True:  # never answers the pings
        output = await silent.receive_output(TIMEOUT)
        if output["type"] == "websocket.close":
            break
    assert output["code"] == 4408
    await silent.disconnect()  # what the server does once the socket is closed
    other, _ = await open_chat(world.token(world.carol, world.globex))
    await send_message(other, "my turn [[tokens=2]]")
    frames = await frames_until(other, "done")
    assert frames[-1]["finish_reason"] == "stop"
    await other.disconnect()
