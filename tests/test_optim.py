"""minigrad.optim: each update against its formula written out, and the row-sparse (lazy) embedding update."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim


def _quadratic_steps(opt_cls, n=3, **kw):
    """Run n steps on L = Σ (c ∘ p²)/2, whose gradient is c ∘ p; return the parameter history."""
    p = mg.tensor([1.0, -2.0, 3.0], dtype=np.float64, requires_grad=True)
    c = np.array([1.0, 0.5, 2.0])
    opt = opt_cls([p], **kw)
    history = []
    for _ in range(n):
        opt.zero_grad()
        (0.5 * (mg.tensor(c) * p * p)).sum().backward()
        opt.step()
        history.append(p.data.copy())
    return history, c


def test_sgd_momentum_weight_decay_formula():
    history, c = _quadratic_steps(optim.SGD, lr=0.1, momentum=0.9, weight_decay=0.01)
    p, v = np.array([1.0, -2.0, 3.0]), np.zeros(3)
    for got in history:
        v = 0.9 * v + (c * p + 0.01 * p)
        p = p - 0.1 * v
        np.testing.assert_allclose(got, p)


def test_adagrad_formula():
    history, c = _quadratic_steps(optim.Adagrad, lr=0.5)
    p, s = np.array([1.0, -2.0, 3.0]), np.zeros(3)
    for got in history:
        g = c * p
        s = s + g * g
        p = p - 0.5 * g / (np.sqrt(s) + 1e-10)
        np.testing.assert_allclose(got, p)


def test_adam_formula():
    history, c = _quadratic_steps(optim.Adam, lr=0.1, betas=(0.8, 0.9))
    p, m, v = np.array([1.0, -2.0, 3.0]), np.zeros(3), np.zeros(3)
    for t, got in enumerate(history, start=1):
        g = c * p
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g * g
        p = p - 0.1 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.9**t)) + 1e-8)
        np.testing.assert_allclose(got, p)


@pytest.mark.parametrize("opt_cls, lr", [(optim.SGD, 0.1), (optim.Adagrad, 0.5), (optim.Adam, 0.1)])
def test_optimizers_minimise_a_small_regression(opt_cls, lr):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    model = nn.Linear(3, 1, dtype=np.float64, rng=1)
    opt = opt_cls(model.parameters(), lr=lr)
    for _ in range(300):
        opt.zero_grad()
        loss = ((model(x)[:, 0] - y) ** 2).mean()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3


@pytest.mark.parametrize(
    "opt_cls, kw",
    [
        (optim.SGD, {"momentum": 0.9, "weight_decay": 0.1}),
        (optim.Adagrad, {"weight_decay": 0.1}),
        (optim.Adam, {"weight_decay": 0.1}),
    ],
)
def test_untouched_embedding_rows_never_change(opt_cls, kw):
    emb = nn.Embedding(6, 4, rng=0)
    before = emb.weight.data.copy()
    opt = opt_cls(emb.parameters(), lr=0.1, **kw)
    after_first = None
    for step, ids in enumerate([np.array([1, 3, 1]), np.array([3]), np.array([0, 3])]):
        opt.zero_grad()
        (emb(ids) ** 2).sum().backward()
        opt.step()
        touched = {1, 3} | ({0} if step == 2 else set())
        for row in range(6):
            changed = not np.array_equal(emb.weight.data[row], before[row])
            assert changed == (row in touched), (step, row)
        # the optimizer state of rows not looked up this step stays as it was: row 1 after step 0
        if after_first is not None:
            assert np.array_equal(emb.weight.data[1], after_first[1])
        if step == 0:
            after_first = emb.weight.data.copy()


def test_dense_embedding_moves_every_row_with_momentum():
    emb = nn.Embedding(4, 2, sparse=False, rng=0)
    before = emb.weight.data.copy()
    opt = optim.SGD(emb.parameters(), lr=0.1, momentum=0.9)
    for ids in ([0], [1]):
        opt.zero_grad()
        (emb(np.array(ids)) ** 2).sum().backward()
        opt.step()
    assert not np.array_equal(emb.weight.data[0], before[0])
    assert np.array_equal(emb.weight.data[2], before[2])  # zero gradient, zero momentum: unchanged


def test_sparse_update_equals_dense_update_on_the_touched_rows():
    """Plain SGD touches only rows with a gradient either way, so the two paths must agree exactly."""
    ids = np.array([2, 0, 2])
    results = []
    for sparse in (True, False):
        emb = nn.Embedding(5, 3, sparse=sparse, rng=0)
        opt = optim.SGD(emb.parameters(), lr=0.5)
        (emb(ids) ** 3).sum().backward()
        opt.step()
        results.append(emb.weight.data)
    np.testing.assert_array_equal(*results)


def test_optimizer_errors():
    with pytest.raises(ValueError, match="empty list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="parameter 0 is not a leaf tensor that requires grad"):
        optim.Adam([mg.tensor([1.0])])
    with pytest.raises(ValueError, match="learning rate lr must be non-negative"):
        optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=-0.1)
    assert optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=0).lr == 0  # as torch: warm-up starts at 0


def test_sparse_rows_move_only_where_the_gradient_is():
    # a lookup outside training, or a manual p.grad = None, must not make untouched rows move
    emb = nn.Embedding(5, 2, rng=0)
    opt = optim.Adam(emb.parameters(), lr=0.1)
    y = emb(np.array([1]))
    (y * y).sum().backward()
    opt.step()
    emb.weight.grad = None  # cleared by hand, not by zero_grad
    emb(np.array([3]))  # a forward-only lookup while recording
    before = emb.weight.data.copy()
    y = emb(np.array([2]))
    (y * y).sum().backward()
    opt.step()
    assert (emb.weight.data != before).any(axis=1).tolist() == [False, False, True, False, False]


def test_optimizer_arguments_are_checked():
    p = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="appears more than once"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="learning rate lr must be non-negative and finite, got nan"):
        optim.SGD([p], lr=float("nan"))
    with pytest.raises(ValueError, match="weight_decay must be non-negative"):
        optim.Adam([p], weight_decay=-1.0)


def test_step_on_a_tensor_grad_from_create_graph_is_a_clear_error():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    (p**2).sum().backward(create_graph=True)
    with pytest.raises(TypeError, match="Adam: a parameter's grad is a Tensor"):
        optim.Adam([p]).step()
