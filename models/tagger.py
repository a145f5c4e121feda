"""The window NER tagger: each token is classified from the window of tokens around it.

x = [e(w₋₂); e(w₋₁); e(w₀); e(w₁); e(w₂)], where each token's e(w) joins a word vector, a casing
vector and a suffix vector; then p(tag | window) = softmax(U tanh(Wx + b) + c) (``SoftmaxClassifier``).
The tagger predicts BIO tags; the entities it finds are read with conlleval's rules and written
back in the scheme of the data (IOB1, BIO or IOBES).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor, nn
from minigrad.nn import functional as F
from minigrad.serialization import read_headers

from . import conll, features
from .crf import CRF, bio_constraints, padded_index, viterbi_ids
from .softmax_classifier import SoftmaxClassifier
from .tagger_config import CONFIG, TaggerConfig, parse_config, read_config

WEIGHTS = "weights.npz"
__all__ = ["CONFIG", "WEIGHTS", "Tagger", "TaggerConfig", "WindowTagger", "weight_shapes"]


class WindowTagger(nn.Module):
    """Embeddings of the window's word, casing and suffix ids, then a softmax classifier."""

    def __init__(self, n_words: int, n_suffixes: int, n_labels: int, config: TaggerConfig, dtype: Any = np.float32,
                 labels: list[str] | None = None) -> None:  # fmt: skip
        super().__init__()
        rng = np.random.default_rng(config.seed)
        self.words = nn.Embedding(n_words, config.word_dim, dtype=dtype, rng=rng)
        self.cases = nn.Embedding(len(features.CASES), config.case_dim, dtype=dtype, rng=rng)
        self.suffixes = nn.Embedding(n_suffixes, config.suffix_dim, dtype=dtype, rng=rng)
        width = (2 * config.half + 1) * (config.word_dim + config.case_dim + config.suffix_dim)
        self.classifier = SoftmaxClassifier(width, n_labels, config.hidden, config.dropout, dtype, rng)
        if config.crf:  # the BIO constraints are enforced when the labels are known (see models/crf.py)
            self.crf = CRF(n_labels, *(bio_constraints(labels) if labels else (None, None)), dtype=dtype)
        else:
            self.crf = None

    def forward(self, windows: np.ndarray) -> Tensor:
        """Logits of shape (batch, labels) for windows of feature ids of shape (batch, window, 3)."""
        parts = [self.words(windows[..., 0]), self.cases(windows[..., 1]), self.suffixes(windows[..., 2])]
        x = mg.concatenate(parts, axis=-1)
        return self.classifier(x.reshape(windows.shape[0], -1))

    def loss(self, windows: np.ndarray, targets: np.ndarray, lengths: np.ndarray) -> Tensor:
        """The training loss of whole sentences, their tokens' windows and label ids one after the other:
        mean cross-entropy per token (WLL), or with a CRF −log p(tag path) summed and divided by the tokens (SLL)."""
        logits = self(windows)
        if self.crf is None:
            return F.cross_entropy(logits, targets)
        index = padded_index(lengths)  # (sentences, time) rows of logits
        return self.crf.loss(logits[index], targets[index], lengths)


class Tagger:
    """A trained tagger with everything needed to use it: vocabularies, labels, scheme, model."""

    def __init__(self, config: TaggerConfig, words: features.Vocab, suffixes: features.Vocab, labels: list[str],
                 scheme: str = "BIO") -> None:  # fmt: skip
        self.config, self.words, self.suffixes, self.labels, self.scheme = config, words, suffixes, labels, scheme
        self.label_index = {t: i for i, t in enumerate(labels)}
        self.model = WindowTagger(len(words), len(suffixes), len(labels), config, labels=labels)

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

    def predict_ids(self, windows: np.ndarray, lengths: np.ndarray, batch: int = 4096) -> np.ndarray:
        """The label id of every token: the best of each token alone (WLL), or of the best path (CRF, Viterbi)."""
        self.model.eval()
        with mg.no_grad():
            logits = [self.model(windows[i : i + batch]).data for i in range(0, len(windows), batch)]
        self.model.train()
        if not logits:
            return np.zeros(0, dtype=np.int64)
        scores = np.concatenate(logits)
        if self.model.crf is None:
            return np.argmax(scores, axis=1)
        return viterbi_ids(self.model.crf, scores, np.asarray(lengths))

    def predict(self, sentences: list[list[str]], scheme: str | None = None) -> list[list[str]]:
        """Tags for each sentence, in ``scheme`` (default: the scheme of the training data)."""
        ids = self.predict_ids(self.windows(sentences), np.array([len(s) for s in sentences], dtype=np.int64))
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
        config, words, suffixes, labels, scheme = parse_config(path, read_config(directory, path))
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
    if config.crf:
        shapes.update({"crf.transitions": (n_labels, n_labels), "crf.start": (n_labels,), "crf.end": (n_labels,)})
    return shapes


def _describe(config: TaggerConfig, n_words: int, n_suffixes: int, n_labels: int) -> str:
    sizes = ", ".join(f"{k}={getattr(config, k)}" for k in ("half", "word_dim", "case_dim", "suffix_dim", "hidden"))
    return f"{sizes}, {n_words} words, {n_suffixes} suffixes, {n_labels} labels"
