"""grad, value_and_grad, vjp, jvp, jacobian, hessian: against numerical derivatives and each other.

The Jacobian is checked against central differences; jvp (forward mode) and vjp (reverse mode) are
then checked against that Jacobian, so each transform is compared with something it does not share
code with.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import strategies as mst

rng = np.random.default_rng(7)
A = rng.standard_normal((3, 4))
C = rng.standard_normal(4)

# Functions of one input x of shape (4,) or (2, 4): broadcasting, reductions, matmul, indexing.
FUNCTIONS = {
    "window": lambda x: mg.tanh(A @ x.reshape(-1)[:4] + 0.5),
    "softmax": lambda x: mg.softmax(x * C, axis=-1),
    "outer": lambda x: (x[..., :, None] * mg.sin(x)[..., None, :]).sum(-1),
    "logsumexp": lambda x: mg.logsumexp(x**2 - x, axis=-1) * mg.sigmoid(x).mean(),
    "gather": lambda x: mg.exp(x.reshape(-1)[np.array([0, 3, 3, 1])] / 3),
}


def numerical_jacobian(f, x, eps=1e-6):
    """∂f/∂x by central differences, shape f(x).shape + x.shape (float64, minigrad used only for f)."""
    x = np.array(x, dtype=np.float64)
    out_shape = f(mg.tensor(x)).shape
    J = np.zeros(out_shape + x.shape)
    for k in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[k] += eps
        down[k] -= eps
        J[(...,) + k] = (f(mg.tensor(up)).data - f(mg.tensor(down)).data) / (2 * eps)
    return J


cases = st.tuples(st.sampled_from(sorted(FUNCTIONS)), mst.arrays(st.sampled_from([(4,), (2, 4)]), low=-2, high=2))


def _flat(J, out_shape, x_shape):
    return J.reshape(int(np.prod(out_shape)), int(np.prod(x_shape)))


@given(case=cases, mode=st.sampled_from(["rev", "fwd", "auto"]))
def test_jacobian_matches_numerical(case, mode):
    name, x = case
    J = mg.jacobian(FUNCTIONS[name], mode=mode)(x)
    expected = numerical_jacobian(FUNCTIONS[name], x)
    assert J.shape == expected.shape
    np.testing.assert_allclose(J.data, expected, rtol=1e-6, atol=1e-7)


@given(case=cases, data=st.data())
def test_jvp_equals_jacobian_times_v(case, data):
    name, x = case
    v = data.draw(mst.arrays(x.shape), label="v")
    y, t = mg.jvp(FUNCTIONS[name], (x,), (v,))
    J = numerical_jacobian(FUNCTIONS[name], x)
    assert t.shape == y.shape
    np.testing.assert_allclose(t.data.reshape(-1), _flat(J, y.shape, x.shape) @ v.reshape(-1), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(y.data, FUNCTIONS[name](mg.tensor(x)).data)


@given(case=cases, data=st.data())
def test_vjp_equals_u_transposed_jacobian(case, data):
    name, x = case
    y, vjp_fn = mg.vjp(FUNCTIONS[name], x)
    u = data.draw(mst.arrays(y.shape), label="u")
    (g,) = vjp_fn(u)
    J = numerical_jacobian(FUNCTIONS[name], x)
    assert g.shape == x.shape
    np.testing.assert_allclose(g.data.reshape(-1), u.reshape(-1) @ _flat(J, y.shape, x.shape), rtol=1e-6, atol=1e-7)
    (g2,) = vjp_fn(2 * u)  # the graph is kept: vjp_fn can be called again
    np.testing.assert_allclose(g2.data, 2 * g.data, rtol=1e-12, atol=1e-14)


def numerical_hessian(f, x, eps=1e-4):
    """∂²f/∂xᵢ∂xⱼ by second central differences of f itself (no gradient involved)."""
    x = np.array(x, dtype=np.float64).reshape(-1)
    n = x.size
    H = np.zeros((n, n))
    val = lambda y: f(mg.tensor(y)).item()
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * eps, np.eye(n)[j] * eps
            H[i, j] = (val(x + e_i + e_j) - val(x + e_i - e_j) - val(x - e_i + e_j) + val(x - e_i - e_j)) / (4 * eps**2)
    return H


SCALARS = {
    "score": lambda x: C[:3] @ mg.tanh(A[:, :3] @ x + 0.1),
    "logsumexp": lambda x: mg.logsumexp(x * x - x),
    "mixed": lambda x: (mg.exp(x[0] * x[1]) + mg.log1p(x * x) * mg.sin(x[::-1])).sum() / (2 + x[2] ** 2),
}


@given(
    name=st.sampled_from(sorted(SCALARS)), x=mst.arrays((3,), low=-1.5, high=1.5), mode=st.sampled_from(["rev", "fwd"])
)
def test_hessian_is_symmetric_and_matches_second_differences(name, x, mode):
    H = mg.hessian(SCALARS[name], mode=mode)(x)
    assert H.shape == (3, 3)
    np.testing.assert_allclose(H.data, H.data.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(H.data, numerical_hessian(SCALARS[name], x), rtol=1e-5, atol=1e-6)


@given(name=st.sampled_from(sorted(SCALARS)), x=mst.arrays((3,), low=-1.5, high=1.5), v=mst.arrays((3,)))
def test_compositions_agree_with_the_hessian(name, x, v):
    f = SCALARS[name]
    H = numerical_hessian(f, x)
    np.testing.assert_allclose(mg.jacobian(mg.grad(f))(x).data, H, rtol=1e-5, atol=1e-6)
    # forward over reverse: the Hessian-vector product H v without forming H
    _, hv = mg.jvp(mg.grad(f), (x,), (v,))
    np.testing.assert_allclose(hv.data, H @ v, rtol=1e-5, atol=1e-6)
    # reverse over forward: ∇ₓ (∇f(x) · v) = H v, grad of a jvp
    hv2 = mg.grad(lambda y: mg.jvp(f, (y,), (v,))[1])(x)
    np.testing.assert_allclose(hv2.data, H @ v, rtol=1e-5, atol=1e-6)


def test_third_derivative_by_nesting():
    f = lambda x: mg.sin(x) * x  # f‴(x) = −3 sin x − x cos x
    x = 0.7
    d3 = mg.grad(mg.grad(mg.grad(f)))(x)
    np.testing.assert_allclose(d3.data, -3 * np.sin(x) - x * np.cos(x), rtol=1e-13)
    # forward over forward over reverse
    d3f = mg.jvp(lambda y: mg.jvp(mg.grad(f), (y,), (1.0,))[1], (x,), (1.0,))[1]
    np.testing.assert_allclose(d3f.data, -3 * np.sin(x) - x * np.cos(x), rtol=1e-13)


# -- the API: argnums, inputs, results, errors ---------------------------------------------------
def test_grad_argnums_several_inputs_and_floats():
    f = lambda a, b, c: (a * b).sum() + c * 2.0
    a, b = np.array([1.0, 2.0]), mg.tensor([3.0, 4.0])
    ga = mg.grad(f)(a, b, 5.0)
    assert isinstance(ga, mg.Tensor) and ga.grad_fn is None and not ga.requires_grad
    np.testing.assert_array_equal(ga.data, [3.0, 4.0])
    gb, gc = mg.grad(f, argnums=(1, 2))(a, b, 5.0)
    np.testing.assert_array_equal(gb.data, [1.0, 2.0])
    assert gc.shape == () and gc.item() == 2.0
    (gm,) = mg.grad(f, argnums=(-1,))(a, b, 5.0)
    assert gm.item() == 2.0
    value, g = mg.value_and_grad(f, argnums=0)(a, b, 5.0)
    assert value.item() == 21.0 and np.array_equal(g.data, [3.0, 4.0])


def test_grad_keeps_dtype_and_shape_and_gives_zeros_when_unused():
    x = np.ones((2, 3), dtype=np.float32)
    g = mg.grad(lambda x: (x * 3).sum())(x)
    assert g.dtype == np.float32 and g.shape == (2, 3)
    g0 = mg.grad(lambda x, y: (y * 2).sum(), argnums=0)(x, x)
    assert np.array_equal(g0.data, np.zeros((2, 3))) and g0.dtype == np.float32
    assert mg.grad(lambda x: 3.0)(1.0).item() == 0.0  # a constant output


def test_grad_of_same_tensor_passed_twice_is_separated():
    x = mg.tensor([1.0, 2.0])
    ga, gb = mg.grad(lambda a, b: (a * a * b).sum(), argnums=(0, 1))(x, x)
    np.testing.assert_array_equal(ga.data, 2 * x.data * x.data)
    np.testing.assert_array_equal(gb.data, x.data * x.data)


def test_transforms_leave_closed_over_tensors_alone():
    W = mg.tensor(A, requires_grad=True)
    h = mg.tanh(W @ C)  # a graph made outside, used inside
    g = mg.grad(lambda u: u @ h)(np.ones(3))
    np.testing.assert_array_equal(g.data, h.data)
    assert W.grad is None  # grad does not fill .grad
    h.sum().backward()  # and the outside graph is still there
    np.testing.assert_allclose(W.grad, np.outer(1 - h.data**2, C))


def test_grad_inside_no_grad_still_differentiates():
    with mg.no_grad():
        g = mg.grad(lambda x: (x**2).sum())(mg.tensor([3.0], requires_grad=True))
    assert g.data.tolist() == [6.0] and g.grad_fn is None


def test_grad_of_tensor_that_requires_grad_is_differentiable():
    x = mg.tensor([0.5, -1.0], requires_grad=True)
    g = mg.grad(lambda y: (y**3).sum())(x)  # 3x², carrying a graph back to x
    assert g.requires_grad
    g.sum().backward()
    np.testing.assert_allclose(x.grad, 6 * x.data)


def test_errors_name_the_function_and_the_shapes():
    def window(x):
        return mg.tanh(x)

    with pytest.raises(TypeError, match=r"grad: window returned shape \(3,\).*scalar"):
        mg.grad(window)(np.zeros(3))
    with pytest.raises(TypeError, match="argument 0 has dtype int64"):
        mg.grad(lambda x: x * 2)(3)
    with pytest.raises(ValueError, match="argnums 2 is out of range for 2"):
        mg.grad(lambda a, b: a, argnums=2)(1.0, 2.0)
    with pytest.raises(ValueError, match=r"tangent 0 has shape \(2,\) but primal 0 has shape \(3,\)"):
        mg.jvp(window, (np.zeros(3),), (np.zeros(2),))
    with pytest.raises(ValueError, match="one tangent per primal"):
        mg.jvp(window, (np.zeros(3),), ())
    with pytest.raises(ValueError, match=r"cotangent has shape \(2,\) but window returned shape \(3,\)"):
        mg.vjp(window, np.zeros(3))[1](np.zeros(2))
    with pytest.raises(ValueError, match="mode must be"):
        mg.jacobian(window, mode="backward")
    with pytest.raises(TypeError, match="must return a Tensor"):
        mg.grad(lambda x: "nope")(1.0)


def test_jacobian_shapes_and_auto_mode_choice():
    x = np.arange(6.0).reshape(2, 3)
    J = mg.jacobian(lambda x: x.sum(0))(x)  # out (3,), x (2, 3)
    assert J.shape == (3, 2, 3)
    np.testing.assert_array_equal(J.data, np.stack([np.eye(3), np.eye(3)], axis=1))
    Jf = mg.jacobian(lambda x: x.sum(0), mode="fwd")(x)
    np.testing.assert_array_equal(Jf.data, J.data)
    Js = mg.jacobian(lambda x: (x * x).sum())(x)  # scalar output: the gradient
    np.testing.assert_array_equal(Js.data, 2 * x)
    assert mg.jacobian(lambda x: x * 2)(np.zeros(0)).shape == (0, 0)


def test_jvp_never_forms_the_jacobian():
    # 10⁶ inputs and outputs: a Jacobian (even one row or column per pass) would need 10¹² entries
    # or 10⁶ passes; forward mode pushes the one tangent through the graph.
    x = np.linspace(-2, 2, 1_000_000)
    v = np.cos(x)
    y, t = mg.jvp(lambda x: mg.tanh(x) * x + mg.exp(-x * x).sum(), (x,), (v,))
    expected = ((1 - np.tanh(x) ** 2) * x + np.tanh(x)) * v + np.sum(-2 * x * np.exp(-x * x) * v)
    np.testing.assert_allclose(t.data, expected, rtol=1e-9, atol=1e-9)
