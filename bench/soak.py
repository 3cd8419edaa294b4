"""Soak: many sockets over many tenants at a steady message rate, in cycles; counts and memory.

    .venv/bin/python bench/soak.py              # 1,000 sockets, 20 tenants, 33 msg/s, 60 s, 2 cycles
    .venv/bin/python bench/soak.py --sockets 200 --tenants 5 --rate 10 --seconds 20 --cycles 1

Each cycle opens the sockets (spread over the tenants and their members), sends messages at
``--rate`` for ``--seconds`` (each to a socket with no answer in flight), waits for every answer,
and closes every socket. Per cycle it reports what was sent, answered (``done``), refused
(``error`` frames, by code), stored (questions and answers in PostgreSQL), stored twice, and the
stream slots still held once every socket is closed. The Daphne process's RSS is read warm
before the first cycle, with the sockets open, after they closed, and after ``--idle`` seconds
with nothing to do. The platform is started as the README says (PostgreSQL, Redis, Celery) with
the fake OpenAI server in a process of its own; the tenants have the tier's limits raised (what
is tested is the platform under load, not the quotas).
"""

import argparse
import asyncio
import collections
import contextlib
import json
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from websockets.asyncio.client import ClientConnection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import platform_and_fake_llm  # noqa: E402
from bench.stats import percentile  # noqa: E402
from bench.ws_bench import open_chat_socket, rss_kb, tenant_with_members  # noqa: E402
from infra.keys import tenant_prefix  # noqa: E402
from testkit.live import LIVE_REDIS_URL, METRICS_TOKEN, LivePlatform  # noqa: E402


@dataclass
class Cycle:
    sent: int = 0
    answered: int = 0
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    stored_questions: int = 0
    stored_answers: int = 0
    duplicates: int = 0
    slots_held: int = 0
    latencies: list[float] = field(default_factory=list)  # message sent -> done or error, s
    rss_open_kb: int = 0
    rss_closed_kb: int = 0
    seconds: float = 0.0

    def report(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "answered": self.answered,
            "refused": dict(self.refused),
            "unfinished": self.sent - self.answered - sum(self.refused.values()),
            "stored_questions": self.stored_questions,
            "stored_answers": self.stored_answers,
            "duplicates": self.duplicates,
            "slots_held_after_close": self.slots_held,
            "rate_achieved": round(self.sent / self.seconds, 1) if self.seconds else 0,
            "latency_p50_s": round(percentile(self.latencies, 50), 3) if self.latencies else None,
            "latency_p99_s": round(percentile(self.latencies, 99), 3) if self.latencies else None,
            "rss_open_mb": round(self.rss_open_kb / 1024, 1),
            "rss_closed_mb": round(self.rss_closed_kb / 1024, 1),
        }


def tenants_with_members(platform: LivePlatform, tenants: int, members: int) -> dict[int, list[str]]:
    """Tenant id -> access tokens of its members."""
    out = {}
    staff = platform.token("admin", platform.passwords["admin"])
    for _ in range(tenants):
        slug, tokens = tenant_with_members(platform, members, tier="professional", staff=staff)
        row = platform.sql("SELECT id FROM tenants_tenant WHERE slug = %s", [slug])
        assert row is not None
        out[row[0]] = tokens
    return out


async def run_cycle(
    platform: LivePlatform,
    tokens: list[str],
    *,
    sockets: int,
    rate: float,
    seconds: float,
    tag: str,
    answer_tokens: int,
    max_in_flight: int | None = None,
    drain_timeout: float = 300,
) -> Cycle:
    cycle = Cycle()
    opened: list[ClientConnection] = []
    # A few dozen handshakes at a time: a busy server must accept each within Daphne's timeout.
    for start in range(0, sockets, 25):
        batch = range(start, min(start + 25, sockets))
        opened += await asyncio.gather(*(open_chat_socket(platform, tokens[i % len(tokens)]) for i in batch))
    cycle.rss_open_kb = rss_kb(platform.server_pid())
    idle: asyncio.Queue[ClientConnection] = asyncio.Queue()
    for ws in opened:
        idle.put_nowait(ws)
    in_flight = 0
    settled = asyncio.Event()

    async def read(ws: ClientConnection) -> None:
        nonlocal in_flight
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "ping":  # what a well-behaved client does
                await ws.send('{"type":"pong"}')
            elif frame["type"] in ("done", "error"):
                cycle.latencies.append(loop.time() - sent_at.pop(ws))
                if frame["type"] == "done":
                    cycle.answered += 1
                else:
                    cycle.refused[frame["code"]] += 1
                in_flight -= 1
                if in_flight == 0:
                    settled.set()
                idle.put_nowait(ws)

    loop = asyncio.get_running_loop()
    sent_at: dict[ClientConnection, float] = {}
    readers = [asyncio.create_task(read(ws)) for ws in opened]
    began = loop.time()
    while (now := loop.time()) < began + seconds:
        due = began + cycle.sent / rate
        if due > now:
            await asyncio.sleep(due - now)
        while max_in_flight is not None and in_flight >= max_in_flight:
            await asyncio.sleep(0.01)
        ws = await idle.get()
        in_flight += 1
        settled.clear()
        cycle.sent += 1
        content = f"{tag}-{cycle.sent} [[tokens={answer_tokens}]]"
        sent_at[ws] = loop.time()
        await ws.send(json.dumps({"type": "message", "content": content, "client_id": str(uuid.uuid4())}))
    cycle.seconds = loop.time() - began
    if in_flight:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(settled.wait(), drain_timeout)
    for ws in opened:
        await ws.close()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    return cycle


def count_stored(platform: LivePlatform, cycle: Cycle, tag: str) -> None:
    like = f"{tag}-%"
    row = platform.sql(
        "SELECT count(*), count(DISTINCT u.content),"
        " (SELECT count(*) FROM chat_message a JOIN chat_message q ON a.reply_to_id = q.id"
        "  WHERE q.role = 'user' AND q.content LIKE %s)"
        " FROM chat_message u WHERE u.role = 'user' AND u.content LIKE %s",
        [like, like],
    )
    assert row is not None
    cycle.stored_questions, distinct, cycle.stored_answers = row
    cycle.duplicates = cycle.stored_questions - distinct


def slots_held(tenant_ids: list[int]) -> int:
    """Stream slots whose lease has not lapsed, over the tenants (``t:{tenant}:streams``)."""
    client = redis.Redis.from_url(LIVE_REDIS_URL)
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000
    return sum(
        int(client.zcount(f"{tenant_prefix(tenant_id)}:streams", now_ms, "+inf")) for tenant_id in tenant_ids
    )


def memory_releases(platform: LivePlatform) -> int:
    """How often the instance has given memory back after sockets closed (``infra.memory``)."""
    request = urllib.request.Request(  # noqa: S310 (local)
        f"{platform.base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (local)
        for line in response.read().decode().splitlines():
            if line.startswith("process_memory_releases_total "):
                return int(float(line.split()[1]))
    return 0


async def soak(
    platform: LivePlatform,
    *,
    sockets: int,
    tenants: int,
    members: int,
    rate: float,
    seconds: float,
    cycles: int,
    idle: float,
    answer_tokens: int,
    max_in_flight: int | None = None,
) -> dict[str, Any]:
    accounts = tenants_with_members(platform, tenants, members)
    tokens = [token for group in zip(*accounts.values(), strict=True) for token in group]
    # Letters only: with the PII filter on (the default), "soak-812345-1-1110" reads as a phone
    # number and would be stored redacted, out of reach of the count below.
    run = "".join(chr(ord("a") + int(digit, 16)) for digit in uuid.uuid4().hex[:6])
    # Warm: one small round first, so the baseline counts what any running instance holds.
    await run_cycle(platform, tokens, sockets=20, rate=10, seconds=2, tag=f"soak-{run}-warm", answer_tokens=5)
    await asyncio.sleep(5)
    baseline = rss_kb(platform.server_pid())
    results = []
    for number in range(1, cycles + 1):
        tag = f"soak-{run}-{number}"
        cycle = await run_cycle(
            platform,
            tokens,
            sockets=sockets,
            rate=rate,
            seconds=seconds,
            tag=tag,
            answer_tokens=answer_tokens,
            max_in_flight=max_in_flight,
        )
        await asyncio.sleep(2)  # the last socket closes are handled
        cycle.rss_closed_kb = rss_kb(platform.server_pid())
        count_stored(platform, cycle, tag)
        cycle.slots_held = slots_held(list(accounts))
        results.append(cycle.report())
        print(json.dumps({"cycle": number, **results[-1]}), flush=True)
    await asyncio.sleep(idle)
    after_idle = rss_kb(platform.server_pid())
    return {
        "sockets": sockets,
        "tenants": tenants,
        "rate": rate,
        "seconds": seconds,
        "cycles": results,
        "rss_baseline_mb": round(baseline / 1024, 1),
        "rss_after_idle_mb": round(after_idle / 1024, 1),
        "rss_growth_pct": round((after_idle - baseline) / baseline * 100, 1),
        "memory_releases": memory_releases(platform),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--members", type=int, default=5, help="members per tenant")
    parser.add_argument("--rate", type=float, default=33.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="per cycle")
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds idle before the last RSS reading")
    parser.add_argument("--answer-tokens", type=int, default=20)
    parser.add_argument("--max-in-flight", type=int, default=None, help="messages awaiting an answer at most")
    args = parser.parse_args()
    started = time.monotonic()
    with platform_and_fake_llm(prefix="soak-", extra_env={"LOG_LEVEL": "WARNING"}) as (platform, _):
        report = asyncio.run(
            soak(
                platform,
                sockets=args.sockets,
                tenants=args.tenants,
                members=args.members,
                rate=args.rate,
                seconds=args.seconds,
                cycles=args.cycles,
                idle=args.idle,
                answer_tokens=args.answer_tokens,
                max_in_flight=args.max_in_flight,
            )
        )
    report["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
