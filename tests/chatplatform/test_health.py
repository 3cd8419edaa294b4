"""/healthz and /readyz."""

from django.test import AsyncClient

from testkit.redis_deployments import OwnRedis


async def test_healthz_answers_without_touching_anything() -> None:
    response = await AsyncClient().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_reports_each_dependency_with_its_timing(transactional_db: None) -> None:
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert set(body["checks"]) == {"database", "redis", "channel_layer"}
    assert all(check["ok"] and check["ms"] >= 0 for check in body["checks"].values())
    assert (await AsyncClient().get("/readyz")).status_code == 200  # the probe channel is reused


async def test_readyz_fails_while_redis_is_down_and_recovers(
    transactional_db: None, own_redis: OwnRedis
) -> None:
    assert (await AsyncClient().get("/readyz")).status_code == 200
    own_redis.stop()
    down = await AsyncClient().get("/readyz")
    assert down.status_code == 503
    assert down.json()["checks"]["redis"]["ok"] is False and down.json()["checks"]["database"]["ok"] is True
    own_redis.start()
    assert (await AsyncClient().get("/readyz")).status_code == 200
