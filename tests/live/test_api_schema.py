"""schemathesis against ``/api/schema/`` of a running platform: whatever it generates from the
OpenAPI document (valid and invalid input, as a tenant owner), the API answers without a
server error."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from testkit.live import LivePlatform, start_platform

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    live = start_platform("production", tmp_path=Path(tmp_path_factory.mktemp("schema")), llm_url=None)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def owner_token(platform: LivePlatform) -> str:
    slug, username, password = platform.new_tenant_with_member(role="owner")
    return platform.token(username, password, slug)


def test_no_request_gets_a_server_error(platform: LivePlatform, owner_token: str) -> None:
    schema = schemathesis.openapi.from_url(f"{platform.base_url}/api/schema/")
    headers = {"Authorization": f"Bearer {owner_token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # every endpoint is documented

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_server_error()
