"""Second derivatives through the rule table: grad of grad for every elementwise rule, create_graph.

The first derivative comes from minigrad; its derivative is checked against central differences of
that first derivative (``gradcheck`` of x ↦ grad(f)(x)), so a rule that is wrong under create_graph
fails here even when its first-order value is right.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_rules import CASES as RULE_CASES  # one case per primitive of the rule table

import minigrad as mg
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

# (function, low, high, kinks to keep away from)
UNARY = {
    "exp": (mg.exp, -3, 3, ()),
    "log": (mg.log, 0.2, 3, ()),
    "log1p": (mg.log1p, -0.5, 3, ()),
    "expm1": (mg.expm1, -3, 3, ()),
    "sqrt": (mg.sqrt, 0.2, 3, ()),
    "sin": (mg.sin, -3, 3, ()),
    "cos": (mg.cos, -3, 3, ()),
    "tanh": (mg.tanh, -3, 3, ()),
    "sigmoid": (mg.sigmoid, -3, 3, ()),
    "absolute": (mg.absolute, -3, 3, (0.0,)),
    "negative": (mg.negative, -3, 3, ()),
    "relu": (mg.relu, -3, 3, (0.0,)),
    "square": (mg.square, -3, 3, ()),
    "exp2": (mg.exp2, -3, 3, ()),
    "log2": (mg.log2, 0.2, 3, ()),
    "log10": (mg.log10, 0.2, 3, ()),
    "tan": (mg.tan, -1.2, 1.2, ()),
    "sinh": (mg.sinh, -3, 3, ()),
    "cosh": (mg.cosh, -3, 3, ()),
    "arctan": (mg.arctan, -3, 3, ()),
    "arcsin": (mg.arcsin, -0.9, 0.9, ()),
    "arccos": (mg.arccos, -0.9, 0.9, ()),
    "erf": (mg.erf, -3, 3, ()),
}

# The binary rules, each composed with a smooth factor so that the second derivative is not trivially
# zero: h(a, b) = op(a, b) · sin(a + b) exercises the cross terms of every rule.
BINARY = {
    "add": (mg.add, -3, 3),
    "subtract": (mg.subtract, -3, 3),
    "multiply": (mg.multiply, -3, 3),
    "divide": (mg.divide, 0.5, 2),
    "power": (mg.power, 0.5, 2),
    "maximum": (mg.maximum, -3, 3),
    "minimum": (mg.minimum, -3, 3),
}


def test_every_elementwise_rule_is_covered():
    from minigrad.registry import elementwise_names

    assert set(UNARY) == set(elementwise_names("unary")) - {"sign"}  # the registry's unary elementwise primitives


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_grad_of_grad_unary(name, data):
    fn, low, high, kinks = UNARY[name]
    x = data.draw(mst.arrays(mst.shapes(max_dims=2), low=low, high=high, away_from=kinks), label="x")
    first = mg.grad(lambda y: (fn(y) * fn(y)).sum())  # 2 f f′: both f′ and f″ of the rule matter
    assert gradcheck(lambda y: first(y), x)
    # the plain second derivative of f itself: x ↦ f′(x) elementwise
    assert gradcheck(lambda y: mg.grad(lambda z: fn(z).sum())(y), x)


def _apart(ab):
    a, b = np.broadcast_arrays(*ab)
    return bool(np.all(np.abs(a - b) > 1e-2))


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_grad_of_grad_binary(name, data):
    fn, low, high = BINARY[name]
    shapes = data.draw(mst.broadcastable_shapes(2, max_dims=2), label="shapes")
    pair = st.tuples(*(mst.arrays(s, low=low, high=high) for s in shapes))
    a, b = data.draw(pair.filter(_apart) if name in ("maximum", "minimum") else pair, label="ab")
    h = lambda a, b: (fn(a, b) * mg.sin(a + b)).sum()

    def both_gradients(a, b):
        ga, gb = mg.grad(h, argnums=(0, 1))(a, b)
        return mg.concatenate([ga.reshape(-1), gb.reshape(-1)])

    assert gradcheck(both_gradients, a, b)


def test_backward_create_graph_makes_grad_a_differentiable_tensor():
    x = mg.tensor([0.3, -1.2, 2.0], dtype=np.float64, requires_grad=True)
    y = (mg.tanh(x) ** 3).sum()
    y.backward(create_graph=True)
    t = np.tanh(x.data)
    first = 3 * t**2 * (1 - t**2)
    assert isinstance(x.grad, mg.Tensor) and x.grad.requires_grad
    np.testing.assert_allclose(x.grad.data, first, rtol=1e-14)
    g = x.grad
    x.grad = None
    g.sum().backward()  # d/dx Σ f′(x) = f″(x)
    second = (6 * t - 12 * t**3) * (1 - t**2)
    np.testing.assert_allclose(x.grad, second, rtol=1e-12)
    assert isinstance(x.grad, np.ndarray)  # a plain backward gives arrays, as before


def test_create_graph_twice_gives_third_derivative():
    x = mg.tensor(0.4, dtype=np.float64, requires_grad=True)
    (x**5).backward(create_graph=True)
    g1 = x.grad
    x.grad = None
    g1.backward(create_graph=True)
    g2 = x.grad
    x.grad = None
    g2.backward()
    np.testing.assert_allclose(x.grad, 60 * 0.4**2, rtol=1e-13)


def test_create_graph_window_score_mixed_second_derivative():
    # ∂/∂u of |∂s/∂b|² where ∂s/∂b = δ = u ∘ f′(z): 2 δ ∘ f′(z), against the formula
    rng = np.random.default_rng(2)
    x, W = rng.standard_normal(5), rng.standard_normal((3, 5))
    b = mg.tensor(rng.standard_normal(3), requires_grad=True)
    u = mg.tensor(rng.standard_normal(3), requires_grad=True)
    s = u @ mg.tanh(W @ x + b)
    s.backward(create_graph=True)
    delta = b.grad
    b.grad = u.grad = None
    (delta * delta).sum().backward()
    fp = 1 - np.tanh(W @ x + b.data) ** 2
    np.testing.assert_allclose(u.grad, 2 * u.data * fp * fp, rtol=1e-12)


def test_einsum_rule_under_create_graph_with_a_scalar_output():
    # the rule of 'i,i->' is einsum(',i->i', g, b) with a 0-d g: it must run on Tensors too
    a, b = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.3, -0.7])
    ga = mg.grad(lambda x: mg.sin(mg.einsum("i,i->", x, b)))(mg.tensor(a, requires_grad=True))
    np.testing.assert_allclose(ga.data, np.cos(a @ b) * b, rtol=1e-14)
    H = mg.hessian(lambda x: mg.sin(mg.einsum("i,i->", x, b)))(a)  # −sin(aᵀb) b bᵀ
    np.testing.assert_allclose(H.data, -np.sin(a @ b) * np.outer(b, b), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("op", sorted(RULE_CASES))
@given(data=st.data())
def test_grad_of_grad_every_rule(op, data):
    # every primitive of the table, second order: x ↦ ∇ Σ sin(f(x)) against differences of itself
    # (sin makes the second derivative of the linear primitives non-zero)
    f, inputs = data.draw(RULE_CASES[op], label="case")
    argnums = tuple(range(len(inputs)))

    def gradient(*xs):
        grads = mg.grad(lambda *ys: mg.sin(f(*ys)).sum(), argnums=argnums)(*xs)
        return mg.concatenate([g.reshape(-1) for g in grads])

    assert gradcheck(gradient, *inputs)
