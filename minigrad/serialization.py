"""``mg.save`` / ``mg.load``: state dicts as ``.npz`` files, never pickle.

A state dict maps names to arrays (``Module.state_dict()``); Tensors are saved as their arrays.
Object arrays are refused on save and on load (by their header, and ``allow_pickle=False``), and a
file that is not a zip archive is refused by its first bytes, so loading a file can never run code.
A truncated, corrupt or foreign file gives a ``ValueError`` naming the file and the fault.

Loading is bounded by what the file can honestly hold. Every member's ``.npy`` header is read and checked
before any array is allocated: the bytes that all arrays declare together may be at most ``max_ratio`` times
the file's size plus ``RATIO_ALLOWANCE`` (an uncompressed archive, as ``save`` writes, declares less than its
own size; only a compressed one can inflate), and at most ``max_bytes`` in all. Both are keyword arguments of
``load``; their defaults are the module constants ``MAX_RATIO`` and ``MAX_BYTES``. The checks themselves are
in ``minigrad.archive``.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from .archive import CORRUPT, KINDS, ZIP_MAGIC, Refused, checked_members, open_regular, what_it_is
from .tensor import Tensor

# The arrays of one file may declare at most this many bytes in all (mg.load's max_bytes), however the file is
# made: an honest uncompressed file of 5 GiB is refused too unless the caller raises the limit.
MAX_BYTES = 1 << 32
# ... and at most this many times the file's size, plus RATIO_ALLOWANCE (mg.load's max_ratio). An uncompressed
# archive declares less than its own size; np.savez_compressed of real weights gains a few percent, of zeros up
# to about 1000x (zlib's limit), which is how a 1 MB file asked for 1 GiB.
MAX_RATIO = 16
RATIO_ALLOWANCE = 1 << 20  # so that a small compressed archive of zeros or masks still loads


def save(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` (names to arrays or Tensors) to ``path`` as an uncompressed ``.npz``.

    Any non-empty string is a key, ``allow_pickle`` and ``file`` too: the arrays go to the zip writer as a
    dict, never as keyword arguments of ``np.savez``. The path given is used as is (``np.savez`` would append
    ``.npz`` to a path that lacks it).
    """
    if not isinstance(state, dict):
        raise TypeError(f"save: expected a dict of arrays (a state dict), got {type(state).__name__}")
    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"save: keys must be non-empty strings, got {name!r}")
        _check_key(name)
        array = np.asarray(value._data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in KINDS:
            raise TypeError(f"save: '{name}' has dtype {array.dtype}; only numeric, bool and string arrays are saved")
        arrays[name] = array
    # What np.savez does, without its keyword arguments: one uncompressed .npy member per array
    with open(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def _check_key(name: str) -> None:
    """Refuse a key that the zip format cannot store as it is, so that every saved key loads back unchanged."""
    if "\0" in name:  # zipfile cuts a member's name at its first NUL when reading
        raise ValueError(f"save: the key {name!r} holds a NUL character, which a zip member's name cannot")
    try:
        encoded = (name + ".npy").encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"save: the key {name!r} is not valid Unicode ({e.reason})") from None
    if len(encoded) > 0xFFFF:
        raise ValueError(f"save: the key '{name[:40]}...' is {len(encoded)} bytes long; a zip name holds 65535")


def load(
    path: str | os.PathLike, *, max_bytes: int | None = None, max_ratio: float | None = None
) -> dict[str, np.ndarray]:
    """Read a file written by ``save``: a dict of names to arrays, in the order saved.

    Only regular files holding ``.npz`` archives of numeric, bool and string arrays are read. Anything else (a
    FIFO or a device, a pickle, a single ``.npy``, an object array, a header that does not match the bytes
    stored) is refused with a ``ValueError`` before it is parsed further; nothing is ever unpickled.

    All headers are checked before any array is allocated: the arrays may declare at most ``max_bytes`` bytes in
    all (default ``MAX_BYTES``, 4 GiB) and at most ``max_ratio`` times the file's size plus ``RATIO_ALLOWANCE``
    (default ``MAX_RATIO``, 16; only a compressed archive can exceed it). Raise either for a file you trust,
    e.g. ``load(path, max_bytes=1 << 36)`` or ``load(path, max_ratio=math.inf)``.
    """
    with _state_file(path, max_bytes, max_ratio) as (archive, members):
        out = {}
        for key, info, _ in members:  # every header has passed: now the arrays are read
            with archive.open(info) as member:
                out[key] = np.lib.format.read_array(member, allow_pickle=False)
        return out


def read_headers(
    path: str | os.PathLike, *, max_bytes: int | None = None, max_ratio: float | None = None
) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The (shape, dtype) of every array in a state file, checked as ``load`` checks them, reading no data.

    A model can compare the shapes with its configuration before it allocates its parameters.
    """
    with _state_file(path, max_bytes, max_ratio) as (_, members):
        return {key: header for key, _, header in members}


@contextlib.contextmanager
def _state_file(path: str | os.PathLike, max_bytes: Any, max_ratio: Any) -> Iterator[tuple[zipfile.ZipFile, list]]:
    """The open archive and its checked members (``archive.checked_members``); a fault of the file while it is read,
    there or in the ``with`` body, becomes a ``ValueError`` naming the file."""
    max_bytes, max_ratio = _limits(max_bytes, max_ratio)
    name = os.fspath(path)
    f, size = open_regular(path, name)
    with f:
        magic = f.read(6)
        if not magic.startswith(ZIP_MAGIC):
            raise ValueError(f"load: {name} is not a valid state file: {what_it_is(magic)}")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as archive:
                yield archive, checked_members(archive, size, max_bytes, max_ratio, RATIO_ALLOWANCE)
        except Refused as e:
            raise ValueError(f"load: {name} is not a valid state file: {e}") from None
        except CORRUPT as e:
            raise ValueError(f"load: {name} is not a valid state file (truncated or corrupt?): {e}") from None


def _limits(max_bytes: Any, max_ratio: Any) -> tuple[int, float]:
    """The limits of one call: the arguments, or the module constants as they are now."""
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    max_ratio = MAX_RATIO if max_ratio is None else max_ratio
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
        raise ValueError(f"load: max_bytes must be a non-negative integer (bytes), got {max_bytes!r}")
    real = isinstance(max_ratio, (int, float, np.integer, np.floating)) and not isinstance(max_ratio, bool)
    if not real or not max_ratio > 0:
        raise ValueError(f"load: max_ratio must be a positive number (math.inf for no limit), got {max_ratio!r}")
    return int(max_bytes), float(max_ratio)
