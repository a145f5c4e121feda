"""The tagger's settings, and reading them back from a saved model's ``config.json`` with every field checked.

A saved model's files are the user's, so anything may be in them: nothing is trusted before it is checked
(``Tagger.load`` in ``models/tagger.py`` then checks the weights' shapes against what this gives).
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, fields
from typing import Any

from . import conll, features

CONFIG = "config.json"


@dataclass
class TaggerConfig:
    half: int = 2  # window of 2·half + 1 tokens
    word_dim: int = 50
    case_dim: int = 5
    suffix_dim: int = 20
    hidden: int = 300
    dropout: float = 0.5
    min_count: int = 2  # words seen fewer times in training map to <unk>
    seed: int = 0
    crf: bool = False  # sentence-level log-likelihood (a linear-chain CRF over the window scores), Viterbi decoding


MAX_CONFIG_BYTES = 1 << 26  # config.json holds the vocabularies: a million words take about 15 MB

_INT_FIELDS = {"half": 0, "word_dim": 1, "case_dim": 1, "suffix_dim": 1, "hidden": 0, "min_count": 0, "seed": 0}
_TOP_FIELDS = ("config", "labels", "scheme", "words", "suffixes")


def read_config(directory: str | os.PathLike, path: str) -> Any:
    """The parsed JSON of ``config.json``: a regular file (a FIFO would block the open), of bounded size, UTF-8."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"load: {directory} has no {CONFIG}; save a model there with --save") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"load: {path} is not a regular file")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"load: {path} holds {info.st_size} bytes, more than the limit {MAX_CONFIG_BYTES}")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # in case it became a FIFO since the stat
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ValueError(f"load: {path} is not a regular file")
        raw = f.read(info.st_size + 1)  # read(n) allocates n bytes first: the size found, not the limit
        if len(raw) > info.st_size:  # it grew since the stat
            raw += f.read(MAX_CONFIG_BYTES + 1 - len(raw))
    if len(raw) > MAX_CONFIG_BYTES:
        raise ValueError(f"load: {path} holds more than {MAX_CONFIG_BYTES} bytes, the limit")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"load: {path} is not UTF-8 text: {e}") from None
    except (ValueError, RecursionError) as e:  # RecursionError: arrays nested thousands deep
        raise ValueError(f"load: {path} is not a tagger configuration (not JSON): {e}") from None


def parse_config(path: str, meta: Any) -> tuple[TaggerConfig, list[str], list[str], list[str], str]:
    """(config, words, suffixes, labels, scheme) from parsed ``config.json``, each field's type and range checked."""

    def bad(problem: str) -> ValueError:
        return ValueError(f"load: {path} is not a tagger configuration: {problem}")

    if not isinstance(meta, dict):
        raise bad(f"expected a JSON object, found {type(meta).__name__}")
    missing = [k for k in _TOP_FIELDS if k not in meta]
    unexpected = [k for k in meta if k not in _TOP_FIELDS]
    if missing or unexpected:
        raise bad(f"missing fields {missing}, unexpected fields {unexpected}")
    settings = meta["config"]
    if not isinstance(settings, dict):
        raise bad(f"'config' is a {type(settings).__name__}, not an object")
    known = [f.name for f in fields(TaggerConfig)]
    unknown = [k for k in settings if k not in known]
    if unknown:
        raise bad(f"'config' has unknown settings {unknown}; known: {known}")
    for key, value in settings.items():  # a missing setting takes its default, as when the model was made
        if key == "crf":
            if not isinstance(value, bool):
                raise bad(f"config.crf must be true or false, got {value!r}")
        elif key == "dropout":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise bad(f"config.dropout must be a number in [0, 1), got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"config.{key} must be an integer, got {value!r}")
        elif value < _INT_FIELDS[key]:
            raise bad(f"config.{key} must be at least {_INT_FIELDS[key]}, got {value}")
    words = _strings(meta["words"], "words", bad, vocab=True)
    suffixes = _strings(meta["suffixes"], "suffixes", bad, vocab=True)
    labels = _strings(meta["labels"], "labels", bad)
    if not labels or labels[0] != "O":
        raise bad(f"labels must start with 'O' (the tag of unseen labels), got {labels[:3]}")
    odd = next((t for t in labels if not _LABEL.match(t)), None)
    if odd is not None:
        raise bad(f"the label {odd!r} is not O or B-/I- followed by a type")
    scheme = meta["scheme"]
    if not isinstance(scheme, str) or scheme not in conll.SCHEMES:
        raise bad(f"scheme {scheme!r} is not one of {conll.SCHEMES}")
    return TaggerConfig(**settings), words, suffixes, labels, scheme


_LABEL = re.compile(r"^(O|[BI]-\S+)$")  # BIO tags: the model predicts BIO and converts


def _strings(items: Any, field: str, bad: Any, vocab: bool = False) -> list[str]:
    """``items`` if it is a list of distinct strings (a vocabulary's starting with <pad>, <unk>)."""
    if not isinstance(items, list):
        raise bad(f"'{field}' is a {type(items).__name__}, not a list of strings")
    for x in items:
        if not isinstance(x, str):
            raise bad(f"'{field}' holds {x!r}, which is not a string")
    seen: set[str] = set()
    for x in items:
        if x in seen:  # a vocabulary's ids would no longer be its positions
            raise bad(f"'{field}' holds {x!r} twice")
        seen.add(x)
    if vocab and items[:2] != [features.PAD, features.UNK]:
        raise bad(f"'{field}' must start with {features.PAD!r}, {features.UNK!r}, got {items[:2]}")
    return items
