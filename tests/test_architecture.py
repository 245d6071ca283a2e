"""The package's import graph: no cycles, and every arrow points down the layers.

The graph is read from the source (every ``import`` and ``from ... import``
statement, including those inside functions and ``TYPE_CHECKING`` blocks), so a
cycle hidden in a function-level import fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import junocam

PKG = Path(junocam.__file__).resolve().parent

#: Layers from the bottom up: a module may import its own layer and those below.
#: The image chain is flat in ``junocam/``; ``process`` and ``simulate`` sit above
#: the parts they use.
LAYERS: list[set[str]] = [
    {
        "junocam._version", "junocam.errors", "junocam.metadata", "junocam.companding",
        "junocam.framelets", "junocam.decode", "junocam.calibrate", "junocam.camera",
        "junocam.spin", "junocam.stitch", "junocam.matching", "junocam.spinfit",
        "junocam.geometry",
        "junocam.enhance", "junocam.compose", "junocam.quality", "junocam.output",
        "junocam.rank",
    },
    {"junocam.planet"},
    {"junocam.simulate"},
    {"junocam.pipeline"},
    {"junocam.process"},
    {"junocam.maps", "junocam.batch", "junocam.fetch"},
    {"junocam.cli", "junocam.studio"},
    {"junocam"},
]  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The junocam modules ``name`` imports (a submodule when one is named)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("junocam")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("junocam"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in MODULES else target)
    out.discard(name)
    return {m for m in out if m in MODULES}


GRAPH = {name: imports_of(name) for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def layer_of(name: str) -> int:
    best = None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if name == prefix or name.startswith(prefix + "."):
                if best is None or len(prefix) > len(best[1]):
                    best = (i, prefix)
    assert best is not None, f"{name} is in no layer: add it to LAYERS"
    return best[0]


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_the_package():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])


def test_every_import_points_down_the_layers():
    upward = [
        f"{src} -> {dst}"
        for src, targets in GRAPH.items()
        for dst in targets
        if layer_of(dst) > layer_of(src) and dst != "junocam._version"
    ]
    assert upward == []


def test_every_module_has_a_layer():
    for name in MODULES:
        layer_of(name)
