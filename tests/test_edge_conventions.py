"""The documented values at the edges where a derivative is undefined or an input is empty (docs/tensors.md, "Where a
derivative is not defined"): each found where minigrad and PyTorch disagreed on a random program, and each
pinned here to the convention chosen, eagerly and, for the losses, under mg.compile."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import functional as F


def test_the_gradient_of_a_power_in_its_exponent_at_a_zero_base():
    a = mg.tensor([0.0, 0.0, 0.0, 2.0], dtype=np.float64, requires_grad=True)
    b = mg.tensor([-1.0, 0.5, 2.0, 3.0], dtype=np.float64, requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        (a**b).sum().backward()
    # aᵇ log a: 0 where 0ᵇ is flat in b (b > 0); at b < 0, 0ᵇ = inf and the product inf · 0 is nan (IEEE)
    np.testing.assert_array_equal(b.grad, [np.nan, 0.0, 0.0, 8.0 * np.log(2.0)])


def test_logsumexp_of_a_slice_with_inf_gives_nan_to_the_inf_and_zero_elsewhere():
    x = mg.tensor([[np.inf, 0.0, -1.0], [1.0, 2.0, 3.0]], dtype=np.float64, requires_grad=True)
    with np.errstate(invalid="ignore"):  # inf − inf, NumPy's warning: the nan is the documented value there
        mg.logsumexp(x, axis=1).sum().backward()
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(x.grad[0], [np.nan, 0.0, 0.0])
    np.testing.assert_allclose(x.grad[1], e / e.sum(), rtol=1e-15)  # the other slice keeps its softmax


@pytest.mark.parametrize("shape, axis, expected", [((0, 3), 1, (0,)), ((2, 0, 3), 2, (2, 0)), ((0,), None, None)])
def test_max_of_empty_tensors(shape, axis, expected):
    x = mg.tensor(np.zeros(shape), requires_grad=True)
    if expected is None:  # over a slice of no elements: no value, an error naming the axis
        with pytest.raises(ValueError, match="max: cannot reduce an empty tensor of shape .* over an axis of length 0"):
            mg.max(x, axis=axis)
        return
    out = mg.max(x, axis=axis)
    assert out.shape == expected
    out.sum().backward()
    assert x.grad.shape == shape


def test_logsumexp_and_softmax_over_an_axis_of_length_zero():
    x = mg.tensor(np.zeros((3, 0)), requires_grad=True)
    out = mg.logsumexp(x, axis=1)
    np.testing.assert_array_equal(out.data, [-np.inf] * 3)  # log of an empty sum
    out.sum().backward()
    assert x.grad.shape == (3, 0)
    assert mg.softmax(x, axis=1).shape == (3, 0) and mg.log_softmax(x, axis=-1).shape == (3, 0)


def test_a_0d_tensor_takes_axis_0_and_minus_1():
    s = mg.tensor(2.0, requires_grad=True)
    assert s.sum(axis=-1).item() == 2.0 and s.mean(axis=0).item() == 2.0
    assert mg.softmax(s).item() == 1.0 and mg.log_softmax(s, axis=0).item() == 0.0
    with pytest.raises(ValueError, match="axis 1 is out of range"):
        s.sum(axis=1)


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_with_every_target_ignored_has_a_nan_mean_and_a_zero_gradient(compiled, weighted):
    # a batch of padding only: one Adam step on nan gradients used to write nan into every parameter
    W = mg.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    weight = np.array([1.0, 2.0, 0.5]) if weighted else None

    def step(x, y):
        loss = F.cross_entropy(x @ W, y, weight=weight)
        loss.backward()
        return loss

    run = mg.compile(step, check=False) if compiled else step
    x = np.ones((2, 4))
    for y, nothing in ((np.array([0, 2]), False), (np.array([-100, -100]), True), (np.array([1, -100]), False)):
        W.grad = None
        with np.errstate(invalid="ignore"):
            loss = run(x, y)
        assert np.isnan(loss.item()) == nothing
        assert np.all(np.isfinite(W.grad)) and (np.all(W.grad == 0) if nothing else np.any(W.grad != 0))
    opt = mg.optim.Adam([W], lr=0.1)
    W.grad = None
    with np.errstate(invalid="ignore"):
        run(x, np.array([-100, -100]))
    opt.step()
    assert np.all(np.isfinite(W.data))
