"""Issue #20 for optim: hyperparameters are checked alike at construction, by assignment (``opt.lr = x``), through
param groups (``group["lr"] = x``) and schedulers; 0 is allowed where PyTorch allows it (a warm-up starts there)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim


def param(values=(1.0, -2.0)):
    return mg.tensor(list(values), requires_grad=True)


def quadratic_step(opt, params):
    opt.zero_grad()
    sum((p * p).sum() for p in params).backward()
    opt.step()


@pytest.mark.parametrize("opt_cls", [optim.SGD, optim.Adam, optim.Adagrad])
def test_a_learning_rate_of_zero_is_allowed_however_it_is_set_and_moves_nothing(opt_cls):
    p = param()
    opt = opt_cls([p], lr=0.0)
    quadratic_step(opt, [p])
    assert p.data.tolist() == [1.0, -2.0]
    opt.lr = 0.5
    opt.lr = 0
    opt.param_groups[0]["lr"] = 0.0
    quadratic_step(opt, [p])
    assert p.data.tolist() == [1.0, -2.0] and opt.lr == 0.0


BAD = [
    (optim.SGD, "lr", -0.1, "the learning rate lr must be non-negative and finite, got -0.1"),
    (optim.SGD, "lr", math.nan, "the learning rate lr must be non-negative and finite, got nan"),
    (optim.Adam, "lr", math.inf, "the learning rate lr must be non-negative and finite, got inf"),
    (optim.Adam, "lr", "0.1", "the learning rate lr must be non-negative and finite, got '0.1'"),
    (optim.Adagrad, "lr", True, "the learning rate lr must be non-negative and finite, got True"),
    (optim.SGD, "weight_decay", -1.0, "weight_decay must be non-negative and finite, got -1.0"),
    (optim.SGD, "momentum", 1.0, r"momentum must be in \[0, 1\), got 1.0"),
    (optim.SGD, "momentum", -0.5, r"momentum must be in \[0, 1\), got -0.5"),
    (optim.SGD, "nesterov", "yes", "nesterov must be True or False, got 'yes'"),
    (optim.Adam, "betas", (0.9, 1.0), r"betas\[1\] must be in \[0, 1\), got 1.0"),
    (optim.Adam, "betas", (0.9,), r"betas must be a pair \(beta1, beta2\)"),
    (optim.Adam, "eps", -1e-8, "eps must be non-negative and finite, got -1e-08"),
    (optim.Adagrad, "eps", math.nan, "eps must be non-negative and finite, got nan"),
    (optim.Adagrad, "initial_accumulator_value", -1.0, "initial_accumulator_value must be non-negative"),
]


@pytest.mark.parametrize("opt_cls, name, bad, message", BAD)
def test_a_bad_hyperparameter_is_refused_at_construction_by_assignment_and_in_a_param_group(
    opt_cls, name, bad, message
):
    cls = opt_cls.__name__
    with pytest.raises(ValueError, match=f"^{cls}: {message}"):
        opt_cls([param()], **{name: bad})
    p, fresh = param(), param()
    opt, reference = opt_cls([p], lr=0.1), opt_cls([fresh], lr=0.1)
    with pytest.raises(ValueError, match=rf"^{cls} \(param group 0\): {message}"):
        setattr(opt, name, bad)
    with pytest.raises(ValueError, match=rf"^{cls} \(param group 0\): {message}"):
        opt.param_groups[0][name] = bad
    assert opt.param_groups[0][name] == reference.param_groups[0][name]  # nothing was written
    quadratic_step(opt, [p])
    quadratic_step(reference, [fresh])
    np.testing.assert_array_equal(p.data, fresh.data)


def test_nesterov_needs_a_momentum_however_they_are_set_and_a_refusal_changes_no_group():
    with pytest.raises(ValueError, match="SGD: nesterov needs a momentum, got 0"):
        optim.SGD([param()], lr=0.1, nesterov=True)
    opt = optim.SGD([{"params": [param()], "nesterov": True}, {"params": [param()]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"SGD \(param group 0\): nesterov needs a momentum"):
        opt.momentum = 0.0
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]  # group 1 could take it: not written either
    with pytest.raises(ValueError, match=r"SGD \(param group 1\): nesterov needs a momentum"):
        opt.param_groups[1].update(momentum=0.0, nesterov=True)


def test_param_groups_train_with_their_own_hyperparameters():
    a, b, c = param([1.0]), param([2.0]), param([4.0])
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.25}], lr=0.5)
    opt.add_param_group({"params": [c], "momentum": 0.5})
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.25, 0.5] and opt.params == [a, b, c]
    quadratic_step(opt, [a, b, c])  # gradient 2p
    assert (a.data[0], b.data[0], c.data[0]) == (1 - 0.5 * 2, 2 - 0.25 * 4, 4 - 0.5 * 8)
    with pytest.raises(
        AttributeError, match=r"SGD: the param groups have different values of lr \(\[0.5, 0.25, 0.5\]\)"
    ):
        getattr(opt, "lr")  # noqa: B009  (the read is the test)
    opt.lr = 0.1  # every group
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.1, 0.1] and opt.defaults["lr"] == 0.1
    with pytest.raises(ValueError, match="appears more than once in the list .or in two param groups."):
        opt.add_param_group({"params": [a]})
    with pytest.raises(TypeError, match="a param group is a dict with a 'params' entry"):
        opt.add_param_group([param()])
    with pytest.raises(ValueError, match="a group's params cannot be replaced"):
        opt.param_groups[0]["params"] = [param()]
    with pytest.raises(ValueError, match="'lr' cannot be removed from a param group"):
        del opt.param_groups[0]["lr"]
    with pytest.raises(TypeError, match="params mixes tensors and dicts"):
        optim.Adam([param(), {"params": [param()]}])
    with pytest.raises(TypeError, match="got one tensor; use \\[p\\]"):
        optim.Adam(param())


def test_a_hyperparameter_the_optimizer_does_not_have_is_refused_not_stored_unread():
    opt = optim.Adam([param()], lr=0.1)
    with pytest.raises(AttributeError, match=r"Adam has no hyperparameter 'momentum'; its own are \['lr', 'betas'"):
        opt.momentum = 0.9
    with pytest.raises(ValueError, match=r"Adam \(param group 0\): Adam has no hyperparameter 'amsgrad'"):
        opt.param_groups[0]["amsgrad"] = True
    opt.param_groups[0]["name"] = "encoder"  # a key of the user's own, as PyTorch allows
    assert opt.param_groups[0]["name"] == "encoder"


def test_a_momentum_set_after_the_first_step_starts_from_rest():
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1)
    quadratic_step(opt, [p])  # p = 1 - 0.1 * 2 = 0.8
    opt.momentum = 0.5
    quadratic_step(opt, [p])  # v = 2 * 0.8; p = 0.8 - 0.1 v
    quadratic_step(opt, [p])
    v = 1.6
    expected = 0.8 - 0.1 * v
    v = 0.5 * v + 2 * expected
    np.testing.assert_allclose(p.data, [expected - 0.1 * v])


def schedule(make, lrs=(1.0, 0.5), steps=7):
    opt = optim.SGD([{"params": [param()], "lr": lr} for lr in lrs])
    scheduler = make(opt)
    seen = [scheduler.get_last_lr()]
    for _ in range(steps):
        scheduler.step()
        seen.append([g["lr"] for g in opt.param_groups])
    assert [g["initial_lr"] for g in opt.param_groups] == list(lrs)
    return np.array(seen)


@pytest.mark.parametrize(
    "make, factor",
    [
        (lambda o: optim.lr_scheduler.LambdaLR(o, lambda e: e / 4), lambda e: e / 4),  # a warm-up from 0
        (lambda o: optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), lambda e: 0.5 ** (e // 3)),
        (lambda o: optim.lr_scheduler.ExponentialLR(o, gamma=0.9), lambda e: 0.9**e),
        (lambda o: optim.lr_scheduler.LinearLR(o, 0.25, 0.0, total_iters=4), lambda e: 0.25 - 0.25 * min(e, 4) / 4),
        (lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=6), lambda e: (1 + math.cos(math.pi * e / 6)) / 2),
    ],
)
def test_schedulers_follow_torchs_closed_forms_and_may_reach_zero(make, factor):
    expected = np.array([[lr * factor(e) for lr in (1.0, 0.5)] for e in range(8)])
    np.testing.assert_allclose(schedule(make), expected, rtol=1e-15, atol=1e-16)


def test_a_schedule_that_reaches_a_bad_rate_is_refused_naming_the_scheduler_and_the_epoch():
    opt = optim.Adam([{"params": [param()]}, {"params": [param()]}], lr=0.1)
    decay = optim.lr_scheduler.LambdaLR(opt, [lambda e: 1.0, lambda e: 1 - e / 2])
    decay.step()
    decay.step()  # epoch 2: 0, allowed
    with pytest.raises(
        ValueError,
        match=r"LambdaLR.step \(epoch 3\): Adam \(param group 1\): the learning rate lr must be non-negative",
    ):
        decay.step()
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.0] and decay.last_epoch == 2  # nothing written
    with pytest.raises(ValueError, match=r"LambdaLR.step \(epoch 0\): .*got nan"):
        optim.lr_scheduler.LambdaLR(optim.SGD([param()], lr=0.1), lambda e: math.nan)


def test_scheduler_arguments_are_checked():
    opt, sched = optim.SGD([param()], lr=0.1), optim.lr_scheduler
    cases = [
        (ValueError, "StepLR: step_size must be a positive integer, got 0", lambda: sched.StepLR(opt, 0)),
        (ValueError, "StepLR: gamma must be non-negative", lambda: sched.StepLR(opt, 2, gamma=-1.0)),
        (ValueError, "ExponentialLR: gamma must be non-negative", lambda: sched.ExponentialLR(opt, math.nan)),
        (ValueError, r"LinearLR: start_factor must be in \(0, 1\]", lambda: sched.LinearLR(opt, 0.0)),
        (ValueError, r"LinearLR: end_factor must be in \[0, 1\]", lambda: sched.LinearLR(opt, 0.5, 2.0)),
        (ValueError, "CosineAnnealingLR: T_max must be a positive", lambda: sched.CosineAnnealingLR(opt, 0)),
        (TypeError, "LambdaLR: lr_lambda must be a function or a list of 1", lambda: sched.LambdaLR(opt, [])),
        (TypeError, "StepLR: expected a minigrad optimizer, got list", lambda: sched.StepLR([opt], 2)),
        (KeyError, r"resuming at epoch 4 needs param_groups\[0\]\['initial_lr'\]", lambda: sched.StepLR(
            optim.SGD([param()], lr=0.1), 2, last_epoch=4)),
    ]  # fmt: skip
    for error, message, make in cases:
        with pytest.raises(error, match=message):
            make()


def test_a_step_refused_for_one_parameter_moves_none():
    a, b = param([1.0]), param([2.0])
    opt = optim.SGD([a, b], lr=0.1)
    (a * a).sum().backward()
    (b * b).sum().backward(create_graph=True)  # b.grad is a Tensor: the step is refused
    with pytest.raises(TypeError, match="SGD: a parameter's grad is a Tensor"):
        opt.step()
    assert a.data.tolist() == [1.0]  # not moved before the refusal
