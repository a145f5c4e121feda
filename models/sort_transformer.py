"""A two-layer transformer encoder that sorts sequences of digits: at each position, the digit that belongs there.

``python -m models.sort_transformer [--epochs N] [--steps-per-epoch N] [--length L] [--seed S]``

Input: a sequence of ``length`` random digits 0–9; target at position i: the i-th smallest of them (the sorted
sequence). Each epoch trains on freshly generated batches; accuracy is measured on held-out sequences drawn from
another generator (how many positions, and how many whole sequences, come out right). The model: digit
embeddings plus learned position embeddings, two ``nn.TransformerEncoderLayer`` (post-norm, ReLU, batch_first,
no dropout: the data never repeats), a linear read-out to the 10 digits, trained with Adam, a linear warm-up
and a cosine decay.
The step is compiled with ``mg.compile``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor, nn, optim
from minigrad.nn import functional as F

DIGITS = 10


def make_batch(rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(digits, their sorted order), each (batch, length) of integers."""
    x = rng.integers(0, DIGITS, (batch, length))
    return x, np.sort(x, axis=1)


class SortTransformer(nn.Module):
    """Embeddings of the digits and the positions, ``layers`` encoder layers, a read-out to the digits."""

    def __init__(
        self,
        length: int,
        d_model: int = 64,
        nhead: int = 4,
        layers: int = 2,
        dim_feedforward: int = 128,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        super().__init__()
        rng = np.random.default_rng(rng)
        self.embed = nn.Embedding(DIGITS, d_model, sparse=False, dtype=dtype, rng=rng, scale=1.0)
        self.position = nn.Embedding(length, d_model, sparse=False, dtype=dtype, rng=rng, scale=1.0)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0, batch_first=True,
                                           dtype=dtype, rng=rng)  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.out = nn.Linear(d_model, DIGITS, dtype=dtype, rng=rng)
        self.positions = np.arange(length)

    def forward(self, x: np.ndarray) -> Tensor:
        """Scores (batch, length, 10) of the digit at each position of the sorted sequence."""
        h = self.embed(x) + self.position(self.positions[: x.shape[1]])
        return self.out(self.encoder(h))


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """The learning rate's factor: linear from 0 to 1 over ``warmup`` steps, then a cosine down to 0.02."""
    if step < warmup:
        return (step + 1) / warmup
    done = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * done))


def accuracy(model: SortTransformer, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(the fraction of positions right, the fraction of sequences right in full)."""
    with mg.no_grad():
        right = model(x).data.argmax(axis=-1) == y
    return float(right.mean()), float(right.all(axis=1).mean())


def train(
    epochs: int = 8,
    steps_per_epoch: int = 150,
    batch: int = 64,
    length: int = 10,
    lr: float = 2e-3,
    warmup: int = 100,
    seed: int = 0,
    held_out: int = 2000,
    log: Any = print,
    **model_args: Any,
) -> tuple[SortTransformer, list[dict]]:
    """Train and evaluate after each epoch; returns the model and one row per epoch."""
    rng = np.random.default_rng(seed)
    model = SortTransformer(length, rng=rng, **model_args)
    opt = optim.Adam(model.parameters(), lr=lr)
    total = epochs * steps_per_epoch
    schedule = optim.lr_scheduler.LambdaLR(opt, lambda k: warmup_cosine(k, warmup, total))
    test_x, test_y = make_batch(np.random.default_rng(seed + 10_000), held_out, length)

    @mg.compile
    def step(x: np.ndarray, y: np.ndarray) -> Tensor:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    history = []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        losses = []
        for _ in range(steps_per_epoch):
            x, y = make_batch(rng, batch, length)
            opt.zero_grad()
            losses.append(float(step(x, y).data))
            opt.step()
            schedule.step()
        tokens, sequences = accuracy(model, test_x, test_y)
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "token_acc": tokens, "sequence_acc": sequences,
               "seconds": time.perf_counter() - start}  # fmt: skip
        history.append(row)
        log(f"epoch {epoch:3d}  loss {row['loss']:.4f}  held-out token accuracy {tokens:.4f}  "
            f"sequences {sequences:.4f}  ({row['seconds']:.1f} s)")  # fmt: skip
    return model, history


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps-per-epoch", type=int, default=150)
    parser.add_argument("--length", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    _, history = train(args.epochs, args.steps_per_epoch, length=args.length, seed=args.seed)
    last = history[-1]
    print()
    print("| sequence length | epochs | held-out token accuracy | whole sequences right | seconds |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.length} | {last['epoch']} | {last['token_acc']:.4f} | {last['sequence_acc']:.4f} "
        f"| {last['seconds']:.0f} |"
    )


if __name__ == "__main__":
    main()
