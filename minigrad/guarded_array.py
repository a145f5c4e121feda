"""``GuardedArray``: what ``t.data`` hands out while a graph holds ``t`` (see ``minigrad.guard``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .guard import InplaceError, inplace_error, saver


class GuardedArray(np.ndarray):
    """What ``t.data`` returns while a graph holds ``t``'s array: a read-only view that says why on a write.

    Reading behaves as the array does (NumPy functions return plain arrays); writing raises ``InplaceError``.
    """

    _why: tuple = ()

    def __array_finalize__(self, obj: Any) -> None:
        self._why = getattr(obj, "_why", ())

    def _refuse(self, what: str) -> InplaceError | None:
        """The error for a write, or None if whatever held the array has let go since (then it is writeable)."""
        tensor = self._why[0]
        op = saver(tensor)
        if op is None:
            try:
                self.flags.writeable = True
                return None
            except ValueError:  # read-only for another reason
                op = self._why[1]
        return inplace_error(what, tensor, op)

    def __setitem__(self, index: Any, value: Any) -> None:
        if not self.flags.writeable:
            error = self._refuse("t.data[...] = value")
            if error is not None:
                raise error
        np.ndarray.__setitem__(self, index, value)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        if out is not None:
            for o in out:
                if isinstance(o, GuardedArray) and not o.flags.writeable:
                    error = o._refuse(f"np.{ufunc.__name__}(..., out=t.data)")
                    if error is not None:
                        raise error
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, GuardedArray) else o for o in out)
        inputs = tuple(x.view(np.ndarray) if isinstance(x, GuardedArray) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return func(*_plain(args), **_plain(kwargs))

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


def _inplace(name: str) -> Any:
    plain = getattr(np.ndarray, name)

    def method(self: GuardedArray, other: Any) -> Any:
        if not self.flags.writeable:
            error = self._refuse(f"t.data {_SYMBOLS[name]} value")
            if error is not None:
                raise error
        return plain(self, other)

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
    view._why = (tensor, op)
    return view
