"""Flow-test fixtures: one Prefect test harness (a temporary local API) for the whole session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prefect_harness():
    """A real, temporary Prefect API (`prefect_test_harness`), started once (~10 s) and shared."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
