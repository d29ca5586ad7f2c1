"""One direction of imports: `components/` never imports `flows` or `prefect` (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
FORBIDDEN = {"flows", "prefect"}


def imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__"
              and node.args and isinstance(node.args[0], ast.Constant)):
            roots.add(str(node.args[0].value).split(".")[0])
    return roots


def test_the_check_sees_every_import_form():
    src = "import prefect.flows\nfrom flows.cli import main\ndef f():\n    import os\n    __import__('prefect')\n"
    assert imported_roots(src) == {"prefect", "flows", "os"}


def test_components_never_import_flows_or_prefect():
    files = sorted(COMPONENTS.rglob("*.py"))
    assert len(files) > 20
    offenders = {str(f.relative_to(COMPONENTS.parent)): sorted(imported_roots(f.read_text(encoding="utf-8")) & FORBIDDEN)
                 for f in files}
    assert {f: bad for f, bad in offenders.items() if bad} == {}
