"""gradcheck's methods (central, complex step, auto, projection), gradgradcheck, outputs and arguments."""

from __future__ import annotations

import numpy as np
import pytest
from test_function import Cube  # the custom Function of the mg.Function tests

import minigrad as mg
from minigrad.testing import ComplexStepError, GradcheckError, check_function, gradcheck, gradgradcheck

RNG = np.random.default_rng(7)


def _mlp(x, w, b):
    return mg.tanh(x @ w + b).sum(axis=1) * mg.exp(b).sum()


INPUTS = (RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2)), RNG.standard_normal(2))


@pytest.mark.parametrize("method", ["central", "complex", "auto", "projection"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_method_passes_a_correct_composite(method, dtype):
    assert gradcheck(_mlp, *(x.astype(dtype) for x in INPUTS), method=method)


@pytest.mark.parametrize("method", ["central", "complex", "projection"])
def test_every_method_catches_a_sign_error(method, temporary_rule):
    wrong_tanh = temporary_rule("tanh", np.tanh, lambda g, ans, x: -g * (1 - ans * ans))
    with pytest.raises(GradcheckError, match=f"(?s)made by 'multiply'.*method {method}"):
        gradcheck(_mlp, *INPUTS, method=method)
    assert wrong_tanh is not None


def test_complex_step_is_exact_to_rounding():
    from minigrad.testing.numerical import Probe, central_vjp, complex_vjp

    x = np.linspace(0.2, 2.0, 6)
    probe = Probe(lambda t: mg.exp(mg.sin(t)) * mg.log(t), (x,), [0], [np.ones(6)])
    exact = np.exp(np.sin(x)) * (np.cos(x) * np.log(x) + 1 / x)
    (by_complex,), (by_central,) = complex_vjp(probe, 1e-6), central_vjp(probe, 1e-6)
    assert np.max(np.abs(by_complex - exact) / np.abs(exact)) < 1e-13
    assert np.max(np.abs(by_central - exact) / np.abs(exact)) > 1e-12  # central differences are not that good


@pytest.mark.parametrize(
    "f, reason",
    [
        (lambda t: mg.abs(t) * 2 + t, "not complex-analytic"),
        (lambda t: mg.abs(t), "returns a real output for complex inputs"),
        (lambda t: mg.tanh(t).astype(np.float64), "fails on complex inputs: ComplexWarning"),
        (lambda t: t * mg.tensor(t.data * 0 + 1), "fails on complex inputs: TypeError: tensor: unsupported"),
    ],
)
def test_complex_step_refuses_functions_it_cannot_differentiate(f, reason):
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(ComplexStepError, match=reason):
        gradcheck(f, x, method="complex")
    assert gradcheck(f, x, method="auto")  # falls back to central differences


def test_projection_checks_a_big_input_with_a_handful_of_calls():
    calls = []

    def f(a, b):
        calls.append(1)
        return mg.tanh(a @ b)

    a, b = RNG.standard_normal((200, 300)) * 0.1, RNG.standard_normal((300, 50)) * 0.1
    assert gradcheck(f, a, b, method="projection")
    assert len(calls) == 1 + 2 * 4  # one forward for backward, four per input for the stencil


def test_projection_catches_a_wrong_transpose_on_a_big_input(temporary_rule):
    a, b = RNG.standard_normal((60, 60)), RNG.standard_normal((60, 60))
    wrong = temporary_rule("mm", np.matmul, lambda g, ans, a, b: g @ b, lambda g, ans, a, b: a.T @ g)
    with pytest.raises(GradcheckError, match=r"(?s)input 0 .*along a random unit direction.*method='central'"):
        gradcheck(wrong, a, b, method="projection")


def test_tuple_outputs_are_checked_together():
    def f(x, y):
        return mg.sin(x) * y, mg.exp(x).sum()

    assert gradcheck(f, RNG.standard_normal(3), RNG.standard_normal((2, 3)))


def test_non_float_and_constant_inputs_pass_through():
    index, mask = np.array([2, 0, 2]), np.array([True, False, True])

    def f(x, idx, m, scale):
        return mg.where(m, x[idx], 0.0) * scale

    assert gradcheck(f, RNG.standard_normal(3), index, mask, mg.tensor(2.0))


def test_float_scalars_and_lists_are_checked():
    assert gradcheck(lambda a, b: mg.tensor([1.0, 2.0]) * a + mg.sum(b), 1.5, [0.5, -0.25])


def test_gradgradcheck_passes_smooth_compositions():
    assert gradgradcheck(_mlp, *INPUTS)
    assert gradgradcheck(lambda x: mg.logsumexp(x * x, axis=0), RNG.standard_normal((3, 2)))
    assert gradgradcheck(lambda a, b: mg.einsum("ij,jk->ik", a, b) ** 2, INPUTS[0], INPUTS[1], method="projection")


def test_gradgradcheck_catches_a_wrong_second_derivative(temporary_rule):
    # the first derivative is right, but written through a rule whose own derivative is wrong (cos → sin)
    wrong_cos = temporary_rule("cos", np.cos, lambda g, ans, x: g * np.sin(x))
    assert gradcheck(mg.sin, INPUTS[2])
    with pytest.raises(GradcheckError, match=r"first derivative of 'sin'"):
        gradgradcheck(mg.sin, INPUTS[2])
    assert wrong_cos is not None


def test_check_function_calls_apply_of_a_custom_op_class():
    class Cube:  # the shape of an mg.Function: a class with apply
        calls = 0

        @staticmethod
        def apply(x):
            Cube.calls += 1
            return x * x * x

    assert check_function(Cube, INPUTS[0], reference=lambda x: x**3, second_order=True)
    assert Cube.calls > 0


def test_bad_arguments_get_clear_errors():
    with pytest.raises(ValueError, match="method must be one of"):
        gradcheck(mg.sin, INPUTS[2], method="forward")
    with pytest.raises(ValueError, match="no floating-point input"):
        gradcheck(lambda i: mg.tensor(np.ones(3))[i], np.array([0, 1]))
    with pytest.raises(TypeError, match="must return a Tensor"):
        gradcheck(lambda x: x.data, INPUTS[2])
    with pytest.raises(TypeError, match="apply"):
        check_function(42, INPUTS[2])


def test_check_function_on_an_mg_function_catches_its_wrong_backward():
    class BadCube(Cube):
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved
            return 2 * x**2 * g

    x = INPUTS[0]
    assert check_function(Cube, x, reference=lambda a: a**3, second_order=True)
    assert check_function(Cube, x.astype(np.float32), reference=lambda a: a**3)
    with pytest.raises(GradcheckError, match=r"(?s)wrong gradient for input 0.*0.666667 × numerical"):
        check_function(BadCube, x, reference=lambda a: a**3)
