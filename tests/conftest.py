"""Fixtures: the real Postgres and Redis, a fake OpenAI server, and two tenants.

The suite runs against real services only (``make test`` sets DATABASE_URL and REDIS_URL).
"""

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection

from billing.models import ModelPrice
from billing.pricing import forget_prices
from billing.seeds import seed_model_prices
from chat.history.background_queue import background_sent
from infra.embedder import embedder
from tenants.models import Membership, Role, Tenant, Tier
from tenants.seeds import seed_tiers
from tenants.selectors import forget_chat_configs
from testkit.fake_openai import FakeOpenAI
from testkit.local_http import serving
from testkit.redis_deployments import OwnRedis, OwnRedisCluster
from testkit.webhook import Webhook
from testkit.worker import CeleryWorker
from testkit.world import World, make_user, worker_database_url


@pytest.fixture(scope="session", autouse=True)
def _real_services() -> None:
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.exit("the suite needs PostgreSQL and Redis: run it with `make test`", returncode=2)
    # Test databases number tenants from 1 again: last run's limit counters must not carry over.
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture(scope="session", autouse=True)
def _close_db_pool(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Return the pooled connections (used by the consumers' DB threads) before the test
    database is dropped."""
    yield
    with django_db_blocker.unblock():
        connection.close_pool()


@pytest.fixture(autouse=True)
def _fresh_sign_ins() -> None:
    """Failed sign-ins and ended logins are counted per username and address (127.0.0.1 here):
    one test's must not lock the next one's users out."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in ("global:attempts:*", "global:login-ended:*"):
        keys = list(client.scan_iter(pattern))
        if keys:
            client.delete(*keys)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _quick_background_batches(settings: Any) -> None:
    """Titles and summaries are batched over half a second: a test's go sooner."""
    settings.BACKGROUND_BATCH_WINDOW_S = 0.02


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def embedding_model() -> None:
    """The local embedding model, loaded in this process. The platform loads it in the background
    at start-up; a test that needs it waits for it (as long as it takes on a busy machine)
    instead of racing it."""
    model = embedder()
    model.start_loading()
    deadline = time.monotonic() + 600
    while not model.ready:
        assert model.state != "failed" and time.monotonic() < deadline, model.state
        time.sleep(0.1)


@pytest.fixture(scope="module")
def celery_worker_process(
    django_db_setup: None, fake_openai_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    """A real worker process (not eager mode) on the test database and the Redis broker. Per
    module: elsewhere no worker runs the tasks the tests queue (titles would be upstream calls)."""
    worker = CeleryWorker(
        database_url=worker_database_url(),
        redis_url=settings.REDIS_URL,
        llm_url=fake_openai_server.url,
        mail_dir=tmp_path_factory.mktemp("mail"),
    ).start()
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker(celery_worker_process: CeleryWorker, transactional_db: None) -> Iterator[CeleryWorker]:
    """The module's worker, idle again before the test's tables are flushed: a title still being
    written would hold a row lock that the flush's TRUNCATE deadlocks on. The work due goes
    to the broker in batches: the last batch is sent first."""
    yield celery_worker_process
    assert background_sent(timeout=60), "background work still not sent after 60 s"
    celery_worker_process.wait_idle()


@pytest.fixture
def webhook() -> Iterator[str]:
    """The URL of a webhook receiver (``testkit.webhook.Webhook``), its record emptied."""
    Webhook.received, Webhook.status = [], 204
    with serving(Webhook) as url:
        yield f"{url}/hooks/tenant"


@pytest.fixture(scope="module")
def webhook_worker_process(
    django_db_setup: None, fake_openai_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    """A worker that may post to the test's webhook on this machine (tests only)."""
    worker = CeleryWorker(
        database_url=worker_database_url(),
        redis_url=settings.REDIS_URL,
        llm_url=fake_openai_server.url,
        mail_dir=tmp_path_factory.mktemp("webhook-mail"),
        extra_env={"TOOLS_ALLOW_HTTP": "1", "TOOLS_ALLOW_LOOPBACK": "1"},
    ).start()
    yield worker
    worker.stop()


@pytest.fixture
def webhook_worker(webhook_worker_process: CeleryWorker, transactional_db: None) -> Iterator[CeleryWorker]:
    yield webhook_worker_process
    webhook_worker_process.wait_idle()


@pytest.fixture
def fake_llm(fake_openai_server: FakeOpenAI, settings: Any) -> FakeOpenAI:
    """Point the platform at the fake server (the only stand-in in the suite: the network edge)."""
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = fake_openai_server.url
    settings.OPENAI_MAX_RETRIES = 0
    fake_openai_server.reset()
    return fake_openai_server


@pytest.fixture
def seeded(transactional_db: None) -> Iterator[None]:
    """Transactional tests flush the tables after each test, seed data included: re-seed. The
    titles and summaries a test's answers queued (run in a database thread here) end before
    the flush, which their writes would otherwise deadlock."""
    seed_tiers(Tier)
    seed_model_prices(ModelPrice)
    forget_prices()
    forget_chat_configs()
    yield
    assert background_sent(timeout=60), "background work still running after 60 s"


@pytest.fixture
def world(seeded: None) -> World:
    acme = Tenant.objects.create(
        slug="acme",
        name="Acme",
        tier=Tier.objects.get(slug="professional"),
        system_prompt="You are Acme's assistant.",
        custom_greeting="Welcome to Acme support!",
    )
    globex = Tenant.objects.create(
        slug="globex",
        name="Globex",
        tier=Tier.objects.get(slug="free"),
        system_prompt="You are Globex's assistant.",
    )
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    staff = make_user("root", is_staff=True)
    Membership.objects.create(tenant=acme, user=alice, role=Role.OWNER)
    Membership.objects.create(tenant=acme, user=bob, role=Role.MEMBER)
    Membership.objects.create(tenant=globex, user=carol, role=Role.MEMBER)
    return World(acme=acme, globex=globex, alice=alice, bob=bob, carol=carol, staff=staff)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[OwnRedisCluster]:
    """A Redis Cluster of three masters of this test process's own: the contract suites run on it
    as on one Redis, so a script or transaction over two slots fails them, and a command on
    another master's slot must be routed there."""
    server = OwnRedisCluster()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(settings) -> Iterator[OwnRedis]:  # type: ignore[no-untyped-def]
    server = OwnRedis()
    server.start()
    settings.REDIS_URL = f"redis://127.0.0.1:{server.port}/0"
    yield server
    server.stop()
