"""Recording: the one place where the result of a primitive becomes a graph node.

``record`` is the path every primitive takes. ``unary`` and ``binary`` make the public functions of the
elementwise primitives: they sort out their operands and call ``node``, the same as ``record``
does, so the hot path of an elementwise chain is a single function of its own per primitive plus one
shared call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .anomaly import _on as _anomaly
from .anomaly import check_forward
from .forget import forget, forget_at
from .grad_mode import _off, get_ident
from .guard import SELF_ONLY, hold_one, node_saves
from .registry import FIRST_ONLY_PLAN, SELF_ONLY_PLAN, batching, generation, plan
from .tensor import REAL_KINDS, Tensor, as_tensor, constant, creation_ids, new_tensor, not_real

_ndarray = np.ndarray
_SCALAR = (int, float, bool, np.generic)

# While mg.compile traces a step, the function it puts here is told of every primitive's result that is not
# recorded (computed from constants, detached values or with recording off): its replay recomputes those
# from their arguments instead of keeping the values of the traced call. Empty otherwise.
unrecorded: list = []


class CompileError(RuntimeError):
    """``mg.compile`` cannot compile the step (or its replay disagreed with eager execution). Defined here,
    below ``nn``, so that a layer can refuse a trace (``if unrecorded: raise CompileError(...)``)."""


def record(op: str, data: Any, args: tuple, parents: tuple, inputs: tuple | None = None) -> Tensor:
    """The result of primitive ``op``: a graph node when recording is on and a parent requires grad.

    ``args`` are the primitive's arguments as its rules take them (arrays for tensors); ``parents``
    holds, position by position, the argument tensors that require grad and None elsewhere; ``inputs``,
    if given, every argument tensor (constants too: the in-place guard then covers those a rule reads).
    """
    if type(data) is not _ndarray:
        data = np.asarray(data)  # NumPy returns scalars from 0-d operations
    if len(parents) == 1:  # (most primitives recorded here have one parent: reductions, shape operations)
        mask = int(parents[0] is not None)
    else:
        mask = 0  # bit i: parent i requires grad
        for i, p in enumerate(parents):
            if p is not None:
                mask |= 1 << i
    return node(op, data, args, parents, plan(op, len(args), mask) if mask else None, inputs)


def node(op: str, data: np.ndarray, args: tuple, parents: tuple, reads: Any, inputs: tuple | None) -> Tensor:
    """``record`` once the plan of the parents that require grad is known (``registry.plan``; None if no
    parent requires grad): the node, or a constant if nothing is recorded."""
    if reads is not None and (not _off or get_ident() not in _off):
        t = new_tensor(Tensor)
        t._data = data
        t._grad = t._links = t._saved = None
        t._id = next(creation_ids)
        t._rg = True
        t._op = op
        t._args = args
        t._parents = parents
        t._held = 0
        if reads is SELF_ONLY_PLAN:  # the rules read the node's own value only (tanh, exp...)
            t._held = 1
            t._saver = op
            t._saved = SELF_ONLY
        elif reads is FIRST_ONLY_PLAN and inputs is None and parents[0] is not None and args[0].base is None:
            t._saved = hold_one(parents[0], op)  # the rules read x, a tensor that views no other: sin, log
        # (positions past the parents are numbers or axes unless ``inputs`` gives tensors there: nothing to hold)
        elif reads[0] or reads[1] and (inputs is not None or reads[1][0] < len(parents)):
            t._saved = node_saves(t, op, parents, reads, inputs)
        if data.size >= forget_at[0]:
            forget(parents)
    else:
        t = constant(data)
        if unrecorded:
            unrecorded[0](op, data, args)
    if _anomaly and get_ident() in _anomaly:
        check_forward(op, t, args)
    return t


def unary(op: str, compute: Any, differentiable: bool = True) -> Any:
    """The public function of the unary elementwise primitive ``op``, whose value is ``compute(x)``."""

    plans = [None, None]  # (the registry's generation, the plan of x requiring grad): see ``_renew``

    def forward(x: Any) -> Tensor:
        if type(x) is not Tensor:
            if batching and hasattr(x, "_level"):  # a Batched, inside mg.vmap
                return batching[0](op, (x,), {})
            x = as_tensor(x, op)  # (subclasses pass through)
        d = x._data
        out = compute(d)
        if type(out) is not _ndarray:
            out = np.asarray(out)
        if x._rg and differentiable:
            return node(op, out, (d,), (x,), plans[1] if plans[0] is generation[0] else _renew(plans, op)[1], None)
        return node(op, out, (d,), (None,), None, None)

    return forward


def binary(op: str, compute: Any) -> Any:
    """The public function of the binary primitive ``op``, whose value is ``compute(x, y)`` (broadcast)."""

    plans = [None] * 4  # the registry's generation, then the plan of each mask of parents: see ``_renew``

    def forward(a: Any, b: Any) -> Tensor:
        # the operands as the rules take them (arrays, numbers) and the tensors among them that require grad
        if type(a) is Tensor:  # (exact-type tests first: most operands are a Tensor or a Python number)
            x, pa = a._data, a if a._rg else None
        elif type(a) is float or type(a) is int:
            x, pa = a, None
        else:
            if batching and hasattr(a, "_level"):  # a Batched, inside mg.vmap
                return batching[0](op, (a, b), {})
            x, pa = _operand(op, a)
        if type(b) is Tensor:
            y, pb = b._data, b if b._rg else None
        elif type(b) is float or type(b) is int:
            y, pb = b, None
        else:
            if batching and hasattr(b, "_level"):
                return batching[0](op, (a, b), {})
            y, pb = _operand(op, b)
        try:
            out = compute(x, y)
        except ValueError as e:
            raise _binary_error(op, x, y, e) from None
        if type(out) is not _ndarray:
            out = np.asarray(out)
        if plans[0] is not generation[0]:
            _renew(plans, op)
        # (an operand that is a tensor but no parent may be read by the other's rule: the guard holds it too)
        if pb is None:
            if pa is None:
                return node(op, out, (x, y), (None,), None, None)
            reads = plans[1]
            constant = reads[1] and type(b) is not float and isinstance(b, Tensor)
            return node(op, out, (x, y), (pa,), reads, (a, b) if constant else None)
        reads = plans[3] if pa is not None else plans[2]
        constant = pa is None and reads[1] and isinstance(a, Tensor)
        return node(op, out, (x, y), (pa, pb), reads, (a, b) if constant else None)

    return forward


def _renew(plans: list, op: str) -> Any:
    """Fill a forward function's ``plans``: ``plans[mask]`` is ``registry.plan`` of that mask of parents (bit i:
    argument i requires grad), and ``plans[0]`` the registry's generation they hold for."""
    n_args = len(plans).bit_length() - 1
    plans[1:] = [plan(op, n_args, mask) for mask in range(1, len(plans))]
    plans[0] = generation[0]
    return plans


def _operand(op: str, x: Any) -> tuple[Any, Tensor | None]:
    """A binary operand as the rules see it, and the tensor to differentiate through (or None): numbers and
    plain arrays stay; anything array-like (lists, buffers, ndarray subclasses) becomes a plain ndarray."""
    if isinstance(x, Tensor):
        return x._data, x if x._rg else None
    if type(x) is _ndarray or isinstance(x, _SCALAR):
        if x.dtype.kind in REAL_KINDS if hasattr(x, "dtype") else True:
            return x, None
        raise TypeError(f"{op}: {not_real(np.asarray(x))}")
    if not isinstance(x, (str, bytes)) and x is not None:
        try:
            a = np.asarray(x)
        except (TypeError, ValueError):
            a = None
        if a is not None and a.dtype.kind in REAL_KINDS:
            return a, None
        if a is not None and a.dtype.kind == "c":
            raise TypeError(f"{op}: {not_real(a)}")
    raise TypeError(f"{op}: unsupported operand type {type(x).__name__}")


def _binary_error(op: str, x: Any, y: Any, error: ValueError) -> ValueError:
    """The error of a binary primitive whose operands do not fit, naming their shapes."""
    sx, sy = np.shape(x), np.shape(y)
    if op == "matmul":
        if not sx or not sy:
            return ValueError(f"matmul: operands must have at least 1 dimension, got shapes {sx} and {sy}")
        inner = sy[-2] if len(sy) > 1 else sy[0]
        try:
            np.broadcast_shapes(sx[:-2], sy[:-2])
            batch = True
        except ValueError:
            batch = False
        if sx[-1] != inner or not batch:
            what = f"inner sizes {sx[-1]} and {inner}" if sx[-1] != inner else f"batch axes {sx[:-2]} and {sy[:-2]}"
            return ValueError(f"matmul: shapes {sx} and {sy} do not match ({what})")
    try:
        np.broadcast_shapes(sx, sy)
    except ValueError:
        return ValueError(f"{op}: operands with shapes {sx} and {sy} cannot be broadcast together")
    return ValueError(f"{op}: {error} (operands of shapes {sx} and {sy})")
