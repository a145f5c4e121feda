"""Pooling over the spatial axes of (N, C, *I): ``max_pool`` (a primitive), ``avg_pool`` and
``adaptive_avg_pool`` (composites of ``conv`` and ``matmul``, with no rules of their own).

Max pooling's rule gives the whole gradient of a window to one element, the first maximum in row-major
order of the window (PyTorch's convention at ties; a nan is the maximum of its window). The forward pass
keeps where the maxima are in a list among the node's arguments, which ``mg.compile``'s replay fills again
when it recomputes the forward (a recorded backward finds them again from x).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import conv_kernels as kernels
from . import onnx_layers
from .conv import _per_axis, conv_nd, remembered
from .grad_mode import is_grad_enabled
from .linalg import matmul
from .ops import mean
from .recording import record
from .registry import primitive
from .shape_ops import reshape, scatter_add
from .tensor import Tensor, as_tensor


def _max_pool_vjp(g: Any, ans: Any, x: Any, shape: tuple, keep: Any) -> Any:
    # y = max over each window: ∂y/∂x = 1 at the window's (first) maximum, 0 elsewhere; Jᵀg adds g there.
    # Where the maxima are: kept by the forward pass, or found again (a recorded backward)
    xd = x._data if isinstance(x, Tensor) else x
    which = keep[0] if keep else kernels.max_taps(xd, *shape)[1]
    if isinstance(g, Tensor):
        index = kernels.max_flat_index(which, xd.shape, shape).ravel()
        return reshape(scatter_add(reshape(g, (-1,)), index, (xd.size,)), xd.shape)
    return kernels.max_pool_input(g, which, xd.shape, shape)


@primitive("max_pool", (_max_pool_vjp, None, None), compute=kernels.max_pool, onnx=onnx_layers.max_pool)
def _max_pool_nd(x: Tensor, shape: tuple) -> Tensor:
    """The maxima; when x's gradient will be wanted, where they are, kept in a list among the arguments (filled
    again by each replay of mg.compile, which recomputes the forward through ``compute``)."""
    d = x._data
    keep = [] if x._rg and is_grad_enabled() else None
    value = kernels.max_pool(d, shape, keep)
    return record("max_pool", value, (d, shape, keep), (x if x._rg else None,), (x, shape, keep))


@remembered
def _pool_shape(op: str, x_shape: tuple, nd: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any) -> tuple:
    """(kernel, stride, pads, dilation) of a pooling, checked against an input of shape (N, C, *I)."""
    kernel = _per_axis(op, "kernel_size", kernel_size, nd, 1)
    stride = kernel if stride is None else _per_axis(op, "stride", stride, nd, 1)
    pad = _per_axis(op, "padding", padding, nd, 0)
    dilation = _per_axis(op, "dilation", dilation, nd, 1)
    if any(2 * p > k for p, k in zip(pad, kernel, strict=True)):
        raise ValueError(f"{op}: padding {pad} must be at most half of kernel_size {kernel}")
    full = tuple(i + 2 * p for i, p in zip(x_shape[2:], pad, strict=True))
    reach = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True))
    if any(r > f for r, f in zip(reach, full, strict=True)):
        raise ValueError(
            f"{op}: kernel of size {kernel} (dilated {reach}) is larger than the padded input {full} "
            f"(input shape {x_shape}, padding {pad})"
        )
    return kernel, stride, tuple((p, p) for p in pad), dilation


def batched(op: str, x: Any, nd: int) -> tuple[Tensor, bool]:
    """x as (N, C, *I): a tensor of nd + 1 dimensions (unbatched) gets a batch axis of 1 (and True)."""
    x = as_tensor(x, op)
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(
            f"{op}: input of shape {x.shape} must have {nd + 1} (unbatched) or {nd + 2} (batched) dimensions"
        )
    if x.ndim == nd + 1:
        return reshape(x, (1, *x.shape)), True
    return x, False


def _unbatched(y: Tensor, unbatched: bool) -> Tensor:
    return reshape(y, y.shape[1:]) if unbatched else y


def max_pool(x: Any, nd: int, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1) -> Tensor:
    """The maximum of each window (PyTorch's max_pool{nd}d; ``stride`` defaults to ``kernel_size``; no
    ceil_mode). Padding is −inf. At ties the whole gradient goes to the first maximum of the window."""
    op = f"max_pool{nd}d"
    x, unbatched = batched(op, x, nd)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got dtype {x.dtype}")
    return _unbatched(_max_pool_nd(x, _pool_shape(op, x.shape, nd, kernel_size, stride, padding, dilation)), unbatched)


def avg_pool(
    x: Any, nd: int, kernel_size: Any, stride: Any = None, padding: Any = 0, count_include_pad: bool = True
) -> Tensor:
    """The mean of each window (PyTorch's avg_pool{nd}d; no ceil_mode): a convolution of each channel with a
    constant kernel 1/K. With ``count_include_pad=False`` the windows that overlap the padding divide by the
    number of input elements they hold instead."""
    op = f"avg_pool{nd}d"
    x, unbatched = batched(op, x, nd)
    kernel, stride, pads, dilation = _pool_shape(op, x.shape, nd, kernel_size, stride, padding, 1)
    n, c, inner = x.shape[0], x.shape[1], x.shape[2:]
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    w = np.full((1, 1, *kernel), 1.0 / math.prod(kernel), dtype=dtype)
    geom = (stride, pads, dilation, 1)
    y = conv_nd(reshape(x, (n * c, 1, *inner)), w, geom)
    y = reshape(y, (n, c, *y.shape[2:]))
    if not count_include_pad and any(lo for lo, _ in pads):
        counts = kernels.conv(np.ones((1, 1, *inner), dtype), np.ones((1, 1, *kernel), dtype), geom)
        y = y * (math.prod(kernel) / counts)
    return _unbatched(y, unbatched)


def _bins(size: int, out: int, dtype: Any) -> np.ndarray:
    """The (out, size) matrix that averages PyTorch's adaptive bins [⌊i·size/out⌋, ⌈(i+1)·size/out⌉)."""
    m = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def adaptive_avg_pool2d(x: Any, output_size: Any) -> Tensor:
    """Average pooling to a fixed (out_h, out_w) (an int for both; None keeps that axis), with PyTorch's bins:
    row i averages [⌊i·H/out⌋, ⌈(i+1)·H/out⌉). Output size 1 is a mean; others are P_h · x · P_wᵀ."""
    x, unbatched = batched("adaptive_avg_pool2d", x, 2)
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}")
    h, w = (x.shape[2 + a] if s is None else s for a, s in enumerate(sizes))
    for s in (h, w):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"adaptive_avg_pool2d: output_size must hold positive ints, got {output_size!r}")
    if (h, w) == (1, 1):
        y = mean(x, axis=(2, 3), keepdims=True)
    else:
        dtype = x.dtype if x.dtype.kind == "f" else np.float64
        y = matmul(matmul(_bins(x.shape[2], h, dtype), x), _bins(x.shape[3], w, dtype).T)
    return _unbatched(y, unbatched)
