"""Stateless network functions: activations, ``linear``, ``embedding``, ``dropout`` and the losses.

All are composites of minigrad's primitives, so their gradients come from the rule table, except two
fused primitives with rules of their own (``minigrad.nn.fused``): ``embedding`` and ``cross_entropy``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..batched import active, drawn_per_example
from ..elementwise import relu, sigmoid, tanh
from ..ops import log_softmax, softmax
from ..tensor import Tensor, as_tensor
from .casting import require_floating
from .conv_functional import (  # noqa: F401  (convolution and pooling, PyTorch's names)
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    max_pool1d,
    max_pool2d,
)
from .fused import REDUCTIONS, cross_entropy, embedding
from .losses import (
    _reduce,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)

__all__ = [
    "cross_entropy",
    "dropout",
    "embedding",
    "linear",
    "log_softmax",
    "margin_ranking_loss",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
    "conv1d",
    "conv2d",
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
]


def linear(x: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """z = x Wᵀ + b for a weight of shape (out, in): the lecture's z = Wx + b, one row per example."""
    x = as_tensor(x)
    require_floating("linear", x, weight)
    if x.shape[-1:] != weight.shape[1:]:
        raise ValueError(
            f"linear: input of shape {x.data.shape} does not fit a weight of shape {weight.data.shape} "
            f"(expected last axis {weight.data.shape[1]})"
        )
    z = x @ weight.T
    return z if bias is None else z + bias


def dropout(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1 − p).

    The expectation is unchanged, so nothing is done at evaluation time (``training=False``).
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    draw = np.random.default_rng(rng)
    if active and not isinstance(rng, (int, np.integer)):  # inside mg.vmap: each example its own mask, as a
        # loop over them would draw (a seed draws the same mask at every call of a loop: it is shared)
        return x * drawn_per_example(x.shape, lambda shape: ((draw.random(shape) >= p) / (1.0 - p)).astype(x.dtype))
    keep = draw.random(x.shape) >= p
    return x * (keep / (1.0 - p)).astype(x.dtype)


def margin_ranking_loss(x1: Any, x2: Any, target: Any = 1.0, margin: float = 0.0, reduction: str = "mean") -> Tensor:
    """max(0, −y·(x₁ − x₂) + margin): zero once x₁ beats x₂ by the margin (y = 1), or x₂ beats x₁ (y = −1).

    The lecture's window objective J = max(0, 1 − s + s_c) is ``margin_ranking_loss(s, s_c, 1, margin=1)``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"margin_ranking_loss: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    y = np.asarray(target._data if isinstance(target, Tensor) else target)
    if not np.all(np.isin(y, (-1, 1))):
        raise ValueError("margin_ranking_loss: target must hold 1 or -1")
    diff = as_tensor(x1) - as_tensor(x2)
    loss = relu(margin - diff * y.astype(diff.dtype))
    return _reduce(loss, reduction)


# the activations, normalizations and attention of issue 15 (modules of their own, re-exported here)
from .activation_functions import elu, gelu, leaky_relu, silu, softplus  # noqa: E402
from .attention_functions import sdpa  # noqa: E402
from .normalization_functions import batch_norm, layer_norm  # noqa: E402

__all__ += ["batch_norm", "elu", "gelu", "layer_norm", "leaky_relu", "scaled_dot_product_attention", "silu", "softplus"]


def scaled_dot_product_attention(
    query: Any, key: Any, value: Any, attn_mask: Any = None, dropout_p: float = 0.0, is_causal: bool = False,
    scale: float | None = None, rng: Any = None,
) -> Tensor:  # fmt: skip
    """softmax(Q Kᵀ·scale + M) V, as PyTorch's; see ``minigrad.nn.attention_functions.sdpa`` (given this
    module's ``dropout``, which mg.compile replays)."""
    return sdpa(query, key, value, attn_mask, dropout_p, is_causal, scale, rng, dropout)
