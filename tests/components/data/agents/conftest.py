from __future__ import annotations

import pytest

from components.data.rows import Row
from components.data.sources import SCHEMAS, file_source
from components.data.sources.files import REPO_ROOT


def make_row(problem: str = "Compute 2+3.", answer: str = "5", solution: str | None = None,
             line: int = 1, source: str = "test", load_error: str | None = None, **meta) -> Row:
    return Row(f"{source}-{line}", source, line, problem, answer, solution, dict(meta), load_error)


@pytest.fixture(scope="session")
def real_rows() -> list[Row]:
    """The 975 bundled DeepScaleR AIME rows (real data, MIT)."""
    path = REPO_ROOT / "data" / "samples" / "deepscaler_aime_component.jsonl"
    return list(file_source(path, SCHEMAS["deepscaler"], name="deepscaler").rows())
