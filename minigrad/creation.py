"""Making tensors: ``tensor``, ``zeros``, ``ones``, ``randn``, ``arange`` and friends."""

from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import for_data, resolve
from .tensor import Tensor


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data``.

    Floating Python data gets the default dtype (float32, see ``mg.set_default_dtype``), as in PyTorch; a
    NumPy array keeps its own dtype; integers and booleans stay integers and booleans.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=for_data(data, dtype))


def _shape(shape: tuple) -> Any:
    return shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``mg.zeros(2, 3)`` or ``mg.zeros((2, 3))``."""
    return Tensor(np.zeros(_shape(shape), dtype=resolve(dtype)), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(shape), dtype=resolve(dtype)), requires_grad=requires_grad)


def full(shape: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """As ``np.full``; a floating ``fill_value`` gives the default dtype."""
    return Tensor(np.full(shape, fill_value, dtype=for_data(fill_value, dtype)), requires_grad=requires_grad)


def zeros_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    # (a Tensor's shape and dtype, not its values: a vmap example has them too)
    shape, like = (t.shape, t.dtype) if isinstance(t, Tensor) else (np.shape(t), np.asarray(t).dtype)
    return Tensor(np.zeros(shape, dtype=dtype or like), requires_grad=requires_grad)


def ones_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, like = (t.shape, t.dtype) if isinstance(t, Tensor) else (np.shape(t), np.asarray(t).dtype)
    return Tensor(np.ones(shape, dtype=dtype or like), requires_grad=requires_grad)


def arange(*args: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """As ``np.arange``: ``mg.arange(5)`` gives integers, ``mg.arange(0, 1, 0.25)`` the default float dtype."""
    floating = any(isinstance(a, float) for a in args)
    return Tensor(
        np.arange(*args, dtype=dtype if dtype is not None or not floating else resolve(None)),
        requires_grad=requires_grad,
    )


def randn(*shape: Any, rng: Any = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples; ``rng`` is a ``np.random.Generator`` or a seed."""
    rng = np.random.default_rng(rng)
    return Tensor(rng.standard_normal(_shape(shape)).astype(resolve(dtype), copy=False), requires_grad=requires_grad)


def rand(*shape: Any, rng: Any = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1); ``rng`` is a ``np.random.Generator`` or a seed."""
    rng = np.random.default_rng(rng)
    return Tensor(rng.random(_shape(shape)).astype(resolve(dtype), copy=False), requires_grad=requires_grad)
