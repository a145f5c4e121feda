"""The backward pass as source: the engine's walk from one root, unrolled into lines of ``codegen.Builder``.

The walk visits the nodes that lead to a wanted leaf from the latest to the earliest, as the engine does,
and runs once at trace time on the traced values (the dry run): the gradients it computes are only looked
at for their shapes and dtypes, which decide once the broadcast axes to sum and the casts to write. Each
parent's term is written by ``vjp_source`` (inline for the rules written as expressions, else a
call of the rule); the terms of one tensor are accumulated as the engine does: the first as it is, the
second into a new array, the later ones in place. The gradients of batched siblings are stacked into a
buffer (``siblings.py``), and ``.grad`` of each wanted leaf receives an array that shares memory with
nothing, as ``engine._own`` ensures for eager backward.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine import unbroadcast
from ..registry import PRIMITIVES
from ..tensor import Tensor
from . import vjp_source
from .vjp_source import SLOT

if TYPE_CHECKING:
    from .codegen import Builder

_NAME = re.compile(r"[A-Za-z_]\w*")


def emit(b: Builder, r: int, root: Tensor, seed: Any, nodes: list[Tensor], reach: set[int]) -> None:
    """The engine's walk from ``root``, unrolled; ``reach`` holds the ids of nodes leading to a wanted leaf."""
    walk = _Walk(b, r, root, _seed(root, seed))
    leaves: list[Tensor] = []
    pieces: dict[int, list] = {}  # id(stacked node) -> its two members, as the walk meets them (see siblings.py)
    for node in sorted((n for n in nodes if id(n) in reach), key=lambda n: -n._id):
        if id(node) in b.unstack:  # a member of a stacked node: its gradient is a half of the stacked one
            big, j = b.unstack[id(node)]
            pieces.setdefault(id(big), [None, None])[j] = node
            if j == 0:  # (member 1 has the larger id: it came first)
                _stack_gradients(b, big, pieces[id(big)], walk)
        elif id(node) not in walk.gname:
            continue
        elif node._op is None:
            leaves.append(node)
        else:
            _propagate(b, walk, node, reach)
    _write_leaf_grads(b, walk, leaves)


def _seed(root: Tensor, seed: Any) -> np.ndarray:
    """The gradient the walk starts from: ``seed`` in the root's dtype, or ones as ``backward()`` uses."""
    if seed is None:
        return np.array(1, dtype=root._data.dtype) if root._data.shape == () else np.ones_like(root._data)
    return np.array(seed, dtype=root._data.dtype)


class _Walk:
    """The gradients of one backward pass so far, by id of their tensor: the variable holding each (``gname``),
    its value in the dry run (``values``), how many terms were added into it (``adds``) and whether it is a new
    array that nothing else holds (``fresh``)."""

    def __init__(self, b: Builder, r: int, root: Tensor, seed: np.ndarray) -> None:
        self.b, self.r = b, r
        self.gname: dict[int, str] = {id(root): b.ref(seed)}
        self.values: dict[int, np.ndarray] = {id(root): seed}
        self.adds: dict[int, int] = {}
        self.fresh: dict[int, bool] = {id(root): False}

    def accumulate(self, parent: Tensor, expr: str, pv: np.ndarray, new: bool) -> None:
        """Add the term ``expr`` (of dry-run value ``pv``; ``new``: it makes a new array) to ``parent``'s gradient."""
        key, var = id(parent), f"g{self.r}_{parent._id}"
        count = self.adds.get(key, 0)
        if count == 0:
            if _NAME.fullmatch(expr):  # a variable or constant as it is (add's rule): no copy, no line
                var = expr
            else:
                self.b.lines.append(f"{var} = {expr}")
            self.gname[key], self.values[key], self.fresh[key] = var, pv, new
        elif count == 1:
            self.b.lines.append(f"{var} = {self.gname[key]} + {expr}")
            self.gname[key] = var
            self.values[key], self.fresh[key] = self.values[key] + pv, True
        else:
            self.b.lines.append(f"{var} += {expr}")
            self.values[key] = self.values[key] + pv
        self.adds[key] = count + 1


def _propagate(b: Builder, walk: _Walk, node: Tensor, reach: set[int]) -> None:
    """Add its term of ``node``'s gradient to each parent of ``node`` that leads to a wanted leaf."""
    g, gv = walk.gname[id(node)], walk.values[id(node)]
    for i, parent in enumerate(node._parents):
        if parent is not None and id(parent) in reach:
            expr, pv, new = _term(b, node, i, parent, g, gv)
            walk.accumulate(parent, expr, pv, new)


def _term(b: Builder, node: Tensor, i: int, parent: Tensor, g: str, gv: np.ndarray) -> tuple[str, np.ndarray, bool]:
    """The term for argument ``i`` of the gradient ``g`` (dry-run value ``gv``) of ``node``: its expression, its
    dry-run value and whether it makes a new array. Summed over the broadcast axes and cast to the dtype of
    ``parent`` as the engine does; folded into a constant if it reads no variable."""
    pv = np.asarray(PRIMITIVES[node._op].vjps[i](gv, node._data, *node._args))
    shape, dtype = parent._data.shape, parent._data.dtype
    expr, new = vjp_source.rule(b, node, i, g, pv)
    if pv.shape != shape:
        expr, new = vjp_source.unbroadcast(b, expr, pv.shape, shape, pv.dtype)
        pv = unbroadcast(pv, shape)
    if pv.dtype != dtype:
        pv = pv.astype(dtype)
        expr = f"({expr}).astype({b.const(dtype)})"
        new = True
    if not SLOT.search(expr):
        expr, new = b.const(pv), False  # only constants in it: folded
    return expr, pv, new


def _write_leaf_grads(b: Builder, walk: _Walk, leaves: list[Tensor]) -> None:
    """Each wanted leaf's ``.grad`` receives its gradient, or adds it to the one it holds (as the engine)."""
    handed: set[str] = set()
    for leaf in leaves:
        if id(leaf) not in b.wanted:
            continue
        obj = b.leaf_expr.get(id(leaf)) or b.const(leaf, "P")
        g = walk.gname[id(leaf)]
        own = _owned(b, leaf, g, walk.fresh[id(leaf)], handed)
        handed.add(g)
        b.lines.append(f"{obj}._grad = {own} if {obj}._grad is None else {obj}._grad + {g}")  # (as the engine)


def _owned(b: Builder, leaf: Tensor, g: str, fresh: bool, handed: set[str]) -> str:
    """What ``.grad`` of ``leaf`` receives for the gradient variable ``g``: an array that shares memory with
    nothing (``engine._own``). A new array as it is; a buffer, a constant, a 0-d result (a NumPy scalar) or a
    gradient handed already, copied; else checked at each call."""
    if fresh and leaf._data.ndim and g not in handed:
        return g
    if g in handed or not leaf._data.ndim or g.startswith("B") or not SLOT.fullmatch(g):
        return f"np.array({g}, order='C')"
    b.ns["_own"] = _own
    return f"_own({g})"


def _stack_gradients(b: Builder, big: Tensor, members: list, walk: _Walk) -> None:
    """The gradient of a stacked node: its members' gradients one above the other, written into a buffer
    made once (the half of a member without gradient stays 0). The buffer is never handed out: ``.grad``
    receives a copy of it or of a view of it (``_owned``), and no line adds into it in place."""
    present = [m is not None and id(m) in walk.gname for m in members]
    if not any(present):
        return
    rows = big._data.shape[0] // 2
    buffer = b.const(np.zeros(big._data.shape, big._data.dtype), "B")
    for j, m in enumerate(members):
        if present[j]:
            b.lines.append(f"{buffer}[{b.const(slice(j * rows, (j + 1) * rows))}] = {walk.gname[id(m)]}")
    parts = [walk.values[id(m)] if ok else np.zeros_like(walk.values[id(members[1 - j])]) for j, (m, ok) in
             enumerate(zip(members, present))]  # fmt: skip
    walk.accumulate(big, buffer, np.concatenate(parts), False)


def _own(g: np.ndarray) -> np.ndarray:
    """``g`` itself if it owns its memory and may be written, else a copy (a view, a read-only broadcast)."""
    return g if g.base is None and g.flags.writeable else g.copy()  # (C order, as the engine's copy: the
    # parameters are C-ordered, and updating one elementwise with a gradient laid out in another order is slower)
