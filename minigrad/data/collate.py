"""``default_collate``: a list of samples into one batch, as ``torch.utils.data.default_collate``.

Arrays (and NumPy scalars) are stacked along a new first axis, minigrad Tensors with ``mg.stack``; Python
floats become a float64 array, ints an int64 array, bools a bool array; strings and bytes stay a list; a dict
becomes a dict of batches, a named tuple a named tuple of batches; a tuple or list of fields becomes a list of
batches, one per field (as PyTorch: ``x, y = batch`` unpacks either).
"""

from __future__ import annotations

import collections.abc
import numbers
from typing import Any

import numpy as np

from ..shape_ops import stack
from ..tensor import Tensor


def default_collate(batch: list[Any]) -> Any:
    if not batch:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch)
    if isinstance(elem, (np.ndarray, np.generic)):
        if elem.dtype.kind in "OSUV":
            raise TypeError(f"default_collate: cannot stack arrays of dtype {elem.dtype}")
        shapes = {np.shape(b) for b in batch}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: the samples' arrays have different shapes {sorted(shapes)}")
        return np.stack(batch)
    if isinstance(elem, (bool, np.bool_)):
        return np.array(batch, dtype=bool)
    if isinstance(elem, numbers.Integral):
        return np.array(batch, dtype=np.int64)
    if isinstance(elem, numbers.Real):
        return np.array(batch, dtype=np.float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        return out if type(elem) is dict else type(elem)(out)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a named tuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        sizes = {len(b) for b in batch}
        if len(sizes) > 1:
            raise ValueError(f"default_collate: the samples have different numbers of fields {sorted(sizes)}")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: cannot batch samples of type {type(elem).__name__}")
