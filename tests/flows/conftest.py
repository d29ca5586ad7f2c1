"""Flow-test fixtures: one Prefect test harness (a temporary local API) for the whole session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prefect_harness():
    """A real, temporary Prefect API (`prefect_test_harness`), started once (~10 s) and shared."""
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.testing.utilities import prefect_test_harness

    # Prefect configures logging (dictConfig, which replaces the root handlers) on its first flow
    # run; done here first, so a test's `caplog` handler is not dropped when that happens mid-test.
    ensure_logging_setup()
    with prefect_test_harness(server_startup_timeout=120):
        yield
