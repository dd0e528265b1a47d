from __future__ import annotations

from typing import Any

import pytest

from ..docker_helpers import engine_client


@pytest.fixture(scope="session")
def engine() -> Any:
    """A live Docker engine's SDK client (with the broker image and Compose), else skip."""
    return engine_client()
