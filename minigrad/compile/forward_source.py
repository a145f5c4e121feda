"""The forward primitives as source: one NumPy expression per graph node, for ``codegen.Builder``.

``b`` is the builder: it names the arguments (``b.ref``), the constants (``b.const``) and Python numbers
as 0-d arrays of the operand's dtype (``b.number``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..registry import BINARY, PRIMITIVES, UNARY
from ..tensor import Tensor
from .peephole import aligned, small_matmul
from .trace import CompileError
from .vjp_source import is_matrix_transpose

_SMALL_COPY = 4096  # parameters up to this size are transposed into a C-ordered copy
_ROWS = 64  # ... unless multiplied by fewer rows than this (then the copy costs more than it saves)
_FORWARD = {
    "clip": "np.clip({0}, {1}, {2})",
    "where": "np.where({0}, {1}, {2})",
    "sum": "{0}.sum(axis={1}, keepdims={2})",  # ({0}.sum() when axis is None and keepdims False)
    "max": "{0}.max(axis={1}, keepdims={2})",
    "min": "{0}.min(axis={1}, keepdims={2})",
    "matmul": "{0} @ {1}",
    "reshape": "{0}.reshape({1})",
    "transpose": "{0}.transpose({1})",
    "broadcast_to": "np.broadcast_to({0}, {1})",
    "astype": "{0}.astype({1})",
    "getitem": "{0}[{1}]",
    "embedding": "{0}[{1}]",
}


def _copied(t: Tensor) -> bool:
    """Whether the transpose ``t`` is of a small 2-D parameter, copied to C order (see ``expression``)."""
    return (
        is_matrix_transpose(t) and t._parents[0] is not None and t._parents[0]._op is None
        and t._data.size <= _SMALL_COPY
    )  # fmt: skip


def expression(b: Any, node: Tensor) -> str:
    """The expression computing ``node._data`` from the variables of the replay."""
    op, args, data = node._op, node._args, node._data
    primitive = PRIMITIVES.get(op)
    if primitive is not None and primitive.kind in (UNARY, BINARY):
        refs = [b.ref(a) for a in args]
        if len(args) == 2:  # a Python number against a float array: a 0-d array of its dtype costs half
            for k, (number, other) in enumerate((args, args[::-1])):
                if type(number) in (int, float) and isinstance(other, np.ndarray) and other.dtype.kind == "f":
                    refs[k] = b.number(number, other.dtype)
        if len(args) == 2:
            refs = aligned(refs, args)
        if primitive.symbol is not None:
            expr = f"{refs[0]} {primitive.symbol} {refs[1]}"
        else:
            expr = f"{b.const(primitive.compute, 'U')}({', '.join(refs)})"
    elif op == "einsum":
        (inputs, output), *arrays = args
        spec = b.const(",".join(inputs) + "->" + output)
        expr = f"np.einsum({spec}, {', '.join(b.ref(a) for a in arrays)})"
    elif op == "concatenate":
        expr = f"np.concatenate(({''.join(b.ref(a) + ', ' for a in args[:-1])}), axis={args[-1]!r})"
    elif op == "transpose" and _copied(node):
        # a small parameter's transpose (Wᵀ of x @ W.T) copied to C order: BLAS multiplies it twice as fast
        # at batch 4096 for the window scorer; for large matrices the copy costs more than it saves
        expr = f"np.ascontiguousarray({b.ref(args[0])}.T)"
    elif op == "matmul" and small_matmul(*args):
        right = b.ref(args[1])
        parents = tuple(node._parents) + (None, None)
        t = parents[1]
        if t is not None and _copied(t) and args[0].ndim == 2 and args[0].shape[0] < _ROWS:
            right = f"{b.ref(t._args[0])}.T"  # few rows: the C-ordered copy of Wᵀ costs more than it saves
        expr = f"_dot({b.ref(args[0])}, {right})"
        if data.ndim == 0:
            expr = f"np.asarray({expr})"
    elif op == "sum" and args[1] is None and not args[2] and args[0].ndim == 1 and args[0].dtype == np.float64:
        expr = f"np.asarray(_dot({b.ref(args[0])}, {b.const(np.ones(args[0].shape))}))"  # 1ᵀx: BLAS, 2.6x
    elif op == "sum" and args[1] is None and not args[2]:
        expr = f"np.asarray({b.ref(args[0])}.sum())"
    elif op == "mean" and args[1] is None and not args[2] and args[0].size and args[0].dtype != np.float16:
        # the sum over n, as the eager mean computes it (float16 goes through that, which sums in float32)
        total = (
            f"_dot({b.ref(args[0])}, {b.const(np.ones(args[0].shape))})"
            if args[0].ndim == 1 and args[0].dtype == np.float64
            else f"{b.ref(args[0])}.sum()"
        )
        expr = f"np.asarray({total} / {args[0].size})"
    elif op in _FORWARD:
        expr = _FORWARD[op].format(*(b.ref(a) for a in args))
        if data.ndim == 0:
            expr = f"np.asarray({expr})"
    elif primitive is not None and primitive.compute is not None:  # its NumPy function on its arguments, in order
        # (logsumexp, mean, scatter_add, cumsum, norm: compute takes the args as the rules do)
        expr = f"{b.const(primitive.compute, 'U')}({', '.join(b.ref(a) for a in args)})"
        if data.ndim == 0:
            expr = f"np.asarray({expr})"
    else:
        raise CompileError(f"compile: the primitive '{op}' cannot be replayed (custom mg.Function ops run eagerly)")
    return expr
