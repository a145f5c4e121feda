"""Hostile input to the core: every case gave a silently wrong result or an error that named nothing
(issue 22, items 3, 4 and 6). Each is now an error naming the operation, the argument and what is wrong, or
the behaviour NumPy and PyTorch users expect."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


# -- .data and .grad keep their tensor's shape and dtype ------------------------------------------------------
@pytest.mark.parametrize(
    "value, found",
    [(np.zeros((2, 2)), r"shape \(2, 2\) and dtype float64"), (np.zeros(3, dtype=np.int64), "dtype int64"),
     (np.array(["a", "b", "c"]), "dtype <U1"), (np.zeros(3, dtype=np.float32), "dtype float32")],
)  # fmt: skip
def test_assigning_data_of_another_shape_or_dtype_is_refused(value, found):
    # a new shape reached the next backward (a gradient summed or broadcast into the wrong shape), an int array
    # cast the gradient, and mg.compile kept replaying the traced shape
    x = mg.tensor([1.0, 2.0, 3.0], dtype=np.float64, requires_grad=True)
    with pytest.raises(ValueError, match=rf"data: this tensor holds shape \(3,\) and dtype float64, .*{found}"):
        x.data = value
    np.testing.assert_array_equal(x.data, [1.0, 2.0, 3.0])
    x.data = np.array([4.0, 5.0, 6.0])  # the same shape and dtype: a new array is fine
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [8.0, 10.0, 12.0])


def test_assigning_grad_of_another_shape_or_dtype_is_refused():
    x = mg.tensor([1.0, 2.0, 3.0], dtype=np.float64, requires_grad=True)
    with pytest.raises(ValueError, match=r"grad: this tensor has shape \(3,\) and dtype float64, .*shape \(2,\)"):
        x.grad = np.zeros(2)
    with pytest.raises(ValueError, match="dtype int64"):
        x.grad = np.zeros(3, dtype=np.int64)
    with pytest.raises(TypeError, match="grad: assign an array or a Tensor"):
        x.grad = [0.0, 0.0, 0.0]
    x.grad = np.ones(3)
    (x * x).sum().backward()  # accumulates into what was assigned
    np.testing.assert_array_equal(x.grad, [3.0, 5.0, 7.0])
    x.grad = None
    s = mg.tensor(2.0, dtype=np.float64, requires_grad=True)
    s.grad = np.float64(1.0)  # a 0-d gradient as NumPy's scalar


def test_a_compiled_step_keeps_replaying_right_when_a_parameter_s_shape_change_is_refused():
    W = mg.tensor(np.ones((3, 2)), requires_grad=True)

    @mg.compile
    def step(x):
        loss = (x @ W).sum()
        loss.backward()
        return loss

    x = np.ones((1, 3))
    for _ in range(3):
        W.grad = None
        step(x)
    with pytest.raises(ValueError, match=r"data: this tensor holds shape \(3, 2\)"):
        W.data = np.ones((3, 4))
    W.grad = None
    assert step(x).item() == 6.0 and W.grad.shape == (3, 2)


# -- minigrad is real-valued: complex numbers are refused where they enter ------------------------------------
def test_complex_data_is_refused_where_it_enters():
    x = mg.tensor([1.0, -2.0], requires_grad=True)
    for make, op in [
        (lambda: mg.tensor([1 + 1j]), "tensor"),
        (lambda: x * (1 + 1j), "multiply"),  # abs(x · (1 + 1j)) had a gradient of exactly 0
        (lambda: mg.add(x, np.array([1j, 2j])), "add"),
        (lambda: mg.exp(np.array([1j])), "exp"),
        (lambda: mg.sum(np.array([1j])), "sum"),
        (lambda: np.multiply(x, np.complex128(1j)), "multiply"),
        (lambda: mg.concatenate([x, np.array([1j])]), "concatenate"),
    ]:
        with pytest.raises(TypeError, match=rf"{op}: unsupported complex data \(dtype complex128\); minigrad is real"):
            make()
    y = (x * x).sum()
    with pytest.raises(TypeError, match="backward: the gradient is complex"):
        y.backward(np.array(1 + 0j))


def test_a_custom_function_returning_a_complex_gradient_is_refused():
    class Rotate(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, g):
            return g * (1 + 1j)

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="backward returned a complex gradient for input 0"):
        Rotate.apply(x).sum().backward()


# -- operations refuse nonsense arguments ---------------------------------------------------------------------
@pytest.mark.parametrize("axes", [(0, 5), (1, 2), (0, 0), (-3, 0)])
def test_transpose_axes_out_of_range_are_refused_not_wrapped(axes):
    x = mg.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"transpose: axes .* are not a permutation of the axes of shape \(2, 3\)"):
        x.transpose(axes)
    assert x.transpose((-1, 0)).shape == (3, 2)  # negative axes within range are fine


def test_a_bool_axis_is_refused():
    x = mg.tensor(np.ones((2, 3)))
    for reduce in (mg.sum, mg.mean, mg.max, mg.logsumexp):
        with pytest.raises(ValueError, match=r"axis True is out of range"):
            reduce(x, axis=True)


def test_concatenate_with_axis_none_flattens_as_numpy_does():
    a = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = mg.tensor(np.array([10.0, 11.0]), requires_grad=True)
    out = mg.concatenate([a, b], axis=None)
    np.testing.assert_array_equal(out.data, np.concatenate([a.data, b.data], axis=None))
    (out * np.arange(8.0)).sum().backward()
    np.testing.assert_array_equal(a.grad, np.arange(6.0).reshape(2, 3))  # each element's own weight
    np.testing.assert_array_equal(b.grad, [6.0, 7.0])
    with pytest.raises(TypeError, match="concatenate: axis must be an int or None, got 'x'"):
        mg.concatenate([a, a], axis="x")


def test_a_string_operand_is_named_by_the_operation():
    x = mg.tensor([1.0, 2.0])
    for make, op in [(lambda: x + "a", "add"), (lambda: mg.exp("a"), "exp"), (lambda: mg.sum("ab"), "sum"),
                     (lambda: mg.maximum(x, "a"), "maximum")]:  # fmt: skip
        with pytest.raises(TypeError, match=rf"^{op}: unsupported operand"):
            make()


# -- writes through memory shared without a recorded link -----------------------------------------------------
def _writes(t):
    """The write paths of the in-place guard, each through ``t.data``."""

    def assign():
        t.data[...] = 0.0  # noqa: E702

    def augmented():
        t.data.__iadd__(1.0)  # noqa: E702  (t.data += 1 rebinds t.data: the same check)

    def ufunc():
        np.multiply(t.data, 2.0, out=t.data)  # noqa: E702

    return [assign, augmented, ufunc]


def test_a_write_through_a_detached_tensor_while_the_graph_holds_its_source_is_refused():
    # d = x.detach() shares x's memory: writing d gave (x * x)'s backward a zeroed x, silently
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = x.detach()
    loss = (x * x).sum()
    for write in _writes(d):
        with pytest.raises(mg.InplaceError, match=r"saved by 'multiply'"):
            write()
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])
    d.data[...] = 0.0  # the graph is gone: the write goes ahead, and x sees it (the memory is shared)
    np.testing.assert_array_equal(x.data, [0.0, 0.0, 0.0])


def test_a_write_through_the_source_while_the_graph_holds_a_detached_tensor_is_refused():
    w = mg.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    x = mg.tensor([3.0, 4.0], dtype=np.float64, requires_grad=True)
    loss = (w * x.detach()).sum()  # multiply's rule for w reads the detached x
    with pytest.raises(mg.InplaceError, match=r"saved by 'multiply'"):
        x.data[...] = 0.0
    x.grad = np.ones(2)
    with pytest.raises(mg.InplaceError, match=r"SGD.step .*saved by 'multiply'"):
        mg.optim.SGD([x], lr=0.1).step()
    loss.backward()
    np.testing.assert_array_equal(w.grad, [3.0, 4.0])


def test_a_write_to_a_constant_whose_view_the_graph_holds_is_refused():
    # y = w · cᵀ: the graph holds cᵀ (multiply reads it), which is c's memory
    c = mg.tensor(np.arange(6.0).reshape(2, 3))
    w = mg.tensor(np.ones((3, 2)), requires_grad=True)
    loss = (w * c.T).sum()
    with pytest.raises(mg.InplaceError, match=r"saved by 'multiply'"):
        c.data[...] = 0.0
    loss.backward()
    np.testing.assert_array_equal(w.grad, np.arange(6.0).reshape(2, 3).T)


def test_a_write_through_a_view_made_under_no_grad_is_refused():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = mg.tanh(x).sum() * 0 + (x * x).sum()
    with mg.no_grad():
        head = x[:2]
        flat = x.reshape(3)
    for view in (head, flat):
        with pytest.raises(mg.InplaceError, match=r"saved by 'multiply'"):
            view.data[...] = 0.0
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_views_and_detached_tensors_that_no_graph_holds_stay_writeable_and_are_forgotten():
    import gc
    import weakref

    x = mg.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    d = x.detach()
    d.data[...] = 5.0  # nothing holds x: fine
    np.testing.assert_array_equal(x.data, [5.0, 5.0])
    gone = weakref.ref(d)
    del d
    gc.collect()
    assert gone() is None and len(x._links.views) == 0  # the link is weak both ways
    # after x.data = new, x and an old detached copy share nothing: a graph holding one never blocks the other
    old = x.detach()
    x.data = np.array([1.0, 1.0])
    loss = (old * mg.tensor([1.0, 1.0], dtype=np.float64, requires_grad=True)).sum()
    x.data[...] = 3.0
    assert loss.requires_grad and old.data[0] == 5.0
