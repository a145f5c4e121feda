"""``temporary_primitive``: a primitive and its rules in ``minigrad.registry`` for the length of a test.

Tests of the testing kit plant wrong rules this way (a sign error, a missing transpose) and check that
``gradcheck`` catches them; users can try a rule out before it goes into the table.

>>> import numpy as np, minigrad as mg
>>> from minigrad.testing import gradcheck, temporary_primitive
>>> with temporary_primitive("cube", lambda x: x**3, lambda g, ans, x: 3 * x**2 * g) as cube:
...     gradcheck(cube, np.array([1.0, -2.0]))
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..recording import record
from ..registry import replace_rules, restore
from ..tensor import Tensor, as_tensor


def make_primitive(name: str, forward: Callable) -> Callable[..., Tensor]:
    """The op ``name(*tensors)``: ``forward`` on the arrays, recorded so that the rules of ``name`` run on backward."""

    def op(*xs: Any) -> Tensor:
        ts = [as_tensor(x) for x in xs]
        args = tuple(t._data for t in ts)
        return record(name, np.asarray(forward(*args)), args, tuple(t if t.requires_grad else None for t in ts))

    op.__name__ = name
    return op


@contextlib.contextmanager
def temporary_primitive(name: str, forward: Callable, *vjps: Callable | None) -> Iterator[Callable[..., Tensor]]:
    """Register ``name`` with one rule ``vjp(g, ans, *args) -> Jᵀg`` per input; remove it on exit.

    Yields the op. A name already in the table is restored on exit, so a test may also replace a
    built-in rule (say ``"sin"``) with a wrong one and check that gradcheck catches it.
    """
    if not vjps:
        raise ValueError(f"temporary_primitive: give one rule per input of '{name}'")
    previous = replace_rules(name, tuple(vjps))
    try:
        yield make_primitive(name, forward)
    finally:
        restore(name, previous)
