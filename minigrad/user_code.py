"""Where a user's code called into minigrad: for error messages that name the user's line."""

from __future__ import annotations

import sys


def user_line(depth: int = 2) -> tuple[str, str | None]:
    """(the first line outside minigrad at or above frame ``depth``, as ``file:line``; the minigrad function
    that line called into, as ``name (file)``, or None if frame ``depth`` is already outside minigrad).

    ``depth`` counts frames from this function: 0 is it, 1 its caller, 2 the caller's caller.
    """
    frame = sys._getframe(depth)
    inner = None
    while frame is not None and "/minigrad/" in frame.f_code.co_filename.replace("\\", "/"):
        inner = inner or f"{frame.f_code.co_name} ({frame.f_code.co_filename.rsplit('/', 1)[-1]})"
        frame = frame.f_back
    return ("unknown place" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"), inner
