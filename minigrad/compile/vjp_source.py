"""The backward rules as source: those written as expressions inline, the others as calls of the rule.

Each returns the expression of one rule's Jᵀg for the replay and whether it makes a new array (a gradient
that may be shared is copied before it is accumulated in place or handed to ``.grad``). ``b`` is the
``codegen.Builder`` writing the replay: it names the arguments (``b.ref``) and the constants (``b.const``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .. import expressions
from ..forget import Forgotten
from ..registry import BINARY, PRIMITIVES, UNARY, reads
from ..tensor import Tensor
from .peephole import small_matmul

_BUFFER_SIZE = 4096  # up to this size, the gradient of a sum is a filled array rather than a broadcast view
# a variable (or a buffer) whose value changes from call to call: an expression without one is a constant
SLOT = re.compile(r"\b(?:[sgruvap]\d+(?:_\d+)?|B\d+)\b")
# matmul's rules for 1-D and 2-D operands, by (a.ndim, b.ndim): the cases of linalg.matmul_vjp_a/_b, inline
# (np.dot rather than @: the same product for these ranks at half the call overhead, see peephole.small_matmul)
# Outer products are products with an inner axis of 1, which BLAS writes faster than a broadcast multiply.
# Aᵀg for a vector g is gᵀA. AᵀG is (GᵀA)ᵀ, as np.dot would copy the transposed A; its transpose folds
# away when the parent is a transposed matrix (x Wᵀ). (Measurements: docs/performance.md.)
_MATMUL = {
    (2, 2): ("_dot({g}, {b}.T)", "_dot({a}.T, {g})"),
    (2, 1): ("_dot({g}[:, None], {b}[None])", "_dot({g}, {a})"),
    (1, 2): ("_dot({b}, {g})", "_dot({a}[:, None], {g}[None])"),
    (1, 1): ("{g} * {b}", "{g} * {a}"),
}
_TALL = 64  # from this many rows in A, AᵀG is computed as (GᵀA)ᵀ even when the transpose is not folded


def rule(b: Any, node: Tensor, i: int, g: str, pv: np.ndarray) -> tuple[str, bool]:
    """The expression of rule ``i`` of ``node`` (and whether it makes a new array)."""
    op, args, dtype = node._op, node._args, node._data.dtype
    primitive = PRIMITIVES[op]
    floating = dtype.kind == "f" and primitive.kind in (UNARY, BINARY)  # (others take numbers as axes, shapes...)
    refs = [b.number(a, dtype) if floating and type(a) in (int, float) else b.ref(a) for a in args]
    ans = b.names[id(node._data)]
    if op == "matmul" and small_matmul(*args):
        x, y = refs
        template = _MATMUL[(args[0].ndim, args[1].ndim)][i]
        parent = node._parents[i]
        if (args[0].ndim, args[1].ndim, i) == (2, 2, 1) and (args[0].shape[0] >= _TALL or is_matrix_transpose(parent)):
            template = "_dot({g}.T, {a}).T"
        right = tuple(node._parents) + (None, None)
        if (args[0].ndim, args[1].ndim, i) == (2, 2, 0) and is_matrix_transpose(right[1]):
            # for b = Wᵀ, bᵀ is W itself, not the transpose of Wᵀ's copy: the copy is then not computed at all
            # when the forward multiplies few rows by Wᵀ as a view
            template = "_dot({g}, " + b.ref(right[1]._args[0]) + ")"
        return template.format(a=x, b=y, g=g), True
    if op == "concatenate" and args[-1] == 0:  # c = [x₀; x₁; …]: Jᵀg is xᵢ's rows of g, a view
        start = sum(a.shape[0] for a in args[:i])
        return f"{g}[{b.const(slice(start, start + args[i].shape[0]))}]", False
    if op == "transpose":  # y = x with its axes permuted: Jᵀg permutes back
        inverse = None if args[1] is None else tuple(int(k) for k in np.argsort(args[1]))
        if inverse == tuple(range(pv.ndim)):  # the identity permutation (x.transpose(0, 1) of a matrix): g itself
            return g, False
        if is_matrix_transpose(node):
            return f"{g}.T", False  # (an attribute: 70 ns, where .transpose(axes) costs 340 ns)
        return f"{g}.transpose({b.const(inverse)})", False
    if op in ("sum", "mean", "reshape", "broadcast_to") and not SLOT.search(g):
        return b.const(pv), False  # these rules read only shapes: a constant g gives a constant
    if op == "sum" and args[1] is None and not args[2] and pv.size <= _BUFFER_SIZE:
        return f"np.full({b.const(pv.shape)}, {g})", True  # Σ x: g repeated (ops._repeat fills a new array)
    if op == "mean" and args[1] is None and not args[2] and pv.size <= _BUFFER_SIZE:
        n = args[0].size or 1  # Σ x / n: g / n repeated (ops.mean_vjp)
        return f"np.full({b.const(pv.shape)}, {g} / {n})", True
    rule = primitive.vjps[i]
    expression = getattr(rule, "expression", None)
    if primitive.against_constant and pv.dtype == dtype and dtype.kind == "f" \
            and finite_constant(b, args[1 - i]):  # fmt: skip
        expression = primitive.against_constant[i]
    if expression is not None:  # written into the replay, numbers as 0-d arrays of the node's dtype
        params = rule.__code__.co_varnames[2 : rule.__code__.co_argcount]
        names = {"g": g, "ans": ans, **dict(zip(params, refs))}
        number = (lambda v: b.number(v, dtype)) if dtype.kind == "f" else None
        return expressions.inline(expression, names, number), expressions.makes_new_array(expression)
    if not reads(rule, len(args))[0]:
        # a rule that never reads the node's value gets its shape and dtype only (as the engine's forgotten
        # values): the replay can then drop the value once the forward is done with it (a convolution's 0.9 MB
        # output on LeNet at batch 64, which its rules never read, would otherwise live until its backward)
        ans = b.const(Forgotten(node._data))
    return f"{b.const(rule, 'R')}({g}, {ans}, {', '.join(refs)})", False


def finite_constant(b: Any, value: Any) -> bool:
    """Whether ``value`` is a Python number or an array folded as a constant, with finite values only."""
    if type(value) in (int, float):
        return bool(np.isfinite(value))
    if not isinstance(value, np.ndarray) or id(value) in b.names or id(value) in b.recorder.recipes:
        return False  # (a variable of the replay, or recomputed at every call)
    return value.base is None and value.dtype.kind == "f" and bool(np.isfinite(value).all())


def is_matrix_transpose(node: Any) -> bool:
    """Whether ``node`` is the transpose xᵀ of a matrix (``x.T``, ``x.transpose(1, 0)``), not another permutation."""
    return node is not None and node._op == "transpose" and node._data.ndim == 2 and node._args[1] in (None, (1, 0))


def unbroadcast(b: Any, expr: str, have: tuple, shape: tuple, dtype: np.dtype) -> tuple[str, bool]:
    """``engine.unbroadcast`` with the axes worked out once: a sum and a reshape."""
    lead = len(have) - len(shape)
    if lead < 0:
        return f"({expr}).reshape({b.const(shape)})", False
    # as engine.unbroadcast: leading axes of length 1 need no sum (the reshape drops them)
    axes = tuple(k for k in range(lead) if have[k] != 1)
    axes += tuple(lead + k for k, n in enumerate(shape) if n == 1 and have[lead + k] != 1)
    summed = tuple(n for k, n in enumerate(have) if k not in axes)
    if axes == (0,) and len(have) == 2 and summed == shape and dtype == np.float64:
        # the bias gradient: Σ over the batch as 1ᵀG, a BLAS product, faster than sum(axis=0) at every batch
        # (float64 only: float32's BLAS sums in float32 where NumPy's pairwise sum is finer)
        return f"_dot({b.const(np.ones(have[0]))}, {expr})", True
    out = f"({expr}).sum(axis={b.const(axes)})" if axes else f"({expr})"
    return (out if summed == shape else f"{out}.reshape({b.const(shape)})"), bool(axes)
