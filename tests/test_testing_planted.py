"""The kit catches real mistakes: wrong rules planted in ``minigrad.registry`` for one test each.

Every planted bug is paired with the correct rule, which must pass, so the check neither misses bugs
nor cries wolf. The messages are checked too: they name the input, the element, the two values, the op.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import GradcheckError, check_function, gradcheck, gradgradcheck
from minigrad.testing.checks import _check_grads

RNG = np.random.default_rng(42)
X = RNG.standard_normal((3, 4))


# -- a sign error ---------------------------------------------------------------------------------
def test_sign_error_in_a_builtin_rule_is_caught_and_named(temporary_rule):
    assert gradcheck(mg.sin, X)  # the real rule passes
    temporary_rule("sin", np.sin, lambda g, ans, x: -g * np.cos(x))  # replaces the built-in rule for this test
    with pytest.raises(GradcheckError) as info, np.printoptions(threshold=5, precision=2):  # not the message's
        gradcheck(mg.sin, X)
    message = str(info.value)
    assert "input 0 ('x')" in message and "made by 'sin'" in message
    assert re.search(r"at element \(\d, \d\): analytic -?\d\.\d+.* vs numerical -?\d\.\d+", message)
    assert "12 of 12 elements disagree" in message
    for name in ("analytic", "numerical"):  # each of the 12 values, on one line
        (line,) = [row for row in message.splitlines() if row.startswith(f"  {name}:")]
        assert line.endswith("]") and len(line.split("[")[1].split()) == 12
    assert "sign error" in message


def test_the_builtin_rule_is_restored_after_the_test():
    assert gradcheck(mg.sin, X)


# -- a missing broadcast reduction ----------------------------------------------------------------
def _bias_add_forward(x, b):
    return x + b


def test_missing_broadcast_reduction_is_caught(temporary_rule):
    b = RNG.standard_normal(4)
    right = temporary_rule("bias_add_ok", _bias_add_forward, lambda g, ans, x, b: g, lambda g, ans, x, b: g.sum(0))
    assert check_function(right, X, b, reference=_bias_add_forward)
    # The bias is broadcast over the rows; this rule hands it the first row's gradient only.
    wrong = temporary_rule("bias_add", _bias_add_forward, lambda g, ans, x, b: g, lambda g, ans, x, b: g[0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(wrong, X, b)
    message = str(info.value)
    assert "input 1" in message and "shape (4,)" in message and "made by 'bias_add'" in message
    assert "4 of 4 elements disagree" in message
    assert "broadcast to the output's shape (3, 4)" in message


def test_broadcast_gradient_of_the_wrong_shape_is_reported(temporary_rule):
    b = RNG.standard_normal(4)
    wrong = temporary_rule("bias_add", _bias_add_forward, lambda g, ans, x, b: g, lambda g, ans, x, b: g.sum(1))
    with pytest.raises(GradcheckError, match=r"backward pass of 'bias_add' raised ValueError"):
        gradcheck(wrong, X, b)


# -- a wrong transpose ----------------------------------------------------------------------------
def _mm_rules(transpose_right: bool):
    rule_a = (lambda g, ans, a, b: g @ b.T) if transpose_right else (lambda g, ans, a, b: g @ b)
    return rule_a, lambda g, ans, a, b: a.T @ g


def test_wrong_transpose_of_a_square_matrix_is_caught(temporary_rule):
    a, b = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 3))
    right = temporary_rule("mm_ok", np.matmul, *_mm_rules(True))
    assert check_function(right, a, b, reference=np.matmul)
    wrong = temporary_rule("mm", np.matmul, *_mm_rules(False))
    with pytest.raises(GradcheckError) as info:
        gradcheck(wrong, a, b)
    message = str(info.value)
    assert "input 0" in message and "made by 'mm'" in message and "analytic" in message and "numerical" in message


def test_wrong_transpose_of_a_rectangular_matrix_is_a_shape_error(temporary_rule):
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4))
    wrong = temporary_rule("mm", np.matmul, lambda g, ans, a, b: g @ b, lambda g, ans, a, b: a.T @ g)
    with pytest.raises(GradcheckError, match=r"'mm' raised ValueError"):
        gradcheck(wrong, a, b)


def test_transposed_gradient_gets_a_transpose_hint(temporary_rule):
    # f(X) = X A with A symmetric: the rule g @ A.T is right, (g @ A.T).T has the right shape but is wrong.
    a = RNG.standard_normal((3, 3))
    sym = a + a.T
    wrong = temporary_rule("xa", lambda x: x @ sym, lambda g, ans, x: (g @ sym).T)
    with pytest.raises(GradcheckError, match="transpose"):
        gradcheck(lambda x: wrong(x).sum(), RNG.standard_normal((3, 3)))


# -- a float32 downcast ---------------------------------------------------------------------------
def _cube_vjp_in_float32(g, ans, x):
    return (3 * x.astype(np.float32) ** 2 * g.astype(np.float32)).astype(x.dtype)


def test_rule_that_computes_in_float32_is_caught_by_the_complex_step(temporary_rule):
    x = np.linspace(0.5, 2.0, 7)
    right = temporary_rule("cube_ok", lambda x: x**3, lambda g, ans, x: 3 * x**2 * g)
    assert gradcheck(right, x, method="complex")
    wrong = temporary_rule("cube", lambda x: x**3, _cube_vjp_in_float32)
    assert gradcheck(wrong, x)  # float32 rounding hides under the tolerance of central differences...
    with pytest.raises(GradcheckError) as info:  # ...but not under the complex step's
        gradcheck(wrong, x, method="complex")
    message = str(info.value)
    assert "made by 'cube'" in message and "method complex" in message
    assert "float32 precision" in message and "downcast" in message


def test_function_that_downcasts_its_input_is_caught():
    def f(x):  # computes in float32 whatever it is given
        return mg.tanh(x.astype(np.float32)) * 2

    with pytest.raises(GradcheckError, match=r"(?s)input 0 \('x'\).*made by 'multiply'.*output is float32"):
        gradcheck(f, X)
    assert gradcheck(lambda x: mg.tanh(x) * 2, X)


def test_gradient_in_the_wrong_dtype_or_shape_is_reported():
    x = mg.tensor(X, requires_grad=True)
    # what a custom op that skips the engine's cast would leave (planted in the slot: assigning .grad checks both)
    x._grad = X.astype(np.float32)
    with pytest.raises(
        GradcheckError, match=r"gradient of input 0 of op has shape \(3, 4\) and dtype float32, but the input"
    ):
        _check_grads("op", ["input 0"], [x], [])
    x._grad = X[:, :2].copy()
    with pytest.raises(GradcheckError, match=r"input has shape \(3, 4\) and dtype float64"):
        _check_grads("op", ["input 0"], [x], [])


def test_gradients_that_share_memory_are_reported():
    a, b = mg.tensor(X, requires_grad=True), mg.tensor(X, requires_grad=True)
    shared = np.ones_like(X)
    a.grad, b.grad = shared, shared[...]
    with pytest.raises(GradcheckError, match=r"gradient of input 0 of op shares memory with the gradient of input 1"):
        _check_grads("op", ["input 0", "input 1"], [a, b], [])
    a.grad, b.grad = a.data, np.ones_like(X)
    with pytest.raises(GradcheckError, match=r"shares memory with the data of input 0"):
        _check_grads("op", ["input 0", "input 1"], [a, b], [])


# -- mutation and the forward pass ----------------------------------------------------------------
def test_rule_that_writes_into_its_input_is_caught(temporary_rule):
    def scribbling_vjp(g, ans, x):
        out = 2 * x * g
        x *= 1.5  # mutates the forward's saved input, which is the input tensor's own data
        return out

    square = temporary_rule("square", np.square, scribbling_vjp)
    with pytest.raises(GradcheckError, match=r"input 0 of square was modified in place"):
        check_function(square, X.copy())


def test_forward_that_differs_from_the_reference_is_caught(temporary_rule):
    square = temporary_rule("square", lambda x: x * np.abs(x), lambda g, ans, x: 2 * np.abs(x) * g)
    with pytest.raises(GradcheckError, match=r"forward pass of square \(output 0\) differs from the reference"):
        check_function(square, X, reference=np.square)


def test_forward_in_the_wrong_dtype_is_caught():
    with pytest.raises(GradcheckError, match=r"dtype float64, the reference float32"):
        check_function(lambda x: mg.tanh(x.astype(np.float64)), X.astype(np.float32), reference=np.tanh)


# -- second derivatives ---------------------------------------------------------------------------
def test_rule_that_breaks_the_graph_fails_gradgradcheck_only(temporary_rule):
    def detached_vjp(g, ans, x):  # right value, but through .data it records nothing for higher derivatives
        return 3 * np.asarray(getattr(x, "data", x)) ** 2 * g

    right = temporary_rule("cube_ok", lambda x: x**3, lambda g, ans, x: 3 * x**2 * g)
    assert gradgradcheck(right, X)
    wrong = temporary_rule("cube", lambda x: x**3, detached_vjp)
    assert gradcheck(wrong, X)
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(wrong, X)
    message = str(info.value)
    assert "the first derivative of 'cube'" in message and "input 0 (shape (3, 4), float64)" in message
    assert "analytic gradient is zero everywhere" in message  # the second derivative went missing
