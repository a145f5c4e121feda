"""An adversarial review of the network layers as a PyTorch user meets them: each test is a case found wrong
(a result that differed from PyTorch's, or that PyTorch refuses and minigrad silently computed), fixed."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import functional as F

LS = optim.lr_scheduler


# -- schedulers: two on one optimizer compose, as PyTorch's chainable ones ---------------------------------------


def _rates(schedulers, steps, make):
    opt = make()
    parts = schedulers(opt)
    out = []
    for _ in range(steps):
        for s in parts:
            s.step()
        out.append(opt.param_groups[0]["lr"])
    return out


def _mg_sgd():
    return optim.SGD([mg.tensor(np.ones(2), requires_grad=True)], lr=0.1)


def test_two_chained_schedulers_multiply_their_factors():
    # ExponentialLR(0.5) and StepLR(2, 0.1) on one optimizer: PyTorch's rate is 0.1 · 0.5^e · 0.1^⌊e/2⌋
    # (the second used to overwrite the first: 0.1 · 0.1^⌊e/2⌋)
    got = _rates(lambda o: [LS.ExponentialLR(o, 0.5), LS.StepLR(o, 2, 0.1)], 7, _mg_sgd)
    want = [0.1 * 0.5**e * 0.1 ** (e // 2) for e in range(1, 8)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_warm_up_made_first_is_kept_by_a_scheduler_made_after():
    # LinearLR writes 0.1 · 0.25 at construction; an ExponentialLR made next starts from it, as in PyTorch
    opt = _mg_sgd()
    LS.LinearLR(opt, 0.25, 1.0, total_iters=4)
    LS.ExponentialLR(opt, 0.9)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025, rel=1e-12)


def test_lambda_lr_is_not_chainable_as_in_pytorch():
    got = _rates(lambda o: [LS.ExponentialLR(o, 0.5), LS.LambdaLR(o, lambda e: 1 / (e + 1))], 3, _mg_sgd)
    np.testing.assert_allclose(got, [0.1 / (e + 1) for e in range(1, 4)], rtol=1e-12)


@pytest.mark.parametrize(
    "build",
    [
        lambda o, S: [S.ExponentialLR(o, 0.9), S.StepLR(o, 3, 0.5)],
        lambda o, S: [S.StepLR(o, 2, 0.5), S.MultiStepLR(o, [3, 5], 0.1)],
        lambda o, S: [S.CosineAnnealingLR(o, 5, eta_min=0.01), S.ExponentialLR(o, 0.9)],
        lambda o, S: [S.LinearLR(o, 0.25, 1.0, 4), S.ExponentialLR(o, 0.9)],
        lambda o, S: [S.ExponentialLR(o, 0.5), S.LambdaLR(o, lambda e: 1 / (e + 1))],
        lambda o, S: S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=3), S.ExponentialLR(o, 0.5)], [3]),
    ],
    ids=["exp+step", "step+multistep", "cosine+exp", "linear+exp", "exp+lambda", "sequential"],
)
def test_chained_schedulers_follow_torch(build):
    torch = pytest.importorskip("torch")

    def torch_sgd():
        return torch.optim.SGD([torch.ones(2, requires_grad=True)], lr=0.1)

    def parts(o, S):
        made = build(o, S)
        return made if isinstance(made, list) else [made]

    got = _rates(lambda o: parts(o, LS), 12, _mg_sgd)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch warns about stepping a scheduler before its optimizer)
        want = _rates(lambda o: parts(o, torch.optim.lr_scheduler), 12, torch_sgd)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_step_lr_and_reduce_on_plateau_compose_as_torch():
    torch = pytest.importorskip("torch")
    import warnings

    def run(S, opt):
        a, b = S.StepLR(opt, 3, 0.5), S.ReduceLROnPlateau(opt, patience=0, factor=0.5)
        out = []
        for metric in [3, 2, 2, 2, 1, 1, 1, 1, 1, 1]:
            a.step()
            b.step(metric)
            out.append(opt.param_groups[0]["lr"])
        return out

    got = run(LS, _mg_sgd())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = run(torch.optim.lr_scheduler, torch.optim.SGD([torch.ones(1, requires_grad=True)], lr=0.1))
    np.testing.assert_allclose(got, want, rtol=1e-12)


# -- activations ----------------------------------------------------------------------------------------------


def test_elu_gradient_is_accurate_far_left():
    # d/dx α(eˣ − 1) = α eˣ; expm1's rule computed it as (expm1(x) + 1), which near −1 keeps few digits
    # (relative error 2e-5 at x = −30, and 0 instead of 4e-44 at x = −100)
    x = np.array([-100.0, -30.0, -20.0, -5.0])
    t = mg.tensor(x, requires_grad=True)
    F.elu(t, 0.7).sum().backward()
    np.testing.assert_allclose(t.grad, 0.7 * np.exp(x), rtol=1e-14)
    t = mg.tensor(x, requires_grad=True)
    mg.expm1(t).sum().backward()
    np.testing.assert_allclose(t.grad, np.exp(x), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softplus_gradient_at_infinity_is_the_linear_branchs(dtype):
    # PyTorch: softplus(inf) = inf with gradient 1 (the linear branch); the unused smooth branch gave nan
    x = mg.tensor(np.array([np.inf, 30.0, 1.0], dtype=dtype), requires_grad=True)
    F.softplus(x).sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, 1.0, 1 / (1 + np.exp(-1.0))], rtol=1e-6)
    y = mg.tensor(np.array([-np.inf], dtype=dtype), requires_grad=True)
    F.softplus(y, beta=-1.0).sum().backward()  # β x = inf: the linear branch again
    np.testing.assert_allclose(y.grad, [1.0])


@pytest.mark.parametrize("layer", [nn.Softmax, nn.LogSoftmax])
def test_softmax_modules_name_themselves_for_a_bad_dim(layer):
    x = mg.tensor(np.ones((2, 3, 4)))
    name = layer.__name__
    for dim in (3, -4, 1.5):
        with pytest.raises(ValueError, match=rf"{name}: dim={dim} is out of range for an input of shape \(2, 3, 4\)"):
            layer(dim)(x)
    np.testing.assert_allclose(layer(-3)(x).numpy(), layer(0)(x).numpy())


# -- attention: integer masks are refused, as PyTorch refuses them ------------------------------------------------


def test_multihead_attention_refuses_integer_masks():
    mha = nn.MultiheadAttention(4, 2, dtype=np.float64, rng=0)
    x = mg.tensor(np.ones((3, 2, 4)))  # (L, N, E)
    with pytest.raises(TypeError, match=r"MultiheadAttention: attn_mask must be boolean or floating.*int64"):
        mha(x, x, x, attn_mask=np.triu(np.ones((3, 3), dtype=np.int64), 1))  # 1 was added, not masked
    with pytest.raises(TypeError, match=r"MultiheadAttention: key_padding_mask must be boolean or floating.*uint8"):
        mha(x, x, x, key_padding_mask=np.zeros((2, 3), dtype=np.uint8))
    layer = nn.TransformerEncoderLayer(4, 2, 8, dtype=np.float64, rng=0)
    with pytest.raises(TypeError, match=r"attn_mask must be boolean or floating"):
        layer(x, src_mask=np.zeros((3, 3), dtype=np.int32))


def test_scaled_dot_product_attention_refuses_an_integer_mask():
    q = np.ones((1, 2, 4))
    with pytest.raises(TypeError, match=r"scaled_dot_product_attention: attn_mask must be boolean or floating"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((2, 2), dtype=np.int64))


# -- clip_grad_norm_ -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("first_nan", [False, True])
def test_clip_grad_norm_inf_sees_a_nan_in_any_parameter(first_nan):
    # the inf-norm took Python's max of the parameters' maxima, which keeps 2.0 over a later nan: a nan
    # gradient then passed error_if_nonfinite=True and was scaled as if finite
    grads = [np.array([1.0, 2.0]), np.array([np.nan, 0.5])]
    params = [mg.tensor(np.ones(2), requires_grad=True) for _ in grads]
    for p, g in zip(params, grads[::-1] if first_nan else grads):
        p.grad = g.copy()
    with pytest.raises(RuntimeError, match=r"clip_grad_norm_: the total norm of order inf .* is nan"):
        nn.utils.clip_grad_norm_(params, 1.0, "inf", error_if_nonfinite=True)
    assert np.isnan(float(nn.utils.clip_grad_norm_(params, 1.0, "inf")))


# -- losses ----------------------------------------------------------------------------------------------------


def test_cross_entropy_with_pytorchs_class_axis_says_where_minigrad_takes_the_classes():
    logits, target = np.zeros((2, 3, 4)), np.zeros((2, 4), dtype=np.int64)  # (N, C, L) and (N, L), as PyTorch
    with pytest.raises(ValueError, match=r"classes on the last axis .* use nn.CrossEntropyLoss"):
        F.cross_entropy(logits, target)
    assert float(nn.CrossEntropyLoss()(logits, target)) == pytest.approx(np.log(3))


@pytest.mark.parametrize("kw", [{}, {"weight": np.array([1.0, 2.0, 0.5])}, {"ignore_index": 1}])
def test_nll_loss_mean_keeps_float32(kw):
    # the mean's guard against no counted target was written with Python floats, which made the loss float64
    x = mg.tensor(np.log(np.full((4, 3), 1 / 3, dtype=np.float32)), requires_grad=True)
    loss = F.nll_loss(x, np.array([0, 1, 2, 1]), **kw)
    assert loss.dtype == np.float32
    assert float(loss) == pytest.approx(np.log(3), rel=1e-6)
    loss.backward()
    assert x.grad.dtype == np.float32
    assert np.isnan(float(F.nll_loss(x, np.full(4, -100))))  # and still nan where no target counts


@pytest.mark.parametrize(
    "make",
    [lambda o: LS.StepLR(o, 1, 0.5), lambda o: LS.CosineAnnealingLR(o, 4), lambda o: LS.ReduceLROnPlateau(o)],
    ids=["StepLR", "CosineAnnealingLR", "ReduceLROnPlateau"],
)
def test_a_group_added_after_the_scheduler_is_refused_not_left_unscheduled(make):
    opt = _mg_sgd()
    scheduler = make(opt)
    opt.add_param_group({"params": [mg.tensor(np.ones(1), requires_grad=True)], "lr": 0.5})
    name = type(scheduler).__name__
    with pytest.raises(ValueError, match=rf"{name}.step: the optimizer has 2 param groups, .* made with 1"):
        scheduler.step(1.0) if name == "ReduceLROnPlateau" else scheduler.step()
    assert opt.param_groups[1]["lr"] == 0.5


# -- normalization ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weight": np.ones(4)}, r"batch_norm: weight of shape \(4,\) does not fit an input of shape \(2, 3, 5\)"),
        ({"bias": np.ones((1, 3))}, r"batch_norm: bias of shape \(1, 3\) does not fit"),
        ({"running_mean": np.zeros(2), "running_var": np.ones(2)}, r"batch_norm: running_mean of shape \(2,\)"),
        ({"running_mean": np.zeros(3)}, r"batch_norm: give running_mean and running_var together"),
    ],
)
def test_functional_batch_norm_names_a_misfitting_argument(kwargs, message):
    x = mg.tensor(np.ones((2, 3, 5)))  # (these failed deep inside NumPy, "cannot reshape array of size 4")
    args = {"running_mean": None, "running_var": None, **kwargs}
    with pytest.raises(ValueError, match=message):
        F.batch_norm(x, args.pop("running_mean"), args.pop("running_var"), **args)


# -- transformer -----------------------------------------------------------------------------------------------


def test_encoder_layers_drop_different_attention_weights():
    # the clones start from the same weights; their attention's dropout generator was copied too, so every
    # layer dropped the same attention weights at every step (the Dropout modules were reseeded, not it)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5, dtype=np.float64, rng=0), 2)
    x = mg.tensor(np.random.default_rng(1).normal(size=(5, 3, 8)))
    first, second = (layer.self_attn(x, x, x)[1].numpy() for layer in enc.layers)
    assert not np.allclose(first, second)
    enc.eval()  # without dropout the two layers (same weights) agree
    first, second = (layer.self_attn(x, x, x)[1].numpy() for layer in enc.layers)
    np.testing.assert_allclose(first, second)
