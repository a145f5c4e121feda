"""Convolution and pooling layers with PyTorch's names, arguments, defaults and parameter shapes: ``Conv1d``,
``Conv2d``, ``MaxPool1d/2d``, ``AvgPool1d/2d``, ``AdaptiveAvgPool2d`` and ``Flatten``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..conv import _pads, _per_axis
from ..dtypes import resolve
from ..shape_ops import reshape
from ..tensor import Tensor, as_tensor
from . import conv_functional as F
from . import init
from .module import Module, Parameter


class _ConvNd(Module):
    """Weight (out, in/groups, *kernel) and bias (out,), both U(−1/√fan_in, 1/√fan_in) with
    fan_in = in/groups · ∏kernel: PyTorch's kaiming_uniform_(a=√5) and its bias bound. Parameters are in the
    default dtype (float32, ``mg.set_default_dtype``) unless ``dtype`` says."""

    nd = 0

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype: Any = None,
        rng: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode {padding_mode!r} is not supported; only 'zeros'")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}"
            )
        kernel = (kernel_size,) * self.nd if isinstance(kernel_size, int) else tuple(kernel_size)
        if len(kernel) != self.nd or not all(isinstance(k, int) and k >= 1 for k in kernel):
            raise ValueError(f"{name}: kernel_size must be a positive int or {self.nd} of them, got {kernel_size!r}")
        # checked now, as PyTorch does (padding='same' with a stride, a bad padding string), not at the first call
        _pads(name, padding, kernel, _per_axis(name, "stride", stride, self.nd, 1),
              _per_axis(name, "dilation", dilation, self.nd, 1))  # fmt: skip
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.padding_mode = padding_mode
        bound = 1.0 / math.sqrt(in_channels // groups * math.prod(kernel))
        rng, dtype = np.random.default_rng(rng), resolve(dtype)
        shape = (out_channels, in_channels // groups, *kernel)
        self.weight = init.uniform_(Parameter(np.empty(shape, dtype=dtype)), -bound, bound, rng)
        self.bias = init.uniform_(Parameter(np.empty(out_channels, dtype=dtype)), -bound, bound, rng) if bias else None

    def _check(self, x: Tensor) -> None:
        name, nd = type(self).__name__, self.nd
        if x.ndim not in (nd + 1, nd + 2):
            raise ValueError(
                f"{name}: input of shape {x.shape} must have {nd + 2} dimensions (batch, channels, {nd} spatial) "
                f"or {nd + 1} (unbatched)"
            )
        channels = x.shape[-nd - 1]
        if channels != self.in_channels:
            raise ValueError(
                f"{name}: input has {channels} channels, expected in_channels={self.in_channels} "
                f"(input shape {x.shape})"
            )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, bias={self.bias is not None}"
        )


class Conv1d(_ConvNd):
    """1-D convolution of (N, C_in, L) into (N, C_out, L_out); weight (C_out, C_in/groups, k)."""

    nd = 1

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x, "Conv1d")
        self._check(x)
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """2-D convolution of (N, C_in, H, W) into (N, C_out, H_out, W_out); weight (C_out, C_in/groups, kh, kw)."""

    nd = 2

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x, "Conv2d")
        self._check(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class _Pool(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, **extra: Any) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, kernel_size if stride is None else stride, padding
        for key, value in extra.items():
            setattr(self, key, value)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool1d(_Pool):
    """The maximum of each window; at ties the whole gradient goes to the window's first maximum (PyTorch's)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:  # fmt: skip
        F.unsupported(type(self).__name__, return_indices=return_indices, ceil_mode=ceil_mode)
        super().__init__(kernel_size, stride, padding, dilation=dilation, return_indices=False, ceil_mode=False)

    def forward(self, x: Any) -> Tensor:
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation)


class MaxPool2d(MaxPool1d):
    """The maximum of each window; at ties the whole gradient goes to the window's first maximum (PyTorch's)."""

    def forward(self, x: Any) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)


class AvgPool1d(_Pool):
    """The mean of each window; ``count_include_pad`` (default True) counts the padding zeros in the mean."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:  # fmt: skip
        F.unsupported(type(self).__name__, ceil_mode=ceil_mode)
        super().__init__(kernel_size, stride, padding, ceil_mode=False, count_include_pad=count_include_pad)

    def forward(self, x: Any) -> Tensor:
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, False, self.count_include_pad)


class AvgPool2d(_Pool):
    """The mean of each window; ``count_include_pad`` (default True) counts the padding zeros in the mean;
    ``divisor_override`` divides each window's sum by that number instead."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: Any = None) -> None:  # fmt: skip
        F.unsupported(type(self).__name__, ceil_mode=ceil_mode)
        F.check_divisor(type(self).__name__, divisor_override)
        super().__init__(kernel_size, stride, padding, ceil_mode=False, count_include_pad=count_include_pad,
                         divisor_override=divisor_override)  # fmt: skip

    def forward(self, x: Any) -> Tensor:
        return F.avg_pool2d(
            x, self.kernel_size, self.stride, self.padding, False, self.count_include_pad, self.divisor_override
        )


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (an int or (h, w); None keeps that axis), PyTorch's bins."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Flatten(Module):
    """Axes ``start_dim`` to ``end_dim`` merged into one (default: all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x, "Flatten")
        nd = max(x.ndim, 1)
        start, end = self.start_dim % nd if -nd <= self.start_dim < nd else None, None
        if -nd <= self.end_dim < nd:
            end = self.end_dim % nd
        if start is None or end is None or start > end:
            raise ValueError(
                f"Flatten: start_dim={self.start_dim}, end_dim={self.end_dim} do not fit an input of shape {x.shape}"
            )
        shape = x.shape[:start] + (math.prod(x.shape[start : end + 1]),) + x.shape[end + 1 :]
        return reshape(x, shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
