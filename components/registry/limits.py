"""What one serving request may ask for: bounded work, finite numbers, one-line refusals.

A request's cost is problems x candidates sampled; an unbounded `effort` ("1000000") or a batch of
long problems would run the scoring server out of memory, or past its request timeout while the
worker still holds the model (every later request then times out too). `ServingLimits` (params
section `register.serving`, recorded in the registered model's `model_config`) bounds each request;
`check_request` turns the raw request params into checked values or raises `RequestRefused`, an
`MlflowException` with `INVALID_PARAMETER_VALUE`, which MLflow's scoring server answers with HTTP
400. The refusal's message is one line naming the parameter and the limit, never a stack trace.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from components.config import ConfigError

DEFAULT_EFFORT = "medium"
_DIGITS = re.compile(r"[0-9]+")


class RequestRefused(MlflowException):
    """A request outside the serving limits (HTTP 400); `message` stays the one line it was made with.

    MLflow's scoring server rewrites `message` of an exception raised by `predict` to prepend the
    whole request data and a newline; this class keeps its own line, so the reply names the
    parameter and the limit and nothing else.
    """

    def __init__(self, message: str) -> None:
        line = " ".join(str(message).split())
        self._line = line
        super().__init__(line, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:            # type: ignore[override]
        return self._line

    @message.setter
    def message(self, _value: str) -> None:
        pass                             # keep the one line (see the class docstring)


@dataclass(frozen=True)
class ServingLimits:
    """params.yaml `register.serving`: the most one request may ask of the served model."""

    max_candidates: int | None = None    # N per problem; None = evaluate.max_n (set at registration)
    max_problems: int = 256              # problems per request
    max_samples: int = 8192              # problems x N per request (memory and time bound)
    max_problem_chars: int = 4000        # per problem (= clean.format.max_problem_chars)
    min_temperature: float = 0.0
    max_temperature: float = 2.0
    max_seed: int = 2**63 - 1            # seeds in [0, max_seed] (the signature's `long`)

    def __post_init__(self) -> None:
        for name in ("max_problems", "max_samples", "max_problem_chars", "max_seed"):
            if getattr(self, name) < 1:
                raise ConfigError(f"register.serving.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_candidates is not None and self.max_candidates < 1:
            raise ConfigError(f"register.serving.max_candidates must be >= 1, got {self.max_candidates}")
        if not (math.isfinite(self.min_temperature) and math.isfinite(self.max_temperature)
                and 0 <= self.min_temperature <= self.max_temperature):
            raise ConfigError("register.serving: need 0 <= min_temperature <= max_temperature, both finite")

    def resolved(self, max_n: int) -> ServingLimits:
        """These limits with `max_candidates` filled in from `evaluate.max_n` when unset."""
        from dataclasses import replace

        return self if self.max_candidates is not None else replace(self, max_candidates=int(max_n))

    def as_config(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, data: dict[str, Any] | None, default_max_n: int = 32) -> ServingLimits:
        from components.config import build

        return build(cls, dict(data or {}), "model_config.serving").resolved(default_max_n)


@dataclass(frozen=True)
class CheckedRequest:
    """A request's parameters after `check_request`: every value inside the limits."""

    effort: str | int
    n: int
    temperature: float | None
    seed: int
    return_candidates: bool
    search: str = "best_of_n"


def parse_effort(value: Any) -> str | int:
    """`low`/`medium`/`high`, or a positive number of candidates (int or ASCII digit string)."""
    from components.inference.solve import effort_to_n

    if isinstance(value, bool):
        raise RequestRefused(f"param 'effort': expected low, medium, high or a number, got {value!r}")
    effort: str | int = value
    if isinstance(value, str):
        effort = value.strip().lower()
        if _DIGITS.fullmatch(effort):
            effort = int(effort)
    elif isinstance(value, float) and value.is_integer():
        effort = int(value)
    if not isinstance(effort, (str, int)):
        raise RequestRefused(f"param 'effort': expected low, medium, high or a number, got {value!r}")
    try:
        effort_to_n(effort)
    except (ValueError, TypeError) as exc:
        raise RequestRefused(f"param 'effort': {exc}") from None
    return effort


def check_request(problems: list[str], params: dict[str, Any], limits: ServingLimits) -> CheckedRequest:
    """Check a request against `limits`; the first violation raises `RequestRefused` (one line)."""
    from components.inference.solve import effort_to_n

    if len(problems) > limits.max_problems:
        raise RequestRefused(f"{len(problems)} problems in one request; at most {limits.max_problems} "
                             "(register.serving.max_problems)")
    for i, p in enumerate(problems):
        if len(p) > limits.max_problem_chars:
            raise RequestRefused(f"problem {i}: {len(p)} characters; at most {limits.max_problem_chars} "
                                 "(register.serving.max_problem_chars)")
    effort = parse_effort(params.get("effort") or DEFAULT_EFFORT)
    n = effort_to_n(effort)
    cap = limits.max_candidates if limits.max_candidates is not None else n
    if n > cap:
        raise RequestRefused(f"param 'effort': {n} candidates; at most {cap} per problem "
                             "(register.serving.max_candidates)")
    if len(problems) * n > limits.max_samples:
        raise RequestRefused(f"{len(problems)} problems x {n} candidates = {len(problems) * n} samples; at most "
                             f"{limits.max_samples} per request (register.serving.max_samples): send fewer problems")
    temperature = None
    raw_t = params.get("temperature")
    if raw_t is not None:
        try:
            temperature = float(raw_t)
        except (TypeError, ValueError, OverflowError):
            raise RequestRefused(f"param 'temperature': expected a number, got {raw_t!r}") from None
        if isinstance(raw_t, bool) or not math.isfinite(temperature) or not (
                limits.min_temperature <= temperature <= limits.max_temperature):
            raise RequestRefused(f"param 'temperature': {raw_t!r} is not a finite number in "
                                 f"[{limits.min_temperature:g}, {limits.max_temperature:g}]")
    raw_seed = params.get("seed")
    seed = 0
    if raw_seed is not None:
        if isinstance(raw_seed, bool) or not (
                isinstance(raw_seed, int) or (isinstance(raw_seed, float) and raw_seed.is_integer())
                or (isinstance(raw_seed, str) and _DIGITS.fullmatch(raw_seed.strip()))):
            raise RequestRefused(f"param 'seed': expected an integer in [0, {limits.max_seed}], got {raw_seed!r}")
        seed = int(raw_seed.strip()) if isinstance(raw_seed, str) else int(raw_seed)
        if not 0 <= seed <= limits.max_seed:
            raise RequestRefused(f"param 'seed': {seed} is outside [0, {limits.max_seed}]")
    from components.inference.beam import SEARCHES

    search = params.get("search") or "best_of_n"
    if not isinstance(search, str) or search.strip().lower() not in SEARCHES:
        raise RequestRefused(f"param 'search': expected {' or '.join(SEARCHES)}, got {search!r}")
    raw_rc = params.get("return_candidates", False)
    if not isinstance(raw_rc, bool) and raw_rc not in (0, 1):
        raise RequestRefused(f"param 'return_candidates': expected true or false, got {raw_rc!r}")
    return CheckedRequest(effort, n, temperature, seed, bool(raw_rc), search.strip().lower())
