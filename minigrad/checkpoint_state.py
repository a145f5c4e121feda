"""The state a checkpointed function reads besides its arguments, taken before its forward and put back for
its recomputation in backward.

- **Random states** (``preserve_rng_state=True``, PyTorch's default): the state of every ``np.random.Generator``
  found from f and its arguments (a module's attributes, closures, the globals f names, defaults), so that
  dropout in f draws the same mask again; afterwards the generators are left as the forward left them.
- **Tensor attributes**: the dict entries (a module's attributes among them) that held f's inputs during the
  forward. ``nn.functional_call(model, params, x)`` swaps a model's parameters only while it runs; when the
  model checkpoints a block inside, backward runs the block after the swap was undone, so the entries are set
  to the forward's tensors again for the recomputation, and put back after it.
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


class ForwardState:
    """What f could read at its forward, besides its arguments: generators' states and tensor-holding entries."""

    def __init__(self, roots: Any, preserve_rng_state: bool) -> None:
        generators, self.entries = _walk(roots)
        self.generators = generators if preserve_rng_state else []
        self.states = [r.bit_generator.state for r in self.generators]

    def keep(self, inputs: list) -> None:
        """Keep only the entries that held one of f's ``inputs`` (the others are not read by its graph)."""
        ids = {id(x) for x in inputs}
        self.entries = [(d, key, value) for d, key, value in self.entries if id(value) in ids]

    @contextlib.contextmanager
    def replayed(self) -> Any:
        now = [r.bit_generator.state for r in self.generators]
        swapped = [(d, key, d.get(key)) for d, key, value in self.entries if d.get(key) is not value]
        for r, state in zip(self.generators, self.states):
            r.bit_generator.state = state
        for d, key, value in self.entries:
            d[key] = value
        try:
            yield
        finally:
            for r, state in zip(self.generators, now):
                r.bit_generator.state = state
            for d, key, old in swapped:
                d[key] = old


def _walk(roots: Any, limit: int = 20_000) -> tuple[list, list]:
    """The ``np.random.Generator`` objects found from ``roots`` through containers, attributes, closures, the
    globals a function names, defaults and bound methods, and the (dict, key, tensor) entries met on the way
    (at most ``limit`` objects are looked at)."""
    found, entries, seen, stack = [], [], set(), [(roots, 0)]
    while stack and len(seen) < limit:
        obj, depth = stack.pop()
        if id(obj) in seen or depth > 10 or isinstance(obj, _OPAQUE):
            continue
        seen.add(id(obj))
        if isinstance(obj, np.random.Generator):
            found.append(obj)
            continue
        if isinstance(obj, dict):
            entries.extend((obj, key, value) for key, value in obj.items() if isinstance(value, Tensor))
        stack.extend((child, depth + 1) for child in _children(obj))
    return found, entries


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
    return [attributes] if isinstance(attributes, dict) else []  # the dict itself: its entries are looked at
