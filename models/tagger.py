"""The window NER tagger: each token is classified from the window of tokens around it.

x = [e(w₋₂); e(w₋₁); e(w₀); e(w₁); e(w₂)], where each token's e(w) joins a word vector, a casing
vector and a suffix vector; then p(tag | window) = softmax(U tanh(Wx + b) + c) (``SoftmaxClassifier``).
The tagger predicts BIO tags; the entities it finds are read with conlleval's rules and written
back in the scheme of the data (IOB1, BIO or IOBES).
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor, nn
from minigrad.serialization import read_headers

from . import conll, features
from .softmax_classifier import SoftmaxClassifier

CONFIG, WEIGHTS = "config.json", "weights.npz"


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


class WindowTagger(nn.Module):
    """Embeddings of the window's word, casing and suffix ids, then a softmax classifier."""

    def __init__(self, n_words: int, n_suffixes: int, n_labels: int, config: TaggerConfig, dtype: Any = np.float32):
        super().__init__()
        rng = np.random.default_rng(config.seed)
        self.words = nn.Embedding(n_words, config.word_dim, dtype=dtype, rng=rng)
        self.cases = nn.Embedding(len(features.CASES), config.case_dim, dtype=dtype, rng=rng)
        self.suffixes = nn.Embedding(n_suffixes, config.suffix_dim, dtype=dtype, rng=rng)
        width = (2 * config.half + 1) * (config.word_dim + config.case_dim + config.suffix_dim)
        self.classifier = SoftmaxClassifier(width, n_labels, config.hidden, config.dropout, dtype, rng)

    def forward(self, windows: np.ndarray) -> Tensor:
        """Logits of shape (batch, labels) for windows of feature ids of shape (batch, window, 3)."""
        parts = [self.words(windows[..., 0]), self.cases(windows[..., 1]), self.suffixes(windows[..., 2])]
        x = mg.concatenate(parts, axis=-1)
        return self.classifier(x.reshape(windows.shape[0], -1))


class Tagger:
    """A trained tagger with everything needed to use it: vocabularies, labels, scheme, model."""

    def __init__(self, config: TaggerConfig, words: features.Vocab, suffixes: features.Vocab, labels: list[str],
                 scheme: str = "BIO") -> None:  # fmt: skip
        self.config, self.words, self.suffixes, self.labels, self.scheme = config, words, suffixes, labels, scheme
        self.label_index = {t: i for i, t in enumerate(labels)}
        self.model = WindowTagger(len(words), len(suffixes), len(labels), config)

    @classmethod
    def for_data(cls, train: list[conll.Sentence], config: TaggerConfig) -> Tagger:
        """Vocabularies and the BIO label set from the training sentences."""
        words = features.Vocab.build((features.normalise(w) for s in train for w in s.words), config.min_count)
        suffixes = features.Vocab.build((features.suffix(w) for s in train for w in s.words), config.min_count)
        bio = {t for s in train for t in conll.convert(s.tags, "BIO")}
        labels = ["O", *sorted(bio - {"O"}, key=lambda t: (t[2:], t[0]))]
        scheme = conll.detect_scheme([s.tags for s in train])
        return cls(config, words, suffixes, labels, scheme)

    def windows(self, sentences: list[list[str]]) -> np.ndarray:
        return features.windows(sentences, self.words, self.suffixes, self.config.half)

    def targets(self, sentences: list[conll.Sentence]) -> np.ndarray:
        """BIO label ids of every token; a tag never seen in training maps to O."""
        get = self.label_index.get
        return np.array([get(t, 0) for s in sentences for t in conll.convert(s.tags, "BIO")], dtype=np.int64)

    def predict_ids(self, windows: np.ndarray, batch: int = 4096) -> np.ndarray:
        self.model.eval()
        with mg.no_grad():
            out = [np.argmax(self.model(windows[i : i + batch]).data, axis=1) for i in range(0, len(windows), batch)]
        self.model.train()
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def predict(self, sentences: list[list[str]], scheme: str | None = None) -> list[list[str]]:
        """Tags for each sentence, in ``scheme`` (default: the scheme of the training data)."""
        ids = self.predict_ids(self.windows(sentences))
        out, start = [], 0
        for words in sentences:
            bio = [self.labels[i] for i in ids[start : start + len(words)]]
            out.append(conll.convert(bio, scheme or self.scheme))
            start += len(words)
        return out

    def save(self, directory: str | os.PathLike) -> None:
        """``config.json`` (settings, vocabularies, labels) and ``weights.npz`` (``mg.save``) in ``directory``."""
        os.makedirs(directory, exist_ok=True)
        meta = {
            "config": asdict(self.config),
            "labels": self.labels,
            "scheme": self.scheme,
            "words": self.words.items,
            "suffixes": self.suffixes.items,
        }
        with open(os.path.join(directory, CONFIG), "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False)
        mg.save(self.model.state_dict(), os.path.join(directory, WEIGHTS))

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Tagger:
        """The tagger that ``save`` wrote in ``directory``; every fault of its files is a ``ValueError`` naming one.

        Nothing is allocated before it is checked: ``config.json`` (a regular file of at most ``MAX_CONFIG_BYTES``)
        is parsed and each field's type and range checked, then the shapes the configuration and vocabularies
        give the weights are compared with the headers of ``weights.npz`` (read without its data, within
        ``mg.load``'s limits), and only then is the model made and its weights loaded.
        """
        path, weights = os.path.join(directory, CONFIG), os.path.join(directory, WEIGHTS)
        config, words, suffixes, labels, scheme = _parse_config(path, _read_config(directory, path))
        headers = read_headers(weights)  # a ValueError naming the file for a corrupt or hostile one
        expected = weight_shapes(config, len(words), len(suffixes), len(labels))
        missing = [k for k in expected if k not in headers]
        unexpected = [k for k in headers if k not in expected]
        if missing or unexpected:
            raise ValueError(
                f"load: {weights} does not hold the weights that {path} describes: missing {missing}, "
                f"unexpected {unexpected}"
            )
        for key, shape in expected.items():
            found, dtype = headers[key]
            if found != shape:
                raise ValueError(
                    f"load: {weights} holds '{key}' of shape {found}, but {path} makes it {shape} "
                    f"({_describe(config, len(words), len(suffixes), len(labels))})"
                )
            if dtype.kind != "f":
                raise ValueError(f"load: {weights} holds '{key}' of dtype {dtype}; the tagger's weights are floats")
        tagger = cls(config, features.Vocab(words), features.Vocab(suffixes), labels, scheme)
        state = mg.load(weights)
        try:
            tagger.model.load_state_dict(state)
        except (KeyError, ValueError) as e:  # the file changed since its headers were read, or a value is out of range
            raise ValueError(f"load: {weights}: {e.args[0] if e.args else e}") from None
        return tagger


MAX_CONFIG_BYTES = 1 << 26  # config.json holds the vocabularies: a million words take about 15 MB

_INT_FIELDS = {"half": 0, "word_dim": 1, "case_dim": 1, "suffix_dim": 1, "hidden": 0, "min_count": 0, "seed": 0}
_TOP_FIELDS = ("config", "labels", "scheme", "words", "suffixes")


def weight_shapes(config: TaggerConfig, n_words: int, n_suffixes: int, n_labels: int) -> dict[str, tuple[int, ...]]:
    """The shape of every weight of ``WindowTagger(n_words, n_suffixes, n_labels, config)``, without making it."""
    width = (2 * config.half + 1) * (config.word_dim + config.case_dim + config.suffix_dim)
    shapes = {
        "words.weight": (n_words, config.word_dim),
        "cases.weight": (len(features.CASES), config.case_dim),
        "suffixes.weight": (n_suffixes, config.suffix_dim),
    }
    if config.hidden:  # SoftmaxClassifier has no hidden layer for hidden=0
        shapes["classifier.hidden.weight"] = (config.hidden, width)
        shapes["classifier.hidden.bias"] = (config.hidden,)
    shapes["classifier.out.weight"] = (n_labels, config.hidden or width)
    shapes["classifier.out.bias"] = (n_labels,)
    return shapes


def _describe(config: TaggerConfig, n_words: int, n_suffixes: int, n_labels: int) -> str:
    sizes = ", ".join(f"{k}={getattr(config, k)}" for k in ("half", "word_dim", "case_dim", "suffix_dim", "hidden"))
    return f"{sizes}, {n_words} words, {n_suffixes} suffixes, {n_labels} labels"


def _read_config(directory: str | os.PathLike, path: str) -> Any:
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


def _parse_config(path: str, meta: Any) -> tuple[TaggerConfig, list[str], list[str], list[str], str]:
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
        if key == "dropout":
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
