"""``GuardedArray``: what ``t.data`` hands out while a graph holds ``t`` (see ``minigrad.guard``)."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from .guard import inplace_error, saver


class GuardedArray(np.ndarray):
    """What ``t.data`` returns while a graph holds ``t``'s array: a read-only view that says why on a write.

    Reading behaves as the array does (NumPy functions return plain arrays). Every write is checked when it
    is made: refused with ``InplaceError`` while a node holds the tensor, let through (for that one write,
    the view staying read-only) once nothing does. It refers to its tensor weakly: a slice kept for logging
    does not keep a graph alive.
    """

    _why: tuple = ()  # (weak reference to the tensor, the op that held it when the view was made)

    def __array_finalize__(self, obj: Any) -> None:
        self._why = getattr(obj, "_why", ())

    def _check(self, what: str) -> None:
        """Raise if a node still holds the tensor behind this view; else return (the write may go ahead)."""
        if not self._why:
            return
        tensor = self._why[0]()
        op = None if tensor is None else saver(tensor)  # (a dead tensor is held by no node)
        if op is not None:
            raise inplace_error(what, tensor, op)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check("t.data[...] = value")
        _writeable(self)[index] = value

    def fill(self, value: Any) -> None:
        self._check("t.data.fill(value)")
        _writeable(self).fill(value)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        at = method == "at"  # ufunc.at writes into its first input
        out = kwargs.get("out") or ()
        for o in (*out, *inputs[:at]):
            if isinstance(o, GuardedArray):
                o._check(f"np.{ufunc.__name__}{'.at' if at else ''}(..., out=t.data)")
        if out:
            kwargs["out"] = tuple(_writeable(o) if isinstance(o, GuardedArray) else o for o in out)
        inputs = tuple(
            (_writeable(x) if at and k == 0 else x.view(np.ndarray)) if isinstance(x, GuardedArray) else x
            for k, x in enumerate(inputs)
        )
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        for o in _outputs(func, args, kwargs):
            if isinstance(o, GuardedArray):
                o._check(f"np.{func.__name__}(..., t.data)")
        args, kwargs = _plain(args), _plain(kwargs)
        if func is np.copyto and isinstance(args[0], np.ndarray):
            args = (_writeable(args[0]), *args[1:])
        elif "out" in kwargs and isinstance(kwargs["out"], np.ndarray):
            kwargs["out"] = _writeable(kwargs["out"])
        return func(*args, **kwargs)

    def __array_wrap__(self, array: Any, context: Any = None, return_scalar: bool = False) -> Any:
        return array.view(np.ndarray) if isinstance(array, np.ndarray) else array

    def copy(self, order: str = "C") -> np.ndarray:  # type: ignore[override]
        return np.ndarray.copy(self.view(np.ndarray), order)

    def astype(self, *args: Any, **kwargs: Any) -> np.ndarray:  # type: ignore[override]
        return self.view(np.ndarray).astype(*args, **kwargs)

    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))

    def __reduce__(self) -> Any:
        return self.view(np.ndarray).copy().__reduce__()


def _writeable(a: np.ndarray) -> np.ndarray:
    """A plain writeable view of ``a``'s memory (its owner, a tensor's array, is writeable)."""
    plain = a.view(np.ndarray)
    plain.flags.writeable = True
    return plain


def _outputs(func: Any, args: tuple, kwargs: dict) -> list:
    """The arrays a NumPy function writes into: ``out=``, and ``copyto``'s destination."""
    found = [kwargs["out"]] if isinstance(kwargs.get("out"), np.ndarray) else []
    if func is np.copyto and args:
        found.append(args[0])
    return found


def _inplace(name: str) -> Any:
    plain_method = getattr(np.ndarray, name)

    def method(self: GuardedArray, other: Any) -> Any:
        self._check(f"t.data {_SYMBOLS[name]} value")
        plain_method(_writeable(self), other)
        return self

    method.__name__ = name
    return method


_SYMBOLS = {
    "__iadd__": "+=", "__isub__": "-=", "__imul__": "*=", "__itruediv__": "/=", "__ifloordiv__": "//=",
    "__ipow__": "**=", "__imod__": "%=", "__imatmul__": "@=", "__iand__": "&=", "__ior__": "|=", "__ixor__": "^=",
}  # fmt: skip
for _name in _SYMBOLS:
    setattr(GuardedArray, _name, _inplace(_name))


def _plain(x: Any) -> Any:
    if isinstance(x, GuardedArray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


def guarded(a: np.ndarray, tensor: Any, op: str) -> GuardedArray:
    view = a.view(GuardedArray)
    view.flags.writeable = False
    view._why = (weakref.ref(tensor), op)
    return view
