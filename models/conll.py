"""Reading CoNLL-style files and moving between tag schemes (IOB1, IOB2/BIO, IOBES).

A file has one token per line, the word in the first column and the tag in the last (two columns,
word and tag, or four, word POS chunk tag; tabs or spaces). Blank lines (or lines of whitespace)
end a sentence; ``-DOCSTART-`` lines are skipped. Entities are read with the CoNLL scorer's rules
(``models.conlleval.chunks``), so every scheme reads the same way and can be written in any other.
"""

from __future__ import annotations

import os
import re
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


def read_conll(path: str | os.PathLike, tagged: bool = True) -> list[Sentence]:
    """The sentences of a CoNLL file; with ``tagged=False`` only the first column is read."""
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    name = os.fspath(path)
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise ConllError(f"{name}: no such file") from None
    with f:
        try:
            for number, line in enumerate(f, start=1):
                cols = line.split()
                if not cols or cols[0] == "-DOCSTART-":
                    if words:
                        sentences.append(Sentence(words, tags))
                        words, tags = [], []
                    continue
                if tagged:
                    if len(cols) < 2:
                        raise ConllError(f"{name}:{number}: expected a word and a tag, got {line.rstrip()!r}")
                    if not _TAG.match(cols[-1]):
                        raise ConllError(
                            f"{name}:{number}: tag {cols[-1]!r} is not O or B-/I-/E-/S- followed by a type"
                        )
                    tags.append(cols[-1])
                words.append(cols[0])
        except UnicodeDecodeError as e:
            raise ConllError(f"{name}: not UTF-8 text ({e})") from None
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
