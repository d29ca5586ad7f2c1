"""DeepScaleR: the bundled real AIME component rows (MIT) and the shared 803-row subset."""

from components.data.sources import SCHEMAS, file_source
from components.data.sources.files import REPO_ROOT

BUNDLED = REPO_ROOT / "data" / "samples" / "deepscaler_aime_component.jsonl"


def test_bundled_aime_component(tmp_path):
    rows = list(file_source(BUNDLED, SCHEMAS["deepscaler"], name="deepscaler").rows())
    assert len(rows) == 975 and all(r.load_error is None for r in rows)
    first = rows[0]
    assert first.source == "deepscaler" and first.line == 1 and first.id == "deepscaler-1"
    assert first.answer == "60" and "\\boxed{60}" in first.solution
    assert first.meta["year"] == 1983 and first.meta["difficulty"] == 4.0


def test_shared_subset_in_native_schema(shared_dir):
    path = shared_dir / "data" / "train_samples" / "deepscaler" / "deepscaler_subset803.jsonl"
    rows = list(file_source(path, SCHEMAS["deepscaler"]).rows())
    assert len(rows) == 803 and all(r.problem and r.answer for r in rows)
    assert all("difficulty" in r.meta for r in rows)
