"""register_hook and retain_grad, as PyTorch's: a hook sees the complete gradient, may replace it, goes with
its tensor; mg.compile refuses a step with a hook rather than replaying it without."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import minigrad as mg
from minigrad import hooks


def test_a_hook_sees_the_complete_gradient_and_may_replace_it():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    seen = []
    h.register_hook(lambda g: seen.append(g.copy()))  # h is used twice below: the hook sees the sum
    x.register_hook(lambda g: g * 10)  # on a leaf: before .grad
    (h * h + h).sum().backward()
    np.testing.assert_array_equal(seen[0], 2 * np.array([3.0, 6.0]) + 1)
    np.testing.assert_array_equal(x.grad, 10 * 3 * seen[0])


def test_retain_grad_keeps_and_accumulates_a_non_leaf_gradient():
    x = mg.tensor([1.0, -2.0], dtype=np.float64, requires_grad=True)
    h = mg.tanh(x)
    h.retain_grad()
    (h * 2).sum().backward(retain_graph=True)
    np.testing.assert_array_equal(h.grad, [2.0, 2.0])
    (h * 2).sum().backward()
    np.testing.assert_array_equal(h.grad, [4.0, 4.0])
    np.testing.assert_allclose(x.grad, 4 * (1 - np.tanh([1.0, -2.0]) ** 2))


def test_a_removed_hook_is_not_called_and_a_dead_tensor_takes_its_hooks_along():
    x = mg.tensor([1.0], dtype=np.float64, requires_grad=True)
    handle = x.register_hook(lambda g: g * 0)
    handle.remove()
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0])
    before = hooks.active[0]
    y = mg.tensor([1.0], dtype=np.float64, requires_grad=True)
    y.register_hook(lambda g: None)
    assert hooks.active[0] == before + 1
    del y
    gc.collect()
    assert hooks.active[0] == before


def test_hooks_run_in_a_recorded_backward_and_their_result_is_checked():
    x = mg.tensor([0.5, 1.5], requires_grad=True)
    y = x * x
    y.register_hook(lambda g: g * 2)
    (gx,) = mg.vjp(lambda t: t, x)[1](mg.tensor([1.0, 1.0]))  # (no hook on that graph: unchanged)
    np.testing.assert_array_equal(gx.data, [1.0, 1.0])
    y.sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad.data, 2 * 2 * np.array([0.5, 1.5]))
    z = mg.tensor([1.0, 2.0], requires_grad=True)
    z.register_hook(lambda g: np.ones(3))
    with pytest.raises(ValueError, match="register_hook: a hook returned a gradient of shape"):
        (z * 1.0).sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).register_hook(print)


def test_compile_refuses_a_step_whose_tensors_have_hooks():
    w = mg.tensor(np.ones(3), requires_grad=True)
    w.register_hook(lambda g: g * 2)

    @mg.compile
    def step(a):
        loss = (w * a).sum()
        loss.backward()
        return loss

    with pytest.raises(mg.CompileError, match="gradient hook"):
        step(np.ones(3))
