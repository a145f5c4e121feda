"""erf, softplus, tril/triu and the activation layers: values against independent formulas (math.erf, NumPy),
gradients against numerical differences, PyTorch's conventions at the kinks, and mg.compile's replay."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.special import erf as numpy_erf
from minigrad.testing import check_function, gradcheck
from minigrad.testing import strategies as mst


def test_erf_matches_math_erf_on_a_dense_grid_with_tails():
    xs = np.concatenate([np.linspace(-8, 8, 40001), np.geomspace(1e-300, 1e-2, 300), -np.geomspace(1e-300, 30, 300)])
    ref = np.array([math.erf(v) for v in xs])
    rel = np.abs(numpy_erf(xs) - ref) / np.maximum(np.abs(ref), 1e-300)
    assert rel.max() < 2e-15, f"worst relative error {rel.max():.3g} at x = {xs[rel.argmax()]!r}"


def test_erf_special_values_dtypes_and_shapes():
    out = numpy_erf(np.array([0.0, -0.0, np.inf, -np.inf, np.nan]))
    assert out[:4].tolist() == [0.0, 0.0, 1.0, -1.0] and np.isnan(out[4])
    assert numpy_erf(np.float32(0.5)).dtype == np.float32 and numpy_erf(np.float32(0.5)).shape == ()
    assert numpy_erf(np.arange(3)).dtype == np.float64
    assert abs(float(numpy_erf(np.float32(1.0))) - math.erf(1.0)) < 1e-7


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(x=mst.arrays(mst.shapes(), low=-4, high=4))
def test_erf_gradient_against_differences(dtype, x):
    assert check_function(mg.erf, x.astype(dtype))


def test_softplus_is_stable_and_its_gradient_is_the_sigmoid():
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    np.testing.assert_allclose(
        mg.softplus(x).data, [0.0, np.log1p(np.exp(-30.0)), np.log(2), 30 + np.log1p(np.exp(-30.0)), 1000.0], rtol=1e-15
    )
    t = mg.tensor(x, requires_grad=True)
    mg.softplus(t).sum().backward()
    sigmoid = np.array([1 / (1 + math.exp(-v)) if v > -700 else 0.0 for v in x])
    np.testing.assert_allclose(t.grad, sigmoid, rtol=1e-14)
    assert gradcheck(mg.softplus, np.random.default_rng(0).standard_normal((3, 4)))


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3])
def test_tril_triu_match_numpy_and_pass_the_gradient_where_kept(k):
    x = np.random.default_rng(k + 5).standard_normal((2, 3, 4))
    np.testing.assert_array_equal(mg.tril(x, k).data, np.tril(x, k))
    np.testing.assert_array_equal(mg.triu(x, k).data, np.triu(x, k))
    t = mg.tensor(x, requires_grad=True)
    mg.tril(t, k).sum().backward()
    np.testing.assert_array_equal(t.grad, np.tril(np.ones_like(x), k))
    assert gradcheck(lambda a: mg.triu(a, k) * a, x)


def test_tril_wants_a_matrix():
    with pytest.raises(ValueError, match=r"tril: .*at least 2-D.*\(3,\)"):
        mg.tril(np.ones(3))


def _gelu_exact(x):
    return 0.5 * x * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x.ravel()]).reshape(x.shape))


LAYERS = {
    "gelu": (nn.GELU(), _gelu_exact),
    "gelu_tanh": (nn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    "silu": (nn.SiLU(), lambda x: x / (1 + np.exp(-x))),
    "leaky_relu": (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "elu": (nn.ELU(0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(np.minimum(x, 0)))),
    "softplus": (nn.Softplus(2.0, 3.0), lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2)),
    "softmax": (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
    "log_softmax": (nn.LogSoftmax(dim=0), lambda x: x - np.log(np.exp(x).sum(axis=0, keepdims=True))),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_activation_values_and_gradients(name):
    layer, formula = LAYERS[name]
    x = np.random.default_rng(1).uniform(-3, 3, (4, 5))
    x[np.abs(x) < 0.05] = 0.3  # away from the kinks of leaky_relu and elu
    np.testing.assert_allclose(layer(x).data, formula(x), rtol=1e-12, atol=1e-14)
    assert gradcheck(layer, x)
    assert check_function(layer, x.astype(np.float32))


def test_gradients_at_the_kinks_are_pytorchs():
    x = mg.tensor([0.0], requires_grad=True)
    for f, expected in ((nn.LeakyReLU(0.1), 0.1), (nn.ELU(2.5), 2.5), (nn.GELU(), 0.5), (nn.SiLU(), 0.5)):
        x.grad = None
        f(x).sum().backward()
        assert x.grad[0] == pytest.approx(expected), f


def test_elu_of_large_inputs_has_finite_gradients():
    x = mg.tensor([1000.0, -1000.0], requires_grad=True)
    F.elu(x).sum().backward()
    assert x.grad.tolist() == [1.0, 0.0]


def test_softmax_dim_none_is_pytorchs_legacy_choice():
    x = np.random.default_rng(0).standard_normal((2, 3))
    np.testing.assert_allclose(nn.Softmax()(x).data.sum(axis=1), 1.0)  # 2-D: dim 1
    np.testing.assert_allclose(nn.Softmax()(x[0]).data.sum(), 1.0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="GELU: approximate"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match="softplus: beta"):
        F.softplus(np.ones(2), beta=0)


def test_compiled_activations_replay_eager_values():
    x0 = np.random.default_rng(2).standard_normal((3, 4))
    w = mg.tensor(np.random.default_rng(3).standard_normal((4, 4)), requires_grad=True)

    def step(x):
        h = F.gelu(x @ w) + F.elu(x @ w) + F.leaky_relu(x @ w) + F.softplus(x @ w, 2.0, 1.0) + F.silu(x)
        loss = (h * h).sum() + mg.erf(x @ w).sum()
        loss.backward()
        return loss

    compiled = mg.compile(step)
    for scale in (1.0, -2.0, 0.5):
        x = x0 * scale
        w.grad = None
        eager = step(x).data, w.grad.copy()
        w.grad = None
        replay = compiled(x).data, w.grad.copy()
        np.testing.assert_allclose(replay[0], eager[0], rtol=1e-12)
        np.testing.assert_allclose(replay[1], eager[1], rtol=1e-12)
