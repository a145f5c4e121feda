"""The default floating dtype: what creation functions and layers make when no ``dtype`` is given.

>>> import minigrad as mg
>>> mg.zeros(2).dtype, mg.tensor([1.5]).dtype, mg.get_default_dtype()
(dtype('float32'), dtype('float32'), dtype('float32'))
>>> mg.set_default_dtype("float64"); mg.randn(3, rng=0).dtype
dtype('float64')
>>> mg.set_default_dtype("float32")

float32, as in PyTorch: layers run in it at BLAS speed, and ``mg.zeros``, ``mg.randn``, ``mg.tensor([1.5])``
agree with them, so a model never drifts into float64 by one tensor made without a ``dtype``. What keeps its
dtype: a NumPy array or scalar (``mg.tensor(np_array)``, ``mg.Tensor(np_array)``: float64 data stays float64, as
``torch.from_numpy`` does) and integer or boolean data. The gradient-testing kit works in float64 whatever the
default. A layer given a floating input of another dtype than its parameters raises, naming both (see
``nn.Module``): cast the input (``x.astype(np.float32)``) or make the layer with ``dtype=``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_default = [np.dtype(np.float32)]


def get_default_dtype() -> np.dtype:
    """The floating dtype made when none is given (float32 unless ``set_default_dtype`` changed it)."""
    return _default[0]


def set_default_dtype(dtype: Any) -> None:
    """Make ``dtype`` (float16, float32 or float64) the default for creation functions and new layers."""
    try:
        d = np.dtype(dtype)
    except TypeError:
        d = None
    if d is None or d not in FLOATS:  # (a dtype compares equal to None: None means float64 to NumPy)
        raise TypeError(f"set_default_dtype: dtype must be float16, float32 or float64, got {dtype!r}")
    _default[0] = d


def resolve(dtype: Any) -> np.dtype:
    """``dtype`` as given, or the default when it is None."""
    return _default[0] if dtype is None else np.dtype(dtype)


def for_data(data: Any, dtype: Any) -> Any:
    """The dtype ``tensor(data)`` makes: as given; else an array's own; else the default for floating Python data."""
    if dtype is not None or isinstance(data, (np.ndarray, np.generic)) or hasattr(data, "_data"):
        return dtype
    kind = np.asarray(data).dtype.kind
    return _default[0] if kind == "f" else None
