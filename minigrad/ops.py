"""The reductions, ``clip``, and the composites ``softmax`` and ``log_softmax``, with the rules of the primitives.

The elementwise primitives are in ``minigrad.elementwise``; the composites are written with primitives and
have no rule of their own.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from . import onnx_ops
from .elementwise import exp, subtract
from .recording import record, unrecorded
from .registry import primitive
from .tensor import Tensor, as_tensor


# z = clip(x, lo, hi): ∂z/∂x = diag(1 where lo ≤ x ≤ hi, else 0); the bounds are constants
@primitive(
    "clip",
    ("g * ((lo is None or x >= lo) & (hi is None or x <= hi)).astype(g.dtype)", None, None),
    ("x", "lo", "hi"),
    numpy=(np.clip,),
    onnx=onnx_ops.clip,
)
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


# -- reductions ---------------------------------------------------------------------------------


# -- the rules of the reductions: g from a reduction over ``axis``, spread back over the reduced axes -------
def _restore_axes(g: Any, ndim: int, axis: Any, keepdims: bool) -> Any:
    """g from a reduction, reshaped so that it broadcasts against the input (size-1 reduced axes)."""
    if keepdims:
        return g
    if axis is None:
        return g.reshape((1,) * ndim)
    shape = list(g.shape)
    for a in sorted(axis if isinstance(axis, tuple) else (axis,)):
        shape.insert(a, 1)
    return g.reshape(tuple(shape))


_BROADCAST_FROM = 4096  # from this many elements a broadcast view is cheaper than filling a new array


def _repeat(g: Any, shape: tuple, axis: Any, keepdims: bool) -> Any:
    """g from a reduction over ``axis``, repeated over the reduced axes of ``shape``.

    Big gradients are read-only broadcast views; small ones are filled arrays, which NumPy's broadcast_to
    costs more than. (The rules pass shapes, not arrays: what a rule hands to a function counts as read.)
    """
    if axis is not None:  # (reduced whole, g is 0-d or all size-1 axes: it broadcasts as it is)
        g = _restore_axes(g, len(shape), axis, keepdims)
    if isinstance(g, Tensor) or math.prod(shape) > _BROADCAST_FROM:
        return np.broadcast_to(g, shape)
    out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


def over_count(g: Any, n: float) -> Any:
    """g / n for a count n. A count past float16's largest number (65504) would be inf in float16, and the
    gradient zero: float16 divides in float32 then."""
    if n > 65504 and g.dtype == np.float16:
        return (g.astype(np.float32) / n).astype(np.float16)
    return g / n


def sum_vjp(g: Any, ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # s = Σ x over axis: ∂s/∂x = 1 for every summed element, so Jᵀg = g repeated over the summed axes
    return _repeat(g, x.shape, axis, keepdims)


def mean_vjp(g: Any, ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # m = Σ x / n over axis: Jᵀg = g / n repeated over the averaged axes (n = 1 for an empty x: no elements)
    return _repeat(over_count(g, x.size // ans.size if x.size else 1), x.shape, axis, keepdims)


def extreme_vjp(g: Any, ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # m = max x (or min): ∂m/∂x = 1/k at the k elements equal to m, 0 elsewhere
    m = _restore_axes(ans, x.ndim, axis, keepdims)
    hit = x == m
    count = hit.sum(axis=axis, keepdims=True)
    if not count.all():  # a slice whose extreme is nan: the nan element gets the gradient, as in PyTorch
        hit = hit | (np.isnan(x) & np.isnan(m))
        count = hit.sum(axis=axis, keepdims=True)
    share = (hit / count).astype(x.dtype)
    return _restore_axes(g, x.ndim, axis, keepdims) * share


def logsumexp_vjp(g: Any, ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # l = log Σ exp x: ∂l/∂x = exp(x − l) = softmax(x). l is rounded at the scale of x (at x ≈ 1e4 in float32
    # off by 5e-4), which would scale every exp(x − l) by exp(error); dividing by their sum cancels it.
    p = np.exp(x - _restore_axes(ans, x.ndim, axis, keepdims))
    total = p.sum(axis=axis, keepdims=True)
    sums = total._data if isinstance(total, Tensor) else total
    if not x.size or not np.isfinite(sums).all():
        # a slice holding +inf (l = inf) has no softmax: exp(x − l) is nan at the inf and 0 elsewhere, as in PyTorch,
        # and a nan sum would make all of it nan; an empty slice has nothing to normalize
        total = np.where(np.isfinite(sums) & (sums > 0), total, 1)
    scale = 1 / total
    p = np.multiply(p, scale, out=p) if type(p) is np.ndarray else p * scale  # p is this rule's own array
    return _restore_axes(g, x.ndim, axis, keepdims) * p


def _axis(op: str, x: Tensor, axis: Any) -> Any:
    """``axis`` checked against x and made non-negative: None, an int, or a tuple of ints."""
    if axis is None:
        return None
    ndim = x.ndim
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in axes:
        # a 0-d tensor takes axis 0 or -1, as in PyTorch (NumPy refuses both)
        # (a bool is an int to Python: sum(axis=True) would sum over axis 1)
        if (
            isinstance(a, (bool, np.bool_))
            or not isinstance(a, (int, np.integer))
            or not (-builtins.max(ndim, 1) <= a < builtins.max(ndim, 1))
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


@primitive("sum", (sum_vjp, None, None), numpy=(np.sum,), onnx=onnx_ops.reduce("ReduceSum"))
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (None: all)."""
    return _reduce("sum", np.add.reduce, x, axis, keepdims)  # (what ndarray.sum calls, without its Python layer)


@primitive("max", (extreme_vjp, None, None), numpy=(np.max, np.amax), onnx=onnx_ops.reduce("ReduceMax"))
def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Largest element over ``axis``; when several elements tie, the gradient is shared evenly."""
    return _reduce("max", np.ndarray.max, x, axis, keepdims)


@primitive("min", (extreme_vjp, None, None), numpy=(np.min, np.amin), onnx=onnx_ops.reduce("ReduceMin"))
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


@primitive("logsumexp", (logsumexp_vjp, None, None), compute=_logsumexp, onnx=onnx_ops.logsumexp)
def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log Σ exp(x) over ``axis``, computed stably by shifting by the maximum.

    A primitive: its rule g · exp(x - lse) = g · softmax(x) is one node instead of five, and never
    differentiates through the shift.
    """
    return _reduce("logsumexp", _logsumexp, x, axis, keepdims)


_F16 = np.dtype(np.float16)


def _mean(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> Any:
    # the sum over n, without the Python layer of x.mean(). float16 is summed in float32 and the mean rounded
    # back, as np.mean does: a float16 sum overflows past 65504 (the mean of 7,000 tens would be inf).
    wide = x.dtype is _F16
    if wide:
        total = np.add.reduce(x, axis=axis, dtype=np.float32, keepdims=keepdims)
    else:
        total = np.add.reduce(x, axis=axis, keepdims=keepdims)
    m = total / (x.size // builtins.max(total.size, 1) if x.size else 0)
    return m.astype(np.float16) if wide else m


@primitive("mean", (mean_vjp, None, None), compute=_mean, numpy=(np.mean,), onnx=onnx_ops.reduce("ReduceMean"))
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis``: the sum divided by the number of elements reduced.

    A primitive, not a sum and a division: the loss of every step ends in one, and a node less counts in a
    small model's step.
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
    if type(x) is not Tensor or not x._data.size:  # (a Batched inside mg.vmap: logsumexp shifts by itself)
        return subtract(x, logsumexp(x, axis, keepdims=True))
    m = x._data.max(axis=axis, keepdims=True)
    if unrecorded:  # tracing (mg.compile, mg.onnx.export): m is noted as max's result, recomputed from x
        unrecorded[0]("max", m, (x._data, axis, True))
    if not np.isfinite(m).all():
        m[~np.isfinite(m)] = 0  # a slice of all -inf (or with +inf): shift it by 0
    s = subtract(x, m)
    # logsumexp of s, whose maximum is already 0: without _logsumexp's second shift
    value = np.log(np.exp(s._data).sum(axis=axis, keepdims=True))
    lse = record("logsumexp", value, (s._data, axis, True), (s if s._rg else None,))
    return subtract(s, lse)


def _cumsum_vjp(g: Any, ans: Any, x: Any, axis: Any) -> Any:
    # c_i = Σ_{j≤i} x_j: ∂c_i/∂x_j = 1 for j ≤ i, so (Jᵀg)_j = Σ_{i≥j} g_i, the cumulative sum of g from the end
    along = 0 if axis is None else axis
    reversed_sum = np.flip(np.cumsum(np.flip(g, along), axis=along), along)
    return reversed_sum.reshape(x.shape)


@primitive("cumsum", (_cumsum_vjp, None), numpy=(np.cumsum,), compute=np.cumsum, onnx=onnx_ops.cumsum)
def cumsum(x: Any, axis: Any = None) -> Tensor:
    """Cumulative sum along ``axis`` (of the flattened tensor when None), as ``np.cumsum``."""
    x = as_tensor(x, "cumsum")
    if axis is not None:
        axis = _axis("cumsum", x, axis)
    d = x._data
    return record("cumsum", np.cumsum(d, axis), (d, axis), (x if x._rg else None,))


def _norm_vjp(g: Any, ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # n = √Σ x²: ∂n/∂x = x / n; at n = 0 (x = 0), where n has no gradient, 0 (x is 0 there), as |x|'s at 0
    n = _restore_axes(ans, x.ndim, axis, keepdims)
    return _restore_axes(g, x.ndim, axis, keepdims) * x / np.where(n == 0, 1, n)


def _norm(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    return np.sqrt(np.add.reduce(x * x, axis=axis, keepdims=keepdims))


@primitive("norm", (_norm_vjp, None, None), numpy=(np.linalg.norm,), compute=_norm, onnx=onnx_ops.reduce("ReduceL2"))
def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    """The 2-norm √Σ x² over ``axis`` (every element when None: the Frobenius norm of a matrix), as
    ``np.linalg.norm`` with ``ord=None``; its gradient at 0 is taken as 0."""
    if ord is not None and ord != 2 and ord != "fro":
        raise ValueError(f"norm: only the 2-norm (ord=None, 2 or 'fro') is differentiable in minigrad, got ord={ord!r}")
    x = as_tensor(x, "norm")
    if axis is not None:
        axis = _axis("norm", x, axis)
    d = x._data
    return record("norm", _norm(d, axis, keepdims), (d, axis, keepdims), (x if x._rg else None,))
