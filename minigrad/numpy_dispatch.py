"""NumPy functions called on Tensors run minigrad's operations: ``np.exp(t)`` is ``mg.exp(t)``.

This is what lets the rules in ``minigrad.rules`` run on arrays and on Tensors alike, and lets users
keep their NumPy habits. A NumPy function minigrad does not differentiate raises a TypeError
instead of silently dropping the graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import linalg, ops, shape_ops
from .tensor import Tensor, unrecorded


def _plain(fn: Any) -> Any:
    """A NumPy function applied to the values: for results that carry no gradient (comparisons)."""

    def call(*args: Any) -> Any:
        values = tuple(a._data if isinstance(a, Tensor) else a for a in args)
        out = fn(*values)
        if isinstance(out, np.generic):
            out = np.asarray(out)  # an array of its own, not NumPy's shared scalar np.True_ (np.shape's tuple stays)
        if unrecorded and isinstance(out, np.ndarray):  # mg.compile is tracing: the replay computes the mask again
            unrecorded[0](fn, out, values)
        return out

    return call


UFUNCS = {
    np.add: ops.add,
    np.subtract: ops.subtract,
    np.multiply: ops.multiply,
    np.divide: ops.divide,
    np.power: ops.power,
    np.negative: ops.negative,
    np.absolute: ops.absolute,
    np.maximum: ops.maximum,
    np.minimum: ops.minimum,
    np.exp: ops.exp,
    np.log: ops.log,
    np.log1p: ops.log1p,
    np.expm1: ops.expm1,
    np.sqrt: ops.sqrt,
    np.sin: ops.sin,
    np.cos: ops.cos,
    np.tanh: ops.tanh,
    np.matmul: linalg.matmul,
    np.sign: ops.sign,
    np.positive: lambda x: x,
    np.greater: _plain(np.greater),
    np.greater_equal: _plain(np.greater_equal),
    np.less: _plain(np.less),
    np.less_equal: _plain(np.less_equal),
    np.equal: _plain(np.equal),
    np.not_equal: _plain(np.not_equal),
    np.isfinite: _plain(np.isfinite),
    np.isnan: _plain(np.isnan),
}

FUNCTIONS = {
    np.sum: ops.sum,
    np.mean: ops.mean,
    np.max: ops.max,
    np.min: ops.min,
    np.amax: ops.max,
    np.amin: ops.min,
    np.clip: ops.clip,
    np.reshape: shape_ops.reshape,
    np.transpose: shape_ops.transpose,
    np.swapaxes: shape_ops.swapaxes,
    np.expand_dims: shape_ops.expand_dims,
    np.squeeze: shape_ops.squeeze,
    np.broadcast_to: shape_ops.broadcast_to,
    np.concatenate: shape_ops.concatenate,
    np.stack: shape_ops.stack,
    np.where: shape_ops.where,
    np.einsum: linalg.einsum,
    np.dot: linalg.dot,
    np.outer: linalg.outer,
    np.shape: _plain(np.shape),
    np.ndim: _plain(np.ndim),
    np.size: _plain(np.size),
}


def call_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    fn = UFUNCS.get(ufunc)
    if method != "__call__" or fn is None or kwargs:
        raise TypeError(
            f"numpy.{ufunc.__name__}{'' if method == '__call__' else '.' + method}"
            f"{' with ' + ', '.join(kwargs) if kwargs else ''} is not differentiable in minigrad; "
            "use t.data for a plain array"
        )
    return fn(*inputs)


def call_function(func: Any, args: tuple, kwargs: dict) -> Any:
    fn = FUNCTIONS.get(func)
    if fn is None:
        raise TypeError(f"numpy.{func.__name__} is not differentiable in minigrad; use t.data for a plain array")
    return fn(*args, **kwargs)
