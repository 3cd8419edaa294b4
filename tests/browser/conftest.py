"""The browser tests' platform: started as a user starts it, in production mode, once per test
file (each file's tests share its tenants and sites)."""

from collections.abc import Iterator

import pytest

from testkit.fake_openai import FakeOpenAI
from testkit.live import LivePlatform, start_platform


@pytest.fixture(scope="module")
def platform(
    fake_openai_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LivePlatform]:
    live = start_platform(
        "production", tmp_path=tmp_path_factory.mktemp("browser"), llm_url=fake_openai_server.url
    )
    yield live
    live.stop()
