"""Fail on an import that points up the floors of the package, or one that closes a circle.

Every ``import`` counts, at the top of a module or inside a function. A package of
``model_trainer.core`` may import only from its own floor and the floors below it; the
modules at the top of ``model_trainer`` (the notebook functions, the command line) sit above
them all. Between modules no import may close a circle. A registry that names a module as a
string is no import.

Nothing under ``core`` names a family: a string that is exactly a built-in family's name
(a package under ``core/backends``) may stand only in the families' own packages, in the
registry (its table of names) and as the schema's default ``model_family``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

LAYERS: tuple[str, ...] = (
    "errors",
    "faults",
    "config",
    "extras",
    "contracts",
    "tokenizers",
    "events",
    "data",
    "training",
    "inference",
    "backends",
    "analysis",
    "drawing",
    "jobs",
    "distributed",
    "experiments",
    "notebook",
)
"""The floors of ``model_trainer``, lowest first: ``core``'s packages, then the notebook
package; every other top-level module of ``model_trainer`` stands above them."""

TOP = len(LAYERS)
PACKAGE = "model_trainer"


def floor(module: str) -> int:
    """The floor of ``module`` (a dotted name inside ``model_trainer``)."""
    parts = module.split(".")
    name = parts[2] if len(parts) > 2 and parts[1] == "core" else parts[1] if len(parts) > 1 else ""
    return LAYERS.index(name) if name in LAYERS else TOP


def module_name(path: Path, root: Path) -> str:
    """The dotted name of the module at ``path`` under the source folder ``root``."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.Module, known: set[str]) -> Iterator[str]:
    """Every ``model_trainer`` module ``tree`` imports, anywhere in it."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith(PACKAGE))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                yield child if child in known else node.module


def graph(root: Path) -> dict[str, set[str]]:
    """Each module of the package under ``root`` and the package modules it imports."""
    paths = {module_name(path, root): path for path in sorted((root / PACKAGE).rglob("*.py"))}
    known = set(paths)
    return {
        name: set(imported(ast.parse(path.read_text("utf-8")), known)) - {name}
        for name, path in paths.items()
    }


def upward(edges: dict[str, set[str]]) -> list[str]:
    """One line for each import from a lower floor into a higher one."""
    return [
        f"{source} (floor {LAYERS[floor(source)] if floor(source) < TOP else 'top'}) imports "
        f"{target} (floor {LAYERS[floor(target)] if floor(target) < TOP else 'top'})"
        for source, targets in sorted(edges.items())
        for target in sorted(targets)
        if floor(target) > floor(source)
    ]


def circles(edges: dict[str, set[str]]) -> list[str]:
    """One line for each circle of imports between modules (each found once)."""
    found: list[str] = []
    seen: set[frozenset[str]] = set()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                circle = stack[stack.index(target) :]
                if frozenset(circle) not in seen:
                    seen.add(frozenset(circle))
                    found.append(" -> ".join([*circle, target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


NAMING_FAMILIES: tuple[str, ...] = ("core/backends/registry.py", "core/contracts/schema.py")
"""Modules of ``core`` outside the families' packages that may name a family: the registry
(its table of names) and the schema (the default ``model_family``)."""


def family_names(root: Path) -> list[str]:
    """One line for each string naming a built-in family in ``core``, outside its allowed places."""
    core = root / PACKAGE / "core"
    names = {path.parent.name for path in (core / "backends").glob("*/__init__.py")}
    found: list[str] = []
    for path in sorted(core.rglob("*.py")):
        place = path.relative_to(root / PACKAGE).as_posix()
        parts = place.split("/")
        if place in NAMING_FAMILIES or (parts[1] == "backends" and parts[2] in names):
            continue
        tree = ast.parse(path.read_text("utf-8"))
        constants = [node for node in ast.walk(tree) if isinstance(node, ast.Constant)]
        found.extend(
            f"{place}:{node.lineno} names the family {node.value!r}"
            for node in constants
            if node.value in names
        )
    return found


def problems(root: Path) -> list[str]:
    """Every upward import, every circle and every family named in ``core`` under ``root``."""
    edges = graph(root)
    return (
        [f"upward: {line}" for line in upward(edges)]
        + [f"circle: {line}" for line in circles(edges)]
        + [f"family: {line}" for line in family_names(root)]
    )


def main(argv: list[str]) -> int:
    """Check the source folder ``argv[0]`` (default ``src``); print what is wrong."""
    found = problems(Path(argv[0] if argv else "src"))
    for line in found:
        print(line)
    print(f"import floors: {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
