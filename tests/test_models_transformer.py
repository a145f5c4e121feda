"""models/sort_transformer.py: the data are sorted sequences, the model's gradients are right, and a tiny run
learns (its loss drops well below chance); the full target (>= 99% token accuracy) is the module's own run."""

from __future__ import annotations

import numpy as np

from minigrad import nn
from minigrad.nn import functional as F
from minigrad.testing import gradcheck
from models.sort_transformer import SortTransformer, make_batch, train


def test_batches_are_digits_and_their_sorted_order():
    x, y = make_batch(np.random.default_rng(0), 5, 7)
    assert x.shape == y.shape == (5, 7) and x.min() >= 0 and x.max() <= 9
    np.testing.assert_array_equal(y, np.sort(x, axis=1))


def test_model_gradients_match_numerical():
    model = SortTransformer(4, d_model=8, nhead=2, layers=2, dim_feedforward=8, dtype=np.float64, rng=0)
    x, y = make_batch(np.random.default_rng(1), 2, 4)
    names = [n for n, _ in model.named_parameters()]
    some = ["encoder.layers.1.self_attn.in_proj_weight", "encoder.layers.0.norm2.weight", "position.weight"]

    def f(*params):
        full = {n: p for n, p in model.named_parameters()}
        full.update(dict(zip(some, params)))
        return F.cross_entropy(nn.functional_call(model, full, x), y)

    assert set(some) <= set(names)
    assert gradcheck(f, *[dict(model.named_parameters())[n].data for n in some])


def test_a_tiny_run_learns():
    rows = []
    _, history = train(epochs=3, steps_per_epoch=50, batch=32, length=5, lr=5e-3, warmup=10, held_out=200,
                       log=rows.append, d_model=32, nhead=2, dim_feedforward=32)  # fmt: skip
    assert len(rows) == 3 and "token accuracy" in rows[0]
    assert history[-1]["loss"] < 0.25 * np.log(10)  # chance is log 10
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert history[-1]["token_acc"] > 0.8
