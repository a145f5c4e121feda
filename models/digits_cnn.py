"""A small CNN on scikit-learn's 8×8 handwritten digits (``sklearn.datasets.load_digits``, 1,797 images).

``python -m models.digits_cnn [--epochs 30] [--batch 32] [--seed 0]``

conv 1→16 k3 (padding 1), relu, conv 16→32 k3 (padding 1), relu, max-pool 2, flatten, dropout 0.3,
linear 512→10; Adam (lr 3e-3), cross-entropy, a fixed-seed stratified
80/20 split, the learning rate annealed along a cosine, each training image shifted by up to one pixel
(a random crop of the image padded by one). Pixels (0..16) are scaled to [0, 1]. scikit-learn is an optional
extra (``pip install minigrad[data]``).
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # one BLAS thread: small matrices, and spinning threads fight on a busy machine
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
import time
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import functional as F


def digits_cnn(rng: Any = 0, dtype: Any = np.float32) -> nn.Sequential:
    rng = np.random.default_rng(rng)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, dtype=dtype, rng=rng),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, dtype=dtype, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.3, rng=rng),
        nn.Linear(512, 10, dtype=dtype, rng=rng),
    )


def load(seed: int = 0, test_fraction: float = 0.2) -> tuple:
    """(x_train, y_train, x_test, y_test): images (n, 1, 8, 8) in [0, 1], a stratified split fixed by ``seed``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c in range(10):  # the same share of each class in the test set
        members = rng.permutation(np.flatnonzero(y == c))
        test[members[: round(len(members) * test_fraction)]] = True
    return x[~test], y[~test], x[test], y[test]


def shifted(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image moved by −1, 0 or 1 pixel along each axis (zeros come in): a random 8×8 crop of x padded by 1."""
    n, c, h, w = x.shape
    framed = np.zeros((n, c, h + 2, w + 2), dtype=x.dtype)
    framed[:, :, 1:-1, 1:-1] = x
    crops = np.lib.stride_tricks.sliding_window_view(framed, (h, w), axis=(2, 3))  # (n, c, 3, 3, h, w)
    dy, dx = rng.integers(0, 3, n), rng.integers(0, 3, n)
    return crops[np.arange(n), :, dy, dx]


def accuracy(net: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    """The share of images classified right, in evaluation mode (no dropout)."""
    net.eval()
    with mg.no_grad():
        hits = sum(
            int((net(x[i : i + batch]).data.argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(y), batch)
        )
    net.train()
    return hits / len(y)


def train(
    epochs: int = 30,
    batch: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    data: Any = None,
    log: Any = print,
    shift: bool = True,
):
    """Train the CNN; returns (net, history: a list of dicts per epoch with the mean loss and accuracies)."""
    x_train, y_train, x_test, y_test = load(seed) if data is None else data
    net = digits_cnn(seed)
    opt = optim.Adam(net.parameters(), lr=lr)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    rng = np.random.default_rng(seed + 1)

    @mg.compile
    def step(xb, yb):
        loss = F.cross_entropy(net(xb), yb)
        loss.backward()
        return loss

    history = []
    for epoch in range(1, epochs + 1):
        start, losses = time.perf_counter(), []
        order = rng.permutation(len(y_train))
        for i in range(0, len(order) - batch + 1, batch):  # full batches only: one shape for mg.compile
            idx = order[i : i + batch]
            opt.zero_grad()
            xb = shifted(x_train[idx], rng) if shift else x_train[idx]
            losses.append(float(step(xb, y_train[idx]).data))
            opt.step()
        schedule.step()
        row = {
            "epoch": epoch,
            "loss": float(np.mean(losses)),
            "train_acc": accuracy(net, x_train, y_train),
            "test_acc": accuracy(net, x_test, y_test),
            "seconds": time.perf_counter() - start,
        }
        history.append(row)
        log(
            f"epoch {epoch:2d}  loss {row['loss']:.4f}  train {row['train_acc']:.2%}  test {row['test_acc']:.2%}  "
            f"({row['seconds']:.1f} s)"
        )
    return net, history


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.digits_cnn", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("models.digits_cnn needs scikit-learn for its data: pip install 'minigrad[data]'", file=sys.stderr)
        return 1
    start = time.perf_counter()
    _, history = train(args.epochs, args.batch, args.lr, args.seed)
    total = time.perf_counter() - start
    last = history[-1]
    print(f"\n{'epochs':<8} {'train acc':>10} {'test acc':>10} {'time':>8}")
    print(f"{len(history):<8} {last['train_acc']:>10.2%} {last['test_acc']:>10.2%} {total:>7.1f}s")
    print("(train accuracy in evaluation mode, on the unshifted images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
