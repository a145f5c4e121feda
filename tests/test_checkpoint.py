"""mg.checkpoint and nn.utils.checkpoint_sequential: the same gradients as the unchecked run (to 1e-12 in
float64), and numerical differences, through backward, create_graph, grad of grad, jvp, modules and dropout."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.testing import gradcheck, gradgradcheck


def rand(*shape, seed=0, requires_grad=True):
    return mg.tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=requires_grad)


def block(W, b):
    def f(x):
        return mg.tanh(x @ W + b) * mg.sigmoid(x)

    return f


def test_gradients_equal_the_unchecked_run_and_reach_closed_over_tensors():
    W, b, x = rand(3, 3, seed=1), rand(3, seed=2), rand(4, 3, seed=3)
    f = block(W, b)
    (f(f(x)) ** 2).sum().backward()
    expected = [t.grad for t in (W, b, x)]
    for t in (W, b, x):
        t.grad = None
    y = mg.checkpoint(f)(mg.checkpoint(f, x))
    assert y.grad_fn == "checkpoint"
    (y**2).sum().backward()
    for t, e in zip((W, b, x), expected):
        np.testing.assert_allclose(t.grad, e, rtol=1e-12, atol=1e-12)


def test_gradcheck_through_checkpoint_and_the_graph_of_f_is_not_kept():
    W, b = rand(3, 3, seed=1), rand(3, seed=2)
    assert gradcheck(lambda x, W, b: mg.checkpoint(block(W, b), x).sum(), rand(2, 3), W, b)
    y = mg.checkpoint(block(W, b), rand(2, 3))
    assert {id(p) for p in y._parents[1:]} >= {id(W), id(b)}  # the parents are f's inputs, not its intermediates
    assert all(p._op is None for p in y._parents[1:])


def test_second_derivatives_grad_of_grad_and_create_graph():
    W = rand(3, 3, seed=4)
    assert gradgradcheck(lambda x, W: mg.checkpoint(lambda x: mg.tanh(x @ W) ** 2, x), rand(2, 3), W)

    def f(x):
        return (mg.checkpoint(lambda x: mg.sin(x) * x, x) ** 2).sum()

    x = rand(5, seed=5)
    gg = mg.grad(lambda x: mg.grad(f)(x).sum())(x)
    d = x.data  # f = Σ (x sin x)², d/dx Σ d/dx f = Σ [2(sin x + x cos x)² + 2 x sin x (2 cos x − x sin x)]
    exact = 2 * (np.sin(d) + d * np.cos(d)) ** 2 + 2 * d * np.sin(d) * (2 * np.cos(d) - d * np.sin(d))
    np.testing.assert_allclose(gg.data, exact, rtol=1e-10)
    y = mg.checkpoint(lambda x: mg.sin(x) * x, x)
    (y**2).sum().backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad, exact, rtol=1e-10)


def test_jvp_matches_the_unchecked_jvp():
    W = rand(3, 3, seed=6)
    f = block(W, rand(3, seed=7))
    x, t = rand(2, 3, seed=8), rand(2, 3, seed=9)
    y0, t0 = mg.jvp(f, (x,), (t,))
    y1, t1 = mg.jvp(mg.checkpoint(f), (x,), (t,))
    np.testing.assert_allclose(y1.data, y0.data, rtol=1e-12)
    np.testing.assert_allclose(t1.data, t0.data, rtol=1e-12, atol=1e-12)


def test_several_outputs_non_tensor_arguments_and_passed_through_entries():
    W = rand(3, 3, seed=10)

    def f(x, scale, name):
        assert name == "tag"
        h = x @ W
        return mg.tanh(h) * scale, "info", mg.exp(h).sum(axis=1), x

    def loss(x, W):
        a, info, c, same = mg.checkpoint(f, x, 2.5, name="tag")
        assert info == "info" and same is x
        return (a**2).sum() + (c * mg.arange(4.0)).sum()

    assert gradcheck(loss, rand(4, 3, seed=11), W)
    x = rand(4, 3, seed=11)
    W.grad = None
    a, _, c, _ = f(x, 2.5, "tag")
    ((a**2).sum() + (c * mg.arange(4.0)).sum()).backward()
    expected = W.grad, x.grad
    W.grad = x.grad = None
    loss(x, W).backward()
    np.testing.assert_allclose(W.grad, expected[0], rtol=1e-12)
    np.testing.assert_allclose(x.grad, expected[1], rtol=1e-12)


def test_mixed_dtype_outputs_keep_their_dtypes():
    x = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    a, b = mg.checkpoint(lambda x: (x * 2.0, (x * 3.0).astype(np.float64)), x)
    assert a.dtype == np.float32 and b.dtype == np.float64
    (a.sum() + b.sum()).backward()
    np.testing.assert_array_equal(x.grad, np.full(3, 5.0, np.float32))


def test_a_module_inside_checkpoint_and_checkpoint_sequential_equal_the_plain_run():
    mg.set_default_dtype(np.float64)
    try:
        seq = nn.Sequential(*[m for i in range(6) for m in (nn.Linear(4, 4, rng=i), nn.Tanh())])
    finally:
        mg.set_default_dtype(np.float32)
    x = rand(5, 4, seed=12)
    (seq(x) ** 2).sum().backward()
    expected = [p.grad for p in seq.parameters()] + [x.grad]
    for segments in (1, 3, 4, 12):
        seq.zero_grad()
        x.grad = None
        (nn.utils.checkpoint_sequential(seq, segments, x) ** 2).sum().backward()
        for got, want in zip([p.grad for p in seq.parameters()] + [x.grad], expected):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    seq.zero_grad()
    (nn.utils.checkpoint(seq, x) ** 2).sum().backward()
    np.testing.assert_allclose(seq[0].weight.grad, expected[0], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="checkpoint_sequential: segments must be an int in 1..12"):
        nn.utils.checkpoint_sequential(seq, 13, x)


def test_dropout_draws_the_same_mask_again_and_the_generator_moves_on_once():
    rng = np.random.default_rng(0)
    drop = nn.Dropout(0.5, rng=rng)
    x = rand(50, seed=13)
    state = rng.bit_generator.state
    y = mg.checkpoint(lambda x: drop(x * x), x)
    after = rng.bit_generator.state
    y.sum().backward()
    assert rng.bit_generator.state == after != state  # recomputing left the generator where the forward did
    mask = y.data != 0
    np.testing.assert_allclose(x.grad, np.where(mask, 2 * x.data / 0.5, 0.0), rtol=1e-12)
    assert 0 < mask.sum() < 50


def test_fresh_entropy_dropout_is_refused_with_the_fix_named():
    x = rand(200, seed=14)
    y = mg.checkpoint(lambda x: nn.functional.dropout(x, 0.5, True, None), x)
    with pytest.raises(RuntimeError, match=r"checkpoint: running <lambda> again .* rng=np.random.default_rng"):
        y.sum().backward()


def test_refusals_name_the_problem():
    x = rand(3)
    with pytest.raises(TypeError, match="checkpoint: <lambda> returned a dict"):
        mg.checkpoint(lambda x: {"y": x * 2}, x)
    with pytest.raises(TypeError, match="checkpoint: the first argument must be a function"):
        mg.checkpoint(3, x)
    W = rand(3, seed=1)
    y = mg.checkpoint(lambda x: x * W, x)
    with pytest.raises(mg.InplaceError):
        W.data[0] = 5.0  # the recomputation reads W: writing it before backward would make it wrong
    y.sum().backward()
    W.data[0] = 5.0  # after backward, allowed
    y = mg.checkpoint(lambda x: x * 2.0, x)
    y.sum().backward()
    with pytest.raises(RuntimeError, match="freed"):
        y.sum().backward()


def test_no_grad_compile_and_constants_simply_run_f():
    x = rand(3)
    with mg.no_grad():
        assert mg.checkpoint(lambda x: x * 2.0, x)._op is None
    assert mg.checkpoint(lambda x: x * 2.0, mg.tensor([1.0]))._op is None
    W = rand(3, seed=1)

    @mg.compile
    def step(x):
        loss = mg.checkpoint(lambda x: mg.tanh(x * W), x).sum()
        loss.backward()
        return loss

    for _ in range(3):
        W.grad = None
        step(np.arange(3.0))
    np.testing.assert_allclose(W.grad, np.arange(3.0) * (1 - np.tanh(np.arange(3.0) * W.data) ** 2), rtol=1e-12)


def test_nested_checkpoints_and_retain_graph():
    W = rand(3, 3, seed=15)

    def outer(x):
        return mg.checkpoint(lambda h: mg.tanh(h @ W), mg.tanh(x @ W)) @ W

    assert gradcheck(lambda x, W: mg.checkpoint(outer, x).sum(), rand(2, 3, seed=16), W)
    x = rand(2, 3, seed=16)
    W.grad = None
    (mg.tanh(mg.tanh(x @ W) @ W) @ W).sum().backward()
    plain = W.grad
    W.grad = None
    y = mg.checkpoint(outer, x).sum()
    y.backward(retain_graph=True)
    once = W.grad.copy()
    np.testing.assert_allclose(once, plain, rtol=1e-12)
    y.backward()
    np.testing.assert_allclose(W.grad, 2 * once, rtol=1e-12)
