"""Every section of params.yaml, checked at once before the pipeline starts any stage.

`reflect run` must refuse a params file with an unknown key or a wrong type, naming it, before it
spends minutes on the first stages: `load_pipeline_params` builds each stage's frozen config
(`components.config.build`, strict) and refuses unknown top-level sections too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from components.config import ConfigError, build, read_params
from components.data.cleaning import CleanConfig
from components.data.synthetic import TaskConfig
from components.evaluation.config import EvaluateConfig
from components.training.bootstrap import BootstrapConfig
from components.registry.promotion import PromoteConfig
from components.registry.pyfunc import RegisterConfig
from components.training.config import TrainConfig


@dataclass(frozen=True)
class PipelineParams:
    """One frozen config per stage (params.yaml sections of the same names)."""

    task: TaskConfig
    clean: CleanConfig
    bootstrap: BootstrapConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    register: RegisterConfig
    promote: PromoteConfig


SECTIONS = {"task": TaskConfig, "clean": CleanConfig, "bootstrap": BootstrapConfig, "train": TrainConfig,
            "evaluate": EvaluateConfig, "register": RegisterConfig, "promote": PromoteConfig}


def load_pipeline_params(path: Path | str = "params.yaml") -> PipelineParams:
    """All stage configs from `path`; an unknown section, key or a wrong type is a one-line `ConfigError`."""
    name = Path(path).name
    data = read_params(path)
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{name}: unknown section {unknown[0]!r} (known sections: {', '.join(sorted(SECTIONS))})")
    built = {}
    for section, cls in SECTIONS.items():
        try:
            built[section] = build(cls, data.get(section), f"{name}:{section}")
        except ConfigError:
            raise
        except (ValueError, TypeError) as exc:     # a __post_init__ range check
            raise ConfigError(f"{name}:{section}: {exc}") from None
    built["clean"] = replace(built["clean"], task=built["task"])      # clean reads the top-level task
    built["promote"] = built["promote"].with_efforts(built["evaluate"].efforts)
    if built["promote"].method != built["register"].selector:
        raise ConfigError(f"{name}: promote.method {built['promote'].method!r} differs from register.selector "
                          f"{built['register'].selector!r}; the gate must judge the selector that is served")
    val = built["promote"].validation_set
    if val and val not in built["evaluate"].eval_sets:
        raise ConfigError(f"{name}: promote.validation_set {val!r} is not in evaluate.eval_sets "
                          f"{built['evaluate'].eval_sets}; add it there or set promote.validation_set to ''")
    return PipelineParams(**built)
