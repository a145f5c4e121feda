"""The regression, binary and distribution losses of ``nn.functional``, as ``torch.nn.functional``'s.

Each takes ``reduction="mean" | "sum" | "none"`` (anything else is an error naming the loss). All are composites
of minigrad's primitives, so their gradients come from the rule table, and they are written so that the gradient
stays finite where the value does: ``binary_cross_entropy_with_logits`` goes through ``logaddexp``, exact for any
logit; ``binary_cross_entropy`` clamps its logarithms at −100 as PyTorch does.

One difference from PyTorch, on purpose: an ``input`` and a ``target`` of different shapes are an error naming
both (PyTorch's ``mse_loss`` broadcasts them with a warning, which silently turns a (N, 1) prediction against a
(N,) target into an (N, N) loss).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..elementwise import absolute, exp, log, logaddexp
from ..shape_ops import astype, expand_dims, transpose, where
from ..tensor import Tensor, as_tensor
from .fused import REDUCTIONS

_LOG_FLOOR = -100.0  # PyTorch's clamp of log(x) and log(1 − x) in binary_cross_entropy
_SMALLEST = math.exp(_LOG_FLOOR)


def _reduction(loss: str, reduction: Any, allowed: tuple = REDUCTIONS) -> str:
    if reduction not in allowed:
        raise ValueError(f"{loss}: reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _pair(loss: str, input: Any, target: Any) -> tuple[Tensor, Tensor]:
    """``input`` and ``target`` as Tensors of one shape (the target may require grad too, as in PyTorch)."""
    x = as_tensor(input)
    t = as_tensor(target)
    if x.shape != t.shape:
        raise ValueError(
            f"{loss}: input of shape {x.shape} and target of shape {t.shape} differ; give them one "
            "shape (minigrad does not broadcast a loss's input and target)"
        )
    if t.dtype != x.dtype and x.dtype.kind == "f":  # (a primitive: mg.compile replays it)
        t = astype(t, x.dtype)
    return x, t


def _weights(loss: str, name: str, weight: Any, shape: tuple, dtype: Any) -> Any:
    """A constant ``weight`` that broadcasts to ``shape`` (the input's), or None."""
    if weight is None:
        return None
    w = np.asarray(weight._data if isinstance(weight, Tensor) else weight, dtype=dtype)
    try:
        fits = np.broadcast_shapes(w.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{loss}: {name} of shape {w.shape} does not broadcast to the input's shape {shape}")
    return w


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """ℓ = (x − y)², the squared error of each element."""
    reduction = _reduction("mse_loss", reduction)
    x, t = _pair("mse_loss", input, target)
    d = x - t
    return _reduce(d * d, reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """ℓ = |x − y|; its gradient at x = y is 0 (the subgradient sign(0), as in PyTorch)."""
    reduction = _reduction("l1_loss", reduction)
    x, t = _pair("l1_loss", input, target)
    return _reduce(absolute(x - t), reduction)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """ℓ = ½(x − y)²/β where |x − y| < β, else |x − y| − ½β; β = 0 is ``l1_loss``."""
    reduction = _reduction("smooth_l1_loss", reduction)
    if not (isinstance(beta, (int, float)) and beta >= 0 and math.isfinite(beta)):
        raise ValueError(f"smooth_l1_loss: beta must be non-negative and finite, got {beta!r}")
    x, t = _pair("smooth_l1_loss", input, target)
    d = x - t
    a = absolute(d)
    if beta == 0:
        return _reduce(a, reduction)
    return _reduce(where(a < beta, d * d * (0.5 / beta), a - 0.5 * beta), reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """ℓ = ½(x − y)² where |x − y| < δ, else δ(|x − y| − ½δ): ``smooth_l1_loss`` with β = δ, times δ."""
    reduction = _reduction("huber_loss", reduction)
    if not (isinstance(delta, (int, float)) and delta > 0 and math.isfinite(delta)):
        raise ValueError(f"huber_loss: delta must be positive and finite, got {delta!r}")
    x, t = _pair("huber_loss", input, target)
    d = x - t
    a = absolute(d)
    return _reduce(where(a < delta, d * d * 0.5, (a - 0.5 * delta) * delta), reduction)


def _clamped_log(x: Tensor) -> Tensor:
    """max(log x, −100) with a gradient that stays finite: 0 past the clamp, where the value is flat."""
    keep = x > _SMALLEST
    return where(keep, log(where(keep, x, 1.0)), _LOG_FLOOR)


def binary_cross_entropy(input: Any, target: Any, weight: Any = None, reduction: str = "mean") -> Tensor:
    """ℓ = −w · (y log x + (1 − y) log(1 − x)) for probabilities x in [0, 1].

    As in PyTorch each log is clamped at −100, so x = 0 or 1 gives a loss of at most 100, not inf. Past the
    clamp (x ≤ e⁻¹⁰⁰ or 1 − x ≤ e⁻¹⁰⁰) the gradient is 0, the slope of the clamped value (PyTorch's backward
    divides by max(x(1 − x), 1e-12) there instead). ``weight`` broadcasts to the input. For logits, use
    ``binary_cross_entropy_with_logits``: it is exact where σ(z) rounds to 0 or 1.
    """
    reduction = _reduction("binary_cross_entropy", reduction)
    x, t = _pair("binary_cross_entropy", input, target)
    data = x._data
    if data.size and (np.nanmin(data) < 0 or np.nanmax(data) > 1):
        bad = data[(data < 0) | (data > 1)].ravel()[0]
        raise ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1], got {bad}")
    w = _weights("binary_cross_entropy", "weight", weight, data.shape, data.dtype)
    loss = -(t * _clamped_log(x) + (1 - t) * _clamped_log(1 - x))
    return _reduce(loss if w is None else loss * w, reduction)


def binary_cross_entropy_with_logits(
    input: Any, target: Any, weight: Any = None, reduction: str = "mean", pos_weight: Any = None
) -> Tensor:
    """ℓ = −w · (p·y log σ(z) + (1 − y) log(1 − σ(z))) = w · (p·y softplus(−z) + (1 − y) softplus(z)).

    softplus(z) = log(1 + eᶻ) = ``logaddexp(0, z)``, whose rule is g·σ(z) computed as g·exp(z − softplus(z)):
    value and gradient (w·((1 − y)σ(z) − p·y σ(−z))) are exact for any logit, ±1e4 included, with no overflow.
    ``pos_weight`` (p, e.g. shape (C,)) weighs the positive term and broadcasts to the input, as ``weight``.
    """
    where_ = "binary_cross_entropy_with_logits"
    reduction = _reduction(where_, reduction)
    z, t = _pair(where_, input, target)
    shape, dtype = z.shape, z.dtype
    w = _weights(where_, "weight", weight, shape, dtype)
    p = _weights(where_, "pos_weight", pos_weight, shape, dtype)
    positive = t * logaddexp(0.0, -z)  # −y log σ(z)
    if p is not None:
        positive = positive * p
    loss = positive + (1 - t) * logaddexp(0.0, z)  # − (1 − y) log(1 − σ(z)) = (1 − y) softplus(z)
    return _reduce(loss if w is None else loss * w, reduction)


def nll_loss(input: Any, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """ℓᵢ = −w_yᵢ · x_{i, yᵢ} for log-probabilities ``input`` of shape (N, C) or (N, C, d₁, ...), as PyTorch.

    The classes are on axis 1 (a single example may be (C,) with a 0-d target); ``target`` holds class
    indices of shape (N,) or (N, d₁, ...). Targets equal to ``ignore_index`` count for nothing; ``"mean"``
    divides by the sum of the weights of the counted targets (nan if none is counted, as in PyTorch, with a
    zero gradient, as ``cross_entropy``: a batch of padding only writes no nan into the parameters).
    """
    reduction = _reduction("nll_loss", reduction)
    x = as_tensor(input)
    data = x  # (for its shape and dtype, which a vmap example has too)
    t = np.asarray(target._data if isinstance(target, Tensor) else target)
    expected = data.shape[:1] + data.shape[2:] if data.ndim >= 2 else ()
    if data.ndim == 0 or t.shape != expected:
        raise ValueError(
            f"nll_loss: input of shape {data.shape} (classes on axis 1) needs a target of shape {expected}, "
            f"got {t.shape}"
        )
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class indices, got dtype {t.dtype}")
    c = data.shape[1] if data.ndim >= 2 else data.shape[0]
    counted = t != ignore_index
    bad = counted & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(f"nll_loss: target {t[bad].ravel()[0]} is out of range for {c} classes")
    if weight is not None:
        weight = np.asarray(weight._data if isinstance(weight, Tensor) else weight, dtype=data.dtype)
        if weight.shape != (c,):
            raise ValueError(f"nll_loss: weight must have shape ({c},) (one per class), got {weight.shape}")
    if data.ndim > 2:  # (N, C, d₁, ...) → (N, d₁, ..., C): the classes of each target on the last axis
        x = transpose(x, (0, *range(2, data.ndim), 1))
    # −w_y x_y as a sum over the classes of x times a one-hot mask, made by comparisons of tensors: mg.compile
    # rebuilds those masks from the targets at every replay, where it would keep an index array as traced
    # (an ignore_index outside [0, C) matches no class, so it needs no mask of its own)
    targets = expand_dims(as_tensor(target), -1)
    pick = as_tensor(targets == np.arange(c)).astype(data.dtype)
    if 0 <= ignore_index < c:
        pick = pick * (targets != ignore_index)
    if weight is not None:
        pick = pick * weight
    loss = -(x * pick).sum(axis=-1)
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    den = pick.sum()
    none = den == 0  # no target counted: the mean of nothing is nan, with a zero gradient (as cross_entropy)
    one, nan, zero = (np.array(v, dtype=data.dtype) for v in (1.0, math.nan, 0.0))  # (Python floats: float64)
    return total / where(none, one, den) + where(none, nan, zero)


def kl_div(input: Any, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """ℓ = y (log y − x) for log-probabilities x and probabilities y (``log_target``: y given as log y,
    ℓ = eʸ (y − x)); 0 where y = 0. Differentiable in both.

    ``"batchmean"`` (the sum over the batch's first axis's size) is the KL divergence; ``"mean"`` divides by
    every element and warns, as PyTorch does.
    """
    reduction = _reduction("kl_div", reduction, (*REDUCTIONS, "batchmean"))
    x, t = _pair("kl_div", input, target)
    if log_target:
        loss = exp(t) * (t - x)
    else:
        positive = t > 0
        loss = where(positive, t * log(where(positive, t, 1.0)), 0.0) - t * x  # y log y, 0 at y = 0
    if reduction == "batchmean":
        n = x.shape[0] if x.ndim else 1
        return loss.sum() / n
    if reduction == "mean":
        warnings.warn(
            "kl_div: reduction='mean' divides the total by every element, not by the batch size; "
            "reduction='batchmean' gives the KL divergence (as in PyTorch)",
            UserWarning,
            stacklevel=2,
        )
    return _reduce(loss, reduction)
