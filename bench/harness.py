"""What the benchmarks share: the platform started with the README's run command (PostgreSQL +
Redis) next to the fake OpenAI server in a process of its own, so that the client, the server
and the fake model do not share a GIL."""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit.live import LivePlatform, free_port, start_platform  # noqa: E402

# How often the benchmark's database is analyzed (``autoanalyze``).
ANALYZE_EVERY_S = 5.0


@contextmanager
def platform_and_fake_llm(
    *, prefix: str, extra_env: dict[str, str], fake_args: tuple[str, ...] = (), embedded: bool = False
) -> Iterator[tuple[LivePlatform, str]]:
    """Yields the running platform and the fake server's base URL; stops both on the way out."""
    fake_port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "testkit.fake_openai", "--port", str(fake_port), *fake_args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    fake_url = f"http://127.0.0.1:{fake_port}/v1"
    platform = None
    try:
        time.sleep(1)
        platform = start_platform(
            "embedded" if embedded else "production",
            tmp_path=Path(tempfile.mkdtemp(prefix=prefix)),
            llm_url=fake_url,
            extra_env=extra_env,
        )
        with autoanalyze(platform):
            yield platform, fake_url
    finally:
        if platform is not None:
            platform.stop()
        fake.terminate()


@contextmanager
def autoanalyze(platform: LivePlatform) -> Iterator[None]:
    """Keep the planner's statistics of the platform's PostgreSQL database current, as autovacuum
    does in service. This machine's PostgreSQL runs with autovacuum off, and a benchmark's
    database starts empty: with no statistics, a lookup by tenant and id walked the tenant's index
    instead of the primary key, a cost that grew with every message (PostgreSQL's and Celery's CPU
    per message rose by a third from one round to the next)."""
    if platform.database_url is None:  # the embedded default (SQLite)
        yield
        return
    stop = threading.Event()

    def analyze() -> None:
        while not stop.wait(ANALYZE_EVERY_S):
            platform.sql("ANALYZE")

    thread = threading.Thread(target=analyze, name="autoanalyze", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


_TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


class CpuMeter:
    """CPU seconds (user + system) a set of processes used since this meter was made; a
    process's children that ended count too (the kernel adds them to their parent)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.start = self._read()

    def _read(self) -> float:
        total = 0
        for pid in self.pids:
            try:
                fields = proc_stat(pid)
            except OSError:
                continue  # ended: its time is lost (its parent's children count holds it)
            total += sum(int(f) for f in fields[11:15])
        return total / _TICK

    def used(self) -> float:
        return self._read() - self.start


def fake_calls(fake_url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{fake_url}/_calls", timeout=30) as response:  # noqa: S310 (local)
        return json.load(response)["calls"]
