"""Convolution and pooling: gradients against numerical differences (float64) and float32 against float64,
stride/padding/dilation/groups combinations, mg.compile's replay, forward mode, second derivatives, the layers'
shapes and init, and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import functional as F
from minigrad.testing import gradcheck, gradgradcheck

rng = np.random.default_rng(0)

COMBOS = [  # (x shape, weight shape, stride, padding, dilation, groups)
    ((2, 2, 5, 4), (3, 2, 2, 3), 1, 0, 1, 1),
    ((1, 4, 6, 5), (4, 2, 3, 2), (2, 1), (1, 2), (1, 2), 2),
    ((2, 3, 5, 5), (3, 1, 3, 3), 2, 1, 1, 3),
    ((2, 2, 4, 4), (2, 2, 2, 2), 1, "same", 2, 1),
    ((2, 2, 7), (4, 1, 3), 3, 2, 2, 2),
    ((1, 1, 6), (2, 1, 4), 1, "same", 1, 1),
]


def _conv(x_shape, w_shape):
    return F.conv1d if len(x_shape) == 3 else F.conv2d


@pytest.mark.parametrize("case", COMBOS, ids=str)
def test_conv_gradients_match_numerical_differences(case):
    x_shape, w_shape, stride, padding, dilation, groups = case
    conv = _conv(x_shape, w_shape)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    assert gradcheck(lambda x, w, b: conv(x, w, b, stride, padding, dilation, groups), x, w, b)


@pytest.mark.parametrize("case", COMBOS[:3], ids=str)
def test_conv_second_derivatives(case):
    x_shape, w_shape, stride, padding, dilation, groups = case
    conv = _conv(x_shape, w_shape)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    assert gradgradcheck(lambda x, w: mg.tanh(conv(x, w, None, stride, padding, dilation, groups)), x, w)


@pytest.mark.parametrize("case", COMBOS, ids=str)
def test_float32_agrees_with_float64(case):
    x_shape, w_shape, stride, padding, dilation, groups = case
    conv = _conv(x_shape, w_shape)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    results = []
    for dtype in (np.float64, np.float32):
        X, W = mg.tensor(x.astype(dtype), requires_grad=True), mg.tensor(w.astype(dtype), requires_grad=True)
        y = conv(X, W, None, stride, padding, dilation, groups)
        pooled = F.max_pool1d(y, 2, 1) if y.ndim == 3 else F.avg_pool2d(y, 1)
        (pooled * pooled).sum().backward()
        assert y.dtype == X.grad.dtype == W.grad.dtype == dtype
        results.append((y.data, X.grad, W.grad))
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("pool", ["max2", "max1", "avg2", "avg1", "avg2_nopad", "adaptive"])
def test_pooling_gradients_match_numerical_differences(pool):
    x = rng.permutation(2 * 3 * 5 * 6).reshape(2, 3, 5, 6) / 10.0  # distinct values: no ties
    fns = {
        "max2": lambda t: F.max_pool2d(t, 3, 2, 1),
        "max1": lambda t: F.max_pool1d(t.reshape(2, 3, 30), 3, 2, 1, dilation=2),
        "avg2": lambda t: F.avg_pool2d(t, (2, 3), 1, 1),
        "avg1": lambda t: F.avg_pool1d(t.reshape(2, 3, 30), 4, 3, 2),
        "avg2_nopad": lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False),
        "adaptive": lambda t: F.adaptive_avg_pool2d(t, (2, 4)),
    }
    assert gradcheck(fns[pool], x)


def test_max_pool_gives_a_tie_to_the_first_maximum():
    x = mg.tensor(np.array([[[[1.0, 1.0], [1.0, 0.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_padding_is_never_the_maximum():
    x = mg.tensor(-np.ones((1, 1, 3)), requires_grad=True)
    y = F.max_pool1d(x, 3, 1, 1)
    np.testing.assert_array_equal(y.data, -np.ones((1, 1, 3)))


def lenet(rng_seed=0):
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, rng=rng_seed),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, groups=1, rng=rng_seed + 1),
        nn.ReLU(),
        nn.AvgPool2d(2, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3, rng=rng_seed + 2),
    )


def test_compiled_cnn_step_replays_like_eager():
    net = lenet()
    params = list(net.parameters())
    opt = optim.SGD(params, lr=0.1)

    def step(x, y):
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        return loss

    compiled = mg.compile(step, check=False)
    data = np.random.default_rng(1)
    for _ in range(3):
        x = data.standard_normal((4, 1, 8, 8)).astype(np.float32)
        y = data.integers(0, 3, 4)
        loss_c = compiled(x, y)
        g_c = [p.grad.copy() for p in params]
        opt.zero_grad()
        loss_e = step(x, y)
        np.testing.assert_allclose(loss_c.data, loss_e.data, rtol=1e-5)
        for a, p in zip(g_c, params):
            np.testing.assert_allclose(a, p.grad, rtol=1e-4, atol=1e-6)
        opt.step()
        opt.zero_grad()


def test_jvp_matches_numerical_directional_derivative():
    x, w = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 1, 3, 3))
    tx, tw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)

    def f(x, w):
        return F.max_pool2d(F.conv2d(x, w, None, 1, 1, 1, 2), 2)

    _, tangent = mg.jvp(f, (x, w), (tx, tw))
    eps = 1e-6
    numeric = (f(x + eps * tx, w + eps * tw).data - f(x - eps * tx, w - eps * tw).data) / (2 * eps)
    np.testing.assert_allclose(tangent.data, numeric, rtol=1e-6, atol=1e-8)


def test_layers_shapes_and_state_dict():
    conv = nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, groups=2, bias=True)
    assert conv.weight.shape == (6, 2, 3, 2) and conv.bias.shape == (6,)
    assert conv.weight.dtype == np.float32
    assert sorted(conv.state_dict()) == ["bias", "weight"]
    assert conv(np.zeros((1, 4, 7, 7), np.float32)).shape == (1, 6, 4, 4)  # ⌊(7 + 2 − 3)/2⌋ + 1, ⌊(7 + 2 − 2)/2⌋ + 1
    assert nn.Conv1d(2, 3, 3, bias=False, dtype=np.float64).bias is None
    assert nn.Flatten()(np.zeros((2, 3, 4))).shape == (2, 12)
    a, b = nn.Conv2d(2, 2, 3, rng=5), nn.Conv2d(2, 2, 3, rng=5)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)


@pytest.mark.parametrize(
    "make, x, message",
    [
        (lambda: nn.Conv2d(3, 4, 3), np.zeros((2, 4, 8, 8)), r"Conv2d: input has 4 channels, expected in_channels=3"),
        (lambda: nn.Conv2d(3, 4, 3), np.zeros((8, 8)), r"Conv2d: input of shape \(8, 8\) must have 4 dimensions"),
        (lambda: nn.Conv2d(1, 1, 5), np.zeros((1, 1, 3, 3)), r"conv2d: kernel of size \(5, 5\).*larger than"),
        (lambda: nn.Conv1d(1, 1, 3, dilation=2), np.zeros((1, 1, 4)), r"conv1d: kernel of size \(3,\) \(dilated"),
        (lambda: nn.MaxPool2d(4), np.zeros((1, 1, 3, 3)), r"max_pool2d: kernel of size \(4, 4\)"),
        (lambda: nn.MaxPool2d(2, padding=2), np.zeros((1, 1, 3, 3)), r"max_pool2d: padding \(2, 2\) must be at most"),
        (lambda: nn.AvgPool1d(2), np.zeros((3, 3, 3, 3)), r"avg_pool1d: input of shape \(3, 3, 3, 3\)"),
        (lambda: nn.AdaptiveAvgPool2d(0), np.zeros((1, 1, 3, 3)), r"adaptive_avg_pool2d: output_size"),
        (lambda: nn.Flatten(2, 1), np.zeros((1, 2, 3)), r"Flatten: start_dim=2, end_dim=1"),
    ],
)
def test_bad_inputs_are_named(make, x, message):
    with pytest.raises(ValueError, match=message):
        make()(x.astype(np.float32))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: nn.Conv2d(3, 4, 3, groups=2), r"Conv2d: groups=2 must divide in_channels=3 and out_channels=4"),
        (lambda: nn.Conv2d(3, 3, 3, padding_mode="reflect"), r"Conv2d: padding_mode 'reflect' is not supported"),
        (lambda: nn.Conv1d(3, 3, 0), r"Conv1d: kernel_size must be"),
        (lambda: F.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 3, 3, 3)), stride=0), r"conv2d: stride must be"),
        (lambda: F.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((4, 2, 3, 3)), groups=3), r"conv2d: groups=3 must divide"),
        (lambda: F.conv2d(np.zeros((1, 2, 5, 5)), np.zeros((4, 2, 3, 3)), stride=2, padding="same"), r"'same' needs"),
        (lambda: F.conv1d(np.zeros((1, 2, 5)), np.zeros((4, 2, 3)), np.zeros(3)), r"conv1d: bias must have shape"),
    ],
)
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_max_pool_sends_an_infinite_gradient_to_the_maximum_only():
    x = mg.tensor(np.array([[[0.0, 1.0, 3.0, 2.0]]]), requires_grad=True)
    F.max_pool1d(x, 2).backward(np.array([[[np.inf, 1.0]]]))
    np.testing.assert_array_equal(x.grad, [[[0.0, np.inf, 1.0, 0.0]]])  # no inf · 0 = nan beside the maximum


@pytest.mark.parametrize("batch", [1, 12])  # 12: from 1024 columns on, the product is made one offset at a time
@pytest.mark.parametrize("case", COMBOS[1:3] + COMBOS[4:5], ids=str)
def test_the_transposed_convolution_is_the_adjoint(case, batch):
    # ⟨conv(x, w), g⟩ = ⟨x, conv_input(g, w)⟩ for every x and g: the defining property of the input's rule
    from minigrad import conv_kernels
    from minigrad.conv import geometry

    x_shape, w_shape, stride, padding, dilation, groups = case
    x_shape = (batch, x_shape[1], *((4 if len(x_shape) == 4 else 40) * n for n in x_shape[2:]))
    geom = geometry("conv", x_shape, w_shape, stride, padding, dilation, groups)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    y = conv_kernels.conv(x, w, geom)
    g = rng.standard_normal(y.shape)
    assert batch == 1 or g.shape[0] * np.prod(g.shape[2:]) >= conv_kernels._PER_OFFSET
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, conv_kernels.conv_input(g, w, x_shape, geom)), rtol=1e-10)
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(w, conv_kernels.conv_weight(x, g, w_shape, geom)), rtol=1e-10)
