"""How close the platform's hot path is to the framework's ceiling: the full path against a bare
Channels consumer streaming the same frames, in the same run.

    .venv/bin/python bench/ceiling.py                       # 100 clients, 3 interleaved rounds
    .venv/bin/python bench/ceiling.py --clients 50 --seconds 10 --rounds 5

The platform runs with the README's run command (PostgreSQL, Redis, a Celery worker and beat)
next to the fake OpenAI server (its own process); every message takes the full path:
authenticated socket, rate limits, stream slot and budget reservation, exact and semantic cache
lookups, the upstream call through the openai SDK, frames mirrored to the generation store,
the turn written to PostgreSQL, the settlement. Each message is a new question (no cache hits)
of 5 to 20 tokens, streamed with no delay: what is measured is the platform, not the model.

The reference (``bench/bare_consumer.py``) is Daphne on uvloop with one consumer that answers
each message with the frames the platform sent for one 12-token answer, recorded at the start.
A second reference, the SDK floor, is the same consumer streaming each answer's tokens from the
same fake model through the platform's provider (the openai SDK): what the plumbing every answer
must go through costs, before any of the platform's own work. A third, the durable floor, adds the
least a platform that keeps history and enforces limits must do per message, with stock parts
(``bench/bare_consumer.py --durable``: a Redis script before and after, one read and one
write transaction on PostgreSQL through Django off the loop); its PostgreSQL's and Redis's CPU
are counted as the platform's are.

Rounds rotate which side goes first, after a warm-up round on each. Reported (medians):
messages per second, Daphne's CPU per message, and for the platform the whole deployment's CPU
per message (Daphne, the Celery worker and beat, and the PostgreSQL and Redis servers, which
other work on this machine also uses: stop it for clean figures), each part's, and the ratios. The client
and the fake model run on the same machine: the figures are conservative for both sides.
"""

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import CpuMeter, platform_and_fake_llm, proc_stat  # noqa: E402
from bench.ws_bench import open_chat_url, prepare  # noqa: E402
from testkit.live import LIVE_REDIS_URL, LivePlatform, free_port  # noqa: E402


def deployment_groups(platform: LivePlatform) -> dict[str, list[int]]:
    """The rest of the deployment by part: the run command's other processes (Celery's worker
    and beat), PostgreSQL's and Redis's server processes."""
    groups: dict[str, list[int]] = {"celery": [], "postgres": [], "redis": []}
    daphne = set(platform.server_pids())
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or int(entry.name) in daphne:
                continue
            name = (entry / "comm").read_text().strip()
            if int(proc_stat(int(entry.name))[2]) == platform.process.pid:
                groups["celery"].append(int(entry.name))
            elif name in {"postgres", "redis-server"}:
                groups["postgres" if name == "postgres" else "redis"].append(int(entry.name))
        except (OSError, ValueError):
            continue
    return groups


async def answer_frames(ws: ClientConnection, content: str) -> list[dict[str, Any]]:
    await ws.send(json.dumps({"type": "message", "content": content, "client_id": str(uuid.uuid4())}))
    frames = []
    while True:
        frame = json.loads(await ws.recv())
        frames.append(frame)
        if frame["type"] == "error":
            raise RuntimeError(frame)
        if frame["type"] == "done":
            return frames


async def record_frames(platform: LivePlatform, token: str, path: Path) -> None:
    """What the bare consumer sends: the platform's ``ready`` and one 12-token answer's frames."""
    ws, ready = await open_chat_url(f"{platform.ws_url}/ws/chat/", token)
    frames = await answer_frames(ws, f"{uuid.uuid4().hex} [[tokens=12]] [[delay=0]]")
    await ws.close()
    path.write_text(json.dumps({"ready": ready, "answer": frames}))


async def throughput(
    url: str,
    tokens: list[str],
    clients: int,
    seconds: float,
    server: list[int],
    rest: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """``clients`` sockets sending their next message as soon as an answer ends. CPU per message
    of the ``server`` processes, and of each part of the ``rest`` of the deployment."""
    sockets = []
    for start in range(0, clients, 100):
        batch = range(start, min(clients, start + 100))
        sockets += [
            ws
            for ws, _ in await asyncio.gather(*(open_chat_url(url, tokens[i % len(tokens)]) for i in batch))
        ]
    deadline = time.perf_counter() + seconds

    async def client(ws: ClientConnection) -> int:
        done = 0
        while time.perf_counter() < deadline:
            count = random.randint(5, 20)
            await answer_frames(ws, f"Where is order {uuid.uuid4().hex[:8]}? [[tokens={count}]] [[delay=0]]")
            done += 1
        return done

    meters = {"server": CpuMeter(server), **{part: CpuMeter(pids) for part, pids in (rest or {}).items()}}
    started = time.perf_counter()
    messages = sum(await asyncio.gather(*(client(ws) for ws in sockets)))
    elapsed = time.perf_counter() - started
    cpu_ms = {part: meter.used() * 1000 / messages for part, meter in meters.items()}
    for ws in sockets:
        await ws.close()
    result: dict[str, Any] = {"messages": messages, "messages_per_s": round(messages / elapsed, 1)}
    result.update({f"{part}_cpu_ms_per_message": round(ms, 3) for part, ms in cpu_ms.items()})
    if rest:
        result["deployment_cpu_ms_per_message"] = round(sum(cpu_ms.values()), 3)
    return result


def start_bare(
    frames: Path, upstream: str | None = None, durable: list[str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    through = ["--upstream", upstream] if upstream else []
    through += ["--durable", *durable] if durable else []
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_consumer", str(frames), *through, "-b", "127.0.0.1",
         "-p", str(port), "__main__:application"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, f"ws://127.0.0.1:{port}/ws/chat/"
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the bare consumer did not start")


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


async def main_async(args: argparse.Namespace, platform: LivePlatform, fake_url: str) -> dict[str, Any]:
    tokens = prepare(platform, args.users)
    frames = Path(tempfile.mkdtemp(prefix="ceiling-")) / "frames.json"
    await record_frames(platform, tokens[0], frames)
    bare, bare_url = start_bare(frames)
    floor, floor_url = start_bare(frames, fake_url)
    assert platform.database_url is not None
    durable, durable_url = start_bare(frames, fake_url, [platform.database_url, LIVE_REDIS_URL])
    try:
        daphne = platform.server_pids()
        groups = deployment_groups(platform)
        stores = {part: groups[part] for part in ("postgres", "redis")}
        sides = {
            "platform": lambda: throughput(
                f"{platform.ws_url}/ws/chat/", tokens, args.clients, args.seconds, daphne, groups
            ),
            "bare": lambda: throughput(bare_url, ["-"], args.clients, args.seconds, [bare.pid]),
            "sdk_floor": lambda: throughput(floor_url, ["-"], args.clients, args.seconds, [floor.pid]),
            "durable_floor": lambda: throughput(
                durable_url, ["-"], args.clients, args.seconds, [durable.pid], stores
            ),
        }  # fmt: skip
        print("-- warm-up (not counted)", file=sys.stderr, flush=True)
        for run in sides.values():
            await run()
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        order = list(sides)
        for round_ in range(args.rounds):
            for side in order[round_ % len(order) :] + order[: round_ % len(order)]:
                result = await sides[side]()
                print(f"-- round {round_ + 1} {side}: {json.dumps(result)}", file=sys.stderr, flush=True)
                runs[side].append(result)
    finally:
        for process in (bare, floor, durable):
            process.terminate()
    full, reference, sdk, stored = (medians(runs[side]) for side in order)

    def ratios(to: dict[str, Any]) -> dict[str, float]:
        return {
            "messages_per_s_ratio": round(full["messages_per_s"] / to["messages_per_s"], 3),
            "daphne_cpu_per_message_ratio": round(
                full["server_cpu_ms_per_message"] / to["server_cpu_ms_per_message"], 2
            ),
        }

    return {
        "clients": args.clients,
        "rounds": args.rounds,
        "platform": full,
        "bare_consumer": reference,
        "sdk_floor": sdk,
        "durable_floor": stored,
        **ratios(reference),
        "to_sdk_floor": ratios(sdk),
        "to_durable_floor": {
            **ratios(stored),
            "deployment_cpu_per_message_ratio": round(
                full["deployment_cpu_ms_per_message"] / stored["deployment_cpu_ms_per_message"], 2
            ),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15.0, help="per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=20, help="members the clients log in as")
    parser.add_argument("--processes", type=int, default=1, help="Daphne processes (DAPHNE_PROCESSES)")
    args = parser.parse_args()
    env = {"LOG_LEVEL": "WARNING", "CHAT_PING_INTERVAL_S": "300", "DAPHNE_PROCESSES": str(args.processes)}
    with platform_and_fake_llm(prefix="ceiling-", extra_env=env) as (platform, fake_url):
        print(json.dumps(asyncio.run(main_async(args, platform, fake_url)), indent=2))


if __name__ == "__main__":
    main()
