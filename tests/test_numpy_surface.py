"""The NumPy functions and PyTorch-named methods a user reaches for: values as NumPy's, gradients as numerical.

The composites (var, flip, tile, ...) have no rule of their own: their gradients are checked against central
differences here; the new primitives' rules are checked with every other rule in test_rules.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

RNG = np.random.default_rng(7)
X = RNG.standard_normal((3, 4))

# (name, the minigrad call, the NumPy call on the array): values must agree, gradients must pass gradcheck
COMPOSITES = [
    ("var", lambda t: mg.var(t, axis=0), lambda a: np.var(a, axis=0)),
    ("var_ddof", lambda t: mg.var(t, axis=1, ddof=1, keepdims=True),
     lambda a: np.var(a, axis=1, ddof=1, keepdims=True)),
    ("std", lambda t: mg.std(t), lambda a: np.std(a)),
    ("flip", lambda t: mg.flip(t, 1), lambda a: np.flip(a, 1)),
    ("flip_all", lambda t: mg.flip(t), lambda a: np.flip(a)),
    ("roll", lambda t: mg.roll(t, 3, axis=1), lambda a: np.roll(a, 3, axis=1)),
    ("roll_flat", lambda t: mg.roll(t, -5), lambda a: np.roll(a, -5)),
    ("tile", lambda t: mg.tile(t, (2, 1, 3)), lambda a: np.tile(a, (2, 1, 3))),
    ("repeat", lambda t: mg.repeat(t, 2, axis=0), lambda a: np.repeat(a, 2, axis=0)),
    ("repeat_counts", lambda t: mg.repeat(t, [1, 0, 2, 1], axis=1), lambda a: np.repeat(a, [1, 0, 2, 1], axis=1)),
    ("repeat_flat", lambda t: mg.repeat(t, 3), lambda a: np.repeat(a, 3)),
    ("pad", lambda t: mg.pad(t, ((1, 0), (2, 3)), constant_values=0.5),
     lambda a: np.pad(a, ((1, 0), (2, 3)), constant_values=0.5)),
    ("split", lambda t: mg.split(t, 2, axis=1)[1], lambda a: np.split(a, 2, axis=1)[1]),
    ("array_split", lambda t: mg.array_split(t, 3, axis=1)[0], lambda a: np.array_split(a, 3, axis=1)[0]),
    ("diagonal", mg.diagonal, np.diagonal),
    ("trace", mg.trace, np.trace),
    ("take_along_axis", lambda t: mg.take_along_axis(t, np.array([[0, 0], [3, 1], [2, 2]]), 1),
     lambda a: np.take_along_axis(a, np.array([[0, 0], [3, 1], [2, 2]]), 1)),
    ("sort", lambda t: mg.sort(t, axis=0), lambda a: np.sort(a, axis=0)),
    ("square", mg.square, np.square),
    ("cumsum", lambda t: mg.cumsum(t, axis=1), lambda a: np.cumsum(a, axis=1)),
    ("norm", lambda t: mg.norm(t, axis=1), lambda a: np.linalg.norm(a, axis=1)),
]  # fmt: skip


@pytest.mark.parametrize("name, ours, numpy", COMPOSITES, ids=[c[0] for c in COMPOSITES])
def test_values_as_numpys_and_gradients_as_numerical(name, ours, numpy):
    np.testing.assert_allclose(ours(mg.tensor(X)).data, numpy(X), rtol=1e-12, atol=1e-12)
    assert gradcheck(ours, X)


def _dispatched(name):
    return {
        "var": lambda t: np.var(t, axis=0, ddof=1), "std": lambda t: np.std(t, axis=1),
        "flip": lambda t: np.flip(t, 0),
        "roll": lambda t: np.roll(t, 1, axis=0), "tile": lambda t: np.tile(t, 2),
        "repeat": lambda t: np.repeat(t, 2, 1),
        "pad": lambda t: np.pad(t, 1), "split": lambda t: np.split(t, 2, axis=1)[0],
        "array_split": lambda t: np.array_split(t, 3)[2], "trace": np.trace, "diagonal": np.diagonal,
        "sort": lambda t: np.sort(t), "cumsum": lambda t: np.cumsum(t, 0), "norm": np.linalg.norm,
        "logaddexp": lambda t: np.logaddexp(t, 0.5), "hypot": lambda t: np.hypot(t, 2.0), "tan": np.tan,
        "arctan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "square": np.square, "exp2": np.exp2,
    }[name]  # fmt: skip


@pytest.mark.parametrize("name", ["var", "std", "flip", "roll", "tile", "repeat", "pad", "split", "array_split",
                                  "trace", "diagonal", "sort", "cumsum", "norm", "logaddexp", "hypot", "tan",
                                  "arctan", "sinh", "cosh", "square", "exp2"])  # fmt: skip
def test_numpy_functions_called_on_tensors_are_differentiable(name):
    f = _dispatched(name)
    out = f(mg.tensor(X, requires_grad=True))
    assert isinstance(out, mg.Tensor) and out.grad_fn is not None
    np.testing.assert_allclose(out.data, f(X), rtol=1e-12)
    assert gradcheck(f, X)


@pytest.mark.parametrize("f", [np.argmax, np.argmin, np.argsort, np.floor, np.ceil, np.isinf, np.count_nonzero,
                               lambda a: np.argmax(a, axis=1), lambda a: np.nonzero(a > 0)[1]])  # fmt: skip
def test_functions_without_a_gradient_give_plain_arrays(f):
    t = mg.tensor(X, requires_grad=True)
    out = f(t)
    assert not isinstance(out, mg.Tensor)
    np.testing.assert_array_equal(out, f(X))


def test_a_function_minigrad_cannot_differentiate_is_named_in_full():
    t = mg.tensor(X, requires_grad=True)
    with pytest.raises(TypeError, match=r"numpy\.linalg\.det is not differentiable"):
        np.linalg.det(t)
    with pytest.raises(TypeError, match=r"numpy\.nancumprod is not differentiable"):
        np.nancumprod(t)
    with pytest.raises(ValueError, match="norm: only the 2-norm"):
        mg.norm(t, ord=1)
    with pytest.raises(ValueError, match="pad: only mode='constant'"):
        mg.pad(t, 1, mode="reflect")
    with pytest.raises(ValueError, match="split: 3 sections do not divide an axis of length 4"):
        mg.split(t, 3, axis=1)
    with pytest.raises(ValueError, match="var: ddof=4 leaves no degrees of freedom for 4 elements"):
        mg.var(t, axis=1, ddof=4)


def test_pytorch_named_methods_do_what_pytorch_does():
    t = mg.tensor(X, requires_grad=True)
    assert t.view(4, 3).shape == (4, 3) and t.view(-1).shape == (12,)
    assert t.unsqueeze(1).shape == (3, 1, 4) and t.flatten().shape == (12,)
    assert mg.tensor(np.ones((2, 3, 4))).flatten(1).shape == (2, 12)
    np.testing.assert_array_equal(t.permute(1, 0).data, X.T)
    assert t.unsqueeze(0).expand(5, -1, -1).shape == (5, 3, 4)
    np.testing.assert_array_equal(t.repeat(2, 1).data, np.tile(X, (2, 1)))  # torch's repeat is np.tile
    np.testing.assert_array_equal(t.clamp(-0.5, 0.5).data, np.clip(X, -0.5, 0.5))
    np.testing.assert_array_equal(t.argmax(1), X.argmax(1))
    assert isinstance(t.argmin(), np.integer | np.ndarray)
    np.testing.assert_allclose(t.var(axis=0, ddof=1).data, X.var(axis=0, ddof=1))  # NumPy's ddof: see docs/tensors.md
    np.testing.assert_allclose(t.norm().data, np.linalg.norm(X))
    assert gradcheck(lambda u: u.permute(1, 0).flatten().unsqueeze(0).expand(2, -1), X)


def test_norm_and_hypot_at_zero_take_the_subgradient_zero():
    z = mg.tensor(np.zeros(3), requires_grad=True)
    mg.norm(z).backward()
    np.testing.assert_array_equal(z.grad, 0.0)
    a, b = mg.tensor([0.0, 3.0], requires_grad=True), mg.tensor([0.0, 4.0], requires_grad=True)
    mg.hypot(a, b).sum().backward()
    np.testing.assert_allclose(a.grad, [0.0, 0.6])
    np.testing.assert_allclose(b.grad, [0.0, 0.8])


@given(x=mst.arrays(mst.shapes(min_dims=1, max_dims=3)), shift=st.integers(-7, 7), reps=st.integers(0, 3))
def test_roll_and_tile_on_any_shape(x, shift, reps):
    np.testing.assert_array_equal(mg.roll(mg.tensor(x), shift, axis=-1).data, np.roll(x, shift, axis=-1))
    np.testing.assert_array_equal(mg.tile(mg.tensor(x), reps).data, np.tile(x, reps))
    assert gradcheck(lambda t: mg.roll(t, shift, axis=0) * mg.tile(t, 1), x)


@pytest.mark.parametrize("offset", [-2, -1, 0, 1, 3, 5])
@pytest.mark.parametrize("axes", [(0, 1), (1, 2), (2, 0), (-1, -2)])
def test_diagonal_and_trace_of_any_plane_and_offset_match_numpy_and_differences(offset, axes):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    d = mg.diagonal(x, offset, *axes)
    assert d.shape == np.diagonal(x, offset, *axes).shape
    np.testing.assert_array_equal(d.data, np.diagonal(x, offset, *axes))
    np.testing.assert_allclose(np.trace(mg.tensor(x), offset, *axes).data, np.trace(x, offset, *axes))
    assert gradcheck(lambda t: mg.trace(t, offset, *axes), x)


def test_diagonal_refuses_one_axis_twice_and_a_vector():
    with pytest.raises(ValueError, match=r"diagonal: axis1 and axis2 must differ, got both 1 \(shape \(2, 3\)\)"):
        mg.diagonal(np.ones((2, 3)), 0, 1, 1)
    with pytest.raises(ValueError, match=r"diagonal: takes an array of at least 2 axes, got shape \(3,\)"):
        mg.diagonal(np.ones(3))


@pytest.mark.parametrize(
    "n, chunks, sizes", [(7, 4, [2, 2, 2, 1]), (5, 4, [2, 2, 1]), (6, 3, [2, 2, 2]), (2, 5, [1, 1])]
)
def test_chunk_cuts_as_torch_chunk_and_each_piece_has_its_gradient(n, chunks, sizes):
    x = np.arange(2.0 * n).reshape(2, n)
    pieces = mg.chunk(mg.tensor(x), chunks, axis=1)
    assert [p.shape[1] for p in pieces] == sizes
    np.testing.assert_array_equal(np.concatenate([p.data for p in pieces], axis=1), x)
    weights = [float(k + 1) for k in range(len(sizes))]
    assert gradcheck(lambda t: sum(w * mg.sin(p).sum() for w, p in zip(weights, t.chunk(chunks, 1))), x)


def test_gather_picks_as_torch_gather_with_a_smaller_index_and_repeats():
    x = np.arange(12.0).reshape(3, 4)
    index = np.array([[0, 0, 2], [1, 0, 0]])  # smaller than x off axis 0; row 0 picked several times
    want = np.array([[x[index[i, j], j] for j in range(3)] for i in range(2)])
    np.testing.assert_array_equal(mg.gather(x, 0, index).data, want)
    np.testing.assert_array_equal(mg.tensor(x).gather(1, np.array([[3], [0], [1]])).data, [[3.0], [4.0], [9.0]])
    assert gradcheck(lambda t: mg.gather(t, 0, index) ** 2, x)
    t = mg.tensor(x, requires_grad=True)
    mg.gather(t, 0, index).sum().backward()
    counts = np.zeros_like(x)
    np.add.at(counts, (index, np.arange(3)[None, :].repeat(2, 0)), 1.0)
    np.testing.assert_array_equal(t.grad, counts)


def test_chunk_and_gather_errors_name_the_operation_and_the_shapes():
    with pytest.raises(ValueError, match=r"chunk: chunks must be a positive integer, got 0"):
        mg.chunk(np.ones(3), 0)
    with pytest.raises(ValueError, match=r"gather: index of shape \(2, 5\) is larger than the input \(3, 4\)"):
        mg.gather(np.ones((3, 4)), 0, np.zeros((2, 5), dtype=int))
    with pytest.raises(IndexError, match=r"gather: index out of range for axis 1 of size 4 \(input shape \(3, 4\)\)"):
        mg.gather(np.ones((3, 4)), 1, np.full((3, 1), 4))
    with pytest.raises(ValueError, match=r"gather: index must be integers of 2 axes, got float64 of shape \(3,\)"):
        mg.gather(np.ones((3, 4)), 1, np.zeros(3))
