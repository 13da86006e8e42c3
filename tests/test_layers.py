"""The package's imports point one way: nothing below the engine imports it, and no module
imports itself through others (every import statement counts, those inside functions too)."""

import ast
from pathlib import Path

from paths import ROOT

PACKAGE = ROOT / "reference_impl"
ENGINE = {"reference_impl.pipeline"}
"""The engine: it runs the formats, filters and statistics, which know nothing of it."""
ABOVE_THE_ENGINE = {"reference_impl.cli", "reference_impl.commands", "reference_impl.launch", "reference_impl.train"}
"""What may use the engine: the scripts' command lines, and the launchers that run them."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports(name: str, path: Path, known: dict) -> set[str]:
    """The package's modules that a module imports, wherever the import statement is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            for alias in node.names:  # `from . import trl` imports a module; `from . import Algorithm`, the package
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {target for target in found if target in known and target != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_the_scan_sees_imports_inside_functions_and_relative_ones():
    edges = graph()
    assert "reference_impl.pipeline" in edges["reference_impl.commands.common"]  # imported inside functions only
    assert {"reference_impl.formats.base", "reference_impl.formats.common"} <= edges["reference_impl.formats.trl"]
    assert "reference_impl.formats.trl" in edges["reference_impl.formats"]


def test_nothing_below_the_engine_imports_it():
    above = ENGINE | ABOVE_THE_ENGINE
    offenders = {name: sorted(targets & ENGINE) for name, targets in graph().items()
                 if targets & ENGINE and not any(name == a or name.startswith(a + ".") for a in above)}
    assert offenders == {}


def test_the_tally_imports_nothing_of_the_package():
    assert graph()["reference_impl.tally"] == set()


def test_no_import_cycles():
    edges = graph()
    state: dict[str, str] = {}
    cycles = []

    def visit(name, trail):
        state[name] = "open"
        for target in sorted(edges[name]):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert cycles == []
