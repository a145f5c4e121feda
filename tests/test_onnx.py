"""mg.onnx.export: every exported graph passes onnx.checker and ONNX Runtime computes minigrad's forward.

Tolerances: float32 to 1e-5, float64 to 1e-10 (relative and absolute). Each model is exported at one batch size
and, where its batch axis is dynamic, run at another. Skipped without the ``onnx`` and ``onnxruntime`` packages.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz import BINARY, UNARY, Softplus, programs, values_of
from test_fuzz import _ops as fuzz_ops

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.registry import PRIMITIVES

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx.reference import ReferenceEvaluator  # noqa: E402
from onnx.reference.ops._op import OpRunUnaryNum  # noqa: E402

TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
rng = np.random.default_rng(0)


def normal(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [t for part in out for t in _flat(part)]
    return [out]


def forward(fn, inputs):
    if isinstance(fn, nn.Module):
        fn.eval()
    inputs = [mg.tensor(x) if np.asarray(x).dtype.kind == "f" else x for x in inputs]
    with mg.no_grad():
        return [np.asarray(t.data) for t in _flat(fn(*inputs))]


def run_onnx(proto, names, inputs):
    """ONNX Runtime's outputs; where its CPU provider has no float64 kernel (Conv, Erf, Acos, GRU, LSTM... in
    version 1.32), onnx's own reference evaluator's, which computes in the graph's dtypes with NumPy."""
    feeds = dict(zip(names, inputs))
    try:
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, feeds)
    except Exception as e:  # (ONNX Runtime's exceptions derive from Exception only)
        if "does not support double" not in str(e) and "Could not find an implementation" not in str(e):
            raise
    return ReferenceEvaluator(proto, new_ops=[Erf]).run(None, feeds)


class Erf(OpRunUnaryNum):
    """The reference evaluator's Erf computes in float32 whatever the input; this one in the input's dtype."""

    def _run(self, x):
        return (np.vectorize(math.erf, otypes=[x.dtype])(x),)


def assert_same(got, expected, tol=None):
    """Equal shapes and dtypes, values within the tolerance of their dtype (or ``tol``)."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, g.dtype, e.shape, e.dtype)
        limit = TOL.get(e.dtype, 0) if tol is None else tol
        np.testing.assert_allclose(g, e, rtol=limit, atol=limit)


def check(fn, inputs, other=None, batch_axis=0, tol=None):
    """Export fn at ``inputs``; compare ONNX Runtime with minigrad there and (batch axis dynamic) at ``other``."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    names = [f"x{i}" for i in range(len(inputs))]
    dynamic = {name: {batch_axis: "batch"} for name in names} if other is not None else None
    proto = mg.onnx.export(fn, inputs, None, input_names=names, dynamic_axes=dynamic)
    onnx.checker.check_model(proto, full_check=True)
    assert_same(run_onnx(proto, names, inputs), forward(fn, inputs), tol)
    if other is not None:
        other = other if isinstance(other, tuple) else (other,)
        assert_same(run_onnx(proto, names, other), forward(fn, other), tol)
    return proto


# -- the models of models/ -------------------------------------------------------------------------------------
def test_the_window_scorer():
    from models.window_scorer import WindowScorer

    model = WindowScorer(50, dim=8, hidden=16, rng=0)
    proto = check(model, rng.integers(0, 50, (4, 5)), rng.integers(0, 50, (9, 5)))
    assert {i.name for i in proto.graph.initializer} >= {"embed.weight", "hidden.weight", "hidden.bias", "u"}


@pytest.mark.parametrize("crf", [False, True])
def test_the_ner_tagger(crf):
    from models.tagger import TaggerConfig, WindowTagger

    config = TaggerConfig(word_dim=8, hidden=12, crf=crf)
    model = WindowTagger(40, 30, 5, config, labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    windows = lambda n: np.stack([rng.integers(0, k, (n, 5)) for k in (40, 5, 30)], axis=-1)
    check(model, windows(6), windows(11))


def test_the_digits_cnn():
    from models.digits_cnn import digits_cnn

    check(digits_cnn(), normal(3, 1, 8, 8), normal(5, 1, 8, 8))


def test_the_sort_transformer():
    from models.sort_transformer import SortTransformer

    model = SortTransformer(6, d_model=16, nhead=2, layers=2, dim_feedforward=24, rng=0)
    check(model, rng.integers(0, 10, (3, 6)), rng.integers(0, 10, (7, 6)))


def test_the_character_language_model():
    from models.char_lm import CharLM

    model = CharLM(20, embed=6, hidden=10, rng=0)
    check(model, rng.integers(0, 20, (7, 3)), rng.integers(0, 20, (7, 5)), batch_axis=1)


# -- every nn layer ----------------------------------------------------------------------------------------
ACTIVATIONS = [nn.ELU(0.7), nn.GELU(), nn.GELU("tanh"), nn.LeakyReLU(0.2), nn.LogSoftmax(-1), nn.SiLU(),
               nn.Softmax(1), nn.Softplus(2.0, 3.0), nn.ReLU(), nn.Sigmoid(), nn.Tanh(), nn.Identity(),
               nn.Dropout(0.5), nn.Flatten()]  # fmt: skip


@pytest.mark.parametrize("layer", ACTIVATIONS, ids=lambda m: repr(m))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations(layer, dtype):
    check(layer, normal(4, 6, 3, dtype=dtype) * 3, normal(2, 6, 3, dtype=dtype))


LAYERS = {
    "linear": (lambda d: nn.Linear(6, 4, dtype=d, rng=0), (5, 6)),
    "linear_3d": (lambda d: nn.Linear(6, 4, bias=False, dtype=d, rng=0), (2, 3, 6)),
    "conv1d": (lambda d: nn.Conv1d(3, 4, 3, stride=2, padding=1, dtype=d, rng=0), (2, 3, 9)),
    "conv2d": (lambda d: nn.Conv2d(4, 6, (3, 2), padding="same", dilation=2, groups=2, dtype=d, rng=0), (2, 4, 7, 6)),
    "max_pool1d": (lambda d: nn.MaxPool1d(3, 2, padding=1), (2, 3, 9)),
    "max_pool2d": (lambda d: nn.MaxPool2d(2), (2, 3, 6, 6)),
    "avg_pool1d": (lambda d: nn.AvgPool1d(3, 2, padding=1), (2, 3, 9)),
    "avg_pool2d": (lambda d: nn.AvgPool2d(2, count_include_pad=False, padding=1), (2, 3, 5, 5)),
    "adaptive_avg_pool2d": (lambda d: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 5, 7)),
    "layer_norm": (lambda d: nn.LayerNorm(6, dtype=d), (2, 3, 6)),
    "layer_norm_2d": (lambda d: nn.LayerNorm((3, 6), elementwise_affine=False, dtype=d), (2, 3, 6)),
    "batch_norm1d": (lambda d: nn.BatchNorm1d(3, dtype=d), (4, 3, 5)),
    "batch_norm2d": (lambda d: nn.BatchNorm2d(3, dtype=d), (4, 3, 2, 2)),
    "rnn": (lambda d: nn.RNN(3, 5, num_layers=2, nonlinearity="relu", dtype=d, rng=0), (4, 2, 3)),
    "gru": (lambda d: nn.GRU(3, 5, batch_first=True, dtype=d, rng=0), (2, 4, 3)),
    "gru_bidirectional": (lambda d: nn.GRU(3, 5, num_layers=2, bidirectional=True, dtype=d, rng=0), (4, 2, 3)),
    "lstm": (lambda d: nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True, dtype=d, rng=0), (2, 4, 3)),
    "rnn_cell": (lambda d: nn.RNNCell(3, 5, dtype=d, rng=0), (2, 3)),
    "gru_cell": (lambda d: nn.GRUCell(3, 5, dtype=d, rng=0), (2, 3)),
    "lstm_cell": (lambda d: nn.LSTMCell(3, 5, dtype=d, rng=0), (2, 3)),
    "attention": (lambda d: nn.MultiheadAttention(8, 2, batch_first=True, dtype=d, rng=0), (2, 5, 8)),
    "encoder_layer": (
        lambda d: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True, dtype=d, rng=0),
        (2, 5, 8),
    ),
    "encoder_pre_norm_gelu": (
        lambda d: nn.TransformerEncoderLayer(8, 2, 16, activation="gelu", norm_first=True, dtype=d, rng=0),
        (5, 2, 8),
    ),
    "encoder": (
        lambda d: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dtype=d, rng=0), 2),
        (2, 5, 8),
    ),
}


def _batch_norm_statistics(layer):
    """Running statistics away from 0 and 1, so that eval mode's use of them is tested."""
    if isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d):
        layer.running_mean[...] = rng.standard_normal(layer.running_mean.shape)
        layer.running_var[...] = rng.uniform(0.5, 2, layer.running_var.shape)


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers(name, dtype):
    make, shape = LAYERS[name]
    layer = make(dtype)
    _batch_norm_statistics(layer)
    batch_axis = 1 if name in ("rnn", "gru_bidirectional", "encoder_pre_norm_gelu") else 0
    other = list(shape)
    other[batch_axis] += 2
    x = normal(*shape, dtype=dtype)
    fn = (lambda x: layer(x, x, x)) if name == "attention" else layer
    if name == "attention":
        fn = nn.Module()
        fn.attention = layer
        fn.forward = lambda x: layer(x, x, x)
    check(fn, x, normal(*other, dtype=dtype), batch_axis)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_recurrent_layers_with_lengths(kind, dtype):
    # padded sequences: the scans written step by step (lengths are constants of the graph)
    layer = (nn.GRU if kind == "gru" else nn.LSTM)(3, 4, num_layers=2, bidirectional=True, dtype=dtype, rng=0)
    module = nn.Module()
    module.layer = layer
    module.forward = lambda x: layer(x, lengths=[4, 2, 3])
    check(module, normal(4, 3, 3, dtype=dtype))


def test_embedding_and_integer_inputs():
    table = nn.Embedding(10, 4, rng=0)
    check(table, rng.integers(0, 10, (3, 2)), rng.integers(0, 10, (5, 2)))


def test_losses():
    z, p, y = normal(4, 3), 1 / (1 + np.exp(-normal(4, 3))), normal(4, 3)
    labels = np.array([0, 2, 1, 2])
    for loss in (nn.MSELoss(), nn.L1Loss(reduction="sum"), nn.HuberLoss(delta=0.5), nn.SmoothL1Loss(beta=0.3),
                 nn.BCELoss(), nn.BCEWithLogitsLoss(pos_weight=np.array([1.0, 2.0, 0.5], np.float32))):  # fmt: skip
        check(loss, (p if isinstance(loss, nn.BCELoss) else z, y if not isinstance(loss, nn.BCELoss) else p))
    check(lambda z: nn.CrossEntropyLoss(reduction="sum")(z, labels), z)
    check(lambda z: nn.CrossEntropyLoss(weight=np.array([1.0, 2.0, 0.5], np.float32))(z, labels), z)
    check(lambda z: nn.NLLLoss(reduction="none")(mg.log_softmax(z, axis=-1), labels), z)
    check(lambda z: nn.KLDivLoss(reduction="batchmean")(mg.log_softmax(z, axis=-1), p / p.sum(1, keepdims=True)), z)
    check(lambda a, b: nn.MarginRankingLoss(0.3)(a, b, np.array([1, -1, 1, 1])), (z[:, 0], y[:, 0]))


# -- random programs over every primitive ----------------------------------------------------------------------
EXPORTED = UNARY  # (test_fuzz's FUZZ_UNARY adds a custom mg.Function, which is not exportable: tested below)


def outputs_of(steps):
    return lambda *xs: tuple(values_of(steps, *xs))


@settings(max_examples=2 * settings.default.max_examples, deadline=None)
@given(program=programs(EXPORTED), dtype=st.sampled_from([np.float32, np.float64]))
def test_random_programs(program, dtype):
    # (the table's constants are float64: a float32 program may give float64 values, as exact as its float32 part)
    inputs, steps = program
    check(outputs_of(steps), tuple(x.astype(dtype) for x in inputs), tol=TOL[np.dtype(dtype)])


def _ops(outputs):
    return set().union(*(fuzz_ops(o) for o in outputs))


def test_the_programs_and_the_gradients_below_reach_every_exportable_primitive():
    x = mg.tensor(np.array([[0.3, -1.2, 0.7], [1.1, 0.2, -0.4]]), requires_grad=True)
    y = mg.tensor(np.array([0.5, -0.9, 1.3]), requires_grad=True)
    # exported by test_gradients_export, test_layers and test_sign
    reached = {"scatter_add", "conv_input", "conv_weight", "sign"}
    for name in EXPORTED:
        reached |= _ops(values_of([("u", name, 0)], x, y))
    for name in BINARY:
        reached |= _ops(values_of([("b", name, 0, 1)], x, y))
    assert set(PRIMITIVES) - reached == NOT_EXPORTABLE | TRACED_THROUGH


NOT_EXPORTABLE = {"function"}
TRACED_THROUGH = {"checkpoint"}  # a trace holds the primitives of its function instead (test_checkpoint_exports)


def test_every_primitive_declares_its_lowering_and_only_custom_functions_refuse():
    assert all(p.onnx is not None for p in PRIMITIVES.values())
    assert {k for k, p in PRIMITIVES.items() if hasattr(p.onnx, "reason")} == NOT_EXPORTABLE


def test_gradients_export():
    # the recorded backward pass is a graph like any other: the rules' primitives scatter_add and conv_input
    x, w = normal(2, 3, 7, dtype=np.float64), normal(4, 3, 3, dtype=np.float64)
    check(mg.grad(lambda x: (F.conv1d(x, w, stride=2, padding=1) ** 2).sum()), x)
    # conv_weight too, batch dynamic (float32: onnx's reference evaluator has no grouped ConvTranspose)
    for kw in (dict(stride=2, padding=1), dict(dilation=2, padding=2, groups=3)):
        x, w = normal(2, 3, 7), normal(6, 1 if "groups" in kw else 3, 3)
        grads = mg.grad(lambda x, w, kw=kw: (F.conv1d(x, w, **kw) ** 2).sum(), argnums=(0, 1))
        check(grads, (x, w), (normal(5, 3, 7), w))
    x = normal(2, 3, 7, dtype=np.float64)
    check(mg.grad(lambda x: (x[np.array([0, 1, 0])] ** 3).sum()), x)
    check(mg.grad(lambda x: F.embedding(np.array([[2, 0], [2, 2]]), x).sum()), x[0])


def test_sign():
    check(lambda x: mg.sign(x) * x, np.array([-1.5, 0.0, 2.0, -0.0], np.float32))


def test_a_primitive_without_a_lowering_is_an_error_naming_it(monkeypatch):
    monkeypatch.setattr(PRIMITIVES["tanh"], "onnx", None)
    with pytest.raises(mg.onnx.ExportError, match="primitive 'tanh' has no ONNX lowering"):
        mg.onnx.export(mg.tanh, normal(3), None)


def test_what_is_refused_is_named():
    x = normal(2, 3, 7)
    with pytest.raises(mg.onnx.ExportError, match="function: not exportable.*custom mg.Function"):
        mg.onnx.export(Softplus.apply, x, None)
    with pytest.raises(mg.onnx.ExportError, match="an if or while on a comparison of tensors"):
        mg.onnx.export(lambda x: x if x.sum() > 0 else -x, x, None)
    with pytest.raises(mg.onnx.ExportError, match=r"bool\(tensor\)"):
        mg.onnx.export(lambda x: x if x.sum() else -x, x, None)
    with pytest.raises(mg.onnx.ExportError, match="dropout in training mode"):
        mg.onnx.export(lambda x: F.dropout(x, 0.5, training=True, rng=0), x, None)
    with pytest.raises(mg.onnx.ExportError, match="only basic indexing and one integer array"):
        mg.onnx.export(lambda x: x[np.asarray(x.data) > 0], x, None)
    with pytest.raises(ValueError, match="2 input_names for 1 example inputs"):
        mg.onnx.export(mg.tanh, x, None, input_names=["a", "b"])
    with pytest.raises(ValueError, match="axis 3 of 'x'"):
        mg.onnx.export(mg.tanh, x, None, input_names=["x"], dynamic_axes={"x": {3: "n"}})


def test_a_constant_that_depends_on_the_batch_size_is_refused_with_a_dynamic_axis():
    def fn(x):
        return x + np.arange(x.shape[0], dtype=x.dtype)[:, None]  # positions baked in at the traced size

    proto = mg.onnx.export(fn, normal(3, 2), None)  # fine at a fixed size
    assert_same(
        run_onnx(proto, ["input_0"], [np.ones((3, 2), np.float32)]), [np.array([[1, 1], [2, 2], [3, 3]], np.float32)]
    )
    with pytest.raises(mg.onnx.ExportError, match=r"a constant of shape \(3, 1\) \(used by Add\) depends on"):
        mg.onnx.export(fn, normal(3, 2), None, input_names=["x"], dynamic_axes={"x": {0: "batch"}})


def test_the_file_written_and_its_names(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh())
    path = tmp_path / "model.onnx"
    mg.onnx.export(model, normal(2, 3), path, input_names=["x"], output_names=["y"], dynamic_axes={"x": [0]})
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    assert [i.name for i in loaded.graph.input] == ["x"] and [o.name for o in loaded.graph.output] == ["y"]
    assert loaded.opset_import[0].version == mg.onnx.OPSET
    x = normal(6, 3)
    assert_same(run_onnx(loaded, ["x"], [x]), forward(model, (x,)))


def test_checkpoint_exports_as_the_primitives_of_its_function():
    assert {k for k, p in PRIMITIVES.items() if hasattr(p.onnx, "traced_through")} == TRACED_THROUGH
    model = nn.Sequential(*(m for _ in range(3) for m in (nn.Linear(6, 6, rng=0), nn.Tanh())))
    check(lambda x: nn.utils.checkpoint_sequential(model, 2, x), normal(4, 6))
    check(lambda x: mg.checkpoint(lambda t: mg.sin(t) * t, x) + 1.0, normal(3, 5, dtype=np.float64))
