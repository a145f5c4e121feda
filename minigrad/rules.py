"""Every vector-Jacobian rule in minigrad, in one table: ``VJPS[op][i](g, ans, *args)``.

For the primitive ``ans = op(*args)`` and the upstream gradient ``g`` (shaped like ``ans``), rule ``i``
returns Jᵢᵀg, where Jᵢ = ∂ans/∂argsᵢ. ``None`` marks an argument that never carries a gradient.

The rules are written with NumPy functions, operators and array methods only. During an ordinary
backward pass ``g``, ``ans`` and ``args`` are arrays and the rules run at NumPy speed; with
``create_graph=True`` they are Tensors, NumPy dispatches to minigrad (``__array_ufunc__``,
``__array_function__``) and the backward pass is itself recorded, so higher derivatives come from
this same table.

A rule may return a gradient larger than its input when the input was broadcast: the engine sums
broadcast axes away in one place (``engine.unbroadcast``) and casts to the input's dtype.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from .shape_ops import _scatter_add, scatter_add
from .tensor import Tensor


# -- helpers --------------------------------------------------------------------------------------
def _restore_axes(g: Any, ndim: int, axis: Any, keepdims: bool) -> Any:
    """g from a reduction, reshaped so that it broadcasts against the input (size-1 reduced axes)."""
    if keepdims:
        return g
    if axis is None:
        return g.reshape((1,) * ndim)
    shape = list(g.shape)
    for a in sorted(axis if isinstance(axis, tuple) else (axis,)):
        shape.insert(a, 1)
    return g.reshape(tuple(shape))


def _expand(g: Any, shape: tuple) -> Any:
    """g broadcast to ``shape``: a read-only view for big arrays, a filled copy for small ones.

    ``np.broadcast_to`` costs about 2 µs of Python, more than filling a few thousand elements.
    """
    if isinstance(g, Tensor) or math.prod(shape) > 4096:
        return np.broadcast_to(g, shape)
    out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


def _share(picked: Any, tie: Any, dtype: Any) -> np.ndarray:
    """1 where this input was picked, ½ where both tie, else 0: the subgradient of max/min."""
    return (picked + 0.5 * tie).astype(dtype)


def _unindex(g: Any, index: Any, shape: tuple) -> Any:
    return scatter_add(g, index, shape) if isinstance(g, Tensor) else _scatter_add(g, index, shape)


def sum_vjp(g: Any, ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # s = Σ x over axis: ∂s/∂x = 1 for every summed element, so Jᵀg = g repeated over the summed axes
    return _repeat(g, x.shape, axis, keepdims)


def mean_vjp(g: Any, ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # m = Σ x / n over axis: Jᵀg = g / n repeated over the averaged axes (n = 1 for an empty x: no elements)
    return _repeat(_over_count(g, x.size // ans.size if x.size else 1), x.shape, axis, keepdims)


def _over_count(g: Any, n: float) -> Any:
    """g / n for a count n. A count past float16's largest number (65504) would be inf in float16, and the
    gradient zero: float16 divides in float32 then."""
    if n > 65504 and g.dtype == np.float16:
        return (g.astype(np.float32) / n).astype(np.float16)
    return g / n


def _repeat(g: Any, shape: tuple, axis: Any, keepdims: bool) -> Any:
    """g from a reduction over ``axis``, repeated over the reduced axes of ``shape``.

    (The rules pass shapes, not arrays: what a rule hands to a function counts as read by the guard.)
    """
    if axis is not None:  # (reduced whole, g is 0-d or all size-1 axes: it broadcasts as it is)
        g = _restore_axes(g, len(shape), axis, keepdims)
    return _expand(g, shape)


def extreme_vjp(g: Any, ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # m = max x (or min): ∂m/∂x = 1/k at the k elements equal to m, 0 elsewhere
    m = _restore_axes(ans, x.ndim, axis, keepdims)
    hit = x == m
    count = hit.sum(axis=axis, keepdims=True)
    if not count.all():  # a slice whose extreme is nan: the nan element gets the gradient, as in PyTorch
        hit = hit | (np.isnan(x) & np.isnan(m))
        count = hit.sum(axis=axis, keepdims=True)
    share = (hit / count).astype(x.dtype)
    return _restore_axes(g, x.ndim, axis, keepdims) * share


def logsumexp_vjp(g: Any, ans: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    # l = log Σ exp x: ∂l/∂x = exp(x − l) = softmax(x). l is rounded at the scale of x (at x ≈ 1e4 in float32
    # off by 5e-4), which would scale every exp(x − l) by exp(error); dividing by their sum cancels it.
    p = np.exp(x - _restore_axes(ans, x.ndim, axis, keepdims))
    total = p.sum(axis=axis, keepdims=True)
    sums = total._data if isinstance(total, Tensor) else total
    if not x.size or not np.isfinite(sums).all():
        # a slice holding +inf (l = inf) has no softmax: exp(x − l) is nan at the inf and 0 elsewhere, as in PyTorch,
        # and a nan sum would make all of it nan; an empty slice has nothing to normalize
        total = np.where(np.isfinite(sums) & (sums > 0), total, 1)
    scale = 1 / total
    p = np.multiply(p, scale, out=p) if type(p) is np.ndarray else p * scale  # p is this rule's own array
    return _restore_axes(g, x.ndim, axis, keepdims) * p


_SMALL, _SMALL_OUT, _MANY_ROWS = 4096, 65536, 64  # sizes (elements, rows) of the matmul rules' BLAS layouts


def _column(v: Any) -> Any:
    return v.reshape(v.shape + (1,))  # (…, n) -> (…, n, 1); reshape, not np.expand_dims: 10x cheaper


def _row(v: Any) -> Any:
    return v.reshape(v.shape[:-1] + (1, v.shape[-1]))  # (…, n) -> (…, 1, n)


def _outer(u: Any, v: Any) -> Any:
    """The outer product u vᵀ of two vectors."""
    if type(u) is np.ndarray and type(v) is np.ndarray and u.size * v.size >= _SMALL:
        # einsum's kernel writes the rows 1.5x faster than the broadcast product, whose inner loop is v's
        # length (4096 x 8: 46 -> 28 µs), and costs 0.5 µs more at small sizes
        return np.einsum("i,j->ij", u, v)
    return _column(u) * v


# Elementwise rules whose expression makes temporaries: on arrays (the ordinary backward pass) they
# compute into the one array they allocate, with ``out`` given positionally. At a million elements each
# allocation avoided is a page-faulting 4-8 MB (a chain of tanh and sin: 12% of its backward pass); at 4
# elements the positional ``out`` costs no more than the expression. On Tensors (``create_graph``) the
# expression runs, recorded. g, ans and x share their shape and dtype here (``engine._SAME_SHAPE_AND_DTYPE``).
_sub, _mul, _neg = np.subtract, np.multiply, np.negative


def tanh_vjp(g: Any, ans: Any, x: Any) -> Any:
    if type(g) is np.ndarray and g.ndim:  # (0-d: NumPy makes scalars, which take no out)
        t = ans * ans
        return _mul(g, _sub(1, t, t), t)
    return g * (1 - ans * ans)


def sigmoid_vjp(g: Any, ans: Any, x: Any) -> Any:
    if type(g) is np.ndarray and g.ndim:
        t = _sub(1, ans)
        return _mul(g * ans, t, t)  # (g h)(1 − h), in the order of the expression
    return g * ans * (1 - ans)


def sin_vjp(g: Any, ans: Any, x: Any) -> Any:
    if type(g) is np.ndarray and g.ndim:
        t = np.cos(x)
        return _mul(g, t, t)
    return g * np.cos(x)


def cos_vjp(g: Any, ans: Any, x: Any) -> Any:
    if type(g) is np.ndarray and g.ndim:
        t = np.sin(x)
        return _neg(_mul(g, t, t), t)  # −(g sin z) = (−g) sin z exactly
    return -g * np.sin(x)


def matmul_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    # z = A b: ∂z/∂A pairs row i of z with row i of A, so Jᵀg = g bᵀ (an outer product for vector b)
    if a.ndim == 2 == b.ndim:  # the common case first: every test below costs 0.1 µs at batch 1
        if len(g) >= _MANY_ROWS and b.size <= _SMALL and type(b) is np.ndarray:
            return g @ np.ascontiguousarray(b.T)  # OpenBLAS multiplies by a tiny transposed B up to 2x slower
        return g @ b.T
    if b.ndim == 1:
        if a.ndim == 2:
            return _outer(g, b) if len(g) * len(b) >= _SMALL else g.reshape(-1, 1) * b
        return _column(g) * b if a.ndim > 1 else g * b
    if a.ndim == 1:  # z = aᵀB: Jᵀg = B g
        z = b @ _column(g)
        return z.reshape(z.shape[:-1])
    bt = b.swapaxes(-1, -2)
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
                # 1.2-1.6x faster (250x4096 @ 4096x5: 790 -> 490 µs); the copy puts the gradient in C order.
                # (k <= rows: the copy's extra k x n array is then no larger than g, a small part of the peak)
                return np.ascontiguousarray((g.T @ a).T)
    elif a.ndim == 1:
        if b.ndim == 2:
            return _outer(a, g)
        return _column(a) * _row(g) if b.ndim > 1 else g * a
    if b.ndim == 1:
        z = a.swapaxes(-1, -2) @ _column(g)
        return z.reshape(z.shape[:-1])
    return a.swapaxes(-1, -2) @ g


def power_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    # z = aᵇ: ∂z/∂a = diag(b aᵇ⁻¹). Where b = 0 this is 0, written b/a: a recorded backward then keeps
    # ∂²z/∂a∂b = 1/a there (a constant 0 would give 0), and a tiny a cannot overflow aᵇ⁻¹ into 0·∞.
    # Each branch of the where divides only where it is chosen: the other's gradient must stay finite.
    at_zero = b == 0
    return g * np.where(at_zero, b / np.where(at_zero & (a != 0), a, 1), b * a ** np.where(at_zero, 1, b - 1))


def embedding_vjp(g: Any, ans: Any, table: Any, index: Any, rows: Any, inverse: Any) -> Any:
    # y = table[index] (rows): ∂y/∂table copies rows, so Jᵀg adds each row of g into the row it came
    # from, repeats adding up. rows, inverse = np.unique(index) come from the forward pass; np.bincount
    # adds 3x faster than np.add.at (getitem's path).
    if isinstance(g, Tensor):  # recording a higher derivative: the differentiable scatter
        return scatter_add(g, index, table.shape)
    width = int(np.prod(table.shape[1:], dtype=np.int64))
    flat = (inverse.reshape(-1, 1) * width + np.arange(width)).ravel()
    sums = np.bincount(flat, weights=g.reshape(-1), minlength=len(rows) * width)
    out = np.zeros(table.shape, dtype=g.dtype)
    out[rows] = sums.reshape((len(rows), *table.shape[1:]))
    return out


def cross_entropy_vjp(g: Any, ans: Any, z: Any, p: Any, flat: Any, w: Any, den: float, reduced: bool) -> Any:
    # ℓ = Σᵢ wᵢ (log Σⱼ exp zᵢⱼ − z_iyᵢ) / den (or the ℓᵢ themselves): ∂ℓ/∂zᵢ = wᵢ (softmax(zᵢ) − onehot(yᵢ)) / den.
    # p is the softmax of the rows of z, kept by the forward pass; flat indexes the targets in z.ravel().
    # the upstream factor of each row (a scalar if reduced). A mean over no counted target is 0/0, nan; its gradient
    # is 0, as in PyTorch: a batch of padding only must not write nan into every parameter.
    coef = (g * 0 if den == 0 else _over_count(g, den)) if reduced else g.reshape(-1)
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


def concatenate_vjp(i: int, g: Any, ans: Any, *args: Any) -> Any:
    # c = [x₀ x₁ …] along axis: ∂c/∂xᵢ selects xᵢ's block, so Jᵀg = that block of g
    *arrays, axis = args
    start = sum(a.shape[axis] for a in arrays[:i])
    return g[(slice(None),) * axis + (slice(start, start + arrays[i].shape[axis]),)]


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


class _EachInput:
    """The rules of a primitive with any number of inputs: ``rule(i, g, ans, *args)`` for input i.

    ``reads(position, n_args)`` says which of ``ans`` and the args rule ``position`` reads (for the
    in-place guard, which cannot see through ``*args``): (reads ans, the arg positions it reads).
    """

    def __init__(self, rule: Any, offset: int = 0, reads: Any = None) -> None:
        self.rule, self.offset, self.reads = rule, offset, reads

    def __getitem__(self, position: int) -> Any:
        rule = functools.partial(self.rule, position - self.offset)
        if self.reads is not None:
            rule.reads = functools.partial(self.reads, position)  # type: ignore[attr-defined]
        return rule


# -- the table ------------------------------------------------------------------------------------
VJPS: dict[str, Any] = {
    # -- arithmetic (a and b broadcast; the engine sums the broadcast axes away) --
    # z = a + b: ∂z/∂a = I, ∂z/∂b = I
    "add": (lambda g, ans, a, b: g, lambda g, ans, a, b: g),
    # z = a − b: ∂z/∂a = I, ∂z/∂b = −I
    "subtract": (lambda g, ans, a, b: g, lambda g, ans, a, b: -g),
    # z = a ∘ b: ∂z/∂a = diag(b), ∂z/∂b = diag(a)
    "multiply": (lambda g, ans, a, b: g * b, lambda g, ans, a, b: g * a),
    # z = a / b: ∂z/∂a = diag(1/b), ∂z/∂b = diag(−a/b²) = diag(−z/b)
    "divide": (lambda g, ans, a, b: g / b, lambda g, ans, a, b: -g * ans / b),
    # z = aᵇ: ∂z/∂a = diag(b aᵇ⁻¹) (0 where b = 0, also at a = 0), ∂z/∂b = diag(aᵇ log a), 0 where a = 0 < b
    "power": (
        power_vjp_a,
        lambda g, ans, a, b: g * ans * np.log(np.where(a == 0, 1, a)),
    ),
    # z = −x: ∂z/∂x = −I
    "negative": (lambda g, ans, x: -g,),
    # z = |x|: ∂z/∂x = diag(sign x), 0 at x = 0
    "absolute": (lambda g, ans, x: g * np.sign(x),),
    # z = max(a, b): ∂z/∂a = diag(1 where a > b, ½ at ties), ∂z/∂b the rest
    "maximum": (
        lambda g, ans, a, b: g * _share(a > b, a == b, g.dtype),
        lambda g, ans, a, b: g * _share(b > a, a == b, g.dtype),
    ),
    # z = min(a, b): ∂z/∂a = diag(1 where a < b, ½ at ties), ∂z/∂b the rest
    "minimum": (
        lambda g, ans, a, b: g * _share(a < b, a == b, g.dtype),
        lambda g, ans, a, b: g * _share(b < a, a == b, g.dtype),
    ),
    # z = clip(x, lo, hi): ∂z/∂x = diag(1 where lo ≤ x ≤ hi, else 0); the bounds are constants
    "clip": (
        lambda g, ans, x, lo, hi: g * ((lo is None or x >= lo) & (hi is None or x <= hi)).astype(g.dtype),
        None,
        None,
    ),
    # z = where(c, a, b): ∂z/∂a = diag(c), ∂z/∂b = diag(¬c); the condition has no gradient
    "where": (None, lambda g, ans, c, a, b: np.where(c, g, 0), lambda g, ans, c, a, b: np.where(c, 0, g)),
    # -- elementwise h = f(z): ∂h/∂z = diag(f′(z)), so Jᵀg = g ∘ f′(z) --
    "exp": (lambda g, ans, x: g * ans,),  # f′ = exp z = h
    "log": (lambda g, ans, x: g / x,),  # f′ = 1/z
    "log1p": (lambda g, ans, x: g / (1 + x),),  # f′ = 1/(1 + z)
    "expm1": (lambda g, ans, x: g * (ans + 1),),  # f′ = exp z = h + 1
    "sqrt": (lambda g, ans, x: g / (2 * ans),),  # f′ = 1/(2√z) = 1/(2h)
    "sin": (sin_vjp,),  # f′ = cos z
    "cos": (cos_vjp,),  # f′ = −sin z
    "tanh": (tanh_vjp,),  # f′ = 1 − tanh² z = 1 − h²
    "sigmoid": (sigmoid_vjp,),  # f′ = σ(z)(1 − σ(z)) = h(1 − h)
    "relu": (lambda g, ans, x: g * (ans > 0),),  # f′ = 1 where z > 0 (h > 0), else 0 (0 at z = 0)
    # -- reductions --
    "sum": (sum_vjp, None, None),
    "mean": (mean_vjp, None, None),
    "max": (extreme_vjp, None, None),
    "min": (extreme_vjp, None, None),
    "logsumexp": (logsumexp_vjp, None, None),
    # -- linear algebra --
    # z = W x + b is matmul then add: ∂z/∂x = W, ∂z/∂W pairs δ with xᵀ, ∂z/∂b = I
    "matmul": (matmul_vjp_a, matmul_vjp_b),
    "einsum": _EachInput(einsum_vjp, offset=1, reads=lambda i, n: (False, tuple(j for j in range(1, n) if j != i))),
    # -- shape: each moves elements without changing them, so Jᵀg moves g back --
    "reshape": (lambda g, ans, x, shape: g.reshape(x.shape), None),
    "transpose": (lambda g, ans, x, axes: g.transpose(None if axes is None else tuple(np.argsort(axes))), None),
    "broadcast_to": (lambda g, ans, x, shape: g, None),  # the engine sums the repeated axes
    "astype": (lambda g, ans, x, dtype: g.astype(x.dtype), None),
    "concatenate": _EachInput(concatenate_vjp, reads=lambda i, n: (False, ())),  # shapes only
    # -- indexing: y = x[i] picks elements, so Jᵀg adds g back at i (repeated indices add up) --
    "getitem": (lambda g, ans, x, index: _unindex(g, index, x.shape), None),
    "scatter_add": (lambda g, ans, x, index, shape: g[index], None, None),
    "embedding": (embedding_vjp, None, None, None),  # nn.functional.embedding: rows of a table, a fused getitem
    # -- losses --
    # nn.functional.cross_entropy: log softmax and the pick of the targets, fused (one exp, no one-hot)
    "cross_entropy": (cross_entropy_vjp, None, None, None, None, None),
    # "function", the gateway of custom operations (mg.Function), is added by minigrad/function.py:
    # its rule calls the user's backward.
}
