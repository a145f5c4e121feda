"""Recurrent layers and cells: gradients against numerical differences, lengths, errors, mg.compile.

PyTorch's values themselves are compared in test_torch_twin_rnn.py; here the gradients are checked with the
testing kit (central differences in float64) through ``functional_call``, so every parameter is an input.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.lstm_scan import lstm_states_of
from minigrad.nn.rnn_functional import gru_step, scan
from minigrad.nn.rnn_scan import gru_scan, gru_states_of
from minigrad.testing import check_function, gradcheck, gradgradcheck

RNG = np.random.default_rng(0)
N_IN, H = 3, 2


def _flat(out):
    """Every tensor of a layer's output, (output, h) or (output, (h, c)), as one tuple."""
    if isinstance(out, tuple):
        return tuple(t for o in out for t in (_flat(o) if isinstance(o, tuple) else (o,)))
    return (out,)


def check_module(module, *args, **kwargs):
    """gradcheck of the module's outputs in its inputs (float arrays in ``args``) and all its parameters."""
    names = [n for n, _ in module.named_parameters()]
    values = [p.data.copy() for _, p in module.named_parameters()]
    n_args = len(args)

    def f(*xs):
        params = dict(zip(names, xs[n_args:]))
        return _flat(nn.functional_call(module, params, *xs[:n_args], **kwargs))

    return gradcheck(f, *args, *values)


CELLS = [
    ("rnn_tanh", lambda: nn.RNNCell(N_IN, H, dtype="float64", rng=1)),
    ("rnn_relu", lambda: nn.RNNCell(N_IN, H, nonlinearity="relu", dtype="float64", rng=1)),
    ("lstm", lambda: nn.LSTMCell(N_IN, H, dtype="float64", rng=1)),
    ("gru", lambda: nn.GRUCell(N_IN, H, dtype="float64", rng=1)),
    ("gru_no_bias", lambda: nn.GRUCell(N_IN, H, bias=False, dtype="float64", rng=1)),
]


@pytest.mark.parametrize("make", [m for _, m in CELLS], ids=[n for n, _ in CELLS])
def test_cell_gradients(make):
    cell = make()
    x, h = RNG.standard_normal((2, N_IN)), RNG.standard_normal((2, H))
    if isinstance(cell, nn.LSTMCell):  # the state is a pair: both parts checked as inputs
        names = [n for n, _ in cell.named_parameters()]

        def f(x, h, c, *ps):
            return nn.functional_call(cell, dict(zip(names, ps)), x, (h, c))

        assert gradcheck(f, x, h, RNG.standard_normal((2, H)), *[p.data for p in cell.parameters()])
    else:
        assert check_module(cell, x, h)


def test_unbatched_cell_is_the_batch_of_one():
    cell = nn.GRUCell(N_IN, H, dtype="float64", rng=2)
    x, h = RNG.standard_normal(N_IN), RNG.standard_normal(H)
    np.testing.assert_allclose(cell(x, h).data, cell(x[None], h[None]).data[0], rtol=1e-14)
    assert cell(x).shape == (H,)


LAYERS = [
    ("rnn", lambda **k: nn.RNN(N_IN, H, dtype="float64", rng=1, **k)),
    ("rnn_relu", lambda **k: nn.RNN(N_IN, H, nonlinearity="relu", dtype="float64", rng=1, **k)),
    ("lstm", lambda **k: nn.LSTM(N_IN, H, dtype="float64", rng=1, **k)),
    ("gru", lambda **k: nn.GRU(N_IN, H, dtype="float64", rng=1, **k)),
]
OPTIONS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"batch_first": True},
    {"bias": False},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "default")
@pytest.mark.parametrize("make", [m for _, m in LAYERS], ids=[n for n, _ in LAYERS])
def test_layer_gradients(make, options):
    layer = make(**options)
    x = RNG.standard_normal((2, 3, N_IN) if options.get("batch_first") else (3, 2, N_IN))
    assert check_module(layer, x)


@pytest.mark.parametrize("make", [m for _, m in LAYERS], ids=[n for n, _ in LAYERS])
def test_layer_gradients_with_lengths_and_initial_state(make):
    layer = make(num_layers=2, bidirectional=True)
    x = RNG.standard_normal((4, 3, N_IN))
    h0 = RNG.standard_normal((4, 3, H))
    hx = (h0, RNG.standard_normal((4, 3, H))) if isinstance(layer, nn.LSTM) else h0
    assert check_module(layer, x, hx, lengths=np.array([2, 4, 1]))


@pytest.mark.parametrize("make", [m for _, m in LAYERS], ids=[n for n, _ in LAYERS])
def test_lengths_are_each_sequence_run_alone(make):
    layer = make(bidirectional=True)
    x = RNG.standard_normal((5, 3, N_IN))
    lengths = np.array([5, 2, 3])
    out, h = layer(x, lengths=lengths)
    h = h[0] if isinstance(layer, nn.LSTM) else h
    for b, n in enumerate(lengths):
        alone, h_alone = layer(x[:n, b : b + 1])
        h_alone = h_alone[0] if isinstance(layer, nn.LSTM) else h_alone
        np.testing.assert_allclose(out.data[:n, b], alone.data[:, 0], rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(out.data[n:, b], 0.0)  # padded steps output zeros
        np.testing.assert_allclose(h.data[:, b], h_alone.data[:, 0], rtol=1e-12, atol=1e-14)


def test_unbatched_layer_is_the_batch_of_one():
    lstm = nn.LSTM(N_IN, H, num_layers=2, dtype="float64", rng=3)
    x = RNG.standard_normal((4, N_IN))
    out, (h, c) = lstm(x)
    out1, (h1, c1) = lstm(x[:, None])
    assert out.shape == (4, H) and h.shape == (2, H) and c.shape == (2, H)
    np.testing.assert_allclose(out.data, out1.data[:, 0], rtol=1e-14)
    np.testing.assert_allclose(c.data, c1.data[:, 0], rtol=1e-14)


def test_parameter_names_shapes_and_init_bound():
    gru = nn.GRU(5, 4, num_layers=2, bidirectional=True, rng=0)
    shapes = {k: v.shape for k, v in gru.state_dict().items()}
    assert shapes["weight_ih_l0"] == (12, 5) and shapes["weight_hh_l0_reverse"] == (12, 4)
    assert shapes["weight_ih_l1"] == (12, 8) and shapes["bias_hh_l1_reverse"] == (12,)
    assert len(shapes) == 16 and all(p.dtype == np.float32 for p in gru.parameters())
    assert max(np.abs(p.data).max() for p in gru.parameters()) <= 0.5  # U(-1/sqrt(H), 1/sqrt(H))
    assert [k for k in nn.LSTMCell(2, 3).state_dict()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def test_dropout_between_layers_only_while_training():
    lstm = nn.LSTM(N_IN, H, num_layers=2, dropout=0.5, dtype="float64", rng=4)
    x = RNG.standard_normal((3, 2, N_IN))
    lstm.eval()
    a, b = lstm(x)[0].data, lstm(x)[0].data
    np.testing.assert_array_equal(a, b)
    lstm.train()
    assert not np.allclose(lstm(x)[0].data, a)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, np.array([3, 1, 2])])
def test_gru_scan_agrees_with_the_composite_loop(reverse, lengths):
    gi, h0 = RNG.standard_normal((3, 3, 3 * H)), RNG.standard_normal((3, H))
    w, bi, bh = RNG.standard_normal((3 * H, H)), RNG.standard_normal(3 * H), RNG.standard_normal(3 * H)
    mask = None if lengths is None else np.arange(3)[:, None] < lengths

    def composite(gi, h0, w, bi, bh):
        return scan(lambda x, h: gru_step(x, h, w, bh), gi + bi, h0, mask, reverse)

    fused = gru_scan(gi, h0, w, bi, bh, mask, reverse)
    for a, c in zip(fused, composite(gi, h0, w, bi, bh)):
        np.testing.assert_allclose(a.data, c.data, rtol=1e-13, atol=1e-15)
    assert gradgradcheck(lambda *ts: gru_scan(*ts, mask, reverse), gi, h0, w, bi, bh)


SCAN_SHAPES = [(4, 2, 3 * H), (2, H), (3 * H, H), (3 * H,), (3 * H,)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gru_scan_primitive_against_numerical_differences(dtype):
    args = [RNG.standard_normal(s).astype(dtype) for s in SCAN_SHAPES]
    mask = np.arange(4)[:, None] < np.array([4, 2])
    assert check_function(lambda *ts: gru_states_of(*ts, mask, True), *args)
    assert check_function(lambda gi, h0, w: gru_states_of(gi, h0, w), *args[:3])  # no biases


def test_gru_scan_forward_mode_matches_differences():
    args = [RNG.standard_normal(s) for s in SCAN_SHAPES]
    tangents = [RNG.standard_normal(a.shape) for a in args]

    def f(*ts):
        return gru_states_of(*ts)

    _, tangent = mg.jvp(f, args, tangents)
    eps = 1e-6
    plus = f(*(a + eps * t for a, t in zip(args, tangents))).data
    minus = f(*(a - eps * t for a, t in zip(args, tangents))).data
    np.testing.assert_allclose(np.asarray(getattr(tangent, "data", tangent)), (plus - minus) / (2 * eps), atol=1e-8)


LSTM_SHAPES = [(3, 2, 4 * H), (2, H), (2, H), (4 * H, H), (4 * H,), (4 * H,)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lstm_scan_primitive_against_numerical_differences(dtype):
    args = [RNG.standard_normal(s).astype(dtype) for s in LSTM_SHAPES]
    mask = np.arange(3)[:, None] < np.array([1, 3])
    assert check_function(lambda *ts: lstm_states_of(*ts, mask, True), *args)
    assert check_function(lambda *ts: lstm_states_of(*ts), *args[:4])  # no biases


def test_lstm_scan_second_derivatives_and_forward_mode():
    args = [RNG.standard_normal(s) for s in LSTM_SHAPES]
    mask = np.arange(3)[:, None] < np.array([2, 3])
    assert gradgradcheck(lambda *ts: lstm_states_of(*ts, mask, False), *args)
    tangents = [RNG.standard_normal(a.shape) for a in args]
    _, tangent = mg.jvp(lambda *ts: lstm_states_of(*ts, mask), args, tangents)
    eps = 1e-6
    plus = lstm_states_of(*(a + eps * t for a, t in zip(args, tangents)), mask).data
    minus = lstm_states_of(*(a - eps * t for a, t in zip(args, tangents)), mask).data
    np.testing.assert_allclose(np.asarray(getattr(tangent, "data", tangent)), (plus - minus) / (2 * eps), atol=1e-8)


@pytest.mark.parametrize("layer", ["GRU", "LSTM"])
def test_compiled_step_replays_eager(layer):
    rnn = getattr(nn, layer)(N_IN, H, num_layers=2, bidirectional=True, dtype="float64", rng=5)
    head = nn.Linear(2 * H, 1, dtype="float64", rng=6)
    params = list(rnn.parameters()) + list(head.parameters())

    def step(x):
        out, h = rnn(x, lengths=np.array([4, 2]))
        h = h[1] if layer == "LSTM" else h
        loss = (head(out) ** 2).sum() + (h * h).sum()
        loss.backward()
        return loss

    compiled = mg.compile(step)
    for _ in range(3):
        x = RNG.standard_normal((4, 2, N_IN))
        for p in params:
            p.grad = None
        got, got_grads = compiled(x).data, [p.grad.copy() for p in params]
        for p in params:
            p.grad = None
        want, want_grads = step(x).data, [p.grad.copy() for p in params]
        np.testing.assert_allclose(got, want, rtol=1e-12)
        for a, b in zip(got_grads, want_grads):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_wrong_input_size_names_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"GRU: input has shape \(3, 2, 4\), expected .*input_size=3"):
        nn.GRU(N_IN, H)(np.zeros((3, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"LSTMCell: input has shape \(2, 5\)"):
        nn.LSTMCell(N_IN, H)(np.zeros((2, 5), np.float32))


def test_initial_state_of_wrong_shape_names_both_shapes():
    with pytest.raises(ValueError, match=r"GRU: h0 has shape \(1, 2, 2\), expected \(2, 2, 2\)"):
        nn.GRU(N_IN, H, num_layers=2)(np.zeros((3, 2, N_IN), np.float32), np.zeros((1, 2, H), np.float32))
    with pytest.raises(ValueError, match=r"LSTM: c0 has shape \(1, 2, 3\), expected \(1, 2, 2\)"):
        nn.LSTM(N_IN, H)(np.zeros((3, 2, N_IN), np.float32), (np.zeros((1, 2, H), np.float32), np.zeros((1, 2, 3))))
    with pytest.raises(ValueError, match=r"GRUCell: hx has shape \(2, 3\), expected \(2, 2\)"):
        nn.GRUCell(N_IN, H)(np.zeros((2, N_IN), np.float32), np.zeros((2, 3), np.float32))


def test_lstm_state_must_be_a_pair():
    x = np.zeros((3, 2, N_IN), np.float32)
    with pytest.raises(TypeError, match=r"LSTM: hx must be a pair \(h0, c0\), got ndarray"):
        nn.LSTM(N_IN, H, num_layers=2)(x, np.zeros((2, 2, H), np.float32))
    with pytest.raises(TypeError, match=r"LSTMCell: hx must be a pair \(h, c\), got ndarray"):
        nn.LSTMCell(N_IN, H)(x[0], np.zeros((2, H), np.float32))


def test_lengths_out_of_range_or_of_wrong_shape():
    rnn = nn.RNN(N_IN, H)
    x = np.zeros((4, 2, N_IN), np.float32)
    with pytest.raises(ValueError, match=r"RNN: lengths must lie in \[1, 4\] .*got 5"):
        rnn(x, lengths=[5, 1])
    with pytest.raises(ValueError, match=r"RNN: lengths must lie in \[1, 4\] .*got 0"):
        rnn(x, lengths=[0, 1])
    with pytest.raises(ValueError, match=r"RNN: lengths must be 2 integers, one per sequence, .*shape \(3,\)"):
        rnn(x, lengths=[1, 2, 3])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="RNN: nonlinearity must be 'tanh' or 'relu', got 'gelu'"):
        nn.RNN(N_IN, H, nonlinearity="gelu")
    with pytest.raises(ValueError, match="GRU: hidden_size must be a positive integer, got 0"):
        nn.GRU(N_IN, 0)
    with pytest.raises(ValueError, match=r"LSTM: dropout must be in \[0, 1\), got 1.5"):
        nn.LSTM(N_IN, H, dropout=1.5)


def test_the_docs_example_runs():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "networks.md").read_text(encoding="utf-8")
    code = page.split("## Recurrent networks", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/networks.md", "exec"), namespace)
    assert namespace["out"].shape == (3, 5, 32) and namespace["h_n"].shape == (4, 3, 16)
    np.testing.assert_array_equal(namespace["out"].data[1, 2:], 0.0)  # past the second sequence's length
