"""Whether operations are recorded for backward: ``no_grad``, ``enable_grad``, ``is_grad_enabled``.

The switch is thread-local, as in PyTorch: ``no_grad`` in one thread never changes what another records.
"""

from __future__ import annotations

import contextlib
import threading


class _GradMode(threading.local):
    enabled = True


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad are recorded in this thread."""
    return _mode.enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Turn recording on or off inside a ``with`` block or a decorated function, then restore it."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._previous = True

    def _recreate_cm(self) -> set_grad_enabled:
        # A decorated function gets a fresh switch per call, so two threads never share ``_previous``.
        return set_grad_enabled(self.mode)

    def __enter__(self) -> None:
        self._previous = _mode.enabled
        _mode.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self._previous


class no_grad(set_grad_enabled):
    """Record nothing: ``with mg.no_grad(): ...`` or ``@mg.no_grad()``."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record again inside a ``no_grad`` block."""

    def __init__(self) -> None:
        super().__init__(True)
