"""mg.checkpoint in modules, with dropout, and composed with mg.vjp, mg.vmap and second derivatives of a network:
the same values and gradients as the unchecked run (to 1e-12 in float64) and numerical differences."""

import gc
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.testing import gradcheck, gradgradcheck


def rand(*shape, seed=0, requires_grad=True):
    return mg.tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=requires_grad)


def mlp(seed, layers=4, width=5, p=0.0):
    """A float64 tanh MLP; with p > 0 each layer ends in a Dropout seeded from ``seed``."""
    previous = mg.get_default_dtype()
    mg.set_default_dtype(np.float64)
    try:
        modules = []
        for i in range(layers):
            modules += [nn.Linear(width, width, rng=seed + i), nn.Tanh()]
            if p:
                modules.append(nn.Dropout(p, rng=seed + 100 + i))
        return nn.Sequential(*modules)
    finally:
        mg.set_default_dtype(previous)


def gradients(net, x, forward):
    net.zero_grad()
    x.grad = None
    y = forward(x)
    (y**2).sum().backward()
    return y.data, [x.grad] + [p.grad for p in net.parameters()]


def test_the_forward_keeps_none_of_f_s_intermediates():
    W = rand(4, 4, seed=1)
    kept = []

    def f(x):
        h = x @ W
        kept.append(weakref.ref(h))
        return mg.tanh(h) * x

    x = rand(3, 4, seed=2)
    y_plain = f(x)
    gc.collect()
    assert kept[0]() is not None  # unchecked, the graph of y holds x @ W for backward
    y = mg.checkpoint(f, x)
    gc.collect()
    assert kept[1]() is None  # checkpointed, it is gone once f returns
    y.sum().backward()
    checked = x.grad
    x.grad = None
    y_plain.sum().backward()
    np.testing.assert_allclose(checked, x.grad, rtol=1e-12)


class Residual(nn.Module):
    """A module whose forward checkpoints its body: y = x + body(x), the body in segments."""

    def __init__(self, seed, segments):
        super().__init__()
        self.body = mlp(seed, layers=4, p=0.3)
        self.segments = segments

    def forward(self, x):
        if self.segments:
            return x + nn.utils.checkpoint_sequential(self.body, self.segments, x)
        return x + self.body(x)


@pytest.mark.parametrize("segments", [1, 2, 4])
def test_a_module_with_dropout_equals_the_unchecked_run_with_the_same_seeds(segments):
    x = rand(6, 5, seed=3)
    y0, expected = gradients(plain := Residual(7, 0), x, plain)
    y1, got = gradients(checked := Residual(7, segments), x, checked)
    np.testing.assert_array_equal(y1, y0)  # the same masks in the forward
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)  # and the same masks again in the recomputation
    drop = checked.body[2]
    assert drop.rng.bit_generator.state == plain.body[2].rng.bit_generator.state  # each drew once per step
    checked.eval()
    assert gradcheck(lambda x: checked(x).sum(), rand(2, 5, seed=4))


def test_without_preserve_rng_state_the_second_mask_differs_and_is_refused():
    net = mlp(8, layers=2, width=40, p=0.5)
    x = rand(3, 40, seed=5)
    y = mg.checkpoint(net, x, preserve_rng_state=False)
    with pytest.raises(RuntimeError, match="checkpoint: running Sequential again for backward gave other values"):
        y.sum().backward()
    y = mg.checkpoint(net, x)  # the default replays the generators
    y.sum().backward()


def test_second_derivatives_of_a_checkpointed_network_match_numerical_differences():
    net = mlp(9, layers=3, width=3)
    weight = net[0].weight

    def f(x, weight):
        return (nn.utils.checkpoint_sequential(net, 3, x) ** 2).sum()

    assert gradgradcheck(f, rand(2, 3, seed=6), weight)
    x = rand(2, 3, seed=6)  # create_graph through backward(): the gradient's own gradient, against the plain run
    found = []
    for forward in (net, lambda x: nn.utils.checkpoint_sequential(net, 3, x)):
        net.zero_grad()
        x.grad = None
        (forward(x) ** 2).sum().backward(create_graph=True)
        g = x.grad
        x.grad = None
        (g**2).sum().backward()
        found.append(np.array(x.grad))
    np.testing.assert_allclose(found[1], found[0], rtol=1e-10)


def test_vjp_and_grad_compose_with_checkpoint():
    W = rand(3, 3, seed=10)

    def f(x):
        return mg.sin(x @ W) * x

    x, u = rand(4, 3, seed=11), rand(4, 3, seed=12)
    y0, pull0 = mg.vjp(f, x)
    y1, pull1 = mg.vjp(mg.checkpoint(f), x)
    np.testing.assert_allclose(y1.data, y0.data, rtol=1e-12)
    for _ in range(2):  # vjp_fn may be called again: the node recomputes each time
        np.testing.assert_allclose(pull1(u)[0].data, pull0(u)[0].data, rtol=1e-12)

    def loss(W):
        return (mg.checkpoint(lambda x: mg.sin(x @ W) * x, x) ** 2).sum()

    assert gradcheck(loss, W)
    g = mg.grad(loss)(W)
    W.grad = None
    (f(x) ** 2).sum().backward()
    np.testing.assert_allclose(g.data, W.grad, rtol=1e-12)


def test_checkpoint_under_and_around_vmap_gives_the_per_example_gradients():
    W = rand(3, 3, seed=13)

    def f(x):
        return mg.tanh(x @ W)

    x = rand(5, 3, seed=14)
    expected = mg.vmap(mg.grad(lambda x: f(x).sum()))(x).data
    inside = mg.vmap(mg.grad(lambda x: mg.checkpoint(f)(x).sum()))(x)  # under vmap f runs as it is
    around = mg.grad(lambda x: mg.checkpoint(mg.vmap(f))(x).sum())(x)  # checkpoints the whole batch
    np.testing.assert_allclose(inside.data, expected, rtol=1e-12)
    np.testing.assert_allclose(around.data, expected, rtol=1e-12)


def test_checkpoint_sequential_refuses_bad_segments_and_takes_a_list():
    net = mlp(15, layers=2)
    x = rand(2, 5, seed=16)
    for bad in (0, 2.0, True, 5):
        with pytest.raises(ValueError, match=rf"checkpoint_sequential: segments must be an int in 1..4 .* {bad!r}"):
            nn.utils.checkpoint_sequential(net, bad, x)
    np.testing.assert_allclose(nn.utils.checkpoint_sequential(list(net), 2, x).data, net(x).data, rtol=1e-12)


class Checked(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = mlp(17, layers=2, width=3)

    def forward(self, x):
        return nn.utils.checkpoint(self.body, x)


def test_functional_call_of_a_model_that_checkpoints_inside():
    model, x = Checked(), rand(4, 3, seed=18)

    def loss(weight, x):  # backward runs the body after functional_call has put the model's weight back
        return (nn.functional_call(model, {"body.0.weight": weight}, x) ** 2).sum()

    weight = mg.tensor(np.array(model.body[0].weight.data), requires_grad=True)
    assert gradcheck(loss, weight, x)
    per_example = mg.vmap(mg.grad(loss), in_axes=(None, 0))(weight, x)
    model.zero_grad()
    (model.body(x) ** 2).sum().backward()
    np.testing.assert_allclose(per_example.data.sum(axis=0), model.body[0].weight.grad, rtol=1e-12)
    assert model.body[0].weight is not weight  # and the swap was undone after the recomputation
