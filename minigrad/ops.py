"""Forward functions of the arithmetic, elementwise and reduction operations.

Each primitive computes its value with NumPy and records itself with ``record``; its derivative
lives in ``minigrad.rules``. Composites (``mean``, ``relu``, ``softmax``...) are written with primitives
and have no rule of their own.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from .anomaly import _on as _anomaly
from .anomaly import check_forward
from .forget import forget, forget_at
from .grad_mode import _off, get_ident
from .guard import SELF_ONLY, Hold, _new_hold, node_saves, saved_positions
from .tensor import Tensor, _constant, _ids, _new, as_tensor, record

_NUMBER = (int, float, bool, np.generic, np.ndarray)


def _operand(op: str, x: Any) -> Any:
    """A non-tensor operand as the rules see it: numbers and arrays stay, sequences become arrays."""
    if type(x) is float or isinstance(x, _NUMBER):
        return x
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    raise TypeError(f"{op}: unsupported operand type {type(x).__name__}")


# ``_unary`` and ``_binary`` do what ``record`` does, written out: they are the hot path of every
# elementwise chain, where a function call more per operation is a measurable share of the time.
def _unary(op: str, fn: Any, x: Any) -> Tensor:
    if type(x) is not Tensor:
        x = as_tensor(x)  # subclasses pass through
    d = x._data
    out = fn(d)
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    t = _new(Tensor)
    t._data = out
    t.grad = None
    t._id = next(_ids)
    if x._rg and (not _off or get_ident() not in _off):
        t._rg = True
        t._op = op
        t._args = (d,)
        t._parents = (x,)
        t._held = 0
        saves = _UNARY_SAVES.get(op)
        if saves is None:
            saves = _unary_saves(op)
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
    else:
        t._rg = False
        t._op = t._args = None
        t._parents = ()
        t._saved = None
        t._held = 0
    if _anomaly and get_ident() in _anomaly:
        check_forward(op, t, (d,))
    return t


def _binary(op: str, fn: Any, a: Any, b: Any) -> Tensor:
    ta, tb = type(a), type(b)  # exact-type tests first: isinstance costs more, and most operands are one of these
    if ta is Tensor or ta is not float and isinstance(a, Tensor):
        x = a._data
        pa = a if a._rg else None
    else:
        x = a if ta is float else _operand(op, a)
        pa = None
    if tb is Tensor or tb is not float and isinstance(b, Tensor):
        y = b._data
        pb = b if b._rg else None
    else:
        y = b if tb is float else _operand(op, b)
        pb = None
    try:
        out = fn(x, y)
    except ValueError as e:
        raise _binary_error(op, x, y, e) from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    t = _new(Tensor)
    t._data = out
    t.grad = None
    t._id = next(_ids)
    if (pa is not None or pb is not None) and (not _off or get_ident() not in _off):
        t._rg = True
        t._op = op
        t._args = (x, y)
        t._parents = (pa,) if pb is None else (pa, pb)
        t._held = 0
        plans = _BINARY_SAVES.get(op)
        if plans is None:
            plans = _binary_saves(op)
        if plans is _READS_NOTHING:  # add, subtract: nothing an in-place write could spoil
            t._saved = None
        else:
            mask = (pa is not None) + 2 * (pb is not None)
            reads_x, reads_y, reads_ans = plans[mask]
            if (
                reads_ans
                or reads_x
                and (pa is not None or isinstance(a, Tensor))
                or reads_y
                and (pb is not None or isinstance(b, Tensor))
            ):
                t._saved = node_saves(t, op, (x, y), (pa, pb), mask, (a, b))
            else:  # multiply by a number or a plain array (the caller's)
                t._saved = None
        if out.size >= forget_at[0]:
            forget(t._parents)
    else:
        t._rg = False
        t._op = t._args = None
        t._parents = ()
        t._saved = None
        t._held = 0
    if _anomaly and get_ident() in _anomaly:
        check_forward(op, t, (x, y))
    return t


# What the rules of each elementwise op read (``guard.saved_positions``), cached by op: for a unary op
# 0 nothing, 1 its value only, 2 its argument only, 3 both; for a binary op, per parent mask,
# (reads x, reads y, reads the value).
_UNARY_SAVES: dict[str, int] = {}
_BINARY_SAVES: dict[str, tuple] = {}
_READS_NOTHING = ((False, False, False),) * 4


def _unary_saves(op: str) -> int:
    reads_ans, args = saved_positions(op, 1, 1)
    _UNARY_SAVES[op] = code = bool(reads_ans) + 2 * bool(args)
    return code


def _binary_saves(op: str) -> tuple:
    plans: list[tuple[bool, bool, bool]] = [(False, False, False)]
    for mask in (1, 2, 3):
        reads_ans, args = saved_positions(op, 2, mask)
        plans.append((0 in args, 1 in args, reads_ans))
    _BINARY_SAVES[op] = result = tuple(plans) if any(any(p) for p in plans) else _READS_NOTHING
    return result


def _binary_error(op: str, x: Any, y: Any, error: ValueError) -> ValueError:
    try:
        np.broadcast_shapes(np.shape(x), np.shape(y))
    except ValueError:
        return ValueError(f"{op}: operands with shapes {np.shape(x)} and {np.shape(y)} cannot be broadcast together")
    return ValueError(f"{op}: {error} (operands of shapes {np.shape(x)} and {np.shape(y)})")


# -- arithmetic ---------------------------------------------------------------------------------
def add(a: Any, b: Any) -> Tensor:
    """a + b, with NumPy broadcasting."""
    return _binary("add", np.add, a, b)


def subtract(a: Any, b: Any) -> Tensor:
    """a - b, with NumPy broadcasting."""
    return _binary("subtract", np.subtract, a, b)


def multiply(a: Any, b: Any) -> Tensor:
    """a * b elementwise, with NumPy broadcasting."""
    return _binary("multiply", np.multiply, a, b)


def divide(a: Any, b: Any) -> Tensor:
    """a / b elementwise; division by zero follows IEEE (inf or nan, with NumPy's warning)."""
    return _binary("divide", np.divide, a, b)


def power(a: Any, b: Any) -> Tensor:
    """a ** b elementwise. d/db is taken as 0 where a == 0 (0 ** b is flat in b for b > 0)."""
    return _binary("power", np.power, a, b)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; at ties the gradient is split evenly between a and b."""
    return _binary("maximum", np.maximum, a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; at ties the gradient is split evenly between a and b."""
    return _binary("minimum", np.minimum, a, b)


def negative(x: Any) -> Tensor:
    return _unary("negative", np.negative, x)


def absolute(x: Any) -> Tensor:
    """|x|; its gradient at 0 is taken as 0 (the subgradient sign(0) = 0, as in NumPy and PyTorch)."""
    return _unary("absolute", np.absolute, x)


abs = absolute


def sign(x: Any) -> Tensor:
    """sign(x): piecewise constant, so it carries no gradient."""
    return _constant(np.asarray(np.sign(as_tensor(x)._data)))


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
def exp(x: Any) -> Tensor:
    return _unary("exp", np.exp, x)


def log(x: Any) -> Tensor:
    """Natural log; log(0) = -inf and log(x < 0) = nan, with NumPy's warning."""
    return _unary("log", np.log, x)


def log1p(x: Any) -> Tensor:
    return _unary("log1p", np.log1p, x)


def expm1(x: Any) -> Tensor:
    return _unary("expm1", np.expm1, x)


def sqrt(x: Any) -> Tensor:
    """Square root; its gradient at 0 is inf (IEEE), with NumPy's warning."""
    return _unary("sqrt", np.sqrt, x)


def sin(x: Any) -> Tensor:
    return _unary("sin", np.sin, x)


def cos(x: Any) -> Tensor:
    return _unary("cos", np.cos, x)


def tanh(x: Any) -> Tensor:
    return _unary("tanh", np.tanh, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # e^-x overflows to inf below x = -709 (float64) or -88 (float32); then 1 / (1 + inf) = 0, which is
    # σ(x) rounded, so the overflow is expected and not worth NumPy's warning.
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def sigmoid(x: Any) -> Tensor:
    """σ(x) = 1 / (1 + e^-x), exact to rounding for every x (σ(-1e4) = 0, σ(1e4) = 1, no warning).

    A primitive rather than a composite: 1 / (1 + exp(-x)) built from primitives gives nan gradients
    at x = -1e4 (inf · 0 in the rule of the division), and one node costs less than four.
    """
    return _unary("sigmoid", _sigmoid, x)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def relu(x: Any) -> Tensor:
    """max(x, 0); its gradient at 0 is 0, as in PyTorch.

    A primitive rather than ``where(x > 0, x, 0)``: ``np.where`` is 7-10x slower than ``np.maximum``
    and a multiplication by the mask at a (256, 1024) activation (measured by benchmarks/).
    """
    return _unary("relu", _relu, x)


# -- reductions ---------------------------------------------------------------------------------
def _axis(op: str, x: Tensor, axis: Any) -> Any:
    """``axis`` checked against x and made non-negative: None, an int, or a tuple of ints."""
    if axis is None:
        return None
    ndim = x._data.ndim
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < builtins.max(ndim, 1) or (ndim == 0 and a != 0):
            raise ValueError(f"{op}: axis {axis!r} is out of range for a tensor of shape {x.data.shape}")
        out.append(int(a) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    if ndim == 0:
        return None
    return tuple(out) if isinstance(axis, tuple) else out[0]


def _reduce(op: str, fn: Any, x: Any, axis: Any, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    axis = _axis(op, x, axis)
    d = x._data
    if d.size == 0 and op in ("max", "min"):
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {d.shape}")
    return record(op, fn(d, axis=axis, keepdims=keepdims), (d, axis, keepdims), (x if x._rg else None,))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (None: all)."""
    return _reduce("sum", np.ndarray.sum, x, axis, keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Largest element over ``axis``; when several elements tie, the gradient is shared evenly."""
    return _reduce("max", np.ndarray.max, x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Smallest element over ``axis``; when several elements tie, the gradient is shared evenly."""
    return _reduce("min", np.ndarray.min, x, axis, keepdims)


def _logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
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


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis``: the sum divided by the number of elements reduced."""
    x = as_tensor(x)
    total = sum(x, axis, keepdims)
    count = x._data.size // builtins.max(total._data.size, 1) if x._data.size else 0
    return divide(total, count)


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
