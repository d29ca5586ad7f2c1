"""Digests, store paths and the promotion file lock."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from components.tracking.locks import LockTimeoutError, exclusive_lock
from components.tracking.lineage import dir_digest, file_digest, git_commit, value_digest
from components.tracking.store import artifact_location, ensure_experiment, local_store_dir, lock_path


def test_digests_follow_content_not_names_or_times(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "w.bin").write_bytes(b"weights")
        (d / "config.json").write_text("{}")
    (b / ".tmp-partial").write_text("ignored")
    assert dir_digest(a) == dir_digest(b)
    (b / "config.json").write_text('{"x": 1}')
    assert dir_digest(a) != dir_digest(b)
    assert file_digest(a / "config.json") == file_digest(a / "config.json") != file_digest(b / "config.json")
    with pytest.raises(FileNotFoundError, match="missing"):
        dir_digest(tmp_path / "missing")


def test_value_digest_is_order_free_and_sensitive_to_values():
    assert value_digest({"a": 1, "b": [1, 2]}) == value_digest({"b": [1, 2], "a": 1})
    assert value_digest({"a": 1}) != value_digest({"a": 2})


def test_git_commit_outside_a_repo_is_unknown(tmp_path):
    assert git_commit(tmp_path) == "unknown"


def test_store_paths_for_sqlite_file_and_server(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    assert local_store_dir(uri) == (tmp_path / "mlflow").resolve()
    assert artifact_location(uri) == (tmp_path / "mlflow" / "artifacts").resolve().as_uri()
    assert lock_path(uri, "reflective-math") == (tmp_path / "mlflow" / "reflective-math.promote.lock").resolve()
    assert artifact_location("http://127.0.0.1:5000") is None
    server_lock = lock_path("http://127.0.0.1:5000", "m/x")
    assert server_lock.name.endswith("m_x.promote.lock") and server_lock != lock_path("http://other:5000", "m/x")


def test_ensure_experiment_puts_artifacts_beside_the_database(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    exp_id = ensure_experiment(uri, "e")
    assert ensure_experiment(uri, "e") == exp_id
    assert MlflowClient(uri).get_experiment(exp_id).artifact_location == (tmp_path / "artifacts").resolve().as_uri()


def _hold(path: str, ready, release) -> None:
    with exclusive_lock(Path(path)):
        ready.set()
        release.wait(timeout=60)


def test_lock_held_by_another_process_times_out_naming_the_file(tmp_path):
    path = tmp_path / "x.lock"
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(path), ready, release))
    proc.start()
    try:
        assert ready.wait(timeout=60)
        with pytest.raises(LockTimeoutError, match=rf"{path}: still held by process {proc.pid}"):
            with exclusive_lock(path, timeout_s=0.2):
                pass
    finally:
        release.set()
        proc.join(timeout=60)
    with exclusive_lock(path, timeout_s=5):       # released when the holder is done
        pass


def test_code_digest_follows_the_imports_of_a_stage_and_nothing_else(tmp_path):
    from components.tracking.lineage import code_digest, module_files

    pkg = tmp_path / "components"
    for rel, text in {"__init__.py": "", "a/__init__.py": "", "a/entry.py": "def f():\n    from components.a import lazy\n",
                      "a/lazy.py": "import components.b.deep\n", "b/__init__.py": "", "b/deep.py": "X = 1\n",
                      "b/unused.py": "Y = 1\n"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    names = [f.relative_to(tmp_path).as_posix() for f in module_files(["components.a.entry"], tmp_path)]
    assert names == ["components/__init__.py", "components/a/__init__.py", "components/a/entry.py",
                     "components/a/lazy.py", "components/b/__init__.py", "components/b/deep.py"]
    before = code_digest(["components.a.entry"], tmp_path)
    (pkg / "b/unused.py").write_text("Y = 2\n")
    assert code_digest(["components.a.entry"], tmp_path) == before
    (pkg / "b/deep.py").write_text("X = 2\n")            # reached only through a lazy import
    assert code_digest(["components.a.entry"], tmp_path) != before
