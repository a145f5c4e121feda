"""The batching rules of the primitives that are not elementwise (see ``minigrad.vmap_dispatch``).

Each rule gets the primitive's arguments in signature order, the batched ones with the batch axis first,
and returns the whole-batch result, batch axis first: an axis of one example is axis + 1 of the batch.
Rules are grouped as the vector-Jacobian rules are: reductions, shape, indexing, linear algebra, networks.
Convolution and pooling are in ``minigrad.vmap_conv_rules``, the recurrent scans in
``minigrad.nn.scan_batching``. Primitives not named there run once per example (``loop_rule``), as do some
cases of those named: ``scatter_add`` with a batched index, ``gru_scan``/``lstm_scan`` with batched weights.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from .batched import innermost
from .elementwise import multiply
from .linalg import einsum, matmul
from .ops import sum
from .shape_ops import broadcast_to, concatenate, getitem, reshape, transpose, where
from .tensor import Tensor
from .vmap_dispatch import aligned, example_ndim, loop_rule, rule_of, with_axes


def _axis_arg(name: str, axis: Any, shape: tuple) -> Any:
    """One example's ``axis`` (None: all of them; an int or a tuple) as the same axes of the batch."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(1, ndim + 1))
    for a in axis if isinstance(axis, (tuple, list)) else (axis,):
        if not -ndim <= a < ndim:
            raise ValueError(f"{name}: axis {a} is out of range for a tensor of shape {shape}")
    if isinstance(axis, (tuple, list)):
        return tuple(int(a) % ndim + 1 for a in axis)
    return int(axis) % ndim + 1


# -- reductions and scans: the example's axes move one to the right -----------------------------------------
def _reduction(name: str) -> None:
    @rule_of(name)
    def rule(forward: Any, size: int, values: list, batched: list) -> Any:
        x, axis, *rest = values
        return forward(x, _axis_arg(name, axis, x.shape[1:]), *rest)


for _name in ("sum", "max", "min", "logsumexp", "mean", "prod"):
    _reduction(_name)


def _scan(name: str) -> None:
    @rule_of(name)
    def rule(forward: Any, size: int, values: list, batched: list) -> Any:
        x, axis = values
        if axis is None:  # over the flattened example
            return forward(reshape(x, (size, -1)), 1)
        return forward(x, _axis_arg(name, axis, x.shape[1:]))


for _name in ("cumsum", "cumprod"):
    _scan(_name)


@rule_of("norm")
def _norm(forward: Any, size: int, values: list, batched: list) -> Any:
    x, order, axis, keepdims = values
    if axis is None and order is None and not keepdims:  # the 2-norm of the flattened example
        return forward(reshape(x, (size, -1)), None, 1, False)
    if axis is None:
        return loop_rule(forward, size, values, batched)
    return forward(x, order, _axis_arg("norm", axis, x.shape[1:]), keepdims)


# -- elementwise with parameters ------------------------------------------------------------------------
@rule_of("clip")
def _clip(forward: Any, size: int, values: list, batched: list) -> Any:
    return forward(*aligned(values, batched))


@rule_of("where")
def _where(forward: Any, size: int, values: list, batched: list) -> Any:
    return where(*aligned(values, batched))


# -- shape ------------------------------------------------------------------------------------------------
@rule_of("reshape")
def _reshape(forward: Any, size: int, values: list, batched: list) -> Any:
    x, shape = values
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return reshape(x, (size, *shape))


@rule_of("transpose")
def _transpose(forward: Any, size: int, values: list, batched: list) -> Any:
    x, axes = values
    n = x.ndim - 1
    axes = range(n - 1, -1, -1) if axes is None else axes
    return transpose(x, (0, *(int(a) % max(n, 1) + 1 for a in axes)))


@rule_of("broadcast_to")
def _broadcast_to(forward: Any, size: int, values: list, batched: list) -> Any:
    x, shape = values
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return broadcast_to(with_axes(x, len(shape)), (size, *shape))


@rule_of("astype")
def _astype(forward: Any, size: int, values: list, batched: list) -> Any:
    return forward(*values)


@rule_of("concatenate")
def _concatenate(forward: Any, size: int, values: list, batched: list) -> Any:
    tensors, axis = values
    members = [m if b else broadcast_to(m, (size, *m.shape)) for m, b in zip(tensors, batched[0])]
    return concatenate(members, _axis_arg("concatenate", axis, members[0].shape[1:]))


# -- indexing ------------------------------------------------------------------------------------------------
def _basic(index: Any) -> bool:
    """Whether ``index`` keeps the batch axis first when ``slice(None)`` is put before it: no batched part, and
    its arrays (if any) sit next to each other (NumPy moves separated advanced indices to the front)."""
    parts = index if isinstance(index, tuple) else (index,)
    if innermost(parts):
        return False
    arrays = [i for i, p in enumerate(parts) if not (p is None or p is Ellipsis or isinstance(p, (slice, int)))]
    # beside an array, NumPy takes an int for an advanced index too (x[0, :, [1, 2]] moves the pair to the front)
    advanced = [i for i, p in enumerate(parts) if i in arrays or arrays and isinstance(p, (int, np.integer))]
    return not advanced or advanced == list(range(advanced[0], advanced[-1] + 1))


def _flagged(flag: Any) -> bool:
    """Whether an argument's batched flag (a list of them for a tuple argument) says some part is batched."""
    return any(flag) if isinstance(flag, list) else bool(flag)


@rule_of("getitem")
def _getitem(forward: Any, size: int, values: list, batched: list) -> Any:
    x, index = values
    if batched[0] and not _flagged(batched[1]) and _basic(index):
        return getitem(x, (slice(None), *(index if isinstance(index, tuple) else (index,))))
    if not batched[0] and batched[1] is True:  # a table indexed by a batched integer array: the rows, batch first
        return getitem(x, index)
    if batched[0] and batched[1] is True and np.issubdtype(index.dtype, np.integer):  # each example its own rows
        rows = np.arange(size).reshape(size, *(1,) * (index.ndim - 1))
        return getitem(x, (rows, index))
    return loop_rule(forward, size, values, batched)


@rule_of("embedding")
def _embedding(forward: Any, size: int, values: list, batched: list) -> Any:
    index, weight = values
    if not batched[1]:
        return forward(index, weight)
    return loop_rule(forward, size, values, batched)


# -- linear algebra -----------------------------------------------------------------------------------------
@rule_of("matmul")
def _matmul(forward: Any, size: int, values: list, batched: list) -> Any:
    (a, b), (ba, bb) = values, batched
    na, nb = example_ndim(a, ba), example_ndim(b, bb)
    if na == 0 or nb == 0:
        return loop_rule(forward, size, values, batched)
    if ba and not bb and nb == 2:  # rows of the batch times one matrix: one product of the stacked rows
        rows = reshape(a, (-1, a.shape[-1]))
        return reshape(matmul(rows, b), (*a.shape[:-1], b.shape[-1]))
    if bb and not ba and na == 2 and nb == 1:  # one matrix times a vector per example: Vᵀ-rows times Aᵀ
        return matmul(b, transpose(a, (1, 0)))
    # vectors become a row (a) or a column (b), the stacking axes line up, then the added axis goes
    a2 = reshape(a, (*a.shape[:-1], 1, a.shape[-1])) if na == 1 else a
    b2 = reshape(b, (*b.shape, 1)) if nb == 1 else b
    stacking = max(na, nb, 2) - 2
    a2 = with_axes(a2, stacking + 2) if ba else a2
    b2 = with_axes(b2, stacking + 2) if bb else b2
    if a2.shape[-1] == 1 and ba and bb:  # outer products (a per-example gradient of a weight): a broadcast product
        out = multiply(a2, b2)
    else:
        out = matmul(a2, b2)
    if na == 1 and nb == 1:  # a row times a column: (…, 1, 1) -> one number per example
        return reshape(out, out.shape[:-2])
    if nb == 1:
        return reshape(out, out.shape[:-1])
    if na == 1:
        return reshape(out, (*out.shape[:-2], out.shape[-1]))
    return out


def _subscripts(spec: str, operands: list) -> tuple[list[str], str]:
    """The inputs and the output of an einsum specification, the implicit output written out."""
    spec = spec.replace(" ", "")
    inputs, _, output = spec.partition("->")
    terms = inputs.split(",")
    if "->" not in spec:
        letters = [c for t in terms for c in t if c.isalpha()]
        output = ("..." if "..." in inputs else "") + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return terms, output


@rule_of("einsum")
def _einsum(forward: Any, size: int, values: list, batched: list) -> Any:
    spec, *operands = values
    terms, output = _subscripts(spec, operands)
    free = next(c for c in string.ascii_letters if c not in spec)
    terms = [free + t if b else t for t, b in zip(terms, batched[1:])]
    return einsum(",".join(terms) + "->" + free + output, *operands)


# -- networks (convolution and pooling: minigrad.vmap_conv_rules) ----------------------------------------
@rule_of("fused_softmax")
def _fused_softmax(forward: Any, size: int, values: list, batched: list) -> Any:
    return forward(*values)  # over the last axis


@rule_of("linear_rows")
def _linear_rows(forward: Any, size: int, values: list, batched: list) -> Any:
    x, weight, bias = values
    if not batched[1] and not batched[2]:  # rows of every example: one product
        return reshape(forward(reshape(x, (-1, x.shape[-1])), weight, bias), (size, -1, weight.shape[0]))
    # per-example weights (a per-example gradient): x Wᵀ with W batched, then the bias
    out = _matmul(
        matmul, size, [x, transpose(weight, (0, 2, 1)) if batched[1] else transpose(weight, (1, 0))], batched[:2]
    )
    if bias is not None:
        out = out + (with_axes(bias, 2) if batched[2] else bias)
    return out


@rule_of("scatter_add")
def _scatter_add(forward: Any, size: int, values: list, batched: list) -> Any:
    g, index, shape = values
    if batched[0] and not _flagged(batched[1]) and _basic(index):
        return forward(g, (slice(None), *(index if isinstance(index, tuple) else (index,))), (size, *shape))
    return loop_rule(forward, size, values, batched)


@rule_of("cross_entropy")
def _cross_entropy(forward: Any, size: int, values: list, batched: list) -> Any:
    logits, target, weight, ignore_index, reduction = values
    if batched[2] or innermost((target, weight)):  # per-example class weights, or targets of an outer vmap
        return loop_rule(forward, size, values, batched)
    z = logits if batched[0] else broadcast_to(logits, (size, *logits.shape))
    t = np.asarray(target._data if isinstance(target, Tensor) else target)
    t = t if batched[1] else np.broadcast_to(t, (size, *t.shape))
    losses = forward(z, t, weight, ignore_index, "none")
    if reduction == "none":
        return losses
    axes = tuple(range(1, losses.ndim))
    total = sum(losses, axes) if axes else losses
    if reduction == "sum":
        return total
    # the mean of each example: over the summed weights of its counted targets (0/0 is nan, with gradient 0)
    counted = (t != ignore_index).astype(z.dtype)
    if weight is not None:
        w = np.asarray(weight._data if isinstance(weight, Tensor) else weight, dtype=z.dtype)
        counted = counted * w[np.where(t != ignore_index, t, 0)]
    den = counted.reshape(size, -1).sum(axis=1)
    return where(den > 0, total / np.where(den > 0, den, 1), np.nan)


@rule_of("layer_norm")
def _layer_norm(forward: Any, size: int, values: list, batched: list) -> Any:
    x, weight, bias, axes, eps = values
    axes = tuple(a if a < 0 else a + 1 for a in axes)
    x = x if batched[0] else broadcast_to(x, (size, *x.shape))
    if not batched[1] and not batched[2]:
        return forward(x, weight, bias, axes, eps)
    out = forward(x, None, None, axes, eps)  # batched weights: the affine part as two broadcast operations
    if weight is not None:
        out = out * (with_axes(weight, x.ndim - 1) if batched[1] else weight)
    if bias is not None:
        out = out + (with_axes(bias, x.ndim - 1) if batched[2] else bias)
    return out
