"""``nn.functional``'s convolutions and poolings, PyTorch's signatures: conv1d/2d, max/avg_pool1d/2d,
adaptive_avg_pool2d. Each checks the input's rank, adds a batch axis to an unbatched input and calls the
primitives of ``minigrad.conv`` and ``minigrad.pooling``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..conv import _per_axis, conv_nd, geometry
from ..pooling import adaptive_avg_pool2d, avg_pool, batched, max_pool
from ..shape_ops import reshape
from ..tensor import Tensor, as_tensor
from .casting import require_floating

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "conv1d",
    "conv2d",
    "max_pool1d",
    "max_pool2d",
]


def _conv(op: str, nd: int, x: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any, groups: Any):
    weight = as_tensor(weight, op)
    if weight.ndim != nd + 2:
        raise ValueError(f"{op}: weight must have shape (out, in/groups, *{nd} kernel sizes), got {weight.shape}")
    x, unbatched = batched(op, x, nd)
    require_floating(op, x, weight)
    y = conv_nd(x, weight, geometry(op, x.shape, weight.shape, stride, padding, dilation, groups))
    if bias is not None:
        bias = as_tensor(bias, op)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"{op}: bias must have shape ({weight.shape[0]},), got {bias.shape}")
        y = y + reshape(bias, (-1,) + (1,) * nd)
    return reshape(y, y.shape[1:]) if unbatched else y


def conv1d(
    input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1
) -> Tensor:
    """1-D convolution of (N, C, L) (or (C, L)) by weight (O, C/groups, K), plus bias (O,): PyTorch's conv1d."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(
    input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1
) -> Tensor:
    """2-D convolution of (N, C, H, W) (or (C, H, W)) by weight (O, C/groups, kh, kw), plus bias (O,)."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def unsupported(op: str, **flags: Any) -> None:
    """Refuse PyTorch's pooling options that are not built (``ceil_mode``, ``return_indices``) when set."""
    for name, value in flags.items():
        if value:
            raise ValueError(f"{op}: {name}={value!r} is not supported (only {name}=False)")


def check_divisor(op: str, divisor_override: Any) -> None:
    d = divisor_override
    if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1):
        raise ValueError(f"{op}: divisor_override must be a positive int, got {d!r}")


def max_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:  # fmt: skip
    unsupported("max_pool1d", ceil_mode=ceil_mode, return_indices=return_indices)
    return max_pool(input, 1, kernel_size, stride, padding, dilation)


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:  # fmt: skip
    unsupported("max_pool2d", ceil_mode=ceil_mode, return_indices=return_indices)
    return max_pool(input, 2, kernel_size, stride, padding, dilation)


def avg_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:  # fmt: skip
    unsupported("avg_pool1d", ceil_mode=ceil_mode)
    return avg_pool(input, 1, kernel_size, stride, padding, count_include_pad)


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: Any = None) -> Tensor:  # fmt: skip
    """PyTorch's avg_pool2d; ``divisor_override`` divides each window's sum by that number instead (padding
    counted or not)."""
    unsupported("avg_pool2d", ceil_mode=ceil_mode)
    check_divisor("avg_pool2d", divisor_override)
    if divisor_override is None:
        return avg_pool(input, 2, kernel_size, stride, padding, count_include_pad)
    window = math.prod(_per_axis("avg_pool2d", "kernel_size", kernel_size, 2, 1))
    return avg_pool(input, 2, kernel_size, stride, padding, True) * (window / divisor_override)
