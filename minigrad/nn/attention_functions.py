"""``scaled_dot_product_attention``: softmax(q kᵀ · scale + mask) v over the last two axes, a composite.

Masks as PyTorch's ``torch.nn.functional.scaled_dot_product_attention``: a boolean mask says which scores
take part (True: attends), a float mask is added to the scores; ``is_causal`` keeps position i to keys j ≤ i.

A query row whose every key is masked gets weights 0 and output 0, with gradient 0 (PyTorch's safe softmax
gives the same in scaled_dot_product_attention; its MultiheadAttention gives nan there; minigrad gives 0 in both).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..linalg import matmul
from ..recording import unrecorded
from ..shape_ops import swapaxes, where
from ..tensor import Tensor, as_tensor
from .fused_norms import fused_softmax


def replayable(fn: Any, *args: Any) -> Any:
    """``fn(*args)``, noted for ``mg.compile`` while it traces: the replay computes it again from the arrays in
    ``args`` (masks given to the step), where it would otherwise keep the traced call's value."""
    out = fn(*args)
    if unrecorded and isinstance(out, np.ndarray):
        unrecorded[0](fn, out, args)
    return out


def dead_rows(allowed: np.ndarray | None, bias: np.ndarray | None) -> np.ndarray:
    """The query rows (…, L, 1) with no key allowed, or every added score -inf."""
    live = None if allowed is None else allowed
    if bias is not None:
        finite = bias > -np.inf
        live = finite if live is None else live & finite
    return ~np.any(live, axis=-1, keepdims=True)


def masked_softmax(scores: Tensor, allowed: np.ndarray | None, bias: Any = None, scale: float = 1.0) -> Tensor:
    """softmax(scale · scores) over the last axis where ``allowed`` (None: everywhere); with a mask (``allowed``
    or a ``bias`` added to the scores), rows with no allowed or finite score give 0. The masked scores are
    replaced (``where``), so their gradient is exactly 0."""
    if allowed is None and bias is None:  # no mask: every row has finite scores (for finite inputs)
        return fused_softmax(scores, scale)
    dtype = scores.dtype
    if allowed is not None:
        scores = where(allowed, scores, np.array(-np.inf, dtype=dtype))
    # the rows left with no key, from the masks (not the scores: a compiled replay recomputes it from the masks)
    dead = replayable(dead_rows, allowed, bias._data if isinstance(bias, Tensor) else bias)
    zero = np.zeros((), dtype=dtype)
    return where(dead, zero, fused_softmax(where(dead, zero, scores), scale))


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    allowed: np.ndarray | None,
    bias: Any,
    scale: float,
    dropout_p: float,
    rng: Any = None,
    dropout: Any = None,
) -> tuple[Tensor, Tensor]:
    """(softmax(q kᵀ·scale + bias, masked to ``allowed``) v, the weights), with ``dropout(weights, p, True, rng)``
    (``nn.functional.dropout``, passed in: it imports this module) on the weights when ``dropout_p`` > 0."""
    inside = bias is None and scale > 0  # the scale applied by the softmax (one node less), or to q before a bias
    scores = matmul(q if inside else q * scale, swapaxes(k, -1, -2))
    if bias is not None:
        scores = scores + bias
    weights = masked_softmax(scores, allowed, bias, scale if inside else 1.0)
    del scores  # (no rule reads the scores: held here, they would outlive the forward, see minigrad.forget)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, True, rng)
    return matmul(weights, v), weights


def mask_kind(name: str, argument: str, mask: Any) -> np.ndarray | Tensor:
    """``mask`` as an array (or the Tensor it is), if boolean or floating: an integer mask (0/1) would be added
    to the scores as numbers, where PyTorch refuses it."""
    m = mask if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != bool and m.dtype.kind != "f":
        raise TypeError(
            f"{name}: {argument} must be boolean or floating (added to the scores), got dtype {m.dtype} "
            f"(shape {m.shape}); give a boolean mask (mask.astype(bool))"
        )
    return m


def _mask_fits(name: str, mask: Any, shape: tuple) -> np.ndarray | Tensor:
    mask = mask_kind(name, "attn_mask", mask)
    data = mask._data if isinstance(mask, Tensor) else mask
    try:
        fits = np.broadcast_shapes(data.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: attn_mask of shape {data.shape} does not broadcast to the scores' shape {shape}")
    return mask if isinstance(mask, Tensor) else data


def sdpa(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    rng: Any = None,
    dropout: Any = None,
) -> Tensor:
    """softmax(Q Kᵀ·scale + M) V for Q (..., L, E), K (..., S, E), V (..., S, Eᵥ): shape (..., L, Eᵥ).

    ``scale`` defaults to 1/√E. ``attn_mask`` broadcasts to (..., L, S): boolean (True: the key takes part)
    or float (added). ``is_causal`` masks keys after the query (j > i); it takes no ``attn_mask`` besides.
    ``dropout_p`` drops attention weights (with ``rng``), always, as PyTorch's function does.

    >>> import numpy as np
    >>> q = np.eye(2)[None]
    >>> out = sdpa(q, q, np.array([[[1.0], [3.0]]]), is_causal=True)
    >>> np.round(out.data.ravel(), 4).tolist()
    [1.0, 2.3395]
    """
    name = "scaled_dot_product_attention"
    q, k, v = (as_tensor(t, name) for t in (query, key, value))
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"{name}: query, key and value need at least 2 axes, got {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"{name}: query (..., L, E), key (..., S, E) and value (..., S, Ev) do not fit: "
            f"{q.shape}, {k.shape}, {v.shape}"
        )
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{name}: dropout_p must be in [0, 1), got {dropout_p}")
    try:
        lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"{name}: the batch axes of {q.shape}, {k.shape} and {v.shape} do not broadcast") from None
    shape = (*lead, q.shape[-2], k.shape[-2])
    allowed, bias = None, None
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{name}: is_causal=True takes no attn_mask besides (it is the causal mask)")
        allowed = np.tri(q.shape[-2], k.shape[-2], dtype=bool)
    elif attn_mask is not None:
        mask = _mask_fits(name, attn_mask, shape)
        if isinstance(mask, np.ndarray) and mask.dtype == bool:
            allowed = mask
        else:
            bias = mask if isinstance(mask, Tensor) else replayable(np.asarray, mask, q.dtype)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return attention(q, k, v, allowed, bias, scale, dropout_p, rng, dropout)[0]
