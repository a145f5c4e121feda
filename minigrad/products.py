"""Products: ``prod`` and ``cumprod``, with rules that hold where elements are zero.

The textbook rules divide by x (∂Πx/∂x_j = Πx / x_j), which is nan at a zero element although the
gradient exists there: Π over the other elements. The rules here never divide by an element that can be 0:
``prod``'s multiplies the exclusive products from the left and from the right; ``cumprod``'s sums over the
triangle Π_{j<k≤i} x_k of each line (O(n²) memory), and divides by x only on lines longer than 64 with no
element near 0 (|x| ≥ √tiny, so that no square underflows in the second derivative).
Both are written with NumPy functions that dispatch to minigrad's primitives on Tensors, so higher
derivatives come from the same rules, at the zeros too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import onnx_ops
from .ops import _axis, _restore_axes
from .recording import record
from .registry import primitive
from .tensor import Tensor, as_tensor


def _shift_in_ones(c: Any, along: int) -> Any:
    """[1, c_0, ..., c_{n-2}] along ``along``: the exclusive version of a cumulative product c."""
    ones = np.ones(c.shape[:along] + (1,) + c.shape[along + 1 :], dtype=c.dtype)
    head = c[(slice(None),) * along + (slice(0, c.shape[along] - 1),)]
    return np.concatenate([ones, head], axis=along)


def _exclusive_products(x: Any, along: int) -> Any:
    """Π_{k≠j} x_k along ``along`` for every j, as (Π_{k<j} x_k)(Π_{k>j} x_k): no division."""
    left = _shift_in_ones(np.cumprod(x, axis=along), along)
    right = np.flip(_shift_in_ones(np.cumprod(np.flip(x, along), axis=along), along), along)
    return left * right


def _prod_vjp(g: Any, ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # p = Π_j x_j over the axis: ∂p/∂x_j = Π_{k≠j} x_k
    if axis is None:
        flat = x.reshape(-1)
        return (_restore_axes(g, 1, None, keepdims).reshape(1) * _exclusive_products(flat, 0)).reshape(x.shape)
    return _restore_axes(g, x.ndim, axis, keepdims) * _exclusive_products(x, axis)


def _prod(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    return np.prod(x, axis=axis, keepdims=keepdims)


@primitive("prod", (_prod_vjp, None, None), compute=_prod, onnx=onnx_ops.reduce("ReduceProd"))
def _prod_over(x: Tensor, axis: Any, keepdims: bool) -> Tensor:
    """The product over one axis (an int) or every element (None)."""
    d = x._data
    return record("prod", _prod(d, axis, keepdims), (d, axis, keepdims), (x if x._rg else None,))


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis`` (every element when None), as ``np.prod``; exact gradients at zeros.

    A tuple of axes is the product over one axis after another (the product is separable).
    """
    x = as_tensor(x, "prod")
    axis = _axis("prod", x, axis)
    if not isinstance(axis, tuple):
        return _prod_over(x, axis, keepdims)
    for a in sorted(axis, reverse=True):  # from the last, so that the axes still to go keep their numbers
        x = _prod_over(x, a, keepdims)
    return x


_TRIANGLE_UP_TO = 64  # lines up to this long always take the division-free rule (n² ≤ 4096 per line)


def _cumprod_vjp(g: Any, ans: Any, x: Any, axis: Any) -> Any:
    # c_i = Π_{k≤i} x_k: (Jᵀg)_j = Σ_{i≥j} g_i Π_{k≤i, k≠j} x_k
    shape = x.shape
    if axis is None:
        x, g, ans = x.reshape(-1), g.reshape(-1), ans.reshape(-1)
    along = 0 if axis is None else axis
    data = x._data if isinstance(x, Tensor) else x
    n = data.shape[along] if data.ndim else 1
    if n > _TRIANGLE_UP_TO and not (np.abs(data) < np.sqrt(np.finfo(data.dtype).tiny)).any():
        # long lines away from 0: Π_{k≤i, k≠j} x_k = c_i / x_j, the sum from the end of g∘c, over x
        return (np.flip(np.cumsum(np.flip(g * ans, along), axis=along), along) / x).reshape(shape)
    # (Jᵀg)_j = (Π_{k<j} x_k) Σ_{i≥j} g_i M_ij, M_ij = Π_{j<k≤i} x_k, the (n, n) triangle of each line:
    # no division, so that it and its derivatives hold at zeros and at values whose square underflows
    last = x.ndim - 1
    x_, g_ = np.swapaxes(x, along, last), np.swapaxes(g, along, last)
    i, j = np.arange(x_.shape[-1])[:, None], np.arange(x_.shape[-1])[None, :]
    m = np.cumprod(np.where(i > j, x_[..., :, None], 1), axis=last) * (i >= j)
    total = (g_[..., :, None] * m).sum(axis=last)
    before = _shift_in_ones(np.cumprod(x_, axis=last), last)
    return np.swapaxes(before * total, along, last).reshape(shape)


@primitive("cumprod", (_cumprod_vjp, None), numpy=(np.cumprod,), compute=np.cumprod, onnx=onnx_ops.cumprod)
def cumprod(x: Any, axis: Any = None) -> Tensor:
    """Cumulative product along ``axis`` (of the flattened tensor when None), as ``np.cumprod``; exact
    gradients at zeros."""
    x = as_tensor(x, "cumprod")
    if axis is not None:
        axis = _axis("cumprod", x, axis)
    d = x._data
    return record("cumprod", np.cumprod(d, axis), (d, axis), (x if x._rg else None,))
