"""Tensors: creation, dtype policy, NumPy interplay, and clear errors for bad input."""

import numpy as np
import pytest

import minigrad as mg


def test_python_floats_give_the_default_float32_arrays_keep_their_dtype_and_ints_stay_ints():
    assert mg.get_default_dtype() == np.float32
    assert mg.tensor([1.0, 2.0]).dtype == np.float32 and mg.tensor(2.5).dtype == np.float32
    assert mg.tensor([1, 2]).dtype == np.int64 and mg.tensor([True]).dtype == np.bool_
    assert mg.tensor(np.array([1.0])).dtype == np.float64 and mg.tensor(np.float64(1.0)).dtype == np.float64
    assert mg.tensor([1.0], dtype=np.float64).dtype == np.float64
    assert mg.zeros(2, 3).shape == (2, 3) and mg.ones((2,)).dtype == np.float32
    made = [
        mg.zeros(2),
        mg.ones(2),
        mg.randn(2, rng=0),
        mg.rand(2, rng=0),
        mg.full((2,), 0.5),
        mg.arange(0.0, 1.0, 0.5),
    ]
    assert [t.dtype for t in made] == [np.float32] * 6
    assert mg.full((2,), 3).dtype == np.int64 and mg.arange(3).dtype == np.int64


def test_set_default_dtype_changes_what_creation_functions_and_layers_make():
    from minigrad import nn

    mg.set_default_dtype(np.float64)
    try:
        assert mg.tensor([1.5]).dtype == mg.zeros(1).dtype == mg.randn(1, rng=0).dtype == np.float64
        assert nn.Linear(2, 3, rng=0).weight.dtype == nn.Embedding(4, 2, rng=0).weight.dtype == np.float64
        assert repr(mg.tensor([1.0])) == "tensor([1.])" and "dtype=float32" in repr(mg.zeros(1, dtype=np.float32))
    finally:
        mg.set_default_dtype("float32")
    assert nn.Linear(2, 3, rng=0).weight.dtype == np.float32 and mg.zeros(1).dtype == np.float32
    for bad in (np.int64, "complex128", "nonsense"):
        with pytest.raises(TypeError, match="set_default_dtype: dtype must be float16, float32 or float64"):
            mg.set_default_dtype(bad)


def test_float32_stays_float32_through_forward_and_backward():
    x = mg.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    w = mg.tensor(np.ones((2, 4), np.float32), requires_grad=True)
    y = mg.log_softmax(mg.tanh(x @ w) * 2.0 + 1, axis=-1).sum() / 3
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_mixing_float32_and_float64_follows_numpy_promotion_and_grads_keep_their_dtype():
    a = mg.tensor(np.ones(2, np.float32), requires_grad=True)
    b = mg.tensor(np.ones(2, np.float64), requires_grad=True)
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_int_and_bool_tensors_never_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require grad.*int64"):
        mg.tensor([1, 2], requires_grad=True)
    t = mg.tensor([True, False])
    with pytest.raises(TypeError, match="bool"):
        t.requires_grad = True
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * mg.tensor([2, 3])  # an int tensor mixed in is a constant
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])


def test_numpy_arrays_and_numbers_are_constants():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0]) * x + 1.0  # ndarray on the left dispatches to minigrad
    assert isinstance(y, mg.Tensor) and y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_numpy_functions_dispatch_to_minigrad():
    x = mg.tensor([0.5, 1.0], requires_grad=True)
    y = np.sum(np.exp(x) * np.tanh(x))
    assert isinstance(y, mg.Tensor)
    y.backward()
    e, t = np.exp([0.5, 1.0]), np.tanh([0.5, 1.0])
    np.testing.assert_allclose(x.grad, e * t + e * (1 - t**2))


def test_unsupported_numpy_function_is_an_error_not_a_silent_constant():
    x = mg.tensor([0.5, 1.0], requires_grad=True)
    with pytest.raises(TypeError, match="numpy.arctan2 is not differentiable"):
        np.arctan2(x, x)
    with pytest.raises(TypeError, match="detach"):
        np.asarray(x)
    assert np.asarray(x.detach()).tolist() == [0.5, 1.0]


def test_comparisons_give_plain_boolean_arrays():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert isinstance(x > 1.5, np.ndarray) and (x > 1.5).tolist() == [False, True]
    assert (x == mg.tensor([1.0, 0.0])).tolist() == [True, False]


def test_attributes_and_repr():
    x = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert (x.shape, x.ndim, x.size, len(x)) == ((2, 3), 2, 6, 2)
    assert x.T.shape == (3, 2) and x.numpy() is x.data
    assert mg.tensor(3.5).item() == 3.5
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=<tanh>" in repr(mg.tanh(x))
    assert "dtype=float64" in repr(mg.tensor([1.0], dtype=np.float64))
    assert "dtype" not in repr(mg.tensor([1.0], dtype=np.float32))  # the default dtype is not named


def test_broadcasting_error_names_operation_and_shapes():
    a, b = mg.ones(3, requires_grad=True), mg.ones(4)
    with pytest.raises(ValueError, match=r"add: operands with shapes \(3,\) and \(4,\) cannot be broadcast"):
        a + b
    with pytest.raises(ValueError, match=r"multiply: .*\(2, 3\) and \(2,\)"):
        mg.ones((2, 3)) * mg.ones(2)


def test_matmul_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(8, 20\) and \(19,\) do not match \(inner sizes 20 and 19"):
        mg.ones((8, 20)) @ mg.ones(19)
    with pytest.raises(ValueError, match=r"\(2, 2, 3\) and \(3, 3, 2\) do not match \(batch axes \(2,\) and \(3,\)\)"):
        mg.ones((2, 2, 3)) @ mg.ones((3, 3, 2))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        mg.matmul(mg.tensor(2.0), mg.ones(3))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        mg.ones(3) @ 2.0


def test_array_likes_are_operands_as_their_plain_arrays():
    import array

    class Arrayish:
        def __array__(self, dtype=None, copy=None):
            return np.arange(6.0).reshape(3, 2)

    w = mg.tensor(np.arange(9.0).reshape(3, 3), requires_grad=True)
    for other in (array.array("d", [1, 2, 3]), range(3), [1.0, 2.0, 3.0], Arrayish(), np.matrix(np.ones((3, 2)))):
        plain = np.asarray(other).view(np.ndarray)
        np.testing.assert_array_equal((w @ other).data, w.data @ plain)  # a matrix operand gives no matrix shape
        np.testing.assert_array_equal((w[0] @ other).data, w.data[0] @ plain)
        np.testing.assert_array_equal(mg.matmul(w, other).data, w.data @ plain)
    np.testing.assert_array_equal((w + range(3)).data, w.data + np.arange(3))
    for bad in ("abc", None, {}, object()):
        with pytest.raises(TypeError, match=f"add: unsupported operand type {type(bad).__name__}"):
            w + bad


def test_operator_methods_and_primitives_pickle():
    import pickle

    t = mg.tensor([1.0, 2.0])
    for method, expected in ((t.__add__, [2.0, 3.0]), (t.__rsub__, [0.0, -1.0]), (t.__matmul__, None)):
        restored = pickle.loads(pickle.dumps(method))
        if expected is None:
            assert restored(np.ones(2)).item() == 3.0
        else:
            np.testing.assert_array_equal(restored(1.0).data, expected)
    assert pickle.loads(pickle.dumps(mg.Tensor.__radd__)) is mg.Tensor.__radd__
    assert pickle.loads(pickle.dumps(mg.multiply)) is mg.multiply and pickle.loads(pickle.dumps(mg.tanh)) is mg.tanh
    assert mg.Tensor.__rtruediv__.__qualname__ == "Tensor.__rtruediv__"
    assert "mg.divide" in mg.Tensor.__rtruediv__.__doc__


def test_shape_errors_name_the_operation():
    x = mg.ones((2, 3))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) into shape \(4,\)"):
        x.reshape(4)
    with pytest.raises(ValueError, match=r"sum: axis 2 is out of range for a tensor of shape \(2, 3\)"):
        x.sum(axis=2)
    with pytest.raises(ValueError, match="concatenate: cannot join shapes"):
        mg.concatenate([x, mg.ones((3, 3))], axis=1)
    with pytest.raises(IndexError, match=r"getitem: .*\(2, 3\)"):
        x[5]
    with pytest.raises(TypeError, match="setitem"):
        x[0] = 1.0
    with pytest.raises(ValueError, match="max: cannot reduce an empty tensor"):
        mg.zeros(0).max()


def test_randn_is_reproducible_with_a_seed():
    np.testing.assert_array_equal(mg.randn(3, rng=1).data, mg.randn(3, rng=1).data)
    assert mg.randn(2, 2, rng=np.random.default_rng(0), dtype=np.float32).dtype == np.float32


def test_subclasses_of_tensor_work_in_every_operation():
    class Param(mg.Tensor):
        __slots__ = ()

    w = Param(np.array([1.0, 2.0]), requires_grad=True)
    y = (w * 2.0 + 1.0 - w / 4 + 3.0 * w + w**2).sum() + mg.tanh(w).sum() + (w @ w) + w.sum() * w.max()
    y.backward()
    t = np.tanh([1.0, 2.0])
    w0 = np.array([1.0, 2.0])
    # 2 − ¼ + 3 + 2w, then tanh′, then w·w, then Σw·max w: max w = 2 everywhere, Σw = 3 at the argmax
    expected = 4.75 + 2 * w0 + (1 - t**2) + 2 * w0 + 2.0 + np.array([0.0, 3.0])
    np.testing.assert_allclose(w.grad, expected)
