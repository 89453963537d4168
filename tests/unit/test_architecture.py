"""The package's layers, read from its imports (``ast``, nothing is executed).

- no import cycles between modules (also not through lazy, function-level imports);
- no module imports a ``_private`` name of another module, nor a ``_private`` module;
- arrows point down the layers: ``core`` imports no engine, the Polars integration and the
  engines import no CLI, ``localhub`` (the emulator) imports nothing from the client side;
- dynamic imports count as imports: ``importlib.import_module("hf_bucket_sink.…")``,
  ``__import__(…)`` and ``pkgutil.resolve_name(…)`` are read like ``import`` statements, and one
  whose module the check cannot read (not a string literal, nor a name bound to one) fails, so
  a layer cannot reach up by naming a module in a string. The one exception is the package's
  ``__init__`` (the lazy public surface, the top of the layers).

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
    # install()/uninstall(): the Polars hook (polars) and the fsspec protocol (engines) together
    "hooks": 4,
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


#: callables that import the module named by their first argument
_DYNAMIC_IMPORTERS = {"import_module", "__import__", "resolve_name"}


def _string_values(tree: ast.Module, node: ast.expr) -> list[str] | None:
    """The module names a dynamic import's argument can hold, or None when they cannot be read.

    A string literal, or a name every assignment in the module binds to a string literal.
    """
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name):
        values: list[str] = []
        for other in ast.walk(tree):
            if isinstance(other, (ast.Assign, ast.AnnAssign)):
                targets = other.targets if isinstance(other, ast.Assign) else [other.target]
                if any(isinstance(t, ast.Name) and t.id == node.id for t in targets):
                    if not (isinstance(other.value, ast.Constant) and isinstance(other.value.value, str)):
                        return None
                    values.append(other.value.value)
        return values or None
    return None


def _anchor(tree: ast.Module, call: ast.Call, name: str, package: str) -> str | None:
    """The package ``import_module(".x", package)`` resolves against (``package=`` or the second argument)."""
    given = next((k.value for k in call.keywords if k.arg == "package"), call.args[1] if len(call.args) > 1 else None)
    if given is None:
        return package
    if isinstance(given, ast.Name) and given.id in ("__package__", "__name__"):
        return package if given.id == "__package__" else name
    values = _string_values(tree, given)
    return values[0] if values and len(values) == 1 else None


def _dynamic_imports(name: str, tree: ast.Module) -> list[tuple[str, int]]:
    """(module name, line) of every call of ``importlib.import_module`` / ``__import__`` / ``pkgutil.resolve_name``.

    An argument the check cannot read is reported as the module ``"<unreadable>"``.
    """
    found: list[tuple[str, int]] = []
    package = name if (ROOT.parent / name.replace(".", "/") / "__init__.py").exists() else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if called not in _DYNAMIC_IMPORTERS:
            continue
        values = _string_values(tree, node.args[0])
        if values is None:
            found.append(("<unreadable>", node.lineno))
            continue
        anchor = _anchor(tree, node, name, package) if called == "import_module" else package
        for value in values:
            value = value.split(":")[0]  # resolve_name("pkg.mod:attr")
            if value.startswith("."):  # import_module(".x", package=...): relative to that package
                if anchor is None:
                    found.append(("<unreadable>", node.lineno))
                    continue
                dots = len(value) - len(value.lstrip("."))
                base = anchor.split(".")[: len(anchor.split(".")) - dots + 1]
                value = ".".join(base + [value.lstrip(".")]).rstrip(".")
            found.append((value, node.lineno))
    return found


def _imports(name: str, tree: ast.Module) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of our package in ``tree``.

    Dynamic imports (see :func:`_dynamic_imports`) are in the list too; one whose module cannot
    be read is there as ``"hf_bucket_sink.<unreadable>"``, a module in no layer.
    """
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
    for module, line in _dynamic_imports(name, tree):
        if module == "<unreadable>":
            if name != PACKAGE:  # the lazy public surface may name the layers below by a computed string
                found.append((f"{PACKAGE}.<unreadable>", None, line))
        elif module.split(".")[0] == PACKAGE:
            found.append((module, None, line))
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


def _layer_violations(modules: dict[str, ast.Module]) -> list[str]:
    """Every import (static or dynamic) in ``modules`` that points up a layer, or that the check cannot read."""
    bad = []
    for name, tree in modules.items():
        own = _layer(name)
        for module, _, line in _imports(name, tree):
            if module == f"{PACKAGE}.<unreadable>":
                bad.append(f"{name}:{line} imports a module named by a computed string (write it as a literal)")
                continue
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
    return bad


def test_imports_point_down_the_layers() -> None:
    bad = _layer_violations(MODULES)
    assert not bad, "imports that point up a layer:\n" + "\n".join(bad)


def test_every_top_level_part_has_a_layer() -> None:
    """A new top-level module or folder must be placed in LAYERS (else it would silently count as an engine)."""
    tops = {name.split(".")[1] for name in MODULES if name.count(".") >= 1} - {"localhub"}
    assert tops <= set(LAYERS), f"top-level parts without a layer in LAYERS: {sorted(tops - set(LAYERS))}"


@pytest.mark.parametrize(
    ("module", "source", "caught"),
    [
        # the round-2 install(): the Polars layer reaching the engines layer by a string
        ("polars.install", 'import importlib\nimportlib.import_module("hf_bucket_sink.engines.filesystem")', True),
        ("core.hub", 'from importlib import import_module\nM = "hf_bucket_sink.cli.main"\nimport_module(M)', True),
        ("polars.sinks", '__import__("hf_bucket_sink.engines.ray")', True),
        ("core.commit", 'import pkgutil\npkgutil.resolve_name("hf_bucket_sink.polars.scans:scan_parquet")', True),
        ("core.upload", 'import importlib\nimportlib.import_module("hf_bucket_sink." + NAME)', True),
        ("polars.scans", 'import importlib\nimportlib.import_module(".cli.main", package="hf_bucket_sink")', True),
        # pointing down, or outside the package: fine
        ("polars.install", 'import importlib\nimportlib.import_module("hf_bucket_sink.core.paths")', False),
        ("core.hub", 'import importlib\nimportlib.import_module("fsspec.implementations.http")', False),
        ("hooks", 'import importlib\nimportlib.import_module("hf_bucket_sink.engines.filesystem")', False),
    ],
)
def test_a_dynamic_import_is_checked_like_a_static_one(module: str, source: str, caught: bool) -> None:
    """The layer check reads ``import_module`` strings too (proved here on sources written to break it)."""
    name = f"{PACKAGE}.{module}"
    assert name in MODULES  # a real module's place in the layers
    bad = _layer_violations({name: ast.parse(source)})
    assert bool(bad) == caught, bad


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.count(".") >= 2 and not n.split(".")[-1].startswith("_")))
def test_every_module_declares_its_public_names(name: str) -> None:
    tree = MODULES[name]
    declared = any(
        isinstance(node, (ast.Assign, ast.AnnAssign))
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))
        for node in tree.body
    )
    assert declared or name.endswith("__main__"), f"{name} has no __all__"
