"""Issue #20 for nn: an embedding table used outside its lookups (tied weights) trains as a dense one, eager and
compiled; the lazy update is kept where the gradient came from lookups alone."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import functional as F

OPTIMIZERS = [
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    (optim.Adam, {"lr": 0.05}),
    (optim.Adagrad, {"lr": 0.1}),
]


class TiedLM(nn.Module):
    """Next-token logits h Eᵀ from the same table E that embeds the tokens (weight tying)."""

    def __init__(self, sparse: bool, vocab: int = 12, dim: int = 4) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, sparse=sparse, dtype=np.float64, rng=0)
        self.hidden = nn.Linear(dim, dim, dtype=np.float64, rng=1)

    def forward(self, ids):
        h = mg.tanh(self.hidden(self.emb(ids)))
        return h @ self.emb.weight.T


def train_tied(sparse, opt_cls, kw, compiled=False, steps=6):
    model = TiedLM(sparse)
    opt = opt_cls(model.parameters(), **kw)

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    run = mg.compile(step) if compiled else step
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x, y = rng.integers(0, 12, size=(2, 3))  # 3 tokens: most rows of the table are not looked up
        opt.zero_grad()
        run(x, y)
        opt.step()
    return model.state_dict()


@pytest.mark.parametrize("opt_cls, kw", OPTIMIZERS)
def test_a_tied_language_model_trains_as_with_a_dense_table(opt_cls, kw):
    tied, dense = train_tied(True, opt_cls, kw), train_tied(False, opt_cls, kw)
    for name in dense:
        np.testing.assert_array_equal(tied[name], dense[name], err_msg=name)


@pytest.mark.parametrize("opt_cls, kw", OPTIMIZERS[:2])
def test_a_compiled_tied_language_model_trains_as_the_eager_dense_one(opt_cls, kw):
    compiled, dense = train_tied(True, opt_cls, kw, compiled=True), train_tied(False, opt_cls, kw)
    for name in dense:  # the replay multiplies in another order: equal to rounding
        np.testing.assert_allclose(compiled[name], dense[name], rtol=1e-12, atol=1e-14, err_msg=name)


def embedding_steps(sparse, extra, opt_cls=optim.Adam, dtype=np.float32, **kw):
    """Three steps on lookups of rows 1 and 3, plus ``extra(weight, ids)`` added to the loss; the table after each."""
    emb = nn.Embedding(8, 3, sparse=sparse, dtype=dtype, rng=0)
    opt = opt_cls(emb.parameters(), lr=0.1, **kw)
    history = []
    for ids in ([1, 3], [3], [1]):
        opt.zero_grad()
        loss = (emb(np.array(ids)) ** 2).sum()
        (loss + extra(emb.weight, np.array(ids))).backward()
        opt.step()
        history.append(emb.weight.data.copy())
    return history


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_the_smallest_gradient_on_a_row_not_looked_up_gives_the_dense_update(dtype):
    tiny = float(np.finfo(dtype).tiny)  # the smallest normal number: any nonzero gradient is seen
    extra = lambda w, ids: w[6].sum() * tiny
    decay = {"opt_cls": optim.SGD, "dtype": dtype, "weight_decay": 0.1}  # a dense step moves every row
    got, want = embedding_steps(True, extra, **decay), embedding_steps(False, extra, **decay)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    lazy = embedding_steps(True, lambda w, ids: 0 * w[6].sum(), **decay)
    assert not np.array_equal(lazy[-1][0], want[-1][0])  # row 0, never looked up: moved by the decay only


def test_a_nan_gradient_on_a_row_not_looked_up_is_applied_not_hidden():
    extra = lambda w, ids: (w[5] * np.nan).sum()
    table = embedding_steps(True, extra, opt_cls=optim.SGD)[0]
    assert np.isnan(table[5]).all()  # as a dense table: the lazy update left row 5 finite, the nan unseen
    np.testing.assert_array_equal(table, embedding_steps(False, extra, opt_cls=optim.SGD)[0])


def test_a_use_that_reaches_only_looked_up_rows_keeps_the_lazy_update():
    # w[ids] by getitem beside the lookup of ids: the gradient still comes to looked-up rows only
    extra = lambda w, ids: (w[ids] ** 2).sum()
    first, second, _ = embedding_steps(True, extra)
    assert np.array_equal(second[1], first[1])  # row 1 not looked up at step 2: Adam's momentum did not move it
    assert not np.array_equal(embedding_steps(False, extra)[1][1], first[1])  # (the dense table moves it)


def test_a_negative_zero_gradient_outside_the_lookups_is_no_gradient():
    extra = lambda w, ids: (w[np.array([0, 2, 4])] * -0.0).sum()  # -0.0 in rows 0, 2, 4: nonzero bits
    lazy = embedding_steps(True, lambda w, ids: 0.0)
    for got, want in zip(embedding_steps(True, extra), lazy):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(embedding_steps(False, extra)[1][1], lazy[0][1])  # (dense would move row 1)


@pytest.mark.parametrize("opt_cls, kw", OPTIMIZERS[:2])
def test_a_table_once_used_outside_its_lookups_keeps_the_dense_update_when_that_use_gives_zeros(opt_cls, kw):
    """Step 1: a penalty on rows 5 and 6 gives them a gradient (the dense update starts). Step 2: the same
    penalty is multiplied by 0 (a relu-masked use would do this): the gradient outside the lookups is exactly
    zero, but rows 5 and 6 carry momentum and must keep moving as under the dense update."""

    def run(sparse):
        emb = nn.Embedding(8, 3, sparse=sparse, dtype=np.float64, rng=0)
        opt = opt_cls(emb.parameters(), **kw)
        for scale in (1.0, 0.0, 0.0):
            opt.zero_grad()
            loss = (emb(np.array([1, 3])) ** 2).sum() + scale * (emb.weight[5:7] ** 2).sum()
            loss.backward()
            opt.step()
        return emb.weight.data.copy()

    lazy, dense = run(True), run(False)
    np.testing.assert_array_equal(lazy, dense)
    assert not np.array_equal(dense[5:7], nn.Embedding(8, 3, dtype=np.float64, rng=0).weight.data[5:7])
