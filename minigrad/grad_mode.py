"""Whether operations are recorded for backward: ``no_grad``, ``enable_grad``, ``is_grad_enabled``.

The switch is per thread, as in PyTorch: ``no_grad`` in one thread never changes what another records.
It is kept as the set ``_off`` of the threads that currently record nothing, because every operation
asks, and ``not _off`` (no thread inside ``no_grad``) is the cheapest question Python can answer;
only when some thread is inside ``no_grad`` does an operation look up its own thread.
"""

from __future__ import annotations

import contextlib
from threading import get_ident

_off: set[int] = set()  # idents of the threads inside no_grad; mutated in place, never rebound


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad are recorded in this thread."""
    return not _off or get_ident() not in _off


class set_grad_enabled(contextlib.ContextDecorator):
    """Turn recording on or off inside a ``with`` block or a decorated function, then restore it."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._previous = True

    def _recreate_cm(self) -> set_grad_enabled:
        # A decorated function gets a fresh switch per call, so two threads never share ``_previous``.
        return set_grad_enabled(self.mode)

    def __enter__(self) -> None:
        self._previous = is_grad_enabled()
        _set(self.mode)

    def __exit__(self, *exc: object) -> None:
        _set(self._previous)


def _set(enabled: bool) -> None:
    if enabled:
        _off.discard(get_ident())
    else:
        _off.add(get_ident())


class no_grad(set_grad_enabled):
    """Record nothing: ``with mg.no_grad(): ...`` or ``@mg.no_grad()``."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record again inside a ``no_grad`` block."""

    def __init__(self) -> None:
        super().__init__(True)
