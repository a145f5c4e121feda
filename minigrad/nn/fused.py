"""The two fused primitives of ``nn.functional``, with their rules: ``embedding`` and ``cross_entropy``.

Each could be written with other primitives (getitem; log_softmax and a pick); fused, the forward pass keeps
what the rule needs and the rule is one or two NumPy operations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import onnx_layers
from ..grad_mode import is_grad_enabled
from ..ops import over_count
from ..recording import record
from ..registry import primitive
from ..shape_ops import scatter_add
from ..tensor import Tensor, as_tensor
from . import sparse

REDUCTIONS = ("mean", "sum", "none")


def embedding_vjp(g: Any, ans: Any, table: Any, index: Any, rows: Any, inverse: Any) -> Any:
    # y = table[index] (rows): ∂y/∂table copies rows, so Jᵀg adds each row of g into the row it came
    # from, repeats adding up. rows, inverse = np.unique(index) come from the forward pass; np.bincount
    # adds faster than np.add.at (getitem's path).
    if isinstance(g, Tensor):  # recording a higher derivative: the differentiable scatter
        return scatter_add(g, index, table.shape)
    width = int(np.prod(table.shape[1:], dtype=np.int64))
    flat = (inverse.reshape(-1, 1) * width + np.arange(width)).ravel()
    sums = np.bincount(flat, weights=g.reshape(-1), minlength=len(rows) * width)
    out = np.zeros(table.shape, dtype=g.dtype)
    out[rows] = sums.reshape((len(rows), *table.shape[1:]))
    return out


@primitive("embedding", (embedding_vjp, None, None, None), onnx=onnx_layers.embedding)
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
    # the primitive "embedding" is getitem on rows with a faster rule (embedding_vjp)
    return record("embedding", data[index], (data, index, rows, inverse), (weight,))


def cross_entropy_vjp(g: Any, ans: Any, z: Any, p: Any, flat: Any, w: Any, den: float, reduced: bool) -> Any:
    # ℓ = Σᵢ wᵢ (log Σⱼ exp zᵢⱼ − z_iyᵢ) / den (or the ℓᵢ themselves): ∂ℓ/∂zᵢ = wᵢ (softmax(zᵢ) − onehot(yᵢ)) / den.
    # p is the softmax of the rows of z, kept by the forward pass; flat indexes the targets in z.ravel().
    # the upstream factor of each row (a scalar if reduced). A mean over no counted target is 0/0, nan; its gradient
    # is 0, as in PyTorch: a batch of padding only must not write nan into every parameter.
    coef = (g * 0 if den == 0 else over_count(g, den)) if reduced else g.reshape(-1)
    if w is not None:
        coef = coef * w
    if isinstance(g, Tensor) or isinstance(z, Tensor):  # recording: differentiable in g, and in z if a Tensor
        return _cross_entropy_recorded(coef, z, p, flat)
    out = p * coef.reshape(-1, 1) if coef.ndim else p * coef  # a new array: p stays for another backward
    if not out.flags.c_contiguous:  # logits that were a transposed or strided view: flat indexes C order, and the
        out = np.ascontiguousarray(out)  # ravel() below must be a view of out, not a copy of it
    out.ravel()[flat] -= coef
    return out.reshape(z.shape)


def _cross_entropy_recorded(coef: Any, z: Any, p: Any, flat: Any) -> Any:
    """cross_entropy_vjp on Tensors: (softmax(z) − onehot) ∘ coef, with the softmax recomputed from z
    when z is a Tensor (a second derivative goes through it)."""
    rows = z.reshape(-1, z.shape[-1])
    if isinstance(z, Tensor):
        e = np.exp(rows - rows._data.max(axis=1, keepdims=True))  # the shift is a constant: softmax ignores it
        p = e / e.sum(axis=1, keepdims=True)
    onehot = np.zeros(p.shape, dtype=p.dtype)
    onehot.ravel()[flat] = 1
    factor = coef.reshape(-1, 1) if coef.ndim else coef
    return ((p - onehot) * factor).reshape(z.shape)


def _row_max(z: np.ndarray) -> np.ndarray:
    """The largest element of each row of a 2-D array.

    NumPy reduces a short last axis row by row, much slower than a few elementwise maxima over the columns:
    few columns and many rows take the column loop.
    """
    n, c = z.shape
    if c > _FEW_COLUMNS or n < _MANY_ROWS:
        return z.max(axis=1)
    m = z[:, 0].copy()
    for j in range(1, c):
        np.maximum(m, z[:, j], out=m)
    return m


def _row_sum(e: np.ndarray) -> np.ndarray:
    """The sum of each row of a 2-D array: a matrix-vector product (BLAS) for many rows, which is faster than
    ``sum(axis=1)`` over a short last axis."""
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


def _checked_targets(z: np.ndarray, target: Any, weight: Any, ignore_index: int) -> tuple:
    """(the targets, the targets with the ignored ones set to class 0, the weight of each target or None)."""
    t = np.asarray(target._data if isinstance(target, Tensor) else target)
    if z.ndim == 0 or t.shape != z.shape[:-1]:
        hint = ""
        if z.ndim >= 3 and t.shape == z.shape[:1] + z.shape[2:]:  # PyTorch's layout (N, C, d₁, ...)
            hint = (
                "; F.cross_entropy takes the classes on the last axis (N, ..., C): for them on axis 1, as "
                "torch's F.cross_entropy, use nn.CrossEntropyLoss or move them last"
            )
        raise ValueError(
            f"cross_entropy: logits of shape {z.shape} need targets of shape {z.shape[:-1]}, got {t.shape}{hint}"
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
    return t, safe, w


@primitive(
    "cross_entropy",
    (cross_entropy_vjp, None, None, None, None, None),
    onnx=onnx_layers.cross_entropy,
)
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

    One fused primitive (rule ``cross_entropy_vjp``): the forward pass shifts each row by its maximum, so
    large logits neither overflow nor lose the gradient, computes log Σ exp once and keeps the softmax p;
    the gradient is then ∂ℓ/∂zᵢ = w_yᵢ (pᵢ − onehot(yᵢ)), one product and one indexed subtraction, where
    the composite Σ −(log_softmax(z) ∘ onehot) takes five primitives, a one-hot mask and a second exp.

    >>> import minigrad as mg
    >>> z = mg.tensor([[2.0, 0.0, 0.0]], requires_grad=True)
    >>> loss = cross_entropy(z, np.array([0]))
    >>> loss.backward()
    >>> bool(np.allclose(z.grad, np.exp([2.0, 0, 0]) / np.exp([2.0, 0, 0]).sum() - [1, 0, 0]))
    True
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    logits = as_tensor(logits)
    z = logits._data
    t, safe, w = _checked_targets(z, target, weight, ignore_index)
    c = z.shape[-1]
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
