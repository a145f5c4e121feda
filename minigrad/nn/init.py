"""Initialisers that fill a parameter in place: Xavier/Glorot, He/Kaiming, uniform, normal, zeros.

Each takes the tensor and an optional ``rng`` (a ``np.random.Generator`` or a seed) and returns the tensor.
For a weight of shape (fan_out, fan_in), as ``Linear`` stores it:

- ``xavier_uniform_``: U(−a, a) with a = gain·√(6 / (fan_in + fan_out)) (Glorot & Bengio 2010), which
  keeps the variance of activations and of gradients about equal across tanh layers;
- ``xavier_normal_``: N(0, σ²) with σ = gain·√(2 / (fan_in + fan_out));
- ``kaiming_uniform_``/``kaiming_normal_``: variance 2 / fan_in (He et al. 2015), for ReLU layers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tensor import Tensor

GAINS = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0)}


def calculate_gain(nonlinearity: str) -> float:
    """The recommended gain for a nonlinearity, as in PyTorch (tanh 5/3, relu √2)."""
    if nonlinearity not in GAINS:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; known: {sorted(GAINS)}")
    return GAINS[nonlinearity]


def _fans(t: Tensor) -> tuple[int, int]:
    shape = t.data.shape
    if len(shape) < 2:
        raise ValueError(f"init: fan in and fan out need a tensor of at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fill(t: Tensor, values: np.ndarray) -> Tensor:
    t.data[...] = values.astype(t.data.dtype, copy=False)
    return t


def uniform_(t: Tensor, low: float = 0.0, high: float = 1.0, rng: Any = None) -> Tensor:
    return _fill(t, np.random.default_rng(rng).uniform(low, high, t.data.shape))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, rng: Any = None) -> Tensor:
    return _fill(t, np.random.default_rng(rng).normal(mean, std, t.data.shape))


def zeros_(t: Tensor) -> Tensor:
    t.data[...] = 0
    return t


def xavier_uniform_(t: Tensor, gain: float = 1.0, rng: Any = None) -> Tensor:
    fan_in, fan_out = _fans(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a, rng)


def xavier_normal_(t: Tensor, gain: float = 1.0, rng: Any = None) -> Tensor:
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def kaiming_uniform_(t: Tensor, rng: Any = None) -> Tensor:
    fan_in, _ = _fans(t)
    a = math.sqrt(6.0 / fan_in)
    return uniform_(t, -a, a, rng)


def kaiming_normal_(t: Tensor, rng: Any = None) -> Tensor:
    fan_in, _ = _fans(t)
    return normal_(t, 0.0, math.sqrt(2.0 / fan_in), rng)
