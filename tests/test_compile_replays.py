"""mg.compile's replays of what the traced graph does not hold: permutations that are not a matrix transpose,
views of constants, values computed outside the graph (detached, from constants, with recording off), masks
computed by NumPy functions, and tensors whose array is replaced between calls.

Each of these once gave a CompileError at the second call, or worse, values that differed from eager execution
without any error (the cases of ``shared/KNOWN-BUGS.md``). Every test runs the compiled step three times with
the parameters changed between calls, ``check=False`` (the check of the second call would hide a wrong third),
and compares each call with eager execution of the same step.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import functional as F


def replays_like_eager(step, params, args_of_call, update="assign", calls=3, tol=1e-12):
    """Run ``mg.compile(step, check=False)`` ``calls`` times against ``step`` itself, changing the parameters
    between calls (by assignment of ``.data`` or in place); returns the compiled step."""
    compiled = mg.compile(step, check=False)
    rng = np.random.default_rng(0)
    for call in range(calls):
        args = args_of_call(call)
        for p in params:
            p.grad = None
        got = compiled(*args)
        got_grads = [p.grad for p in params]
        for p in params:
            p.grad = None
        want = step(*args)
        np.testing.assert_allclose(got.data, want.data, rtol=tol, atol=tol)
        for p, g in zip(params, got_grads):
            assert (g is None) == (p.grad is None)
            if g is not None:
                assert g.shape == p.grad.shape
                np.testing.assert_allclose(g, p.grad, rtol=tol, atol=tol)
        for p in params:  # the next call's parameters
            step_ = rng.standard_normal(p.shape).astype(p.dtype)
            if update == "assign":
                p.data = p.data + step_
            else:
                p.data[...] += step_
    assert compiled.traces == 1
    return compiled


def _rng_args(*shapes, seed=1):
    rng = np.random.default_rng(seed)
    return lambda call: [rng.standard_normal(s) for s in shapes]


@pytest.mark.parametrize(
    "permute",
    [
        lambda t: t.transpose(0, 1),
        lambda t: mg.transpose(t, (0, 1)),
        lambda t: t.transpose((0, -1)),
        lambda t: t.swapaxes(1, -1),
        lambda t: t.swapaxes(0, 0),
        lambda t: t.swapaxes(-2, -1),
        lambda t: t.T,
    ],
    ids=["transpose(0,1)", "mg.transpose(0,1)", "transpose((0,-1))", "swapaxes(1,-1)", "swapaxes(0,0)",
         "swapaxes(-2,-1)", "T"],
)  # fmt: skip
@pytest.mark.parametrize("shape", [(1, 3), (3, 3), (4, 2)])
def test_permutations_of_a_matrix_replay_as_themselves(permute, shape):
    # identity permutations of a 2-D array were replayed as .T: a (1, 3) parameter got a (3, 1) gradient
    rng = np.random.default_rng(2)
    p = mg.tensor(rng.standard_normal(shape), requires_grad=True)
    w = mg.tensor(rng.standard_normal(permute(mg.tensor(np.zeros(shape))).shape[::-1]), requires_grad=True)

    def step(x):
        q = permute(p)
        loss = mg.tanh(q * x).sum() + (q @ w).sum() + mg.power(q * q + 1, 1.5).sum() + mg.minimum(q, x).sum()
        loss.backward()
        return loss

    out_shape = permute(mg.tensor(np.zeros(shape))).shape
    replays_like_eager(step, [p, w], _rng_args(out_shape))


@pytest.mark.parametrize("rows", [1, 80])
def test_an_identity_permutation_of_a_small_weight_multiplied_by_a_batch(rows):
    # the forward copies a small weight's transpose to C order and the backward folds Wᵀᵀ: only for a transpose
    rng = np.random.default_rng(3)
    W = mg.tensor(rng.standard_normal((5, 5)), requires_grad=True)

    def step(x):
        loss = mg.tanh(x @ W.transpose(0, 1)).sum() + mg.tanh(x @ W.T).sum() * 0.5
        loss.backward()
        return loss

    replays_like_eager(step, [W], _rng_args((rows, 5)), update="in place")


def test_a_reversed_view_of_a_constant_is_not_its_base():
    # c = B[::-1] has B's shape and dtype; the replay used B (CompileError, and reversed values with check=False)
    rng = np.random.default_rng(4)
    B = rng.uniform(1, 2, 6)
    c, d = B[::-1], B.reshape(2, 3).T
    v = mg.tensor(rng.standard_normal(6), requires_grad=True)

    def step():
        loss = mg.power(c, v).sum() + (mg.reshape(v, (3, 2)) * d).sum() + np.multiply(c, v).sum()
        loss.backward()
        return loss

    replays_like_eager(step, [v], lambda call: [])


@pytest.mark.parametrize("update", ["assign", "in place"])
@pytest.mark.parametrize(
    "detached",
    [
        lambda x, y: x.detach() * 1.0 + y,
        lambda x, y: mg.sign(x) * y,
        lambda x, y: mg.where(mg.tanh(x).detach() > 0, y, -y),
        lambda x, y: mg.where(np.greater(x, 0.1), mg.tanh(x).detach(), y),
        lambda x, y: F.linear(y, x.detach().reshape(1, -1)) * y,
        lambda x, y: y / (2 + mg.tanh(x.detach())),
        lambda x, y: F.margin_ranking_loss(y, x.detach(), np.array([1.0, -1.0, 1.0, -1.0]), margin=0.5) + y,
        lambda x, y: mg.exp(x.detach()[::-1]) * y + np.sign(x) * y,
    ],
    ids=["detach*1", "sign", "where-detached-mask", "np.greater-mask", "linear", "divide", "margin_ranking",
         "np.sign"],
)  # fmt: skip
def test_values_computed_outside_the_graph_follow_the_parameters(detached, update):
    # they were computed once, at trace time: 5% off on the third call after x changed, and the check passed
    rng = np.random.default_rng(5)
    x = mg.tensor(rng.standard_normal(4), requires_grad=True)
    y = mg.tensor(rng.standard_normal(4), requires_grad=True)

    def step():
        loss = (detached(x, y) * y).sum() + (x * x).sum()
        loss.backward()
        return loss

    replays_like_eager(step, [x, y], lambda call: [], update=update)


def test_a_parameter_used_only_detached_and_a_buffer_are_read_at_every_call():
    rng = np.random.default_rng(6)
    target = mg.tensor(rng.standard_normal((3, 4)), requires_grad=True)  # a target network's weight
    scale = mg.tensor(np.ones(3))  # a buffer, replaced between calls
    W = mg.tensor(rng.standard_normal((3, 4)), requires_grad=True)

    def step(x):
        goal = (x @ target.detach().T) * scale
        loss = ((x @ W.T - goal) ** 2).mean()
        loss.backward()
        return loss

    compiled = replays_like_eager(step, [W, target], _rng_args((5, 4)))
    scale.data = np.full(3, 2.0)
    x = np.ones((5, 4))
    W.grad = None
    got = compiled(x).data
    assert got == pytest.approx(step(x).data, rel=1e-12)


def test_no_grad_inside_a_step_is_recomputed_at_every_call():
    rng = np.random.default_rng(7)
    W = mg.tensor(rng.standard_normal((4, 4)), requires_grad=True)

    def step(x):
        with mg.no_grad():
            h = mg.tanh(x @ W)  # not recorded, but it depends on W and x
        loss = (mg.tanh(x @ W) * h).sum()
        loss.backward()
        return loss

    replays_like_eager(step, [W], _rng_args((2, 4)))


def test_an_unrecorded_custom_function_of_a_parameter_is_refused_by_name():
    class Double(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    W = mg.tensor(np.ones(3), requires_grad=True)

    def step():
        loss = (Double.apply(W.detach()) * W).sum()
        loss.backward()
        return loss

    with pytest.raises(mg.CompileError, match="function"):
        mg.compile(step)()


def test_the_check_compares_at_the_precision_the_step_computes_in():
    # float64 parameters used through astype(float32): the float64 gradients are float32-rounded, and the
    # check compared them to float64's 1e-9 (CompileError at the second call of a correct replay)
    rng = np.random.default_rng(0)
    W, b, u = (mg.tensor(rng.standard_normal(s), requires_grad=True) for s in ((8, 20), (8,), (8,)))

    @mg.compile
    def step(x, xc):
        W32, b32, u32 = W.astype(np.float32), b.astype(np.float32), u.astype(np.float32)
        s, sc = mg.tanh(x @ W32.T + b32) @ u32, mg.tanh(xc @ W32.T + b32) @ u32
        loss = mg.maximum(0, 1 - s + sc).mean()
        loss.backward()
        return loss

    for _ in range(3):
        x, xc = rng.standard_normal((2, 1, 20)).astype(np.float32)
        for p in (W, b, u):
            p.grad = None
        step(x, xc)
    assert W.grad.dtype == np.float64


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_of_transposed_logits_replays_like_eager(reduction):
    rng = np.random.default_rng(9)
    x = mg.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    y = np.array([0, 2, 1, 2, 0])

    def step():
        loss = F.cross_entropy(x.T, y, reduction=reduction).sum()
        loss.backward()
        return loss

    replays_like_eager(step, [x], lambda call: [])
    x.grad = None
    F.cross_entropy(x.T, y, reduction="sum").backward()
    p = np.exp(x.data.T) / np.exp(x.data.T).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(x.grad, (p - np.eye(3)[y]).T, rtol=1e-12)  # ∂ℓ/∂z = softmax(z) − onehot(y)


def test_a_transpose_of_a_sum_is_not_folded_into_its_last_term():
    # v = Pᵀ, w = vᵀ: v's gradient K + g_wᵀ, transposed back for P, was folded into K + g_w (found by a differential
    # tester: the .T ending the expression applies to its last term only)
    P = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])

    def step():
        v = P.T
        w = v.T
        loss = (v * K).sum() + (w * w).sum()
        loss.backward()
        return loss

    replays_like_eager(step, [P], lambda call: [])
    P.grad = None
    step()
    np.testing.assert_array_equal(P.grad, K.T + 2 * P.data)


@pytest.mark.parametrize("mask", ["comparison", "argument", "tensor"])
def test_a_boolean_mask_that_selects_another_count_raises_instead_of_replaying_the_traced_shape(mask):
    # x[x > 0] selects as many elements as are positive: the replay's mean divided by the traced count
    fixed = mg.tensor(np.array([True, False, True]))  # a mask tensor made before the step, read at every call

    def step(x, m):
        index = {"comparison": x > 0, "argument": m, "tensor": fixed}[mask]
        loss = x[index].mean()
        loss.backward()
        return loss

    compiled = mg.compile(step, check=False)
    for values in ([1.0, -2.0, 3.0], [2.0, -1.0, 5.0]):  # two of three selected: the traced count
        x, e = mg.tensor(values, requires_grad=True), mg.tensor(values, requires_grad=True)
        assert compiled(x, np.array([True, False, True])).item() == step(e, np.array([True, False, True])).item()
        np.testing.assert_array_equal(x.grad, e.grad)
    fixed.data = np.array([True, True, True])
    with pytest.raises(mg.CompileError, match="getitem with a boolean mask selects 3 elements where the traced call"):
        compiled(mg.tensor([1.0, 2.0, 3.0], requires_grad=True), np.array([True, True, True]))
