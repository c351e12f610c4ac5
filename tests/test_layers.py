"""The layers of docs/architecture.md hold: arrows point down, no import cycles, and no
function-local import of the project's own modules (except the ones listed, with why).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("catalogue", "reference_model", "conformance", "artefacts", "images")
#: package -> the packages it must not import (the layers above it)
FORBIDDEN = {
    "catalogue": {"reference_model", "conformance", "artefacts", "images"},
    "reference_model": {"conformance", "artefacts", "images"},
    "artefacts": {"catalogue", "reference_model", "conformance", "images"},
    "conformance": {"images"},
}
#: (module, imported module): function-local on purpose
LOCAL_OK = {
    # avocado's resolver may print the recipe with a python3 that lacks qemu.qmp
    ("conformance.frontends.avocado_tests", "conformance.frontends.report_text"),
    ("conformance.frontends.avocado_tests", "conformance.runner"),
    ("conformance.frontends.avocado_tests", "conformance.tiers"),
    ("conformance.frontends.avocado_tests", "conformance.tools.qemu_binary"),
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = f
    return out


def _imports(mod: str, path: Path) -> tuple[set[str], set[str]]:
    """(module-level imports, function-local imports) of own modules, type-only excluded."""
    tree = ast.parse(path.read_text())
    top: set[str] = set()
    local: set[str] = set()
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]

    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            return [f"{base}.{a.name}" for a in node.names] + [base]
        return []

    def walk(node: ast.AST, in_func: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            f = in_func or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in names(child):
                if n.split(".")[0] in PACKAGES:
                    (local if f else top).add(n)
            walk(child, f)

    walk(tree, False)
    return top, local


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    mods = _modules()
    top: dict[str, set[str]] = {}
    local: dict[str, set[str]] = {}
    for m, p in mods.items():
        t, loc = _imports(m, p)
        # a name imported from a module may be a submodule or an attribute: keep modules
        top[m] = {x if x in mods else x.rpartition(".")[0] for x in t} & set(mods) - {m}
        local[m] = {x if x in mods else x.rpartition(".")[0] for x in loc} & set(mods) - {m}
    return top, local


def test_layers_point_down() -> None:
    top, local = _graph()
    bad = [(m, i) for m, deps in top.items() for i in deps | local[m]
           if i.split(".")[0] in FORBIDDEN.get(m.split(".")[0], set())]
    assert not bad


def test_no_function_local_imports_of_own_modules() -> None:
    _, local = _graph()
    bad = sorted((m, i) for m, deps in local.items() for i in deps
                 if (m, i) not in LOCAL_OK and not m.startswith(("reference_model.engine",
                                                                  "reference_model.rules")))
    assert not bad


def test_no_import_cycles_between_modules() -> None:
    top, local = _graph()
    # function-local imports count: they only hide a cycle until the function runs.
    # A submodule importing its own package (``from conformance import select``) does not.
    edges = {m: {d for d in deps | local[m] if not m.startswith(d + ".")}
             for m, deps in top.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(edges.get(m, ())):
            if state.get(d) == 1:
                cycles.append([*stack[stack.index(d):], d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles
