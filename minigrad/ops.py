"""Forward functions of the arithmetic, elementwise and reduction operations.

Each primitive computes its value with NumPy and records itself as a graph node; its derivative lives
in ``minigrad.rules``. The elementwise and binary primitives are closures made by ``_elementwise`` and
``_binary``, which record inline (the hot path); the others go through ``tensor.record``. Composites
(``softmax``, ``log_softmax``...) are written with primitives and have no rule of their own.
"""

from __future__ import annotations

import builtins
import functools
from typing import Any

import numpy as np

from .anomaly import _on as _anomaly
from .anomaly import check_forward
from .forget import forget, forget_at
from .grad_mode import _off, get_ident
from .guard import SELF_ONLY, Hold, _new_hold, node_saves, saved_positions
from .tensor import REAL_KINDS, Tensor, _constant, _ids, _new, _not_real, as_tensor, record, unrecorded

_SCALAR = (int, float, bool, np.generic)
_ndarray = np.ndarray


def _operand(op: str, x: Any) -> Any:
    """A non-tensor operand as the rules see it: numbers and plain arrays stay; anything array-like (lists,
    ranges, buffers, objects with ``__array__``, ndarray subclasses) becomes a plain ndarray."""
    if type(x) is float:
        return x
    if type(x) is _ndarray or isinstance(x, _SCALAR):
        if x.dtype.kind in REAL_KINDS if hasattr(x, "dtype") else True:
            return x
        raise TypeError(f"{op}: {_not_real(np.asarray(x))}")
    if not isinstance(x, (str, bytes)) and x is not None:
        try:
            a = np.asarray(x)
        except (TypeError, ValueError):
            a = None
        if a is not None and a.dtype.kind in REAL_KINDS:
            return a
        if a is not None and a.dtype.kind == "c":
            raise TypeError(f"{op}: {_not_real(a)}")
    raise TypeError(f"{op}: unsupported operand type {type(x).__name__}")


# ``_elementwise`` and ``_binary`` do what ``record`` does, written out: they are the hot path of every
# elementwise chain, where a function call more per operation is a measurable share of the time.
def _elementwise(fn: Any) -> Any:
    """Make the decorated stub the forward function of a unary elementwise primitive computed by ``fn``.

    The stub gives the op its name, signature and docstring. Each primitive gets a function of its own,
    closed over its op and what its rule reads, rather than calling a shared one with its name: one
    call and one lookup less per operation, 5% of a chain of operations on small arrays.
    """
    return lambda stub: _named(_elementwise_primitive(stub.__name__, fn), stub)


def _named(forward: Any, stub: Any) -> Any:
    """``forward`` under the stub's name, module and docstring (not wrapping it: the stub does nothing)."""
    functools.update_wrapper(forward, stub)
    del forward.__wrapped__
    return forward


def _elementwise_primitive(op: str, fn: Any) -> Any:
    saves = -1  # what the rule reads: 0 nothing, 1 its value, 2 its argument, 3 both (found when first recorded)

    def forward(x: Any) -> Tensor:
        nonlocal saves
        if type(x) is not Tensor:
            x = as_tensor(x, op)  # subclasses pass through
        d = x._data
        out = fn(d)
        if type(out) is not _ndarray:
            out = np.asarray(out)
        if x._rg and (not _off or get_ident() not in _off):
            t = _new(Tensor)
            t._data = out
            t._grad = None
            t._id = next(_ids)
            t._rg = True
            t._op = op
            t._args = (d,)
            t._parents = (x,)
            t._held = 0
            t._links = None
            if saves < 0:
                reads_ans, reads_args = saved_positions(op, 1, 1)
                saves = bool(reads_ans) + 2 * bool(reads_args)
            if saves == 1:  # the rule reads the value: tanh, exp, sigmoid... (held on t itself)
                t._held = 1
                t._saver = op
                t._saved = SELF_ONLY
            elif saves == 2 and x._op is not None and d.base is None:  # reads an intermediate, not a view: sin, log...
                x._held += 1
                x._saver = op
                t._saved = h = _new_hold(Hold)  # (guard.make_hold, inlined)
                h.items = x
                h.self_too = False
            else:
                t._saved = None if not saves else node_saves(t, op, (d,), (x,), 1)
            if out.size >= forget_at[0]:
                forget(t._parents)
        else:  # not recorded: a constant
            t = _constant(out)
            if unrecorded:
                unrecorded[0](op, out, (d,))
        if _anomaly and get_ident() in _anomaly:
            check_forward(op, t, (d,))
        return t

    return forward


def _binary(fn: Any) -> Any:
    """Make the decorated stub the forward function of a binary primitive computed by ``fn(x, y)``.

    As ``_elementwise``: the stub gives the name and docstring, and the function is closed over its op.
    The Tensor operators are closures of the same kind (``tensor_methods``), so that ``h * 1.5`` costs one
    Python call.
    """
    return lambda stub: _named(_binary_primitive(stub.__name__, fn), stub)


def _binary_primitive(op: str, fn: Any) -> Any:
    holds = None  # whether a node holds anything, by ``case`` (``_binary_holds``), found when first recorded

    def forward(a: Any, b: Any) -> Tensor:
        nonlocal holds
        # ``case`` says which operands are tensors (bits 2, 3) and which of those require grad (bits 0, 1); the
        # short paths set bit 0 or 1 regardless, as ``case`` is read only when a node is recorded
        ta, tb = type(a), type(b)  # exact-type tests first: isinstance costs more, and most operands are one of these
        if ta is Tensor and (tb is float or tb is int):  # a tensor and a Python number, the commonest pair: h * 1.5
            x, y = a._data, b
            pa, pb = (a, None) if a._rg else (None, None)
            case = 5
        elif tb is Tensor and (ta is float or ta is int):  # 1 - s
            x, y = a, b._data
            pa, pb = (None, b) if b._rg else (None, None)
            case = 10
        else:
            case = 0
            if ta is Tensor or ta is not float and isinstance(a, Tensor):
                x = a._data
                pa = a if a._rg else None
                case = 4 + (pa is not None)
            else:
                x = a if ta is float else _operand(op, a)
                pa = None
            if tb is Tensor or tb is not float and isinstance(b, Tensor):
                y = b._data
                pb = b if b._rg else None
                case += 8 + 2 * (pb is not None)
            else:
                y = b if tb is float else _operand(op, b)
                pb = None
        try:
            out = fn(x, y)
        except ValueError as e:
            raise _binary_error(op, x, y, e) from None
        if type(out) is not _ndarray:
            out = np.asarray(out)
        if (pa is not None or pb is not None) and (not _off or get_ident() not in _off):
            t = _new(Tensor)
            t._data = out
            t._grad = None
            t._id = next(_ids)
            t._rg = True
            t._op = op
            t._args = (x, y)
            t._parents = (pa,) if pb is None else (pa, pb)
            t._held = 0
            t._links = None
            if holds is None:
                holds = _binary_holds(op)
            if holds[case]:
                t._saved = node_saves(t, op, (x, y), (pa, pb), case & 3, (a, b))
            else:  # add, subtract, or multiply by a number or a plain array (the caller's): nothing to hold
                t._saved = None
            if out.size >= forget_at[0]:
                forget(t._parents)
        else:  # not recorded: a constant
            t = _constant(out)
            if unrecorded:
                unrecorded[0](op, out, (x, y))
        if _anomaly and get_ident() in _anomaly:
            check_forward(op, t, (x, y))
        return t

    forward._primitive = op, fn  # (for ``tensor_methods``)
    return forward


def tensor_methods(primitive: Any, name: str, symbol: str) -> tuple[Any, Any]:
    """``Tensor.__name__`` and ``Tensor.__rname__`` for a binary primitive: closures of its op of their own,
    named as the methods (so that a bound ``t.__add__`` pickles), the reflected one with the operands swapped."""
    op, fn = primitive._primitive
    method = _binary_primitive(op, fn)

    def reflected(self: Tensor, other: Any) -> Tensor:
        return method(other, self)

    for f, dunder, doc in (
        (method, f"__{name}__", f"self {symbol} other"),
        (reflected, f"__r{name}__", f"other {symbol} self"),
    ):
        f.__name__, f.__qualname__, f.__module__ = dunder, f"Tensor.{dunder}", Tensor.__module__
        f.__doc__ = f"``{doc}``, as ``mg.{primitive.__name__}``."
    return method, reflected


# Whether a binary op's node holds anything for its rules (``guard.saved_positions``), indexed by ``case``:
# its value if a rule reads it, an operand if a rule reads it and it is a tensor.
def _binary_holds(op: str) -> tuple[bool, ...]:
    holds = []
    for case in range(16):
        mask, tensors = case & 3, case >> 2
        if not mask or mask & ~tensors:  # no parent, or a parent that is not a tensor: never looked up
            holds.append(False)
            continue
        reads_ans, args = saved_positions(op, 2, mask)
        holds.append(bool(reads_ans or any(tensors >> i & 1 for i in args)))
    return tuple(holds)


def _binary_error(op: str, x: Any, y: Any, error: ValueError) -> ValueError:
    if op == "matmul":
        sx, sy = np.shape(x), np.shape(y)
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
        np.broadcast_shapes(np.shape(x), np.shape(y))
    except ValueError:
        return ValueError(f"{op}: operands with shapes {np.shape(x)} and {np.shape(y)} cannot be broadcast together")
    return ValueError(f"{op}: {error} (operands of shapes {np.shape(x)} and {np.shape(y)})")


# -- arithmetic ---------------------------------------------------------------------------------
@_binary(np.add)
def add(a: Any, b: Any) -> Tensor:
    """a + b, with NumPy broadcasting."""


@_binary(np.subtract)
def subtract(a: Any, b: Any) -> Tensor:
    """a - b, with NumPy broadcasting."""


@_binary(np.multiply)
def multiply(a: Any, b: Any) -> Tensor:
    """a * b elementwise, with NumPy broadcasting."""


@_binary(np.divide)
def divide(a: Any, b: Any) -> Tensor:
    """a / b elementwise; division by zero follows IEEE (inf or nan, with NumPy's warning)."""


@_binary(np.power)
def power(a: Any, b: Any) -> Tensor:
    """a ** b elementwise. d/db is taken as 0 where a == 0 (0 ** b is flat in b for b > 0)."""


@_binary(np.maximum)
def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; at ties the gradient is split evenly between a and b."""


@_binary(np.minimum)
def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; at ties the gradient is split evenly between a and b."""


@_elementwise(np.negative)
def negative(x: Any) -> Tensor:
    """-x, elementwise."""


@_elementwise(np.absolute)
def absolute(x: Any) -> Tensor:
    """|x|; its gradient at 0 is taken as 0 (the subgradient sign(0) = 0, as in NumPy and PyTorch)."""


abs = absolute


def sign(x: Any) -> Tensor:
    """sign(x): piecewise constant, so it carries no gradient."""
    d = as_tensor(x)._data
    return record("sign", np.sign(d), (d,), (None,))


def clip(x: Any, min: Any = None, max: Any = None) -> Tensor:
    """Limit x to [min, max]. The gradient passes where min <= x <= max (bounds included), else 0.

    The bounds are constants; use ``maximum``/``minimum`` for bounds that need a gradient.
    """
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    bounds = []
    for bound in (min, max):
        if isinstance(bound, Tensor):
            if bound._rg:
                raise TypeError("clip: bounds are constants; use mg.maximum/mg.minimum for a differentiable bound")
            bound = bound._data
        bounds.append(bound)
    x = as_tensor(x)
    d = x._data
    out = np.clip(d, bounds[0], bounds[1])
    return record("clip", out, (d, bounds[0], bounds[1]), (x if x._rg else None,), (x, min, max))


# -- elementwise functions ----------------------------------------------------------------------
@_elementwise(np.exp)
def exp(x: Any) -> Tensor:
    """e^x, elementwise."""


@_elementwise(np.log)
def log(x: Any) -> Tensor:
    """Natural log; log(0) = -inf and log(x < 0) = nan, with NumPy's warning."""


@_elementwise(np.log1p)
def log1p(x: Any) -> Tensor:
    """log(1 + x), accurate for small x."""


@_elementwise(np.expm1)
def expm1(x: Any) -> Tensor:
    """e^x - 1, accurate for small x."""


@_elementwise(np.sqrt)
def sqrt(x: Any) -> Tensor:
    """Square root; its gradient at 0 is inf (IEEE), with NumPy's warning."""


@_elementwise(np.sin)
def sin(x: Any) -> Tensor:
    """sin x, elementwise (radians)."""


@_elementwise(np.cos)
def cos(x: Any) -> Tensor:
    """cos x, elementwise (radians)."""


@_elementwise(np.tanh)
def tanh(x: Any) -> Tensor:
    """tanh x, elementwise; its derivative 1 - tanh² x is computed from the output."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # e^-x overflows to inf below x = -709 (float64) or -88 (float32); then 1 / (1 + inf) = 0, which is
    # σ(x) rounded, so the overflow is expected and not worth NumPy's warning.
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


@_elementwise(_sigmoid)
def sigmoid(x: Any) -> Tensor:
    """σ(x) = 1 / (1 + e^-x), exact to rounding for every x (σ(-1e4) = 0, σ(1e4) = 1, no warning).

    A primitive rather than a composite: 1 / (1 + exp(-x)) built from primitives gives nan gradients
    at x = -1e4 (inf · 0 in the rule of the division), and one node costs less than four.
    """


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


@_elementwise(_relu)
def relu(x: Any) -> Tensor:
    """max(x, 0); its gradient at 0 is 0, as in PyTorch.

    A primitive rather than ``where(x > 0, x, 0)``: ``np.where`` is 7-10x slower than ``np.maximum``
    and a multiplication by the mask at a (256, 1024) activation (measured by benchmarks/).
    """


# -- reductions ---------------------------------------------------------------------------------
def _axis(op: str, x: Tensor, axis: Any) -> Any:
    """``axis`` checked against x and made non-negative: None, an int, or a tuple of ints."""
    if axis is None:
        return None
    ndim = x._data.ndim
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in axes:
        # a 0-d tensor takes axis 0 or -1, as in PyTorch (NumPy refuses both)
        # (a bool is an int to Python: sum(axis=True) would sum over axis 1)
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)) or not (
            -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1)
        ):
            raise ValueError(f"{op}: axis {axis!r} is out of range for a tensor of shape {x.data.shape}")
        out.append(int(a) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    if ndim == 0:
        return None
    return tuple(out) if isinstance(axis, tuple) else out[0]


def _reduce(op: str, fn: Any, x: Any, axis: Any, keepdims: bool) -> Tensor:
    if type(x) is not Tensor:
        x = as_tensor(x, op)
    if axis is not None:
        axis = _axis(op, x, axis)
    d = x._data
    if op in ("max", "min") and d.size == 0 and _reduces_empty(d.shape, axis):
        raise ValueError(
            f"{op}: cannot reduce an empty tensor of shape {d.shape} over an axis of length 0 (axis {axis})"
        )
    return record(op, fn(d, axis=axis, keepdims=keepdims), (d, axis, keepdims), (x if x._rg else None,))


def _reduces_empty(shape: tuple, axis: Any) -> bool:
    """Whether a reduction over ``axis`` of ``shape`` reduces some slice of no elements (max has no value there)."""
    axes = range(len(shape)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    return not shape or any(shape[a] == 0 for a in axes) or axis is None


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (None: all)."""
    return _reduce("sum", np.add.reduce, x, axis, keepdims)  # (what ndarray.sum calls, without its Python layer)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Largest element over ``axis``; when several elements tie, the gradient is shared evenly."""
    return _reduce("max", np.ndarray.max, x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Smallest element over ``axis``; when several elements tie, the gradient is shared evenly."""
    return _reduce("min", np.ndarray.min, x, axis, keepdims)


def _logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    if x.size == 0:  # log of an empty sum: -inf over an axis of length 0, as in PyTorch (and nothing to shift)
        with np.errstate(divide="ignore"):
            return np.log(np.exp(x).sum(axis=axis, keepdims=keepdims))
    m = x.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)  # a slice of all -inf gives -inf, not nan
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log Σ exp(x) over ``axis``, computed stably by shifting by the maximum.

    A primitive: its rule g · exp(x - lse) = g · softmax(x) is one node instead of five, and never
    differentiates through the shift.
    """
    return _reduce("logsumexp", _logsumexp, x, axis, keepdims)


_F16 = np.dtype(np.float16)


def _mean(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> Any:
    # np.add.reduce and /, not x.mean(): its Python layer costs 2 µs more, and np.divide on a NumPy scalar 10x /.
    # float16 is summed in float32 and the mean rounded back, as np.mean does: a float16 sum overflows past
    # 65504 (the mean of 7,000 tens would be inf). (``is``: a third of what testing dtype.type costs per mean.)
    wide = x.dtype is _F16
    if wide:
        total = np.add.reduce(x, axis=axis, dtype=np.float32, keepdims=keepdims)
    else:
        total = np.add.reduce(x, axis=axis, keepdims=keepdims)
    m = total / (x.size // builtins.max(total.size, 1) if x.size else 0)
    return m.astype(np.float16) if wide else m


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis``: the sum divided by the number of elements reduced.

    A primitive, not a sum and a division: the loss of every step ends in one, and a node less is 7% of
    a small model's step.
    """
    return _reduce("mean", _mean, x, axis, keepdims)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / Σ exp(x) along ``axis``, as exp(log_softmax(x)): stable for any finite logits."""
    return exp(log_softmax(x, axis))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x − logsumexp(x) along ``axis``, computed as (x − m) − logsumexp(x − m) with m = max x a constant.

    log softmax is unchanged by a constant shift, so holding m constant changes no derivative. Shifting
    first keeps the result accurate to rounding of the result itself: x − logsumexp(x) loses the digits
    of x's magnitude (at logits of 1e4 in float32, a relative error of 3e-4 in log softmax and its gradient).
    """
    x = as_tensor(x)
    axis = _axis("log_softmax", x, axis)
    if not x._data.size:
        return subtract(x, logsumexp(x, axis, keepdims=True))
    m = x._data.max(axis=axis, keepdims=True)
    if not np.isfinite(m).all():
        m[~np.isfinite(m)] = 0  # a slice of all -inf (or with +inf): shift it by 0
    s = subtract(x, m)
    # logsumexp of s, whose maximum is already 0: without _logsumexp's second shift
    value = np.log(np.exp(s._data).sum(axis=axis, keepdims=True))
    lse = record("logsumexp", value, (s._data, axis, True), (s if s._rg else None,))
    return subtract(s, lse)
