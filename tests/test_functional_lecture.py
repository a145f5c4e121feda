"""The Jacobians of the lecture's window scorer s = uᵀ tanh(Wx + b), from the transforms, exactly.

Each Jacobian is compared with ``np.array_equal`` to a formula computed with NumPy alone: the rules
multiply the upstream basis vector by exactly these numbers, so nothing may differ, not even a bit.
"""

import numpy as np
import pytest

import minigrad as mg

rng = np.random.default_rng(11)
X = rng.standard_normal(20)
W = rng.standard_normal((8, 20)) * 0.3
B = rng.standard_normal(8)
U = rng.standard_normal(8)
Z = W @ X + B
H = np.tanh(Z)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_of_tanh_is_diag_of_one_minus_tanh_squared(mode):
    J = mg.jacobian(mg.tanh, mode=mode)(Z)
    assert J.shape == (8, 8)
    assert np.array_equal(J.data, np.diag(1 - np.tanh(Z) ** 2))


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_of_affine_map_is_W_and_I(mode):
    Jx, Jb = mg.jacobian(lambda x, b: W @ x + b, argnums=(0, 1), mode=mode)(X, B)
    assert Jx.shape == (8, 20) and Jb.shape == (8, 8)
    assert np.array_equal(Jx.data, W)  # ∂z/∂x = W
    assert np.array_equal(Jb.data, np.eye(8))  # ∂z/∂b = I


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_of_score_in_u_is_h_transposed(mode):
    J = mg.jacobian(lambda u: u @ mg.tensor(H), mode=mode)(U)
    assert J.shape == (8,)  # a scalar output: the Jacobian is the row vector hᵀ, shape () + u.shape
    assert np.array_equal(J.data, H)


def test_jacobian_of_score_in_W_is_delta_x_transposed():
    # ∂s/∂W = δ xᵀ with δ = u ∘ f′(z): the chain of the three Jacobians above, as a (1 × 8·20) Jacobian
    J = mg.jacobian(lambda w: U @ mg.tanh(w @ X + B))(W)
    np.testing.assert_allclose(J.data, np.outer(U * (1 - H**2), X), rtol=1e-13, atol=1e-15)


def test_hessian_of_score_in_x_matches_formula():
    # s(x) = uᵀ tanh(Wx + b): ∂²s/∂x² = Wᵀ diag(u ∘ f″(z)) W, f″(z) = −2 tanh z (1 − tanh² z)
    expected = W.T @ np.diag(U * -2 * H * (1 - H**2)) @ W
    for mode in ("rev", "fwd"):
        Hs = mg.hessian(lambda x: U @ mg.tanh(W @ x + B), mode=mode)(X)
        np.testing.assert_allclose(Hs.data, expected, rtol=1e-12, atol=1e-13)


def test_jvp_of_score_is_directional_derivative():
    # along v: ds = uᵀ (f′(z) ∘ (W v))
    v = rng.standard_normal(20)
    s, ds = mg.jvp(lambda x: U @ mg.tanh(W @ x + B), (X,), (v,))
    np.testing.assert_allclose(s.data, U @ H, rtol=1e-14)
    np.testing.assert_allclose(ds.data, U @ ((1 - H**2) * (W @ v)), rtol=1e-12)


def test_the_transforms_page_runs():
    # the walk through the transforms in docs/transforms.md is executed, asserts included
    from pathlib import Path

    text = Path(__file__).resolve().parents[1].joinpath("docs", "transforms.md").read_text(encoding="utf-8")
    section = text.split("# Transforms, higher derivatives and custom operations", 1)[1]
    blocks = [part.split("```", 1)[0] for part in section.split("```python\n")[1:]]
    assert len(blocks) == 2
    exec(compile("\n".join(blocks), "docs/transforms.md", "exec"), {})
