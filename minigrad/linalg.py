"""The linear-algebra operations: matmul and einsum (primitives, with their rules), dot and outer."""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from . import onnx_ops, recording
from .recording import record
from .registry import EachInput, define, primitive
from .tensor import Tensor, as_tensor

_SMALL, _SMALL_OUT, _MANY_ROWS = 4096, 65536, 64  # sizes (elements, rows) of the matmul rules' BLAS layouts


def _column(v: Any) -> Any:
    return v.reshape(v.shape + (1,))  # (…, n) -> (…, n, 1)


def _row(v: Any) -> Any:
    return v.reshape(v.shape[:-1] + (1, v.shape[-1]))  # (…, n) -> (…, 1, n)


def _outer(u: Any, v: Any) -> Any:
    """The outer product u vᵀ of two vectors."""
    if type(u) is np.ndarray and type(v) is np.ndarray and u.size * v.size >= _SMALL:
        # einsum's kernel writes the rows faster than the broadcast product, whose inner loop is v's length;
        # at small sizes its call costs more than it saves
        return np.einsum("i,j->ij", u, v)
    return _column(u) * v


def matmul_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    # z = A b: ∂z/∂A pairs row i of z with row i of A, so Jᵀg = g bᵀ (an outer product for vector b)
    if a.ndim == 2 == b.ndim:  # the common case first
        if len(g) >= _MANY_ROWS and b.size <= _SMALL and type(b) is np.ndarray:
            return g @ np.ascontiguousarray(b.T)  # OpenBLAS multiplies by a small transposed B slower than by a copy
        return g @ b.T
    if b.ndim == 1:
        if a.ndim == 2:
            return _outer(g, b) if len(g) * len(b) >= _SMALL else g.reshape(-1, 1) * b
        return _column(g) * b if a.ndim > 1 else g * b
    if a.ndim == 1:  # z = aᵀB: Jᵀg = B g
        z = b @ _column(g)
        return z.reshape(z.shape[:-1])
    bt = b.swapaxes(-1, -2)
    if g.shape[-1] == 1:  # a stack of outer products (a column times a row): NumPy's matmul is slower at it
        return g * bt
    if type(bt) is np.ndarray and bt.size <= _SMALL and g.shape[-2] >= _MANY_ROWS:
        bt = np.ascontiguousarray(bt)
    return g @ bt


def matmul_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    # z = A b: ∂z/∂b = A, so Jᵀg = Aᵀ g (for z = aᵀB: Jᵀg = a gᵀ)
    if a.ndim == 2:
        if b.ndim == 1:  # (n, k) @ (k,): Aᵀg with g of shape (n,)
            return a.T @ g
        if b.ndim == 2 and len(a) >= _MANY_ROWS and type(a) is np.ndarray and type(g) is np.ndarray:
            k, n = a.shape[1], g.shape[1]
            if n < k <= len(a) and k * n <= _SMALL_OUT:
                # Aᵀg = (gᵀA)ᵀ: when Aᵀg has fewer columns than rows, OpenBLAS computes the transposed product
                # faster; the copy puts the gradient in C order.
                # (k <= rows: the copy's extra k x n array is then no larger than g, a small part of the peak)
                return np.ascontiguousarray((g.T @ a).T)
    elif a.ndim == 1:
        if b.ndim == 2:
            return _outer(a, g)
        return _column(a) * _row(g) if b.ndim > 1 else g * a
    if b.ndim == 1:
        z = a.swapaxes(-1, -2) @ _column(g)
        return z.reshape(z.shape[:-1])
    if a.shape[-2] == 1:  # a stack of outer products, as in matmul_vjp_a
        return a.swapaxes(-1, -2) * g
    return a.swapaxes(-1, -2) @ g


# z = A b (z = W x + b is matmul then add): ∂z/∂x = W, ∂z/∂W pairs δ with xᵀ
matmul = recording.binary("matmul", np.matmul)
matmul.__name__ = matmul.__qualname__ = "matmul"
matmul.__module__ = __name__
matmul.__doc__ = """Matrix product with NumPy's rules: 1-D operands are vectors, leading axes are batch axes."""
define("matmul", (matmul_vjp_a, matmul_vjp_b), forward=matmul, compute=np.matmul, numpy=(np.matmul,),
       method="matmul", symbol="@", onnx=onnx_ops.matmul)  # fmt: skip


def dot(a: Any, b: Any) -> Tensor:
    """``np.dot`` for 0-, 1- and 2-D operands (scalar product, inner product, matrix product)."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim > 2 or b.ndim > 2:
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


def einsum_vjp(i: int, g: Any, ans: Any, spec: tuple, *operands: Any) -> Any:
    # z = einsum(s₀,s₁,…->o): z is linear in each operand, so Jᵀg = einsum(o, the other sⱼ -> sᵢ)
    # of g with the other operands; a letter repeated in sᵢ (a diagonal) gets an identity factor,
    # a letter summed in sᵢ alone gets a factor of ones (the gradient is constant along it).
    inputs, output = spec
    target, sizes = inputs[i], operands[i].shape
    terms = [output] + [s for j, s in enumerate(inputs) if j != i]
    factors = [g] + [op for j, op in enumerate(operands) if j != i]
    seen: set[str] = set()
    spare = iter(sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") - set("".join(inputs))))
    renamed = ""
    for letter, size in zip(target, sizes):
        if letter in seen:  # a repeated letter: δ(letter, fresh) puts g on the diagonal
            fresh = next(spare)
            terms.append(letter + fresh)
            factors.append(np.eye(size, dtype=operands[i].dtype))
            renamed += fresh
            continue
        seen.add(letter)
        renamed += letter
        if not any(letter in t for t in terms):
            terms.append(letter)
            factors.append(np.ones(size, dtype=operands[i].dtype))
    return np.einsum(",".join(terms) + "->" + renamed, *factors)


@primitive(
    "einsum",
    EachInput(einsum_vjp, offset=1, reads=lambda i, n: (False, tuple(j for j in range(1, n) if j != i))),
    numpy=(np.einsum,),
    onnx=onnx_ops.einsum,
)
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
