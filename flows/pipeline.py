"""The whole chain as one Prefect flow: clean -> bootstrap -> train -> register -> evaluate -> promote.

Each stage is its own flow in `flows/` (clean.py, bootstrap.py, train.py, register.py,
evaluate.py, promote.py); this flow only chains them, shows progress per stage and prints where to
look at the end. `reflect run` calls `pipeline()`; `flows/deploy.py` schedules it.

Caching (one mechanism: Prefect's cache policy with result persistence, not DVC's skip). Every
stage but promote runs inside a task whose cache key is a digest of what the stage reads: its
params.yaml section(s), the content of its input files/directories (clean set, base model,
trained model) and the source of the components it runs. Results are persisted under
`<workdir>/.cache/prefect-results`, next to the outputs rather than in the Prefect server, so a
re-run with unchanged inputs finds them even on a fresh Prefect server. A cached result is used only
while the files it describes are still there and unchanged (their digest is part of the result);
otherwise the stage runs again. `use_cache=False` re-runs every stage. Promotion always runs: it
depends on the registry's current champion. Training always resumes from the newest checkpoint in
its output directory (`models/train/<key>/checkpoints`), so an interrupted run continues where it
stopped. A stage that fails fails the pipeline with that stage's exception.

`dvc.yaml` mirrors the same stages for `dvc repro`; the two are alternatives, not layered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, task

from components.dvc_record import dvc_commit, not_recordable, publish_train_outputs
from components.tracking.locks import exclusive_lock
from components.pipeline_params import load_pipeline_params
from components.tracking.lineage import code_digest, dir_digest, file_digest, git_commit, inputs_digest
from components.registry.promotion import current_champion
from components.tracking.store import ensure_experiment
from flows.bootstrap import bootstrap_flow
from flows.clean import clean_flow
from flows.evaluate import evaluate_flow
from flows.promote import promote_flow
from flows.register import register_flow
from flows.train import train_flow

REPO = Path(__file__).resolve().parents[1]
# Each stage's component entry point: the source of every module it imports, transitively, is part
# of the stage's cache key (components.tracking.lineage.code_digest), so no list of files to keep.
ENTRY = {
    "clean": ("components.data.cleaning", "components.inference.policy"),
    "bootstrap": ("components.training.bootstrap",),
    "train": ("components.training.trainer",),
    "register": ("components.registry.pyfunc",),
    "evaluate": ("components.evaluation.runner",),
}
STAGES = ("clean", "bootstrap", "train", "register", "evaluate", "promote")


@dataclass(frozen=True)
class Layout:
    """Where the stages write, under one working directory (the repository root by default)."""

    workdir: Path
    tracking_uri: str

    @classmethod
    def under(cls, workdir: Path, tracking_uri: str | None) -> Layout:
        workdir = Path(workdir).resolve()
        # No $MLFLOW_TRACKING_URI here: mlflow.set_tracking_uri writes that variable, so inside a
        # long-lived process it would hold whatever store was used last. `reflect run` reads it at start.
        return cls(workdir, tracking_uri or f"sqlite:///{workdir / 'mlflow' / 'mlflow.db'}")

    @property
    def clean_dir(self) -> Path:
        return self.workdir / "data" / "clean"

    @property
    def bootstrap_dir(self) -> Path:
        return self.workdir / "models" / "bootstrap"

    @property
    def train_root(self) -> Path:
        return self.workdir / "models" / "train"

    @property
    def eval_dir(self) -> Path:
        return self.workdir / "reports" / "eval"

    @property
    def cache_dir(self) -> Path:
        return self.workdir / ".cache" / "prefect-results"


WORKDIR_LOCK = ".reflect-run.lock"


def _code(stage: str) -> dict[str, str]:
    return {"code": code_digest(ENTRY[stage], REPO)}


# ----------------------------------------------------------------------------- stage tasks (thin)
@task(name="clean-stage", persist_result=True)
def clean_stage(out_dir: Path, params: Path, tracking_uri: str, sources: list[str] | None) -> dict:
    summary = clean_flow(sources=sources, out_dir=out_dir, params=params, tracking_uri=tracking_uri)
    data = out_dir / "clean.parquet"
    return {**summary, "data": str(data), "digest": file_digest(data)}


@task(name="bootstrap-stage", persist_result=True)
def bootstrap_stage(out_dir: Path, params: Path) -> dict:
    report = bootstrap_flow(out_dir=out_dir, params=params)
    return {**report, "model_dir": str(out_dir), "digest": dir_digest(out_dir)}


@task(name="train-stage", persist_result=True)
def train_stage(model_dir: Path, data_path: Path, out_dir: Path, params: Path, tracking_uri: str) -> dict:
    result = train_flow(model_dir=model_dir, data_path=data_path, out_dir=out_dir, params=params,
                        tracking_uri=tracking_uri, resume=True)
    final = Path(result["model_dir"])
    return {"model_dir": str(final), "digest": dir_digest(final), "run_id": result["run_id"],
            "aha_step": result["aha_step"], "steps": result["steps"]}


@task(name="register-stage", persist_result=True)
def register_stage(model_dir: Path, params: Path, tracking_uri: str, tags: dict[str, str]) -> dict:
    return {**register_flow(model_dir=model_dir, params=params, tracking_uri=tracking_uri, tags=tags),
            "model_digest": dir_digest(model_dir)}


@task(name="evaluate-stage", persist_result=True)
def evaluate_stage(model_dir: Path, eval_sets: list[str] | None, out_dir: Path, params: Path,
                   tracking_uri: str, train_parquet: Path | None) -> dict:
    evaluate_flow(model_dir=model_dir, eval_sets=eval_sets, out_dir=out_dir, params=params,
                  tracking_uri=tracking_uri, train_parquet=train_parquet)
    path = out_dir / "metrics.json"                     # the numbers and the model they measured
    return {"metrics": json.loads(path.read_text(encoding="utf-8")), "eval_dir": str(out_dir),
            "digest": file_digest(path)}


# ----------------------------------------------------------------------------- caching and progress
def _file_unchanged(path_of: Callable[[dict], Path]) -> Callable[[dict], bool]:
    return lambda r: path_of(r).is_file() and file_digest(path_of(r)) == r["digest"]


def _dir_unchanged(r: dict) -> bool:
    return Path(r["model_dir"]).is_dir() and dir_digest(r["model_dir"]) == r["digest"]


def _registered(tracking_uri: str) -> Callable[[dict], bool]:
    def check(r: dict) -> bool:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            mv = MlflowClient(tracking_uri).get_model_version(r["name"], r["version"])
        except MlflowException:
            return False
        return mv.tags.get("model_digest") == r["model_digest"]
    return check


def _run_stage(i: int, stage: str, stage_task, key: str, store: Path, use_cache: bool,
               still_valid: Callable[[dict], bool], **kwargs) -> dict:
    """Run `stage_task` under cache key `key`; re-run it when the cached result's files are gone."""
    print(f"pipeline [{i}/{len(STAGES)}] {stage}: starting", flush=True)
    t0 = time.perf_counter()
    # Results are plain dicts: stored as JSON (readable, no pickles), not cloudpickle.
    opts = dict(cache_key_fn=lambda *_: f"{stage}-{key}", result_storage=store, persist_result=True,
                result_serializer="json")
    state = stage_task.with_options(refresh_cache=not use_cache, **opts)(**kwargs, return_state=True)
    result = state.result()                      # raises the stage's own exception on failure
    cached = state.name == "Cached"
    if cached and not still_valid(result):
        print(f"pipeline [{i}/{len(STAGES)}] {stage}: cached result is stale (outputs changed); running again")
        state = stage_task.with_options(refresh_cache=True, **opts)(**kwargs, return_state=True)
        result, cached = state.result(), False
    how = "skipped, inputs unchanged (cached)" if cached else f"done in {time.perf_counter() - t0:.0f}s"
    print(f"pipeline [{i}/{len(STAGES)}] {stage}: {how}", flush=True)
    return result


# ----------------------------------------------------------------------------- the pipeline
@flow(name="reflective-pipeline", log_prints=True)   # stage lines in the Prefect UI
def pipeline(params: Path = Path("params.yaml"), workdir: Path = Path("."), tracking_uri: str | None = None,
             model: Path | None = None, sources: list[str] | None = None, eval_sets: list[str] | None = None,
             use_cache: bool = True) -> dict:
    """Clean -> (bootstrap) -> train -> register -> evaluate -> promote; returns a summary.

    `model` is a base model directory; None bootstraps the embedded default. Outputs go under
    `workdir` (data/clean, models/, reports/eval, mlflow/ unless `tracking_uri` is given).
    """
    params = Path(params).resolve()
    cfg = load_pipeline_params(params)                 # every section checked before any stage runs
    lay = Layout.under(Path(workdir), tracking_uri)
    lay.workdir.mkdir(parents=True, exist_ok=True)
    # One run per working directory: two runs would share temp names, checkpoints and outputs.
    with exclusive_lock(lay.workdir / WORKDIR_LOCK, timeout_s=0,
                        busy="another `reflect run` is using this working directory; wait for it to "
                             "finish or give another --workdir"):
        uri = lay.tracking_uri
        (lay.workdir / "mlflow").mkdir(parents=True, exist_ok=True)
        for experiment in {cfg.register.experiment, cfg.train.tracking.experiment, "reflective-math"}:
            ensure_experiment(uri, experiment)
        store = lay.cache_dir

        data_ok = _file_unchanged(lambda r: Path(r["data"]))
        clean = _run_stage(1, "clean", clean_stage,
                           inputs_digest({"clean": cfg.clean, "sources": sources, **_code("clean")}), store, use_cache,
                           data_ok, out_dir=lay.clean_dir, params=params, tracking_uri=uri, sources=sources)
        data = Path(clean["data"])
        if model is None:
            base = _run_stage(2, "bootstrap", bootstrap_stage,
                              inputs_digest({"bootstrap": cfg.bootstrap, "task": cfg.task, **_code("bootstrap")}),
                              store, use_cache, _dir_unchanged, out_dir=lay.bootstrap_dir, params=params)
            base_dir = Path(base["model_dir"])
        else:
            print(f"pipeline [2/{len(STAGES)}] bootstrap: skipped, base model given ({model})")
            base_dir = Path(model).resolve()
        train_key = inputs_digest({"train": cfg.train, "data": data, "base": base_dir, **_code("train")})
        trained = _run_stage(3, "train", train_stage, train_key, store, use_cache, _dir_unchanged,
                             model_dir=base_dir, data_path=data, out_dir=lay.train_root / train_key[:12],
                             params=params, tracking_uri=uri)
        model_dir = Path(trained["model_dir"])
        tags = {"data_version": clean["digest"], "git_commit": git_commit(REPO),
                "training_run_id": str(trained.get("run_id")), "aha_step": str(trained.get("aha_step"))}
        reg = _run_stage(4, "register", register_stage,
                         inputs_digest({"register": cfg.register, "model": model_dir, "uri": uri, **_code("register")}),
                         store, use_cache, _registered(uri), model_dir=model_dir, params=params, tracking_uri=uri,
                         tags=tags)
        metrics_ok = _file_unchanged(lambda r: Path(r["eval_dir"]) / "metrics.json")
        ev = _run_stage(5, "evaluate", evaluate_stage,
                        inputs_digest({"evaluate": cfg.evaluate, "task": cfg.task, "sets": eval_sets, "model": model_dir,
                                       "train": data, **_code("evaluate")}),
                        store, use_cache, metrics_ok, model_dir=model_dir, eval_sets=eval_sets, out_dir=lay.eval_dir,
                        params=params, tracking_uri=uri, train_parquet=data)
        print(f"pipeline [6/{len(STAGES)}] promote: starting", flush=True)
        decision = promote_flow(version=reg["version"], metrics=ev["metrics"], params=params, tracking_uri=uri,
                                name=reg["name"], eval_sets=eval_sets, workdir=lay.workdir)
        print(f"pipeline [6/{len(STAGES)}] promote: {'promoted' if decision['promoted'] else 'not promoted'}", flush=True)
        dvc = _record_in_dvc(lay, params, model is not None, sources, eval_sets, model_dir.parent)
        summary = {"tracking_uri": uri, "model": reg["name"], "version": reg["version"], "promotion": decision,
                   "champion": _champion(uri, reg["name"]), "eval_report": str(lay.eval_dir / "report.md"),
                   "model_dir": str(model_dir), "aha_step": trained.get("aha_step"), "dvc": dvc}
        print(where_to_look(summary, lay))
        return summary


def _record_in_dvc(lay: Layout, params: Path, base_given: bool, sources, eval_sets, train_dir: Path) -> str:
    """Write `dvc.lock` for a run that made exactly `dvc.yaml`'s outputs (components/dvc_record.py)."""
    why_not = not_recordable(lay.workdir, params, base_given, sources, eval_sets)
    if why_not is not None:
        print(f"pipeline: dvc.lock not written ({why_not})")
        return f"not recorded: {why_not}"
    publish_train_outputs(train_dir, lay.train_root)
    ok, last = dvc_commit(lay.workdir)
    print("pipeline: outputs recorded in dvc.lock (dvc commit); `dvc status` is clean" if ok
          else f"pipeline: WARNING dvc commit failed, dvc.lock not updated: {last}")
    return "recorded in dvc.lock" if ok else f"dvc commit failed: {last}"


def _champion(uri: str, name: str) -> str | None:
    from mlflow import MlflowClient

    champ = current_champion(MlflowClient(uri), name)
    return str(champ.version) if champ is not None else None


def where_to_look(summary: dict, lay: Layout) -> str:
    """The closing message: champion, promotion verdict, eval table, and how to open the UI."""
    report = Path(summary["eval_report"])
    table = report.read_text(encoding="utf-8") if report.is_file() else f"(no {report})"
    verdict = "promoted" if summary["promotion"]["promoted"] else "not promoted"
    return "\n".join([
        "", "=" * 72,
        f"registered {summary['model']} version {summary['version']}: {verdict} "
        f"({summary['promotion']['reason']})",
        f"champion: version {summary['champion']}" if summary["champion"] else "champion: none yet",
        f"aha step: {summary['aha_step']}", "",
        table.strip(), "",
        f"MLflow store: {summary['tracking_uri']}",
        "open the UI:  make ui   (http://127.0.0.1:5000/#/experiments?workflowType=machine_learning)",
        f"serve it:     reflect serve   (models:/{summary['model']}@champion on 127.0.0.1)",
        "=" * 72,
    ])
