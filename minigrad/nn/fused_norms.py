"""Two fused primitives on the transformer's hot path, with their rules: ``layer_norm`` and ``fused_softmax``.

Each is a composite of five to nine primitives otherwise (mean, subtract, square, mean, add, power, multiply;
shift, logsumexp, subtract, exp). Fused, a layer's forward and backward make one node each instead, and keep
one array (the output) instead of every intermediate. Measured on one encoder layer's step (d_model 64,
length 32, against the composites): a quarter less time at batch 1, 15% less at batch 16, and at batch 16 a
traced peak of 3.6 instead of 4.4 MiB.
Both rules are written with NumPy functions and operators only, so they also run on Tensors (create_graph,
forward mode).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..recording import record
from ..registry import primitive
from ..tensor import Tensor, as_tensor


def _standardize(x: Any, axes: tuple, eps: float) -> tuple[Any, Any]:
    """((x − μ)·r, r) over ``axes`` (kept), r = 1/√(σ² + eps) with the biased variance σ²."""
    centered = x - x.mean(axis=axes, keepdims=True)
    r = ((centered * centered).mean(axis=axes, keepdims=True) + eps) ** -0.5
    return centered * r, r


def layer_norm_vjp(g: Any, ans: Any, x: Any, axes: tuple, eps: float) -> Any:
    # x̂ = (x − μ) r with r = (σ² + ε)^(−1/2), n elements per slice: ∂x̂ᵢ/∂xⱼ = r (δᵢⱼ − 1/n − x̂ᵢ x̂ⱼ / n),
    # so Jᵀg = r (g − mean(g) − x̂ mean(g x̂)). x̂ is the output, r recomputed from x (on Tensors, x̂ too, so that
    # a second derivative sees both depend on x).
    xhat, r = _standardize(x, axes, eps)
    if not isinstance(x, Tensor):
        xhat = ans
    return r * (g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True))


def _layer_norm(x: np.ndarray, axes: tuple, eps: float) -> np.ndarray:
    return _standardize(x, axes, eps)[0]


@primitive("layer_norm", (layer_norm_vjp, None, None), compute=_layer_norm)
def layer_norm(x: Any, axes: tuple, eps: float) -> Tensor:
    """(x − μ)/√(σ² + eps) over ``axes`` (the last ones), μ and σ² the mean and biased variance of each slice.

    ``nn.functional.layer_norm`` applies the weight and the bias after it, as a product and a sum.
    """
    x = as_tensor(x, "layer_norm")
    d = x._data
    return record("layer_norm", _layer_norm(d, axes, float(eps)), (d, axes, float(eps)), (x if x._rg else None,))


def fused_softmax_vjp(g: Any, ans: Any, x: Any) -> Any:
    # p = softmax(x) along the last axis: ∂pᵢ/∂xⱼ = pᵢ (δᵢⱼ − pⱼ), so Jᵀg = p ∘ (g − Σⱼ gⱼ pⱼ)
    return ans * (g - (g * ans).sum(axis=-1, keepdims=True))


def _softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)
    e = np.exp(x - np.where(np.isfinite(m), m, 0))  # a row of all -inf: exp gives 0s, then 0/0 = nan (its caller masks)
    with np.errstate(invalid="ignore"):
        return e / e.sum(axis=-1, keepdims=True)


@primitive("fused_softmax", (fused_softmax_vjp,), compute=_softmax)
def fused_softmax(x: Any) -> Tensor:
    """softmax along the last axis, exp(x − max) / Σ exp(x − max): the attention weights' softmax as one node
    (``mg.softmax`` is the composite exp ∘ log_softmax, along any axis)."""
    x = as_tensor(x, "fused_softmax")
    d = x._data
    return record("fused_softmax", _softmax(d), (d,), (x if x._rg else None,))
