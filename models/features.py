"""Token features and window indices for the window models.

Each token gives one id per feature: its normalised word, its casing class, and its suffix. A window
of ``2·half + 1`` tokens centred on a token (padded with ``<pad>`` at sentence edges) gives an integer
array of shape (window, n_features); a corpus gives (tokens, window, n_features), built once with
NumPy, so training only slices it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np

PAD, UNK = "<pad>", "<unk>"
_DIGITS = re.compile(r"\d")
_URL = re.compile(r"^(https?://|www\.)", re.IGNORECASE)

CASES = ("<pad>", "lower", "upper", "title", "mixed", "number", "has-digit", "punct", "other", "@user", "#tag", "url")


def normalise(word: str) -> str:
    """The word as the vocabulary sees it: lowercased, digits as 0, URLs and @mentions collapsed."""
    if _URL.match(word):
        return "<url>"
    if len(word) > 1 and word[0] == "@":
        return "<user>"
    return _DIGITS.sub("0", word.lower())


def casing(word: str) -> int:
    """The index in ``CASES`` of the word's shape: the capitalisation a lowercased vocabulary loses."""
    if _URL.match(word):
        return CASES.index("url")
    if len(word) > 1 and word[0] == "@":
        return CASES.index("@user")
    if len(word) > 1 and word[0] == "#":
        return CASES.index("#tag")
    if word.isdigit():
        return CASES.index("number")
    if any(ch.isdigit() for ch in word):
        return CASES.index("has-digit")
    if word.islower():
        return CASES.index("lower")
    if word.isupper():
        return CASES.index("upper")
    if word[0].isupper() and (len(word) == 1 or not any(ch.isupper() for ch in word[1:])):
        return CASES.index("title")
    if any(ch.isalpha() for ch in word):
        return CASES.index("mixed")
    if all(not ch.isalnum() for ch in word):
        return CASES.index("punct")
    return CASES.index("other")


def suffix(word: str, n: int = 3) -> str:
    return normalise(word)[-n:]


class Vocab:
    """Strings to ids: 0 is ``<pad>``, 1 is ``<unk>`` (every string not kept maps there)."""

    def __init__(self, items: Iterable[str]) -> None:
        self.items = [PAD, UNK, *(s for s in items if s not in (PAD, UNK))]
        self.index = {s: i for i, s in enumerate(self.items)}

    @classmethod
    def build(cls, strings: Iterable[str], min_count: int = 1) -> Vocab:
        """Strings seen at least ``min_count`` times, most frequent first (ties alphabetically)."""
        counts = Counter(strings)
        return cls(s for s, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count)

    def __len__(self) -> int:
        return len(self.items)

    def ids(self, strings: Iterable[str]) -> np.ndarray:
        get = self.index.get
        return np.fromiter((get(s, 1) for s in strings), dtype=np.int64)


def token_ids(words: list[str], words_vocab: Vocab, suffix_vocab: Vocab) -> np.ndarray:
    """(len(words), 3) ids of word, casing and suffix for one sentence."""
    out = np.empty((len(words), 3), dtype=np.int64)
    out[:, 0] = words_vocab.ids(normalise(w) for w in words)
    out[:, 1] = [casing(w) for w in words]
    out[:, 2] = suffix_vocab.ids(suffix(w) for w in words)
    return out


def windows(sentences: list[list[str]], words_vocab: Vocab, suffix_vocab: Vocab, half: int) -> np.ndarray:
    """(tokens, 2·half + 1, 3) feature ids of every token's window, sentence after sentence."""
    if not sentences:
        return np.zeros((0, 2 * half + 1, 3), dtype=np.int64)
    pad = np.zeros((half, 3), dtype=np.int64)  # id 0 of every feature is <pad>
    stream, starts = [], []
    offset = 0
    for words in sentences:
        ids = token_ids(words, words_vocab, suffix_vocab)
        stream += [pad, ids]
        starts.append(np.arange(len(words)) + offset)
        offset += len(words) + half
    stream.append(pad)
    padded = np.concatenate(stream)
    # padded[j : j + 2·half + 1] is the window of the token at padded position j + half
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0)  # (positions, 3, window)
    return np.ascontiguousarray(view[np.concatenate(starts)].transpose(0, 2, 1))
