"""Row-sparse parameters: which rows of an embedding table were looked up since the last ``zero_grad``.

An ``Embedding`` (``sparse=True``, the default) marks its table here and notes the indices of every
lookup made while recording. The gradient that backward leaves in ``weight.grad`` is an ordinary dense
array, zero outside the looked-up rows when the table is used only through lookups; the optimizers ask
``rows_to_update`` and update only those rows, so a row that was not looked up keeps its value and its
optimizer state (momentum, Adam's moments, Adagrad's sum) unchanged: the "lazy" update of sparse
optimizers. A table whose gradient reaches other rows too (tied to an output projection, ``h @ W.T``, or
under a penalty on the whole table) gets the dense update instead, as with ``sparse=False``: only a
gradient that came from lookups alone says which rows may stay. Once a table's gradient has reached a
row outside its lookups it keeps the dense update for good: a step in which that other use happens to
give exact zeros outside the looked-up rows (a relu-masked projection) must not switch it back to the lazy
update, under which those rows' momentum would stop. ``zero_grad`` forgets the rows.
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


_dense: set[int] = set()  # ids of tables whose gradient once reached rows outside their lookups


def _drop(key: int) -> None:
    _table.pop(key, None)
    _dense.discard(key)


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


def rows_to_update(weight: Tensor, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of ``weight`` an optimizer updates from ``grad`` and their gradient, or None for the dense update.

    None for a dense parameter, for a table with no lookup noted, and for a table whose gradient is nonzero in
    a row that no lookup used: its gradient did not come from lookups alone, so the lazy update would leave
    rows with a gradient unmoved (a tied language model's output rows) and must give way to the dense one.
    Otherwise the looked-up rows with a nonzero gradient: a lookup made outside training (an evaluation
    without no_grad) or before a manual ``p.grad = None`` left rows that must not move.
    """
    rows = touched_rows(weight)
    if rows is None or id(weight) in _dense:
        return None
    picked = grad[rows]  # (one copy of the rows, for the test below and for the update)
    if _outside(grad, picked):
        _dense.add(id(weight))
        return None
    keep = np.any(picked != 0, axis=tuple(range(1, grad.ndim)))
    return (rows, picked) if keep.all() else (rows[keep], picked[keep])


def _outside(grad: np.ndarray, picked: np.ndarray) -> bool:
    """Whether ``grad`` has a nonzero (or nan) element besides those of its looked-up rows ``picked``.

    The whole table is read: a use outside the lookups may reach any row. Counting the nonzero elements of the
    whole and of the rows needs no mask of the other rows; on the bits (an unsigned view) the count is 4× faster
    than on floats, and counts -0.0 too, which the second count, on values, then forgives.
    """
    unsigned = f"u{grad.itemsize}" if grad.itemsize in (2, 4, 8) else None
    if unsigned and np.count_nonzero(grad.view(unsigned)) == np.count_nonzero(picked.view(unsigned)):
        return False
    return np.count_nonzero(grad) != np.count_nonzero(picked)


def clear_rows(weight: Tensor) -> None:
    rows = _get(weight)
    if rows is not None:
        rows.clear()
