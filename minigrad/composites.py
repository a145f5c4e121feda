"""NumPy functions written with minigrad's primitives: their gradients come from the primitives' rules.

Each follows NumPy's signature and semantics for the arguments it takes; an argument it does not take is
an error (a TypeError from Python), never ignored.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from .elementwise import sqrt, square, subtract
from .ops import _axis, mean, sum
from .shape_ops import broadcast_to, concatenate, expand_dims, getitem, reshape, transpose
from .tensor import Tensor, as_tensor


def var(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Variance over ``axis``: the mean squared deviation, divided by n − ddof instead of n (NumPy's ``ddof``;
    PyTorch's ``unbiased=True`` is ``ddof=1``)."""
    x = as_tensor(x, "var")
    axis = _axis("var", x, axis)
    along = range(x.ndim) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    n = int(np.prod([x.shape[a] for a in along], dtype=np.int64)) if x.size else 0  # the elements of a slice
    if n - ddof <= 0:
        raise ValueError(f"var: ddof={ddof} leaves no degrees of freedom for {n} elements per slice")
    deviation = subtract(x, mean(x, axis, keepdims=True))
    return sum(square(deviation), axis, keepdims) * (1.0 / (n - ddof))


def std(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Standard deviation, √var. Where it is 0 (a constant slice) its gradient is inf·0 = nan, as √'s at 0."""
    return sqrt(var(x, axis, ddof, keepdims))


def _along(ndim: int, axis: int, index: Any) -> tuple:
    """An index that applies ``index`` along ``axis`` of an array of ``ndim`` axes."""
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def flip(x: Any, axis: Any = None) -> Tensor:
    """The elements in reverse order along ``axis`` (every axis when None), as ``np.flip``: a view."""
    x = as_tensor(x, "flip")
    axes = (
        range(x.ndim) if axis is None else [_axis("flip", x, a) for a in (axis if isinstance(axis, tuple) else (axis,))]
    )
    index = [slice(None)] * x.ndim
    for a in axes:
        index[a] = slice(None, None, -1)
    return getitem(x, tuple(index))


def roll(x: Any, shift: int, axis: int | None = None) -> Tensor:
    """Elements shifted by ``shift`` along ``axis`` (the flattened tensor when None), wrapping around."""
    x = as_tensor(x, "roll")
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, 0), x.shape)
    axis = _axis("roll", x, axis)
    n = x.shape[axis]
    k = int(shift) % n if n else 0
    if not k:
        return x
    return concatenate([getitem(x, _along(x.ndim, axis, slice(n - k, None))),
                        getitem(x, _along(x.ndim, axis, slice(0, n - k)))], axis)  # fmt: skip


def tile(x: Any, reps: Any) -> Tensor:
    """``x`` repeated ``reps`` times along each axis, as ``np.tile`` (PyTorch's ``Tensor.repeat``)."""
    x = as_tensor(x, "tile")
    reps = tuple(int(r) for r in (reps if isinstance(reps, (tuple, list)) else (reps,)))
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: repetitions must be non-negative, got {reps}")
    d = builtins.max(len(reps), x.ndim)
    reps, shape = (1,) * (d - len(reps)) + reps, (1,) * (d - x.ndim) + x.shape
    spread = reshape(x, tuple(v for n in shape for v in (1, n)))  # a size-1 axis before each, to repeat into
    wide = broadcast_to(spread, tuple(v for r, n in zip(reps, shape) for v in (r, n)))
    return reshape(wide, tuple(r * n for r, n in zip(reps, shape)))


def repeat(x: Any, repeats: Any, axis: int | None = None) -> Tensor:
    """Each element repeated ``repeats`` times along ``axis`` (of the flattened tensor when None), as ``np.repeat``."""
    x = as_tensor(x, "repeat")
    if axis is None:
        return repeat(reshape(x, (-1,)), repeats, 0)
    axis = _axis("repeat", x, axis)
    counts = np.broadcast_to(np.asarray(repeats), (x.shape[axis],))
    if counts.dtype.kind not in "iu" or (counts < 0).any():
        raise ValueError(f"repeat: repeats must be non-negative integers, got {repeats!r}")
    return getitem(x, _along(x.ndim, axis, np.repeat(np.arange(x.shape[axis]), counts)))


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0) -> Tensor:
    """``x`` with ``pad_width`` = ((before, after), ...) elements of ``constant_values`` around each axis, as
    ``np.pad`` (only ``mode="constant"``: the others are an error)."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is differentiable in minigrad, got mode={mode!r}")
    x = as_tensor(x, "pad")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    if (widths < 0).any():
        raise ValueError(f"pad: pad widths must be non-negative, got {pad_width!r}")
    for axis, (before, after) in enumerate(widths):
        parts = []
        for count in (before, after):
            shape = x.shape[:axis] + (int(count),) + x.shape[axis + 1 :]
            parts.append(np.full(shape, constant_values, dtype=x.dtype))
        x = concatenate([parts[0], x, parts[1]], axis)
    return x


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Pieces of ``x`` along ``axis``, as ``np.array_split``: views, each with its own gradient."""
    x = as_tensor(x, "array_split")
    axis = _axis("array_split", x, axis)
    bounds = np.array_split(np.arange(x.shape[axis]), indices_or_sections)
    return [getitem(x, _along(x.ndim, axis, slice(int(b[0]), int(b[-1]) + 1) if b.size else slice(0, 0)))
            for b in bounds]  # fmt: skip


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """As ``array_split``, but ``sections`` must divide the axis evenly, as ``np.split``."""
    x = as_tensor(x, "split")
    n = x.shape[_axis("split", x, axis)]
    if isinstance(indices_or_sections, (int, np.integer)) and (indices_or_sections <= 0 or n % indices_or_sections):
        raise ValueError(f"split: {indices_or_sections} sections do not divide an axis of length {n} evenly")
    return array_split(x, indices_or_sections, axis)


def chunk(x: Any, chunks: int, axis: int = 0) -> list[Tensor]:
    """``x`` cut into ``chunks`` pieces of ⌈n/chunks⌉ along ``axis`` (the last one smaller), as ``torch.chunk``;
    fewer pieces when they run out (7 rows in 4 chunks give 2, 2, 2, 1; 5 rows in 4 give 2, 2, 1)."""
    x = as_tensor(x, "chunk")
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
        raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
    axis = _axis("chunk", x, axis)
    n = x.shape[axis]
    size = builtins.max(1, -(-n // chunks))
    return [
        getitem(x, _along(x.ndim, axis, slice(start, builtins.min(start + size, n)))) for start in range(0, n, size)
    ]


def gather(x: Any, axis: int, index: Any) -> Tensor:
    """``out[i][j] = x[index[i][j]][j]`` along ``axis``, as ``torch.gather(x, dim, index)``: ``index`` has as
    many axes as ``x`` and, off ``axis``, no larger sizes; repeated picks add up in the gradient."""
    x = as_tensor(x, "gather")
    idx = np.asarray(index._data if isinstance(index, Tensor) else index)
    axis = _axis("gather", x, axis)
    if idx.dtype.kind not in "iu" or idx.ndim != x.ndim:
        raise ValueError(f"gather: index must be integers of {x.ndim} axes, got {idx.dtype} of shape {idx.shape}")
    if any(i > n for a, (i, n) in enumerate(zip(idx.shape, x.shape)) if a != axis):
        raise ValueError(f"gather: index of shape {idx.shape} is larger than the input {x.shape} off axis {axis}")
    n = x.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"gather: index out of range for axis {axis} of size {n} (input shape {x.shape})")
    cut = getitem(x, tuple(slice(0, i) if a != axis else slice(None) for a, i in enumerate(idx.shape)))
    return take_along_axis(cut, idx, axis)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The diagonal of the (axis1, axis2) planes, as ``np.diagonal``: those two axes are removed and the
    diagonal is the last axis; ``offset`` > 0 is above the main diagonal, < 0 below."""
    x = as_tensor(x, "diagonal")
    if x.ndim < 2:
        raise ValueError(f"diagonal: takes an array of at least 2 axes, got shape {x.shape}")
    a1, a2 = _axis("diagonal", x, axis1), _axis("diagonal", x, axis2)
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, got both {axis1} (shape {x.shape})")
    rest = [a for a in range(x.ndim) if a not in (a1, a2)]
    moved = transpose(x, (*rest, a1, a2))
    down, right = builtins.max(-offset, 0), builtins.max(offset, 0)
    k = builtins.max(0, builtins.min(x.shape[a1] - down, x.shape[a2] - right))
    steps = np.arange(k)
    return getitem(moved, (Ellipsis, steps + down, steps + right))


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The sum along the diagonal of the (axis1, axis2) planes, as ``np.trace``."""
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def take_along_axis(x: Any, indices: Any, axis: int) -> Tensor:
    """The elements of ``x`` at ``indices`` along ``axis``, as ``np.take_along_axis``; repeated picks add up."""
    x = as_tensor(x, "take_along_axis")
    idx = np.asarray(indices._data if isinstance(indices, Tensor) else indices)
    if idx.dtype.kind not in "iu" or idx.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices must be integers of {x.ndim} axes, got {idx.dtype} {idx.shape}")
    axis = _axis("take_along_axis", x, axis)
    grids = np.ix_(*(np.arange(n) for n in idx.shape))
    full = tuple(idx if a == axis else np.broadcast_to(grids[a], idx.shape) for a in range(x.ndim))
    return getitem(x, full)


def sort(x: Any, axis: int = -1) -> Tensor:
    """``x`` sorted along ``axis``, as ``np.sort``; each element's gradient goes back to where it came from."""
    x = as_tensor(x, "sort")
    return take_along_axis(x, np.argsort(x._data, axis=axis, kind="stable"), axis)


def unsqueeze(x: Any, dim: int) -> Tensor:
    """PyTorch's name for ``expand_dims``."""
    return expand_dims(x, dim)
