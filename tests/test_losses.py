"""nn.functional's losses: gradients against numerical differences (float64, every reduction), values against
their formulas written out, stability at extreme logits, the modules, and the errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.testing import gradcheck

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
Y = RNG.standard_normal((3, 4))
P = RNG.uniform(0.05, 0.95, (3, 4))  # probabilities
T = RNG.integers(0, 2, (3, 4)).astype(float)  # binary targets
SOFT = RNG.uniform(0.0, 1.0, (3, 4))  # soft targets
REDUCTIONS = ["mean", "sum", "none"]


def _reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](loss)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# (name, loss of (input, target) for gradcheck, its value from the formula in NumPy, input, target)
ELEMENTWISE = [
    ("mse", F.mse_loss, lambda x, y: (x - y) ** 2, X, Y),
    ("l1", F.l1_loss, lambda x, y: np.abs(x - y), X, Y),
    (
        "smooth_l1 beta=0.7",
        lambda x, y, **kw: F.smooth_l1_loss(x, y, beta=0.7, **kw),
        lambda x, y: np.where(np.abs(x - y) < 0.7, 0.5 * (x - y) ** 2 / 0.7, np.abs(x - y) - 0.35),
        X,
        Y,
    ),
    (
        "huber delta=0.6",
        lambda x, y, **kw: F.huber_loss(x, y, delta=0.6, **kw),
        lambda x, y: np.where(np.abs(x - y) < 0.6, 0.5 * (x - y) ** 2, 0.6 * (np.abs(x - y) - 0.3)),
        X,
        Y,
    ),
    ("bce", F.binary_cross_entropy, lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)), P, SOFT),
    (
        "bce weight",
        lambda p, t, **kw: F.binary_cross_entropy(p, t, weight=np.array([1.0, 2.0, 0.5, 0.0]), **kw),
        lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)) * np.array([1.0, 2.0, 0.5, 0.0]),
        P,
        SOFT,
    ),
    (
        "bce with logits",
        F.binary_cross_entropy_with_logits,
        lambda z, t: -(t * np.log(_sigmoid(z)) + (1 - t) * np.log(1 - _sigmoid(z))),
        X * 3,
        SOFT,
    ),
    (
        "bce with logits pos_weight weight",
        lambda z, t, **kw: F.binary_cross_entropy_with_logits(
            z, t, weight=np.array([[1.0], [2.0], [0.5]]), pos_weight=np.array([1.0, 3.0, 0.2, 2.0]), **kw
        ),
        lambda z, t: (
            -(np.array([1.0, 3.0, 0.2, 2.0]) * t * np.log(_sigmoid(z)) + (1 - t) * np.log(1 - _sigmoid(z)))
            * np.array([[1.0], [2.0], [0.5]])
        ),
        X * 3,
        SOFT,
    ),
    (
        "kl_div",
        lambda x, t, **kw: F.kl_div(x, t, **kw),
        lambda x, t: t * (np.log(t) - x),
        np.log(P),
        SOFT,
    ),
    (
        "kl_div log_target",
        lambda x, t, **kw: F.kl_div(x, t, log_target=True, **kw),
        lambda x, t: np.exp(t) * (t - x),
        np.log(P),
        np.log(SOFT),
    ),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, loss, formula, x, y", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_value_and_gradients(name, loss, formula, x, y, reduction):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (kl_div's advice about "mean")
        got = loss(mg.tensor(x), mg.tensor(y), reduction=reduction)
        np.testing.assert_allclose(got.data, _reduce(formula(x, y), reduction), rtol=1e-12, atol=1e-14)
        # both the input and the target are differentiable (as in PyTorch)
        assert gradcheck(lambda a, b: loss(a, b, reduction=reduction), x, y)


def test_the_kinks_take_the_subgradient_zero():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    F.l1_loss(x, np.array([1.0, 0.0]), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0])  # sign(0) = 0, as PyTorch


def test_smooth_l1_beta_zero_is_l1():
    a = F.smooth_l1_loss(mg.tensor(X), Y, beta=0.0, reduction="none")
    np.testing.assert_array_equal(a.data, np.abs(X - Y))


def test_kl_div_batchmean_and_zero_targets():
    t = SOFT.copy()
    t[0, 0] = 0.0
    x = np.log(P)
    got = F.kl_div(mg.tensor(x), t, reduction="batchmean")
    expected = np.sum(np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0) - t * x) / 3
    np.testing.assert_allclose(got.data, expected, rtol=1e-12)
    assert gradcheck(lambda a: F.kl_div(a, t, reduction="batchmean"), x)
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(mg.tensor(x), t)


def _nll_formula(logp, target, weight, ignore, reduction):
    c = logp.shape[1]
    rows = np.moveaxis(logp, 1, -1).reshape(-1, c)
    t = target.ravel()
    counted = t != ignore
    safe = np.where(counted, t, 0)
    w = (weight[safe] if weight is not None else np.ones(len(t))) * counted
    losses = -rows[np.arange(len(t)), safe] * w
    if reduction == "none":
        return losses.reshape(target.shape)
    return losses.sum() if reduction == "sum" else losses.sum() / w.sum()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4), (2, 3, 2, 3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(shape, reduction, weighted):
    logp = np.log(RNG.dirichlet(np.ones(3), size=(shape[0], *shape[2:])))
    logp = np.moveaxis(logp, -1, 1)
    target = RNG.integers(0, 3, (shape[0], *shape[2:]))
    target.ravel()[0] = -100  # ignored
    weight = np.array([0.5, 2.0, 1.5]) if weighted else None
    got = F.nll_loss(mg.tensor(logp), target, weight=weight, reduction=reduction)
    np.testing.assert_allclose(got.data, _nll_formula(logp, target, weight, -100, reduction), rtol=1e-12)
    assert gradcheck(lambda a: F.nll_loss(a, target, weight=weight, reduction=reduction), logp)


def test_nll_of_log_softmax_is_cross_entropy():
    z = RNG.standard_normal((6, 4))
    t = RNG.integers(0, 4, 6)
    a = F.nll_loss(mg.log_softmax(mg.tensor(z), axis=1), t)
    np.testing.assert_allclose(a.data, F.cross_entropy(mg.tensor(z), t).data, rtol=1e-12)
    one = F.nll_loss(mg.tensor(np.log([0.2, 0.3, 0.5])), np.array(2))  # a single example (C,)
    np.testing.assert_allclose(one.data, -np.log(0.5))


def test_cross_entropy_loss_takes_classes_on_axis_1():
    z = RNG.standard_normal((2, 4, 3))  # (N, C, d)
    t = RNG.integers(0, 4, (2, 3))
    got = nn.CrossEntropyLoss(reduction="none")(mg.tensor(z), t)
    expected = -np.take_along_axis(np.moveaxis(z, 1, -1) - np.log(np.exp(z).sum(1))[..., None], t[..., None], -1)
    np.testing.assert_allclose(got.data, expected[..., 0], rtol=1e-12)
    assert gradcheck(lambda a: nn.CrossEntropyLoss()(a, t), z)


@pytest.mark.parametrize("z", [1e4, -1e4, 800.0, -800.0, 40.0, -40.0, 0.0])
@pytest.mark.parametrize("t", [0.0, 1.0, 0.25])
def test_bce_with_logits_is_exact_at_any_logit(z, t):
    x = mg.tensor(np.array([z]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        loss = F.binary_cross_entropy_with_logits(x, np.array([t]), pos_weight=np.array([2.0]), reduction="sum")
        loss.backward()
    # ℓ = 2t·softplus(−z) + (1 − t)·softplus(z); ∂ℓ/∂z = (1 − t)σ(z) − 2t σ(−z), written with logaddexp / exp
    softplus = lambda v: max(v, 0.0) + math.log1p(math.exp(-abs(v)))  # noqa: E731
    sig = lambda v: 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))  # noqa: E731
    assert loss.item() == pytest.approx(2 * t * softplus(-z) + (1 - t) * softplus(z), rel=1e-13, abs=1e-300)
    assert x.grad[0] == pytest.approx((1 - t) * sig(z) - 2 * t * sig(-z), rel=1e-13, abs=1e-300)


def test_bce_clamps_the_log_at_minus_100():
    p = mg.tensor(np.array([0.0, 1.0, 0.0, 1.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no log(0) warning
        loss = F.binary_cross_entropy(p, np.array([1.0, 0.0, 0.0, 1.0]), reduction="none")
        loss.sum().backward()
    np.testing.assert_array_equal(loss.data, [100.0, 100.0, 0.0, 0.0])
    assert np.all(np.isfinite(p.grad))


def test_float32_stays_float32():
    x = mg.tensor(X.astype(np.float32), requires_grad=True)
    for loss in (F.mse_loss(x, Y), F.binary_cross_entropy_with_logits(x, T), F.huber_loss(x, Y)):
        assert loss.data.dtype == np.float32


MODULES = [
    (nn.MSELoss(reduction="sum"), F.mse_loss(mg.tensor(X), Y, reduction="sum")),
    (nn.L1Loss(), F.l1_loss(mg.tensor(X), Y)),
    (nn.SmoothL1Loss(beta=0.5), F.smooth_l1_loss(mg.tensor(X), Y, beta=0.5)),
    (nn.HuberLoss(delta=2.0), F.huber_loss(mg.tensor(X), Y, delta=2.0)),
    (nn.BCEWithLogitsLoss(pos_weight=np.full(4, 3.0)), F.binary_cross_entropy_with_logits(X, T, pos_weight=3.0)),
]


@pytest.mark.parametrize("module, expected", MODULES, ids=[type(m).__name__ for m, _ in MODULES])
def test_modules_call_their_function(module, expected):
    np.testing.assert_allclose(module(mg.tensor(X), Y if "BCE" not in type(module).__name__ else T).data, expected.data)
    assert not list(module.parameters())


def test_module_classes_of_probabilities_and_classes():
    assert nn.BCELoss()(mg.tensor(P), T).item() == pytest.approx(F.binary_cross_entropy(P, T).item())
    logp = np.log(RNG.dirichlet(np.ones(3), size=4))
    t = np.array([0, 2, 1, 1])
    assert nn.NLLLoss(weight=[1.0, 2.0, 3.0])(logp, t).item() == pytest.approx(
        F.nll_loss(logp, t, weight=np.array([1.0, 2.0, 3.0])).item()
    )
    assert nn.KLDivLoss(reduction="batchmean")(logp, np.exp(logp)).item() == pytest.approx(0.0, abs=1e-15)
    loss = nn.MarginRankingLoss(margin=1.0)(np.array([1.0, 3.0]), np.array([0.5, 0.5]), np.array([1, 1]))
    assert loss.item() == pytest.approx(0.25)


ERRORS = [
    (lambda: F.mse_loss(np.zeros((3, 1)), np.zeros(3)), ValueError, r"mse_loss: input of shape \(3, 1\).*\(3,\)"),
    (lambda: F.l1_loss(X, Y, reduction="avg"), ValueError, r"l1_loss: reduction must be one of .*'avg'"),
    (lambda: nn.HuberLoss(reduction="batchmean"), ValueError, "HuberLoss: reduction"),
    (lambda: F.kl_div(X, Y, reduction="max"), ValueError, "kl_div: reduction"),
    (lambda: F.smooth_l1_loss(X, Y, beta=-1.0), ValueError, "smooth_l1_loss: beta"),
    (lambda: nn.HuberLoss(delta=0.0), ValueError, "huber_loss: delta"),
    (lambda: F.binary_cross_entropy(X, T), ValueError, r"binary_cross_entropy: input must hold probabilities"),
    (
        lambda: F.binary_cross_entropy_with_logits(X, T, pos_weight=np.ones(3)),
        ValueError,
        r"pos_weight of shape \(3,\) does not broadcast to the input's shape \(3, 4\)",
    ),
    (lambda: F.nll_loss(np.zeros((4, 3)), np.zeros(3, int)), ValueError, r"nll_loss: input of shape \(4, 3\)"),
    (lambda: F.nll_loss(np.zeros((4, 3)), np.full(4, 3)), IndexError, "target 3 is out of range for 3 classes"),
    (lambda: F.nll_loss(np.zeros((4, 3)), np.zeros(4)), TypeError, "integer class indices"),
    (lambda: F.nll_loss(np.zeros((4, 3)), np.zeros(4, int), weight=np.ones(4)), ValueError, r"weight must have"),
]


@pytest.mark.parametrize("call, error, match", ERRORS)
def test_errors_name_the_loss(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_mg_compile_replays_every_loss():
    """One step summing every loss, compiled: three calls on new inputs give the eager loss and gradients."""
    w = mg.tensor(RNG.standard_normal((4, 4)), requires_grad=True)
    classes = RNG.integers(0, 4, 3)

    def step(x, y):
        z = x @ w
        p = mg.sigmoid(z)
        logp = mg.log_softmax(z, axis=1)
        loss = (
            F.mse_loss(z, y)
            + F.l1_loss(z, y, reduction="sum")
            + F.smooth_l1_loss(z, y, beta=0.5)
            + F.huber_loss(z, y, delta=0.8)
            + F.binary_cross_entropy(p, T)
            + F.binary_cross_entropy_with_logits(z, T, pos_weight=np.full(4, 2.0))
            + F.nll_loss(logp, classes, weight=np.array([1.0, 2.0, 0.5, 1.0]))
            + F.kl_div(logp, SOFT / SOFT.sum(1, keepdims=True), reduction="batchmean")
        )
        loss.backward()
        return loss

    compiled = mg.compile(step)
    for _ in range(3):
        x, y = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
        w.grad = None
        eager = step(x, y).data
        eager_grad = w.grad.copy()
        w.grad = None
        np.testing.assert_allclose(compiled(x, y).data, eager, rtol=1e-13)
        np.testing.assert_allclose(w.grad, eager_grad, rtol=1e-12)
    assert compiled.traces == 1


def test_nll_mean_of_no_counted_target_is_nan_with_a_zero_gradient():
    x = mg.tensor(np.log(np.full((2, 3), 1 / 3)), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.nll_loss(x, np.array([-100, -100]))
        loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))


def test_nll_loss_replays_new_targets_under_compile():
    w = mg.tensor(RNG.standard_normal((4, 4)), requires_grad=True)
    weight = np.array([1.0, 2.0, 3.0, 4.0])

    def step(x, t):
        loss = F.nll_loss(mg.log_softmax(x @ w, axis=1), t, weight=weight, ignore_index=1)
        loss.backward()
        return loss

    compiled = mg.compile(step)
    for targets in ([0, 1, 2], [3, 3, 0], [1, 2, 1]):
        x, t = RNG.standard_normal((3, 4)), np.array(targets)
        w.grad = None
        eager, eager_grad = step(x, t).item(), w.grad.copy()
        w.grad = None
        assert compiled(x, t).item() == pytest.approx(eager, rel=1e-13)
        np.testing.assert_allclose(w.grad, eager_grad, rtol=1e-12)
