"""One direction of imports (docs/architecture.md): the component packages form a DAG in the order

    config, rewards < data < model < inference < tracking < training, evaluation < registry

A package imports only from packages before it (training and evaluation are siblings: neither
imports the other), and `components/` never imports `flows` or `prefect`. Imports inside functions
count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
FORBIDDEN = {"flows", "prefect"}
# Single-module helpers every layer may use; they import none of the packages below.
BASE = {"config", "atomic", "console", "signals", "dvc_record"}
RANK = {"rewards": 1, "data": 2, "model": 3, "inference": 4, "tracking": 5, "training": 6, "evaluation": 6,
        "registry": 7,
        "pipeline_params": 8}   # the params file's loader: it reads every stage's config, so it sits on top


def imported_modules(source: str) -> set[str]:
    """Every absolute module name imported anywhere in `source` (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__"
              and node.args and isinstance(node.args[0], ast.Constant)):
            names.add(str(node.args[0].value))
    return names


def layer_of(module: str) -> str | None:
    """`components.data.agents.dedup` -> `data`; None outside `components`."""
    parts = module.split(".")
    return parts[1] if parts[0] == "components" and len(parts) > 1 else None


def violations(files: dict[str, str]) -> list[str]:
    """`importer -> imported` for every import against the order, given {module name: source}."""
    bad = []
    for module, source in sorted(files.items()):
        mine = layer_of(module)
        for imported in sorted(imported_modules(source)):
            theirs = layer_of(imported)
            if theirs is None or theirs == mine or theirs in BASE:
                continue
            if mine in BASE or theirs not in RANK or mine not in RANK or RANK[theirs] >= RANK[mine]:
                bad.append(f"{module} -> {imported}")
    return bad


def component_sources() -> dict[str, str]:
    files = sorted(COMPONENTS.rglob("*.py"))
    assert len(files) > 20
    return {".".join(f.relative_to(COMPONENTS.parent).with_suffix("").parts).removesuffix(".__init__"):
            f.read_text(encoding="utf-8") for f in files}


def test_the_check_sees_every_import_form():
    src = "import prefect.flows\nfrom flows.cli import main\ndef f():\n    import os\n    __import__('prefect')\n"
    assert {m.split(".")[0] for m in imported_modules(src)} == {"prefect", "flows", "os"}


@pytest.mark.parametrize("files,expected", [
    ({"components.model.a": "from components.inference.selection import choose"},
     ["components.model.a -> components.inference.selection"]),                      # upward
    ({"components.training.a": "def f():\n    from components.evaluation import runner"},
     ["components.training.a -> components.evaluation"]),                             # siblings, lazily
    ({"components.data.a": "import components.model.steps",
      "components.model.b": "from components.data.synthetic import generate"},
     ["components.data.a -> components.model.steps"]),                               # a cycle
    ({"components.config": "from components.model import steps"}, ["components.config -> components.model"]),
    ({"components.newpkg.x": "from components.data import rows"}, ["components.newpkg.x -> components.data"]),
    ({"components.registry.a": "from components.training.trainer import run_train\nimport components.atomic"}, []),
])
def test_the_check_fails_on_an_upward_import_a_sibling_and_a_cycle(files, expected):
    assert violations(files) == expected


def test_component_packages_form_a_dag_in_the_documented_order():
    sources = component_sources()
    unknown = sorted({layer_of(m) for m in sources} - BASE - set(RANK) - {None, "__init__"})
    assert unknown == [], f"place these packages in RANK (and docs/architecture.md): {unknown}"
    assert violations(sources) == []


def test_components_never_import_flows_or_prefect():
    offenders = {m: sorted({n.split(".")[0] for n in imported_modules(src)} & FORBIDDEN)
                 for m, src in component_sources().items()}
    assert {m: bad for m, bad in offenders.items() if bad} == {}
