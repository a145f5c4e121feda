"""The losses against torch.nn.functional's (skipped without torch): values and the gradients of input and
target in float64, to 1e-10 relative, for every reduction; the modules against torch.nn's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(1)
X = RNG.standard_normal((4, 5)) * 2
Y = RNG.standard_normal((4, 5))
P = RNG.uniform(0.02, 0.98, (4, 5))
SOFT = RNG.uniform(0.0, 1.0, (4, 5))
W = RNG.uniform(0.1, 2.0, (4, 5))
PW = RNG.uniform(0.1, 3.0, 5)
LOGP = np.log(RNG.dirichlet(np.ones(5), size=4))

# name, minigrad's loss, torch's, input, target, whether the target is differentiable in torch
CASES = [
    ("mse", F.mse_loss, TF.mse_loss, X, Y, True),
    ("l1", F.l1_loss, TF.l1_loss, X, Y, True),
    ("smooth_l1", F.smooth_l1_loss, TF.smooth_l1_loss, X, Y, True),
    ("smooth_l1 beta", lambda a, b, **k: F.smooth_l1_loss(a, b, beta=0.3, **k),
     lambda a, b, **k: TF.smooth_l1_loss(a, b, beta=0.3, **k), X, Y, True),
    ("huber", F.huber_loss, TF.huber_loss, X, Y, True),
    ("huber delta", lambda a, b, **k: F.huber_loss(a, b, delta=1.7, **k),
     lambda a, b, **k: TF.huber_loss(a, b, delta=1.7, **k), X, Y, True),
    ("bce", F.binary_cross_entropy, TF.binary_cross_entropy, P, SOFT, True),
    ("bce weight", lambda a, b, **k: F.binary_cross_entropy(a, b, weight=W, **k),
     lambda a, b, **k: TF.binary_cross_entropy(a, b, weight=torch.tensor(W), **k), P, SOFT, True),
    ("bce logits", F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, X * 10, SOFT, True),
    ("bce logits weights",
     lambda a, b, **k: F.binary_cross_entropy_with_logits(a, b, weight=W, pos_weight=PW, **k),
     lambda a, b, **k: TF.binary_cross_entropy_with_logits(
         a, b, weight=torch.tensor(W), pos_weight=torch.tensor(PW), **k), X * 10, SOFT, True),
    ("kl_div", F.kl_div, TF.kl_div, LOGP, SOFT, True),
    ("kl_div log_target", lambda a, b, **k: F.kl_div(a, b, log_target=True, **k),
     lambda a, b, **k: TF.kl_div(a, b, log_target=True, **k), LOGP, np.log(SOFT), True),
]  # fmt: skip


def _compare(mine_fn, torch_fn, inputs, differentiable, **kw):
    mg_in = [mg.tensor(a.copy(), requires_grad=d) for a, d in zip(inputs, differentiable)]
    t_in = [torch.tensor(a.copy(), requires_grad=d) for a, d in zip(inputs, differentiable)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (kl_div's advice about "mean", in both)
        mine, theirs = mine_fn(*mg_in, **kw), torch_fn(*t_in, **kw)
    np.testing.assert_allclose(mine.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-13)
    cotangent = RNG.standard_normal(mine.data.shape)
    (mine * cotangent).sum().backward()
    (theirs * torch.tensor(cotangent)).sum().backward()
    for a, b, d in zip(mg_in, t_in, differentiable):
        if d:
            np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name, mine, theirs, x, y, target_grad", CASES, ids=[c[0] for c in CASES])
def test_loss_matches_torch(name, mine, theirs, x, y, target_grad, reduction):
    _compare(mine, theirs, (x, y), (True, target_grad), reduction=reduction)


def test_kl_div_batchmean_matches_torch():
    _compare(F.kl_div, TF.kl_div, (LOGP, SOFT), (True, True), reduction="batchmean")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(6, 4), (2, 4, 3), (2, 4, 2, 3)])
def test_nll_and_cross_entropy_match_torch(shape, reduction):
    z = RNG.standard_normal(shape)
    target = RNG.integers(0, 4, (shape[0], *shape[2:]))
    target.ravel()[1] = -100
    weight = np.array([0.5, 1.0, 2.0, 1.5])
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    _compare(
        lambda a: F.nll_loss(a, target, weight=weight, reduction=reduction),
        lambda a: TF.nll_loss(a, torch.tensor(target), weight=torch.tensor(weight), reduction=reduction),
        (logp,),
        (True,),
    )
    _compare(
        lambda a: nn.CrossEntropyLoss(weight=weight, reduction=reduction)(a, target),
        lambda a: torch.nn.CrossEntropyLoss(weight=torch.tensor(weight), reduction=reduction)(a, torch.tensor(target)),
        (z,),
        (True,),
    )


def test_bce_with_logits_matches_torch_at_extreme_logits():
    z = np.array([-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4])
    t = np.array([1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 0.0])
    _compare(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, (z, t), (True, True),
             reduction="none", pos_weight=None)  # fmt: skip


MODULES = [
    (nn.MSELoss(), torch.nn.MSELoss(), X, Y),
    (nn.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum"), X, Y),
    (nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5), X, Y),
    (nn.HuberLoss(delta=0.5), torch.nn.HuberLoss(delta=0.5), X, Y),
    (nn.BCELoss(), torch.nn.BCELoss(), P, SOFT),
    (nn.BCEWithLogitsLoss(pos_weight=PW), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(PW)), X, SOFT),
    (nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean"), LOGP, SOFT),
]


@pytest.mark.parametrize("mine, theirs, x, y", MODULES, ids=[type(m).__name__ for m, *_ in MODULES])
def test_modules_match_torch(mine, theirs, x, y):
    _compare(mine, theirs, (x, y), (True, False))


def test_margin_ranking_matches_torch():
    a, b = RNG.standard_normal(6), RNG.standard_normal(6)
    y = np.array([1, -1, 1, 1, -1, -1.0])
    _compare(
        lambda p, q: nn.MarginRankingLoss(margin=0.3)(p, q, y),
        lambda p, q: torch.nn.MarginRankingLoss(margin=0.3)(p, q, torch.tensor(y)),
        (a, b),
        (True, True),
    )


def test_weights_are_buffers_with_torchs_state_dict_keys():
    w, pw = np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.5, 2.5])
    pairs = [
        (
            nn.BCEWithLogitsLoss(weight=w, pos_weight=pw),
            torch.nn.BCEWithLogitsLoss(torch.tensor(w), pos_weight=torch.tensor(pw)),
        ),
        (nn.BCELoss(weight=w), torch.nn.BCELoss(weight=torch.tensor(w))),
        (nn.NLLLoss(weight=w), torch.nn.NLLLoss(weight=torch.tensor(w))),
        (nn.CrossEntropyLoss(weight=w), torch.nn.CrossEntropyLoss(weight=torch.tensor(w))),
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
        (nn.MSELoss(), torch.nn.MSELoss()),
    ]
    for mine, theirs in pairs:
        assert list(mine.state_dict()) == list(theirs.state_dict())
        for key, value in theirs.state_dict().items():
            np.testing.assert_array_equal(mine.state_dict()[key], value.numpy())
