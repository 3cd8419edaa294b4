"""What the suite and the benchmarks share besides fixtures: two tenants (``World``), users, REST
clients, tenant reconfiguration, a Redis server of a test's own, sessions and metric readings."""

import re
import secrets
import shutil
import string
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

import redis
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db.models import F
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from chat.history.background import SUMMARIZER_PROMPT, TITLER_PROMPT
from tenants.models import Tenant
from tenants.selectors import SESSION_TENANT_KEY, forget_chat_configs
from testkit.fake_openai import FakeCall, FakeOpenAI
from testkit.live import free_port
from testkit.worker import wait_for

PASSWORD = "correct-horse-battery-1"


def worker_database_url() -> str:
    """The test database, for the worker processes the tests start."""
    database = settings.DATABASES["default"]
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


@dataclass
class World:
    """Two tenants, so every isolation check is one more assertion."""

    acme: Tenant
    globex: Tenant
    alice: Any  # acme owner
    bob: Any  # acme member
    carol: Any  # globex member
    staff: Any  # platform staff, no membership

    def token(self, user: Any, tenant: Tenant | None) -> str:
        access = AccessToken.for_user(user)  # no refresh token: nothing written (async tests)
        if tenant is not None:
            access["tenant"] = tenant.slug
        return str(access)


def client_for(token: str | None = None) -> APIClient:
    """A REST client, with the bearer token when there is one."""
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


async def reconfigure(*tenants: Tenant, **fields: object) -> None:
    """Change tenants' configuration as a save would: the config version moves (unless given),
    and this process's cached configs are dropped."""
    fields.setdefault("config_version", F("config_version") + 1)
    await Tenant.objects.filter(pk__in=[t.pk for t in tenants]).aupdate(**fields)
    forget_chat_configs()


def word_marker() -> str:
    """A unique word of letters only, to find a message by: a hex marker may be all digits,
    which the PII filter redacts as a phone number."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))


def chat_calls_with(fake: FakeOpenAI, marker: str) -> list[FakeCall]:
    """The chat calls that asked a message with ``marker`` (the last message sent; earlier
    ones are context), not the platform's own titles and summaries, which quote the messages."""
    return [
        c
        for c in fake.calls
        if c.messages[0]["content"] not in (SUMMARIZER_PROMPT, TITLER_PROMPT)
        and marker in c.messages[-1]["content"]
    ]


def make_user(username: str, **extra: Any) -> Any:
    return get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD, **extra
    )


class OwnRedis:
    """A Redis server of a test's own, so that stopping it disturbs nothing else.

    ``cluster``: a Redis Cluster of one master holding all 16,384 slots. It answers as any
    cluster does (a script or transaction over keys of two slots is refused, ``CROSSSLOT``; no
    ``SELECT``) and, being alone, never redirects: what runs on it runs on a cluster of many."""

    def __init__(self, *, cluster: bool = False, slots: bool = True, args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.cluster = cluster
        self.slots = slots  # a cluster node: take every slot (alone) or none (``OwnRedisCluster``)
        self.args = args
        self.bus = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        for _ in range(3):  # a free port may be taken before the server binds it: try others
            if self._started():
                break
            self.port = free_port()
        else:
            raise RuntimeError(f"redis-server did not start (last port {self.port})")
        client = redis.Redis(port=self.port)
        if self.cluster and self.slots:
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            if not wait_for(
                lambda: b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO"), timeout=30
            ):
                raise RuntimeError("the cluster did not become ready")

    def _started(self) -> bool:
        command = [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--save", ""]
        command += ["--appendonly", "no"]
        if self.cluster:
            self._dir = self._dir or tempfile.TemporaryDirectory(prefix="redis-cluster-")
            # The cluster bus's port: by default the port + 10,000, past 65,535 for many ports.
            self.bus = free_port()
            while self.bus == self.port:
                self.bus = free_port()
            command += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{self.port}.conf"]
            command += ["--cluster-port", str(self.bus), "--dir", self._dir.name]
        command += self.args
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        process = self.process
        wait_for(lambda: _answers(client) or process.poll() is not None, timeout=30)
        if _answers(client):
            return True
        process.terminate()
        process.wait()
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
        if self._dir is not None:
            self._dir.cleanup()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:  # not listening yet, or still loading
        return False


@database_sync_to_async
def session_cookie(user: object, tenant_slug: str | None) -> bytes:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)  # type: ignore[attr-defined]
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()  # type: ignore[attr-defined]
    if tenant_slug:
        session[SESSION_TENANT_KEY] = tenant_slug
    session.save()
    return f"sessionid={session.session_key}".encode()


def metric_value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0
