"""The package's modules import each other without a cycle, and each file stays short.

The core is layered bottom-up, each module building only on the ones below it: a cycle means a module cannot be
read or tested without the ones above it. The imports are read from the source with ``ast``; nothing is imported.
"""

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "minigrad"
MAX_LINES = 300


def module_name(path: Path, root: Path) -> str:
    """The dotted name of the module in ``path``: ``root/nn/__init__.py`` is ``<root>.nn``."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ancestors(name: str) -> set[str]:
    """The packages that hold module ``name``: ``a.b.c`` has ``a`` and ``a.b``."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def runtime_imports(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The import statements in ``node``, nested ones included, in source order; none under ``if TYPE_CHECKING:``."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [node]
    children = list(ast.iter_child_nodes(node))
    if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
        children = node.orelse
    return [found for child in children for found in runtime_imports(child)]


def imported_modules(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that the statement ``node`` in module ``importer`` makes Python run.

    ``from X import n`` names ``X.n`` if that is a module, else ``X``, and ``X`` too if spelled out (the dots of
    ``from . import n`` are not). The packages holding a named module run too, bar the importer's own ones.
    """
    if isinstance(node, ast.Import):
        named = {alias.name for alias in node.names}
    else:
        base = node.module or ""
        if node.level:
            parts = importer.split(".") if is_package else importer.split(".")[:-1]
            parts = parts[: len(parts) - node.level + 1]
            base = ".".join(parts + ([node.module] if node.module else []))
        named = {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
        if node.module:
            named.add(base)
    implied = set().union(*map(ancestors, named)) - ancestors(importer)
    return ((named | implied) & known) - {importer}


def import_graph(root: Path) -> dict[str, dict[str, str]]:
    """For each module of the package in ``root``: the modules it imports, each with the file:line that does."""
    files = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, dict[str, str]] = {}
    for name, path in files.items():
        edges = graph[name] = {}
        for node in runtime_imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            for target in sorted(imported_modules(node, name, path.name == "__init__.py", set(files))):
                edges.setdefault(target, f"{path.relative_to(root.parent).as_posix()}:{node.lineno}")
    return graph


def strongly_connected(edges: Mapping[str, Iterable[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the strongly connected components of the graph ``edges``."""
    index, low, stack, components = {}, {}, [], []  # low[v]: the smallest index v reaches back to on the stack

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while v not in component:
                component.add(stack.pop())
            components.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return components


def shortest_cycle(start: str, component: set[str], edges: Mapping[str, Iterable[str]]) -> list[str]:
    """A shortest path from ``start`` back to itself inside ``component`` (breadth first), as a list of nodes."""
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for w in sorted(edges.get(path[-1], ())):
            if w == start:
                return [*path, start]
            if w in component and w not in seen:
                seen.add(w)
                paths.append([*path, w])
    raise AssertionError(f"{start} is on no cycle")


def find_cycles(edges: Mapping[str, Iterable[str]]) -> list[tuple[list[str], set[str]]]:
    """Each strongly connected component of two nodes or more, with one of its cycles: ``([a, b, a], {a, b})``."""
    return [(shortest_cycle(min(part), part, edges), part) for part in strongly_connected(edges) if len(part) > 1]


def test_the_package_imports_form_no_cycle():
    graph = import_graph(PACKAGE)
    lines = []
    for cycle, component in find_cycles(graph):
        lines.append(" -> ".join(cycle) + f"  (one cycle among these {len(component)}: {', '.join(sorted(component))})")
        lines += [f"    {graph[a][b]}: {a} imports {b}" for a, b in zip(cycle, cycle[1:])]
    assert not lines, "the imports of minigrad form cycles:\n" + "\n".join(lines)


def test_files_stay_short():
    counts = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in sorted(PACKAGE.rglob("*.py"))}
    long = [f"    {path.relative_to(PACKAGE.parent)}: {n} lines" for path, n in counts.items() if n > MAX_LINES]
    assert not long, f"files over {MAX_LINES} lines:\n" + "\n".join(long)


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [(["a", "b", "c", "a"], {"a", "b", "c"})]
    assert find_cycles({"a": {"b"}, "b": {"a", "c"}, "c": set()}) == [(["a", "b", "a"], {"a", "b"})]


def test_the_graph_skips_type_checking_imports_and_resolves_relative_ones(tmp_path):
    package = {  # planted in a temporary directory
        "__init__.py": "from . import a\n",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import b\n"
        "def late():\n    from . import sub\n",
        "sub/__init__.py": "",
        "sub/b.py": "import numpy, typing\nif typing.TYPE_CHECKING:\n    from fake import sub\n"
        "from .. import a\nfrom . import name\n",
    }
    (tmp_path / "fake" / "sub").mkdir(parents=True)
    for name, source in package.items():
        (tmp_path / "fake" / name).write_text(source)
    assert import_graph(tmp_path / "fake") == {
        "fake": {"fake.a": "fake/__init__.py:1"},
        "fake.a": {"fake.sub": "fake/a.py:5"},
        "fake.sub": {},
        "fake.sub.b": {"fake.a": "fake/sub/b.py:4", "fake.sub": "fake/sub/b.py:5"},  # "name" comes from sub/__init__
    }
