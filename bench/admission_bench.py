"""The admission decision on Redis: round trips per message and latency under concurrency.

    .venv/bin/python bench/admission_bench.py                 # 200 concurrent senders, 20 s
    .venv/bin/python bench/admission_bench.py --senders 50 --seconds 10

Each sender loops over one message's limit work, as the chat consumer does it: ``admit`` (the
rate limits, a stream slot and the token budget's reservation: one Lua call), then ``finish``
when the answer ends (free the slot, settle the reservation: one Lua call). Senders are spread
over 20 tenants and 200 users so that they contend on the same keys the way a busy platform
does. Redis database 3 is used and flushed.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/3")

import django  # noqa: E402

django.setup()

import redis.asyncio as aioredis  # noqa: E402

from bench.stats import percentile  # noqa: E402
from billing.admission import budget_keys, rate_limits  # noqa: E402
from billing.limits.base import BudgetClaim, StreamLease  # noqa: E402
from billing.limits.redis import RedisLimitStore  # noqa: E402
from infra.keys import tenant_prefix  # noqa: E402
from infra.lean_redis import Command, LeanRedis  # noqa: E402
from tenants.selectors import TenantLimits  # noqa: E402

LIMITS = TenantLimits(
    messages_per_minute=10**9,  # never refuse: the decision's cost is what is measured
    messages_per_hour=10**9,
    user_messages_per_minute=10**9,
    max_concurrent_streams=10**6,
    monthly_token_budget=10**15,
    conversation_cost_cap_usd=None,
    tier_name="bench",
)


async def main(senders: int, seconds: float) -> dict[str, object]:
    client = aioredis.Redis.from_url(os.environ["REDIS_URL"])  # the checks and the server's stats
    await client.flushdb()
    lean = LeanRedis(os.environ["REDIS_URL"], timeout=5)
    store = RedisLimitStore(lean)
    for tenant in range(20):
        await store.seed(keys=budget_keys(tenant_id=tenant, month="2026-11"), used=0, ttl_s=3600)
    admit_ms: list[float] = []
    finish_ms: list[float] = []
    deadline = time.perf_counter() + seconds

    async def sender(index: int) -> int:
        tenant, user = index % 20, index
        done = 0
        while time.perf_counter() < deadline:
            lease = StreamLease(
                f"{tenant_prefix(tenant)}:streams", uuid.uuid4().hex, LIMITS.max_concurrent_streams, 30
            )
            keys = budget_keys(tenant_id=tenant, month="2026-11")
            started = time.perf_counter()
            admission = await store.admit(
                limits=rate_limits(tenant_id=tenant, user_id=user, limits=LIMITS),
                lease=lease,
                claims=[BudgetClaim("budget", keys, amount=1200, budget=10**15, ttl_s=900)],
            )
            admitted = time.perf_counter()
            admit_ms.append((admitted - started) * 1000)
            assert admission.admitted
            await store.finish(lease=lease, spent=[(keys, 900)])
            finish_ms.append((time.perf_counter() - admitted) * 1000)
            done += 1
        return done

    # Round trips, counted where they start: every call the store makes.
    round_trips = 0
    execute = lean.execute

    async def counted(*commands: Command) -> list[Any]:
        nonlocal round_trips
        round_trips += 1
        return await execute(*commands)

    lean.execute = counted  # type: ignore[method-assign]
    await client.config_resetstat()
    started = time.perf_counter()
    messages = sum(await asyncio.gather(*(sender(i) for i in range(senders))))
    elapsed = time.perf_counter() - started
    server = await client.info("commandstats")
    await client.aclose()
    await lean.close()
    return {
        "senders": senders,
        "messages": messages,
        "messages_per_s": round(messages / elapsed),
        "round_trips_per_message": round(round_trips / messages, 2),
        "admission_round_trips": 1,
        "redis_usec_per_script_call": server["cmdstat_evalsha"]["usec_per_call"],
        "admit_p50_ms": round(percentile(admit_ms, 50), 3),
        "admit_p99_ms": round(percentile(admit_ms, 99), 3),
        "admit_mean_ms": round(statistics.fmean(admit_ms), 3),
        "finish_p50_ms": round(percentile(finish_ms, 50), 3),
        "finish_p99_ms": round(percentile(finish_ms, 99), 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--senders", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.senders, args.seconds)), indent=2))
