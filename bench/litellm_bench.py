"""Server CPU per streamed answer: the platform against LiteLLM's proxy, on the same fake
OpenAI-compatible upstream, in the same run.

    python3 -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install 'litellm[proxy]==1.106.12'
    .venv/bin/python bench/litellm_bench.py --litellm /tmp/litellm-venv/bin/litellm

LiteLLM is not a dependency of the project: it runs from its own virtualenv, with
``LITELLM_LOCAL_MODEL_COST_MAP=True`` (no download at start) and one model routed to the fake
upstream. Both sides get the same load: ``--streams`` clients, each asking for its next answer
as soon as one ends, every answer 40 tokens at 20 ms a token. Measured on each side: the CPU of
the serving processes (Daphne; LiteLLM's process group) per answer, and the work between the
request and the upstream call. The platform does what LiteLLM does not (authenticated sockets,
per-tenant limits and budgets, caches, answers stored and billed in PostgreSQL, frames kept for
resuming); its PostgreSQL, Redis and Celery are not counted, nor is any process of LiteLLM's
beyond its own group. Rounds alternate which side goes first, after a warm-up on each.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
from openai import AsyncOpenAI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import CpuMeter, fake_calls, platform_and_fake_llm, proc_stat  # noqa: E402
from bench.stats import percentile  # noqa: E402
from bench.ws_bench import Target, prepare, scenario_ttft  # noqa: E402
from testkit.live import free_port  # noqa: E402

PROMPT = "[[tokens=40]] [[delay=0.02]]"
MASTER_KEY = f"sk-{uuid.uuid4().hex}"


def start_litellm(executable: str, fake_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = Path(tempfile.mkdtemp(prefix="litellm-bench-")) / "config.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: gpt-4o-mini\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4o-mini\n"
        f"      api_base: {fake_url}\n"
        "      api_key: sk-fake\n"
    )
    env = {
        # Not the platform's DATABASE_URL / REDIS_URL: LiteLLM would take them for its own (its
        # proxy then needs the prisma CLI and refuses to start without it).
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_MASTER_KEY": MASTER_KEY,  # its proxy refuses to start unauthenticated
    }
    process = subprocess.Popen(
        [executable, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{url}/health/liveliness", timeout=2).status_code == 200:
                return process, url
        except httpx2.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("LiteLLM's proxy did not start")


def group_pids(leader: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(proc_stat(int(entry.name))[3]) == leader:  # the session id
                    pids.append(int(entry.name))
            except (OSError, ValueError):
                continue
    return pids


async def litellm_round(
    url: str, fake_url: str, litellm: int, streams: int, seconds: float
) -> dict[str, Any]:
    client = AsyncOpenAI(api_key=MASTER_KEY, base_url=f"{url}/v1", max_retries=0)
    sent_at: dict[str, float] = {}
    deadline = time.perf_counter() + seconds

    async def stream(index: int) -> int:
        await asyncio.sleep(index / streams)
        done = 0
        while time.perf_counter() < deadline:
            marker = uuid.uuid4().hex
            sent_at[marker] = time.monotonic()
            response = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"{marker} {PROMPT}"}], stream=True
            )
            async for _ in response:
                pass
            done += 1
        return done

    meter = CpuMeter(group_pids(litellm))
    answers = sum(await asyncio.gather(*(stream(i) for i in range(streams))))
    cpu = meter.used()
    await client.close()
    calls = {c["last_user_message"].split()[0]: c for c in fake_calls(fake_url)}
    prestream = [(calls[m]["started_at"] - t) * 1000 for m, t in sent_at.items() if m in calls]
    return {
        "answers": answers,
        "server_cpu_ms_per_answer": round(cpu * 1000 / answers, 2),
        "prestream_p50_ms": round(percentile(prestream, 50), 2),
    }


async def platform_round(target: Target, streams: int, seconds: float) -> dict[str, Any]:
    result = await scenario_ttft(target, streams, seconds)
    return {
        "answers": result["samples"],
        "server_cpu_ms_per_answer": result["server_cpu_ms_per_message"],
        "prestream_p50_ms": result["prestream_p50_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--litellm", required=True, help="LiteLLM's executable, in its own virtualenv")
    parser.add_argument("--streams", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=15.0, help="per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = {"LOG_LEVEL": "WARNING", "CHAT_PING_INTERVAL_S": "300"}
    with platform_and_fake_llm(prefix="litellm-bench-", extra_env=env) as (platform, fake_url):
        litellm, litellm_url = start_litellm(args.litellm, fake_url)
        try:
            target = Target(platform=platform, fake_url=fake_url, tokens=prepare(platform, 20))
            sides = {
                "platform": lambda: platform_round(target, args.streams, args.seconds),
                "litellm": lambda: litellm_round(
                    litellm_url, fake_url, litellm.pid, args.streams, args.seconds
                ),
            }

            async def rounds() -> dict[str, list[dict[str, Any]]]:
                for run in sides.values():  # warm-up
                    await run()
                runs: dict[str, list[dict[str, Any]]] = {"platform": [], "litellm": []}
                for index in range(args.rounds):
                    for side in ("platform", "litellm") if index % 2 == 0 else ("litellm", "platform"):
                        runs[side].append(await sides[side]())
                        print(f"-- round {index + 1} {side}: {json.dumps(runs[side][-1])}", file=sys.stderr)
                return runs

            runs = asyncio.run(rounds())
        finally:
            os.killpg(litellm.pid, 15)
    medians = {side: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for side, rs in runs.items()}
    print(
        json.dumps(
            {
                "streams": args.streams,
                **medians,
                "cpu_per_answer_ratio": round(
                    medians["platform"]["server_cpu_ms_per_answer"]
                    / medians["litellm"]["server_cpu_ms_per_answer"],
                    3,
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
