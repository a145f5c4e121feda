"""Fused primitives on the transformer's hot path, with their rules: ``layer_norm``, ``fused_softmax`` and
``linear_rows``.

Each is a composite of primitives otherwise (mean, subtract, square, mean, add, power, multiply, multiply, add;
shift, logsumexp, subtract, exp; transpose, matmul, add). Fused, a layer's forward and backward make one node
each instead, and keep fewer arrays. Measured on one encoder layer's step (d_model 64, length 32, float32, on a
busy 2-core machine), layer_norm and fused_softmax against their composites: 6–25% less time at batch 1 and
8–18% at batch 16, and at batch 16 a traced peak (tracemalloc) of 3.4 instead of 4.5 MiB; linear_rows took the
layer from 31 nodes to 23. The rules are written with NumPy functions and operators only, so they also run on
Tensors (create_graph, forward mode).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import onnx_layers
from ..recording import record
from ..registry import primitive
from ..tensor import Tensor, as_tensor


def _mean(x: Any, axes: tuple) -> Any:
    """The mean over ``axes`` (kept). Over the last axis of an array, as a product with a vector of 1/n: NumPy
    reduces a short last axis row by row, several times slower than BLAS's matrix-vector product (and
    ``ndarray.mean`` costs a Python layer more than the product at small sizes)."""
    if type(x) is not np.ndarray:
        return x.mean(axis=axes, keepdims=True)
    n = int(np.prod([x.shape[a] for a in axes]))
    if axes == (x.ndim - 1,) and n:
        return (x @ np.full(n, 1 / n, dtype=x.dtype))[..., None]
    return np.add.reduce(x, axis=axes, keepdims=True) * (1 / n if n else np.nan)


def _row_sum(x: Any) -> Any:
    """The sum over the last axis (kept), as ``_mean``."""
    if type(x) is np.ndarray and x.shape[-1] and x.size >= _ROWS_FROM:
        return (x @ np.ones(x.shape[-1], dtype=x.dtype))[..., None]
    return x.sum(axis=-1, keepdims=True)


def _row_max(x: np.ndarray) -> np.ndarray:
    """The maximum over the last axis (kept). Many short rows are transposed into columns first: the maxima down
    the columns of the copy run on whole rows of memory, twice as fast as NumPy's reduction of each short row."""
    if x.size < _ROWS_FROM or not x.shape[-1]:
        return x.max(axis=-1, keepdims=True)
    columns = np.ascontiguousarray(x.reshape(-1, x.shape[-1]).T)
    return columns.max(axis=0).reshape(x.shape[:-1] + (1,))


_ROWS_FROM = 4096  # elements: below, the reductions' own calls cost less


def _standardize(x: Any, axes: tuple, eps: float) -> tuple[Any, Any]:
    """((x − μ)·r, r) over ``axes`` (kept), r = 1/√(σ² + eps) with the biased variance σ²."""
    centered = x - _mean(x, axes)
    r = (_mean(centered * centered, axes) + eps) ** -0.5
    return centered * r, r


def layer_norm_vjp_x(g: Any, ans: Any, x: Any, w: Any, b: Any, axes: tuple, eps: float) -> Any:
    # y = x̂ ∘ w + b, x̂ = (x − μ) r with r = (σ² + ε)^(−1/2), n elements per slice: ∂x̂ᵢ/∂xⱼ = r (δᵢⱼ − 1/n − x̂ᵢ x̂ⱼ / n),
    # so with h = g ∘ w, Jᵀg = r (h − mean(h) − x̂ mean(h x̂)). x̂ and r are recomputed from x (on Tensors too, so
    # that a second derivative sees them depend on x).
    xhat, r = _standardize(x, axes, eps)
    h = g if w is None else g * w
    return r * (h - _mean(h, axes) - xhat * _mean(h * xhat, axes))


def layer_norm_vjp_w(g: Any, ans: Any, x: Any, w: Any, b: Any, axes: tuple, eps: float) -> Any:
    # ∂y/∂w = diag(x̂) per slice: Jᵀg = g ∘ x̂, summed over the leading axes by the engine (w broadcasts)
    return g * _standardize(x, axes, eps)[0]


def layer_norm_vjp_b(g: Any, ans: Any, x: Any, w: Any, b: Any, axes: tuple, eps: float) -> Any:
    # ∂y/∂b = I: Jᵀg = g, summed over the leading axes by the engine
    return g


def _layer_norm(x: np.ndarray, w: Any, b: Any, axes: tuple, eps: float) -> np.ndarray:
    y = _standardize(x, axes, eps)[0]
    if w is not None:
        y *= w
    if b is not None:
        y += b
    return y


@primitive(
    "layer_norm",
    (layer_norm_vjp_x, layer_norm_vjp_w, layer_norm_vjp_b, None, None),
    compute=_layer_norm,
    onnx=onnx_layers.layer_norm,
)
def layer_norm(x: Any, weight: Any, bias: Any, axes: tuple, eps: float) -> Tensor:
    """(x − μ)/√(σ² + eps) ∘ weight + bias over ``axes`` (the last ones; weight and bias of their shape, or
    None), μ and σ² the mean and biased variance of each slice."""
    x = as_tensor(x, "layer_norm")
    args, parents = [x._data], [x if x._rg else None]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            args.append(None)
            parents.append(None)
            continue
        p = as_tensor(p, "layer_norm")
        if p.shape != x.shape[x.ndim - len(axes) :]:
            raise ValueError(f"layer_norm: {name} of shape {p.shape} does not fit an input of shape {x.shape}")
        args.append(p._data)
        parents.append(p if p._rg else None)
    out = _layer_norm(*args, axes, float(eps))
    return record("layer_norm", out, (*args, axes, float(eps)), tuple(parents))


def fused_softmax_vjp(g: Any, ans: Any, x: Any, scale: float) -> Any:
    # p = softmax(c x) along the last axis: ∂pᵢ/∂xⱼ = c pᵢ (δᵢⱼ − pⱼ), so Jᵀg = c p ∘ (g − Σⱼ gⱼ pⱼ)
    out = ans * (g - _row_sum(g * ans))
    return out if scale == 1 else out * scale


def _softmax(x: np.ndarray, scale: float) -> np.ndarray:
    m = _row_max(x)  # (the maximum of c x is c max x for c > 0)
    if not np.isfinite(m).all():
        m = np.where(np.isfinite(m), m, 0)  # a row of all -inf: 0s, then 0/0 = nan (masked by the caller)
    e = np.subtract(x, m)
    if scale != 1:
        e *= scale
    np.exp(e, out=e)
    with np.errstate(invalid="ignore"):
        e /= _row_sum(e)
    return e


@primitive("fused_softmax", (fused_softmax_vjp, None), compute=_softmax, onnx=onnx_layers.fused_softmax)
def fused_softmax(x: Any, scale: float = 1.0) -> Tensor:
    """softmax(scale · x) along the last axis, exp(c (x − max)) / Σ exp(c (x − max)) for a scale c > 0: the
    attention weights' softmax with its 1/√d as one node (``mg.softmax`` is the composite exp ∘ log_softmax)."""
    if not scale > 0:
        raise ValueError(f"fused_softmax: scale must be positive, got {scale}")
    x = as_tensor(x, "fused_softmax")
    d = x._data
    return record("fused_softmax", _softmax(d, float(scale)), (d, float(scale)), (x if x._rg else None,))


def linear_rows_vjp_x(g: Any, ans: Any, x: Any, w: Any, b: Any) -> Any:
    # y = x Wᵀ + b for rows x (M, in): ∂y/∂x pairs row i of y with row i of x through W, so Jᵀg = g W
    return g @ w


def linear_rows_vjp_w(g: Any, ans: Any, x: Any, w: Any, b: Any) -> Any:
    # ∂yᵢₖ/∂Wₖⱼ = xᵢⱼ: Jᵀg = gᵀ x
    return g.T @ x


def linear_rows_vjp_b(g: Any, ans: Any, x: Any, w: Any, b: Any) -> Any:
    # ∂y/∂b = I for each row: Jᵀg = g, summed over the rows by the engine (b broadcasts)
    return g


def _linear_rows(x: np.ndarray, w: np.ndarray, b: Any) -> np.ndarray:
    out = x @ w.T
    if b is not None:
        out += b
    return out


@primitive(
    "linear_rows",
    (linear_rows_vjp_x, linear_rows_vjp_w, linear_rows_vjp_b),
    compute=_linear_rows,
    onnx=onnx_layers.linear_rows,
)
def linear_rows(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """x Wᵀ + b for a matrix of rows x (M, in), W (out, in) and b (out,) or None: ``nn.functional.linear`` as one
    node instead of three (transpose, matmul, add), for the rows the encoder layer works on."""
    x, weight = as_tensor(x, "linear_rows"), as_tensor(weight, "linear_rows")
    if x.ndim != 2 or weight.ndim != 2 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"linear_rows: rows {x.shape} and a weight {weight.shape} do not fit (M, in) and (out, in)")
    args, parents = [x._data, weight._data], [x if x._rg else None, weight if weight._rg else None]
    if bias is None:
        args.append(None)
        parents.append(None)
    else:
        bias = as_tensor(bias, "linear_rows")
        if bias.shape != weight.shape[:1]:
            raise ValueError(f"linear_rows: a bias of shape {bias.shape} does not fit a weight {weight.shape}")
        args.append(bias._data)
        parents.append(bias if bias._rg else None)
    return record("linear_rows", _linear_rows(*args), tuple(args), tuple(parents))
