"""``mg.save`` / ``mg.load``: state dicts as ``.npz`` files, never pickle.

A state dict maps names to arrays (``Module.state_dict()``); Tensors are saved as their arrays.
Object arrays are refused on save and on load (by their header, and ``allow_pickle=False``), and a
file that is not a zip archive is refused by its first bytes, so loading a file can never run code.
A truncated, corrupt or foreign file gives a ``ValueError`` naming the file and the fault.

Loading is bounded by what the file can honestly hold. Every member's ``.npy`` header is read and checked
before any array is allocated: the bytes that all arrays declare together may be at most ``max_ratio`` times
the file's size plus ``RATIO_ALLOWANCE`` (an uncompressed archive, as ``save`` writes, declares less than its
own size; only a compressed one can inflate), and at most ``max_bytes`` in all. Both are keyword arguments of
``load``; their defaults are the module constants ``MAX_RATIO`` and ``MAX_BYTES``.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from .tensor import Tensor

# The arrays of one file may declare at most this many bytes in all (mg.load's max_bytes), however the file is
# made: an honest uncompressed file of 5 GiB is refused too unless the caller raises the limit.
MAX_BYTES = 1 << 32
# ... and at most this many times the file's size, plus RATIO_ALLOWANCE (mg.load's max_ratio). An uncompressed
# archive declares less than its own size; np.savez_compressed of real weights gains a few percent, of zeros up
# to about 1000x (zlib's limit), which is how a 1 MB file asked for 1 GiB.
MAX_RATIO = 16
RATIO_ALLOWANCE = 1 << 20  # so that a small compressed archive of zeros or masks still loads

_MAX_HEADER = 10_000  # NumPy's own limit on a .npy header (max_header_size), checked before the header is read
_KINDS = "biufcUS"  # bool, integers, floats, complex, strings: what save writes and load reads

try:  # zipfile reads LZMA members when the lzma module exists, and raises its error for a corrupt one
    from lzma import LZMAError
except ImportError:  # pragma: no cover - Python built without lzma
    LZMAError = zlib.error  # type: ignore[assignment,misc]

# What the zip reader and NumPy's header parser raise for a truncated, corrupt or crafted file. MemoryError is
# not among them: with the limits above it means that the machine lacks the memory for an array the caller
# allowed, which is not a fault of the file.
_CORRUPT = (
    ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, LZMAError, KeyError, NotImplementedError,
    RuntimeError, struct.error, OverflowError,
)  # fmt: skip


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
        if array.dtype.kind not in _KINDS:
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
    """The open archive and its checked members (``_checked_members``); a fault of the file while it is read,
    there or in the ``with`` body, becomes a ``ValueError`` naming the file."""
    max_bytes, max_ratio = _limits(max_bytes, max_ratio)
    name = os.fspath(path)
    f, size = _open_regular(path, name)
    with f:
        magic = f.read(6)
        if not magic.startswith(_ZIP_MAGIC):
            raise ValueError(f"load: {name} is not a valid state file: {_what(magic)}")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as archive:
                yield archive, _checked_members(archive, size, max_bytes, max_ratio)
        except _Refused as e:
            raise ValueError(f"load: {name} is not a valid state file: {e}") from None
        except _CORRUPT as e:
            raise ValueError(f"load: {name} is not a valid state file (truncated or corrupt?): {e}") from None


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first member, or an empty archive
_NPY_MAGIC = b"\x93NUMPY"


class _Refused(ValueError):
    """A well-formed file that is not a state file: the message says what it is."""


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


def _open_regular(path: str | os.PathLike, name: str) -> tuple[io.BufferedReader, int]:
    """The file opened for reading, and its size; anything but a regular file is refused without reading it.

    Opening a FIFO waits for a writer and reading a device may never end, so the file's kind is looked up
    first (``os.stat``), and checked again on the opened descriptor in case the path changed in between
    (opened with ``O_NONBLOCK``, which keeps a FIFO put there meanwhile from blocking the open).
    """
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise _Refused(_kind(mode))
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file: {name}") from None
    except _Refused as e:
        raise ValueError(f"load: cannot read {name}: {e}") from None
    except OSError as e:
        raise ValueError(f"load: cannot read {name}: {e.strerror or e}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"load: cannot read {name}: {_kind(info.st_mode)}")
        return os.fdopen(fd, "rb"), info.st_size
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    """Why a file of this mode is not read (worded as the OS words "Is a directory")."""
    kinds = [
        (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
    ]  # fmt: skip
    what = next((text for test, text in kinds if test(mode)), "not a regular file")
    return f"Is {what}; mg.load reads only regular files"


def _what(magic: bytes) -> str:
    """What a file that is not a zip archive seems to be, from its first bytes."""
    if not magic:
        return "it is empty"
    if magic.startswith(_NPY_MAGIC):
        return "it holds a single .npy array, not a state dict (an .npz archive, as mg.save writes)"
    if magic[:1] == b"\x80":
        return f"it looks like a pickle (it starts with {magic!r}); mg.load never unpickles, it reads .npz archives"
    return f"it is not an .npz archive (it starts with {magic!r})"


def _checked_members(
    archive: zipfile.ZipFile, size: int, max_bytes: int, max_ratio: float
) -> list[tuple[str, zipfile.ZipInfo, tuple[tuple[int, ...], np.dtype]]]:
    """(key, zip entry, (shape, dtype)) of every member, once all their headers have passed.

    All members are checked before any is read, so that the total can be bounded, and so that a refusal
    (an odd member at the end) comes before anything was allocated.
    """
    infos = archive.infolist()
    declared_members = _declared_members(archive.fp, size)
    if declared_members is not None and declared_members != len(infos):  # zipfile reads as far as the size says
        raise ValueError(
            f"the archive's end record declares {declared_members} members but its directory lists {len(infos)}"
        )
    bound = max_ratio * size + RATIO_ALLOWANCE
    seen: set[str] = set()
    total = 0
    out = []
    for info in infos:
        member = info.filename
        if not member.endswith(".npy"):
            raise _Refused(f"the archive holds {member!r}, which is not a .npy array")
        if member in seen:  # a second entry of one name would be read in place of the first one checked
            raise _Refused(f"the archive holds {member!r} twice")
        seen.add(member)
        if info.flag_bits & 0x1:
            raise _Refused(f"the archive's member {member!r} is encrypted")
        key = member[: -len(".npy")]
        shape, dtype, header_bytes = _read_header(archive, info, key)
        declared = _check_array(key, shape, dtype, max_bytes)
        stored = info.file_size - header_bytes  # the bytes after the header
        if declared > stored:
            raise _Refused(f"array {key!r} declares {declared} bytes but the file holds {stored}")
        if declared < stored:  # NumPy would read a prefix, and never reach the end where the CRC is checked
            raise _Refused(f"array {key!r} declares {declared} bytes but the file holds {stored}, more than it")
        total += declared
        if total > max_bytes:
            raise _Refused(
                f"array {key!r} brings the total its arrays declare to {total} bytes, more than the limit "
                f"{max_bytes} (mg.load's max_bytes)"
            )
        if total > bound:
            raise _Refused(
                f"array {key!r} brings the total its arrays declare to {total} bytes, more than {max_ratio:g} "
                f"times the file's {size} bytes plus {RATIO_ALLOWANCE} (mg.load's max_ratio): a compressed archive "
                "that inflates this much is refused"
            )
        out.append((key, info, (shape, dtype)))
    return out


def _declared_members(f: Any, size: int) -> int | None:
    """The number of members that the archive's end record declares, or None if it cannot tell.

    zipfile ignores that number and reads the directory for as many bytes as the record's size field says, so
    a flipped bit there drops the last members without a word: the count is compared with what was read.
    """
    tail = min(size, _END_RECORD + 0xFFFF)  # the record, then a comment of at most 65535 bytes
    f.seek(size - tail)
    data = f.read(tail)
    at = len(data) - _END_RECORD  # where zipfile looks first: an archive without a comment
    if data[at : at + 4] != b"PK\x05\x06" or data[-2:] != b"\0\0":
        at = data.rfind(b"PK\x05\x06", 0, len(data) - _END_RECORD + 1)
    if at < 0:
        return None  # zipfile has already refused such a file, or will
    entries = int.from_bytes(data[at + 10 : at + 12], "little")
    return None if entries == 0xFFFF else entries  # 0xFFFF: a zip64 archive, whose count is elsewhere


_END_RECORD = 22  # the bytes of a zip archive's end-of-directory record without its comment


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, length of the header in bytes) of one member, reading no more than the header.

    NumPy's parser reads as many bytes as the header's length field says before it checks that length, and a
    version 2 field can say 4 GiB: the length is checked here, and the parser gets the header alone.
    """
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)  # a ValueError naming the bytes found if they are not .npy's
        if version not in ((1, 0), (2, 0)):  # 3.0 is for structured dtypes with non-Latin-1 names: never read
            raise _Refused(f"array {key!r} has a .npy header of version {version}; mg.load reads 1.0 and 2.0")
        width = 2 if version == (1, 0) else 4
        length_field = f.read(width)
        length = int.from_bytes(length_field, "little")
        if len(length_field) < width:
            raise ValueError(f"array {key!r}: the .npy header ends after {len(length_field)} bytes")
        if length > _MAX_HEADER:
            raise _Refused(f"array {key!r} has a .npy header of {length} bytes, more than the limit {_MAX_HEADER}")
        header = f.read(length)
    parse = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = parse(io.BytesIO(length_field + header))  # a ValueError if short or not a .npy header
    return shape, dtype, len(_NPY_MAGIC) + 2 + width + length


def _check_array(key: str, shape: tuple[int, ...], dtype: np.dtype, max_bytes: int) -> int:
    """The bytes an array declares, after refusing objects, odd dtypes and impossible shapes."""
    if dtype.hasobject:
        raise _Refused(f"array {key!r} has dtype {dtype} (pickled Python objects); mg.load never unpickles")
    if dtype.kind not in _KINDS or dtype.itemsize == 0:
        raise _Refused(f"array {key!r} has dtype {dtype}; mg.load reads numeric, bool and string arrays only")
    if any(n < 0 for n in shape):
        raise _Refused(f"array {key!r} declares the shape {shape}, with a negative length")
    declared = math.prod(shape) * dtype.itemsize
    if declared > max_bytes:
        raise _Refused(
            f"array {key!r} declares {declared} bytes, more than the limit {max_bytes} (mg.load's max_bytes)"
        )
    return declared
