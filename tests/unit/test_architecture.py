"""The package's layers, read from its imports (``ast``, nothing is executed).

- no import cycles between modules (also not through lazy, function-level imports);
- no module imports a ``_private`` name of another module, nor a ``_private`` module;
- arrows point down the layers: ``core`` imports no engine, the Polars integration and the
  engines import no CLI, ``localhub`` (the emulator) imports nothing from the client side.

A failure names the modules, so the fix is to move the shared thing down a layer and give it a
public name in that module's ``__all__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hf_bucket_sink

ROOT = Path(hf_bucket_sink.__file__).parent
PACKAGE = "hf_bucket_sink"

#: layer of each top-level part, lowest first; a module may import only its own layer or lower ones
LAYERS = {
    "errors": 0,
    "core": 1,
    "polars": 2,
    "engines": 3,
    "ray": 3,
    "spark": 3,
    "filesystem": 3,
    "cli": 4,
    # the public surface: lazy re-exports of the layers below; the CLI may use it
    "__init__": 4,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(ROOT.rglob("*.py"))}


MODULES = _modules()


def _imports(name: str, tree: ast.Module) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of our package in ``tree``."""
    found: list[tuple[str, str | None, int]] = []
    is_package = (ROOT.parent / name.replace(".", "/") / "__init__.py").exists()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if sub in MODULES:  # ``from pkg import module``
                    found.append((sub, None, node.lineno))
                else:
                    found.append((module, alias.name, node.lineno))
    return found


def _layer(module: str) -> tuple[str, int] | None:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__", LAYERS["__init__"]
    top = parts[1]
    if top == "localhub":
        return None
    return top, LAYERS.get(top, LAYERS["engines"])


def test_no_module_imports_a_private_name_of_another() -> None:
    bad = []
    for name, tree in MODULES.items():
        for module, imported, line in _imports(name, tree):
            private_module = any(part.startswith("_") and part != "__init__" for part in module.split("."))
            if module != name and ((imported or "").startswith("_") or private_module):
                bad.append(f"{name}:{line} imports {module}{'.' + imported if imported else ''}")
    assert not bad, "cross-module private imports:\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    graph = {name: {m for m, _, _ in _imports(name, tree) if m in MODULES and m != name} for name, tree in MODULES.items()}
    # a package's __init__ re-exporting its modules is not a cycle with them
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_imports_point_down_the_layers() -> None:
    bad = []
    for name, tree in MODULES.items():
        own = _layer(name)
        for module, _, line in _imports(name, tree):
            other = _layer(module)
            if own is None:  # the emulator: nothing from the client side at all
                if module.split(".")[1:2] != ["localhub"]:
                    bad.append(f"{name}:{line} (emulator) imports {module}")
                continue
            if other is None:
                if own[0] not in ("cli", "__init__"):  # only the CLI starts the emulator (`serve`)
                    bad.append(f"{name}:{line} imports the emulator {module}")
                continue
            if other[1] > own[1] or (other[1] == own[1] == LAYERS["engines"] and other[0] != own[0] and own[0] != "engines"):
                if not (own[0] in ("ray", "spark", "filesystem") and other[0] == "engines"):  # public names of an engine
                    bad.append(f"{name}:{line} ({own[0]}) imports {module} ({other[0]})")
    assert not bad, "imports that point up a layer:\n" + "\n".join(bad)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.count(".") >= 2 and not n.split(".")[-1].startswith("_")))
def test_every_module_declares_its_public_names(name: str) -> None:
    tree = MODULES[name]
    declared = any(
        isinstance(node, (ast.Assign, ast.AnnAssign))
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))
        for node in tree.body
    )
    assert declared or name.endswith("__main__"), f"{name} has no __all__"
