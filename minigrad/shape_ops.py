"""The shape, indexing and selection operations, with the rules of the primitives among them.

Each primitive moves elements without changing them, so its rule moves g back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import onnx_ops
from .guard import share
from .recording import record
from .registry import EachInput, primitive
from .tensor import Tensor, as_tensor


def _shape_tuple(shape: Any) -> tuple:
    return tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)


def _shape_only(shape: tuple) -> np.ndarray:
    """An array of ``shape`` that owns no memory, to ask NumPy what a shape operation would give."""
    return np.broadcast_to(np.empty((), dtype=bool), shape)


def _view(x: Tensor, t: Tensor) -> Tensor:
    """``t``, the result of a shape op or slice of ``x``; if it is a view that no node links to ``x`` (``x`` is a
    constant, or recording is off), the two are linked as sharing memory (``guard.share``)."""
    if t._op is None and t._data.base is not None and type(x._data) is np.ndarray:
        share(x, t)
    return t


@primitive("reshape", ("g.reshape(x.shape)", None), ("x", "shape"), numpy=(np.reshape,), onnx=onnx_ops.reshape)
def reshape(x: Any, shape: Any) -> Tensor:
    """The same elements in a new shape (one entry may be -1), as ``np.reshape``."""
    x = as_tensor(x)
    d = x._data
    shape = _shape_tuple(shape)
    try:
        out = d.reshape(shape)
    except (ValueError, TypeError):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {d.shape} into shape {shape}") from None
    return _view(x, record("reshape", out, (d, shape), (x if x._rg else None,)))


@primitive(
    "transpose",
    ("g.transpose(None if axes is None else tuple(np.argsort(axes)))", None),
    ("x", "axes"),
    numpy=(np.transpose,),
    onnx=onnx_ops.transpose,
)
def transpose(x: Any, axes: Any = None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None), as ``np.transpose``."""
    x = as_tensor(x)
    d = x._data
    if axes is not None:
        axes = tuple(int(a) for a in axes)
        in_range = all(-d.ndim <= a < d.ndim for a in axes)  # (1, 2) of a matrix is no permutation, nor is (0, 5)
        if not in_range or sorted(a % max(d.ndim, 1) for a in axes) != list(range(d.ndim)) or len(axes) != d.ndim:
            raise ValueError(f"transpose: axes {axes} are not a permutation of the axes of shape {d.shape}")
        axes = tuple(a % d.ndim for a in axes)
    return _view(x, record("transpose", d.transpose(axes), (d, axes), (x if x._rg else None,)))


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    x = as_tensor(x)
    n = x.ndim
    for a in (axis1, axis2):
        if not -n <= a < n:
            raise ValueError(f"swapaxes: axis {a} is out of range for a tensor of shape {x.data.shape}")
    axes = list(range(n))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


def expand_dims(x: Any, axis: Any) -> Tensor:
    """Insert size-1 axes at ``axis`` (an int or a tuple), as ``np.expand_dims``."""
    x = as_tensor(x)
    try:
        shape = np.expand_dims(_shape_only(x.shape), axis).shape
    except np.exceptions.AxisError:
        raise ValueError(f"expand_dims: axis {axis} is out of range for a tensor of shape {x.data.shape}") from None
    return reshape(x, shape)


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Remove size-1 axes (all of them, or those named), as ``np.squeeze``."""
    x = as_tensor(x)
    try:
        shape = np.squeeze(_shape_only(x.shape), axis).shape
    except (ValueError, np.exceptions.AxisError):
        raise ValueError(f"squeeze: cannot squeeze axis {axis} of a tensor of shape {x.data.shape}") from None
    return reshape(x, shape)


# (the engine sums the repeats)
@primitive("broadcast_to", ("g", None), ("x", "shape"), numpy=(np.broadcast_to,), onnx=onnx_ops.broadcast_to)
def broadcast_to(x: Any, shape: Any) -> Tensor:
    """x repeated along new or size-1 axes to ``shape``, as ``np.broadcast_to``."""
    x = as_tensor(x)
    d = x._data
    shape = _shape_tuple(shape)
    try:
        out = np.broadcast_to(d, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast a tensor of shape {d.shape} to shape {shape}") from None
    return _view(x, record("broadcast_to", out, (d, shape), (x if x._rg else None,)))


@primitive("astype", ("g.astype(x.dtype)", None), ("x", "dtype"), onnx=onnx_ops.astype)
def astype(x: Any, dtype: Any) -> Tensor:
    """x converted to ``dtype``; the gradient is converted back to x's dtype."""
    x = as_tensor(x)
    d = x._data
    dtype = np.dtype(dtype)
    parents = (x if x._rg and dtype.kind == "f" else None,)
    return record("astype", d.astype(dtype), (d, dtype), parents)


def _index(index: Any) -> Any:
    """An index with tensors replaced by their arrays."""
    if isinstance(index, tuple):
        return tuple(i._data if isinstance(i, Tensor) else i for i in index)
    return index._data if isinstance(index, Tensor) else index


def _getitem_vjp(g: Any, ans: Any, x: Any, index: Any) -> Any:
    # y = x[i] picks elements, so Jᵀg adds g back at i (repeated indices add up)
    return scatter_add(g, index, x.shape) if isinstance(g, Tensor) else _scatter_add(g, index, x.shape)


@primitive("getitem", (_getitem_vjp, None), onnx=onnx_ops.getitem)
def getitem(x: Any, index: Any) -> Tensor:
    """``x[index]``: basic slicing and integer or boolean array indexing, as in NumPy.

    With integer arrays an element may be picked several times; its gradients then add up.
    """
    x = as_tensor(x)
    d = x._data
    raw = index
    index = _index(index)
    try:
        out = d[index]
    except IndexError as e:
        raise IndexError(f"getitem: {e} (tensor of shape {d.shape})") from None
    # a tensor used as the index is held too (its values say where the gradient goes); one in a tuple is not
    return _view(
        x, record("getitem", out, (d, index), (x if x._rg else None,), (x, raw if isinstance(raw, Tensor) else None))
    )


def _scatter_add(g: np.ndarray, index: Any, shape: tuple) -> np.ndarray:
    """zeros(shape) with ``g`` added at ``index``; repeated indices add up."""
    out = np.zeros(shape, dtype=g.dtype)
    if all(type(i) in _BASIC for i in (index if type(index) is tuple else (index,))):
        out[index] = g  # basic indexing picks each element once: assignment, many times faster than np.add.at
    else:
        np.add.at(out, index, g)
    return out


_BASIC = (int, slice, type(None), type(Ellipsis))


@primitive(
    "scatter_add",
    ("g[index]", None, None),
    ("x", "index", "shape"),
    compute=_scatter_add,
    onnx=onnx_ops.scatter_add,
)
def scatter_add(g: Any, index: Any, shape: tuple) -> Tensor:
    """zeros(shape) with ``g`` added at ``index``, repeated indices adding up: the adjoint of ``x[index]``."""
    g = as_tensor(g)
    d = g._data
    return record("scatter_add", _scatter_add(d, index, shape), (d, index, shape), (g if g._rg else None,))


def _concatenate_vjp(i: int, g: Any, ans: Any, *args: Any) -> Any:
    # c = [x₀ x₁ …] along axis: ∂c/∂xᵢ selects xᵢ's block, so Jᵀg = that block of g
    *arrays, axis = args
    start = sum(a.shape[axis] for a in arrays[:i])
    return g[(slice(None),) * axis + (slice(start, start + arrays[i].shape[axis]),)]


@primitive(
    "concatenate",
    EachInput(_concatenate_vjp, reads=lambda i, n: (False, ())),
    numpy=(np.concatenate,),
    onnx=onnx_ops.concatenate,
)
def concatenate(tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis, as ``np.concatenate``."""
    tensors = [as_tensor(t, "concatenate") for t in tensors]
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    if axis is None:  # as NumPy: the tensors flattened, then joined
        tensors, axis = [reshape(t, (-1,)) for t in tensors], 0
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"concatenate: axis must be an int or None, got {axis!r}")
    arrays = [t._data for t in tensors]
    try:
        out = np.concatenate(arrays, axis=axis)
    except (ValueError, np.exceptions.AxisError):
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise ValueError(f"concatenate: cannot join shapes {shapes} along axis {axis}") from None
    axis = axis % out.ndim
    parents = tuple(t if t._rg else None for t in tensors)
    return record("concatenate", out, (*arrays, axis), parents)


def stack(tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis, as ``np.stack``."""
    tensors = [as_tensor(t) for t in tensors]
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors need one shape, got {', '.join(str(s) for s in shapes)}")
    return concatenate([expand_dims(t, axis) for t in tensors], axis)


# z = where(c, a, b): ∂z/∂a = diag(c), ∂z/∂b = diag(¬c); the condition has no gradient
@primitive(
    "where",
    (None, "np.where(c, g, 0)", "np.where(c, 0, g)"),
    ("c", "a", "b"),
    numpy=(np.where,),
    onnx=onnx_ops.where,
)
def where(condition: Any, a: Any, b: Any) -> Tensor:
    """a where condition holds, else b (broadcast together). The condition carries no gradient."""
    cond = np.asarray(condition._data if isinstance(condition, Tensor) else condition, dtype=bool)
    x, pa = (a._data, a if a._rg else None) if isinstance(a, Tensor) else (a, None)
    y, pb = (b._data, b if b._rg else None) if isinstance(b, Tensor) else (b, None)
    try:
        out = np.where(cond, x, y)
    except ValueError:
        raise ValueError(
            f"where: shapes {cond.shape}, {np.shape(x)} and {np.shape(y)} cannot be broadcast together"
        ) from None
    return record("where", out, (cond, x, y), (None, pa, pb), (condition, a, b))
