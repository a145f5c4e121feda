"""Row-sparse parameters: which rows of an embedding table were looked up since the last ``zero_grad``.

An ``Embedding`` (``sparse=True``, the default) marks its table here and notes the indices of every
lookup made while recording. The gradient that backward leaves in ``weight.grad`` is an ordinary dense
array, zero outside the looked-up rows; the optimizers read ``touched_rows`` and update only those
rows, so a row that was not looked up keeps its value and its optimizer state (momentum, Adam's
moments, Adagrad's sum) unchanged: the "lazy" update of sparse optimizers. ``zero_grad`` forgets the rows.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ..grad_mode import is_grad_enabled
from ..tensor import Tensor

# id(weight) -> (weak reference to weight, index arrays). Keyed by id because a Tensor's == is elementwise,
# which a WeakKeyDictionary would call; the weak reference's callback drops the entry with the tensor.
_table: dict[int, tuple[weakref.ref, list[np.ndarray]]] = {}
_COMPACT_AFTER = 64  # index arrays kept per table before they are merged into one sorted array of rows


def _drop(key: int) -> None:
    _table.pop(key, None)


def mark_sparse(weight: Tensor) -> None:
    """Declare ``weight`` row-sparse: the optimizers update only its looked-up rows."""
    key = id(weight)
    if key not in _table:
        _table[key] = (weakref.ref(weight, lambda _, key=key: _drop(key)), [])


def _get(weight: Tensor) -> list[np.ndarray] | None:
    entry = _table.get(id(weight))
    return entry[1] if entry is not None and entry[0]() is weight else None


def note_rows(weight: Tensor, rows: Any) -> None:
    """Remember that the distinct sorted ``rows`` of ``weight`` were looked up (only while recording)."""
    noted = _get(weight)
    if noted is not None and weight.requires_grad and is_grad_enabled():
        noted.append(np.asarray(rows).ravel())
        if len(noted) > _COMPACT_AFTER:  # lookups without a zero_grad (evaluation with recording on):
            noted[:] = [np.unique(np.concatenate(noted))]  # keep the memory bounded by the table's rows


def touched_rows(weight: Tensor) -> np.ndarray | None:
    """The sorted distinct rows looked up since the last ``clear_rows``, or None for a dense parameter."""
    rows = _get(weight)
    if not rows:
        return None
    if len(rows) > 1:
        rows[:] = [np.unique(np.concatenate(rows))]
    return rows[0]


def clear_rows(weight: Tensor) -> None:
    rows = _get(weight)
    if rows is not None:
        rows.clear()
