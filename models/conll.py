"""Reading CoNLL-style files and moving between tag schemes (IOB1, IOB2/BIO, IOBES).

A file has one token per line, the word in the first column and the tag in the last (two columns,
word and tag, or four, word POS chunk tag; tabs or spaces; another column with ``tag_column``), every token
line with the same number of columns. Blank lines (or lines of whitespace)
end a sentence; ``-DOCSTART-`` lines are skipped. Entities are read with the CoNLL scorer's rules
(``models.conlleval.chunks``), so every scheme reads the same way and can be written in any other.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from dataclasses import dataclass, field

from .conlleval import chunks

_TAG = re.compile(r"^(O|[BIES]-\S+)$")
SCHEMES = ("IOB1", "BIO", "IOBES")


class ConllError(ValueError):
    """A malformed CoNLL file; the message names the file and the line."""


@dataclass
class Sentence:
    words: list[str]
    tags: list[str] = field(default_factory=list)


def is_tag(tag: str) -> bool:
    """Whether ``tag`` is ``O`` or a prefix B-, I-, E- or S- followed by a type."""
    return bool(_TAG.match(tag))


def read_lines(path: str | os.PathLike | None) -> tuple[str, list[str]]:
    """The name and the lines (without their ends) of a UTF-8 text file, or of standard input for None or "-".

    The one loader of every subcommand: a missing file, a directory, an unreadable file, bytes that are not
    UTF-8 and an input with nothing but blank lines each raise ``ConllError`` with one line naming the input.
    A UTF-8 byte-order mark (Windows editors write one) is dropped, so that it does not become part of the first
    word or hide a first ``-DOCSTART-`` line.
    """
    if path is None or os.fspath(path) == "-":
        name, stream = "<stdin>", sys.stdin
    else:
        name = os.fspath(path)
        if os.path.isdir(name):
            raise ConllError(f"{name}: is a directory, not a text file")
        try:
            stream = open(name, encoding="utf-8")
        except FileNotFoundError:
            raise ConllError(f"{name}: no such file") from None
        except OSError as e:
            raise ConllError(f"{name}: cannot be read ({e.strerror or e})") from None
    try:
        with stream if stream is not sys.stdin else contextlib.nullcontext(stream):
            # stripped from the text rather than by reading "utf-8-sig", so that standard input loses it too
            lines = stream.read().removeprefix("\ufeff").splitlines()
    except UnicodeDecodeError as e:
        raise ConllError(f"{name}: not UTF-8 text ({e})") from None
    if not any(line.strip() for line in lines):
        raise ConllError(f"{name}: empty input (no text in it)")
    return name, lines


def quiet_closed_stdout() -> None:
    """After a ``BrokenPipeError`` (``... | head`` closed its end): point standard output at the null device.

    The recipe of Python's documentation (signal module, "Note on SIGPIPE"): without it the interpreter tries to
    flush the lost output once more at exit and prints "Exception ignored ... BrokenPipeError" on stderr.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's captured output): nothing to do
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


# The exit status after the reader of standard output went away: 128 + SIGPIPE, what the shell reports for
# `cat`, `grep` and the other tools that die of SIGPIPE, so that `set -o pipefail` scripts see the usual value.
# (Python's own recipe exits with 1, which is indistinguishable from a failure.)
EXIT_BROKEN_PIPE = 141


def read_conll(path: str | os.PathLike, tagged: bool = True, tag_column: int | None = None) -> list[Sentence]:
    """The sentences of a CoNLL file; with ``tagged=False`` only the first column is read.

    Every token line must have as many columns as the first one (``-DOCSTART-`` lines aside): a line that lost
    a column would otherwise give its last remaining column as the tag. ``tag_column`` is the tag's column,
    counted from 1 (default: the last).
    """
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    name, lines = read_lines(path)
    width, first = 0, 0  # the number of columns of the first token line, and its line number
    for number, line in enumerate(lines, start=1):
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            if words:
                sentences.append(Sentence(words, tags))
                words, tags = [], []
            continue
        if not width:
            width, first = len(cols), number
            if tagged and tag_column is not None and not 2 <= tag_column <= width:
                raise ConllError(
                    f"{name}:{number}: --tag-column {tag_column} is not a column of these {width}-column lines "
                    "(the words are column 1; give 2 to the last)"
                )
        if tagged and len(cols) < 2:
            raise ConllError(f"{name}:{number}: expected a word and a tag, got {line.rstrip()!r}")
        if len(cols) != width:
            raise ConllError(
                f"{name}:{number}: expected {width} columns (as on line {first}), got {len(cols)}: {line.rstrip()!r}"
            )
        if tagged:
            tag = cols[-1 if tag_column is None else tag_column - 1]
            if not is_tag(tag):
                raise ConllError(f"{name}:{number}: tag {tag!r} is not O or B-/I-/E-/S- followed by a type")
            tags.append(tag)
        words.append(cols[0])
    if words:
        sentences.append(Sentence(words, tags))
    if not sentences:
        raise ConllError(f"{name}: no sentences found")
    return sentences


def detect_scheme(tag_seqs: list[list[str]]) -> str:
    """IOBES if E-/S- tags occur, IOB1 if an entity ever starts with I-, else BIO."""
    iob1 = False
    for tags in tag_seqs:
        prev = "O"
        for tag in tags:
            if tag[0] in "ES":
                return "IOBES"
            if tag[0] == "I" and (prev == "O" or prev[2:] != tag[2:]):
                iob1 = True
            prev = tag
    return "IOB1" if iob1 else "BIO"


def encode(spans: list[tuple[int, int, str]], n: int, scheme: str) -> list[str]:
    """Tags for ``n`` tokens holding the entities ``spans`` ((start, end, type), end exclusive)."""
    if scheme not in SCHEMES:
        raise ValueError(f"encode: unknown scheme {scheme!r}; known: {SCHEMES}")
    tags = ["O"] * n
    previous_end, previous_type = -1, None
    for start, end, kind in sorted(spans):
        for i in range(start, end):
            tags[i] = f"I-{kind}"
        if scheme == "BIO" or (scheme == "IOB1" and previous_end == start and previous_type == kind):
            tags[start] = f"B-{kind}"
        elif scheme == "IOBES":
            if end - start == 1:
                tags[start] = f"S-{kind}"
            else:
                tags[start], tags[end - 1] = f"B-{kind}", f"E-{kind}"
        previous_end, previous_type = end, kind
    return tags


def convert(tags: list[str], scheme: str) -> list[str]:
    """The same entities, written in ``scheme``."""
    return encode(chunks(tags), len(tags), scheme)
