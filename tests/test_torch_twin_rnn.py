"""Recurrent layers and cells against PyTorch's twins in float64: outputs, final states, every gradient.

The twin loads minigrad's weights through the state_dict. Lengths are compared with what PyTorch gives for
``pack_padded_sequence(..., enforce_sorted=False)``, unpacked with zeros at the padded steps.
Skipped without torch.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

RNG = np.random.default_rng(0)
N_IN, H = 4, 5


def twin_of(module, torch_cls, *args, **kwargs):
    twin = torch_cls(*args, **kwargs).double()
    twin.load_state_dict({k: torch.from_numpy(np.array(v.data)) for k, v in module.state_dict().items()})
    return twin


def _flat(out):
    if isinstance(out, tuple):
        return [t for o in out for t in (_flat(o) if isinstance(o, tuple) else [o])]
    return [out]


def assert_close(a, b):
    a, b = np.asarray(a), b.detach().numpy()
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def compare(module, twin, x, state=None, run_twin=None, **kwargs):
    """Same outputs, and the same gradients of a random weighting of all of them, in input, state, parameters."""
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    states = [] if state is None else (list(state) if isinstance(state, tuple) else [state])
    sm, st = [mg.tensor(s, requires_grad=True) for s in states], [torch.tensor(s, requires_grad=True) for s in states]
    wrap = (lambda s: tuple(s) if len(s) > 1 else s[0]) if states else (lambda s: None)
    out_m = _flat(module(xm, wrap(sm), **kwargs) if states else module(xm, **kwargs))
    out_t = _flat(run_twin(xt, wrap(st)) if run_twin else (twin(xt, wrap(st)) if states else twin(xt)))
    assert len(out_m) == len(out_t)
    weights = [RNG.standard_normal(o.shape) for o in out_m]
    sum((o * w).sum() for o, w in zip(out_m, weights)).backward()
    sum((o * torch.from_numpy(w)).sum() for o, w in zip(out_t, weights)).backward()
    for a, b in zip(out_m, out_t):
        assert_close(a.data, b)
    for a, b in zip([xm, *sm], [xt, *st]):
        assert_close(a.grad, b.grad)
    names = [n for n, _ in module.named_parameters()]
    assert names == [n for n, _ in twin.named_parameters()]
    for p, q in zip(module.parameters(), twin.parameters()):
        assert_close(p.grad, q.grad)


CELLS = [
    (lambda: nn.RNNCell(N_IN, H, dtype="float64", rng=1), lambda: torch.nn.RNNCell(N_IN, H)),
    (lambda: nn.RNNCell(N_IN, H, nonlinearity="relu", dtype="float64", rng=1),
     lambda: torch.nn.RNNCell(N_IN, H, nonlinearity="relu")),
    (lambda: nn.LSTMCell(N_IN, H, dtype="float64", rng=1), lambda: torch.nn.LSTMCell(N_IN, H)),
    (lambda: nn.GRUCell(N_IN, H, dtype="float64", rng=1), lambda: torch.nn.GRUCell(N_IN, H)),
    (lambda: nn.GRUCell(N_IN, H, bias=False, dtype="float64", rng=1), lambda: torch.nn.GRUCell(N_IN, H, bias=False)),
]  # fmt: skip


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("k", range(len(CELLS)))
def test_cell_matches_torch(k, batched):
    make, make_twin = CELLS[k]
    cell = make()
    twin = make_twin().double()
    twin.load_state_dict({n: torch.from_numpy(np.array(v.data)) for n, v in cell.state_dict().items()})
    shape = (3,) if batched else ()
    x, h = RNG.standard_normal(shape + (N_IN,)), RNG.standard_normal(shape + (H,))
    state = (h, RNG.standard_normal(h.shape)) if isinstance(cell, nn.LSTMCell) else h
    compare(cell, twin, x, state)


LAYERS = {"RNN": (nn.RNN, torch.nn.RNN), "LSTM": (nn.LSTM, torch.nn.LSTM), "GRU": (nn.GRU, torch.nn.GRU)}
OPTIONS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True, "batch_first": True},
    {"bias": False},
    {"nonlinearity": "relu"},
]


def _layers(options):
    return [k for k in LAYERS if "nonlinearity" not in options or k == "RNN"]


@pytest.mark.parametrize(
    "name, options", [(k, o) for o in OPTIONS for k in _layers(o)], ids=lambda v: v if isinstance(v, str) else None
)
def test_layer_matches_torch(name, options):
    ours, theirs = LAYERS[name]
    layer = ours(N_IN, H, dtype="float64", rng=2, **options)
    twin = twin_of(layer, theirs, N_IN, H, **options)
    x = RNG.standard_normal((2, 6, N_IN) if options.get("batch_first") else (6, 2, N_IN))
    compare(layer, twin, x)


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_with_initial_state_and_unbatched_input_matches_torch(name):
    ours, theirs = LAYERS[name]
    layer = ours(N_IN, H, num_layers=2, bidirectional=True, dtype="float64", rng=3)
    twin = twin_of(layer, theirs, N_IN, H, num_layers=2, bidirectional=True)
    for shape in [(6, 3, N_IN), (6, N_IN)]:
        x = RNG.standard_normal(shape)
        h0 = RNG.standard_normal((4, 3, H) if len(shape) == 3 else (4, H))
        compare(layer, twin, x, (h0, RNG.standard_normal(h0.shape)) if name == "LSTM" else h0)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("name", list(LAYERS))
def test_lengths_match_packed_sequences(name, batch_first):
    ours, theirs = LAYERS[name]
    options = {"num_layers": 2, "bidirectional": True, "batch_first": batch_first}
    layer = ours(N_IN, H, dtype="float64", rng=4, **options)
    twin = twin_of(layer, theirs, N_IN, H, **options)
    lengths = np.array([3, 6, 1, 4])
    x = RNG.standard_normal((4, 6, N_IN) if batch_first else (6, 4, N_IN))
    h0 = RNG.standard_normal((4, 4, H))
    state = (h0, RNG.standard_normal(h0.shape)) if name == "LSTM" else h0

    def packed(xt, hx):
        packed = pack_padded_sequence(xt, torch.from_numpy(lengths), batch_first=batch_first, enforce_sorted=False)
        out, h = twin(packed, hx)
        return pad_packed_sequence(out, batch_first=batch_first, total_length=6)[0], h

    compare(layer, twin, x, state, run_twin=packed, lengths=lengths)
