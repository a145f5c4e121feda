"""Reading a state file that may be hostile: the checks behind ``mg.load`` (``minigrad.serialization``).

A file is opened only if it is a regular file, and its archive's members are accepted only once every
``.npy`` header has been read and bounded, so that a refusal comes before any array is allocated. What a
check refuses is raised as ``Refused`` (a well-formed file that is not a state file); what the zip reader
and NumPy's parser raise for a damaged file is listed in ``CORRUPT``. ``serialization`` turns both into a
``ValueError`` naming the file.
"""

from __future__ import annotations

import io
import math
import os
import stat
import struct
import zipfile
import zlib
from typing import Any

import numpy as np

_MAX_HEADER = 10_000  # NumPy's own limit on a .npy header (max_header_size), checked before the header is read
KINDS = "biufcUS"  # bool, integers, floats, complex, strings: what save writes and load reads

try:  # zipfile reads LZMA members when the lzma module exists, and raises its error for a corrupt one
    from lzma import LZMAError
except ImportError:  # pragma: no cover - Python built without lzma
    LZMAError = zlib.error  # type: ignore[assignment,misc]

# What the zip reader and NumPy's header parser raise for a truncated, corrupt or crafted file. MemoryError is
# not among them: with the limits of mg.load it means that the machine lacks the memory for an array the caller
# allowed, which is not a fault of the file.
CORRUPT = (
    ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, LZMAError, KeyError, NotImplementedError,
    RuntimeError, struct.error, OverflowError,
)  # fmt: skip

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first member, or an empty archive
_NPY_MAGIC = b"\x93NUMPY"
_END_RECORD = 22  # the bytes of a zip archive's end-of-directory record without its comment


class Refused(ValueError):
    """A well-formed file that is not a state file: the message says what it is."""


def open_regular(path: str | os.PathLike, name: str) -> tuple[io.BufferedReader, int]:
    """The file opened for reading, and its size; anything but a regular file is refused without reading it.

    Opening a FIFO waits for a writer and reading a device may never end, so the file's kind is looked up
    first (``os.stat``), and checked again on the opened descriptor in case the path changed in between
    (opened with ``O_NONBLOCK``, which keeps a FIFO put there meanwhile from blocking the open).
    """
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise Refused(_kind(mode))
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file: {name}") from None
    except Refused as e:
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


def what_it_is(magic: bytes) -> str:
    """What a file that is not a zip archive seems to be, from its first bytes."""
    if not magic:
        return "it is empty"
    if magic.startswith(_NPY_MAGIC):
        return "it holds a single .npy array, not a state dict (an .npz archive, as mg.save writes)"
    if magic[:1] == b"\x80":
        return f"it looks like a pickle (it starts with {magic!r}); mg.load never unpickles, it reads .npz archives"
    return f"it is not an .npz archive (it starts with {magic!r})"


def checked_members(
    archive: zipfile.ZipFile, size: int, max_bytes: int, max_ratio: float, allowance: int
) -> list[tuple[str, zipfile.ZipInfo, tuple[tuple[int, ...], np.dtype]]]:
    """(key, zip entry, (shape, dtype)) of every member, once all their headers have passed.

    All members are checked before any is read, so that the total can be bounded, and so that a refusal
    (an odd member at the end) comes before anything was allocated. The total may be at most ``max_bytes``
    and at most ``max_ratio`` times the file's ``size`` plus ``allowance`` (mg.load's ``RATIO_ALLOWANCE``).
    """
    infos = archive.infolist()
    _check_member_count(archive.fp, size, len(infos))
    bound = max_ratio * size + allowance
    seen: set[str] = set()
    total = 0
    out = []
    for info in infos:
        key = _member_key(info, seen)
        shape, dtype, header_bytes = _read_header(archive, info, key)
        declared = _check_array(key, shape, dtype, max_bytes)
        _check_stored(key, declared, info.file_size - header_bytes)  # the bytes after the header
        total += declared
        if total > max_bytes:
            raise Refused(
                f"array {key!r} brings the total its arrays declare to {total} bytes, more than the limit "
                f"{max_bytes} (mg.load's max_bytes)"
            )
        if total > bound:
            raise Refused(
                f"array {key!r} brings the total its arrays declare to {total} bytes, more than {max_ratio:g} "
                f"times the file's {size} bytes plus {allowance} (mg.load's max_ratio): a compressed archive "
                "that inflates this much is refused"
            )
        out.append((key, info, (shape, dtype)))
    return out


def _member_key(info: zipfile.ZipInfo, seen: set[str]) -> str:
    """The state dict's key of one member, after refusing a member that ``save`` would not have written."""
    member = info.filename
    if not member.endswith(".npy"):
        raise Refused(f"the archive holds {member!r}, which is not a .npy array")
    if member in seen:  # a second entry of one name would be read in place of the first one checked
        raise Refused(f"the archive holds {member!r} twice")
    seen.add(member)
    if info.flag_bits & 0x1:
        raise Refused(f"the archive's member {member!r} is encrypted")
    return member[: -len(".npy")]


def _check_stored(key: str, declared: int, stored: int) -> None:
    """Refuse an array whose header and stored bytes disagree, either way."""
    if declared > stored:
        raise Refused(f"array {key!r} declares {declared} bytes but the file holds {stored}")
    if declared < stored:  # NumPy would read a prefix, and never reach the end where the CRC is checked
        raise Refused(f"array {key!r} declares {declared} bytes but the file holds {stored}, more than it")


def _check_member_count(f: Any, size: int, listed: int) -> None:
    """Refuse an archive whose end record declares another number of members than its directory lists.

    zipfile ignores that number and reads the directory for as many bytes as the record's size field says, so
    a flipped bit there drops the last members without a word: the count is compared with what was read.
    """
    declared = _declared_members(f, size)
    if declared is not None and declared != listed:
        raise ValueError(f"the archive's end record declares {declared} members but its directory lists {listed}")


def _declared_members(f: Any, size: int) -> int | None:
    """The number of members that the archive's end record declares, or None if it cannot tell."""
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


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, length of the header in bytes) of one member, reading no more than the header.

    NumPy's parser reads as many bytes as the header's length field says before it checks that length, and a
    version 2 field can say 4 GiB: the length is checked here, and the parser gets the header alone.
    """
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)  # a ValueError naming the bytes found if they are not .npy's
        if version not in ((1, 0), (2, 0)):  # 3.0 is for structured dtypes with non-Latin-1 names: never read
            raise Refused(f"array {key!r} has a .npy header of version {version}; mg.load reads 1.0 and 2.0")
        width = 2 if version == (1, 0) else 4
        length_field = f.read(width)
        length = int.from_bytes(length_field, "little")
        if len(length_field) < width:
            raise ValueError(f"array {key!r}: the .npy header ends after {len(length_field)} bytes")
        if length > _MAX_HEADER:
            raise Refused(f"array {key!r} has a .npy header of {length} bytes, more than the limit {_MAX_HEADER}")
        header = f.read(length)
    parse = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = parse(io.BytesIO(length_field + header))  # a ValueError if short or not a .npy header
    return shape, dtype, len(_NPY_MAGIC) + 2 + width + length


def _check_array(key: str, shape: tuple[int, ...], dtype: np.dtype, max_bytes: int) -> int:
    """The bytes an array declares, after refusing objects, odd dtypes and impossible shapes."""
    if dtype.hasobject:
        raise Refused(f"array {key!r} has dtype {dtype} (pickled Python objects); mg.load never unpickles")
    if dtype.kind not in KINDS or dtype.itemsize == 0:
        raise Refused(f"array {key!r} has dtype {dtype}; mg.load reads numeric, bool and string arrays only")
    if any(n < 0 for n in shape):
        raise Refused(f"array {key!r} declares the shape {shape}, with a negative length")
    declared = math.prod(shape) * dtype.itemsize
    if declared > max_bytes:
        raise Refused(f"array {key!r} declares {declared} bytes, more than the limit {max_bytes} (mg.load's max_bytes)")
    return declared
