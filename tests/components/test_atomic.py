"""Atomic outputs: a file or a stage's directory appears complete or not at all; dead temps are swept."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from components.atomic import check_own_dir, save_dir, staged_dir, sweep_stale, temp_name, write_text


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_write_text_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old", encoding="utf-8")
    write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old", encoding="utf-8")
    from components.atomic import write_with

    def broken(tmp):
        tmp.write_text("half", encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_with(target, broken)
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_sweep_removes_dead_processes_temps_only(tmp_path):
    dead = _dead_pid()
    (tmp_path / f".clean.parquet.tmp-{dead}").write_text("x")
    (tmp_path / f".model.tmp-{dead}").mkdir()
    (tmp_path / f".model.old-{dead}").mkdir()
    live = tmp_path / f".report.json.tmp-{os.getppid()}"     # the parent runs: not ours to delete
    live.write_text("x")
    mine = temp_name(tmp_path / "metrics.json")
    mine.write_text("x")
    (tmp_path / "notes.tmp-123").write_text("keep")          # not a hidden temp name
    gone = sweep_stale(tmp_path)
    assert sorted(p.name for p in gone) == sorted([f".clean.parquet.tmp-{dead}", f".model.tmp-{dead}",
                                                    f".model.old-{dead}"])
    assert live.exists() and mine.exists() and (tmp_path / "notes.tmp-123").exists()


def test_a_write_sweeps_what_a_killed_run_left(tmp_path):
    stale = tmp_path / f".metrics.json.tmp-{_dead_pid()}"
    stale.write_text("partial")
    write_text(tmp_path / "metrics.json", "{}")
    assert not stale.exists()


def test_staged_dir_replaces_the_whole_set_as_one(tmp_path):
    out = tmp_path / "eval"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "old_set.png").write_text("stale plot")
    (out / "metrics.json").write_text("old")
    (out / "report.md").write_text("old")
    (out / ".gitignore").write_text("/metrics.json\n")          # DVC's, not the stage's: carried over
    with staged_dir(out, ("metrics.json", "report.md", "plots")) as staged:
        (staged.path / "plots").mkdir()
        (staged.path / "plots" / "new.png").write_text("new plot")
        (staged.path / "metrics.json").write_text("new")
        assert (out / "metrics.json").read_text() == "old"      # nothing visible before the rename
    assert (out / "metrics.json").read_text() == "new"
    assert not (out / "report.md").exists()                      # not written this time: gone, not stale
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["new.png"]
    assert (out / ".gitignore").read_text() == "/metrics.json\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]


def test_staged_dir_error_leaves_the_old_set_untouched(tmp_path):
    out = tmp_path / "clean"
    out.mkdir()
    (out / "clean.parquet").write_text("old data")
    (out / "report.json").write_text("old report")
    with pytest.raises(RuntimeError, match="killed"):
        with staged_dir(out, ("clean.parquet", "report.json")) as staged:
            (staged.path / "report.json").write_text("new report")
            raise RuntimeError("killed half-way")
    assert (out / "report.json").read_text() == "old report"
    assert (out / "clean.parquet").read_text() == "old data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean"]


def test_a_foreign_subdirectory_is_refused_before_any_work(tmp_path):
    (tmp_path / "data" / ".git").mkdir(parents=True)
    with pytest.raises(FileExistsError, match=r"--out .*data: holds \.git/, which is not an output"):
        check_own_dir(tmp_path / "data", ("clean.parquet",))


def test_save_dir_replaces_a_model_dir(tmp_path):
    out = tmp_path / "model"
    save_dir(out, lambda d: (d / "a").write_text("1"))
    save_dir(out, lambda d: (d / "b").write_text("2"))
    assert sorted(p.name for p in out.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
