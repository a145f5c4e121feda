"""NumPy functions called on Tensors run minigrad's operations: ``np.exp(t)`` is ``mg.exp(t)``.

This is what lets the rules in ``minigrad.registry`` run on arrays and on Tensors alike, and lets users
keep their NumPy habits. A NumPy function minigrad does not differentiate raises a TypeError
instead of silently dropping the graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import composites, linalg, ops, products, shape_ops  # noqa: F401  (their primitives are defined on import)
from .batched import comparison
from .recording import unrecorded
from .registry import PRIMITIVES, generation
from .tensor import Tensor


def _plain(fn: Any) -> Any:
    """A NumPy function applied to the values: for results that carry no gradient (comparisons)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if fn in _COMPARED and len(args) == 2 and any(hasattr(a, "_level") for a in args):  # inside mg.vmap
            a, b = args
            name = _COMPARED[fn]
            return comparison[0](name, a, b) if hasattr(a, "_level") else comparison[0](_REFLECTED[name], b, a)
        values = tuple(a._data if isinstance(a, Tensor) else a for a in args)
        out = fn(*values, **kwargs)
        if isinstance(out, np.generic):
            out = np.asarray(out)  # an array of its own, not NumPy's shared scalar np.True_ (np.shape's tuple stays)
        if unrecorded and isinstance(out, np.ndarray):  # mg.compile is tracing: the replay computes the mask again
            unrecorded[0](fn, out, values)
        return out

    return call


# comparisons of a vmap's batched tensor (``array > x`` reaches NumPy's ufunc) go to ``minigrad.vmap_dispatch``
_COMPARED = {np.greater: "gt", np.greater_equal: "ge", np.less: "lt", np.less_equal: "le", np.equal: "eq",
             np.not_equal: "ne"}  # fmt: skip
_REFLECTED = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq", "ne": "ne"}

# NumPy functions that are not primitives of their own: composites, and functions of the values only
_COMPOSITES = {
    np.positive: lambda x: x,
    np.swapaxes: shape_ops.swapaxes,
    np.expand_dims: shape_ops.expand_dims,
    np.squeeze: shape_ops.squeeze,
    np.stack: shape_ops.stack,
    np.dot: linalg.dot,
    np.outer: linalg.outer,
    np.prod: products.prod,
    # the tensor's own attributes (a vmap example's shape, which its values do not have)
    np.shape: lambda x: tuple(x.shape),
    np.ndim: lambda x: x.ndim,
    np.size: lambda x, axis=None: x.size if axis is None else x.shape[axis],
    **{getattr(np, name): getattr(composites, name) for name in (
        "var", "std", "flip", "roll", "tile", "repeat", "pad", "split", "array_split", "diagonal", "trace",
        "take_along_axis", "sort")},
}  # fmt: skip
# functions whose result carries no gradient: they run on the values and return plain arrays
_PLAIN = (np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal, np.isfinite, np.isnan,
          np.isinf, np.argmax, np.argmin, np.argsort, np.nonzero, np.floor, np.ceil,
          np.count_nonzero)  # fmt: skip


def _table() -> dict:
    """Each NumPy function minigrad runs on Tensors, and what it runs: the primitives say which they answer."""
    if _made[0] != generation[0]:
        table = {fn: p.forward for p in PRIMITIVES.values() for fn in p.numpy}
        table.update(_COMPOSITES)
        table.update({fn: _plain(fn) for fn in _PLAIN})
        _made[:] = generation[0], table
    return _made[1]


_made: list = [-1, {}]  # (the registry's generation, the table made from it)


def call_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    fn = (_made[1] if _made[0] is generation[0] else _table()).get(ufunc) if method == "__call__" else None
    if method != "__call__" or fn is None or kwargs:
        raise TypeError(
            f"numpy.{ufunc.__name__}{'' if method == '__call__' else '.' + method}"
            f"{' with ' + ', '.join(kwargs) if kwargs else ''} is not differentiable in minigrad; "
            "use t.data for a plain array"
        )
    return fn(*inputs)


def _full_name(func: Any) -> str:
    """``numpy.linalg.norm``, ``numpy.cumprod``: the name a user typed (NumPy's public module, not its internals)."""
    module = getattr(func, "__module__", None) or "numpy"
    public = "numpy" if module.startswith("numpy._") or module == "numpy" else module
    return f"{public}.{func.__name__}"


def call_function(func: Any, args: tuple, kwargs: dict) -> Any:
    fn = (_made[1] if _made[0] is generation[0] else _table()).get(func)
    if fn is None:
        raise TypeError(f"{_full_name(func)} is not differentiable in minigrad; use t.data for a plain array")
    return fn(*args, **kwargs)
