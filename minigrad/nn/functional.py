"""Stateless network functions: activations, ``linear``, ``embedding``, ``dropout`` and the losses.

All are composites of minigrad's primitives, so their gradients come from the rule table, except two
fused primitives with rules of their own there: ``embedding`` and ``cross_entropy``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..grad_mode import is_grad_enabled
from ..ops import as_tensor, log_softmax, relu, sigmoid, softmax, tanh
from ..tensor import Tensor, record
from . import sparse

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
]

_REDUCTIONS = ("mean", "sum", "none")


def linear(x: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """z = x Wᵀ + b for a weight of shape (out, in): the lecture's z = Wx + b, one row per example."""
    x = as_tensor(x)
    if x._data.shape[-1:] != weight._data.shape[1:]:
        raise ValueError(
            f"linear: input of shape {x.data.shape} does not fit a weight of shape {weight.data.shape} "
            f"(expected last axis {weight.data.shape[1]})"
        )
    z = x @ weight.T
    return z if bias is None else z + bias


def embedding(index: Any, weight: Tensor) -> Tensor:
    """Rows of ``weight`` picked by the integer array ``index``: shape ``index.shape + (dim,)``.

    The gradient adds up at repeated rows. If ``weight`` was marked row-sparse (``nn.Embedding`` does),
    the looked-up rows are noted so that the optimizers update only them. Indices must lie in
    [0, rows): unlike NumPy indexing, a negative id is an error, as in ``torch.nn.functional.embedding``.
    """
    weight = as_tensor(weight)
    index = np.asarray(index._data if isinstance(index, Tensor) else index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {index.dtype}")
    n = weight._data.shape[0]
    if index.size and (index.min() < 0 or index.max() >= n):
        bad = index[(index < 0) | (index >= n)].ravel()[0]
        raise IndexError(f"embedding: index {bad} is out of range for a table of {n} rows")
    data = weight._data
    if not (weight._rg and is_grad_enabled()):
        return record("embedding", data[index], (data, index, None, None), (None,))
    rows, inverse = np.unique(index, return_inverse=True)  # the rows looked up, for the rule and the optimizer
    sparse.note_rows(weight, rows)
    # the primitive "embedding" is getitem on rows with a faster rule (rules.embedding_vjp)
    return record("embedding", data[index], (data, index, rows, inverse), (weight,))


def dropout(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1 − p).

    The expectation is unchanged, so nothing is done at evaluation time (``training=False``).
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    keep = np.random.default_rng(rng).random(x._data.shape) >= p
    return x * (keep / (1.0 - p)).astype(x._data.dtype)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _row_max(z: np.ndarray) -> np.ndarray:
    """The largest element of each row of a 2-D array.

    NumPy reduces a short last axis row by row, 12x slower than the few elementwise maxima over its
    columns at 5 columns and 4096 rows: few columns and many rows take the column loop.
    """
    n, c = z.shape
    if c > _FEW_COLUMNS or n < _MANY_ROWS:
        return z.max(axis=1)
    m = z[:, 0].copy()
    for j in range(1, c):
        np.maximum(m, z[:, j], out=m)
    return m


def _row_sum(e: np.ndarray) -> np.ndarray:
    """The sum of each row of a 2-D array: a matrix-vector product (BLAS) for many rows, 8x faster than
    ``sum(axis=1)`` at 5 columns and 4096 rows."""
    if e.shape[0] < _MANY_ROWS:
        return e.sum(axis=1)
    return e @ np.ones(e.shape[1], dtype=e.dtype)


_FEW_COLUMNS, _MANY_ROWS = 16, 64


def _targets(t: np.ndarray, c: int, ignore_index: int) -> tuple[np.ndarray, Any]:
    """The targets with the ignored ones set to class 0, and the mask of the counted ones (None: all)."""
    counted = t != ignore_index
    if counted.all():
        if t.size and (t.min() < 0 or t.max() >= c):
            bad = t[(t < 0) | (t >= c)].ravel()[0]
            raise IndexError(f"cross_entropy: target {bad} is out of range for {c} classes")
        return t, None
    if np.any((t[counted] < 0) | (t[counted] >= c)):
        bad = t[counted & ((t < 0) | (t >= c))].ravel()[0]
        raise IndexError(f"cross_entropy: target {bad} is out of range for {c} classes")
    return np.where(counted, t, 0), counted


def cross_entropy(
    logits: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Cross-entropy of integer targets: ℓᵢ = −w_yᵢ · log softmax(zᵢ)_yᵢ, computed stably.

    ``logits`` has shape (..., C) and ``target`` the leading shape (...). ``weight`` (C,) weighs each
    class; targets equal to ``ignore_index`` contribute nothing. ``reduction="mean"`` divides by the sum
    of the weights of the counted targets (as PyTorch does); ``"sum"`` and ``"none"`` are also available.

    One fused primitive (rule ``rules.cross_entropy_vjp``): the forward pass shifts each row by its
    maximum, so large logits neither overflow nor lose the gradient, computes log Σ exp once and keeps
    the softmax p; the gradient is then ∂ℓ/∂zᵢ = w_yᵢ (pᵢ − onehot(yᵢ)), one product and one indexed
    subtraction. The composite Σ −(log_softmax(z) ∘ onehot) took five primitives, a one-hot mask and a
    second exp in backward: 1.14-1.35x the hand-written step of a 250→5 classifier at batch 4096, the
    fused one 0.7-1.0x (``python -m benchmarks``).

    >>> import minigrad as mg
    >>> z = mg.tensor([[2.0, 0.0, 0.0]], requires_grad=True)
    >>> loss = cross_entropy(z, np.array([0]))
    >>> loss.backward()
    >>> bool(np.allclose(z.grad, np.exp([2.0, 0, 0]) / np.exp([2.0, 0, 0]).sum() - [1, 0, 0]))
    True
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    logits = as_tensor(logits)
    z = logits._data
    t = np.asarray(target._data if isinstance(target, Tensor) else target)
    if z.ndim == 0 or t.shape != z.shape[:-1]:
        raise ValueError(
            f"cross_entropy: logits of shape {z.shape} need targets of shape {z.shape[:-1]}, got {t.shape}"
        )
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {t.dtype}")
    c = z.shape[-1]
    safe, counted = _targets(t, c, ignore_index)
    w = None if counted is None else counted.astype(z.dtype)  # per target: 0 if ignored, else its class weight
    if weight is not None:
        weight = np.asarray(weight._data if isinstance(weight, Tensor) else weight, dtype=z.dtype)
        if weight.shape != (c,):
            raise ValueError(f"cross_entropy: weight must have shape ({c},), got {weight.shape}")
        w = weight[safe] if w is None else w * weight[safe]
    rows = z.reshape(-1, c)
    shifted = rows - _row_max(rows).reshape(-1, 1)
    e = np.exp(shifted)
    total = _row_sum(e)
    flat = np.arange(len(rows)) * c + safe.ravel()  # where each target sits in the flattened logits
    losses = np.log(total) - shifted.ravel()[flat]  # ℓᵢ = log Σⱼ exp zᵢⱼ − z_iyᵢ (shifted by the row maximum)
    if w is not None:
        w = w.ravel()
        losses *= w
    parents = (logits,) if logits._rg else (None,)
    if logits._rg and is_grad_enabled():
        e /= total.reshape(-1, 1)  # the softmax p: all the rule needs besides the targets
    if reduction == "none":
        return record("cross_entropy", losses.reshape(t.shape), (z, e, flat, w, 1.0, False), parents)
    wide = np.float32 if losses.dtype.type is np.float16 else None  # float16 sums in float32, as np.mean does
    den = 1.0 if reduction == "sum" else float(len(losses) if w is None else w.sum(dtype=wide))
    value = np.asarray(losses.sum(dtype=wide) / den, dtype=losses.dtype)  # (float even for integer logits)
    return record("cross_entropy", value, (z, e, flat, w, den, True), parents)


def margin_ranking_loss(x1: Any, x2: Any, target: Any = 1.0, margin: float = 0.0, reduction: str = "mean") -> Tensor:
    """max(0, −y·(x₁ − x₂) + margin): zero once x₁ beats x₂ by the margin (y = 1), or x₂ beats x₁ (y = −1).

    The lecture's window objective J = max(0, 1 − s + s_c) is ``margin_ranking_loss(s, s_c, 1, margin=1)``.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"margin_ranking_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    y = np.asarray(target._data if isinstance(target, Tensor) else target)
    if not np.all(np.isin(y, (-1, 1))):
        raise ValueError("margin_ranking_loss: target must hold 1 or -1")
    diff = as_tensor(x1) - as_tensor(x2)
    loss = relu(margin - diff * y.astype(diff._data.dtype))
    return _reduce(loss, reduction)
