from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis

from tests.openapi_rig import running_rig


@pytest.fixture(scope="session")
def collector_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The collector of `tests.openapi_rig`, shared by every schemathesis run."""
    yield from running_rig(tmp_path_factory.mktemp("openapi"))


@pytest.fixture(scope="session")
def api_schema(collector_url: str) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_url(f"{collector_url}/api/v1/openapi.json")
