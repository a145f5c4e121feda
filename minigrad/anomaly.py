"""Anomaly mode: ``with mg.detect_anomaly():`` turns the first NaN or Inf into an error that says where.

Inside the block (per thread, as ``no_grad``), every operation checks its result, and every node
remembers the line of user code that created it. The first operation whose result holds a NaN or an
Inf raises ``AnomalyError`` naming the op, its input shapes and that line; so does the first rule of a
backward pass that turns a finite gradient into a non-finite one, naming the op whose rule it is and the
line that created the node in the forward pass. The checks cost a pass over every result and a stack
walk per node: a debugging tool, off by default.

>>> import minigrad as mg
>>> x = mg.tensor([1.0, 0.0], requires_grad=True)
>>> with mg.detect_anomaly():
...     y = mg.log(x)  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
AnomalyError: forward of 'log' produced -inf ...
"""

from __future__ import annotations

import contextlib
import os
import traceback
import weakref
from threading import get_ident
from typing import Any

import numpy as np

_on: set[int] = set()  # idents of the threads inside detect_anomaly; mutated in place, never rebound
_sites: dict[int, tuple] = {}  # id(node) -> (weak reference to the node, where the user created it)
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


class AnomalyError(FloatingPointError):
    """A NaN or an Inf appeared in a forward or backward pass inside ``detect_anomaly``."""


class detect_anomaly(contextlib.ContextDecorator):
    """Raise ``AnomalyError`` at the first NaN/Inf in forward or backward, naming the op and its line.

    Usable as ``with mg.detect_anomaly():`` or as a decorator; it affects the current thread only.
    """

    def __init__(self) -> None:
        self._was_on: list[bool] = []  # per enter: one instance may be entered again inside itself

    def _recreate_cm(self) -> detect_anomaly:
        return detect_anomaly()

    def __enter__(self) -> None:
        self._was_on.append(get_ident() in _on)
        _on.add(get_ident())

    def __exit__(self, *exc: object) -> None:
        if not self._was_on.pop():
            _on.discard(get_ident())


def is_anomaly_enabled() -> bool:
    return get_ident() in _on


def _user_site() -> str:
    """The innermost frame of the stack outside minigrad (and outside Python's own libraries)."""
    for frame in reversed(traceback.extract_stack()[:-1]):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE):
            line = f"\n    {frame.line}" if frame.line else ""
            return f'File "{frame.filename}", line {frame.lineno}, in {frame.name}{line}'
    return "(no frame outside minigrad)"


def _bad(a: Any) -> str | None:
    """'nan', 'inf', '-inf' for the first non-finite value of a floating array or number, else None."""
    a = np.asarray(a)
    if a.dtype.kind not in "fc" or np.isfinite(a).all():
        return None
    return str(a[~np.isfinite(a)].flat[0])


def _has_nan(a: Any) -> bool:
    a = np.asarray(a)
    return a.dtype.kind in "fc" and bool(np.isnan(a).any())


def check_forward(op: str, t: Any, inputs: tuple) -> None:
    """Called after ``op`` made ``t`` from ``inputs`` (arrays, numbers, parameters) in anomaly mode.

    Raises where a NaN or an Inf is *made*: a NaN from inputs without one, an Inf from finite inputs.
    One that only passes through (a −inf attention mask added to scores, a NaN in the data) is not this
    op's doing; a NaN it leads to later is reported where it appears.
    """
    site = _user_site()
    if t._op is not None:
        key = id(t)
        _sites[key] = (weakref.ref(t, lambda _, key=key: _sites.pop(key, None)), site)
    value = _bad(t._data)
    if value is None:
        return
    arrays = [a for a in inputs if isinstance(a, (np.ndarray, np.generic, float, int))]
    if value == "nan" and any(_has_nan(a) for a in arrays):
        return
    if value != "nan" and any(_bad(a) is not None for a in arrays):
        return
    shapes = ", ".join(str(np.shape(a)) for a in arrays)
    why = "from finite inputs" if value != "nan" else "from inputs without NaN"
    raise AnomalyError(f"forward of '{op}' produced {value} {why}; inputs of shapes {shapes}. Created at:\n  {site}")


def site_of(node: Any) -> str:
    entry = _sites.get(id(node))
    if entry is None or entry[0]() is not node:
        return "(created outside detect_anomaly)"
    return entry[1]


def check_backward(node: Any, i: int, g: Any, pg: Any) -> None:
    """Called in anomaly mode after the rule for input ``i`` of ``node`` turned ``g`` into ``pg``."""
    value = _bad(getattr(pg, "_data", pg))
    if value is None:
        return
    came_in = _bad(getattr(g, "_data", g))
    why = f"from an upstream gradient that already held {came_in}" if came_in else "from a finite upstream gradient"
    raise AnomalyError(
        f"backward of '{node._op}' (input {i}) produced {value} {why}; the node has shape {node._data.shape}. "
        f"It was created at:\n  {site_of(node)}"
    )


def backward_anomaly(node: Any, i: int, error: AnomalyError) -> AnomalyError:
    """``error``, raised by an op inside the rule for input ``i`` of ``node``, retold as that rule's."""
    first = str(error).split("; ")[0].replace("forward of", "an op")
    return AnomalyError(
        f"backward of '{node._op}' (input {i}): {first} inside its rule; the node has shape {node._data.shape}. "
        f"It was created at:\n  {site_of(node)}"
    )
