"""The lecture's window scorer s = uᵀ tanh(Wx + b), against the gradients derived by hand."""

import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import gradcheck


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_window_score_gradients_match_the_lecture(dtype):
    rng = np.random.default_rng(3)
    x = mg.tensor(rng.standard_normal(20), dtype=dtype)
    W = mg.tensor(rng.standard_normal((8, 20)) * 0.3, requires_grad=True, dtype=dtype)
    b = mg.tensor(rng.standard_normal(8), requires_grad=True, dtype=dtype)
    u = mg.tensor(rng.standard_normal(8), requires_grad=True, dtype=dtype)

    z = W @ x + b
    h = mg.tanh(z)
    s = u @ h
    s.backward()

    # independent formulas: δ = u ∘ f′(z), ∂s/∂W = δ xᵀ, ∂s/∂b = δ, ∂s/∂u = h
    z_ref = W.data.astype(np.float64) @ x.data + b.data
    delta = u.data * (1 - np.tanh(z_ref) ** 2)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(W.grad, np.outer(delta, x.data), **tol)
    np.testing.assert_allclose(b.grad, delta, **tol)
    np.testing.assert_allclose(u.grad, np.tanh(z_ref), **tol)
    for t in (W, b, u):
        assert t.grad.dtype == dtype and t.grad.shape == t.shape


def test_window_score_against_numerical_derivatives():
    rng = np.random.default_rng(4)
    x = rng.standard_normal(20)
    W, b, u = rng.standard_normal((8, 20)) * 0.3, rng.standard_normal(8), rng.standard_normal(8)
    assert gradcheck(lambda W, b, u: u @ mg.tanh(W @ mg.tensor(x) + b), W, b, u)


def test_max_margin_objective_on_a_corrupted_window():
    # J = max(0, 1 − s + s_c): a true window should outscore the window with its centre word replaced
    rng = np.random.default_rng(5)
    x, xc = rng.standard_normal(20), rng.standard_normal(20)
    W, b, u = rng.standard_normal((8, 20)) * 0.3, rng.standard_normal(8), rng.standard_normal(8)

    def J(W, b, u):
        score = lambda v: u @ mg.tanh(W @ v + b)
        return mg.relu(1 - score(x) + score(xc))

    assert J(mg.tensor(W), mg.tensor(b), mg.tensor(u)).item() > 0.5  # the hinge is active: a real gradient
    assert gradcheck(J, W, b, u)
