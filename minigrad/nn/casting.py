"""Whether an array loads into a parameter or buffer of another dtype without losing its meaning.

Used by ``Module.load_state_dict``, which checks every entry before it writes any; ``require_floating`` by the
layers' arithmetic (linear, convolution, recurrence).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def require_floating(op: str, x: Any, weight: Any) -> None:
    """Refuse an integer or boolean input to a layer's arithmetic, as PyTorch does: NumPy would compute in
    float64 and promote everything after it, whatever the layer's dtype."""
    if x.dtype.kind in "biu":
        raise TypeError(
            f"{op}: input is {x.dtype} (shape {x.shape}) but the weight is {weight.dtype}; a layer computes on "
            f"floating values: cast the input (x.astype(np.{weight.dtype}))"
        )


def cast_problem(value: np.ndarray, dtype: np.dtype) -> str | None:
    """Why ``value`` cannot be cast to ``dtype`` without losing its meaning, or None if it can.

    NumPy would cast nearly anything (complex drops its imaginary part, True becomes 1.0, a float64 beyond
    float32's range becomes inf): a state file that does so is of another model, or corrupt.
    """
    v, t = value.dtype.kind, dtype.kind
    allowed = {"f": "fiu", "c": "fiuc", "i": "iu", "u": "iu"}.get(t, t)  # bool, strings...: only their own kind
    if v not in allowed:
        why = " (their imaginary parts would be dropped)" if v == "c" else ""
        return f"{_KIND_NAMES.get(v, str(value.dtype))} cannot be stored as {_KIND_NAMES.get(t, str(dtype))}{why}"
    if v in "US":
        return "the strings would be cut short" if value.dtype.itemsize > dtype.itemsize else None
    if np.can_cast(value.dtype, dtype, "safe") or value.size == 0:
        return None
    if t not in "iuf":  # complex, dates: NumPy's rule of kinds, no range check
        return None if np.can_cast(value.dtype, dtype, "same_kind") else f"{value.dtype} does not cast to {dtype}"
    return _range_problem(value, dtype)


_KIND_NAMES = {
    "b": "booleans", "i": "integers", "u": "unsigned integers", "f": "floats", "c": "complex numbers",
    "U": "strings", "S": "byte strings", "O": "Python objects", "V": "records", "M": "dates", "m": "time spans",
}  # fmt: skip


def _range_problem(value: np.ndarray, dtype: np.dtype) -> str | None:
    """Whether the finite values of ``value`` fit in ``dtype`` (integers: exactly in range; floats: below inf)."""
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    lo, hi = np.fmin.reduce(value, axis=None), np.fmax.reduce(value, axis=None)  # nan ignored, nothing copied
    if value.dtype.kind == "f" and not (np.isfinite(lo) and np.isfinite(hi)):  # inf: look at the finite ones
        finite = value[np.isfinite(value)]
        if finite.size == 0:
            return None
        lo, hi = finite.min(), finite.max()
    if dtype.kind in "iu":
        fits = int(lo) >= int(info.min) and int(hi) <= int(info.max)
    else:
        fits = float(lo) >= -float(info.max) and float(hi) <= float(info.max)
    return None if fits else f"its values reach {hi if hi > info.max else lo}, outside {dtype}'s range"
