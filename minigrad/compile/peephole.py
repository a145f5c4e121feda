"""Choices of NumPy call that compute the same as the obvious one with less overhead for small arrays.

At batch 1 the window scorer's arrays hold 1 to 160 numbers: a step costs what NumPy's calls cost to set up,
not what they compute. These helpers decide, once at trace time, on the cheaper spelling.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def small_matmul(a: Any, b: Any) -> bool:
    """Whether ``a @ b`` may be ``np.dot(a, b)``: operands of at most 2 axes of one float dtype (np.dot goes
    to BLAS directly, where matmul, a generalized ufunc, first resolves its loop and broadcasts the stacked
    axes at every call: for small operands that set-up is most of the time)."""
    return (
        isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.ndim <= 2 and b.ndim <= 2
        and a.dtype == b.dtype and a.dtype.kind == "f"
    )  # fmt: skip


def aligned(refs: list[str], args: tuple) -> list[str]:
    """The operands of a binary ufunc with the lower-ranked array given the missing leading axes as a view
    (``b[None]``): the same broadcast, but at batch 1 the operands then have the same shape, which NumPy
    computes in one plain loop without setting up its broadcasting iterator."""
    a, b = args
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or 0 in (a.ndim, b.ndim) or a.ndim == b.ndim:
        return refs
    k = 0 if a.ndim < b.ndim else 1
    missing = abs(a.ndim - b.ndim)
    return [f"{r}[{', '.join(['None'] * missing)}]" if j == k else r for j, r in enumerate(refs)]
