"""The `reflect` command line: real subprocess-free calls of main() on the real tiny model."""

from __future__ import annotations

import json

import pytest

from flows.cli import build_parser, main


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("bootstrap", "solve", "grade"):
        assert cmd in out


def test_solve_json_and_candidates(sft_tiny_dir, capsys):
    assert main(["solve", "--model", str(sft_tiny_dir), "--effort", "low", "--json", "--selector", "sprm_best",
                 "--show-candidates", "Compute (3+4)*2."]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 2 and len(out["candidates"]) == 2
    assert out["score"] == max(c["score"] for c in out["candidates"])


def test_solve_beam_search_on_a_model_without_a_head_is_one_line(sft_tiny_dir, capsys):
    assert main(["solve", "--model", str(sft_tiny_dir), "--search", "beam", "Compute 1+1."]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "search 'beam' needs a trained SPRM head" in err


def test_solve_text_output(sft_tiny_dir, capsys):
    assert main(["solve", "--model", str(sft_tiny_dir), "--effort", "2", "--show-candidates", "Compute 5+6."]) == 0
    out = capsys.readouterr().out
    assert out.startswith("answer: ") and "[2]" in out


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["solve", "--model", str(tmp_path / "missing"), "Compute 1+1."]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "model directory not found" in err
    assert main(["solve", "--model", str(tmp_path), "--effort", "extreme", "x"]) == 2


def test_unknown_effort_message(sft_tiny_dir, capsys):
    assert main(["solve", "--model", str(sft_tiny_dir), "--effort", "extreme", "Compute 1+1."]) == 2
    assert "unknown effort 'extreme'" in capsys.readouterr().err


def test_bootstrap_refuses_bad_params(tmp_path, capsys):
    bad = tmp_path / "params.yaml"
    bad.write_text("bootstrap:\n  stepz: 3\n")
    assert main(["bootstrap", "--params", str(bad), "--out", str(tmp_path / "m")]) == 2
    assert "unknown key 'stepz'" in capsys.readouterr().err


def test_parser_builds():
    assert build_parser().prog == "reflect"


def test_tracking_uri_defaults_follow_mlflow_tracking_uri(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    parse = lambda *argv: build_parser().parse_args(list(argv))  # noqa: E731
    assert parse("register", "--model", "m").tracking_uri == "sqlite:///mlflow/mlflow.db"
    assert parse("run").tracking_uri is None                 # the pipeline's store under --workdir
    assert parse("evaluate").tracking_uri is None            # evaluate logs nowhere by default
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    for argv in (("register", "--model", "m"), ("promote", "--version", "1"), ("run",), ("evaluate",),
                 ("train",), ("serve",), ("deploy", "--cron", "0 3 * * 1")):
        assert parse(*argv).tracking_uri == "http://127.0.0.1:5000", argv
    assert parse("run", "--tracking-uri", "sqlite:///x.db").tracking_uri == "sqlite:///x.db"


PARAMS_COMMANDS = [
    ["bootstrap", "--out", "{tmp}/m"],
    ["clean", "--source", "synthetic-default", "--out", "{tmp}/clean"],
    ["train", "--out", "{tmp}/train", "--tracking-uri", "none"],
    ["evaluate", "--out", "{tmp}/eval"],
    ["register", "--model", "{tmp}/m", "--tracking-uri", "sqlite:///{tmp}/mlflow.db"],
    ["promote", "--version", "1", "--tracking-uri", "sqlite:///{tmp}/mlflow.db"],
    ["run", "--workdir", "{tmp}/w"],
    ["deploy", "--cron", "0 3 * * 1", "--workdir", "{tmp}/w"],
]


@pytest.mark.parametrize("argv", PARAMS_COMMANDS, ids=lambda a: a[0])
def test_every_command_refuses_a_missing_params_file(argv, tmp_path, capsys):
    args = [a.format(tmp=tmp_path) for a in argv] + ["--params", str(tmp_path / "nope.yaml")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.yaml: params file not found" in err, err


@pytest.mark.parametrize("argv", PARAMS_COMMANDS, ids=lambda a: a[0])
def test_every_command_refuses_an_unknown_section(argv, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("trian:\n  steps: 3\n")
    args = [a.format(tmp=tmp_path) for a in argv] + ["--params", str(params)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown section 'trian'" in err, err


@pytest.mark.integration
def test_registry_errors_are_one_line_without_a_traceback(tmp_path, capsys):
    """An unknown version (MLflow's MlflowException) through a Prefect flow: Prefect's console log
    shows the error without its traceback, and the CLI ends with one line and exit 2."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text(json.dumps({"model_digest": "md5:x"}))
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "promote", "--version", "99", "--eval-dir",
                           str(tmp_path / "eval"), "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db",
                           "--params", str(repo / "params.yaml")],
                          cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = [ln for ln in proc.stderr.splitlines() if ln.startswith("reflect promote: error:")]
    assert len(last) == 1 and "reflective-math" in last[0], proc.stderr[-2000:]

    assert main(["serve", "--name", "nope", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "reflect serve: error: Registered Model with name=nope not found"


def test_exit_codes_tell_bad_input_from_a_failed_run():
    """2: fix the command or its files; 1: the run itself failed (the doctests list the base kinds)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    from components.config import ConfigError
    from components.tracking.connection import RegistryUnavailableError
    from components.tracking.locks import LockTimeoutError
    from components.training.trainer import TrainingDivergedError
    from flows.cli_errors import exit_code

    assert [exit_code(e) for e in (ConfigError("x"), FileNotFoundError("x"),
                                   MlflowException("no such version", error_code=RESOURCE_DOES_NOT_EXIST))] == [2, 2, 2]
    assert [exit_code(e) for e in (TrainingDivergedError("x"), RegistryUnavailableError("x"),
                                   LockTimeoutError("x"), MlflowException("internal"))] == [1, 1, 1, 1]


def test_results_on_stdout_logs_on_stderr_and_quiet(tiny_dir, tmp_path, capsys):
    """`reflect train --json ... | jq` works: stdout is the one JSON object, the trainer's lines are
    on stderr; without `--json` stdout is `key: value` lines; `-q` keeps warnings only; afterwards a
    component's `say` prints again."""
    from components.console import say
    from tests.components.training.conftest import write_adder_parquet

    data = write_adder_parquet(tmp_path / "clean.parquet")
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  steps: 1\n  rollout: {prompts_per_step: 2, group_size: 2, max_new_tokens: 8}\n")
    argv = ["train", "--model", str(tiny_dir), "--data", str(data), "--tracking-uri", "none", "--params", str(params)]
    assert main([*argv, "--json", "--out", str(tmp_path / "a")]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["steps"] == 1 and out.count("\n") == 1
    assert "train: done, 1 steps" in err
    assert main([*argv, "--out", str(tmp_path / "c")]) == 0
    out, err = capsys.readouterr()
    assert "steps: 1\n" in out and f"model_dir: {tmp_path / 'c' / 'model'}" in out and "train:" not in out
    assert main(["-q", *argv, "--json", "--out", str(tmp_path / "b")]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["steps"] == 1 and "train:" not in err
    say("after: a line")
    assert capsys.readouterr().out == "after: a line\n"


def test_every_reporting_command_takes_json():
    from flows.cli import build_parser
    from flows.cli_output import REPORTING

    commands = build_parser()._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        has_json = any("--json" in a.option_strings for a in sub._actions)
        assert has_json == (name in REPORTING), name


def test_text_result_is_one_line_per_entry():
    from flows.cli_output import as_text

    assert as_text({"a": 0.123456, "b": {"c": None, "d": [1, 2]}, "e": {}}) == "a: 0.1235\nb.c: -\nb.d: 1, 2\ne: {}"


def test_quiet_and_verbose_exclude_each_other(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["-q", "-v", "grade", "x", "--out", "y"])
    assert "not allowed with argument" in capsys.readouterr().err
