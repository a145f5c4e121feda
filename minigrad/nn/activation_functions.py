"""The activations of ``nn.functional`` beyond relu/tanh/sigmoid: gelu, silu, leaky_relu, elu, softplus.

Composites of primitives (``erf``, ``tanh``, ``sigmoid``, ``expm1``, ``logaddexp``, ``where``), so their gradients
come from the rule table. At the kinks the gradient is PyTorch's: leaky_relu at 0 takes the negative slope,
elu at 0 takes α (the left branch's derivative α·e⁰), softplus at the threshold the linear branch's 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..composites_nn import softplus as _softplus
from ..elementwise import erf, expm1, sigmoid, tanh
from ..shape_ops import where
from ..tensor import Tensor, as_tensor

GELU_APPROXIMATIONS = ("none", "tanh")
_ROOT_2_OVER_PI = math.sqrt(2 / math.pi)


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """x·Φ(x), Φ the standard normal's distribution function: ½x(1 + erf(x/√2)), or with
    ``approximate="tanh"`` ½x(1 + tanh(√(2/π)(x + 0.044715x³))), as PyTorch."""
    if approximate not in GELU_APPROXIMATIONS:
        raise ValueError(f"gelu: approximate must be one of {GELU_APPROXIMATIONS}, got {approximate!r}")
    x = as_tensor(x, "gelu")
    if approximate == "tanh":
        inner = tanh((x + x * x * x * 0.044715) * _ROOT_2_OVER_PI)
    else:
        inner = erf(x * math.sqrt(0.5))
    return x * (inner + 1.0) * 0.5


def silu(x: Any) -> Tensor:
    """x·σ(x) (the swish)."""
    x = as_tensor(x, "silu")
    return x * sigmoid(x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, else negative_slope·x; the gradient at 0 is negative_slope, as PyTorch's."""
    x = as_tensor(x, "leaky_relu")
    return where(x > 0, x, x * float(negative_slope))


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x > 0, else α(eˣ − 1); the gradient at 0 is α, as PyTorch's.

    The left branch is computed on min(x, 0) (through ``where``, so that x = 0 keeps its gradient): e^x of a
    large positive x, unused, would overflow and make its zero gradient 0·inf = nan.
    """
    x = as_tensor(x, "elu")
    positive = x > 0  # (a comparison of tensors: mg.compile recomputes it at each replay)
    left = expm1(where(positive, np.zeros((), dtype=x.dtype), x)) * float(alpha)
    return where(positive, x, left)


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """(1/β) log(1 + e^{βx}), and x itself where βx > threshold (PyTorch's switch to the linear function,
    where the two agree to rounding). Computed through logaddexp(0, βx): stable for any x."""
    x = as_tensor(x, "softplus")
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero")
    scaled = x * float(beta) if beta != 1 else x
    linear = scaled > threshold
    # the smooth branch on 0 where the linear one is taken: at βx = inf its unused gradient would be nan (inf − inf)
    scaled = where(linear, np.zeros((), dtype=x.dtype), scaled)
    smooth = _softplus(scaled) * (1.0 / beta) if beta != 1 else _softplus(scaled)
    return where(linear, x, smooth)


def softmax_dim(ndim: int) -> int:
    """PyTorch's axis when ``dim=None`` is given to Softmax/LogSoftmax (deprecated there): 0 for 0-, 1- and
    3-D inputs, else 1."""
    return 0 if ndim in (0, 1, 3) else 1
