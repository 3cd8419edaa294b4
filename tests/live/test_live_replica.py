"""A PostgreSQL streaming replica (``pg_basebackup`` of a primary of the test's own) under a
running platform (``DATABASE_REPLICA_URLS``): the reports, the exports and the tenant's lists
read from it (its statement log shows them), the turn never does, ``/readyz`` shows its lag,
and when it goes away the primary serves those reads."""

import time
from collections.abc import Iterator

import pytest

from testkit.fake_openai import FakeOpenAI
from testkit.live import LivePlatform, OwnPostgres, start_platform
from testkit.live_ws import frames_until, open_chat, send

pytestmark = pytest.mark.live

# What the console and the reports call (an owner's token), and the table each reads.
REPORTS = {
    "/api/v1/analytics/": "chat_dailytenantstats",
    "/api/v1/analytics/routing/": "chat_message",
    "/api/v1/usage/": "billing_usagerecord",
    "/api/v1/conversations/": "chat_conversation",
    "/api/v1/audit/": "audit_auditentry",
}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[OwnPostgres, OwnPostgres]]:
    primary = OwnPostgres()
    primary.create()
    replica = primary.replica()
    yield primary, replica
    replica.destroy()
    primary.destroy()


@pytest.fixture(scope="module")
def platform(
    servers: tuple[OwnPostgres, OwnPostgres],
    fake_openai_server: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LivePlatform]:
    primary, replica = servers
    live = start_platform(
        "production",
        tmp_path=tmp_path_factory.mktemp("replica"),
        llm_url=fake_openai_server.url,
        database_url=primary.url,
        extra_env={"DATABASE_REPLICA_URLS": replica.url, "REPLICA_CHECK_S": "0.5"},
    )
    yield live
    live.stop()


def read_on(replica: OwnPostgres, since: int) -> str:
    return "\n".join(replica.statements()[since:])


async def test_reports_read_from_the_replica_and_the_turn_never_does(
    platform: LivePlatform, servers: tuple[OwnPostgres, OwnPostgres]
) -> None:
    _, replica = servers
    slug, owner, password = platform.new_tenant_with_member(role="owner")
    token = platform.token(owner, password, slug)
    # The owner's settings change, so the audit log has a row to read.
    greeting = {"custom_greeting": "Hi"}
    assert platform.http("PATCH", f"/api/v1/tenants/{slug}/config/", greeting, token=token)[0] == 200

    # The turn: not one statement on the replica but the router's own lag check.
    before = len(replica.statements())
    ws, ready = await open_chat(platform, token)
    await send(ws, "hello [[tokens=3]]")
    assert (await frames_until(ws, "done", "error"))[-1]["type"] == "done"
    await ws.close()
    during_turn = [s for s in replica.statements()[before:] if "pg_is_in_recovery" not in s]
    assert during_turn == []

    # The chat page's own list reads its writes: the primary's.
    before = len(replica.statements())
    status, mine = platform.http("GET", "/api/v1/conversations/?mine=true", token=token)
    assert status == 200 and [c["id"] for c in mine["results"]] == [ready["conversation_id"]]
    assert "chat_conversation" not in read_on(replica, before)

    # Once the replica has replayed the turn, the reports come from it.
    deadline = time.monotonic() + 60
    while platform.http("GET", "/readyz")[1]["replicas"][0]["lag_s"] != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    for path, table in REPORTS.items():
        before = len(replica.statements())
        status, body = platform.http("GET", path, token=token)
        assert status == 200, (path, body)
        assert table in read_on(replica, before), path
    before = len(replica.statements())
    status, _ = platform.http("GET", "/api/v1/conversations/export/?format=json", token=token)
    assert status == 200 and "chat_message" in read_on(replica, before)
    (shown,) = platform.http("GET", "/readyz")[1]["replicas"]
    assert (shown["alias"], shown["usable"], shown["lag_s"]) == ("replica1", True, 0)


async def test_when_the_replica_goes_away_the_primary_serves_its_reads(
    platform: LivePlatform, servers: tuple[OwnPostgres, OwnPostgres]
) -> None:
    _, replica = servers
    slug, owner, password = platform.new_tenant_with_member(role="owner")
    token = platform.token(owner, password, slug)
    replica.stop()
    try:
        for path in REPORTS:
            status, body = platform.http("GET", path, token=token)
            assert status == 200, (path, body)
        status, ready = platform.http("GET", "/readyz")
        assert status == 200 and ready["ready"] is True  # the replica is no condition of readiness
        (shown,) = ready["replicas"]
        assert shown["usable"] is False and shown["error"]
    finally:
        replica.start()
    deadline = time.monotonic() + 60
    while not platform.http("GET", "/readyz")[1]["replicas"][0]["usable"] and time.monotonic() < deadline:
        time.sleep(0.3)
    assert platform.http("GET", "/readyz")[1]["replicas"][0]["usable"] is True
