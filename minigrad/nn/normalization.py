"""LayerNorm, BatchNorm1d and BatchNorm2d, with PyTorch's arguments, defaults, parameters and buffers.

BatchNorm keeps ``running_mean``, ``running_var`` and ``num_batches_tracked`` as buffers (so in the
state dict, under PyTorch's keys). While training it normalizes with the batch's statistics and updates
the running ones (``momentum``; None: the cumulative average over the batches seen); in ``eval()`` mode it
uses the running ones, unless ``track_running_stats=False``, which always uses the batch's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor, as_tensor
from .module import Module, Parameter
from .normalization_functions import batch_norm, layer_norm


class LayerNorm(Module):
    """Normalizes over the last axes, those of ``normalized_shape``: y = (x − μ)/√(σ² + eps) · weight + bias,
    weight starting at 1 and bias at 0 (``elementwise_affine=False``: neither; ``bias=False``: no bias)."""

    def __init__(
        self,
        normalized_shape: Any,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = tuple(int(n) for n in shape), eps, elementwise_affine
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype)) if elementwise_affine and bias else None

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x, "LayerNorm")
        k = len(self.normalized_shape)
        if x.shape[max(x.ndim - k, 0) :] != self.normalized_shape or x.ndim < k:
            raise ValueError(
                f"LayerNorm: input of shape {x.shape} does not end in normalized_shape={self.normalized_shape}"
            )
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class _BatchNorm(Module):
    _SHAPES: tuple = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...], self.running_var[...], self.num_batches_tracked[...] = 0, 1, 0

    def forward(self, x: Any) -> Tensor:
        name = type(self).__name__
        x = as_tensor(x, name)
        if x.ndim not in self._SHAPES:
            raise ValueError(
                f"{name}: expected a {' or '.join(f'{n}-D' for n in self._SHAPES)} input, got shape {x.shape}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{name}: input has {x.shape[1]} channels, expected num_features={self.num_features} "
                f"(input shape {x.shape})"
            )
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked[...] += 1  # (in place: `x += 1` would set the attribute anew, unregistered)
            if self.momentum is None:  # the cumulative moving average: the k-th batch weighs 1/k
                momentum = 1.0 / int(self.num_batches_tracked)
        use_batch = self.training or not self.track_running_stats
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch, momentum, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per channel C."""

    _SHAPES = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs, per channel C."""

    _SHAPES = (4,)
