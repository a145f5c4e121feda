"""Pictures of a graph: ``to_dot`` writes Graphviz DOT text, ``render_graph`` turns it into SVG/PNG/PDF.

>>> import minigrad as mg
>>> W = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> s = mg.tanh(W @ mg.tensor([1.0, -1.0])).sum()
>>> text = mg.to_dot(s, names={"W": W})
>>> text.startswith("digraph minigrad {") and '"W\\\\n(2, 2) float32"' in text
True

One node per tensor of the graph, one edge per argument, drawn from input to output:

- an **operation** (a box) shows the primitive's name, its parameters (``axis=1``...), the result's
  shape and dtype;
- a **parameter** (green) is a leaf that requires grad and is an ``nn.Parameter`` or named in
  ``names``; another leaf that requires grad is an **input** (yellow);
- a **constant** (grey) is an array or number an operation used that carries no gradient (a tensor
  without ``requires_grad`` is not kept by the graph, only its array);
- the **output** has a double border; a node whose graph a backward pass has already **freed** is
  dashed and says so (pass ``retain_graph=True`` to keep it).

The walk is iterative (a 100,000-node chain is fine) and only reads the graph: it neither frees it
nor changes a tensor, so ``backward`` works as before afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .registry import PRIMITIVES, EachInput
from .tensor import Tensor

__all__ = ["render_graph", "to_dot"]

_FORMATS = ("svg", "png", "pdf", "dot")
# The names of the parameters (arguments that are not tensors) of the primitives that have any, to
# show them as ``axis=1``; a name of None hides the argument (an internal of the rule).
_PARAMS = {
    "sum": (None, "axis", "keepdims"),
    "mean": (None, "axis", "keepdims"),
    "max": (None, "axis", "keepdims"),
    "min": (None, "axis", "keepdims"),
    "logsumexp": (None, "axis", "keepdims"),
    "reshape": (None, "shape"),
    "transpose": (None, "axes"),
    "broadcast_to": (None, "shape"),
    "astype": (None, "dtype"),
    "clip": (None, "min", "max"),
    "where": ("cond",),
    "getitem": (None, "index"),
    "scatter_add": (None, "index", "shape"),
    "embedding": (None, "index", None, None),
}
_STYLE = {
    "op": 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"',
    "parameter": 'shape=box, style=filled, fillcolor="#c7e9c0"',
    "input": 'shape=ellipse, style=filled, fillcolor="#fff2b2"',
    "constant": 'shape=ellipse, style=filled, fillcolor="#eeeeee", fontcolor="#555555"',
    "freed": 'shape=box, style="rounded,dashed", color="#aa0000"',
}


def _quote(text: str) -> str:
    """A DOT string literal; lines are joined with DOT's ``\\n``."""
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in text.split("\n")) + '"'


def _describe(value: Any) -> str:
    """Shape and dtype of an array, the value of a number."""
    if isinstance(value, (np.ndarray, np.generic)):
        if value.size == 1 and value.ndim == 0:
            return f"{value.item()!r} {value.dtype}"
        return f"{value.shape} {value.dtype}"
    return repr(value)


def _short(value: Any, limit: int = 32) -> str:
    if isinstance(value, np.ndarray):
        text = repr(value.item()) if value.ndim == 0 else f"array{value.shape}"
    elif isinstance(value, np.dtype):
        text = str(value)
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _commutes(op: str) -> bool:
    """Whether the primitive's operands may be swapped (add, multiply): its edges then need no numbers."""
    return op in PRIMITIVES and PRIMITIVES[op].commutative


def _is_input_slot(op: str, i: int, arg: Any) -> bool:
    """Whether argument i of ``op`` is a tensor input (else a parameter such as an axis or an index)."""
    rules = PRIMITIVES[op].vjps if op in PRIMITIVES else None
    if op == "function" or isinstance(rules, EachInput) or rules is None:
        return isinstance(arg, (np.ndarray, np.generic, float)) and (i > 0 or op != "function")  # 0: the ctx
    return i < len(rules) and rules[i] is not None


def _roots(t: Any) -> list:
    roots = [t] if isinstance(t, Tensor) else list(t) if isinstance(t, Sequence) else [t]
    for r in roots:
        if not isinstance(r, Tensor):
            raise TypeError(f"to_dot: expected a Tensor or a sequence of Tensors, got {type(r).__name__}")
    return roots


def to_dot(t: Tensor | Sequence[Tensor], names: Mapping[str, Tensor] | None = None) -> str:
    """Graphviz DOT text of the graph that produced ``t`` (a tensor or a sequence of tensors).

    Parameters
    ----------
    t : Tensor or sequence of Tensor
        The output(s); every tensor they were computed from that requires grad is drawn, with the
        constants the operations used.
    names : mapping of str to Tensor, optional
        Labels for tensors, e.g. ``dict(model.named_parameters())``; a named leaf that requires grad
        is drawn as a parameter. Results of operations and constant tensors can be named too.

    Returns
    -------
    str
        ``digraph minigrad { ... }``: render it with ``dot -Tsvg`` or ``mg.render_graph``.
    """
    roots = _roots(t)
    label_of = _labels(names)
    nodes, edges, constants = _walk(roots, label_of)
    # nodes are numbered in creation order (a parent before its children), from 0: the same graph
    # gives the same text in any process
    order = sorted(nodes.values(), key=lambda n: n._id)
    number = {id(t): k for k, t in enumerate(order)}
    lines = [
        "digraph minigrad {",
        "  rankdir=BT;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    lines += _node_lines(order, number, {id(r) for r in roots}, label_of)
    lines += constants
    lines += _edge_lines(edges, number)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _labels(names: Mapping[str, Tensor] | None) -> dict[int, str]:
    """The label of each named object, by id(): the tensor, and the array of a tensor without grad."""
    label_of = {id(v): k for k, v in (names or {}).items()}
    # a named tensor without grad is not in the graph, its array is: name the array
    label_of.update({id(v._data): k for k, v in (names or {}).items() if isinstance(v, Tensor) and not v._rg})
    return label_of


def _walk(roots: list[Tensor], label_of: dict[int, str]) -> tuple[dict[int, Tensor], list, list[str]]:
    """The tensors the roots were computed from, the edges into each, and the constant nodes' DOT lines.

    Iterative, so that a long chain does not reach the recursion limit; it only reads the graph.
    """
    nodes: dict[int, Tensor] = {}  # id(tensor) -> tensor
    edges: list[tuple[Tensor | str, Tensor, int]] = []  # (parent tensor or constant key, child, position)
    constants: list[str] = []
    constant_ids: dict[int, str] = {}
    keep: list = []  # the constants' objects, alive while their id() names them
    stack = []
    for r in roots:
        if id(r) not in nodes:
            nodes[id(r)] = r
            stack.append(r)
    while stack:
        node = stack.pop()
        parents, args, op = node._parents, node._args, node._op
        if op is None or parents is None:  # a leaf, or freed by backward: nothing more to read
            continue
        for i, arg in enumerate(args):
            parent = parents[i] if i < len(parents) else None
            if parent is not None:
                edges.append((parent, node, i))
                if id(parent) not in nodes:
                    nodes[id(parent)] = parent
                    stack.append(parent)
            elif _is_input_slot(op, i, arg):
                key = constant_ids.get(id(arg))
                if key is None:
                    key = constant_ids[id(arg)] = f"c{len(constant_ids)}"
                    keep.append(arg)
                    text = _quote(label_of.get(id(arg), "constant") + "\n" + _describe(arg))
                    constants.append(f"  {key} [label={text}, {_STYLE['constant']}];")
                edges.append((key, node, i))
    return nodes, edges, constants


def _node_lines(order: list[Tensor], number: dict[int, int], root_ids: set[int], label_of: dict[int, str]) -> list[str]:
    """One DOT line per tensor, in the order numbered; the outputs get a double border."""
    from .nn.module import Parameter  # late: nn builds on this package

    lines = []
    for tensor in order:
        kind, text = _node_label(tensor, label_of.get(id(tensor)), isinstance(tensor, Parameter))
        extra = ", peripheries=2" if id(tensor) in root_ids else ""
        lines.append(f"  n{number[id(tensor)]} [label={_quote(text)}, {_STYLE[kind]}{extra}];")
    return lines


def _edge_lines(edges: list[tuple[Tensor | str, Tensor, int]], number: dict[int, int]) -> list[str]:
    """One DOT line per edge, by child and position; an input's position is shown where it matters."""
    inputs: dict[int, int] = {}  # how many inputs each node has: number the edges of those with several
    for _, child, _ in edges:
        inputs[id(child)] = inputs.get(id(child), 0) + 1
    lines = []
    for source, child, i in sorted(edges, key=lambda e: (number[id(e[1])], e[2])):
        name = source if isinstance(source, str) else f"n{number[id(source)]}"
        label = f' [label="{i}"]' if inputs[id(child)] > 1 and not _commutes(child._op) else ""
        lines.append(f"  {name} -> n{number[id(child)]}{label};")
    return lines


def _node_label(t: Tensor, name: str | None, is_parameter: bool) -> tuple[str, str]:
    """(style key, label text) of a tensor's node."""
    shape = f"{t._data.shape} {t._data.dtype}"
    if t._op is None:
        if t._rg and (is_parameter or name is not None):
            return "parameter", f"{name or 'parameter'}\n{shape}"
        if t._rg:
            return "input", f"{name or 'input'}\n{shape}"
        return "constant", f"{name or 'constant'}\n{_describe(t._data)}"
    op = t._op
    head = f"{name}: {op}" if name else op
    if t._parents is None:
        return "freed", f"{head}\n{shape}\n(graph freed by backward)"
    args = t._args
    if op == "function":  # a custom operation: name its class
        head += f" {getattr(args[0], '_function', type(args[0])).__name__}"
    names = _PARAMS.get(op, ())
    params = []
    for i, a in enumerate(args):
        if _is_input_slot(op, i, a) or (op == "function" and i == 0) or a is None or a is False:
            continue
        if i < len(names) and names[i] is None:
            continue
        if op == "einsum" and i == 0:  # the spec: (input subscripts, output subscripts)
            params.append(",".join(a[0]) + "->" + a[1])
        elif op == "concatenate":
            params.append(f"axis={a}")
        else:
            params.append(f"{names[i]}={_short(a)}" if i < len(names) else _short(a))
    if params:
        head += "\n" + ", ".join(params)
    return "op", f"{head}\n{shape}"


def render_graph(
    t: Tensor | Sequence[Tensor],
    path: str | os.PathLike,
    format: str | None = None,
    names: Mapping[str, Tensor] | None = None,
) -> str:
    """Draw the graph of ``t`` into ``path`` with Graphviz's ``dot`` program (not a Python package).

    ``format`` is one of svg, png, pdf or dot (the DOT text itself, which needs no Graphviz); by default
    it is taken from the file's extension, else svg. Returns the path written.

    Raises
    ------
    FileNotFoundError
        When ``dot`` is not on the PATH: install Graphviz (``apt-get install graphviz``,
        ``brew install graphviz``, ``conda install graphviz``).
    """
    path = os.fspath(path)
    if format is None:
        format = os.path.splitext(path)[1].lstrip(".").lower() or "svg"
    if format not in _FORMATS:
        raise ValueError(f"render_graph: format must be one of {_FORMATS}, got {format!r}")
    text = to_dot(t, names)
    if format == "dot":
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path
    program = shutil.which("dot")
    if program is None:
        raise FileNotFoundError(
            "render_graph: Graphviz's 'dot' program is not on the PATH; install Graphviz (apt-get install graphviz, "
            "brew install graphviz or conda install graphviz), or save mg.to_dot(t) to a .dot file and render it "
            "elsewhere"
        )
    done = subprocess.run([program, f"-T{format}", "-o", path], input=text.encode(), capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"render_graph: dot -T{format} failed: {done.stderr.decode(errors='replace').strip()}")
    return path
