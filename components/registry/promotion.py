"""The promotion gate: move alias `champion` to a challenger only when it is better.

Rule (params.yaml section `promote`): on the gate's eval set, the challenger's accuracy with the
served selector (`method`, which must equal `register.selector`) at the gate's effort (N from
`evaluate.efforts`; `eval/synthetic/sprm_best_at_8` by default) must beat the champion's by at
least `margin`, and its pass@1 may fall by at most `pass1_tolerance`. With no champion yet, the
challenger must reach the absolute `floor`. Whatever the champion, a challenger whose accuracy at
effort high is below its accuracy at medium on the validation set (`validation_set`) is refused:
a user who pays for more samples must never get a worse answer. Both sides
must have been evaluated on the same eval set and samples: every version carries its gate values
and the digest of the eval config that produced them (`eval_fingerprint`) as tags, and a champion
measured under another config is not compared (the promote flow re-evaluates it first).

`decide` is pure. `promote` holds an exclusive file lock while it reads the champion, decides and
writes, so two promotions at once serialise and leave exactly one consistent champion; it records
the decision, the values and the reason as tags on the challenger's version and prints them. Only
aliases are used (no deprecated stages). A rejected challenger leaves the champion untouched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from components.config import ConfigError
from components.console import say
from components.evaluation.report import metric_name
from components.evaluation.config import EffortsConfig
from components.inference.selection import SERVED_SELECTORS
from components.inference.solve import EFFORTS
from components.tracking.connection import RetryPolicy, with_retries
from components.tracking.locks import exclusive_lock
from components.tracking.lineage import value_digest
from components.tracking.store import lock_path

CHAMPION = "champion"
TAG_PREFIX = "promotion."
FINGERPRINT_TAG = "eval_fingerprint"
EFFORT_NAMES = tuple(EFFORTS)   # low, medium, high
MODEL_DIGEST = "model_digest"     # metrics.json key and version tag: the content digest of the model
_EPS = 1e-9                                          # float noise in metric differences


@dataclass(frozen=True)
class PromoteConfig:
    """params.yaml section `promote`."""

    eval_set: str = "synthetic"       # the set both versions are measured on
    method: str = "sprm_best"         # the gate's selector: the served one (register.selector)
    effort: str = "medium"            # low | medium | high (N from evaluate.efforts)
    validation_set: str = "synthetic_val"   # where accuracy at high must be >= at medium ("" = no check)
    # how far high may fall below medium there and still count as "not worse": one problem in 500.
    # Medium's figure is a mean over random N-subsets, high's the one all-N value, so they differ
    # by less than one problem's weight by chance alone.
    scaling_tolerance: float = 0.002
    margin: float = 0.01              # challenger must beat the champion by at least this
    pass1_tolerance: float = 0.02     # ... and may lose at most this much pass@1
    floor: float = 0.3                # the first champion needs at least this gate value
    lock_timeout_s: float = 120.0     # longest wait for a concurrent promotion to finish
    retries: int = 3                  # bounded retries while the registry server is down
    retry_wait_s: float = 2.0
    timeout_s: float = 5.0
    efforts: EffortsConfig = field(default_factory=EffortsConfig, metadata={"derived": "evaluate.efforts"})

    def __post_init__(self) -> None:
        if self.effort not in EFFORT_NAMES:
            raise ConfigError(f"promote.effort: {self.effort!r} is not one of {list(EFFORT_NAMES)}")
        if self.method not in SERVED_SELECTORS:
            raise ConfigError(f"promote.method: {self.method!r} is not one of {', '.join(SERVED_SELECTORS)}")
        if self.margin < 0 or self.pass1_tolerance < 0 or self.scaling_tolerance < 0 or not 0 <= self.floor <= 1:
            raise ConfigError("promote: margin, pass1_tolerance and scaling_tolerance must be >= 0 and floor "
                              "in [0, 1]")
        if self.lock_timeout_s <= 0:
            raise ConfigError(f"promote.lock_timeout_s must be > 0, got {self.lock_timeout_s}")

    def with_efforts(self, efforts: EffortsConfig) -> PromoteConfig:
        """The same gate with N per effort taken from `evaluate.efforts`."""
        return replace(self, efforts=efforts)

    @property
    def n(self) -> int:
        return getattr(self.efforts, self.effort)

    @property
    def gate_metric(self) -> str:
        """`eval/<set>/<method>_at_<N>`, the evaluation's metric name (components.evaluation.report)."""
        return metric_name(self.eval_set, self.method, self.n)

    @property
    def scaling_metrics(self) -> tuple[str, str] | None:
        """(accuracy at medium, accuracy at high) on the validation set, or None without one."""
        if not self.validation_set:
            return None
        return tuple(metric_name(self.validation_set, self.method, getattr(self.efforts, e))  # type: ignore[return-value]
                     for e in ("medium", "high"))

    @property
    def pass1_metric(self) -> str:
        return metric_name(self.eval_set, "pass", 1)

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(self.retries, self.retry_wait_s, self.timeout_s)


@dataclass(frozen=True)
class Decision:
    """The gate's verdict; `values` holds every number it looked at (recorded as tags)."""

    promote: bool
    reason: str
    values: dict[str, Any] = field(default_factory=dict)


def _value(metrics: Mapping[str, Any] | None, key: str) -> float | None:
    if not metrics or metrics.get(key) is None:
        return None
    try:
        v = float(metrics[key])
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def decide(challenger: Mapping[str, Any], champion: Mapping[str, Any] | None, cfg: PromoteConfig) -> Decision:
    """Promote or not, and why (pure; see the module docstring for the rule).

    >>> cfg = PromoteConfig(margin=0.02, pass1_tolerance=0.01, floor=0.3, validation_set="")
    >>> g, p = cfg.gate_metric, cfg.pass1_metric
    >>> decide({g: 0.70, p: 0.50}, {g: 0.60, p: 0.50}, cfg).promote
    True
    >>> decide({g: 0.61, p: 0.50}, {g: 0.60, p: 0.50}, cfg).reason
    'eval/synthetic/sprm_best_at_8 0.6100 vs champion 0.6000: gain +0.0100 < margin 0.0200'
    >>> decide({g: 0.25, p: 0.20}, None, cfg).promote
    False
    """
    gate, p1 = cfg.gate_metric, cfg.pass1_metric
    c_gate, c_p1 = _value(challenger, gate), _value(challenger, p1)
    values: dict[str, Any] = {"gate_metric": gate, "challenger_gate": c_gate, "challenger_pass1": c_p1,
                              "margin": cfg.margin, "pass1_tolerance": cfg.pass1_tolerance, "floor": cfg.floor}
    if c_gate is None or c_p1 is None:
        missing = gate if c_gate is None else p1
        return Decision(False, f"challenger has no {missing} (evaluate it on '{cfg.eval_set}' with a trained "
                               "SPRM head first)", values)
    if cfg.scaling_metrics is not None:
        at_medium, at_high = (_value(challenger, k) for k in cfg.scaling_metrics)
        values.update(validation_medium=at_medium, validation_high=at_high)
        if at_medium is None or at_high is None:
            missing = cfg.scaling_metrics[0] if at_medium is None else cfg.scaling_metrics[1]
            return Decision(False, f"challenger has no {missing} (add '{cfg.validation_set}' to evaluate.eval_sets, "
                                   "or set promote.validation_set to '' to skip the check)", values)
        values.update(scaling_tolerance=cfg.scaling_tolerance)
        if at_high < at_medium - cfg.scaling_tolerance - _EPS:
            return Decision(False, f"effort high answers worse than medium on {cfg.validation_set} (by more than "
                                   f"scaling_tolerance {cfg.scaling_tolerance:g}): "
                                   f"{cfg.scaling_metrics[1]} {at_high:.4f} < {cfg.scaling_metrics[0]} "
                                   f"{at_medium:.4f}", values)
    h_gate, h_p1 = _value(champion, gate), _value(champion, p1)
    if champion is None:
        ok = c_gate >= cfg.floor - _EPS
        cmp = ">=" if ok else "<"
        return Decision(ok, f"first model: {gate} {c_gate:.4f} {cmp} floor {cfg.floor:.4f}", values)
    values.update(champion_gate=h_gate, champion_pass1=h_p1)
    if h_gate is None or h_p1 is None:
        ok = c_gate >= cfg.floor - _EPS
        return Decision(ok, f"champion has no recorded {gate if h_gate is None else p1}; judged on the floor: "
                            f"{c_gate:.4f} {'>=' if ok else '<'} {cfg.floor:.4f}", values)
    gain, drop = c_gate - h_gate, h_p1 - c_p1
    values.update(gain=gain, pass1_drop=drop)
    problems = []
    if gain < cfg.margin - _EPS:
        problems.append(f"gain {gain:+.4f} < margin {cfg.margin:.4f}")
    if drop > cfg.pass1_tolerance + _EPS:
        problems.append(f"pass@1 fell {drop:.4f} > tolerance {cfg.pass1_tolerance:.4f} "
                        f"({c_p1:.4f} vs {h_p1:.4f})")
    head = f"{gate} {c_gate:.4f} vs champion {h_gate:.4f}"
    if problems:
        return Decision(False, f"{head}: " + "; ".join(problems), values)
    return Decision(True, f"{head}: gain {gain:+.4f} >= margin {cfg.margin:.4f}, pass@1 {c_p1:.4f} "
                          f"(champion {h_p1:.4f}, tolerance {cfg.pass1_tolerance:.4f})", values)


def gate_tags(metrics: Mapping[str, Any], cfg: PromoteConfig, fingerprint: str | None) -> dict[str, str]:
    """The values a version carries so that it can later be compared as champion."""
    tags = {k: repr(float(metrics[k])) for k in (cfg.gate_metric, cfg.pass1_metric) if _value(metrics, k) is not None}
    if fingerprint:
        tags[FINGERPRINT_TAG] = fingerprint
    return tags


def recorded_metrics(version_tags: Mapping[str, str], cfg: PromoteConfig) -> dict[str, float]:
    """Gate values recorded on a version by an earlier promotion (see `gate_tags`)."""
    return {k: float(version_tags[k]) for k in (cfg.gate_metric, cfg.pass1_metric) if k in version_tags}


def eval_fingerprint(eval_cfg: Any, task_cfg: Any, eval_sets: list[str]) -> str:
    """Digest of everything that fixes an evaluation's problems and samples (config, task, sets)."""
    return value_digest({"evaluate": eval_cfg, "task": task_cfg, "eval_sets": sorted(eval_sets)})


class MetricsMismatchError(ValueError):
    """The metrics offered for a version were measured on another model (or on an unknown one)."""


def check_metrics_belong(metrics: Mapping[str, Any], version_tags: Mapping[str, str], name: str,
                         version: str) -> None:
    """Refuse metrics whose `model_digest` is missing or differs from the version's `model_digest` tag."""
    measured, registered = metrics.get(MODEL_DIGEST), version_tags.get(MODEL_DIGEST)
    if not measured:
        raise MetricsMismatchError(f"the evaluation metrics do not say which model they measured (no "
                                   f"'{MODEL_DIGEST}'); run `reflect evaluate` on {name} version {version} again")
    if registered and measured != registered:
        raise MetricsMismatchError(f"the evaluation metrics are of model {measured}, but {name} version {version} "
                                   f"is {registered}; evaluate version {version} and promote with its metrics")


def link_metrics_to_model(client, name: str, version: str, metrics: Mapping[str, Any]) -> int:
    """Attach the version's evaluation metrics (`eval/...`, finite numbers) to its logged model.

    They are logged on the version's registration run with the logged model's id, so the model's
    page in MLflow (and `mlflow.search_logged_models`) shows what it scored. Returns how many.
    """
    import time

    from mlflow.entities import Metric

    mv = client.get_model_version(name, str(version))
    # the SQL registry keeps the logged model only in the version's source (`models:/m-<id>`)
    model_id = mv.model_id or (mv.source[len("models:/"):] if (mv.source or "").startswith("models:/m-") else None)
    if not model_id or not mv.run_id:               # registered from a bare run: nothing to link to
        return 0
    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, 0, model_id=model_id) for k, v in sorted(metrics.items())
             if k.startswith("eval/") and isinstance(v, (int, float)) and not isinstance(v, bool)
             and math.isfinite(float(v))]
    for i in range(0, len(batch), 1000):            # the store's batch limit
        client.log_batch(mv.run_id, metrics=batch[i:i + 1000])
    return len(batch)


def current_champion(client, name: str):
    """The version holding alias `champion`, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def champion_to_reevaluate(client, name: str, fingerprint: str | None) -> str | None:
    """The champion's version when its recorded gate values come from another eval config, else None."""
    champ = current_champion(client, name)
    if champ is None or fingerprint is None:
        return None
    return str(champ.version) if champ.tags.get(FINGERPRINT_TAG) != fingerprint else None


def promote(name: str, challenger_version: str | int, challenger_metrics: Mapping[str, Any], cfg: PromoteConfig,
            client, *, eval_fingerprint: str | None = None,
            champion_metrics: Mapping[str, Mapping[str, Any]] | None = None,
            log: Callable[[str], None] = say, on_locked: Callable[[], None] | None = None) -> Decision:
    """Decide under the promotion lock and move alias `champion` only on a `promote` decision.

    `challenger_metrics` are the evaluation's flat metrics; `eval_fingerprint` the digest of the eval
    config that produced them. `champion_metrics` maps a champion version to metrics measured now
    (by the flow, when its recorded ones come from another config); otherwise the champion's
    recorded tags are used. `on_locked` is called while the lock is held (tests use it to check
    that two promotions never overlap). Returns the decision, also recorded as version tags.
    """
    version = str(challenger_version)
    uri = client.tracking_uri

    def locked() -> Decision:
        with exclusive_lock(lock_path(uri, name), cfg.lock_timeout_s):
            if on_locked is not None:
                on_locked()
            return _decide_and_record(name, version, challenger_metrics, cfg, client, eval_fingerprint,
                                      champion_metrics or {})

    decision = with_retries(locked, uri, cfg.retry, log)
    verdict = "PROMOTED to champion" if decision.promote else "not promoted"
    log(f"promote: {name} version {version} {verdict}: {decision.reason}")
    return decision


def _decide_and_record(name: str, version: str, metrics: Mapping[str, Any], cfg: PromoteConfig, client,
                       fingerprint: str | None, measured: Mapping[str, Mapping[str, Any]]) -> Decision:
    mv = client.get_model_version(name, version)       # fails clearly on an unknown version
    if MODEL_DIGEST in metrics:                        # metrics.json says which model it measured
        check_metrics_belong(metrics, mv.tags or {}, name, version)
    champ = current_champion(client, name)
    if champ is not None and str(champ.version) == version:   # a re-run: keep the tags of the first decision
        return Decision(False, f"version {version} is already the champion", {"champion_version": version})
    champ_metrics = None
    stale = False
    if champ is not None:
        if str(champ.version) in measured:
            champ_metrics = dict(measured[str(champ.version)])
        else:
            stale = fingerprint is not None and champ.tags.get(FINGERPRINT_TAG) != fingerprint
            champ_metrics = recorded_metrics(champ.tags, cfg)
    if stale:
        decision = Decision(False, f"champion version {champ.version} was measured under another eval config "
                                   f"({champ.tags.get(FINGERPRINT_TAG)} != {fingerprint}); re-evaluate it "
                                   "with the same config before comparing", {"champion_version": str(champ.version)})
    else:
        decision = decide(metrics, champ_metrics, cfg)
        decision.values["champion_version"] = str(champ.version) if champ is not None else None
    tags = {**gate_tags(metrics, cfg, fingerprint),
            f"{TAG_PREFIX}decision": "promote" if decision.promote else "reject",
            f"{TAG_PREFIX}reason": decision.reason[:4900],
            f"{TAG_PREFIX}values": json.dumps(decision.values, sort_keys=True, default=str)[:4900]}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, version)
        now = current_champion(client, name)
        if now is None or str(now.version) != version:
            raise RuntimeError(f"{name}: alias {CHAMPION} should point at version {version} but points at "
                               f"{now.version if now else 'nothing'}; another writer bypassed the promotion lock")
    return decision
