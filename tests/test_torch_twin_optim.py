"""Optimizers and schedulers against torch.optim (skipped without torch): 20 steps of each optimizer on the same
small problem in float64 to 1e-12, and the learning rates (and momenta) of each schedule."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import lr_scheduler as mls

torch = pytest.importorskip("torch")
tls = torch.optim.lr_scheduler

STEPS = 20


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((8, 3)), rng.standard_normal(8), rng.standard_normal(3), rng.standard_normal(2)


def _loss_mg(w, b, x, y):
    r = mg.tanh(mg.tensor(x) @ w) * b[0] + b[1] - mg.tensor(y)
    return (r * r).mean()


def _loss_torch(w, b, x, y):
    r = torch.tanh(torch.tensor(x) @ w) * b[0] + b[1] - torch.tensor(y)
    return (r * r).mean()


def _trajectories(mg_cls, torch_cls, groups=False, **kw):
    x, y, w0, b0 = _problem()
    w, b = mg.tensor(w0.copy(), requires_grad=True), mg.tensor(b0.copy(), requires_grad=True)
    tw = torch.tensor(w0.copy(), requires_grad=True)
    tb = torch.tensor(b0.copy(), requires_grad=True)
    if groups:  # a second group with its own lr and weight decay
        mine = mg_cls([{"params": [w]}, {"params": [b], "lr": 0.03, "weight_decay": 0.1}], **kw)
        theirs = torch_cls([{"params": [tw]}, {"params": [tb], "lr": 0.03, "weight_decay": 0.1}], **kw)
    else:
        mine, theirs = mg_cls([w, b], **kw), torch_cls([tw, tb], **kw)
    for _ in range(STEPS):
        mine.zero_grad()
        _loss_mg(w, b, x, y).backward()
        mine.step()
        theirs.zero_grad()
        _loss_torch(tw, tb, x, y).backward()
        theirs.step()
        np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-12, atol=1e-14)
    return w.data


CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.95), "weight_decay": 0.01}),
    ("AdamW", {"lr": 0.05}),
    ("AdamW", {"lr": 0.05, "betas": (0.85, 0.99), "weight_decay": 0.3, "eps": 1e-6}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.8, "weight_decay": 0.05}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
]


@pytest.mark.parametrize("name, kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
@pytest.mark.parametrize("groups", [False, True], ids=["one-group", "two-groups"])
def test_trajectory_matches_torch(name, kw, groups):
    moved = _trajectories(getattr(optim, name), getattr(torch.optim, name), groups, **kw)
    assert not np.allclose(moved, _problem()[2])  # (it did move)


def _twins(n_groups=1, opt="SGD", **kw):
    params = [mg.tensor(np.zeros(2), requires_grad=True) for _ in range(n_groups)]
    tparams = [torch.zeros(2, requires_grad=True) for _ in range(n_groups)]
    lrs = [0.1 * (i + 1) for i in range(n_groups)]
    mine = getattr(optim, opt)([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], **kw)
    theirs = getattr(torch.optim, opt)([{"params": [p], "lr": lr} for p, lr in zip(tparams, lrs)], **kw)
    return mine, theirs


SCHEDULES = [
    ("StepLR", lambda o: mls.StepLR(o, 3, 0.5), lambda o: tls.StepLR(o, 3, 0.5)),
    ("MultiStepLR", lambda o: mls.MultiStepLR(o, [2, 5, 5, 9], 0.5), lambda o: tls.MultiStepLR(o, [2, 5, 5, 9], 0.5)),
    ("ExponentialLR", lambda o: mls.ExponentialLR(o, 0.9), lambda o: tls.ExponentialLR(o, 0.9)),
    ("CosineAnnealingLR", lambda o: mls.CosineAnnealingLR(o, 10, 0.001), lambda o: tls.CosineAnnealingLR(o, 10, 0.001)),
    ("OneCycleLR", lambda o: mls.OneCycleLR(o, 1.0, total_steps=20), lambda o: tls.OneCycleLR(o, 1.0, total_steps=20)),
    (
        "OneCycleLR-linear-3phase",
        lambda o: mls.OneCycleLR(
            o, [1.0, 2.0], epochs=4, steps_per_epoch=5, anneal_strategy="linear", three_phase=True
        ),
        lambda o: tls.OneCycleLR(
            o, [1.0, 2.0], epochs=4, steps_per_epoch=5, anneal_strategy="linear", three_phase=True
        ),
    ),
    (
        "warm-up then cosine",
        lambda o: mls.SequentialLR(o, [mls.LinearLR(o, 0.1, total_iters=4), mls.CosineAnnealingLR(o, 12)], [4]),
        lambda o: tls.SequentialLR(o, [tls.LinearLR(o, 0.1, total_iters=4), tls.CosineAnnealingLR(o, 12)], [4]),
    ),
    (
        "three parts",
        lambda o: mls.SequentialLR(
            o, [mls.LinearLR(o, 0.5, total_iters=2), mls.ExponentialLR(o, 0.8), mls.StepLR(o, 2, 0.5)], [3, 9]
        ),
        lambda o: tls.SequentialLR(
            o, [tls.LinearLR(o, 0.5, total_iters=2), tls.ExponentialLR(o, 0.8), tls.StepLR(o, 2, 0.5)], [3, 9]
        ),
    ),
]


@pytest.mark.parametrize("make_mine, make_theirs", [s[1:] for s in SCHEDULES], ids=[s[0] for s in SCHEDULES])
@pytest.mark.parametrize("opt, kw", [("SGD", {"momentum": 0.5}), ("Adam", {})])
def test_schedule_matches_torch(make_mine, make_theirs, opt, kw):
    import warnings

    mine, theirs = _twins(2, opt, **kw)
    s_mine = make_mine(mine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's warnings about the order of step calls)
        s_theirs = make_theirs(theirs)
        for epoch in range(20):
            for g, tg in zip(mine.param_groups, theirs.param_groups):
                np.testing.assert_allclose(g["lr"], tg["lr"], rtol=1e-12, err_msg=f"epoch {epoch}")
                for key in ("momentum", "betas"):
                    if key in tg:
                        np.testing.assert_allclose(g[key], tg[key], rtol=1e-12, err_msg=f"{key} at epoch {epoch}")
            np.testing.assert_allclose(s_mine.get_last_lr(), s_theirs.get_last_lr(), rtol=1e-12)
            theirs.step()
            s_mine.step()
            s_theirs.step()


def test_reduce_on_plateau_matches_torch():
    metrics = [5, 4, 4, 4, 4, 3.9999, 4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1]
    for kw in (
        {"patience": 2},
        {"mode": "max", "factor": 0.5, "patience": 1, "threshold_mode": "abs", "threshold": 0.5, "cooldown": 2},
        {"patience": 0, "min_lr": [0.02, 0.05], "factor": 0.3},
    ):
        mine, theirs = _twins(2)
        s_mine, s_theirs = mls.ReduceLROnPlateau(mine, **kw), tls.ReduceLROnPlateau(theirs, **kw)
        for m in metrics:
            s_mine.step(m)
            s_theirs.step(m)
            assert [g["lr"] for g in mine.param_groups] == pytest.approx([g["lr"] for g in theirs.param_groups])
        assert mine.param_groups[0]["lr"] < 0.1  # (it did reduce)


@pytest.mark.parametrize("norm_type, max_norm", [(2.0, 1.0), (1.0, 0.5), (3.0, 100.0), (float("inf"), 0.1)])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    from minigrad.nn import utils

    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    mine = [mg.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, t, g in zip(mine, theirs, grads):
        p.grad, t.grad = g.copy(), torch.tensor(g)
    total = utils.clip_grad_norm_(mine, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(float(total), float(expected), rtol=1e-12)
    for p, t in zip(mine, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
    utils.clip_grad_value_(mine, 0.3)
    torch.nn.utils.clip_grad_value_(theirs, 0.3)
    for p, t in zip(mine, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
