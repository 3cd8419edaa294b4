"""Celery's share of a message: the worker's CPU per conversation summary and per title.

    .venv/bin/python bench/background_bench.py                   # 100 conversations, 3 rounds
    .venv/bin/python bench/background_bench.py --conversations 200 --rounds 5

The platform runs with the README's run command next to the fake OpenAI server. Setting up
(not measured): ``--conversations`` conversations of ``--turns`` turns each are answered over
the chat socket, with the tenant's summaries off, and their titles written. Each round (measured):
one summary task per conversation is queued to the platform's Celery worker, and its CPU is read
until every summary is written; then the titles are wiped (and their billing, so they are made
and billed again) and one title task per conversation is queued likewise. Reported: the worker's
CPU per task (medians), with PostgreSQL's and Redis's, and the Celery worker's share per message
of ``bench/ceiling.py``'s load (one title per conversation, a summary every
``summarize_after_messages - CHAT_SUMMARY_KEEP_RECENT`` messages).
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
        f"{part}_cpu_ms_per_task": round(meter.used() * 1000 / count, 3) for part, meter in meters.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--turns", type=int, default=10, help="answered turns per conversation")
    parser.add_argument("--rounds", type=int, default=3)
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
        runs: dict[str, list[dict[str, float]]] = {"summary": [], "title": []}
        for round_ in range(args.rounds + 1):  # the first warms up
            platform.sql(
                "UPDATE chat_conversation SET summary = '', summary_upto_id = NULL, "
                "summary_message_count = 0, title = '' WHERE tenant_id = %s",
                [tenant_id],
            )
            platform.sql(
                "DELETE FROM billing_usagerecord WHERE tenant_id = %s AND purpose <> 'answer'", [tenant_id]
            )
            for kind, task, done in (
                ("summary", "summarize_conversation", _SUMMARIZED),
                ("title", "title_conversation", _TITLED),
            ):
                result = measured(
                    platform,
                    groups,
                    lambda task=task: [
                        celery.send_task(f"chat.tasks.{task}", args=[tenant_id, c]) for c in ids
                    ],
                    (done, [tenant_id]),
                    len(ids),
                )
                if round_:
                    runs[kind].append(result)
                print(
                    f"-- round {round_ or 'warm-up'} {kind}: {json.dumps(result)}",
                    file=sys.stderr,
                    flush=True,
                )
        medians = {kind: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for kind, rs in runs.items()}
        print(json.dumps({"conversations": len(ids), "rounds": args.rounds, **medians}, indent=2))


if __name__ == "__main__":
    main()
