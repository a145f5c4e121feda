"""Forward functions of the linear-algebra operations: matmul, dot, outer, einsum."""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from .ops import _binary
from .tensor import Tensor, as_tensor, record


@_binary(np.matmul)  # recorded as the elementwise binary ops are: the same short path
def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading axes are batch axes."""


def dot(a: Any, b: Any) -> Tensor:
    """``np.dot`` for 0-, 1- and 2-D operands (scalar product, inner product, matrix product)."""
    a, b = as_tensor(a), as_tensor(b)
    if a._data.ndim == 0 or b._data.ndim == 0:
        return a * b
    if a._data.ndim > 2 or b._data.ndim > 2:
        raise ValueError(f"dot: operands of shapes {a.data.shape} and {b.data.shape}: use matmul or einsum above 2-D")
    return matmul(a, b)


def outer(a: Any, b: Any) -> Tensor:
    """Outer product of the flattened operands: out[i, j] = a[i] * b[j]."""
    a, b = as_tensor(a), as_tensor(b)
    return a.reshape(-1, 1) * b.reshape(1, -1)


def parse_einsum(subscripts: str, shapes: list[tuple]) -> tuple[list[str], str]:
    """Explicit subscripts for each operand and the output, with ``...`` spelled out as letters."""
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {len(terms)} operands in {subscripts!r} but {len(shapes)} given")
    used = set(spec) - set(".,->")
    free = [c for c in string.ascii_letters if c not in used]
    n_ellipsis = max((len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes) if "..." in t), default=0)
    if n_ellipsis > len(free):
        raise ValueError(f"einsum: too many axes under '...' in {subscripts!r}")
    ell = "".join(free[:n_ellipsis])
    explicit = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            k = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", ell[n_ellipsis - k :] if k else "")
        if len(term) != len(shape) or (term and not term.isalpha()):  # '' fits a 0-d operand
            raise ValueError(f"einsum: subscripts {term!r} do not fit an operand of shape {shape}")
        explicit.append(term)
    if arrow:
        output = output.replace("...", ell)
    else:  # implicit mode: the letters seen once, in alphabetical order, after the ellipsis axes
        letters = "".join(explicit)
        output = ell + "".join(sorted(c for c in set(letters) - set(ell) if letters.count(c) == 1))
    return explicit, output


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation, as ``np.einsum`` (explicit or implicit output, ``...`` allowed)."""
    tensors = [as_tensor(t) for t in operands]
    arrays = [t._data for t in tensors]
    inputs, output = parse_einsum(subscripts, [a.shape for a in arrays])
    spec = ",".join(inputs) + "->" + output
    try:
        out = np.einsum(spec, *arrays)
    except ValueError as e:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise ValueError(f"einsum: {subscripts!r} does not fit shapes {shapes}: {e}") from None
    parents = (None, *(t if t._rg else None for t in tensors))
    return record("einsum", out, ((inputs, output), *arrays), parents, (None, *tensors))
