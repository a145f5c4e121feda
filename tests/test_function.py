"""mg.Function: custom operations in backward and in every transform their backward supports."""

import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import GradcheckError, gradcheck


class Cube(mg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return 3 * x**2 * g


class WrongCube(Cube):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return 2 * x**2 * g  # should be 3x²


class ScaledExp(mg.Function):
    """y = a ∘ exp(b ∘ k) with a broadcasting, b a tensor and k a plain number; saves its output."""

    calls = 0

    @staticmethod
    def forward(ctx, a, b, k):
        y = a * np.exp(b * k)
        ctx.k = k
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        ScaledExp.calls += 1
        a, b, y = ctx.saved
        return g * y / a, g * y * ctx.k, None


X = np.array([0.5, -1.5, 2.0])


def test_backward_and_gradcheck():
    t = mg.tensor(X, requires_grad=True)
    y = Cube.apply(t)
    assert y.grad_fn == "function" and y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(t.grad, 3 * X**2)
    assert gradcheck(Cube.apply, X)


def test_wrong_backward_is_caught_by_gradcheck():
    with pytest.raises(GradcheckError, match="wrong gradient for input 0"):
        gradcheck(WrongCube.apply, X)


def test_several_inputs_broadcasting_constants_and_one_backward_per_node():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.5, 2, (3,)), rng.standard_normal((2, 3))
    assert gradcheck(lambda a, b: ScaledExp.apply(a, b, 0.7), a, b)
    ta, tb = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    ScaledExp.calls = 0
    ScaledExp.apply(ta, tb, 0.7).sum().backward()
    assert ScaledExp.calls == 1  # one backward call serves both inputs
    np.testing.assert_allclose(ta.grad, np.exp(0.7 * b).sum(0), rtol=1e-14)  # summed over the broadcast axis
    np.testing.assert_allclose(tb.grad, 0.7 * a * np.exp(0.7 * b), rtol=1e-14)


def test_needs_input_grad_and_constant_inputs():
    seen = []

    class Probe(Cube):
        @staticmethod
        def backward(ctx, g):
            seen.append(ctx.needs_input_grad)
            return Cube.backward(ctx, g)

    out = Probe.apply(X)  # no input requires grad: a constant, nothing recorded
    assert not out.requires_grad and out.grad_fn is None
    Probe.apply(mg.tensor(X, requires_grad=True)).sum().backward()
    assert seen == [(True,)]


def test_in_transforms_grad_vjp_jacobian_jvp():
    np.testing.assert_array_equal(mg.grad(lambda x: Cube.apply(x).sum())(X).data, 3 * X**2)
    for mode in ("rev", "fwd"):  # fwd transposes backward: it runs backward on a Tensor g
        np.testing.assert_array_equal(mg.jacobian(Cube.apply, mode=mode)(X).data, np.diag(3 * X**2))
    v = np.array([1.0, 2.0, -1.0])
    _, t = mg.jvp(Cube.apply, (X,), (v,))
    np.testing.assert_array_equal(t.data, 3 * X**2 * v)
    _, vjp_fn = mg.vjp(Cube.apply, X)
    np.testing.assert_array_equal(vjp_fn(v)[0].data, 3 * X**2 * v)


def test_higher_derivatives_through_saved_inputs_and_outputs():
    # ctx.saved holds Tensors in place of inputs/outputs when backward is recorded
    d2 = mg.grad(lambda y: mg.grad(lambda x: Cube.apply(x).sum())(y).sum())(X)
    np.testing.assert_allclose(d2.data, 6 * X, rtol=1e-14)
    np.testing.assert_allclose(mg.hessian(lambda x: Cube.apply(x).sum())(X).data, np.diag(6 * X), rtol=1e-14)
    a, b = np.array([1.5, 0.7]), np.array([0.3, -0.4])
    # y = a e^{kb}: ∂²(Σy)/∂b² = k² a e^{kb} (through the saved output y), ∂²/∂a∂b = k e^{kb}
    H = mg.hessian(lambda a, b: ScaledExp.apply(a, b, 0.5).sum(), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(H[1][1].data, np.diag(0.25 * a * np.exp(0.5 * b)), rtol=1e-14)
    np.testing.assert_allclose(H[0][1].data, np.diag(0.5 * np.exp(0.5 * b)), rtol=1e-14)
    np.testing.assert_allclose(H[0][0].data, np.zeros((2, 2)), atol=1e-15)
    assert gradcheck(lambda b: mg.grad(lambda c: ScaledExp.apply(a, c, 0.5).sum())(b), b)


class Opaque(Cube):
    """A backward written on plain arrays: np.asarray drops any graph."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return 3 * x**2 * np.asarray(g)


class DataPeek(Cube):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return 3 * x**2 * (g.data if isinstance(g, mg.Tensor) else g)


class SavesIntermediate(mg.Function):
    @staticmethod
    def forward(ctx, x):
        square = x * x
        ctx.save_for_backward(square)
        return square * x

    @staticmethod
    def backward(ctx, g):
        (square,) = ctx.saved
        return 3 * square * g


class KeepsArrayOnCtx(mg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return x**3

    @staticmethod
    def backward(ctx, g):
        return 3 * ctx.x**2 * g


@pytest.mark.parametrize("op", [Opaque, DataPeek, SavesIntermediate, KeepsArrayOnCtx])
def test_first_order_works_for_any_backward(op):
    assert gradcheck(op.apply, X)
    np.testing.assert_allclose(mg.jacobian(op.apply, mode="rev")(X).data, np.diag(3 * X**2), rtol=1e-14)


def test_clear_errors_when_a_transform_needs_what_backward_lacks():
    with pytest.raises(TypeError, match=r"Opaque.backward does not run on Tensors.*forward mode"):
        mg.jvp(Opaque.apply, (X,), (X,))
    with pytest.raises(TypeError, match=r"DataPeek.backward returned .* not depend on g.*forward mode"):
        mg.jacobian(DataPeek.apply, mode="fwd")(X)
    with pytest.raises(TypeError, match=r"Opaque.backward does not run on Tensors.*higher derivative"):
        mg.grad(lambda y: mg.grad(lambda x: (Opaque.apply(x) ** 2).sum())(y).sum())(X)
    with pytest.raises(TypeError, match=r"DataPeek.backward returned .* not depend on g.*higher derivative"):
        mg.hessian(lambda x: (DataPeek.apply(x) ** 2).sum())(X)
    with pytest.raises(TypeError, match=r"SavesIntermediate: a higher derivative.*neither an input nor the output"):
        mg.hessian(lambda x: SavesIntermediate.apply(x).sum())(X)
    t = mg.tensor(X, requires_grad=True)
    with pytest.raises(TypeError, match=r"KeepsArrayOnCtx: a higher derivative.*ctx.x holds a float array"):
        KeepsArrayOnCtx.apply(t).sum().backward(create_graph=True)


def test_clear_errors_for_malformed_functions():
    class TooMany(Cube):
        @staticmethod
        def backward(ctx, g):
            return g, g

    class BadShape(Cube):
        @staticmethod
        def backward(ctx, g):
            return g[:2]

    class NoBackward(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x

    t = mg.tensor(X, requires_grad=True)
    with pytest.raises(ValueError, match=r"TooMany.backward returned 2 gradient\(s\) but forward takes 1"):
        TooMany.apply(t).sum().backward()
    with pytest.raises(ValueError, match=r"BadShape.backward returned a gradient of shape \(2,\) for input 0 of shape"):
        BadShape.apply(t).sum().backward()
    with pytest.raises(NotImplementedError, match="NoBackward: a Function defines both"):
        NoBackward.apply(t)


def test_jacobian_auto_mode_takes_fewer_passes():
    # reverse mode calls backward once per output element; forward mode once, to linearize
    class Counted(Cube):
        calls = 0

        @staticmethod
        def backward(ctx, g):
            Counted.calls += 1
            return Cube.backward(ctx, g)

    def run(x, out_size, mode):
        M = np.arange(out_size * x.size, dtype=float).reshape(out_size, x.size)
        Counted.calls = 0
        J = mg.jacobian(lambda x: M @ Counted.apply(x), mode=mode)(x)
        np.testing.assert_allclose(J.data, M * 3 * x**2, rtol=1e-14)
        return Counted.calls

    x2, x4 = np.array([0.5, 2.0]), np.array([0.5, 2.0, -1.0, 1.5])
    assert run(x2, 3, "rev") == 3 and run(x2, 3, "fwd") == 1
    assert run(x2, 3, "auto") == 1  # 2 inputs < 3 outputs: forward
    assert run(x4, 3, "auto") == 3  # 3 outputs < 4 inputs: reverse
