"""The window NER tagger in plain NumPy with hand-derived gradients, timed against minigrad in one run.

    python benchmarks/ner_reference.py [--batch 64] [--steps 200] [--rounds 5]

Both train the same model (``models.tagger.WindowTagger``: word, casing and suffix embeddings of a
5-token window, a tanh hidden layer, dropout, softmax cross-entropy) with the same Adam, updating
only the looked-up embedding rows. Before timing, one step of each from the same parameters and
batch (dropout off) must give the same loss and the same parameters. Then the two take training
steps in turn, ``--rounds`` times over ``--steps`` batches, so that machine noise hits both alike;
the ratio of the median step times is printed. Run from the checkout root (``models`` is not installed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # as models.ner does
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from minigrad import optim  # noqa: E402
from minigrad.nn import functional as F  # noqa: E402
from models import data  # noqa: E402
from models.tagger import Tagger, TaggerConfig  # noqa: E402


class Adam:
    """Adam on a dict of arrays; ``rows`` restricts a table's update to the rows looked up (lazy)."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, b1: float = 0.9, b2: float = 0.999) -> None:
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, b1, b2, 1e-8
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = dict.fromkeys(params, 0)

    def update(self, name: str, g: np.ndarray, rows: np.ndarray | None = None) -> None:
        self.t[name] += 1
        t, b1, b2 = self.t[name], self.b1, self.b2
        p, m, v = self.params[name], self.m[name], self.v[name]
        if rows is not None:
            p, m, v = p[rows], m[rows], v[rows]
        scratch = (1 - b1) * g  # in place through one scratch array, as fast as NumPy allows
        m *= b1
        m += scratch
        np.multiply(g, g, out=scratch)
        scratch *= 1 - b2
        v *= b2
        v += scratch
        c = np.sqrt(1 - b2**t)
        np.sqrt(v, out=scratch)
        scratch += self.eps * c
        np.divide(m, scratch, out=scratch)
        scratch *= self.lr * c / (1 - b1**t)
        p -= scratch
        if rows is not None:
            self.params[name][rows], self.m[name][rows], self.v[name][rows] = p, m, v


class NumpyTagger:
    """The same network as ``WindowTagger``, forward and backward written by hand."""

    TABLES = ("words.weight", "cases.weight", "suffixes.weight")

    def __init__(self, state: dict[str, np.ndarray], dropout: float, lr: float, seed: int = 0) -> None:
        self.p = {k: v.copy() for k, v in state.items()}
        self.dropout, self.rng = dropout, np.random.default_rng(seed)
        self.opt = Adam(self.p, lr)

    def step(self, windows: np.ndarray, y: np.ndarray) -> float:
        p, keep = self.p, 1.0 - self.dropout
        tables = [p[name] for name in self.TABLES]
        b, w = windows.shape[:2]
        x = np.concatenate([t[windows[..., i]] for i, t in enumerate(tables)], axis=-1).reshape(b, -1)
        mask_x = mask_h = None
        if self.dropout:
            mask_x = ((self.rng.random(x.shape) >= self.dropout) / keep).astype(x.dtype)
            x = x * mask_x
        w1, b1, w2, b2 = (
            p["classifier.hidden.weight"],
            p["classifier.hidden.bias"],
            p["classifier.out.weight"],
            p["classifier.out.bias"],
        )  # noqa: E501
        h = np.tanh(x @ w1.T + b1)  # z = W x + b, h = f(z)
        hd = h
        if self.dropout:
            mask_h = ((self.rng.random(h.shape) >= self.dropout) / keep).astype(h.dtype)
            hd = h * mask_h
        logits = hd @ w2.T + b2
        shifted = logits - logits.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -logp[np.arange(b), y].mean()
        # backward: ∂ℓ/∂logits = (softmax − onehot)/B; ∂/∂W = δᵀ·input; ∂h/∂z = diag(1 − h²)
        d_logits = np.exp(logp)
        d_logits[np.arange(b), y] -= 1
        d_logits /= b
        d_hd = d_logits @ w2
        self.opt.update("classifier.out.weight", d_logits.T @ hd)
        self.opt.update("classifier.out.bias", d_logits.sum(axis=0))
        d_h = d_hd * mask_h if mask_h is not None else d_hd
        d_z = d_h * (1 - h * h)
        d_x = d_z @ w1
        self.opt.update("classifier.hidden.weight", d_z.T @ x)
        self.opt.update("classifier.hidden.bias", d_z.sum(axis=0))
        if mask_x is not None:
            d_x = d_x * mask_x
        d_x = d_x.reshape(b, w, -1)
        start = 0
        for i, (name, table) in enumerate(zip(self.TABLES, tables)):
            dim = table.shape[1]
            ids = windows[..., i].ravel()
            rows, inverse = np.unique(ids, return_inverse=True)
            # ∂ℓ/∂E[r] = Σ of the window gradients at the positions that looked r up; np.bincount adds
            # them up 3x faster than np.add.at
            flat = (inverse[:, None] * dim + np.arange(dim)).ravel()
            g = np.bincount(flat, d_x[..., start : start + dim].ravel(), len(rows) * dim)
            self.opt.update(name, g.reshape(len(rows), dim).astype(table.dtype), rows)
            start += dim
        return float(loss)


class MinigradTrainer:
    """The training step of ``models.train.fit``."""

    def __init__(self, tagger: Tagger, lr: float) -> None:
        self.model = tagger.model
        self.opt = optim.Adam(self.model.parameters(), lr=lr)

    def step(self, windows: np.ndarray, y: np.ndarray) -> float:
        self.opt.zero_grad()
        loss = F.cross_entropy(self.model(windows), y)
        loss.backward()
        self.opt.step()
        return loss.item()


def check_same(tagger: Tagger, windows: np.ndarray, y: np.ndarray) -> None:
    """One step from the same parameters (dropout off) gives the same loss and parameters."""
    config = TaggerConfig(**{**tagger.config.__dict__, "dropout": 0.0})
    twin = Tagger(config, tagger.words, tagger.suffixes, tagger.labels)
    ref = NumpyTagger(twin.model.state_dict(), 0.0, lr=1e-3)
    mine = MinigradTrainer(twin, lr=1e-3)
    for _ in range(3):
        a, b = mine.step(windows, y), ref.step(windows, y)
        assert np.isclose(a, b, rtol=1e-5), (a, b)
    for name, value in twin.model.state_dict().items():
        np.testing.assert_allclose(value, ref.p[name], rtol=1e-4, atol=1e-6, err_msg=name)
        assert ref.p[name].dtype == value.dtype, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    train = data.default_splits()[0]
    tagger = Tagger.for_data(train, TaggerConfig())
    windows, targets = tagger.windows([s.words for s in train]), tagger.targets(train)
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, len(targets), args.batch) for _ in range(args.steps)]
    check_same(tagger, windows[batches[0]], targets[batches[0]])
    mine = MinigradTrainer(tagger, lr=1e-3)
    ref = NumpyTagger(tagger.model.state_dict(), tagger.config.dropout, lr=1e-3)
    times: dict[str, list[float]] = {"minigrad": [], "numpy": []}
    for _ in range(args.rounds):  # step by step in turn, so that machine noise hits both alike
        for rows in batches:
            for name, trainer in (("minigrad", mine), ("numpy", ref)):
                t0 = time.perf_counter()
                trainer.step(windows[rows], targets[rows])
                times[name].append(time.perf_counter() - t0)
    t_mg, t_np = statistics.median(times["minigrad"]), statistics.median(times["numpy"])
    print(f"window NER tagger, batch {args.batch}, median of {len(times['numpy'])} training steps each")
    print(f"  minigrad      {t_mg * 1e3:7.3f} ms/step  {args.batch / t_mg:10,.0f} tokens/s")
    print(f"  numpy (hand)  {t_np * 1e3:7.3f} ms/step  {args.batch / t_np:10,.0f} tokens/s")
    print(f"  ratio         {t_mg / t_np:7.2f}x")


if __name__ == "__main__":
    main()
