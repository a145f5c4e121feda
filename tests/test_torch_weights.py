"""Weights both ways between minigrad and PyTorch (``nn.utils.to_torch_state_dict`` / ``from_torch_state_dict``):
each layer's PyTorch twin, and the README's networks, give the same outputs (float64, 1e-10) with the other's
weights. Skipped without torch."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils import from_torch_state_dict, to_torch_state_dict

torch = pytest.importorskip("torch")
T = torch.nn
D = np.float64


def _outputs(out):
    if isinstance(out, (tuple, list)):
        return [a for part in out for a in _outputs(part)]
    return [out.detach().numpy() if hasattr(out, "detach") else np.asarray(out.data)]


def _same(ours, theirs, inputs):
    ours.eval(), theirs.eval()
    with torch.no_grad():
        expected = _outputs(theirs(*(torch.from_numpy(np.asarray(x)) for x in inputs)))
    with mg.no_grad():
        got = _outputs(ours(*inputs))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10)


def _statistics(*layers):
    """Running statistics away from 0 and 1 in every BatchNorm (the same in both when copied after)."""
    rng = np.random.default_rng(5)
    for layer in layers:
        for m in layer.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                m.running_mean[...] = rng.standard_normal(m.running_mean.shape)
                m.running_var[...] = rng.uniform(0.5, 2, m.running_var.shape)


def readme_cnn(lib, **dt):
    conv = [lib.Conv2d(1, 6, 5, padding=2, **dt), lib.ReLU(), lib.MaxPool2d(2), lib.Conv2d(6, 16, 5, **dt), lib.ReLU()]
    return lib.Sequential(*conv, lib.AdaptiveAvgPool2d(1), lib.Flatten(), lib.Linear(16, 10, **dt))


# name: (build with nn or torch.nn and the dtype keyword, inputs)
LAYERS = {
    "linear": (lambda lib, **dt: lib.Linear(6, 4, **dt), [(5, 6)]),
    "conv1d": (lambda lib, **dt: lib.Conv1d(3, 4, 3, stride=2, padding=1, **dt), [(2, 3, 9)]),
    "conv2d": (lambda lib, **dt: lib.Conv2d(4, 6, (3, 2), padding=1, groups=2, **dt), [(2, 4, 7, 6)]),
    "embedding": (lambda lib, **dt: lib.Embedding(10, 4, **dt), "ids"),
    "layer_norm": (lambda lib, **dt: lib.LayerNorm(6, **dt), [(2, 3, 6)]),
    "batch_norm1d": (lambda lib, **dt: lib.BatchNorm1d(3, **dt), [(4, 3, 5)]),
    "batch_norm2d": (lambda lib, **dt: lib.BatchNorm2d(3, **dt), [(4, 3, 2, 2)]),
    "rnn": (lambda lib, **dt: lib.RNN(3, 5, num_layers=2, **dt), [(4, 2, 3)]),
    "gru": (lambda lib, **dt: lib.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True, **dt), [(2, 4, 3)]),
    "lstm": (lambda lib, **dt: lib.LSTM(3, 5, bidirectional=True, **dt), [(4, 2, 3)]),
    "rnn_cell": (lambda lib, **dt: lib.RNNCell(3, 5, **dt), [(2, 3)]),
    "gru_cell": (lambda lib, **dt: lib.GRUCell(3, 5, **dt), [(2, 3)]),
    "lstm_cell": (lambda lib, **dt: lib.LSTMCell(3, 5, **dt), [(2, 3)]),
    "attention": (lambda lib, **dt: lib.MultiheadAttention(8, 2, batch_first=True, **dt), [(2, 5, 8)] * 3),
    "encoder_layer": (
        lambda lib, **dt: lib.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, **dt),
        [(2, 5, 8)],
    ),
    # the README's networks: the CNN, the GRU and the transformer encoder of "Building networks"
    "readme_cnn": (readme_cnn, [(3, 1, 28, 28)]),
    "readme_gru": (
        lambda lib, **dt: lib.GRU(8, 16, num_layers=2, bidirectional=True, batch_first=True, **dt),
        [(3, 5, 8)],
    ),  # fmt: skip
    "readme_encoder": (
        lambda lib, **dt: lib.TransformerEncoder(
            lib.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, **dt),
            num_layers=2,
            **({"enable_nested_tensor": False} if lib is T else {}),
        ),
        [(2, 5, 16)],
    ),  # fmt: skip
}


def _pair(name):
    make, shapes = LAYERS[name]
    ours, theirs = make(nn, dtype=D), make(T, dtype=torch.float64)
    rng = np.random.default_rng(1)
    inputs = [rng.integers(0, 10, (3, 4))] if shapes == "ids" else [rng.standard_normal(s) for s in shapes]
    return ours, theirs, inputs


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_minigrad_weights_in_pytorch(name):
    ours, theirs, inputs = _pair(name)
    _statistics(ours)
    theirs.load_state_dict(to_torch_state_dict(ours, torch.from_numpy))  # strict: the same keys both ways
    _same(ours, theirs, inputs)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_pytorch_weights_in_minigrad(name):
    ours, theirs, inputs = _pair(name)
    torch.manual_seed(0)
    for m in theirs.modules():  # PyTorch's own initialisation, then statistics of its own
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
        if isinstance(m, T.BatchNorm1d | T.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.num_batches_tracked.fill_(7)
    from_torch_state_dict(ours, theirs.state_dict())
    _same(ours, theirs, inputs)
    assert all(np.array_equal(v, theirs.state_dict()[k].numpy()) for k, v in ours.state_dict().items())


def test_arrays_are_copies_and_float32_weights_load_into_float64():
    ours = nn.Linear(3, 2, dtype=D)
    arrays = to_torch_state_dict(ours)
    assert set(arrays) == {"weight", "bias"} and arrays["weight"].flags.c_contiguous
    arrays["weight"][...] = 0
    assert ours.weight.data.any()
    theirs = T.Linear(3, 2)
    from_torch_state_dict(ours, theirs.state_dict())
    assert ours.weight.data.dtype == D and np.array_equal(ours.weight.data, theirs.weight.detach().numpy())


def test_a_wrong_key_or_value_is_named():
    with pytest.raises(KeyError, match="bias"):
        from_torch_state_dict(nn.Linear(3, 2), {"weight": torch.zeros(2, 3)})
    with pytest.raises(TypeError, match="'weight' is a object, not an array or tensor"):
        from_torch_state_dict(nn.Linear(3, 2), {"weight": object(), "bias": torch.zeros(2)})
