"""The Tensor's operations as methods and operators, attached here, above the operations they call.

``tensor.py`` defines the data structure and imports nothing above it; this module gives it NumPy's
and PyTorch's method surface (``t.sum()``, ``t @ w``, ``t.T``, ``-t``, ``t[i]``), ``backward``, and the
NumPy protocols through which ``np.exp(t)`` runs ``mg.exp(t)``. The arithmetic operators come from the
registry: each binary primitive that names a ``method`` gets ``__name__`` and ``__rname__``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import composites, elementwise, hooks, linalg, ops, products, shape_ops
from .engine import backward as _backward
from .numpy_dispatch import call_function, call_ufunc
from .recording import binary
from .registry import PRIMITIVES, Primitive
from .tensor import Tensor


def _operators(p: Primitive) -> tuple[Any, Any]:
    """``Tensor.__name__`` and ``Tensor.__rname__`` for a binary primitive: functions of its own (made by the
    same ``recording.binary``), named as the methods so that a bound ``t.__add__`` pickles."""
    method = binary(p.name, p.compute)

    def reflected(self: Tensor, other: Any) -> Tensor:
        return method(other, self)

    names = ((method, f"__{p.method}__", "self {} other"), (reflected, f"__r{p.method}__", "other {} self"))
    for f, dunder, doc in names:
        f.__name__, f.__qualname__, f.__module__ = dunder, f"Tensor.{dunder}", Tensor.__module__
        f.__doc__ = f"``{doc.format(p.symbol)}``, as ``mg.{p.name}``."
    return method, reflected


for _p in list(PRIMITIVES.values()):
    if _p.method is not None:
        _forward, _reflected = _operators(_p)
        setattr(Tensor, _forward.__name__, _forward)
        setattr(Tensor, _reflected.__name__, _reflected)


def backward(self: Tensor, gradient: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
    """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

    ``gradient`` is the vector of the vector-Jacobian product; it may be omitted for a scalar.
    """
    _backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)


def __array_ufunc__(self: Tensor, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    return call_ufunc(ufunc, method, inputs, kwargs)


def __array_function__(self: Tensor, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    return call_function(func, args, kwargs)


def __neg__(self: Tensor) -> Tensor:
    return elementwise.negative(self)


def __pos__(self: Tensor) -> Tensor:
    return self


def __abs__(self: Tensor) -> Tensor:
    return elementwise.absolute(self)


def abs(self: Tensor) -> Tensor:
    return elementwise.absolute(self)


def __getitem__(self: Tensor, index: Any) -> Tensor:
    return shape_ops.getitem(self, index)


def dot(self: Tensor, other: Any) -> Tensor:
    return linalg.dot(self, other)


def reshape(self: Tensor, *shape: Any) -> Tensor:
    """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``, as in NumPy."""
    return shape_ops.reshape(self, shape[0] if len(shape) == 1 else shape)


def transpose(self: Tensor, *axes: Any) -> Tensor:
    """``t.transpose()``, ``t.transpose(1, 0)`` or ``t.transpose((1, 0))``, as in NumPy."""
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]
    return shape_ops.transpose(self, axes or None)


# -- PyTorch's names, for the same operations ------------------------------------------------------------------
def view(self: Tensor, *shape: Any) -> Tensor:
    """PyTorch's name for ``reshape`` (a view when the layout allows, a copy otherwise, as ``reshape``)."""
    return reshape(self, *shape)


def flatten(self: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """The axes from ``start_dim`` to ``end_dim`` joined into one, as ``torch.flatten``."""
    if self.ndim == 0:
        return shape_ops.reshape(self, (1,))
    first, last = (ops._axis("flatten", self, d) for d in (start_dim, end_dim))
    shape = self.shape
    return shape_ops.reshape(self, shape[:first] + (int(np.prod(shape[first : last + 1])),) + shape[last + 1 :])


def permute(self: Tensor, *dims: Any) -> Tensor:
    """The axes in the order ``dims``, as ``torch.permute`` (``t.transpose(dims)`` in NumPy)."""
    return transpose(self, *dims)


def expand(self: Tensor, *sizes: Any) -> Tensor:
    """``broadcast_to`` with PyTorch's -1 for a size kept, as ``torch.Tensor.expand``."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    lead = len(sizes) - self.ndim
    shape = tuple(self.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    return shape_ops.broadcast_to(self, shape)


def repeat(self: Tensor, *sizes: Any) -> Tensor:
    """The tensor tiled ``sizes`` times along each axis, as ``torch.Tensor.repeat`` (``np.tile``; NumPy's
    element-wise ``np.repeat`` is ``mg.repeat``)."""
    return composites.tile(self, tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes)


def unsqueeze(self: Tensor, dim: int) -> Tensor:
    return shape_ops.expand_dims(self, dim)


def clamp(self: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """PyTorch's name for ``clip``."""
    return ops.clip(self, min, max)


def argmax(self: Tensor, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """The index of the largest element (over ``axis``): a plain integer array, which carries no gradient."""
    return np.argmax(self._data, axis=axis, keepdims=keepdims)


def argmin(self: Tensor, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """The index of the smallest element (over ``axis``): a plain integer array, which carries no gradient."""
    return np.argmin(self._data, axis=axis, keepdims=keepdims)


def register_hook(self: Tensor, hook: Any) -> hooks.RemovableHandle:
    """Call ``hook(grad)`` when this tensor's gradient is complete in a backward pass; a non-None result
    replaces the gradient (see ``minigrad.hooks``). Returns a handle whose ``remove()`` takes it off."""
    return hooks.register_hook(self, hook)


def retain_grad(self: Tensor) -> None:
    """Keep this non-leaf tensor's gradient in ``.grad`` after backward, as PyTorch's ``retain_grad``."""
    hooks.retain_grad(self)


_METHODS = [
    backward, __array_ufunc__, __array_function__, __neg__, __pos__, __abs__, abs, __getitem__, dot, reshape, transpose,
    view, flatten, permute, expand, repeat, unsqueeze, clamp, argmax, argmin, register_hook, retain_grad,
]  # fmt: skip
_SAME_AS_FUNCTIONS = [  # t.f(...) is mg.f(t, ...)
    ops.sum, ops.mean, ops.max, ops.min, ops.logsumexp, ops.clip, elementwise.exp, elementwise.log, elementwise.sqrt,
    elementwise.tanh, elementwise.sigmoid, elementwise.relu, shape_ops.swapaxes, shape_ops.squeeze,
    shape_ops.expand_dims, shape_ops.broadcast_to, shape_ops.astype, ops.cumsum, ops.norm, composites.var,
    composites.std, elementwise.square, products.prod, products.cumprod, composites.chunk, composites.gather,
]  # fmt: skip
for _f in _METHODS:
    _f.__qualname__ = f"Tensor.{_f.__name__}"
    setattr(Tensor, _f.__name__, _f)
for _f in _SAME_AS_FUNCTIONS:
    setattr(Tensor, _f.__name__, _f)
Tensor.T = property(shape_ops.transpose, doc="The tensor with its axes reversed, as ``ndarray.T``.")
