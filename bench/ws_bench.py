"""WebSocket benchmark of the chat path: one Daphne process against the fake OpenAI server.

    .venv/bin/python bench/ws_bench.py                 # start a platform (Postgres + Redis) and run all
    .venv/bin/python bench/ws_bench.py --scenario ttft --streams 100

Scenarios (figures go in the closing note; targets for one Daphne process on 2 cores):
  idle        N authenticated idle connections; the server's RSS per connection (<= 60 KB);
              with --hold S, held S seconds answering heartbeats: the server's CPU meanwhile
  throughput  messages per second through the full path with C concurrent clients (>= 500/s),
              and per message: Redis commands (the most called) and bytes, PostgreSQL
              transactions and rows (the deployment's, Celery included)
  ttft        platform overhead on time to first token with S streams in flight at all times:
              first token frame at the client minus the fake server's first token byte,
              p50/p99 (<= 5 ms p50); and the work before the stream: message sent -> the
              upstream request at the fake server, p50/p99
  cancel      cancel sent -> upstream connection closed, as seen by the fake server, p50/p99
              (<= 50 ms p99)

--versus KEY=VALUE (repeatable) runs the chosen scenarios on two instances of one deployment, the
second with those settings changed (e.g. ``PYTHONMALLOC=pymalloc``: Python's own allocator
instead of the run command's jemalloc), in alternating rounds (--rounds) after a warm-up round on
each, and reports the medians of each side and their ratio. --mirror both is --versus
CHAT_STREAM_MIRROR=false: what copying every frame to the generation store (what resuming on
another instance needs) costs.

By default the script starts the platform with the README's run command (PostgreSQL database
``chatplatform_bench_*``, Redis, Celery) and the fake OpenAI server as its own process, so the
client, the server and the fake LLM do not share a GIL. Everything runs on this one machine,
so the client's own CPU use is part of what is measured: the figures are conservative.
"""

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis as redis_sync
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import CpuMeter, fake_calls, platform_and_fake_llm  # noqa: E402
from bench.stats import percentile  # noqa: E402
from testkit.live import LIVE_REDIS_URL, LivePlatform, start_platform  # noqa: E402
from testkit.redis_deployments import OwnRedis, OwnRedisCluster  # noqa: E402


@dataclass
class Target:
    platform: LivePlatform
    fake_url: str
    tokens: list[str]
    redis_urls: list[str] = field(default_factory=lambda: [LIVE_REDIS_URL])

    def token(self, index: int) -> str:
        return self.tokens[index % len(self.tokens)]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def open_socket(target: Target, index: int) -> ClientConnection:
    return await open_chat_socket(target.platform, target.token(index))


async def open_chat_socket(platform: LivePlatform, token: str) -> ClientConnection:
    """A chat socket past its ``ready`` frame, as the benchmarks' clients open them."""
    return (await open_chat_url(f"{platform.ws_url}/ws/chat/", token))[0]


async def open_chat_url(url: str, token: str) -> tuple[ClientConnection, dict[str, Any]]:
    """A chat socket at ``url`` and its ``ready`` frame."""
    ws = await connect(
        url,
        subprotocols=["chat.v1", f"bearer.{token}"],  # type: ignore[list-item]
        open_timeout=120,
        ping_interval=None,
        max_queue=None,
    )
    ready = json.loads(await ws.recv())
    assert ready["type"] == "ready", ready
    return ws, ready


async def open_many(target: Target, count: int, batch: int = 200) -> list[ClientConnection]:
    sockets: list[ClientConnection] = []
    for start in range(0, count, batch):
        size = min(batch, count - start)
        sockets += await asyncio.gather(*(open_socket(target, start + i) for i in range(size)))
    return sockets


async def send(ws: ClientConnection, content: str) -> None:
    await ws.send(json.dumps({"type": "message", "content": content, "client_id": str(uuid.uuid4())}))


async def until(ws: ClientConnection, frame_type: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == frame_type:
            return frame
        if frame["type"] == "error":
            raise RuntimeError(frame)


async def answer_heartbeats(ws: ClientConnection, pings: list[int]) -> None:
    """What a well-behaved client does while idle: answer the server's pings."""
    async for raw in ws:
        if json.loads(raw)["type"] == "ping":
            pings[0] += 1
            await ws.send('{"type":"pong"}')


async def scenario_idle(target: Target, connections: int, hold: float) -> dict[str, Any]:
    pid = target.platform.server_pid()
    warm = await open_many(target, 20)  # first-use allocations are not per-connection cost
    for ws in warm:
        await ws.close()
    await asyncio.sleep(2)
    before = rss_kb(pid)
    started = time.perf_counter()
    sockets = await open_many(target, connections)
    opened_in = time.perf_counter() - started
    await asyncio.sleep(3)
    after = rss_kb(pid)
    result: dict[str, Any] = {
        "connections": connections,
        "rss_before_mb": round(before / 1024, 1),
        "rss_after_mb": round(after / 1024, 1),
        "kb_per_connection": round((after - before) / connections, 1),
        "connect_rate_per_s": round(connections / opened_in),
    }
    if hold > 0:
        # Held open with heartbeats: the server pings each socket every CHAT_PING_INTERVAL_S.
        pings = [0]
        readers = [asyncio.create_task(answer_heartbeats(ws, pings)) for ws in sockets]
        counters = await asyncio.to_thread(store_counters, target.platform, target.redis_urls)
        cpu = CpuMeter(target.platform.server_pids())
        client_cpu = time.process_time()
        await asyncio.sleep(hold)
        server_cpu_s = cpu.used()
        counters_after = await asyncio.to_thread(store_counters, target.platform, target.redis_urls)
        # What an idle socket costs Redis, per socket and minute (its slot's renewal at each ping).
        redis_per_socket = per_message(counters, counters_after, connections * hold / 60)
        result["hold"] = {
            "seconds": hold,
            "pings_answered": pings[0],
            "still_open": sum(1 for ws in sockets if ws.close_code is None),
            "server_cpu_s": round(server_cpu_s, 2),
            "server_cpu_percent_of_one_core": round(100 * server_cpu_s / hold, 2),
            "client_cpu_s": round(time.process_time() - client_cpu, 2),
            "rss_end_mb": round(rss_kb(pid) / 1024, 1),
            "redis_per_socket_minute": {
                k: redis_per_socket[k]
                for k in ("redis_commands", "redis_top", "redis_bytes_in", "redis_bytes_out")
            },
        }
        for reader in readers:
            reader.cancel()
    for ws in sockets:
        await ws.close()
    return result


def store_counters(platform: LivePlatform, redis_urls: list[str]) -> dict[str, Any]:
    """What the deployment's Redis and PostgreSQL have done so far: Redis's calls per command,
    bytes in and out and CPU seconds (summed over ``redis_urls``: the one server, with Celery's
    broker traffic when it shares it, or each master of a Cluster), the database's transactions
    and rows (``pg_stat_database``, read apart from the bench's own connection)."""
    commands: dict[str, int] = {}
    bytes_in = bytes_out = 0
    cpu: list[float] = []
    for url in redis_urls:
        client = redis_sync.Redis.from_url(url)
        try:
            for name, stats in client.info("commandstats").items():
                name = name.removeprefix("cmdstat_")
                commands[name] = commands.get(name, 0) + int(stats["calls"])
            net, used = client.info("stats"), client.info("cpu")
        finally:
            client.close()
        bytes_in += int(net["total_net_input_bytes"])
        bytes_out += int(net["total_net_output_bytes"])
        cpu.append(float(used["used_cpu_sys"]) + float(used["used_cpu_user"]))
    row = platform.sql(
        "SELECT xact_commit + xact_rollback, tup_inserted, tup_updated, tup_fetched "
        "FROM pg_stat_database WHERE datname = current_database()",
        [],
    )
    assert row is not None
    return {
        "redis_commands": commands,
        "redis_bytes_in": bytes_in,
        "redis_bytes_out": bytes_out,
        "redis_cpu": cpu,
        "pg": dict(zip(("transactions", "inserted", "updated", "fetched"), map(int, row), strict=True)),
    }


def per_message(before: dict[str, Any], after: dict[str, Any], messages: int) -> dict[str, Any]:
    """The counters' growth per message: Redis commands (in all and the most called), bytes,
    PostgreSQL transactions and rows. ``pg_stat_database`` lags by up to its flush interval."""
    calls = {
        name: after["redis_commands"][name] - before["redis_commands"].get(name, 0)
        for name in after["redis_commands"]
    }
    calls = {name: n for name, n in calls.items() if n > 0}
    top = sorted(calls.items(), key=lambda item: -item[1])[:8]
    return {
        "redis_commands": round(sum(calls.values()) / messages, 1),
        "redis_top": {name: round(n / messages, 2) for name, n in top},
        "redis_bytes_in": round((after["redis_bytes_in"] - before["redis_bytes_in"]) / messages),
        "redis_bytes_out": round((after["redis_bytes_out"] - before["redis_bytes_out"]) / messages),
        # Each server's CPU per message: the busiest is the first to saturate.
        "redis_cpu_ms": [
            round((a - b) * 1000 / messages, 3)
            for a, b in zip(after["redis_cpu"], before["redis_cpu"], strict=True)
        ],
        **{f"pg_{k}": round((after["pg"][k] - before["pg"][k]) / messages, 2) for k in after["pg"]},
    }


async def scenario_throughput(
    target: Target, clients: int, seconds: float, tokens: int = 5, token_delay: float = 0
) -> dict[str, Any]:
    """``tokens`` per answer, ``token_delay`` seconds apart: 0 sends them at once (one or two
    frames); past ``CHAT_TOKEN_FRAME_INTERVAL_MS`` each is a frame of its own."""
    sockets = await open_many(target, clients)
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def client(ws: ClientConnection) -> int:
        done = 0
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            # A new question each time: a repeated one would become an exact cache hit once the
            # conversation's last 20 messages repeat too, and the full path would not be measured.
            content = f"Where is order {uuid.uuid4().hex[:8]}? [[tokens={tokens}]] [[delay={token_delay}]]"
            await send(ws, content)
            frame = await until(ws, "done")
            assert frame["finish_reason"] == "stop", frame
            latencies.append(time.perf_counter() - sent)
            done += 1
        return done

    counters = await asyncio.to_thread(store_counters, target.platform, target.redis_urls)
    cpu = CpuMeter(target.platform.server_pids())
    started = time.perf_counter()
    counts = await asyncio.gather(*(client(ws) for ws in sockets))
    elapsed = time.perf_counter() - started
    cpu_seconds = cpu.used()
    await asyncio.sleep(1)  # the background work of the last answers, pg_stat_database's flush
    counters_after = await asyncio.to_thread(store_counters, target.platform, target.redis_urls)
    for ws in sockets:
        await ws.close()
    return {
        "clients": clients,
        "messages": sum(counts),
        "tokens_per_answer": tokens,
        "seconds": round(elapsed, 1),
        "messages_per_s": round(sum(counts) / elapsed, 1),
        "latency_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "latency_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "server_cpu_ms_per_message": round(cpu_seconds * 1000 / sum(counts), 2),
        "per_message": per_message(counters, counters_after, sum(counts)),
    }


async def scenario_ttft(target: Target, streams: int, seconds: float) -> dict[str, Any]:
    """``streams`` clients, each sending its next message as soon as an answer ends, starting
    staggered over the first second: about ``streams`` answers are streaming at any moment."""
    sockets = await open_many(target, streams)
    arrivals: dict[str, float] = {}
    sent_at: dict[str, float] = {}
    deadline = time.perf_counter() + seconds

    async def client(index: int, ws: ClientConnection) -> None:
        await asyncio.sleep(index / streams)
        while time.perf_counter() < deadline:
            marker = uuid.uuid4().hex
            sent_at[marker] = time.monotonic()
            await send(ws, f"{marker} [[tokens=40]] [[delay=0.02]]")
            await until(ws, "token")
            arrivals[marker] = time.monotonic()
            await until(ws, "done")

    cpu = CpuMeter(target.platform.server_pids())
    await asyncio.gather(*(client(i, ws) for i, ws in enumerate(sockets)))
    cpu_seconds = cpu.used()
    for ws in sockets:
        await ws.close()
    calls = {c["last_user_message"].split()[0]: c for c in fake_calls(target.fake_url)}
    matched = [m for m in arrivals if m in calls]
    overheads = [(arrivals[m] - calls[m]["first_token_at"]) * 1000 for m in matched]
    # Message sent -> the upstream request arrives at the fake model: the work before the stream.
    prestream = [(calls[m]["started_at"] - sent_at[m]) * 1000 for m in matched]
    return {
        "concurrent_streams": streams,
        "samples": len(overheads),
        "unmatched": len(arrivals) - len(matched),
        "prestream_p50_ms": round(percentile(prestream, 50), 2),
        "prestream_p99_ms": round(percentile(prestream, 99), 2),
        "overhead_p50_ms": round(percentile(overheads, 50), 2),
        "overhead_p99_ms": round(percentile(overheads, 99), 2),
        "overhead_mean_ms": round(statistics.fmean(overheads), 2),
        "server_cpu_ms_per_message": round(cpu_seconds * 1000 / len(overheads), 2),
    }


async def scenario_cancel(target: Target, concurrency: int, samples: int) -> dict[str, Any]:
    sockets = await open_many(target, concurrency)
    cancelled_at: dict[str, float] = {}

    async def one(ws: ClientConnection) -> None:
        marker = uuid.uuid4().hex
        await send(ws, f"{marker} [[tokens=5000]] [[delay=0.01]]")
        await until(ws, "token")
        await asyncio.sleep(0.05)
        cancelled_at[marker] = time.monotonic()
        await ws.send(json.dumps({"type": "cancel"}))
        frame = await until(ws, "done")
        assert frame["finish_reason"] == "cancelled", frame

    for _ in range(max(1, samples // concurrency)):
        await asyncio.gather(*(one(ws) for ws in sockets))
    for ws in sockets:
        await ws.close()
    await asyncio.sleep(1)
    calls = {c["last_user_message"].split()[0]: c for c in fake_calls(target.fake_url)}
    latencies = [
        (calls[m]["client_closed_at"] - t) * 1000
        for m, t in cancelled_at.items()
        if calls[m]["client_closed_at"] is not None
    ]
    return {
        "concurrency": concurrency,
        "samples": len(cancelled_at),
        "upstream_closed": len(latencies),
        "cancel_p50_ms": round(percentile(latencies, 50), 2),
        "cancel_p99_ms": round(percentile(latencies, 99), 2),
    }


def raise_limits(platform: LivePlatform, slug: str) -> None:
    """Limits far above what the benchmark sends: their cost is measured, not their refusals."""
    sql = (
        "UPDATE tenants_tenant SET messages_per_minute_override = 1000000, messages_per_hour_override = "
        "100000000, max_concurrent_streams_override = 100000, monthly_token_budget_override = 1000000000000, "
        "max_sockets_per_user_override = 1000000, max_sockets_override = 1000000 WHERE slug = %s"
    )
    if platform.database:
        platform.sql(sql, [slug])
    else:
        with sqlite3.connect(platform.sqlite_path) as conn:
            conn.execute(sql.replace("%s", "?"), [slug])


def tenant_with_members(
    platform: LivePlatform, members: int, *, tier: str, staff: str | None = None
) -> tuple[str, list[str]]:
    """A new tenant with its limits raised and ``members`` members: its slug and their tokens.
    ``staff``: a platform staff token to make them with (each sign-in hashes a password: a
    benchmark making many tenants signs in once)."""
    staff = staff or platform.token("admin", platform.passwords["admin"])
    slug = f"bench{uuid.uuid4().hex[:8]}"
    status, body = platform.http(
        "POST", "/api/v1/tenants/", {"slug": slug, "name": slug, "tier": tier}, staff
    )
    assert status == 201, body
    raise_limits(platform, slug)
    tokens = []
    for index in range(members):
        username, password = f"bench{index}-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
        status, body = platform.http(
            "POST",
            f"/api/v1/tenants/{slug}/members/",
            {"username": username, "password": password},
            staff,
        )
        assert status == 201, body
        tokens.append(platform.token(username, password, slug))
    return slug, tokens


def prepare(platform: LivePlatform, users: int, tenants: int = 1) -> list[str]:
    """``tenants`` tenants on the Unlimited tier sharing ``users`` members, each with an access
    token, interleaved (client i is a member of tenant i mod ``tenants``). One tenant's hot state
    is one Redis Cluster slot: several spread it over the masters."""
    staff = platform.token("admin", platform.passwords["admin"])
    per_tenant = [
        tenant_with_members(platform, max(1, users // tenants), tier="unlimited", staff=staff)[1]
        for _ in range(tenants)
    ]
    return [tokens[index] for index in range(len(per_tenant[0])) for tokens in per_tenant]


async def run(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    results: dict[str, Any] = {}
    wanted = ["idle", "throughput", "ttft", "cancel"] if args.scenario == "all" else [args.scenario]
    for name in wanted:
        print(f"-- {name}", file=sys.stderr, flush=True)
        if name == "idle":
            results[name] = await scenario_idle(target, args.connections, args.hold)
        elif name == "throughput":
            results[name] = await scenario_throughput(
                target, args.clients, args.seconds, args.tokens, args.token_delay
            )
        elif name == "ttft":
            results[name] = await scenario_ttft(target, args.streams, args.ttft_seconds)
        elif name == "cancel":
            results[name] = await scenario_cancel(target, args.cancel_concurrency, args.cancel_samples)
        print(json.dumps(results[name]), file=sys.stderr, flush=True)
    return results


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the rounds (a nested one's too, as ``per_message``)."""
    medians: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [run[key] for run in runs if key in run]  # a top list names what each round's was
        if isinstance(first, dict):
            medians[key] = median_of(values)
        elif isinstance(first, list):
            medians[key] = [statistics.median(column) for column in zip(*values, strict=True)]
        else:
            medians[key] = statistics.median(values)
    return medians


def _ratios(as_is: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _ratios(value, other[key]) if isinstance(value, dict) else round(value / other[key], 3)
        for key, value in as_is.items()
        if key in other and (isinstance(value, dict) or (isinstance(value, int | float) and other[key]))
    }


async def compare(args: argparse.Namespace, base: Target, changed: Target, change: str) -> dict[str, Any]:
    """Alternating rounds on the deployment as configured and on the instance with ``change``."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {"base": {}, "changed": {}}
    print("-- warm-up round (not counted)", file=sys.stderr, flush=True)
    for target in (base, changed):
        await run(args, target)
    sides = (("base", base), ("changed", changed))
    for round_ in range(args.rounds):
        for side, target in sides if round_ % 2 == 0 else sides[::-1]:
            print(f"-- round {round_ + 1}, {side}", file=sys.stderr, flush=True)
            for name, result in (await run(args, target)).items():
                runs[side].setdefault(name, []).append(result)
    report: dict[str, Any] = {"changed": change}
    for name in runs["base"]:
        as_is, other = median_of(runs["base"][name]), median_of(runs["changed"][name])
        report[name] = {
            "base": as_is,
            "changed": other,
            "base_over_changed": _ratios(as_is, other),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=["all", "idle", "throughput", "ttft", "cancel"], default="all")
    parser.add_argument("--connections", type=int, default=2000, help="idle connections")
    parser.add_argument("--hold", type=float, default=0.0, help="idle: seconds to hold them open")
    parser.add_argument("--ping-interval", type=float, default=30.0, help="the server's heartbeat, s")
    parser.add_argument("--clients", type=int, default=100, help="throughput clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="throughput duration")
    parser.add_argument("--tokens", type=int, default=5, help="throughput: tokens per answer")
    parser.add_argument("--token-delay", type=float, default=0.0, help="throughput: seconds between tokens")
    parser.add_argument("--streams", type=int, default=100, help="concurrent streams for ttft")
    parser.add_argument("--ttft-seconds", type=float, default=20.0, help="ttft duration")
    parser.add_argument("--cancel-concurrency", type=int, default=20)
    parser.add_argument("--cancel-samples", type=int, default=200)
    parser.add_argument("--users", type=int, default=20, help="members the clients log in as")
    parser.add_argument("--tenants", type=int, default=1, help="tenants the members are spread over")
    parser.add_argument("--embedded", action="store_true", help="no DATABASE_URL/REDIS_URL (SQLite)")
    parser.add_argument("--limits", choices=["on", "off"], default="on", help="rate limits and budgets")
    parser.add_argument(
        "--mirror", choices=["on", "off", "both"], default="on", help="copy frames to the generation store"
    )
    parser.add_argument(
        "--versus", metavar="KEY=VALUE", action="append", help="compare with a second instance so configured"
    )
    parser.add_argument("--rounds", type=int, default=3, help="--versus: alternating rounds")
    parser.add_argument(
        "--redis",
        choices=["shared", "single", "cluster"],
        default="shared",
        help="hot state on the shared Redis (with Celery's broker), on a Redis server of the bench's own, "
        "or on a Redis Cluster of three masters of its own (both: Celery's broker on the shared one)",
    )
    parser.add_argument("--processes", type=int, default=1, help="Daphne processes (DAPHNE_PROCESSES)")
    args = parser.parse_args()
    versus = ["CHAT_STREAM_MIRROR=false"] if args.mirror == "both" else args.versus

    env = {
        "LOG_LEVEL": "WARNING",
        "DB_POOL_MAX": os.environ.get("DB_POOL_MAX", "20"),
        "LIMITS_ENABLED": "true" if args.limits == "on" else "false",
        "CHAT_PING_INTERVAL_S": str(args.ping_interval),
        "CHAT_STREAM_MIRROR": "false" if args.mirror == "off" else "true",
        "SECRET_KEY": secrets.token_urlsafe(32),  # --versus: tokens valid on both instances
        "DAPHNE_PROCESSES": str(args.processes),
    }
    with contextlib.ExitStack() as stack:
        redis_urls = [LIVE_REDIS_URL]
        if args.redis != "shared":
            env["CELERY_BROKER_URL"] = LIVE_REDIS_URL  # the hot state's Redis carries it alone
            servers = stack.enter_context(own_redis(args.redis))
            if isinstance(servers, OwnRedisCluster):
                env.update(REDIS_URL="", REDIS_CLUSTER_NODES=servers.setting)
                redis_urls = [node.url for node in servers.nodes]
            else:
                env.update(REDIS_URL=servers.url)
                redis_urls = [servers.url]
        platform, fake_url = stack.enter_context(
            platform_and_fake_llm(prefix="ws-bench-", extra_env=env, embedded=args.embedded)
        )
        if versus is None:
            tokens = prepare(platform, args.users, args.tenants)
            target = Target(platform=platform, fake_url=fake_url, tokens=tokens, redis_urls=redis_urls)
            print(
                json.dumps(
                    {"redis": args.redis, "processes": args.processes, **asyncio.run(run(args, target))},
                    indent=2,
                )
            )
            return
        # A second instance of the same deployment (same database, same Redis), one setting changed.
        other = start_platform(
            "production",
            tmp_path=Path(tempfile.mkdtemp(prefix="ws-bench-versus-")),
            llm_url=fake_url,
            extra_env=env | dict(setting.split("=", 1) for setting in versus),
            database=platform.database,
        )
        try:
            tokens = prepare(other, args.users, args.tenants)  # the staff password of the latest start
            base = Target(platform=platform, fake_url=fake_url, tokens=tokens, redis_urls=redis_urls)
            changed = Target(platform=other, fake_url=fake_url, tokens=tokens, redis_urls=redis_urls)
            print(json.dumps(asyncio.run(compare(args, base, changed, " ".join(versus))), indent=2))
        finally:
            other.stop()


@contextlib.contextmanager
def own_redis(kind: str) -> Iterator[OwnRedis | OwnRedisCluster]:
    """A Redis server, or a Cluster of three masters, of the bench's own (free ports)."""
    servers = OwnRedisCluster() if kind == "cluster" else OwnRedis()
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


if __name__ == "__main__":
    main()
