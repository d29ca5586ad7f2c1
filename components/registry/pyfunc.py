"""The registered model: an MLflow pyfunc bundling policy, SPRM head and tokenizer.

The model directory (HF causal LM + tokenizer + `sprm_head.safetensors`) is logged as the
artifact `reflective_model`; `load_context` loads it with `ReflectiveModel.load`. `predict` is the
paper's test-time scaling (docs/method.md section 4, eq. 7): sample N candidates per problem at the
requested effort, score each with the SPRM head, answer from the one the configured selector
picks (`register.selector`: `sprm_best`, the paper's best-of-N, or `sprm_vote`, `majority`,
`logprob_best`; chosen on the validation split, see docs in README "Choosing the served selector").

    input   DataFrame with a string column `problem` (or a list of problem strings)
    params  effort "low" | "medium" | "high" | a number as a string ("8")   (default "medium")
            temperature (default: the model's generation config), seed (default 0),
            return_candidates (default false), search "best_of_n" | "beam" (default "best_of_n":
            beam spends the effort on SPRM-guided step-level beam search, components/inference/beam.py)
    output  DataFrame: problem, answer, score, chosen, n, head_trained [, candidates (JSON)]
    limits  `register.serving` (components/registry/limits.py): N per problem, problems x N, problem
            length, temperature in [0, 2], seed range; a request outside them is refused (HTTP 400, one line)

Served with `mlflow models serve -m models:/reflective-math@champion --env-manager local`, a
request carries its own effort: `{"dataframe_records": [{"problem": "..."}], "params": {"effort": "low"}}`.
The `components` package travels with the model (`code_paths`), so a served model runs the code it
was registered with.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

import mlflow.pyfunc
from mlflow.exceptions import MlflowException

from components.config import ConfigError
from components.console import say
from components.tracking.connection import RetryPolicy, with_retries
from components.tracking.lineage import dir_digest
from components.registry.limits import DEFAULT_EFFORT, RequestRefused, ServingLimits, check_request
from components.tracking.store import ensure_experiment

MODEL_ARTIFACT = "reflective_model"
LOGGED_NAME = "model"
# Packages the pyfunc imports at load and predict time (pinned to what registered it).
RUNTIME_PACKAGES = ("mlflow", "torch", "transformers", "tokenizers", "safetensors", "accelerate",
                    "numpy", "pandas", "pyyaml", "math-verify")
EXAMPLE_PROBLEM = "Compute (3 + 4) * 2."


@dataclass(frozen=True)
class RegisterConfig:
    """params.yaml section `register`: where and under which name a checkpoint is registered."""

    name: str = "reflective-math"         # registered model name
    experiment: str = "reflective-math"   # experiment of the registration run
    alias: str = "challenger"             # alias set on every new version
    retries: int = 3                      # bounded retries while the tracking server is down
    retry_wait_s: float = 2.0
    timeout_s: float = 5.0                # per health probe
    device: str = "cpu"                   # device the served model loads on
    selector: str = "sprm_best"           # how the served model picks among its N candidates
    serving: ServingLimits = field(default_factory=ServingLimits)   # what one request may ask for

    def __post_init__(self) -> None:
        from components.inference.selection import SERVED_SELECTORS

        if not self.name.strip() or not self.alias.strip():
            raise ConfigError("register.name and register.alias must be non-empty")
        if self.selector not in SERVED_SELECTORS:
            raise ConfigError(f"register.selector: {self.selector!r} is not one of {', '.join(SERVED_SELECTORS)}")

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(self.retries, self.retry_wait_s, self.timeout_s)


def _bad_input(message: str) -> MlflowException:
    return RequestRefused(message)


def problems_from_input(model_input: Any) -> list[str]:
    """Problem texts from a DataFrame (column `problem`), a dict of lists, a Series or a list of str."""
    if isinstance(model_input, pd.DataFrame):
        if "problem" in model_input.columns:
            values = model_input["problem"].tolist()
        elif len(model_input.columns) == 1:      # a plain list, after MLflow's schema enforcement
            values = model_input.iloc[:, 0].tolist()
        else:
            raise _bad_input(f"input needs a column 'problem'; got columns {list(model_input.columns)}")
        # {"problem": [..]} arrives as one row holding the whole list
        values = [v for cell in values for v in (cell if isinstance(cell, (list, tuple)) else [cell])]
    elif isinstance(model_input, pd.Series):
        values = model_input.tolist()
    elif isinstance(model_input, Mapping):
        if "problem" not in model_input:
            raise _bad_input(f"input needs a key 'problem'; got keys {sorted(model_input)}")
        values = model_input["problem"]
        values = [values] if isinstance(values, str) else list(values)
    elif isinstance(model_input, str):
        values = [model_input]
    else:
        try:
            values = list(model_input)
        except TypeError:
            raise _bad_input(f"input must be a DataFrame with a 'problem' column or a list of strings, "
                             f"got {type(model_input).__name__}") from None
    for i, v in enumerate(values):
        if not isinstance(v, str) or not v.strip():
            raise _bad_input(f"problem {i}: expected a non-empty string, got {v!r}")
    return values


class ReflectivePyfunc(mlflow.pyfunc.PythonModel):
    """Best-of-N with the SPRM head behind MLflow's pyfunc interface (see the module docstring)."""

    def load_context(self, context) -> None:
        from components.model.reflective import ReflectiveModel

        config = dict(context.model_config or {})
        check_digest(context.artifacts[MODEL_ARTIFACT], config.get("model_digest"), "the registered model")
        self._rm = ReflectiveModel.load(context.artifacts[MODEL_ARTIFACT], device=config.get("device", "cpu"))
        self._limits = ServingLimits.from_config(config.get("serving"))
        # versions registered before the selector was configurable answered by SPRM best-of-N
        self._selector = str(config.get("selector", "sprm_best"))
        self._lock = threading.Lock()   # one generate at a time: seeded sampling stays reproducible

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        # The DataFrame hint is what MLflow hands over after its schema check (it also keeps MLflow's
        # type-hint validation off); a plain list of strings works as well (problems_from_input).
        from components.inference.beam import SearchUnavailable
        from components.inference.solve import solve
        from components.model.reflective import PromptError

        params = dict(params or {})
        problems = problems_from_input(model_input)
        request = check_request(problems, params, self._limits)
        sampling = self._rm.default_sampling()
        if request.temperature is not None:
            sampling = replace(sampling, temperature=request.temperature)
        try:
            with self._lock:
                solutions = solve(self._rm, problems, request.effort, sampling, seed=request.seed,
                                  selector=self._selector, search=request.search)
        except (PromptError, SearchUnavailable) as exc:    # a prompt too long; beam on a model that cannot
            raise _bad_input(str(exc)) from None
        return solutions_frame(solutions, request.return_candidates)


def solutions_frame(solutions, with_candidates: bool) -> pd.DataFrame:
    """One row per problem; `candidates` is a JSON list (answer, score, step_scores, text) when asked."""
    rows = []
    for sol in solutions:
        d = sol.as_dict(with_candidates=with_candidates)
        row = {k: d[k] for k in ("problem", "answer", "score", "chosen", "n", "head_trained")}
        if with_candidates:
            row["candidates"] = json.dumps(d["candidates"])
        rows.append(row)
    return pd.DataFrame(rows, columns=["problem", "answer", "score", "chosen", "n", "head_trained",
                                       *(["candidates"] if with_candidates else [])])


def default_temperature(model_dir: Path) -> float:
    """The temperature in `generation_config.json` (0.0 when it says greedy, 1.0 when absent)."""
    path = Path(model_dir) / "generation_config.json"
    if not path.is_file():
        return 1.0
    gc = json.loads(path.read_text(encoding="utf-8"))
    if not gc.get("do_sample", False):
        return 0.0
    return float(gc.get("temperature") or 1.0)


def model_signature(temperature: float):
    """Input: one string column (`problem`; unnamed so that a plain list of strings passes MLflow's
    schema check too); params effort/temperature/seed/return_candidates with defaults."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string")]),
        outputs=Schema([ColSpec("string", "problem"), ColSpec("string", "answer", required=False),
                        ColSpec("double", "score"), ColSpec("long", "chosen"), ColSpec("long", "n"),
                        ColSpec("boolean", "head_trained"), ColSpec("string", "candidates", required=False)]),
        params=ParamSchema([ParamSpec("effort", "string", DEFAULT_EFFORT),
                            ParamSpec("temperature", "double", float(temperature)),
                            ParamSpec("seed", "long", 0),
                            ParamSpec("return_candidates", "boolean", False),
                            ParamSpec("search", "string", "best_of_n")]))


def pip_requirements() -> list[str]:
    """The runtime packages pinned to the installed versions, with the extras this project asks for.

    Extras come from the project's own requirement list (`math-verify[antlr4_9_3]`: the grader's
    parser needs that runtime); a local build tag is dropped (`torch==2.13.0`, not `2.13.0+cpu`, so
    a GPU host installs its own build of the same release). A package not installed stays unpinned.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    try:
        declared = [Requirement(r) for r in metadata.requires("reflective-math") or ()]
    except metadata.PackageNotFoundError:         # running from a bare code copy (a served model)
        declared = []
    extras = {canonicalize_name(r.name): sorted(r.extras) for r in declared if r.marker is None}
    out = []
    for pkg in RUNTIME_PACKAGES:
        wanted = extras.get(canonicalize_name(pkg))
        name = f"{pkg}[{','.join(wanted)}]" if wanted else pkg
        try:
            out.append(f"{name}=={Version(metadata.version(pkg)).public}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def register_model(model_dir: Path | str, name: str | None, tracking_uri: str, tags: Mapping[str, Any] | None = None,
                   cfg: RegisterConfig = RegisterConfig(), log=say) -> str:
    """Log `model_dir` as a pyfunc in a run, register it as a new version of `name`, tag it, alias it.

    `tags` (data_version, git_commit, training_run_id, aha_step, ...) go on the run and the version;
    `model_digest` (content digest of `model_dir`) is added. Returns the new version (a string).
    A tracking server that is down raises `RegistryUnavailableError` after `cfg.retries` attempts
    (an attempt cut off half-way may leave an extra, untagged version behind).
    """
    from mlflow import MlflowClient

    from components.model.checkpoint import check_model_dir, head_file

    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    name = name or cfg.name
    all_tags = {k: str(v) for k, v in (tags or {}).items() if v is not None}
    all_tags.update(model_digest=dir_digest(model_dir), head_trained=str(head_file(model_dir) is not None).lower(),
                    selector=cfg.selector)
    code_dir = Path(__file__).resolve().parents[1]     # the `components` package
    limits = cfg.serving.resolved(_default_max_n())

    def log_and_register() -> str:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment_id=ensure_experiment(tracking_uri, cfg.experiment))
        with mlflow.start_run(run_name=f"register-{model_dir.name}") as run:
            mlflow.set_tags({**all_tags, "stage": "register"})
            info = mlflow.pyfunc.log_model(
                name=LOGGED_NAME, python_model=ReflectivePyfunc(),
                artifacts={MODEL_ARTIFACT: str(model_dir)},
                signature=model_signature(default_temperature(model_dir)),
                input_example=(pd.DataFrame({"problem": [EXAMPLE_PROBLEM]}), {"effort": "low"}),
                code_paths=[str(code_dir)], pip_requirements=pip_requirements(),
                model_config={"device": cfg.device, "serving": limits.as_config(),
                              "selector": cfg.selector, "model_digest": all_tags["model_digest"]},
                registered_model_name=name)
            version = str(info.registered_model_version)
            client = MlflowClient(tracking_uri)
            for key, value in {**all_tags, "registration_run_id": run.info.run_id}.items():
                client.set_model_version_tag(name, version, key, value)
            client.set_registered_model_alias(name, cfg.alias, version)
        return version

    version = with_retries(log_and_register, tracking_uri, cfg.retry, log)
    log(f"register: {name} version {version} <- {model_dir} (alias {cfg.alias})")
    return version


def _default_max_n() -> int:
    """`evaluate.max_n`'s default: the serving cap on candidates when `register.serving` leaves it unset."""
    from components.evaluation.config import EvaluateConfig

    return EvaluateConfig().max_n


class ModelDigestError(RuntimeError):
    """The model files differ from the ones registered (a damaged or replaced artifact)."""


def check_digest(model_dir: Path | str, expected: str | None, what: str) -> None:
    """Refuse `model_dir` when its content digest differs from `expected` (skipped when None:
    versions registered before the digest was recorded)."""
    if expected and (actual := dir_digest(model_dir)) != expected:
        raise ModelDigestError(f"{model_dir}: the files are not {what} (content digest {actual}, registered "
                               f"{expected}); download the version again or register the model anew")


def download_model_dir(name: str, ref: str, tracking_uri: str, dst: Path | str) -> Path:
    """Download version or alias `ref` of `name` and return its model directory (for evaluation)."""
    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    uri = f"models:/{name}@{ref}" if not str(ref).isdigit() else f"models:/{name}/{ref}"
    local = Path(download_artifacts(artifact_uri=uri, dst_path=str(dst), tracking_uri=tracking_uri))
    artifacts = Model.load(str(local)).flavors.get("python_function", {}).get("artifacts", {})
    rel = artifacts.get(MODEL_ARTIFACT, {}).get("path")
    model_dir = local / rel if rel else local / "missing"
    if not model_dir.is_dir():
        raise FileNotFoundError(f"{uri}: no {MODEL_ARTIFACT} artifact in the downloaded model at {local}")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    mv = (client.get_model_version(name, str(ref)) if str(ref).isdigit()
          else client.get_model_version_by_alias(name, str(ref)))
    check_digest(model_dir, (mv.tags or {}).get("model_digest"), f"{name} version {mv.version}")
    return model_dir
