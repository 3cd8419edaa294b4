"""Celery's share of a message: the worker's CPU per conversation summary and per title, with
the work sent one piece a task and in batches (``chat.tasks.background_work``).

    .venv/bin/python bench/background_bench.py                   # 100 conversations, 3 rounds
    .venv/bin/python bench/background_bench.py --conversations 200 --batch 20 --rounds 5

The platform runs with the README's run command next to the fake OpenAI server. Setting up
(not measured): ``--conversations`` conversations of ``--turns`` turns each are answered over
the chat socket, with the tenant's summaries off, and their titles written. Each round (measured),
for one piece of work a task and for ``--batch`` a task, in alternating order: every summary is
wiped and the summaries queued to the platform's Celery worker, whose CPU is read until every
summary is written; then the titles likewise (their billing wiped too, so they are made and
billed again). Reported: the worker's CPU per piece of work (medians), with PostgreSQL's and
Redis's.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ceiling import deployment_groups  # noqa: E402
from bench.harness import CpuMeter, platform_and_fake_llm  # noqa: E402
from bench.ws_bench import open_chat_url, send, tenant_with_members, until  # noqa: E402
from testkit.live import LIVE_REDIS_URL, LivePlatform  # noqa: E402

_COUNT = "SELECT count(*) FROM chat_conversation WHERE tenant_id = %s AND "
_SUMMARIZED = _COUNT + "summary_upto_id IS NOT NULL"
_TITLED = _COUNT + "title <> ''"
_KINDS = {"summary": _SUMMARIZED, "title": _TITLED}  # each kind of work, and its count done


async def converse(platform: LivePlatform, tokens: list[str], conversations: int, turns: int) -> None:
    """``conversations`` new conversations of ``turns`` answered turns each, 50 at a time."""

    async def one(token: str) -> None:
        ws, _ = await open_chat_url(f"{platform.ws_url}/ws/chat/", token)
        for turn in range(turns):
            await send(ws, f"Turn {turn}: where is my order? [[tokens=20]] [[delay=0]]")
            await until(ws, "done")
        await ws.close()

    for start in range(0, conversations, 50):
        batch = range(start, min(conversations, start + 50))
        await asyncio.gather(*(one(tokens[i % len(tokens)]) for i in batch))


def wait_for(database_url: str, query: str, params: list[Any], wanted: int) -> None:
    """Poll on one connection of its own, ten times a second (its CPU is in PostgreSQL's)."""
    deadline = time.monotonic() + 600
    with psycopg.connect(database_url, autocommit=True) as conn:
        while (count := conn.execute(query, params).fetchone()[0]) < wanted:  # type: ignore[index]
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {count} of {wanted} after 600 s: {query}")
            time.sleep(0.1)


def measured(
    platform: LivePlatform,
    groups: dict[str, list[int]],
    send_all: Any,
    done: tuple[str, list[Any]],
    count: int,
) -> dict[str, float]:
    meters = {part: CpuMeter(pids) for part, pids in groups.items()}
    send_all()
    assert platform.database_url is not None
    wait_for(platform.database_url, *done, count)
    return {
        f"{part}_cpu_ms_per_piece": round(meter.used() * 1000 / count, 3) for part, meter in meters.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--turns", type=int, default=10, help="answered turns per conversation")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10, help="pieces of work a task, against 1 a task")
    args = parser.parse_args()
    with platform_and_fake_llm(prefix="background-bench-", extra_env={"LOG_LEVEL": "WARNING"}) as (
        platform,
        _,
    ):
        slug, tokens = tenant_with_members(platform, 10, tier="unlimited")
        platform.sql("UPDATE tenants_tenant SET summarize_after_messages = 1000 WHERE slug = %s", [slug])
        row = platform.sql("SELECT id FROM tenants_tenant WHERE slug = %s", [slug])
        assert row is not None
        tenant_id = row[0]
        print("-- conversations (not measured)", file=sys.stderr, flush=True)
        asyncio.run(converse(platform, tokens, args.conversations, args.turns))
        found = platform.sql(
            "SELECT array_agg(id ORDER BY id) FROM chat_conversation WHERE tenant_id = %s", [tenant_id]
        )
        assert found is not None
        ids: list[int] = found[0]
        assert platform.database_url is not None
        wait_for(platform.database_url, _TITLED, [tenant_id], len(ids))
        celery = Celery(broker=LIVE_REDIS_URL)
        groups = deployment_groups(platform)
        sizes = sorted({1, args.batch})
        runs: dict[str, list[dict[str, float]]] = {f"{k}, {n} a task": [] for n in sizes for k in _KINDS}
        for round_ in range(args.rounds + 1):  # the first warms up
            for size in sizes if round_ % 2 else sizes[::-1]:
                platform.sql(
                    "UPDATE chat_conversation SET summary = '', summary_upto_id = NULL, "
                    "summary_message_count = 0, title = '' WHERE tenant_id = %s",
                    [tenant_id],
                )
                platform.sql(
                    "DELETE FROM billing_usagerecord WHERE tenant_id = %s AND purpose <> 'answer'",
                    [tenant_id],
                )
                for kind, done in _KINDS.items():
                    batches = [
                        [[kind, tenant_id, c] for c in ids[start : start + size]]
                        for start in range(0, len(ids), size)
                    ]
                    result = measured(
                        platform,
                        groups,
                        lambda batches=batches: [
                            celery.send_task("chat.tasks.background_work", args=[batch]) for batch in batches
                        ],
                        (done, [tenant_id]),
                        len(ids),
                    )
                    name = f"{kind}, {size} a task"
                    if round_:
                        runs[name].append(result)
                    print(
                        f"-- round {round_ or 'warm-up'} {name}: {json.dumps(result)}",
                        file=sys.stderr,
                        flush=True,
                    )
        medians = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
        print(json.dumps({"conversations": len(ids), "rounds": args.rounds, **medians}, indent=2))


if __name__ == "__main__":
    main()
