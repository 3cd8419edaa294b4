"""The platform under steady load (``bench/soak.py``): 1,000 sockets of 40 members of 20
tenants at 30 messages a second for 20 s, twice. Nothing is refused for want of a pooled connection, every
message sent is answered and stored once, no stream slot is held once the sockets close, and
each cycle's memory is given back. The rate is what is sent, not what is asserted: this machine
may be busy. Sized for CI (each check is made on both cycles); the full soak, 60 s a cycle and
an idle minute after, is ``bench/soak.py``, which reports the rate it reached and the memory."""

import pytest

from bench.harness import platform_and_fake_llm
from bench.soak import memory_releases, soak
from testkit.worker import wait_for

pytestmark = pytest.mark.live


@pytest.mark.timeout(1200)  # 40 s of load and the answers behind it, on a machine maybe busy
async def test_a_thousand_sockets_at_thirty_messages_a_second_lose_nothing() -> None:
    # What is tested is loss under load, not capacity: on a busy CI machine the platform falls
    # behind, so the messages waiting for their answer are capped (the sender slows down and the
    # soak reports the rate it reached), and a late heartbeat or a slow event loop's Redis
    # round trip is not taken for an outage.
    env = {"LOG_LEVEL": "WARNING", "CHAT_PONG_TIMEOUT_S": "120", "LIMITS_REDIS_TIMEOUT": "5"}
    with platform_and_fake_llm(prefix="soak-", extra_env=env) as (platform, _):
        report = await soak(
            platform,
            sockets=1000,
            tenants=20,
            members=2,
            rate=30,
            seconds=20,
            cycles=2,
            idle=0,
            answer_tokens=20,
            max_in_flight=200,
        )
        # After each cycle's sockets closed, the instance gave their memory back.
        assert wait_for(lambda: memory_releases(platform) >= 2, timeout=60), "no memory given back"
    for cycle in report["cycles"]:
        assert cycle["refused"] == {} and cycle["unfinished"] == 0, cycle
        sent = cycle["sent"]
        assert sent == cycle["answered"] == cycle["stored_questions"] == cycle["stored_answers"], cycle
        assert cycle["duplicates"] == 0 and cycle["slots_held_after_close"] == 0, cycle
