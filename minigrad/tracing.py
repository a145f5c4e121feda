"""Where a functional transform starts and ends: its inputs become fresh tensors, its output is checked.

A transform (``mg.grad``, ``mg.vjp``, ``mg.jvp``, ``mg.jacobian``) runs the user's function on fresh
tensors standing for the differentiated inputs, so that it can ask the engine for the derivative with
respect to exactly those tensors.

**Nesting.** A transform is *nested* when one of its inputs is a Tensor that requires grad while
recording is on: an outer transform (or the user) is differentiating through it. Then the fresh
tensor is recorded as a copy of that input, the derivatives are computed with the backward pass
recorded (``create_graph``) and the results are Tensors that carry a graph back to the input; that is
how ``mg.grad(mg.grad(f))`` and ``mg.jacobian(mg.grad(f))`` compose. Otherwise the fresh tensor is a
new leaf and the results are plain constants, computed at NumPy speed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .grad_mode import is_grad_enabled
from .recording import record
from .tensor import Tensor, constant, is_float


def name_of(f: Callable) -> str:
    """The function's name for error messages (``<lambda>`` for a lambda)."""
    return getattr(f, "__name__", type(f).__name__)


def argnums_tuple(transform: str, argnums: Any, nargs: int) -> tuple:
    """``argnums`` (an int or a tuple of ints) as a tuple of non-negative positions, checked."""
    nums = (argnums,) if isinstance(argnums, (int, np.integer)) else tuple(argnums)
    if not nums or not all(isinstance(i, (int, np.integer)) for i in nums):
        raise TypeError(f"{transform}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    for i in nums:
        if not -nargs <= i < nargs:
            raise ValueError(f"{transform}: argnums {argnums!r} is out of range for {nargs} positional argument(s)")
    nums = tuple(int(i) % nargs for i in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{transform}: argnums {argnums!r} names an argument twice")
    return nums


def is_traced(x: Any) -> bool:
    """True for a Tensor that requires grad: an outer transform (or the user) differentiates through it."""
    return isinstance(x, Tensor) and x._rg


def nested(values: Any) -> bool:
    """Whether the derivatives must themselves be differentiable (see the module docstring)."""
    return is_grad_enabled() and any(is_traced(v) for v in values)


def source(transform: str, value: Any, position: int, nest: bool) -> Tensor:
    """A fresh tensor standing for the differentiated argument ``value``; call it with recording on."""
    data = value._data if isinstance(value, Tensor) else np.asarray(value)
    if not is_float(data.dtype):
        raise TypeError(
            f"{transform}: argument {position} has dtype {data.dtype}; only floating-point inputs can be "
            "differentiated (write 2.0 rather than 2, or pass a float array)"
        )
    if nest and is_traced(value):
        return record("reshape", data, (data, data.shape), (value,))  # a recorded copy: the graph goes on
    return Tensor(data, requires_grad=True)


def output(transform: str, f: Callable, out: Any) -> Tensor:
    """The function's result as a Tensor; a number or array that does not depend on the inputs is a constant."""
    if isinstance(out, Tensor):
        return out
    value = np.asarray(out)
    if value.dtype == object or not (is_float(value.dtype) or np.issubdtype(value.dtype, np.integer)):
        raise TypeError(
            f"{transform}: {name_of(f)} must return a Tensor (or a number or array), it returned {type(out).__name__}"
        )
    return constant(value)


def finish(x: Any, nest: bool) -> Tensor:
    """A transform's result: the Tensor itself when nested (it carries the graph), else a constant."""
    if isinstance(x, Tensor):
        return x if nest else constant(x._data)
    return constant(np.asarray(x))
