"""AdamW and RMSprop against their formulas written out, param groups, the optimizers' and schedulers'
state_dict round trips (training resumed after a load follows the saved trajectory exactly), the schedulers
added with them, and nn.utils' gradient clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import utils
from minigrad.optim import lr_scheduler as ls

C = np.array([1.0, 0.5, 2.0])
P0 = np.array([1.0, -2.0, 3.0])


def _history(opt_cls, n=4, **kw):
    """n steps on L = Σ (c ∘ p²)/2, whose gradient is c ∘ p; the parameter after each."""
    p = mg.tensor(P0.copy(), requires_grad=True)
    opt = opt_cls([p], **kw)
    out = []
    for _ in range(n):
        opt.zero_grad()
        (0.5 * (mg.tensor(C) * p * p)).sum().backward()
        opt.step()
        out.append(p.data.copy())
    return out


def test_adamw_formula():
    p, m, v = P0.copy(), np.zeros(3), np.zeros(3)
    for t, got in enumerate(_history(optim.AdamW, lr=0.1, betas=(0.8, 0.9), weight_decay=0.5), start=1):
        g = C * p
        p = p * (1 - 0.1 * 0.5)  # decoupled: the decay does not go through the moments
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g * g
        p = p - 0.1 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.9**t)) + 1e-8)
        np.testing.assert_allclose(got, p, rtol=1e-13)
    assert optim.AdamW([mg.tensor([1.0], requires_grad=True)]).weight_decay == 1e-2  # PyTorch's default


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.7])
def test_rmsprop_formula(centered, momentum):
    p, s, mean, b = P0.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    kw = {"lr": 0.05, "alpha": 0.9, "weight_decay": 0.1, "momentum": momentum, "centered": centered}
    for got in _history(optim.RMSprop, **kw):
        g = C * p + 0.1 * p
        s = 0.9 * s + 0.1 * g * g
        mean = 0.9 * mean + 0.1 * g
        denominator = np.sqrt(s - mean**2 if centered else s) + 1e-8
        b = momentum * b + g / denominator
        p = p - 0.05 * (b if momentum else g / denominator)
        np.testing.assert_allclose(got, p, rtol=1e-13)


def test_rmsprop_and_adamw_refuse_bad_hyperparameters():
    p = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"RMSprop: alpha must be in \[0, 1\), got 1.5"):
        optim.RMSprop([p], alpha=1.5)
    with pytest.raises(ValueError, match="RMSprop: centered must be True or False"):
        optim.RMSprop([p], centered=1)
    with pytest.raises(ValueError, match="AdamW: weight_decay must be non-negative"):
        optim.AdamW([p], weight_decay=-1.0)
    with pytest.raises(ValueError, match="Adam has no hyperparameter 'alpha'"):
        optim.Adam([{"params": [p], "alpha": 0.9}])


@pytest.mark.parametrize("opt_cls", [optim.SGD, optim.Adagrad, optim.Adam, optim.AdamW, optim.RMSprop])
def test_param_groups_keep_their_own_lr_and_weight_decay(opt_cls):
    """Each group steps as an optimizer of its own hyperparameters alone would; add_param_group too."""

    def run(groups_of):
        a, b, c = (mg.tensor(P0.copy() * (i + 1), requires_grad=True) for i in range(3))
        opt = opt_cls(groups_of(a, b), lr=0.05)
        opt.add_param_group({"params": [c], "weight_decay": 0.3})
        for _ in range(3):
            opt.zero_grad()
            sum((0.5 * (mg.tensor(C) * t * t)).sum() for t in (a, b, c)).backward()
            opt.step()
        return a.data, b.data, c.data

    grouped = run(lambda a, b: [{"params": [a]}, {"params": [b], "lr": 0.2, "weight_decay": 0.1}])
    for k, kw in enumerate([{"lr": 0.05}, {"lr": 0.2, "weight_decay": 0.1}, {"lr": 0.05, "weight_decay": 0.3}]):
        p = mg.tensor(P0.copy() * (k + 1), requires_grad=True)
        alone = opt_cls([p], **kw)
        for _ in range(3):
            alone.zero_grad()
            (0.5 * (mg.tensor(C) * p * p)).sum().backward()
            alone.step()
        np.testing.assert_array_equal(grouped[k], p.data)


def _net(seed=0):
    net = nn.Sequential(
        nn.Linear(3, 4, rng=seed, dtype=np.float64), nn.Tanh(), nn.Linear(4, 1, rng=seed + 1, dtype=np.float64)
    )
    return net


def _train(net, opt, steps, start=0, scheduler=None):
    rng = np.random.default_rng(100 + start)
    for _ in range(steps):
        x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 1))
        opt.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()


OPTIMIZERS = [
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    (optim.Adagrad, {"lr": 0.1}),
    (optim.Adam, {"lr": 0.01, "weight_decay": 0.01}),
    (optim.AdamW, {"lr": 0.01}),
    (optim.RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True}),
]


@pytest.mark.parametrize("opt_cls, kw", OPTIMIZERS, ids=[c.__name__ for c, _ in OPTIMIZERS])
def test_state_dict_round_trip_resumes_the_same_trajectory(opt_cls, kw):
    net = _net()
    groups = [{"params": list(net[0].parameters())}, {"params": list(net[2].parameters()), "lr": 0.003}]
    opt = opt_cls(groups, **kw)
    sched = ls.StepLR(opt, step_size=2, gamma=0.5)
    _train(net, opt, 5, scheduler=sched)
    saved, saved_sched, weights = opt.state_dict(), sched.state_dict(), net.state_dict()
    assert set(saved) == {"state", "param_groups"}
    assert [g["params"] for g in saved["param_groups"]] == [[0, 1], [2, 3]]
    assert sorted(saved["state"]) == [0, 1, 2, 3] and saved["state"][0]["step"] == 5
    _train(net, opt, 4, start=5, scheduler=sched)  # the original goes on...

    twin = _net(seed=7)  # ... and a fresh net, optimizer and scheduler resume from the saved ones
    twin.load_state_dict(weights)
    opt2 = opt_cls([{"params": list(twin[0].parameters())}, {"params": list(twin[2].parameters())}], lr=0.5)
    sched2 = ls.StepLR(opt2, step_size=10)
    opt2.load_state_dict(saved)
    sched2.load_state_dict(saved_sched)
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in saved["param_groups"]]
    _train(twin, opt2, 4, start=5, scheduler=sched2)
    for a, b in zip(net.parameters(), twin.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    # the saved dict was a copy: the training that went on did not change it
    assert saved["state"][0]["step"] == 5


def test_state_dict_keeps_the_lazy_sparse_state():
    def run(opt, emb, ids_list):
        for ids in ids_list:
            opt.zero_grad()
            (emb(np.array(ids)) ** 2).sum().backward()
            opt.step()

    emb = nn.Embedding(6, 3, rng=0, dtype=np.float64)
    opt = optim.AdamW(emb.parameters(), lr=0.1)
    run(opt, emb, [[1, 3], [3]])
    saved, table = opt.state_dict(), emb.weight.data.copy()
    run(opt, emb, [[0, 1]])
    twin = nn.Embedding(6, 3, rng=1, dtype=np.float64)
    twin.weight.data = table
    opt2 = optim.AdamW(twin.parameters(), lr=0.1)
    opt2.load_state_dict(saved)
    run(opt2, twin, [[0, 1]])
    np.testing.assert_array_equal(emb.weight.data, twin.weight.data)
    np.testing.assert_array_equal(twin.weight.data[[2, 4, 5]], table[[2, 4, 5]])  # never looked up: unmoved


@pytest.mark.parametrize("opt_cls", [optim.AdamW, optim.RMSprop])
def test_lazy_sparse_update_leaves_other_rows_and_their_state(opt_cls):
    emb = nn.Embedding(5, 2, rng=0, dtype=np.float64)
    opt = opt_cls(emb.parameters(), lr=0.1, weight_decay=0.5, **({"momentum": 0.9} if opt_cls is optim.RMSprop else {}))
    before = emb.weight.data.copy()
    for ids in ([1], [1], [3]):
        opt.zero_grad()
        (emb(np.array(ids)) ** 2).sum().backward()
        if ids == [3]:
            state_row1 = {k: v[1].copy() for k, v in opt.state[emb.weight].items() if isinstance(v, np.ndarray)}
            row1 = emb.weight.data[1].copy()
        opt.step()
    np.testing.assert_array_equal(emb.weight.data[[0, 2, 4]], before[[0, 2, 4]])  # no decay either
    np.testing.assert_array_equal(emb.weight.data[1], row1)  # with momentum and weight decay, still unmoved
    for k, v in state_row1.items():
        np.testing.assert_array_equal(opt.state[emb.weight][k][1], v)


def test_load_state_dict_refuses_what_does_not_fit_and_changes_nothing():
    p, q = mg.tensor(np.zeros(3), requires_grad=True), mg.tensor(np.zeros(2), requires_grad=True)
    opt = optim.Adam([p, q], lr=0.1)
    (p.sum() + q.sum()).backward()
    opt.step()
    good = opt.state_dict()
    other = optim.Adam([q, p], lr=0.1)
    with pytest.raises(ValueError, match=r"state 'm' of parameter 0 has shape \(3,\), the parameter \(2,\)"):
        other.load_state_dict(good)
    with pytest.raises(ValueError, match="the state_dict has 1 param groups, this optimizer 2"):
        optim.Adam([{"params": [p]}, {"params": [q]}]).load_state_dict(good)
    with pytest.raises(ValueError, match="param group 0 has 2 parameters in the state_dict, 1 in this optimizer"):
        optim.Adam([p]).load_state_dict(good)
    bad = opt.state_dict()
    bad["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match="learning rate lr must be non-negative"):
        opt.load_state_dict(bad)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.state[p]["step"] == 1
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})


def test_multistep_lr():
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=1.0)
    s = ls.MultiStepLR(opt, milestones=[3, 1, 3], gamma=0.5)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(4):
        s.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 0.5, 0.5, 0.125, 0.125]


def test_one_cycle_shape_and_limits():
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=1.0, momentum=0.9)
    s = ls.OneCycleLR(opt, max_lr=0.5, total_steps=10)
    lrs, momenta = [], []
    for _ in range(10):
        lrs.append(opt.lr)
        momenta.append(opt.momentum)
        s.step()
    assert lrs[0] == pytest.approx(0.5 / 25) and max(lrs) == pytest.approx(0.5) and np.argmax(lrs) == 2
    assert lrs[-1] == pytest.approx(0.5 / 25 / 1e4)
    assert momenta[0] == pytest.approx(0.95) and momenta[2] == pytest.approx(0.85)  # against the rate
    with pytest.raises(ValueError, match="stepped 11 times, more than total_steps=10"):
        s.step()
    with pytest.raises(ValueError, match="cycle_momentum needs an optimizer with momentum or betas"):
        ls.OneCycleLR(optim.Adagrad([mg.tensor([1.0], requires_grad=True)]), 0.1, total_steps=5)
    with pytest.raises(ValueError, match="give total_steps, or both epochs and steps_per_epoch"):
        ls.OneCycleLR(opt, 0.1, epochs=3)


def test_one_cycle_state_dict_resumes():
    def make():
        opt = optim.Adam([mg.tensor([1.0], requires_grad=True)])
        return opt, ls.OneCycleLR(opt, 0.1, total_steps=12)

    opt, s = make()
    for _ in range(5):
        s.step()
    saved_opt, saved = opt.state_dict(), s.state_dict()
    rest = []
    for _ in range(6):
        s.step()
        rest.append((opt.lr, opt.betas))
    opt2, s2 = make()
    opt2.load_state_dict(saved_opt)
    s2.load_state_dict(saved)
    for lr, betas in rest:
        s2.step()
        assert (opt2.lr, opt2.betas) == (lr, betas)


def test_reduce_on_plateau_waits_patience_then_cools_down():
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=1.0)
    s = ls.ReduceLROnPlateau(opt, patience=1, cooldown=1, factor=0.5, min_lr=0.2)
    lrs = []
    for loss in [3, 3, 3, 3, 3, 3, 3, 3, 3]:
        s.step(mg.tensor(float(loss)))
        lrs.append(opt.lr)
    # the first is the best yet; then bad epochs 1, 2 (> patience: halve), an epoch of cooldown (not counted),
    # bad 1, 2 (halve) ...; never below min_lr
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2]
    with pytest.raises(ValueError, match=r"factor must be in \[0, 1\)"):
        ls.ReduceLROnPlateau(opt, factor=2.0)


def test_sequential_lr_warm_up_then_cosine():
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=1.0)
    warm = ls.LinearLR(opt, start_factor=0.25, total_iters=3)
    s = ls.SequentialLR(opt, [warm, ls.CosineAnnealingLR(opt, T_max=4)], milestones=[3])
    lrs = [opt.lr]
    for _ in range(7):
        s.step()
        lrs.append(opt.lr)
    cosine = [(1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    np.testing.assert_allclose(lrs, [0.25, 0.5, 0.75, *cosine], atol=1e-15)
    with pytest.raises(ValueError, match="one milestone fewer than schedulers"):
        ls.SequentialLR(opt, [warm], milestones=[3])
    with pytest.raises(TypeError, match="scheduler 1 must be a closed-form scheduler"):
        ls.SequentialLR(opt, [warm, ls.OneCycleLR(opt, 1.0, total_steps=5, cycle_momentum=False)], [2])


def _params_with_grads():
    a, b = mg.tensor(np.zeros(3), requires_grad=True), mg.tensor(np.zeros((2, 2)), requires_grad=True)
    a.grad, b.grad = np.array([3.0, -4.0, 0.0]), np.array([[1.0, 2.0], [-2.0, 0.5]])
    return a, b


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
def test_clip_grad_norm_scales_together_and_returns_the_norm(norm_type):
    a, b = _params_with_grads()
    flat = np.concatenate([a.grad.ravel(), b.grad.ravel()])
    order = math.inf if norm_type == "inf" else norm_type
    total = np.linalg.norm(flat, order)
    got = utils.clip_grad_norm_([a, b], max_norm=1.0, norm_type=norm_type)
    assert isinstance(got, mg.Tensor) and got.data.shape == () and float(got) == pytest.approx(total, rel=1e-12)
    scale = 1.0 / (total + 1e-6)
    np.testing.assert_allclose(np.concatenate([a.grad.ravel(), b.grad.ravel()]), flat * scale, rtol=1e-12)
    a, b = _params_with_grads()
    utils.clip_grad_norm_([a, b], max_norm=100.0, norm_type=norm_type)
    np.testing.assert_array_equal(a.grad, [3.0, -4.0, 0.0])  # under the limit: unchanged


def test_clip_grad_norm_nonfinite_and_errors():
    a, b = _params_with_grads()
    b.grad = np.array([[np.inf, 0.0], [0.0, 0.0]])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is inf"):
        utils.clip_grad_norm_([a, b], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(a.grad, [3.0, -4.0, 0.0])  # nothing scaled
    with pytest.raises(ValueError, match="norm_type must be a positive number or inf"):
        utils.clip_grad_norm_([a], 1.0, norm_type=0)
    assert float(utils.clip_grad_norm_([mg.tensor([1.0], requires_grad=True)], 1.0)) == 0.0  # no gradients


def test_clip_grad_value_and_vectors():
    a, b = _params_with_grads()
    utils.clip_grad_value_([a, b], 1.5)
    np.testing.assert_array_equal(a.grad, [1.5, -1.5, 0.0])
    np.testing.assert_array_equal(b.grad, [[1.0, 1.5], [-1.5, 0.5]])
    vec = utils.parameters_to_vector([a, b])
    np.testing.assert_array_equal(vec, np.zeros(7))
    utils.vector_to_parameters(np.arange(7.0), [a, b])
    np.testing.assert_array_equal(b.data, [[3.0, 4.0], [5.0, 6.0]])
    with pytest.raises(ValueError, match=r"a vector of shape \(6,\) for parameters of 7 elements"):
        utils.vector_to_parameters(np.zeros(6), [a, b])
