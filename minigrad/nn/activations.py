"""The activations as modules, with PyTorch's names and arguments: GELU, SiLU, LeakyReLU, ELU, Softplus,
Softmax, LogSoftmax. Each calls its function in ``nn.functional`` (see there for the gradient at the kinks)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops import log_softmax, softmax
from ..tensor import Tensor, as_tensor
from .activation_functions import GELU_APPROXIMATIONS, elu, gelu, leaky_relu, silu, softmax_dim, softplus
from .module import Module


class GELU(Module):
    """x·Φ(x) exactly (through erf), or its tanh approximation with ``approximate="tanh"``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in GELU_APPROXIMATIONS:
            raise ValueError(f"GELU: approximate must be one of {GELU_APPROXIMATIONS}, got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x·σ(x)."""

    def forward(self, x: Any) -> Tensor:
        return silu(x)


class LeakyReLU(Module):
    """x for x > 0, else negative_slope·x (gradient negative_slope at 0, as PyTorch)."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Any) -> Tensor:
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x for x > 0, else α(eˣ − 1) (gradient α at 0, as PyTorch)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Any) -> Tensor:
        return elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Module):
    """(1/β) log(1 + e^{βx}), linear where βx > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        if beta == 0:
            raise ValueError("Softplus: beta must be non-zero")
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Any) -> Tensor:
        return softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """softmax along ``dim`` (None: PyTorch's legacy choice, 0 for 0-, 1- and 3-D inputs, else 1)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x, "Softmax")
        return softmax(x, _dim("Softmax", x, self.dim))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log softmax along ``dim`` (None: as Softmax)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x, "LogSoftmax")
        return log_softmax(x, _dim("LogSoftmax", x, self.dim))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def _dim(layer: str, x: Tensor, dim: int | None) -> int:
    """``dim`` (None: PyTorch's legacy choice), checked against the input's shape in the layer's name."""
    if dim is None:
        return softmax_dim(x.ndim)
    ndim = max(x.ndim, 1)  # (a 0-d input takes dim 0 or -1, as PyTorch's)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -ndim <= dim < ndim:
        raise ValueError(f"{layer}: dim={dim!r} is out of range for an input of shape {x.shape}")
    return int(dim)
