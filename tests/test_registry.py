"""The registry of primitives: one line defines a primitive for every consumer; what is derived from it is right."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import expressions
from minigrad.elementwise import unary
from minigrad.registry import PRIMITIVES, restore
from minigrad.testing import gradcheck, temporary_primitive


@pytest.fixture
def cube_root():
    """A unary primitive defined by one line, as a user of the registry would; removed after the test."""
    previous = PRIMITIVES.get("cube_root")
    f = unary("cube_root", np.cbrt, "g / (3 * ans * ans)", "∛x, elementwise.")
    yield f
    restore("cube_root", previous)


def test_one_line_makes_a_primitive_for_every_consumer(cube_root):
    x = np.array([0.5, 1.5, 2.0, 3.0])
    assert gradcheck(cube_root, x)  # the engine runs the rule; checked against central differences
    assert gradcheck(lambda y: mg.grad(lambda z: cube_root(z).sum())(y), x)  # create_graph: the rule on Tensors
    t = mg.tensor(x, requires_grad=True)
    assert np.cbrt(t).grad_fn == "cube_root"  # NumPy dispatch, derived from the forward's ufunc
    _, tangent = mg.jvp(cube_root, (x,), (np.ones(4),))  # forward mode
    np.testing.assert_allclose(tangent.data, 1 / (3 * np.cbrt(x) ** 2))
    y = cube_root(t)  # the in-place guard holds what the rule reads: ans, not x
    t.data[0] = 1.0  # x is not read by the rule: the write goes through
    with pytest.raises(mg.InplaceError):
        y.data[0] = 1.0

    w = mg.tensor(x.copy(), requires_grad=True)

    @mg.compile
    def step(a):
        loss = (cube_root(w) * a).sum()
        loss.backward()
        return loss

    for _ in range(3):
        w.grad = None
        step(np.arange(4.0))
    source = step.source(np.arange(4.0))
    assert re.search(r"/ \(n\d+ \* (s\d+) \* \1\)", source), source  # the rule's expression, written inline
    np.testing.assert_allclose(w.grad, np.arange(4.0) / (3 * np.cbrt(x) ** 2))


def test_compiled_gradients_of_views_share_no_memory():
    # reshape's rule hands on a view of g: mg.compile must copy it before two leaves' .grad share it
    x = mg.tensor(np.ones((2, 3)), requires_grad=True)
    y = mg.tensor(np.ones(6), requires_grad=True)

    @mg.compile
    def step(a):
        loss = ((x.reshape(6) + y) * a).sum()
        loss.backward()
        return loss

    for _ in range(3):
        x.grad = y.grad = None
        step(np.arange(6.0))
    assert not np.shares_memory(x.grad, y.grad)
    x.grad[...] = 0
    np.testing.assert_array_equal(y.grad, np.arange(6.0))


def test_temporary_primitive_puts_back_the_very_entry_it_replaced():
    before = PRIMITIVES["maximum"]
    with temporary_primitive("maximum", np.maximum, lambda g, ans, a, b: g, lambda g, ans, a, b: g):
        assert PRIMITIVES["maximum"].against_constant == before.against_constant  # the other facts are kept
        assert PRIMITIVES["maximum"].vjps != before.vjps
    assert PRIMITIVES["maximum"] is before
    with temporary_primitive("brand_new", np.negative, lambda g, ans, x: -g):
        assert "brand_new" in PRIMITIVES
    assert "brand_new" not in PRIMITIVES


def test_a_recorded_seed_of_another_dtype_gives_gradients_of_the_tensors_dtype():
    x = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    mg.tanh(x).backward(gradient=mg.tensor(np.ones(3)), create_graph=True)
    assert x.grad.dtype == np.float32
    (g,) = mg.vjp(mg.tanh, mg.tensor(np.ones(3, np.float32), requires_grad=True))[1](mg.tensor(np.ones(3)))
    assert g.dtype == np.float32


@pytest.mark.parametrize(
    "expression",
    ["g * np.greater_equal(x, 0)", "g * (2 * 3) * x", "-(g * np.sin(x))", "g / (1 + x)", "g * (ans > 0)", "g"],
)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_the_in_place_form_of_a_rule_equals_its_expression(expression, dtype):
    rule = expressions.function("probe", expression, ("x",), elementwise=True)
    rng = np.random.default_rng(0)
    g, ans, x = (rng.standard_normal(5).astype(dtype) for _ in range(3))
    plain = eval(expression, {"np": np}, {"g": g, "ans": ans, "x": x})
    copies = [a.copy() for a in (g, ans, x)]
    np.testing.assert_array_equal(rule(g, ans, x), plain)
    for a, c in zip((g, ans, x), copies):
        np.testing.assert_array_equal(a, c)  # nothing it reads is written


def test_what_a_rule_makes_and_reads_is_read_from_its_expression():
    assert expressions.makes_new_array("g * b") and expressions.makes_new_array("-g")
    for view_or_same in ("g", "g.reshape(x.shape)", "g[index]", "g.T", "np.where(c, g, 0)"):
        assert not expressions.makes_new_array(view_or_same)
    assert expressions.names_read("g.reshape(x.shape)") == {"g"}  # x only for its shape
    assert expressions.names_read("g * (1 - ans * ans)") == {"g", "ans"}
