"""The window NER tagger: each token is classified from the window of tokens around it.

x = [e(w₋₂); e(w₋₁); e(w₀); e(w₁); e(w₂)], where each token's e(w) joins a word vector, a casing
vector and a suffix vector; then p(tag | window) = softmax(U tanh(Wx + b) + c) (``SoftmaxClassifier``).
The tagger predicts BIO tags; the entities it finds are read with conlleval's rules and written
back in the scheme of the data (IOB1, BIO or IOBES).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor, nn

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
        path = os.path.join(directory, CONFIG)
        try:
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
            config = TaggerConfig(**meta["config"])
            tagger = cls(
                config, features.Vocab(meta["words"]), features.Vocab(meta["suffixes"]), meta["labels"], meta["scheme"]
            )
        except FileNotFoundError:
            raise FileNotFoundError(f"load: {directory} has no {CONFIG}; save a model there with --save") from None
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"load: {path} is not a tagger configuration: {e}") from None
        tagger.model.load_state_dict(mg.load(os.path.join(directory, WEIGHTS)))
        return tagger
