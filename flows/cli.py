"""`reflect`: the project's one command line, a subcommand per stage.

Thin by design: each subcommand (its arguments are in flows/cli_parser.py) loads its params
section and calls one component (or flow). Bad input ends with one line on stderr naming the file or field and exit
code 2; a run that fails for another reason (training diverged, a registry down) also ends with one
line, and exit code 1 (flows/cli_errors.py); `--debug` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from flows import cli_parser
from flows.cli_errors import exit_code, key_value, reported, setup_console
from flows.cli_output import report

for _var, _value in {"MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                     "DVC_NO_ANALYTICS": "1", "GX_ANALYTICS_ENABLED": "false", "HF_HUB_OFFLINE": "1",
                     "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_var, _value)
# OMP_WAIT_POLICY is left to OpenMP's default here: PASSIVE made tiny-model sampling 1.6-2.5x slower
# on two idle cores (benchmarks/RESULTS.md). Tests and benchmarks set PASSIVE, as they share the cores.


def _load_params(path: Path):
    """Every section of the params file, strictly: a missing file, an unknown section or key is refused."""
    from components.pipeline_params import load_pipeline_params

    return load_pipeline_params(path)


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from components.training.bootstrap import run_bootstrap

    params = _load_params(args.params)
    cfg, task = params.bootstrap, params.task
    if args.steps is not None:
        cfg = replace(cfg, steps=args.steps)
    result = run_bootstrap(args.out, cfg, task)
    report({k: v for k, v in result.items() if k != "config"}, args.json)
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from components.inference.solve import solve
    from components.model.reflective import ReflectiveModel

    rm = ReflectiveModel.load(args.model, dtype=args.dtype)
    sampling = rm.default_sampling()
    if args.temperature is not None:
        sampling = replace(sampling, temperature=args.temperature)
    if args.top_p is not None:
        sampling = replace(sampling, top_p=args.top_p)
    if args.selector is None:                 # the served selector of the params file
        from components.pipeline_params import load_pipeline_params

        args.selector = load_pipeline_params(args.params).register.selector
    selector = args.selector
    sol = solve(rm, [args.problem], args.effort, sampling, seed=args.seed, selector=selector, search=args.search)[0]
    if args.json:
        report(sol.as_dict(with_candidates=args.show_candidates), True)
        return 0
    if not sol.head_trained:
        print(f"note: {args.model} has no trained SPRM head yet (run `reflect train`); "
              "scores are from a fresh head", file=sys.stderr)
    print(f"answer: {sol.answer}")
    kept = f"kept prefix {sol.chosen + 1} of {len(sol.candidates)}" if args.search == "beam" else \
        f"candidate {sol.chosen + 1} of {len(sol.candidates)}"
    print(f"score:  {sol.score:.4f}  ({kept}; {sol.tokens} tokens generated)")
    if args.show_candidates:
        for i, c in enumerate(sol.as_dict(True)["candidates"]):
            mark = "*" if i == sol.chosen else " "
            steps = " ".join(f"{s:.2f}" for s in c["step_scores"]) or "-"
            print(f"{mark} [{i + 1}] answer={c['answer']} score={c['score']:.4f} steps=[{steps}]")
    return 0


def cmd_import_model(args: argparse.Namespace) -> int:
    from components.model.importing import import_model

    r = import_model(args.source, args.out, args.dtype, args.prompt_template)
    report({"model_dir": str(r.out_dir), "source": str(r.source), "digest": r.digest,
            "dtype": r.dtype, "reused": r.reused, "seconds": round(r.seconds, 1)}, args.json)
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from components.rewards.grade_file import grade_jsonl

    counts = grade_jsonl(args.input, args.out)
    report(counts, args.json)
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from components.data.cleaning import run_clean
    from components.inference.policy import open_policy

    cfg = _load_params(args.params).clean
    rep = run_clean(args.sources, args.out, args.eval_sets, open_policy(args.policy, cfg.difficulty), cfg)
    if args.json:
        report({"rows_in": rep.rows_in, "rows_kept": rep.rows_kept, "rows_rejected": rep.rows_rejected,
                "out_dir": str(rep.out_dir), "seconds": round(rep.timings["total"], 3)}, True)
    else:
        print(f"clean: {rep.rows_in} rows in, {rep.rows_kept} kept, {rep.rows_rejected} rejected "
              f"-> {rep.out_dir} ({rep.timings['total']:.1f} s)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from components.training.config import with_overrides
    from components.training.progress import training_progress
    from components.training.trainer import run_train

    cfg = with_overrides(_load_params(args.params).train, args.steps, args.loss)
    uri = None if args.tracking_uri.lower() == "none" else args.tracking_uri
    with training_progress(cfg.steps) as on_step:
        result = run_train(cfg, args.model, args.data, args.out, uri, args.resume, on_step=on_step)
    report({"model_dir": str(result.model_dir), "checkpoint": str(result.checkpoint),
            "steps": result.steps, "aha_step": result.aha_step, "run_id": result.run_id, **result.summary}, args.json)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from components.evaluation.runner import parse_heads, run_evaluate

    params = _load_params(args.params)
    cfg, task = params.evaluate, params.task
    if args.efforts:
        cfg = cfg.with_efforts(args.efforts.split(","))
    if args.n_problems is not None:
        cfg = replace(cfg, n_problems=args.n_problems)
    if args.backend:
        cfg = replace(cfg, backend=args.backend)
    if args.dtype:
        cfg = replace(cfg, dtype=args.dtype)
    sets = [s for a in (args.eval_set or []) for s in a.split(",") if s] or list(cfg.eval_sets)
    result = run_evaluate(args.model, sets, cfg, args.out, args.tracking_uri, parse_heads(args.head or []),
                          train_parquet=args.train_parquet, task=task)
    report(result.metrics, args.json)
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from flows.register import register_flow

    _load_params(args.params)                    # refused before Prefect starts
    tags = dict(key_value(t) for t in args.tag or [])
    report(register_flow(args.model, args.params, args.tracking_uri, args.name, tags), args.json)
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from flows.promote import promote_flow

    _load_params(args.params)                    # refused before Prefect starts
    # A challenger that loses the gate is a decision, not an error: exit 0 either way.
    report(promote_flow(args.version, args.eval_dir, None, args.params, args.tracking_uri, args.name), args.json)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from flows.pipeline import pipeline

    _load_params(args.params)                    # refused before Prefect starts
    summary = pipeline(args.params, args.workdir, args.tracking_uri, args.model, args.source, args.eval_sets,
                       use_cache=not args.no_cache)
    report(summary, args.json)                   # the result on stdout; the stages' lines are logs (stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from components.registry.serving import model_uri, serve_foreground

    # an unknown name or alias is told in one line here, not as the scoring server's traceback
    MlflowClient(args.tracking_uri).get_model_version_by_alias(args.name, args.alias)
    return serve_foreground(model_uri(args.name, args.alias), args.tracking_uri, args.host, args.port)


def cmd_deploy(args: argparse.Namespace) -> int:
    from flows.deploy import deploy

    deploy(args.cron, args.name, args.params, args.workdir, args.tracking_uri, args.model,
           timezone=args.timezone)
    return 0


COMMANDS = {  # subcommand name -> the function it runs
    "bootstrap": cmd_bootstrap,
    "solve": cmd_solve,
    "import-model": cmd_import_model,
    "grade": cmd_grade,
    "clean": cmd_clean,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "register": cmd_register,
    "promote": cmd_promote,
    "run": cmd_run,
    "serve": cmd_serve,
    "deploy": cmd_deploy,
}


def build_parser() -> argparse.ArgumentParser:
    """The `reflect` parser (flows/cli_parser.py) wired to this module's commands."""
    return cli_parser.build_parser(COMMANDS)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from components.console import print_to_stdout
    from components.signals import interrupt_exit_code, route_sigterm

    restore = route_sigterm()                  # SIGTERM (a Prefect cancel, an eviction) ends like Ctrl-C
    setup_console(args.command, args.quiet, args.verbose, args.debug)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        print("reflect: interrupted", file=sys.stderr)
        return interrupt_exit_code(exc)
    except Exception as exc:                       # noqa: BLE001 - only user-facing kinds are caught below
        if args.debug or not reported(exc):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"reflect {args.command}: error: {first}", file=sys.stderr)
        return exit_code(exc)
    finally:
        restore()
        print_to_stdout()                        # an in-process caller gets `print` back


if __name__ == "__main__":
    sys.exit(main())
