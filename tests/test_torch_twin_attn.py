"""Each layer of the attention family against its PyTorch twin (skipped without torch): the twin gets minigrad's
weights through the state_dict, and outputs and every gradient agree in float64 to 1e-10 relative."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)


def _close(a, b, what):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    assert np.max(np.abs(a - b)) <= 1e-10 * scale, f"{what}: off by {np.max(np.abs(a - b)):.3g}"


def _twin(ours, theirs):
    theirs = theirs.double()
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    return theirs


def _compare(ours, theirs, x, *args, call=None, **kwargs):
    """Forward both with x (and args), the loss Σ y ∘ c for a random c; outputs, input and parameter gradients."""
    call = call or (lambda m, *a, **k: m(*a, **k))
    xm = mg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    ym, yt = call(ours, xm, *args, **kwargs), call(theirs, xt, *[torch.from_numpy(np.asarray(a)) for a in args], **tkw)
    c = RNG.standard_normal(ym.shape)
    (ym * c).sum().backward()
    (yt * torch.from_numpy(c)).sum().backward()
    _close(ym.data, yt, "output")
    _close(xm.grad, xt.grad, "input gradient")
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad, f"gradient of {name}")


ACTIVATIONS = [
    (nn.GELU(), torch.nn.GELU()),
    (nn.GELU("tanh"), torch.nn.GELU("tanh")),
    (nn.SiLU(), torch.nn.SiLU()),
    (nn.LeakyReLU(0.3), torch.nn.LeakyReLU(0.3)),
    (nn.ELU(1.5), torch.nn.ELU(1.5)),
    (nn.Softplus(), torch.nn.Softplus()),
    (nn.Softplus(2.0, 1.0), torch.nn.Softplus(2.0, 1.0)),
    (nn.Softmax(dim=-1), torch.nn.Softmax(dim=-1)),
    (nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1)),
]


@pytest.mark.parametrize("ours, theirs", ACTIVATIONS, ids=[repr(t) for _, t in ACTIVATIONS])
def test_activations(ours, theirs):
    x = RNG.uniform(-25, 25, (4, 6))
    x[0, :3] = 0.0  # the kinks, where the conventions are PyTorch's
    _compare(ours, theirs, x)


def test_layer_norm():
    ours = nn.LayerNorm((3, 4), eps=1e-3, dtype=np.float64)
    ours.weight.data[...] = RNG.standard_normal((3, 4))
    ours.bias.data[...] = RNG.standard_normal((3, 4))
    _compare(ours, _twin(ours, torch.nn.LayerNorm((3, 4), eps=1e-3)), RNG.standard_normal((2, 5, 3, 4)))


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 4)])
def test_batch_norm_train_eval_and_running_statistics(shape, momentum):
    layer = nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d
    ours = layer(3, momentum=momentum, dtype=np.float64)
    ours.weight.data[...] = RNG.standard_normal(3)
    twin_class = torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d
    theirs = _twin(ours, twin_class(3, momentum=momentum))
    for _ in range(3):
        for p in list(ours.parameters()) + list(theirs.parameters()):
            p.grad = None
        _compare(ours, theirs, RNG.standard_normal(shape) * 2 + 1)
    for key, value in theirs.state_dict().items():
        _close(np.asarray(ours.state_dict()[key], dtype=np.float64), value.double(), key)
    ours.eval(), theirs.eval()
    for p in list(ours.parameters()) + list(theirs.parameters()):
        p.grad = None
    _compare(ours, theirs, RNG.standard_normal(shape))


def test_sdpa_with_masks():
    q, k, v = RNG.standard_normal((2, 3, 4, 5)), RNG.standard_normal((2, 3, 6, 5)), RNG.standard_normal((2, 3, 6, 2))
    allowed = RNG.random((4, 6)) > 0.4
    allowed[1] = False  # a fully masked row: both give 0
    bias = RNG.standard_normal((3, 4, 6))
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    for mask, causal in ((allowed, False), (bias, False), (None, True)):
        mq, mk, mv = (mg.tensor(a, requires_grad=True) for a in (q, k, v))
        for t in (tq, tk, tv):
            t.grad = None
        ym = nn.functional.scaled_dot_product_attention(mq, mk, mv, mask, is_causal=causal, scale=0.3)
        tmask = None if mask is None else torch.from_numpy(mask)
        yt = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, tmask, is_causal=causal, scale=0.3)
        c = RNG.standard_normal(ym.shape)
        (ym * c).sum().backward()
        (yt * torch.from_numpy(c)).sum().backward()
        _close(ym.data, yt, "output")
        for a, b in ((mq, tq), (mk, tk), (mv, tv)):
            _close(a.grad, b.grad, "gradient")


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_with_masks_and_weights(batch_first):
    ours = nn.MultiheadAttention(8, 2, batch_first=batch_first, dtype=np.float64, rng=1)
    theirs = _twin(ours, torch.nn.MultiheadAttention(8, 2, batch_first=batch_first))
    x = RNG.standard_normal((3, 5, 8) if batch_first else (5, 3, 8))
    padding = np.zeros((3, 5), dtype=bool)
    padding[0, 3:] = True
    causal = ~np.tril(np.ones((5, 5), dtype=bool))

    def self_attention(m, t, **kw):
        out, weights = m(t, t, t, **kw)
        return out + weights.sum() if weights is not None else out

    _compare(ours, theirs, x, call=self_attention, key_padding_mask=padding, attn_mask=causal)
    for p in list(ours.parameters()) + list(theirs.parameters()):
        p.grad = None
    float_mask = RNG.standard_normal((6, 5, 5))
    _compare(ours, theirs, x, call=self_attention, attn_mask=float_mask, average_attn_weights=False)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_encoder_layer(norm_first, activation):
    ours = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=activation, norm_first=norm_first,
                                      dtype=np.float64, rng=2)  # fmt: skip
    theirs = _twin(ours, torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=activation,
                                                          norm_first=norm_first))  # fmt: skip
    padding = np.zeros((3, 4), dtype=bool)
    padding[1, 2:] = True
    _compare(ours, theirs, RNG.standard_normal((4, 3, 8)), src_key_padding_mask=padding)


def test_transformer_encoder():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=np.float64, rng=3)
    ours = nn.TransformerEncoder(layer, 2)
    twin_layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    theirs = _twin(ours, torch.nn.TransformerEncoder(twin_layer, 2, enable_nested_tensor=False))
    causal = ~np.tril(np.ones((5, 5), dtype=bool))
    _compare(ours, theirs, RNG.standard_normal((2, 5, 8)), mask=causal)
