"""The platform started as a user starts it (``scripts/run.sh``, the README's run command),
in another process, and a tiny HTTP client to drive it like any other client would."""

import atexit
import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = "postgresql://root@127.0.0.1:5432/postgres"
# The platforms started here number their tenants from 1: a Redis database of their own (a
# benchmark run as background load beside the suite sets another one).
LIVE_REDIS_URL = os.environ.get("LIVE_REDIS_URL", "redis://127.0.0.1:6379/2")
_LOGIN = re.compile(r"login: (\w+) / (\S+)")


# The live platforms' /metrics bearer token (production settings close /metrics without one).
METRICS_TOKEN = "live-scrape"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LivePlatform:
    mode: str
    port: int
    process: subprocess.Popen[str]
    passwords: dict[str, str]
    output: list[str] = field(default_factory=list)
    database: str | None = None
    database_url: str | None = None
    owned_database: str | None = None  # created for this platform, dropped when it stops
    sqlite_path: str | None = None  # the embedded default's database

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def http(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(  # noqa: S310 (always our local http:// server)
            self.base_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (localhost)
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def status(self, method: str, path: str) -> int:
        """The status of a request whatever its body (HTML, a file)."""
        request = urllib.request.Request(self.base_url + path, method=method)  # noqa: S310 (local)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (localhost)
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    def token(self, username: str, password: str, tenant: str | None = None) -> str:
        status, body = self.http(
            "POST",
            "/api/v1/auth/token/",
            {"username": username, "password": password, "tenant": tenant}
            if tenant
            else {"username": username, "password": password},
        )
        assert status == 200, body
        return body["access"]

    def new_tenant_with_member(
        self, *, tier: str = "professional", role: str = "member"
    ) -> tuple[str, str, str]:
        """A fresh tenant and member through the staff REST API; returns (tenant, username, password)."""
        staff = self.token("admin", self.passwords["admin"])
        slug = f"t{uuid.uuid4().hex[:10]}"
        status, body = self.http(
            "POST", "/api/v1/tenants/", {"slug": slug, "name": slug.upper(), "tier": tier}, staff
        )
        assert status == 201, body
        return (slug, *self.add_member(slug, role=role))

    def add_member(self, slug: str, *, role: str = "member") -> tuple[str, str]:
        """A new account in the tenant, through the staff REST API; returns (username, password)."""
        staff = self.token("admin", self.passwords["admin"])
        username, password = f"u{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(12)
        status, body = self.http(
            "POST",
            f"/api/v1/tenants/{slug}/members/",
            {"username": username, "password": password, "role": role},
            staff,
        )
        assert status == 201, body
        return username, password

    def sql(self, query: str, params: list[Any] | tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """Run one statement on the platform's PostgreSQL database; its first row, if any."""
        assert self.database_url is not None
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(query, params)  # type: ignore[arg-type]
            return cursor.fetchone() if cursor.description else None

    def server_pid(self) -> int:
        """The Daphne process among the run command's children (the first, with several)."""
        pids = self.server_pids()
        if not pids:
            raise RuntimeError("daphne process not found")
        return pids[0]

    def server_pids(self) -> list[int]:
        """The Daphne processes serving the port (``DAPHNE_PROCESSES``)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"chatplatform.server" in cmdline and str(self.port).encode() in cmdline:
                pids.append(int(entry.name))
        return sorted(pids)

    def stop(self, *, keep_database: bool = False) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self.owned_database and not keep_database:
            _drop_database(self.owned_database)


@functools.cache
def migrated_template() -> str:
    """A database migrated once per test process, which each live platform's own database is
    copied from (``CREATE DATABASE … TEMPLATE``), so its start-up's ``migrate`` finds nothing to
    do (measured: 6.7 s for every migration, 2.9 s for the check). A fresh database migrated from
    nothing is tried by tests/chatplatform/test_migrations.py and the embedded platform."""
    name = f"chatplatform_live_template_{os.getpid()}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "CELERY_"))}
    env["DATABASE_URL"] = f"postgres://root@127.0.0.1:5432/{name}"
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    atexit.register(_drop_database, name)
    return name


def _drop_database(name: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_platform(
    mode: str,
    *,
    tmp_path: Path,
    llm_url: str | None,
    extra_env: dict[str, str] | None = None,
    database: str | None = None,
    database_url: str | None = None,
) -> LivePlatform:
    """``mode`` is ``production`` (PostgreSQL + Redis + Celery) or ``embedded`` (no settings).
    ``database``: run on that existing PostgreSQL database (another platform's) instead of a new
    one; ``database_url``: on that one (a test's own PostgreSQL cluster, ``OwnPostgres``)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "CELERY_", "OPENAI_"))
    }
    port = free_port()
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        VENV=str(ROOT / ".venv"),
        SECRET_KEY=secrets.token_urlsafe(32),
        CELERY_BEAT_SCHEDULE_FILE=str(tmp_path / "beat-schedule"),
        DEMO_MODEL_CHUNK_DELAY="0.002",
        METRICS_TOKEN=METRICS_TOKEN,
    )
    owned_database = None
    if mode == "production":
        if database_url is not None:
            redis.Redis.from_url(LIVE_REDIS_URL).flushdb()
        elif database is None:
            database = owned_database = f"chatplatform_live_{uuid.uuid4().hex[:8]}"
            template = migrated_template()
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
            redis.Redis.from_url(LIVE_REDIS_URL).flushdb()
        database_url = database_url or f"postgres://root@127.0.0.1:5432/{database}"
        env.update(DATABASE_URL=database_url, REDIS_URL=LIVE_REDIS_URL)
    else:
        # The embedded default itself (what `make run` does with no settings), under test here.
        env.update(SQLITE_PATH=str(tmp_path / "embedded.sqlite3"))
    if llm_url:
        env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=llm_url, OPENAI_MAX_RETRIES="0")
    env.update(extra_env or {})
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "run.sh")],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    platform = LivePlatform(
        mode=mode,
        port=port,
        process=process,
        passwords={},
        database=database,
        database_url=database_url,
        owned_database=owned_database,
        sqlite_path=env.get("SQLITE_PATH"),
    )
    threading.Thread(target=_collect, args=(platform,), daemon=True).start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            platform.stop()
            raise RuntimeError("the platform exited:\n" + "\n".join(platform.output[-40:]))
        if "admin" in platform.passwords and _serving(port):
            return platform
        time.sleep(0.2)
    platform.stop()
    raise RuntimeError("the platform did not start:\n" + "\n".join(platform.output[-40:]))


def _collect(platform: LivePlatform) -> None:
    assert platform.process.stdout is not None
    for line in platform.process.stdout:
        platform.output.append(line.rstrip())
        for username, password in _LOGIN.findall(line):
            platform.passwords[username] = password


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class OwnPostgres:
    """A PostgreSQL cluster of a test's own (``initdb`` in a temporary folder), so that stopping
    and restarting it disturbs nothing else. PostgreSQL refuses to run as root: when the tests
    do, its commands run as the ``postgres`` system user."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="chatplatform-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgres://root@127.0.0.1:{self.port}/chatplatform"
        self.logs_statements = False
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")

    def _run(self, program: str, *args: str) -> None:
        binary = next(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"), None)
        command = [str(binary or program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "root", "--no-sync")
        self.start()
        with psycopg.connect(self.url.replace("/chatplatform", "/postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE chatplatform")

    def replica(self) -> "OwnPostgres":
        """A streaming replica of this cluster (``pg_basebackup -R``), started, logging every
        statement it runs (``statements``)."""
        replica = OwnPostgres()
        replica.logs_statements = True
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "root",
            "-D", str(replica.data), "-R", "-X", "stream", "--no-sync",
            "--checkpoint", "fast",  # not a spread checkpoint: it made the copy wait up to 1.5 min
        )  # fmt: skip
        replica.start()
        return replica

    def statements(self) -> list[str]:
        """What the server's log holds so far, one entry per statement (``logs_statements``)."""
        text = (self.folder / "log").read_text(errors="replace")
        # "statement: ..." (the simple protocol), "execute <name>: ..." (a server-side cursor's).
        found = re.findall(r"LOG:  (?:statement|execute [^:]*): (.*)", text)
        return list(found)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        if self.logs_statements:
            options += " -c log_statement=all"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        """A fast shutdown: every connection is cut, as in a restart or a failover."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class OwnPgBouncer:
    """Debian's PgBouncer of a test's own, in transaction mode, in front of ``postgres``: a
    server connection is the client's for one transaction only (what breaks prepared statements
    and server-side cursors). Run as the ``postgres`` system user when the tests run as root
    (PgBouncer refuses root)."""

    def __init__(self, postgres: OwnPostgres) -> None:
        self.folder = postgres.folder / "pgbouncer"
        self.folder.mkdir()
        self.port = free_port()
        self.url = f"postgres://root@127.0.0.1:{self.port}/chatplatform"
        (self.folder / "users.txt").write_text('"root" ""\n')
        (self.folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"chatplatform = host=127.0.0.1 port={postgres.port} dbname=chatplatform\n"
            f"postgres = host=127.0.0.1 port={postgres.port} dbname=postgres\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.folder}/users.txt\nadmin_users = root\n"
            "pool_mode = transaction\nmax_client_conn = 1000\ndefault_pool_size = 40\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.folder}/pgbouncer.log\n"
        )
        if os.geteuid() == 0:
            for path in (self.folder, *self.folder.iterdir()):
                shutil.chown(path, "postgres", "postgres")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        command = [binary, str(self.folder / "pgbouncer.ini")]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.1)
        raise RuntimeError("pgbouncer did not start: " + (self.folder / "pgbouncer.log").read_text())

    def show(self, what: str) -> list[dict[str, Any]]:
        """A ``SHOW`` of PgBouncer's admin console (``STATS``, ``POOLS``), as rows."""
        with psycopg.connect(self.url.replace("/chatplatform", "/pgbouncer"), autocommit=True) as conn:
            cursor = conn.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
