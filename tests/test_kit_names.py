"""What gradcheck's messages say (issue #20): a custom ``mg.Function`` named by its class, the printed values
said to be a random projection vᵀJ with v given, and the same hints for 0-d inputs as for larger ones."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import GradcheckError, KinkWarning, check_function, gradcheck, gradgradcheck

X = np.random.default_rng(42).standard_normal((3, 4))


class WrongCube(mg.Function):
    """x³ with a sign error in backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return -3 * x**2 * g


class DetachedCube(mg.Function):
    """x³ whose backward is right but hides its dependence on x from a second derivative."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        x = x.detach() if isinstance(x, mg.Tensor) else x
        return 3 * x**2 * g


def _message(check, *args, **kwargs) -> str:
    with pytest.raises(GradcheckError) as info:
        check(*args, **kwargs)
    return str(info.value)


def _values(message: str, label: str) -> np.ndarray:
    (line,) = [row for row in message.splitlines() if row.startswith(f"  {label}")]
    return np.array(line.split("[", 1)[1].rstrip("]").split(), dtype=float)


# -- a Function by its class ----------------------------------------------------------------------
def test_gradcheck_names_a_custom_function_by_its_class():
    message = _message(gradcheck, WrongCube.apply, X)
    assert "made by 'WrongCube' (an mg.Function)" in message and "'function'" not in message


def test_gradgradcheck_names_the_function_and_both_cotangents():
    assert gradcheck(DetachedCube.apply, X)  # first order is right
    message = _message(gradgradcheck, DetachedCube.apply, X[0])
    assert "made by the first derivative of 'DetachedCube' (an mg.Function)" in message
    assert "wᵀ ∂(vᵀ ∂f/∂x)/∂x" in message and "w = np.random.default_rng(0)" in message
    assert "v = np.random.default_rng(1000).standard_normal((4,))" in message


def test_check_function_names_a_function_given_as_its_apply():
    message = _message(check_function, WrongCube.apply, X[0], reference=lambda x: x**2)
    assert "of WrongCube " in message and "apply" not in message


# -- the printed values: vᵀJ, and what v was ------------------------------------------------------
def test_printed_values_are_said_to_be_vjp_with_the_v_that_made_them(temporary_rule):
    temporary_rule("sin", np.sin, lambda g, ans, x: -g * np.cos(x))
    message = _message(gradcheck, mg.sin, X, seed=5)
    assert "the values are vᵀJ (J = ∂f/∂x) for a random cotangent v" in message
    assert "v = np.random.default_rng(5).standard_normal((3, 4))" in message
    v = np.random.default_rng(5).standard_normal((3, 4)).ravel()
    np.testing.assert_allclose(_values(message, "v:"), v, rtol=1e-5)  # what it says v was, it was:
    np.testing.assert_allclose(_values(message, "analytic:"), -v * np.cos(X).ravel(), rtol=1e-5)


def test_a_scalar_output_prints_the_gradient_itself(temporary_rule):
    temporary_rule("sin", np.sin, lambda g, ans, x: -g * np.cos(x))
    message = _message(gradcheck, lambda x: mg.sin(x).sum(), X[0])
    assert "random" not in message
    np.testing.assert_allclose(_values(message, "analytic:"), -np.cos(X[0]), rtol=1e-5)
    np.testing.assert_allclose(_values(message, "numerical:"), np.cos(X[0]), rtol=1e-5)


def test_several_outputs_give_each_v(temporary_rule):
    temporary_rule("sin", np.sin, lambda g, ans, x: -g * np.cos(x))
    message = _message(gradcheck, lambda x: (mg.sin(x), mg.sin(x).sum()), X[0])
    assert "rng = np.random.default_rng(0); vⱼ = rng.standard_normal(shape of output j)" in message
    assert "shapes (4,), ()" in message
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(_values(message, "v0:"), rng.standard_normal(4), rtol=1e-5)
    np.testing.assert_allclose(_values(message, "v1:"), [rng.standard_normal(())], rtol=1e-5)


def test_projection_and_kink_messages_say_what_v_was(temporary_rule):
    with pytest.warns(KinkWarning, match=re.escape("v = np.random.default_rng(0).standard_normal((3,))")):
        gradcheck(mg.relu, np.array([0.0, 1.0, -1.0]))
    temporary_rule("sin", np.sin, lambda g, ans, x: -g * np.cos(x))
    message = _message(gradcheck, mg.sin, np.ones((50, 40)), method="projection")
    assert "v = np.random.default_rng(0).standard_normal((50, 40))" in message
    assert "\n  v:" not in message  # 2,000 values: the expression says it, the message does not list them


# -- the same hints at 0-d ------------------------------------------------------------------------
MISTAKES = {
    "sign error": (lambda g, ans, x: -g * np.cos(x), "sign error"),
    "constant factor": (lambda g, ans, x: 2 * g * np.cos(x), "analytic = 2 × numerical"),
    "disconnected": (lambda g, ans, x: 0 * g, "zero everywhere"),
}


@pytest.mark.parametrize("shape", [(), (1,), (3,), (2, 2)])
@pytest.mark.parametrize("mistake", MISTAKES)
def test_0d_inputs_get_the_hints_larger_ones_get(temporary_rule, mistake, shape):
    rule, hint = MISTAKES[mistake]
    op = temporary_rule("planted_sin", np.sin, rule)
    x = np.random.default_rng(1).standard_normal(shape) + 0.5
    (line,) = [row for row in _message(gradcheck, op, x).splitlines() if row.startswith("  hint:")]
    assert hint in line


@pytest.mark.parametrize("b", [np.array(0.5), np.arange(4.0)], ids=["0-d", "(4,)"])
def test_a_broadcast_input_given_one_elements_gradient_is_hinted_as_such_at_0d_too(temporary_rule, b):
    """At 0-d a wrong value is always a ratio; the broadcast hint, the likelier mistake, comes first."""
    one_share = lambda g, ans, x, b: g[(0,) * (g.ndim - b.ndim)]  # g[0, 0] for a 0-d b, g[0] for a row
    op = temporary_rule("planted_add", np.add, lambda g, ans, x, b: g, one_share)
    assert "hint: this input is broadcast to the output's shape (3, 4)" in _message(gradcheck, op, X, b)
