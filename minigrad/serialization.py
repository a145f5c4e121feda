"""``mg.save`` / ``mg.load``: state dicts as ``.npz`` files, never pickle.

A state dict maps names to arrays (``Module.state_dict()``); Tensors are saved as their arrays.
Object arrays are refused on save and on load (``allow_pickle=False``), so loading a file can never
run code. A truncated, corrupt or foreign file gives a ``ValueError`` naming the file and the fault.
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
    """Read a file written by ``save``: a dict of names to arrays, in the order saved."""
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single .npy array, not a state dict")
        with npz:
            out = {}
            for name in npz.files:
                _check_size(npz, name)
                out[name] = npz[name]
            return out
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file: {os.fspath(path)}") from None
    except (ValueError, OSError, EOFError, MemoryError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise ValueError(f"load: {os.fspath(path)} is not a valid state file (truncated or corrupt?): {e}") from None


def _check_size(npz: Any, name: str) -> None:
    """Refuse an array larger than the limit, or than the bytes stored for it, before NumPy allocates it.

    NumPy sizes its buffer from the ``.npy`` header's shape, so a tiny crafted file could claim terabytes:
    the header is read and checked first.
    """
    info = npz.zip.getinfo(name + ".npy")
    with npz.zip.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    declared = math.prod(shape) * dtype.itemsize
    if declared > MAX_ARRAY_BYTES:
        raise ValueError(f"array '{name}' declares {declared} bytes, more than the limit {MAX_ARRAY_BYTES}")
    if declared > info.file_size:
        raise ValueError(f"array '{name}' declares {declared} bytes but the file holds {info.file_size}")
