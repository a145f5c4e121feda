"""The random states a checkpointed function can reach, taken before its forward and replayed in its recomputation.

``mg.checkpoint(f, preserve_rng_state=True)`` (PyTorch's default) takes the state of every ``np.random.Generator``
it finds in f and its arguments (a module's attributes, closures, the globals f names, defaults), so that dropout
in f draws the same mask when backward runs f again; afterwards the generators are left as the forward left them.
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections.abc import Iterable
from typing import Any

import numpy as np

from .tensor import Tensor

_OPAQUE = (Tensor, np.ndarray, np.generic, str, bytes, int, float, complex, type, types.ModuleType,
           types.BuiltinFunctionType, type(None))  # fmt: skip


class RandomState:
    """The states of the generators f can reach, taken before its forward, to draw the same numbers again."""

    def __init__(self, roots: Any) -> None:
        self.generators = _generators(roots)
        self.states = [r.bit_generator.state for r in self.generators]

    @contextlib.contextmanager
    def replayed(self) -> Any:
        now = [r.bit_generator.state for r in self.generators]
        for r, state in zip(self.generators, self.states):
            r.bit_generator.state = state
        try:
            yield
        finally:
            for r, state in zip(self.generators, now):
                r.bit_generator.state = state


def _generators(roots: Any, limit: int = 20_000) -> list:
    """The ``np.random.Generator`` objects found from ``roots`` through containers, attributes, closures,
    the globals a function names, defaults and bound methods (at most ``limit`` objects are looked at)."""
    found, seen, stack = [], set(), [(roots, 0)]
    while stack and len(seen) < limit:
        obj, depth = stack.pop()
        if id(obj) in seen or depth > 8 or isinstance(obj, _OPAQUE):
            continue
        seen.add(id(obj))
        if isinstance(obj, np.random.Generator):
            found.append(obj)
        else:
            stack.extend((child, depth + 1) for child in _children(obj))
    return found


def _children(obj: Any) -> Iterable:
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj)
    if isinstance(obj, dict):
        return list(obj.values())
    if isinstance(obj, types.MethodType):
        return [obj.__self__, obj.__func__]
    if isinstance(obj, functools.partial):
        return [obj.func, obj.args, obj.keywords]
    if isinstance(obj, types.FunctionType):
        cells = []
        for cell in obj.__closure__ or ():
            with contextlib.suppress(ValueError):  # an empty cell
                cells.append(cell.cell_contents)
        named = [obj.__globals__[n] for n in obj.__code__.co_names if n in obj.__globals__]
        return cells + named + list(obj.__defaults__ or ()) + list((obj.__kwdefaults__ or {}).values())
    attributes = getattr(obj, "__dict__", None)
    return list(attributes.values()) if isinstance(attributes, dict) else []
