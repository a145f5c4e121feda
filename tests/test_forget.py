"""Values the graph never reads are dropped once nothing else refers to them: memory like hand-written NumPy."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad.forget import Forgotten, forget_at
from minigrad.testing import gradcheck

RNG = np.random.default_rng(3)
N = 150  # (150, 150): 22,500 elements, above the default threshold of 16,384


def _chain(x: mg.Tensor, n: int = 12, keep: list | None = None) -> mg.Tensor:
    h = x
    for i in range(n):
        h = _step(h, i)
        if keep is not None:
            keep.append(h)
    return h


def _step(h: mg.Tensor, i: int) -> mg.Tensor:
    k = i % 4
    return mg.tanh(h) if k == 0 else h * 1.5 if k == 1 else mg.sin(h) if k == 2 else h + 0.1


def _graph(root: mg.Tensor) -> list:
    seen, stack = {}, [root]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen[id(t)] = t
        stack.extend(p for p in t._parents or () if p is not None)
    return sorted(seen.values(), key=lambda t: t._id)


def _chain_grad(x0: np.ndarray, n: int) -> np.ndarray:
    """d sum(chain(x)) / dx by hand: the independent reference."""
    values, h = [], x0
    for i in range(n):
        values.append(h)
        k = i % 4
        h = np.tanh(h) if k == 0 else h * 1.5 if k == 1 else np.sin(h) if k == 2 else h + 0.1
    g = np.ones_like(h)
    for i in reversed(range(n)):
        v, k = values[i], i % 4
        g = g * (1 - np.tanh(v) ** 2) if k == 0 else g * 1.5 if k == 1 else g * np.cos(v) if k == 2 else g
    return g


def test_a_chain_drops_exactly_the_values_no_rule_reads_and_keeps_the_gradient_right():
    x0 = RNG.standard_normal((N, N))
    x = mg.tensor(x0, requires_grad=True)
    y = _chain(x, 12)
    nodes = _graph(y)[1:-1]  # the intermediates (not x, not the output the test holds)
    ops = [t._op for t in nodes]
    dropped = [t._op for t in nodes if type(t._data) is Forgotten]
    # tanh reads its output, sin its input (the output of * 1.5); the outputs of sin and of + 0.1 are read by
    # no rule, so they go (the last two steps are too recent to be checked yet)
    assert dropped and set(dropped) == {"sin", "add"}
    assert len(dropped) == ops.count("sin") + ops.count("add") - 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad, _chain_grad(x0, 12), rtol=1e-12)


def test_values_the_user_holds_are_never_dropped():
    keep: list = []
    x = mg.tensor(RNG.standard_normal((N, N)), requires_grad=True)
    y = _chain(x, 12, keep)
    assert all(type(t._data) is np.ndarray for t in keep)
    np.testing.assert_allclose(keep[3].data, np.sin(np.tanh(x.data) * 1.5) + 0.1)
    y.sum().backward()


def test_a_dropped_value_reached_through_a_weak_reference_says_so():
    x = mg.tensor(RNG.standard_normal((N, N)), requires_grad=True)
    s = mg.sin(x * 2.0)
    ref = weakref.ref(s)
    a = s + 1.0
    del s  # now sin's output is referenced by the node of `+ 1.0` only, and no rule reads it
    y = mg.tanh(a) * 3.0  # tanh looks two steps back and drops it
    gc.collect()
    assert ref() is not None and type(ref()._data) is Forgotten
    with pytest.raises(RuntimeError, match=r"value of this 'sin' result \(shape \(150, 150\), float64\) was dropped"):
        ref().data  # noqa: B018
    assert "dropped" in repr(ref())
    y.sum().backward()


@pytest.fixture
def forget_everything():
    before = forget_at[0]
    forget_at[0] = 0  # every value, however small
    yield
    forget_at[0] = before


def test_gradients_and_second_derivatives_through_dropped_values(forget_everything):
    def f(x, w):
        h = mg.tanh(x @ w + 1.0)
        return (mg.exp(-h * h) * 2.0 + mg.sin(h) / 3.0).sum(axis=1) ** 2

    x, w = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 5))
    gradcheck(f, x, w)
    xs = mg.tensor(x, requires_grad=True)
    hess = mg.hessian(lambda v: f(v, mg.tensor(w)).sum())(xs)
    eps, n = 1e-4, x.size
    numeric = np.zeros((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = eps
        up = mg.grad(lambda v: f(v, mg.tensor(w)).sum())(mg.tensor(x + e.reshape(x.shape), requires_grad=True))
        down = mg.grad(lambda v: f(v, mg.tensor(w)).sum())(mg.tensor(x - e.reshape(x.shape), requires_grad=True))
        numeric[:, j] = ((up.data - down.data) / (2 * eps)).ravel()
    np.testing.assert_allclose(hess.data.reshape(n, n), numeric, rtol=1e-5, atol=1e-6)
    v = RNG.standard_normal(x.shape)
    _, jv = mg.jvp(lambda a: f(a, mg.tensor(w)), (mg.tensor(x),), (mg.tensor(v),))
    jac = mg.jacobian(lambda a: f(a, mg.tensor(w)))(mg.tensor(x))
    np.testing.assert_allclose(jv.data, np.tensordot(jac.data, v, axes=2), rtol=1e-10)


def test_compile_keeps_every_value_while_it_traces(forget_everything):
    w = mg.tensor(RNG.standard_normal((3, 4)), requires_grad=True)

    @mg.compile
    def step(x):
        loss = (mg.sin(mg.tanh(x @ w) * 2.0 + 1.0) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(3):
        w.grad = None
        x = RNG.standard_normal((5, 3))
        step(x)
        z = x @ w.data
        s = np.sin(np.tanh(z) * 2.0 + 1.0)
        expected = x.T @ (2 * s * np.cos(np.tanh(z) * 2.0 + 1.0) * 2.0 * (1 - np.tanh(z) ** 2))
        np.testing.assert_allclose(w.grad, expected, rtol=1e-10)
    assert forget_at[0] == 0  # restored after tracing
