"""Dynamic axes: the graph traced a second time with those axes longer, and what differs written from the inputs.

A trace holds sizes as numbers: a Reshape's target (batch × 4, 15), the zeros of an initial state (batch, 16).
With dynamic axes, ``export`` traces the call again on inputs whose dynamic axes are longer (their entries
repeated) and compares the two graphs, which must have the same nodes. Each constant that differs is then
written in terms of the inputs' sizes at run time:

- an int64 vector (a shape): each entry that changed, as ``Shape(input)[axis]`` (times k when it is k times the
  axis in both traces); one entry that matches no axis may stay -1 in a Reshape's target;
- a constant filled with one value (zeros of the batch's size): that value expanded to its shape, so computed;
- anything else (a float that depends on the batch size, positions baked in) is refused, naming its user.
"""

from __future__ import annotations

import numpy as np

from .graph import ExportError, Graph


def varying_axes(inputs: tuple, names: list[str], dynamic_axes: dict) -> list[tuple[str, int, int]]:
    """(input name, axis, traced size) for each dynamic axis of an input."""
    found = []
    for x, name in zip(inputs, names):
        axes = dynamic_axes.get(name) or {}
        ndim = np.ndim(x._data if hasattr(x, "_data") else x)
        for axis in axes:
            if not -ndim <= int(axis) < ndim:
                raise ValueError(f"onnx.export: dynamic_axes gives axis {axis} of '{name}', which has {ndim} axes")
            found.append((name, int(axis) % ndim, np.shape(x._data if hasattr(x, "_data") else x)[int(axis)]))
    return found


GROW = 3  # how much longer each dynamic axis is in the second trace


def enlarged(inputs: tuple, names: list[str], axes: list) -> tuple:
    """The inputs with each dynamic axis GROW entries longer (its entries repeated: ids stay ids)."""
    out = []
    for x, name in zip(inputs, names):
        a = np.asarray(x._data if hasattr(x, "_data") else x)
        for which, axis, size in axes:
            if which == name:
                if size == 0:
                    raise ValueError(f"onnx.export: the dynamic axis {axis} of '{name}' is empty in the example")
                a = np.take(a, np.arange(size + GROW) % size, axis=axis)
        out.append(a)
    return tuple(out)


def _users(graph: Graph, name: str) -> str:
    ops = sorted({op for op, inputs, _, _ in graph.nodes if name in inputs})
    return ", ".join(ops) or "no node"


def generalize(graph: Graph, other: Graph, axes: list) -> None:
    """Rewrite in ``graph`` the constants that differ in ``other`` (the trace with longer dynamic axes)."""
    same = len(graph.nodes) == len(other.nodes) and all(
        a[:3] == b[:3] and a[3].keys() == b[3].keys() for a, b in zip(graph.nodes, other.nodes)
    )
    if not same or graph.initializers.keys() != other.initializers.keys():
        raise ExportError(
            "onnx.export: the traced graph changes with the size of the dynamic axes (Python code that depends on "
            "the sizes); export without dynamic_axes"
        )
    for a, b in zip(graph.nodes, other.nodes):
        for key, value in a[3].items():
            if not np.array_equal(value, b[3][key]):
                raise ExportError(f"onnx.export: {a[0]}'s attribute {key} depends on the size of the dynamic axes")
    sizes = _Sizes(graph, axes)
    prelude: list[tuple] = []
    for name in list(graph.initializers):
        a, b = graph.initializers[name], other.initializers[name]
        if a.shape == b.shape and np.array_equal(a, b):
            continue
        del graph.initializers[name]
        if a.dtype == np.int64 and a.ndim == 1 and a.shape == b.shape:
            reshape = all(op == "Reshape" and inputs[1] == name for op, inputs, _, _ in graph.nodes if name in inputs)
            prelude += sizes.vector(name, a, b, reshape, _users(graph, name))
        elif a.ndim == b.ndim and a.size and b.size and np.all(a == a.flat[0]) and np.all(b == a.flat[0]):
            shape = graph.fresh("shape")
            prelude += sizes.vector(shape, np.array(a.shape), np.array(b.shape), False, _users(graph, name))
            fill = graph.constant(np.asarray(a.flat[0], dtype=a.dtype))
            prelude.append(("Expand", [fill, shape], [name], {}))
        else:
            raise ExportError(
                f"onnx.export: a constant of shape {a.shape} (used by {_users(graph, name)}) depends on the size of "
                "the dynamic axes; export without dynamic_axes, or compute it from the inputs with minigrad operations"
            )
    graph.nodes[:0] = prelude  # they read the inputs only: before every other node


class _Sizes:
    """The run-time size of each dynamic axis, as a one-element int64 vector (``Shape(input)[axis]``)."""

    def __init__(self, graph: Graph, axes: list) -> None:
        self.graph, self.axes, self.made = graph, axes, {}

    def axis(self, name: str, axis: int) -> tuple[str, list]:
        if (name, axis) in self.made:
            return self.made[name, axis], []
        g = self.graph
        shape, out = g.fresh("shape"), g.fresh("size")
        self.made[name, axis] = out
        return out, [("Shape", [name], [shape], {}), ("Gather", [shape, g.constant(np.array([axis]))], [out], {})]

    def entry(self, n1: int, n2: int) -> tuple[str | None, list]:
        """The size that is n1 in the first trace and n2 in the second, from an axis that grew from s1 to s2."""
        for name, axis, s1 in self.axes:
            s2 = s1 + GROW
            if s1 and n1 % s1 == 0 and n2 % s2 == 0 and n1 // s1 == n2 // s2 >= 1:
                size, nodes = self.axis(name, axis)
                if n1 == s1:
                    return size, nodes
                out = self.graph.fresh("size")
                k = self.graph.constant(np.array([n1 // s1], dtype=np.int64))
                return out, nodes + [("Mul", [size, k], [out], {})]
        return None, []

    def vector(self, name: str, a: np.ndarray, b: np.ndarray, reshape: bool, users: str) -> list:
        """Nodes computing, as ``name``, the int64 vector that is ``a`` in the first trace and ``b`` in the second."""
        g, nodes, parts, unknown = self.graph, [], [], 0
        for n1, n2 in zip(a.tolist(), b.tolist()):
            if n1 == n2:
                parts.append(g.constant(np.array([n1], dtype=np.int64)))
                continue
            size, made = self.entry(n1, n2)
            if size is None:
                unknown += 1
                size = g.constant(np.array([-1], dtype=np.int64))
            nodes += made
            parts.append(size)
        if unknown and not (reshape and unknown == 1):
            raise ExportError(
                f"onnx.export: the sizes {a.tolist()} (traced again: {b.tolist()}, used by {users}) change with the "
                "dynamic axes in a way not read from one of them"
            )
        return nodes + [("Concat", parts, [name], {"axis": 0})]
