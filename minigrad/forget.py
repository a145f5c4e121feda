"""Dropping values the graph will never read, once nothing outside the graph refers to them."""

from __future__ import annotations

from sys import getrefcount

import numpy as np


class Forgotten:
    """What a graph keeps of a value it will never read: its shape and dtype (for unbroadcast and casts)."""

    __slots__ = ("shape", "dtype", "ndim", "size")
    base = None

    def __init__(self, array: np.ndarray) -> None:
        self.shape, self.dtype, self.ndim, self.size = array.shape, array.dtype, array.ndim, array.size

    def __repr__(self) -> str:
        return f"shape {self.shape}, {self.dtype}"


# Values of at least this many elements are dropped when no longer needed; below, dropping saves less memory
# than the check costs time. mg.compile sets it to infinity while it traces (its plan names every value);
# tests set it to 0 to run every path through dropped values.
forget_at = [1 << 14]


def forget(parents: tuple) -> None:
    """Drop the values of the parents' parents that no rule reads and nothing outside the graph holds.

    In ``h = f(h)`` the value two steps back is, by the time the next operation runs, referenced by
    its child node only. If none of the rules reads it (``_held`` is 0: tanh reads its own output, not
    its input), keeping it would make minigrad hold every intermediate where hand-written NumPy keeps
    only what the backward pass needs. The child's ``_args`` hold the same array, so it is replaced
    there too; the engine needs only its shape and dtype.
    """
    for p in parents:
        if p is None or p._op is None or not p._parents:
            continue
        for q in p._parents:
            # 3 references: p._parents, the loop variable and getrefcount's argument; more is a user's (or a sibling's)
            if q is not None and q._op is not None and not q._held and getrefcount(q) == 3:
                d = q._data
                if type(d) is np.ndarray and d.size >= forget_at[0] and _only_as(q, d, p):
                    stub = Forgotten(d)
                    q._data = stub
                    p._args = tuple(stub if a is d else a for a in p._args)


def _only_as(q: object, d: np.ndarray, p: object) -> bool:
    """Whether ``p`` holds the array ``d`` only as its parent ``q``'s value. In ``h * h.detach()`` the same
    array is also the detached constant operand, which the rule of the other operand reads."""
    return all(a is not d or i < len(p._parents) and p._parents[i] is q for i, a in enumerate(p._args))
