"""Imports run downhill: every import of the package (inside functions too) read with ast, no circle between
modules, and no package importing one of a higher layer (the order docs/ARCHITECTURE.md states)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "rwkv_simple_gui"

# The layers, lowest first; a part may import its own layer and those below. docs/ARCHITECTURE.md states
# the same order in its "Imports run downhill" line (test_architecture_states_the_order checks it).
LAYERS = [
    ["paths", "shell"],
    ["data"],
    ["model"],
    ["peft"],
    ["train"],
    ["export"],
    ["merge"],
    ["chat", "runner", "demo"],
    ["demo_cli", "__main__", "ui"],
    ["app"],
]
LAYER_OF = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    found = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    found["app"] = REPO / "app.py"
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ours that `path` imports, wherever the import stands."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from pkg import mod` names a module; `from mod import name` names the module.
            targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def module_graph() -> dict[str, set[str]]:
    found = sources()
    known = set(found)
    return {name: imports(name, path, known) for name, path in found.items()}


def part(module: str) -> str:
    """The top-level part of the package a module belongs to (`train`, `estimate`, `app`)."""
    if module == "app":
        return "app"
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def upward(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = part(source), part(target)
            if a == "__init__" or b == "__init__":
                continue
            if LAYER_OF[b] > LAYER_OF[a]:
                found.append(f"{source} ({a}) imports {target} ({b})")
    return found


def test_every_part_has_a_layer():
    parts = {part(m) for m in sources()} - {"__init__"}
    assert parts - set(LAYER_OF) == set(), "give the new part a layer in LAYERS and in docs/ARCHITECTURE.md"


def test_the_scan_sees_imports_inside_functions(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import os\ndef f():\n    from .b import x\n    import rwkv_simple_gui.c.d\n")
    known = {"rwkv_simple_gui.a.m", "rwkv_simple_gui.a.b", "rwkv_simple_gui.c", "rwkv_simple_gui.c.d"}
    assert imports("rwkv_simple_gui.a.m", src, known) == {"rwkv_simple_gui.a.b", "rwkv_simple_gui.c.d"}
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    assert circles(module_graph()) == []


def test_no_import_runs_up_a_layer():
    assert upward(module_graph()) == []


def test_architecture_states_the_order():
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    line = re.search(r"Imports run downhill: (.+?)\.", text.replace("\n", " "))
    assert line, "docs/ARCHITECTURE.md lost its 'Imports run downhill: ...' line"
    stated = [[p.strip(" `") for p in layer.split("/")] for layer in line.group(1).split(" → ")]
    assert stated == LAYERS
