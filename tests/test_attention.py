"""scaled_dot_product_attention, MultiheadAttention and the transformer encoder: values against a NumPy
formula, gradients against numerical differences, masks, shapes, errors, and mg.compile's replay."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.testing import check_function, gradcheck

RNG = np.random.default_rng(0)


def _attention(q, k, v, allowed=None, bias=0.0):
    """softmax(q kᵀ/√E + bias) v in NumPy, masked rows of no allowed key giving 0."""
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]) + bias
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    m = np.max(s, axis=-1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(m), m, 0))
    total = e.sum(axis=-1, keepdims=True)
    return (np.where(total > 0, e / np.where(total > 0, total, 1), 0)) @ v


def _qkv(*lead, length=4, source=5, dim=3):
    return (RNG.standard_normal((*lead, length, dim)), RNG.standard_normal((*lead, source, dim)),
            RNG.standard_normal((*lead, source, 2)))  # fmt: skip


def test_sdpa_values_with_every_kind_of_mask():
    q, k, v = _qkv(2, 3)
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v).data, _attention(q, k, v), rtol=1e-12)
    allowed = RNG.random((4, 5)) > 0.3
    allowed[:, 0] = True
    np.testing.assert_allclose(
        F.scaled_dot_product_attention(q, k, v, allowed).data, _attention(q, k, v, allowed), rtol=1e-12
    )
    bias = RNG.standard_normal((3, 1, 5))
    np.testing.assert_allclose(
        F.scaled_dot_product_attention(q, k, v, bias).data, _attention(q, k, v, bias=bias), rtol=1e-12
    )
    causal = np.tril(np.ones((4, 5), dtype=bool))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True).data
    np.testing.assert_allclose(out, _attention(q, k, v, causal), rtol=1e-12)
    for scale in (0.25, -0.5):  # (a positive scale is applied inside the softmax, a negative one to q)
        scaled = F.scaled_dot_product_attention(q, k, v, scale=scale).data
        np.testing.assert_allclose(scaled, _attention(q * scale * np.sqrt(3), k, v), rtol=1e-12)
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, scale=0.7), q, k, v)


def test_sdpa_gradients_with_masks():
    q, k, v = _qkv(2, length=3, source=4)
    allowed = np.array([[True, False, True, True], [False, True, True, False], [True, True, True, True]])
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, allowed), q, k, v)
    bias = RNG.standard_normal((3, 4))
    assert gradcheck(lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, m), q, k, v, bias)
    causal = lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True)  # noqa: E731
    assert check_function(causal, *(t.astype(np.float32) for t in (q, k, v)))


def test_a_fully_masked_query_gets_zero_output_and_zero_gradient():
    q, k, v = _qkv(length=3, source=4)
    allowed = np.ones((3, 4), dtype=bool)
    allowed[1] = False
    tq, tk, tv = (mg.tensor(a, requires_grad=True) for a in (q, k, v))
    out = F.scaled_dot_product_attention(tq, tk, tv, allowed)
    assert np.all(out.data[1] == 0) and np.all(np.isfinite(out.data))
    (out * out).sum().backward()
    assert np.all(tq.grad[1] == 0) and all(np.isfinite(t.grad).all() for t in (tq, tk, tv))
    minus_inf = np.where(allowed, 0.0, -np.inf)  # the same through a float mask
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, minus_inf).data, out.data, rtol=1e-12)


def test_sdpa_errors_name_the_shapes():
    q, k, v = _qkv(2)
    with pytest.raises(
        ValueError, match=r"attn_mask of shape \(3, 5\) does not broadcast to the scores' shape \(2, 4, 5\)"
    ):
        F.scaled_dot_product_attention(q, k, v, np.ones((3, 5), dtype=bool))
    with pytest.raises(ValueError, match=r"do not fit: \(2, 4, 3\), \(2, 5, 2\)"):
        F.scaled_dot_product_attention(q, k[..., :2], v)
    with pytest.raises(ValueError, match="is_causal=True takes no attn_mask"):
        F.scaled_dot_product_attention(q, k, v, np.ones((4, 5), dtype=bool), is_causal=True)


def _mha(batch_first=True, **kw):
    return nn.MultiheadAttention(6, 2, batch_first=batch_first, dtype=np.float64, rng=1, **kw)


def test_mha_parameters_have_pytorchs_names_and_shapes():
    shapes = {n: p.shape for n, p in _mha().named_parameters()}
    assert shapes == {
        "in_proj_weight": (18, 6),
        "in_proj_bias": (18,),
        "out_proj.weight": (6, 6),
        "out_proj.bias": (6,),
    }


def test_mha_matches_a_numpy_formula_and_returns_averaged_weights():
    mha = _mha()
    x = RNG.standard_normal((2, 4, 6))
    w, b = mha.in_proj_weight.data, mha.in_proj_bias.data
    q, k, v = (
        np.swapaxes((x @ w[i * 6 : (i + 1) * 6].T + b[i * 6 : (i + 1) * 6]).reshape(2, 4, 2, 3), 1, 2) for i in range(3)
    )
    heads = _attention(q, k, v)
    want = np.swapaxes(heads, 1, 2).reshape(2, 4, 6) @ mha.out_proj.weight.data.T + mha.out_proj.bias.data
    out, weights = mha(x, x, x)
    np.testing.assert_allclose(out.data, want, rtol=1e-12)
    assert weights.shape == (2, 4, 4) and np.allclose(weights.data.sum(axis=-1), 1)
    _, per_head = mha(x, x, x, average_attn_weights=False)
    assert per_head.shape == (2, 2, 4, 4)
    assert mha(x, x, x, need_weights=False)[1] is None


def test_mha_sequence_first_unbatched_and_cross_attention_agree():
    a, b = _mha(batch_first=True), _mha(batch_first=False)
    b.load_state_dict(a.state_dict())
    x, mem = RNG.standard_normal((2, 4, 6)), RNG.standard_normal((2, 3, 6))
    first = a(x, mem, mem)[0].data
    np.testing.assert_allclose(b(np.swapaxes(x, 0, 1), np.swapaxes(mem, 0, 1), np.swapaxes(mem, 0, 1))[0].data,
                               np.swapaxes(first, 0, 1), rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(a(x[0], mem[0], mem[0])[0].data, first[0], rtol=1e-12)
    self_attn = a(x, x, x)[0].data
    np.testing.assert_allclose(a(x, x.copy(), x.copy())[0].data, self_attn, rtol=1e-12)  # one product or three


def test_mha_masks_bool_true_means_masked_and_float_is_added():
    mha = _mha()
    x = RNG.standard_normal((2, 4, 6))
    padding = np.array([[False, False, True, True], [False, False, False, True]])
    out = mha(x, x, x, key_padding_mask=padding)[0].data
    float_padding = np.where(padding, -np.inf, 0.0)
    np.testing.assert_allclose(mha(x, x, x, key_padding_mask=float_padding)[0].data, out, rtol=1e-12)
    trimmed = mha(x[:1], x[:1, :2], x[:1, :2])[0].data  # the padded keys of the first sequence dropped
    np.testing.assert_allclose(out[:1], trimmed, rtol=1e-12)
    causal = ~np.tril(np.ones((4, 4), dtype=bool))
    np.testing.assert_allclose(mha(x, x, x, attn_mask=causal)[0].data, mha(x, x, x, is_causal=True)[0].data, rtol=1e-12)
    np.testing.assert_allclose(mha(x, x, x, attn_mask=np.tile(causal, (4, 1, 1)))[0].data,
                               mha(x, x, x, attn_mask=causal)[0].data, rtol=1e-12)  # fmt: skip


def test_mha_gradients():
    mha = _mha(batch_first=False)
    x = RNG.standard_normal((3, 2, 6))
    params = dict(mha.named_parameters())
    names = list(params)

    def f(x, *ps):
        return nn.functional_call(mha, dict(zip(names, ps)), x, x, x, attn_mask=~np.tril(np.ones((3, 3), dtype=bool)))[
            0
        ]

    assert gradcheck(f, x, *(p.data for p in params.values()))


def test_mha_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match="embed_dim=6 is not divisible by num_heads=4"):
        nn.MultiheadAttention(6, 4)
    mha = _mha()
    x = RNG.standard_normal((2, 4, 6))
    with pytest.raises(ValueError, match=r"query has embed dim 5, expected embed_dim=6.*\(2, 4, 5\)"):
        mha(x[..., :5], x, x)
    with pytest.raises(
        ValueError,
        match=r"attn_mask of shape \(3, 3\) does not fit: expected \(L, S\) = \(4, 4\) "
        r"or \(N\*num_heads, L, S\) = \(4, 4, 4\)",
    ):
        mha(x, x, x, attn_mask=np.ones((3, 3), dtype=bool))
    with pytest.raises(
        ValueError, match=r"key_padding_mask of shape \(4,\) does not fit: expected \(N, S\) = \(2, 4\)"
    ):
        mha(x, x, x, key_padding_mask=np.ones(4, dtype=bool))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_names_and_gradients(norm_first, activation):
    layer = nn.TransformerEncoderLayer(6, 2, 8, dropout=0.0, activation=activation, norm_first=norm_first,
                                       batch_first=True, dtype=np.float64, rng=2)  # fmt: skip
    assert {n.split(".")[0] for n, _ in layer.named_parameters()} == {
        "self_attn",
        "linear1",
        "linear2",
        "norm1",
        "norm2",
    }
    x = RNG.standard_normal((2, 3, 6))
    names = [n for n, _ in layer.named_parameters()]

    def f(x, *ps):
        return nn.functional_call(layer, dict(zip(names, ps)), x, is_causal=True)

    assert gradcheck(f, x, *(p.data for p in layer.parameters()))


def test_encoder_stacks_copies_with_pytorchs_keys():
    layer = nn.TransformerEncoderLayer(6, 2, 8, dropout=0.0, dtype=np.float64, rng=3)
    encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(6, dtype=np.float64))
    keys = encoder.state_dict()
    assert "layers.1.self_attn.in_proj_weight" in keys and "norm.weight" in keys
    assert encoder.layers[0].linear1.weight is not encoder.layers[1].linear1.weight
    x = RNG.standard_normal((3, 2, 6))
    want = encoder.norm(encoder.layers[1](encoder.layers[0](x))).data
    np.testing.assert_allclose(encoder(x).data, want, rtol=1e-12)


def test_compiled_encoder_layer_replays_eager():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=np.float64, rng=4)
    params = list(layer.parameters())

    def step(x):
        y = layer(x, is_causal=True)
        loss = (y * y).mean()
        loss.backward()
        return loss

    compiled = mg.compile(step)
    for _ in range(3):
        x = RNG.standard_normal((2, 5, 8))
        for p in params:
            p.grad = None
        eager = [step(x).data] + [p.grad.copy() for p in params]
        for p in params:
            p.grad = None
        replay = [compiled(x).data] + [p.grad.copy() for p in params]
        for a, b in zip(replay, eager):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_dropout_in_attention_is_replayed_with_fresh_masks():
    layer = nn.MultiheadAttention(4, 2, dropout=0.5, batch_first=True, dtype=np.float64, rng=5)
    x = RNG.standard_normal((1, 6, 4))
    compiled = mg.compile(lambda t: layer(t, t, t)[0])
    a, b = compiled(x).data, compiled(x).data
    assert not np.allclose(a, b)  # a new mask at each call
    layer.eval()
    np.testing.assert_array_equal(layer(x, x, x)[0].data, layer(x, x, x)[0].data)


def test_forward_mode_through_the_fused_primitives_matches_differences():
    from minigrad.nn.fused_norms import fused_softmax, layer_norm

    x, w, b = RNG.standard_normal((3, 5)), RNG.standard_normal(5), RNG.standard_normal(5)
    tx, tw, tb = RNG.standard_normal((3, 5)), RNG.standard_normal(5), RNG.standard_normal(5)

    def f(x, w, b):
        return fused_softmax(layer_norm(x, w, b, (1,), 1e-5), 0.7) * x

    value, tangent = mg.jvp(f, (x, w, b), (tx, tw, tb))
    h = 1e-6
    plus, minus = f(x + h * tx, w + h * tw, b + h * tb).data, f(x - h * tx, w - h * tw, b - h * tb).data
    np.testing.assert_allclose(np.asarray(tangent.data if hasattr(tangent, "data") else tangent),
                               (plus - minus) / (2 * h), rtol=1e-6, atol=1e-8)  # fmt: skip
    np.testing.assert_allclose(np.asarray(value.data if hasattr(value, "data") else value), f(x, w, b).data)


def test_compiled_attention_follows_masks_that_change_between_calls():
    mha = _mha()
    x = RNG.standard_normal((2, 5, 6))
    params = list(mha.parameters())

    def step(x, padding, float_mask, allowed):
        out = mha(x, x, x, key_padding_mask=padding, attn_mask=float_mask)[0]
        out = out + F.scaled_dot_product_attention(out, out, out, allowed)
        loss = (out * out).sum()
        loss.backward()
        return loss

    compiled = mg.compile(step)
    rng = np.random.default_rng(7)
    for call in range(5):
        padding = rng.random((2, 5)) > 0.5
        padding[0] = call == 3  # at the fourth call every key of the first sequence is padding: its rows give 0
        padding[1, 0] = False
        float_mask = rng.standard_normal((5, 5))
        allowed = rng.random((5, 5)) > 0.3
        results = []
        for f in (step, compiled):
            for p in params:
                p.grad = None
            results.append([f(x, padding, float_mask, allowed).data] + [p.grad.copy() for p in params])
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("batch_first", [True, False])
def test_encoder_layer_takes_an_unbatched_sequence(batch_first):
    layer = nn.TransformerEncoderLayer(6, 2, 8, dropout=0.0, batch_first=batch_first, dtype=np.float64, rng=6)
    x = RNG.standard_normal((4, 6))
    padding = np.array([False, False, True, False])
    batch = x[None] if batch_first else x[:, None]
    want = layer(batch, src_key_padding_mask=padding[None]).data
    got = layer(x, src_key_padding_mask=padding).data
    np.testing.assert_allclose(got, want[0] if batch_first else want[:, 0], rtol=1e-12)
    with pytest.raises(ValueError, match="query has embed dim 5, expected embed_dim=6"):
        layer(np.ones((2, 3, 5)))
