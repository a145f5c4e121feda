"""``layer_norm`` and ``batch_norm`` of ``nn.functional``: composites of mean, subtract, power and the
elementwise primitives, so their gradients come from the rule table.

Both normalize with the biased variance (the mean squared deviation), as PyTorch does; ``batch_norm`` updates
the running variance with the unbiased one (times n/(n − 1)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..batched import VmapError
from ..ops import mean
from ..recording import CompileError, unrecorded
from ..tensor import Tensor, as_tensor
from .attention_functions import replayable
from .fused_norms import layer_norm as _standardized


def _normalized(x: Tensor, axes: tuple, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(x − μ)/√(σ² + ε) over ``axes`` (kept), μ and the biased σ²."""
    mu = mean(x, axes, keepdims=True)
    centered = x - mu
    var = mean(centered * centered, axes, keepdims=True)
    return centered * (var + float(eps)) ** -0.5, mu, var


def layer_norm(x: Any, normalized_shape: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Tensor:
    """Each slice over the last ``len(normalized_shape)`` axes normalized to mean 0 and variance 1, then
    scaled by ``weight`` and shifted by ``bias`` (both of ``normalized_shape``), as PyTorch's ``layer_norm``."""
    x = as_tensor(x, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.shape[x.ndim - k :] != shape or x.ndim < k:
        raise ValueError(
            f"layer_norm: normalized_shape={shape} expects an input of shape (*, {', '.join(map(str, shape))}), "
            f"got {x.shape}"
        )
    return _standardized(x, weight, bias, tuple(range(x.ndim - k, x.ndim)), eps)  # one primitive (fused_norms)


def batch_norm(
    x: Any,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Each channel (axis 1) normalized over the batch and the other axes, as ``torch.nn.functional.batch_norm``.

    While ``training`` (or without running statistics) with the batch's mean and biased variance; the running
    statistics, if given, are then updated in place: r ← (1 − momentum)·r + momentum·s, with the unbiased
    variance. Otherwise with the running statistics.
    """
    x = as_tensor(x, "batch_norm")
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expects an input of shape (N, C, ...), got {x.shape}")
    _check_per_channel(x.shape, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give running_mean and running_var together, or neither")
    if not isinstance(momentum, (int, float, np.floating)) or isinstance(momentum, bool):
        raise TypeError(f"batch_norm: momentum must be a number, got {momentum!r}")
    channels = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    axes = (0,) + tuple(range(2, x.ndim))
    if training or running_mean is None:
        n = x.size // x.shape[1] if x.shape[1] else 0
        if training and n <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got input shape {x.shape}"
            )
        y, mu, var = _normalized(x, axes, eps)
        if training and running_mean is not None:
            if unrecorded:  # mg.compile is tracing: its replay would skip this update and leave the statistics
                raise CompileError(
                    "batch_norm: in training mode it updates running_mean and running_var, which a compiled "
                    "replay cannot repeat (they would keep their values from the traced call); compile the "
                    "evaluation step (model.eval()), use track_running_stats=False, or train this step eagerly"
                )
            if hasattr(x, "_level"):
                raise VmapError(
                    "batch_norm: in training mode it updates running_mean and running_var from the batch's "
                    f"statistics, but inside mg.vmap each example (shape {x.shape}) has its own; use model.eval() "
                    "or track_running_stats=False (each example then normalizes over its own N axis)"
                )
            mu, var = mu._data, var._data
            running_mean *= 1 - momentum
            running_mean += momentum * mu.reshape(-1)
            running_var *= 1 - momentum
            running_var += momentum * var.reshape(-1) * (n / (n - 1))
    else:
        # (recipes for mg.compile: a replay reads the running statistics as they are then)
        shift = replayable(_channels, running_mean, channels, x.dtype)
        y = (x - shift) * replayable(_inverse_std, running_var, eps, channels, x.dtype)
    if weight is not None:
        y = y * weight.reshape(channels)
    return y if bias is None else y + bias.reshape(channels)


def _check_per_channel(shape: tuple, **arrays: Any) -> None:
    """Each given array holds one value per channel (axis 1 of an input of ``shape``)."""
    for name, a in arrays.items():
        if a is not None and np.shape(a) != (shape[1],):
            raise ValueError(
                f"batch_norm: {name} of shape {np.shape(a)} does not fit an input of shape {shape}: "
                f"expected ({shape[1]},), one per channel"
            )


def _channels(stat: np.ndarray, shape: tuple, dtype: Any) -> np.ndarray:
    return stat.reshape(shape).astype(dtype)


def _inverse_std(var: np.ndarray, eps: float, shape: tuple, dtype: Any) -> np.ndarray:
    return ((var.reshape(shape) + eps) ** -0.5).astype(dtype)
