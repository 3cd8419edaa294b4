"""Resume across instances: a client streaming from one Daphne instance drops its socket,
reconnects to the other instance of the same deployment and resumes.

    .venv/bin/python bench/resume_bench.py               # 200 resumes
    .venv/bin/python bench/resume_bench.py --resumes 50

Each client sees two token frames, drops its socket for 200 ms (frames are missed meanwhile),
then reconnects. For each resume it reports, p50/p99:
  reconnect_to_ready   connect to the other instance until its `ready` (with `resumable`)
  resume_to_frame      `resume` sent until the first missed token frame arrives
  reconnect_to_frame   the two together: what a user waits after the network comes back
and checks that every answer ends with every token frame exactly once (by `seq`).
The reference in the same run: `fresh_message_to_first_frame`, a new message's first token frame
on that same instance (the platform's normal time to first token with the same fake model).
"""

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import platform_and_fake_llm  # noqa: E402
from bench.stats import percentile  # noqa: E402
from bench.ws_bench import prepare  # noqa: E402
from testkit.live import LivePlatform, start_platform  # noqa: E402


async def open_chat(
    platform: LivePlatform, token: str, path: str = "/ws/chat/"
) -> tuple[ClientConnection, Any]:
    ws = await connect(f"{platform.ws_url}{path}", subprotocols=["chat.v1", f"bearer.{token}"])  # type: ignore[list-item]
    return ws, json.loads(await ws.recv())


async def next_token(ws: ClientConnection) -> dict[str, Any]:
    """The next token frame (every message is new: never a cache hit, always tokens)."""
    while (frame := json.loads(await ws.recv()))["type"] != "token":
        if frame["type"] == "error":
            raise RuntimeError(frame)
    return frame


async def rest_until_done(ws: ClientConnection) -> list[int]:
    seqs = []
    while (frame := json.loads(await ws.recv()))["type"] != "done":
        if frame["type"] == "token":
            seqs.append(frame["seq"])
    return seqs


async def one_resume(first: LivePlatform, second: LivePlatform, token: str) -> dict[str, float]:
    ws, ready = await open_chat(first, token)
    await ws.send(
        json.dumps(
            {
                "type": "message",
                "content": f"{uuid.uuid4()} [[tokens=60]] [[delay=0.01]]",
                "client_id": str(uuid.uuid4()),
            }
        )
    )
    seen = [await next_token(ws), await next_token(ws)]
    await ws.close()
    await asyncio.sleep(0.2)  # the network is down for a moment: frames are missed meanwhile
    after = seen[-1]["seq"]
    reconnect = time.perf_counter()
    again, ready = await open_chat(second, token, f"/ws/chat/{ready['conversation_id']}/")
    at_ready = time.perf_counter()
    await again.send(json.dumps({"type": "resume", "message_id": seen[-1]["message_id"], "after": after}))
    first_missed = await next_token(again)
    at_frame = time.perf_counter()
    assert first_missed["seq"] == after + 1, (first_missed, after)
    rest = [first_missed["seq"], *await rest_until_done(again)]
    seqs = [f["seq"] for f in seen] + rest
    assert seqs == list(range(1, len(seqs) + 1)), "a frame is missing or repeated"
    # The reference: a fresh message on that same instance, sent to first frame.
    sent = time.perf_counter()
    await again.send(
        json.dumps(
            {
                "type": "message",
                "content": f"{uuid.uuid4()} [[tokens=2]] [[delay=0]]",
                "client_id": str(uuid.uuid4()),
            }
        )
    )
    await next_token(again)
    fresh = time.perf_counter() - sent
    await rest_until_done(again)
    await again.close()
    return {
        "reconnect_to_ready": at_ready - reconnect,
        "resume_to_frame": at_frame - at_ready,
        "reconnect_to_frame": at_frame - reconnect,
        "fresh_message_to_first_frame": fresh,
    }


def summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    report: dict[str, Any] = {"resumes": len(samples)}
    for key in samples[0]:
        values = [s[key] * 1000 for s in samples]
        report[f"{key}_p50_ms"] = round(percentile(values, 50), 2)
        report[f"{key}_p99_ms"] = round(percentile(values, 99), 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resumes", type=int, default=200)
    parser.add_argument("--users", type=int, default=10, help="members the clients log in as")
    args = parser.parse_args()
    env = {"LOG_LEVEL": "WARNING", "SECRET_KEY": secrets.token_urlsafe(32)}  # one deployment
    with platform_and_fake_llm(prefix="resume-bench-a-", extra_env=env) as (first, fake_url):
        second = start_platform(
            "production",
            tmp_path=Path(tempfile.mkdtemp(prefix="resume-bench-b-")),
            llm_url=fake_url,
            extra_env=env,
            database=first.database,
        )
        try:
            tokens = prepare(second, args.users)  # the staff password of the latest start

            async def all_resumes() -> list[dict[str, float]]:
                return [await one_resume(first, second, tokens[i % len(tokens)]) for i in range(args.resumes)]

            print(json.dumps(summary(asyncio.run(all_resumes())), indent=2))
        finally:
            second.stop()


if __name__ == "__main__":
    main()
