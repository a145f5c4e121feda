"""The backward rules as source: the common ones inline, the others as calls into ``minigrad.rules``.

Each returns the expression of one rule's Jᵀg for the replay and whether it makes a new array (a gradient
that may be shared is copied before it is accumulated in place or handed to ``.grad``). ``b`` is the
``codegen.Builder`` writing the replay: it names the arguments (``b.ref``) and the constants (``b.const``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..rules import VJPS
from ..tensor import Tensor

_BUFFER_SIZE = 4096  # up to this size, the gradient of a sum is a filled array rather than a broadcast view
_GEMV_ROWS = 64  # from this many rows, a sum over the rows is a matrix-vector product
# a variable (or a buffer) whose value changes from call to call: an expression without one is a constant
SLOT = re.compile(r"\b(?:[sgruvap]\d+(?:_\d+)?|B\d+)\b")
_UFUNC_OPS = frozenset({"add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "negative",
                        "absolute", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh"})  # fmt: skip

# Rules written inline: (template, whether it makes a new array). {g} is the gradient, {ans} the output.
_INLINE = {
    "add": (("{g}", False), ("{g}", False)),
    "subtract": (("{g}", False), ("-{g}", True)),
    "multiply": (("{g} * {1}", True), ("{g} * {0}", True)),
    "divide": (("{g} / {1}", True), ("-{g} * {ans} / {1}", True)),
    "negative": (("-{g}", True),),
    "exp": (("{g} * {ans}", True),),
    "log": (("{g} / {0}", True),),
    "sqrt": (("{g} / (2 * {ans})", True),),
    "tanh": (("{g} * ({one} - {ans} * {ans})", True),),
    "sigmoid": (("{g} * {ans} * ({one} - {ans})", True),),
    "relu": (("{g} * ({ans} > 0)", True),),
    "reshape": (("{g}.reshape({0}.shape)", False),),
}


# matmul's rules for 1-D and 2-D operands, by (a.ndim, b.ndim): the cases of rules.matmul_vjp_a/_b, inline
_MATMUL = {
    (2, 2): ("{g} @ {b}.T", "{a}.T @ {g}"),
    (2, 1): ("{g}[:, None] * {b}", "{a}.T @ {g}"),
    (1, 2): ("{b} @ {g}", "{a}[:, None] * {g}"),
    (1, 1): ("{g} * {b}", "{g} * {a}"),
}


def rule(b: Any, node: Tensor, i: int, g: str, pv: np.ndarray) -> tuple[str, bool]:
    """The expression of rule ``i`` of ``node`` (and whether it makes a new array)."""
    op, args = node._op, node._args
    floating = node._data.dtype.kind == "f" and op in _UFUNC_OPS  # (other ops take numbers as axes, shapes...)
    refs = [b.number(a, node._data.dtype) if floating and type(a) in (int, float) else b.ref(a) for a in args]
    ans = b.names[id(node._data)]
    if op in _INLINE:
        template, new = _INLINE[op][i]
        one = b.number(1, node._data.dtype) if node._data.dtype.kind == "f" else "1"
        return template.format(*refs, g=g, ans=ans, one=one), new
    if op == "matmul" and args[0].ndim <= 2 and args[1].ndim <= 2:
        x, y = refs
        template = _MATMUL[(args[0].ndim, args[1].ndim)][i]
        return template.format(a=x, b=y, g=g), True
    if op in ("maximum", "minimum") and pv.dtype == np.float64:
        x, y = (refs[0], refs[1]) if i == 0 else (refs[1], refs[0])
        wins = ">" if op == "maximum" else "<"  # rules._share: 1 where this input wins, ½ at ties, else 0
        return f"{g} * (({x} {wins} {y}) + {b.number(0.5, pv.dtype)} * ({x} == {y}))", True
    if op == "transpose":  # y = xᵀ (axes permuted): Jᵀg permutes back
        axes = args[1]
        inverse = None if axes is None else tuple(int(k) for k in np.argsort(axes))
        return f"{g}.transpose({b.const(inverse)})", False
    if op in ("sum", "reshape", "broadcast_to") and not SLOT.search(g):
        return b.const(pv), False  # these rules read only shapes: a constant g gives a constant
    if op == "sum" and args[1] is None and not args[2] and pv.size <= _BUFFER_SIZE:
        return f"np.full({b.const(pv.shape)}, {g})", True  # Σ x: g repeated (rules._expand fills a new array)
    rule = b.const(VJPS[op][i], "R")
    return f"{rule}({g}, {ans}, {', '.join(refs)})", False


def unbroadcast(b: Any, expr: str, have: tuple, shape: tuple, dtype: np.dtype) -> tuple[str, bool]:
    """``engine.unbroadcast`` with the axes worked out once: a sum and a reshape."""
    lead = len(have) - len(shape)
    if lead < 0:
        return f"({expr}).reshape({b.const(shape)})", False
    # as engine.unbroadcast: leading axes of length 1 need no sum (the reshape drops them)
    axes = tuple(k for k in range(lead) if have[k] != 1)
    axes += tuple(lead + k for k, n in enumerate(shape) if n == 1 and have[lead + k] != 1)
    summed = tuple(n for k, n in enumerate(have) if k not in axes)
    if axes == (0,) and len(have) == 2 and have[0] >= _GEMV_ROWS and dtype == np.float64:
        # the bias gradient: Σ over the batch as 1ᵀG, a BLAS product, 6x faster than sum(axis=0) at 4096 rows
        return f"{b.const(np.ones(have[0]))} @ ({expr})", True
    out = f"({expr}).sum(axis={b.const(axes)})" if axes else f"({expr})"
    return (out if summed == shape else f"{out}.reshape({b.const(shape)})"), bool(axes)
