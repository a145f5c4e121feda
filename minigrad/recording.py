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
from .guard import node_saves
from .registry import plan
from .tensor import REAL_KINDS, Tensor, _constant, _ids, _new, _not_real, as_tensor

_ndarray = np.ndarray
_SCALAR = (int, float, bool, np.generic)

# While mg.compile traces a step, the function it puts here is told of every primitive's result that is not
# recorded (computed from constants, detached values or with recording off): its replay recomputes those
# from their arguments instead of keeping the values of the traced call. Empty otherwise.
unrecorded: list = []


def record(op: str, data: Any, args: tuple, parents: tuple, inputs: tuple | None = None) -> Tensor:
    """The result of primitive ``op``: a graph node when recording is on and a parent requires grad.

    ``args`` are the primitive's arguments as its rules take them (arrays for tensors); ``parents``
    holds, position by position, the argument tensors that require grad and None elsewhere; ``inputs``,
    if given, every argument tensor (constants too: the in-place guard then covers those a rule reads).
    """
    if type(data) is not _ndarray:
        data = np.asarray(data)  # NumPy returns scalars from 0-d operations
    mask = 0  # bit i: parent i requires grad
    for i, p in enumerate(parents):
        if p is not None:
            mask |= 1 << i
    return node(op, data, args, parents, mask, inputs)


def node(op: str, data: np.ndarray, args: tuple, parents: tuple, mask: int, inputs: tuple | None) -> Tensor:
    """``record`` once the parents' mask is known: the node, or a constant if nothing is recorded."""
    if mask and (not _off or get_ident() not in _off):
        t = _new(Tensor)
        t._data, t._grad, t._id, t._links = data, None, next(_ids), None
        t._rg, t._op, t._args, t._parents = True, op, args, parents
        t._held, t._saved = 0, None
        reads = plan(op, len(args), mask)
        # (positions past the parents are numbers or axes unless ``inputs`` gives tensors there: nothing to hold)
        if reads[0] or reads[1] and (inputs is not None or reads[1][0] < len(parents)):
            t._saved = node_saves(t, op, parents, reads, inputs)
        if data.size >= forget_at[0]:
            forget(parents)
    else:
        t = _constant(data)
        if unrecorded:
            unrecorded[0](op, data, args)
    if _anomaly and get_ident() in _anomaly:
        check_forward(op, t, args)
    return t


def unary(op: str, compute: Any, differentiable: bool = True) -> Any:
    """The public function of the unary elementwise primitive ``op``, whose value is ``compute(x)``."""

    def forward(x: Any) -> Tensor:
        if type(x) is not Tensor:
            x = as_tensor(x, op)  # (subclasses pass through)
        d = x._data
        out = compute(d)
        if type(out) is not _ndarray:
            out = np.asarray(out)
        if x._rg and differentiable:
            return node(op, out, (d,), (x,), 1, None)
        return node(op, out, (d,), (None,), 0, None)

    return forward


def binary(op: str, compute: Any) -> Any:
    """The public function of the binary primitive ``op``, whose value is ``compute(x, y)`` (broadcast)."""

    def forward(a: Any, b: Any) -> Tensor:
        # the operands as the rules take them (arrays, numbers) and the tensors among them that require grad
        if type(a) is Tensor:  # (exact-type tests first: most operands are a Tensor or a Python number)
            x, pa = a._data, a if a._rg else None
        elif type(a) is float:
            x, pa = a, None
        else:
            x, pa = _operand(op, a)
        if type(b) is Tensor:
            y, pb = b._data, b if b._rg else None
        elif type(b) is float:
            y, pb = b, None
        else:
            y, pb = _operand(op, b)
        try:
            out = compute(x, y)
        except ValueError as e:
            raise _binary_error(op, x, y, e) from None
        if type(out) is not _ndarray:
            out = np.asarray(out)
        if pb is None:
            return node(op, out, (x, y), (pa,), 0 if pa is None else 1, (a, b))
        return node(op, out, (x, y), (pa, pb), 2 if pa is None else 3, (a, b))

    return forward


def _operand(op: str, x: Any) -> tuple[Any, Tensor | None]:
    """A binary operand as the rules see it, and the tensor to differentiate through (or None): numbers and
    plain arrays stay; anything array-like (lists, buffers, ndarray subclasses) becomes a plain ndarray."""
    if isinstance(x, Tensor):
        return x._data, x if x._rg else None
    if type(x) is _ndarray or isinstance(x, _SCALAR):
        if x.dtype.kind in REAL_KINDS if hasattr(x, "dtype") else True:
            return x, None
        raise TypeError(f"{op}: {_not_real(np.asarray(x))}")
    if not isinstance(x, (str, bytes)) and x is not None:
        try:
            a = np.asarray(x)
        except (TypeError, ValueError):
            a = None
        if a is not None and a.dtype.kind in REAL_KINDS:
            return a, None
        if a is not None and a.dtype.kind == "c":
            raise TypeError(f"{op}: {_not_real(a)}")
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
