"""Forward mode: ``mg.jvp`` pushes tangents through the recorded graph, in creation order.

There is no second table of derivatives. Rule i of a primitive, g ↦ Jᵢᵀg, is linear in g, so the
vector-Jacobian product of that rule with respect to g is its transpose: for a tangent tᵢ,

    Jᵢ tᵢ = vjp of (g ↦ Jᵢᵀg) at any g, with cotangent tᵢ.

``Linearized`` runs the function once (recording it), then visits the nodes between the inputs and
the output in creation order (ids increase from parent to child). At each node and for each parent
that depends on the inputs it runs the rule once on a fresh tensor g₀ that requires grad: this
records a small graph r = Jᵢᵀg₀ (one to four primitives). ``push`` then carries tangents forward,
node by node: the tangent of a node is Σᵢ Jᵢ tᵢ, each term one backward pass through a small graph.
The tangent of a node is complete when it is visited, since all of its parents come earlier.

Costs: one recorded forward pass, plus per primitive one rule evaluation on Tensors to linearize and
one small backward per push. Measured (``python -m benchmarks.transforms``), one jvp costs 7-10
forward passes, a little less than the transpose of a recorded vjp, and each further tangent on the
same linearization about two forward passes: ``mg.jacobian(mode="fwd")`` linearizes once and pushes
one basis vector per input element. The graph is kept while pushing, so forward mode here saves
passes (one per input element instead of one per output element), not memory.

Nested (see ``minigrad.tracing``): the small graphs are built on the Tensors of the graph (the node and
its parents) and pushed with ``create_graph``, so the tangent is differentiable in the primal inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import backward_pass, parent_gradient, recorded_args
from .grad_mode import enable_grad
from .tensor import Tensor, constant
from .tracing import finish, is_traced, nested, output, source


def _between(out: Tensor, sources: list) -> list:
    """The nodes on paths from the sources to ``out``, sources included, in creation order."""
    low = min(s._id for s in sources)
    stops = set(sources)
    seen: set = set()
    stack = [out]
    while stack:
        node = stack.pop()
        if node in seen or node._id < low:  # made before every source: it cannot depend on them
            continue
        seen.add(node)
        if node in stops or node._op is None:
            continue
        if node._parents is None:
            raise RuntimeError(f"jvp: the graph through '{node._op}' was freed by a backward pass")
        stack.extend(p for p in node._parents if p is not None)
    return sorted(seen, key=lambda n: n._id)


def _transpose(node: Tensor, i: int, parent: Tensor, nest: bool) -> tuple:
    """(g₀, r): the graph of r = Jᵢᵀ g₀, rule i of the node applied to a fresh g₀ that requires grad."""
    ans, args = (node, recorded_args(node)) if nest else (node._data, node._args)
    # Any value would do, the rule being linear in g; ones (not zeros) let a custom backward that drops
    # the graph of g show itself by a non-zero plain array (see minigrad.function).
    g0 = constant(np.ones(node._data.shape, node._data.dtype))
    g0._rg = True  # a leaf that requires grad (node.data is a float array, as the node requires grad)
    r = parent_gradient(node, i, g0, ans, args, parent)
    if not isinstance(r, Tensor):
        r = constant(np.asarray(r))
    return g0, r


class Linearized:
    """The linear map t ↦ J t of a function at a point, as small transposed graphs in creation order.

    Parameters
    ----------
    out : Tensor
        The function's output, recorded from ``sources``.
    sources : list of Tensor
        The fresh tensors standing for the inputs (see ``minigrad.tracing.source``).
    nest : bool
        Build and push differentiable tangents (Tensors with a graph) instead of arrays.
    """

    def __init__(self, out: Tensor, sources: list, nest: bool) -> None:
        self.out, self.sources, self.nest = out, sources, nest
        self.steps: list = []  # (node, [(parent, g₀, r), ...]) in creation order
        active = set(sources)
        with enable_grad():
            for node in _between(out, sources):
                if node in active or node._op is None:
                    continue
                pieces = []
                for i, parent in enumerate(node._parents):
                    if parent is not None and parent in active:
                        g0, r = _transpose(node, i, parent, nest)
                        if r._rg:  # else Jᵢ = 0
                            pieces.append((parent, g0, r))
                if pieces:
                    active.add(node)
                    self.steps.append((node, pieces))
        # the step after which each tangent is no longer needed: push drops it there
        last: dict = {}
        for k, (_, pieces) in enumerate(self.steps):
            for parent, _, _ in pieces:
                last[parent] = k
        self.drops = [[] for _ in self.steps]
        for node, k in last.items():
            if node is not out:
                self.drops[k].append(node)

    def push(self, tangents: Sequence) -> Any:
        """J t for one tangent per source (None for a zero tangent): an array, or a Tensor when nested."""
        tangent = {s: t for s, t in zip(self.sources, tangents) if t is not None}
        for (node, pieces), drops in zip(self.steps, self.drops):
            total = None
            for parent, g0, r in pieces:
                t = tangent.get(parent)
                if t is None:
                    continue
                if self.nest:
                    seed = t if isinstance(t, Tensor) else constant(np.asarray(t, dtype=r._data.dtype))
                    if seed._data.dtype != r._data.dtype:
                        seed = seed.astype(r._data.dtype)
                else:
                    seed = np.asarray(t, dtype=r._data.dtype)
                jt = backward_pass(r, seed, True, self.nest, [g0]).get(g0)
                if jt is not None:
                    total = jt if total is None else total + jt
            if total is not None:
                tangent[node] = total
            for done in drops:  # every consumer has its tangent: free this one (a chain keeps one alive)
                tangent.pop(done, None)
        result = tangent.get(self.out)
        return np.zeros_like(self.out._data) if result is None else result


def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple:
    """Forward mode: the value of ``f`` at ``primals`` and its directional derivative along ``tangents``.

    For y = f(x₁, …, xₙ) this is (y, Σⱼ ∂y/∂xⱼ · tⱼ), computed in one pass that carries the tangents
    forward through the same rule table as backward (see the module docstring), never by building J.

    Parameters
    ----------
    f : callable
        Takes Tensors, returns a Tensor.
    primals, tangents : tuple
        The point (Tensors, arrays or floats) and one tangent of the same shape per primal.

    Returns
    -------
    (Tensor, Tensor)
        f(primals) and J·tangents. Both are constants unless a primal or a tangent requires grad
        (nested: then they carry a graph, so ``mg.grad`` of a jvp works).

    >>> import minigrad as mg
    >>> y, t = mg.jvp(mg.sin, (0.0,), (2.0,))   # cos(0) · 2
    >>> float(t.data)
    2.0
    """
    primals, tangents = _sequence("primals", primals), _sequence("tangents", tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primal(s) but {len(tangents)} tangent(s); give one tangent per primal")
    nest = nested(list(primals) + list(tangents))
    with enable_grad():
        sources = [source("jvp", p, i, nest) for i, p in enumerate(primals)]
        values = []
        for i, (s, t) in enumerate(zip(sources, tangents)):
            shape = t._data.shape if isinstance(t, Tensor) else np.shape(t)
            if shape != s._data.shape:
                raise ValueError(f"jvp: tangent {i} has shape {shape} but primal {i} has shape {s.data.shape}")
            if not (nest and is_traced(t)):  # a copy: the tangent out may be the very array pushed in
                t = np.array(t._data if isinstance(t, Tensor) else t, dtype=s._data.dtype)
            values.append(t)
        out = output("jvp", f, f(*sources))
        tangent_out = Linearized(out, sources, nest).push(values)
    return finish(out, nest), finish(tangent_out, nest)


def _sequence(name: str, values: Any) -> tuple:
    if not isinstance(values, (tuple, list)):
        raise TypeError(f"jvp: {name} must be a tuple (one entry per argument of f), got {type(values).__name__}")
    return tuple(values)
