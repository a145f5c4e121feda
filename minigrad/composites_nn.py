"""Composites that networks need: ``softplus`` and the triangular masks ``tril`` and ``triu``.

Built from primitives (``logaddexp``, ``where``), so their gradients come from those rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .elementwise import logaddexp
from .shape_ops import where
from .tensor import Tensor, as_tensor


def softplus(x: Any) -> Tensor:
    """log(1 + eˣ), computed as logaddexp(0, x): no overflow for large x, no loss of digits for very negative x.
    Its derivative is σ(x) (logaddexp's rule e^{b − ans})."""
    x = as_tensor(x, "softplus")
    return logaddexp(np.zeros((), dtype=x.dtype), x)


def _triangle(name: str, x: Any, k: int, lower: bool) -> Tensor:
    x = as_tensor(x, name)
    if x.ndim < 2:
        raise ValueError(f"{name}: takes a matrix or a stack of matrices (at least 2-D), got shape {x.shape}")
    n, m = x.shape[-2:]
    keep = np.tri(n, m, k, dtype=bool) if lower else ~np.tri(n, m, k - 1, dtype=bool)
    return where(keep, x, np.zeros((), dtype=x.dtype))


def tril(x: Any, k: int = 0) -> Tensor:
    """The lower triangle of the last two axes: elements on and below the k-th diagonal kept, the rest 0, as
    ``np.tril`` (``torch.tril``'s ``diagonal`` is ``k``). The gradient passes where the element is kept."""
    return _triangle("tril", x, k, lower=True)


def triu(x: Any, k: int = 0) -> Tensor:
    """The upper triangle of the last two axes: elements on and above the k-th diagonal kept, the rest 0, as
    ``np.triu``."""
    return _triangle("triu", x, k, lower=False)
