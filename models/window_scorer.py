"""The lecture's window scorer: s = uᵀ tanh(Wx + b), trained with the max-margin objective.

x joins the vectors of a window of words ("museums in Paris are amazing"). A true window should
score at least 1 above a corrupted one, whose centre word is replaced by a random word:
J = max(0, 1 − s + s_c). The gradients are the lecture's: with δ = u ∘ f′(z),
∂s/∂u = h, ∂s/∂W = δ xᵀ, ∂s/∂b = δ, ∂s/∂x = Wᵀδ.

    python -m models.window_scorer   # trains on windows centred on entities of the default data

prints, on held-out windows, how often the true window outscores its corruption, before and after.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor, nn, optim
from minigrad.nn import functional as F


class WindowScorer(nn.Module):
    """s = uᵀ tanh(W [e(w₁); …; e(wₙ)] + b) for windows of word ids of shape (batch, window)."""

    def __init__(self, n_words: int, dim: int = 50, window: int = 5, hidden: int = 100, dtype: Any = np.float32,
                 rng: Any = None) -> None:  # fmt: skip
        super().__init__()
        rng = np.random.default_rng(rng)
        self.window = window
        self.embed = nn.Embedding(n_words, dim, dtype=dtype, rng=rng)
        self.hidden = nn.Linear(window * dim, hidden, dtype=dtype, rng=rng, gain=nn.init.calculate_gain("tanh"))
        self.u = nn.Parameter(rng.standard_normal(hidden) / np.sqrt(hidden), dtype=dtype)

    def forward(self, windows: np.ndarray) -> Tensor:
        x = self.embed(windows).reshape(windows.shape[0], -1)  # the concatenated word vectors
        return mg.tanh(self.hidden(x)) @ self.u

    def loss(self, windows: np.ndarray, corrupted: np.ndarray) -> Tensor:
        """Mean of J = max(0, 1 − s + s_c) over the batch."""
        return F.margin_ranking_loss(self(windows), self(corrupted), 1, margin=1.0)


def corrupt(windows: np.ndarray, n_words: int, rng: np.random.Generator) -> np.ndarray:
    """The windows with the centre word replaced by a different random word id (ids ≥ 2: no pad/unk)."""
    out = windows.copy()
    centre = windows.shape[1] // 2
    replacement = rng.integers(2, n_words - 1, len(windows))
    out[:, centre] = np.where(replacement >= windows[:, centre], replacement + 1, replacement)
    return out


def ranking_accuracy(model: WindowScorer, windows: np.ndarray, corrupted: np.ndarray) -> float:
    """The fraction of windows that score above their corruption."""
    with mg.no_grad():
        return float(np.mean(model(windows).data > model(corrupted).data))


def main() -> int:
    from . import data, features

    train, dev, _ = data.default_splits()
    vocab = features.Vocab.build((features.normalise(w) for s in train for w in s.words), min_count=2)

    def entity_windows(sentences: list) -> np.ndarray:
        win = features.windows([s.words for s in sentences], vocab, vocab, half=2)[..., 0]
        tags = np.array([t for s in sentences for t in s.tags])
        return win[(tags != "O") & (win[:, 2] > 1)]  # centred on a known entity word

    rng = np.random.default_rng(0)
    train_w, test_w = entity_windows(train), entity_windows(dev)
    test_c = corrupt(test_w, len(vocab), rng)
    model = WindowScorer(len(vocab), rng=0)
    opt = optim.Adagrad(model.parameters(), lr=0.05)
    print(f"{len(train_w):,} training windows centred on entities, {len(test_w):,} held out; {len(vocab):,} words")
    print(f"held-out ranking accuracy before training: {ranking_accuracy(model, test_w, test_c):.3f}")
    start = time.perf_counter()
    for epoch in range(1, 11):
        order, total = rng.permutation(len(train_w)), 0.0
        for first in range(0, len(order), 32):
            batch = train_w[order[first : first + 32]]
            opt.zero_grad()
            loss = model.loss(batch, corrupt(batch, len(vocab), rng))
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        acc = ranking_accuracy(model, test_w, test_c)
        print(f"epoch {epoch:2d}: J {total / len(order):.4f}  held-out ranking accuracy {acc:.3f}")
    print(f"took {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
