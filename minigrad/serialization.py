"""``mg.save`` / ``mg.load``: state dicts as ``.npz`` files, never pickle.

A state dict maps names to arrays (``Module.state_dict()``); Tensors are saved as their arrays.
Object arrays are refused on save and on load (by their header, and ``allow_pickle=False``), and a
file that is not a zip archive is refused by its first bytes, so loading a file can never run code.
A truncated, corrupt or foreign file gives a ``ValueError`` naming the file and the fault.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from typing import Any

import numpy as np

from .tensor import Tensor

# Refuse arrays larger than this when loading, so that a crafted header cannot ask for a huge allocation.
MAX_ARRAY_BYTES = 1 << 34


def save(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` (names to arrays or Tensors) to ``path`` as an uncompressed ``.npz``.

    NumPy appends ``.npz`` to a path that lacks it, as ``np.savez`` does; the path given is used as is here.
    """
    if not isinstance(state, dict):
        raise TypeError(f"save: expected a dict of arrays (a state dict), got {type(state).__name__}")
    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"save: keys must be non-empty strings, got {name!r}")
        array = np.asarray(value._data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biufcUS":
            raise TypeError(f"save: '{name}' has dtype {array.dtype}; only numeric, bool and string arrays are saved")
        arrays[name] = array
    with open(path, "wb") as f:  # a file object keeps np.savez from renaming the path
        np.savez(f, **arrays)


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a file written by ``save``: a dict of names to arrays, in the order saved.

    Only ``.npz`` archives of numeric, bool and string arrays are read. Anything else (a pickle, a
    single ``.npy``, an object array, a header that claims more bytes than the limit or the file
    holds) is refused with a ``ValueError`` before it is parsed further; nothing is ever unpickled.
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file: {name}") from None
    except OSError as e:
        raise ValueError(f"load: cannot read {name}: {e}") from None
    if not magic.startswith(_ZIP_MAGIC):
        raise ValueError(f"load: {name} is not a valid state file: {_what(magic)}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            out = {}
            for member in npz.zip.namelist():
                if not member.endswith(".npy"):
                    raise _Refused(f"the archive holds '{member}', which is not a .npy array")
                key = member[: -len(".npy")]
                _check_header(npz, key)
                out[key] = npz[key]
            return out
    except _Refused as e:
        raise ValueError(f"load: {name} is not a valid state file: {e}") from None
    except (ValueError, OSError, EOFError, MemoryError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise ValueError(f"load: {name} is not a valid state file (truncated or corrupt?): {e}") from None


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first member, or an empty archive
_NPY_MAGIC = b"\x93NUMPY"


class _Refused(ValueError):
    """A well-formed file that is not a state file: the message says what it is."""


def _what(magic: bytes) -> str:
    """What a file that is not a zip archive seems to be, from its first bytes."""
    if not magic:
        return "it is empty"
    if magic.startswith(_NPY_MAGIC):
        return "it holds a single .npy array, not a state dict (an .npz archive, as mg.save writes)"
    if magic[:1] == b"\x80":
        return f"it looks like a pickle (it starts with {magic!r}); mg.load never unpickles, it reads .npz archives"
    return f"it is not an .npz archive (it starts with {magic!r})"


def _check_header(npz: Any, name: str) -> None:
    """Refuse an object array, or one larger than the limit or than the bytes stored, before NumPy reads it.

    NumPy sizes its buffer from the ``.npy`` header's shape, so a tiny crafted file could claim terabytes:
    the header is read and checked first. An object array would be a pickle: refused by name.
    """
    info = npz.zip.getinfo(name + ".npy")
    with npz.zip.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        stored = info.file_size - f.tell()  # the bytes after the header
    if dtype.hasobject:
        raise _Refused(f"array '{name}' has dtype {dtype} (pickled Python objects); mg.load never unpickles")
    if any(n < 0 for n in shape):
        raise _Refused(f"array '{name}' declares the shape {shape}, with a negative length")
    declared = math.prod(shape) * dtype.itemsize
    if declared > MAX_ARRAY_BYTES:
        raise _Refused(f"array '{name}' declares {declared} bytes, more than the limit {MAX_ARRAY_BYTES}")
    if declared > stored:
        raise _Refused(f"array '{name}' declares {declared} bytes but the file holds {stored}")
