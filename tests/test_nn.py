"""minigrad.nn: modules, layers, initialisers and the losses, against numerical derivatives and formulas."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.testing import gradcheck


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 3, dtype=np.float64, rng=0)
        self.u = nn.Parameter(np.ones(3))
        self.register_buffer("counts", np.zeros(2))

    def forward(self, x):
        return mg.tanh(self.hidden(x)) @ self.u


def test_module_registers_parameters_modules_and_buffers():
    m = Scorer()
    assert [n for n, _ in m.named_parameters()] == ["u", "hidden.weight", "hidden.bias"]
    assert set(m.state_dict()) == {"u", "hidden.weight", "hidden.bias", "counts"}
    m.hidden = nn.Identity()  # replacing an attribute drops the old registration
    assert [n for n, _ in m.named_parameters()] == ["u"]


def test_shared_parameter_listed_once_and_train_eval_recurse():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.Tanh(), lin, nn.Dropout(0.5))
    assert len(list(seq.parameters())) == 2
    seq.eval()
    assert not any(m.training for m in seq.modules())
    x = np.ones((3, 2), dtype=np.float32)
    np.testing.assert_array_equal(seq(x).data, seq(x).data)  # dropout is off in eval mode


def test_state_dict_round_trip_in_place_and_errors():
    a, b = Scorer(), Scorer()
    for p in a.parameters():
        p.data[...] = np.random.default_rng(1).standard_normal(p.data.shape)
    weight = b.hidden.weight
    b.load_state_dict(a.state_dict())
    assert b.hidden.weight is weight  # in place: an optimizer's references stay valid
    np.testing.assert_array_equal(b.hidden.weight.data, a.hidden.weight.data)
    with pytest.raises(KeyError, match="missing keys"):
        b.load_state_dict({"u": np.ones(3)})
    with pytest.raises(ValueError, match=r"'u' has shape \(4,\)"):
        b.load_state_dict({**a.state_dict(), "u": np.ones(4)})


def test_zero_grad_clears():
    m = Scorer()
    m(np.ones(4)).backward()
    assert m.u.grad is not None
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_module_gradients_match_numerical():
    m = Scorer()
    x = np.random.default_rng(0).standard_normal((5, 4))
    names = [n for n, _ in m.named_parameters()]

    def f(*params):
        return nn.functional_call(m, dict(zip(names, params)), x).sum()

    assert gradcheck(f, *[p.data for p in m.parameters()])


def test_linear_checks_shapes():
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 5\).*weight of shape \(3, 4\)"):
        nn.Linear(4, 3)(np.ones((2, 5), np.float32))


def test_xavier_uniform_bound_and_variance():
    w = nn.init.xavier_uniform_(mg.zeros(300, 200), rng=0)
    a = np.sqrt(6 / 500)
    assert np.abs(w.data).max() <= a
    assert abs(w.data.var() - a**2 / 3) < 0.05 * a**2 / 3
    w = nn.init.kaiming_normal_(mg.zeros(300, 200), rng=0)
    assert abs(w.data.std() - np.sqrt(2 / 200)) < 0.02 * np.sqrt(2 / 200)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_normal_(mg.zeros(3))


def _ce_reference(z, t, w=None, ignore=-100):
    """Cross-entropy written independently: −log(e^{z_t} / Σ e^{z}) weighted, float64 with log-sum-exp by hand."""
    z = z.astype(np.float64)
    out, total = 0.0, 0.0
    for row, k in zip(z, t):
        if k == ignore:
            continue
        m = row.max()
        lp = row[k] - m - np.log(np.exp(row - m).sum())
        wk = 1.0 if w is None else w[k]
        out -= wk * lp
        total += wk
    return out / total


def test_cross_entropy_value_weights_ignore_and_gradient():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4))
    t = np.array([0, 3, 1, 1, -100, 2])
    w = np.array([1.0, 2.0, 0.5, 3.0])
    assert np.isclose(F.cross_entropy(z, t, ignore_index=-100).item(), _ce_reference(z, t))
    assert np.isclose(F.cross_entropy(z, t, weight=w).item(), _ce_reference(z, t, w))
    assert gradcheck(lambda x: F.cross_entropy(x, t, weight=w), z)
    assert gradcheck(lambda x: F.cross_entropy(x, t, reduction="none"), z)
    # ∂ℓ/∂z = (softmax(z) − onehot(y)) / N for the mean without weights
    t2 = np.array([0, 3, 1, 1, 0, 2])
    x = mg.tensor(z, requires_grad=True)
    F.cross_entropy(x, t2).backward()
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(x.grad, (p - np.eye(4)[t2]) / 6, atol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    x = mg.tensor(np.array([[1e4, 0.0, -1e4]], dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(x, np.array([1]))
    loss.backward()
    assert np.isclose(loss.item(), 1e4)
    np.testing.assert_allclose(x.grad, [[1.0, -1.0, 0.0]], atol=1e-6)
    assert x.grad.dtype == np.float32


def test_cross_entropy_errors():
    with pytest.raises(ValueError, match=r"targets of shape \(2,\), got \(3,\)"):
        F.cross_entropy(np.ones((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(IndexError, match="target 3 is out of range for 3 classes"):
        F.cross_entropy(np.ones((2, 3)), np.array([0, 3]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(np.ones((2, 3)), np.array([0.0, 1.0]))


def test_margin_ranking_loss_is_the_hinge():
    s, sc = np.array([2.0, 0.3, -1.0]), np.array([0.5, 0.2, 1.0])
    expected = np.maximum(0, 1 - s + sc).mean()
    assert np.isclose(F.margin_ranking_loss(s, sc, 1, margin=1).item(), expected)
    assert gradcheck(lambda a, b: F.margin_ranking_loss(a, b, np.array([1, -1, 1]), margin=1), s, sc)
    with pytest.raises(ValueError, match="1 or -1"):
        F.margin_ranking_loss(s, sc, 0)


def test_softmax_log_softmax_agree_with_formula():
    z = np.random.default_rng(3).standard_normal((3, 5))
    np.testing.assert_allclose(F.softmax(z).data, np.exp(z) / np.exp(z).sum(-1, keepdims=True))
    assert gradcheck(lambda x: F.log_softmax(x), z)


def test_dropout_scales_and_masks():
    x = np.ones((1000,), dtype=np.float32)
    y = F.dropout(x, 0.25, rng=0).data
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.05
    np.testing.assert_array_equal(F.dropout(x, 0.25, training=False).data, x)


def test_embedding_lookup_gradient_adds_up_at_repeats():
    emb = nn.Embedding(5, 3, dtype=np.float64, rng=0)
    idx = np.array([[1, 4], [1, 0]])
    out = emb(idx)
    np.testing.assert_array_equal(out.data, emb.weight.data[idx])
    assert gradcheck(lambda w: F.embedding(idx, w) ** 2, emb.weight.data)
    with pytest.raises(IndexError, match="index 5 is out of range for a table of 5 rows"):
        emb(np.array([5]))
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([0.5]))


def test_embedding_second_derivative_goes_through_the_scatter():
    from minigrad.engine import backward_pass

    w = mg.tensor(np.random.default_rng(0).standard_normal((5, 3)), requires_grad=True)
    idx = np.array([1, 1, 4])
    out = (F.embedding(idx, w) ** 3).sum()
    grad = backward_pass(out, mg.tensor(np.ones(())), True, True, [w])[w]  # 3 w² at each lookup, recorded
    grad.sum().backward()
    expected = np.zeros((5, 3))
    np.add.at(expected, idx, 6 * w.data[idx])  # d/dw Σ 3w² = 6w, once per lookup
    np.testing.assert_allclose(w.grad, expected)


def test_parameter_is_a_tensor_subclass_that_modules_register():
    p = nn.Parameter(np.arange(3))
    assert isinstance(p, nn.Parameter) and isinstance(p, mg.Tensor)
    assert p.requires_grad and p.dtype == np.float32 and p.is_leaf
    layer = nn.Linear(3, 2)
    assert all(isinstance(q, nn.Parameter) for q in layer.parameters())
    loss = (layer(mg.tensor(np.ones((4, 3), np.float32))) * p[:2] + p.sum()).sum()
    loss.backward()
    # d/dp: the 4 rows of layer(x) for p[:2], and 8 = the number of elements p.sum() was added to
    rows = 4 * (layer.weight.data.sum(axis=1) + layer.bias.data)
    np.testing.assert_allclose(p.grad, [rows[0] + 8, rows[1] + 8, 8], rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("classes", [5, 40])
def test_cross_entropy_of_many_rows(classes, dtype):
    # from 64 rows a few columns take the column-wise maximum and the BLAS row sums: against the reference
    # loop and the formula ∂ℓ/∂z = w_y (softmax(z) − onehot(y)) / Σ w
    rng = np.random.default_rng(classes)
    z = (3 * rng.standard_normal((2, 100, classes))).astype(dtype)
    t = rng.integers(0, classes, (2, 100))
    t[0, :7] = -100
    w = rng.uniform(0.5, 2.0, classes)
    x = mg.tensor(z, requires_grad=True)
    loss = F.cross_entropy(x, t, weight=w)
    loss.backward()
    flat_z, flat_t = z.reshape(-1, classes).astype(np.float64), t.ravel()
    assert np.isclose(loss.item(), _ce_reference(flat_z, flat_t, w), rtol=1e-5 if dtype == np.float32 else 1e-12)
    p = np.exp(flat_z - flat_z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    counted = flat_t != -100
    wy = np.where(counted, w[np.where(counted, flat_t, 0)], 0.0)
    expected = wy[:, None] * (p - np.eye(classes)[np.where(counted, flat_t, 0)]) / wy.sum()
    np.testing.assert_allclose(x.grad.reshape(-1, classes), expected, atol=1e-6 if dtype == np.float32 else 1e-14)
    assert x.grad.dtype == dtype and loss.data.dtype == dtype


def test_cross_entropy_of_constants_records_nothing():
    loss = F.cross_entropy(np.array([[1, 2, 3]]), np.array([2]))  # integer logits: a float loss, no graph
    assert not loss.requires_grad and loss.data.dtype == np.float64
    assert np.isclose(loss.item(), np.log(np.exp([1, 2, 3]).sum()) - 3)
    z = mg.tensor(np.ones((2, 3)), requires_grad=True)
    with mg.no_grad():
        assert not F.cross_entropy(z, np.array([0, 1])).requires_grad


def test_a_layer_refuses_a_floating_input_of_another_dtype_naming_both():
    layer = nn.Linear(4, 3, rng=0)  # float32, the default
    with pytest.raises(TypeError, match=r"Linear: input 0 is float64 \(shape \(2, 4\)\).*parameters are float32"):
        layer(np.ones((2, 4)))
    with pytest.raises(TypeError, match=r"Linear: input 0 is float16"):
        layer(mg.tensor(np.ones((2, 4), np.float16)))
    assert layer(np.ones((2, 4), np.float32)).dtype == np.float32  # same dtype: fine
    assert layer(mg.tensor([[1.0, 2.0, 3.0, 4.0]])).dtype == np.float32  # Python floats: the default dtype
    wide = nn.Linear(4, 3, dtype=np.float64, rng=0)
    assert wide(np.ones((2, 4))).dtype == np.float64
    # integer inputs are indices, not data: an Embedding takes them whatever its dtype
    assert nn.Embedding(5, 2, rng=0)(np.array([0, 4])).dtype == np.float32


@pytest.mark.parametrize(
    "layer, x, name",
    [
        (nn.Linear(4, 3, rng=0), np.ones((2, 4), dtype=np.int64), "linear"),
        (nn.Conv2d(1, 2, 3, rng=0), np.ones((1, 1, 5, 5), dtype=np.int64), "conv2d"),
        (nn.Conv1d(1, 2, 3, rng=0), np.ones((1, 1, 5), dtype=bool), "conv1d"),
        (nn.GRU(4, 3, rng=0), np.ones((2, 1, 4), dtype=np.int32), "GRU"),
        (nn.LSTMCell(4, 3, rng=0), np.ones((2, 4), dtype=np.uint8), "LSTMCell"),
    ],
)
def test_an_integer_input_to_a_layer_is_refused_not_computed_in_float64(layer, x, name):
    # NumPy would multiply int64 by float32 in float64 and promote the rest of the model; PyTorch refuses
    with pytest.raises(TypeError, match=rf"{name}: input is {x.dtype} \(shape {re.escape(str(x.shape))}\).*float32"):
        layer(x)
    assert layer(x.astype(np.float32)) is not None  # cast, it runs
