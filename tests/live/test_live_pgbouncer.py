"""The platform behind PgBouncer in transaction mode (Debian's, in front of a PostgreSQL of the
test's own; ``DATABASE_PGBOUNCER``): the chat path, a resume, the reports and an export run
through it, past the point where psycopg would prepare statements on the server (5 runs) and
with exports that would otherwise hold a server-side cursor."""

from collections.abc import Iterator

import pytest

from testkit.fake_openai import FakeOpenAI
from testkit.live import LivePlatform, OwnPgBouncer, OwnPostgres, start_platform
from testkit.live_ws import frames_until, open_chat, send

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def bouncer() -> Iterator[OwnPgBouncer]:
    postgres = OwnPostgres()
    postgres.create()
    server = OwnPgBouncer(postgres)
    server.start()
    yield server
    server.stop()
    postgres.destroy()


@pytest.fixture(scope="module")
def platform(
    bouncer: OwnPgBouncer, fake_openai_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LivePlatform]:
    live = start_platform(
        "production",
        tmp_path=tmp_path_factory.mktemp("pgbouncer"),
        llm_url=fake_openai_server.url,
        database_url=bouncer.url,
        extra_env={"DATABASE_PGBOUNCER": "true", "DB_POOL_MIN": "4"},
    )
    yield live
    live.stop()


def transactions(bouncer: OwnPgBouncer) -> int:
    (stats,) = [row for row in bouncer.show("STATS") if row["database"] == "chatplatform"]
    return int(stats["total_xact_count"])


async def test_the_chat_path_runs_through_pgbouncer_in_transaction_mode(
    platform: LivePlatform, bouncer: OwnPgBouncer
) -> None:
    assert [p["pool_mode"] for p in bouncer.show("POOLS") if p["database"] == "chatplatform"] == [
        "transaction"
    ]
    before = transactions(bouncer)
    slug, owner, password = platform.new_tenant_with_member(role="owner")
    token = platform.token(owner, password, slug)
    ws, ready = await open_chat(platform, token)
    for n in range(8):  # past psycopg's prepare threshold on the same pooled connections
        await send(ws, f"question {n} [[tokens=3]]")
        frames = await frames_until(ws, "done", "error")
        assert frames[-1]["type"] == "done", frames
    await ws.close()
    again, ready_again = await open_chat(platform, token, f"/ws/chat/{ready['conversation_id']}/")
    assert ready_again["conversation_id"] == ready["conversation_id"]
    await again.close()
    for path in (
        "/api/v1/conversations/?mine=true",
        "/api/v1/usage/",
        "/api/v1/analytics/",
        "/api/v1/audit/",
    ):
        status, body = platform.http("GET", path, token=token)
        assert status == 200, (path, body)
    status, exported = platform.http(
        "GET", f"/api/v1/conversations/{ready['conversation_id']}/export/?format=json", token=token
    )
    assert status == 200 and len(exported) == 16  # 8 questions, 8 answers
    status, messages = platform.http(
        "GET", f"/api/v1/conversations/{ready['conversation_id']}/messages/", token=token
    )
    assert status == 200 and messages["count"] == 16
    assert transactions(bouncer) > before + 16  # it all went through PgBouncer
