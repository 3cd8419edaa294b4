"""A real Celery worker process for the tests: the test database, the suite's Redis broker, the
fake OpenAI server, and e-mails written to files."""

import os
import subprocess
import time
import urllib.request
from pathlib import Path

import redis

from testkit.live import ROOT, free_port


class CeleryWorker:
    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        llm_url: str,
        mail_dir: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.metrics_port = free_port()
        self.mail_dir = mail_dir
        self._env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": llm_url,
            "OPENAI_MAX_RETRIES": "0",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(mail_dir),
            "SITE_URL": "https://chat.example.com",
            "CHAT_SUMMARY_KEEP_RECENT": "2",
            "CELERY_METRICS_PORT": str(self.metrics_port),
            "LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        self._redis_url = redis_url
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, clear_queue: bool = True) -> "CeleryWorker":
        if clear_queue:  # tasks queued by earlier tests that had no worker name rows that are gone
            redis.Redis.from_url(self._redis_url).delete("celery")
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "celery"),
                *("-A", "chatplatform", "worker", "--pool", "threads", "--concurrency", "4"),
                *("--without-heartbeat", "--without-gossip", "--without-mingle"),
            ],
            cwd=ROOT,
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.scrape():
            time.sleep(0.3)
        return self

    def scrape(self) -> str:
        try:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            return ""

    def mail_about(self, text: str) -> str:
        """Every e-mail the worker sent (its file backend) that says ``text``, joined ("": none yet)."""
        return "".join(p.read_text() for p in self.mail_dir.glob("*.log") if text in p.read_text())

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Until no task waits in the queue or runs (acks_late: a running task is in ``unacked``),
        seen twice in a row, as a task moves from the queue to ``unacked`` in two steps."""
        broker = redis.Redis.from_url(self._redis_url)

        def idle() -> bool:
            return broker.llen("celery") == 0 and broker.hlen("unacked") == 0

        deadline = time.monotonic() + timeout
        seen_idle = 0
        while seen_idle < 2 and time.monotonic() < deadline:
            seen_idle = seen_idle + 1 if idle() else 0
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL: the worker ends mid-task, acknowledging nothing."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_for(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """Poll ``check`` until it returns something truthy; returns it (or the last falsy value)."""
    deadline = time.monotonic() + timeout
    result = check()
    while not result and time.monotonic() < deadline:
        time.sleep(0.2)
        result = check()
    return result
