"""LayerNorm, BatchNorm1d and BatchNorm2d: values against NumPy formulas, gradients against numerical differences,
running statistics (momentum, the cumulative average, unbiased variance), train/eval, state_dict keys, errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.testing import check_function, gradcheck

RNG = np.random.default_rng(0)


def test_layer_norm_values_against_numpy():
    x = RNG.standard_normal((2, 3, 4, 5))
    ln = nn.LayerNorm((4, 5), eps=1e-3, dtype=np.float64)
    ln.weight.data[...] = RNG.standard_normal((4, 5))
    ln.bias.data[...] = RNG.standard_normal((4, 5))
    mu = x.mean(axis=(2, 3), keepdims=True)
    var = ((x - mu) ** 2).mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(ln(x).data, (x - mu) / np.sqrt(var + 1e-3) * ln.weight.data + ln.bias.data, rtol=1e-12)


@pytest.mark.parametrize("affine, bias", [(True, True), (True, False), (False, False)])
def test_layer_norm_gradients(affine, bias):
    x = RNG.standard_normal((3, 6))
    ln = nn.LayerNorm(6, elementwise_affine=affine, bias=bias, dtype=np.float64)
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"][: affine + bias]
    if not affine:
        assert gradcheck(ln, x)
        return
    w = RNG.standard_normal(6)
    params = [w] + ([RNG.standard_normal(6)] if bias else [])
    assert gradcheck(lambda t, *p: F.layer_norm(t, (6,), *p), x, *params)
    assert check_function(lambda t, *p: F.layer_norm(t, 6, *p), *(a.astype(np.float32) for a in (x, *params)))


def test_layer_norm_shape_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"LayerNorm: input of shape \(2, 5\) does not end in normalized_shape=\(4,\)"):
        nn.LayerNorm(4)(np.ones((2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape=\(3, 4\)"):
        F.layer_norm(np.ones((2, 4)), (3, 4))


def _stats(x, axes):
    return x.mean(axis=axes), x.var(axis=axes), x.var(axis=axes, ddof=1)


@pytest.mark.parametrize(
    "shape, layer", [((8, 3), nn.BatchNorm1d), ((4, 3, 5), nn.BatchNorm1d), ((2, 3, 4, 4), nn.BatchNorm2d)]
)
def test_batch_norm_trains_on_batch_statistics_and_tracks_running_ones(shape, layer):
    bn = layer(3, momentum=0.3, dtype=np.float64)
    assert sorted(bn.state_dict()) == ["bias", "num_batches_tracked", "running_mean", "running_var", "weight"]
    axes = (0,) + tuple(range(2, len(shape)))
    expected_mean, expected_var = np.zeros(3), np.ones(3)
    for step in range(3):
        x = RNG.standard_normal(shape) * (step + 1) + step
        mean, var, unbiased = _stats(x, axes)
        y = bn(x).data
        cshape = (1, 3) + (1,) * (len(shape) - 2)
        np.testing.assert_allclose(y, (x - mean.reshape(cshape)) / np.sqrt(var.reshape(cshape) + 1e-5), rtol=1e-10)
        expected_mean = 0.7 * expected_mean + 0.3 * mean
        expected_var = 0.7 * expected_var + 0.3 * unbiased
    np.testing.assert_allclose(bn.running_mean, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, expected_var, rtol=1e-12)
    assert int(bn.num_batches_tracked) == 3
    bn.eval()
    x = RNG.standard_normal(shape)
    cshape = (1, 3) + (1,) * (len(shape) - 2)
    want = (x - expected_mean.reshape(cshape)) / np.sqrt(expected_var.reshape(cshape) + 1e-5)
    np.testing.assert_allclose(bn(x).data, want, rtol=1e-10)
    assert int(bn.num_batches_tracked) == 3  # eval leaves the statistics alone
    assert gradcheck(bn, x)


def test_batch_norm_momentum_none_is_the_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None, dtype=np.float64)
    batches = [RNG.standard_normal((5, 2)) + i for i in range(4)]
    for x in batches:
        bn(x)
    np.testing.assert_allclose(bn.running_mean, np.mean([x.mean(axis=0) for x in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0), rtol=1e-12)


def test_batch_norm_gradients_in_training():
    x = RNG.standard_normal((4, 3, 2))
    w, b = RNG.standard_normal(3), RNG.standard_normal(3)
    rm, rv = np.zeros(3), np.ones(3)
    assert gradcheck(lambda t, wt, bt: F.batch_norm(t, rm.copy(), rv.copy(), wt, bt, training=True), x, w, b)
    assert check_function(lambda t: F.batch_norm(t, None, None, training=True), x.astype(np.float32))


def test_batch_norm_without_running_stats_always_uses_the_batch():
    bn = nn.BatchNorm2d(2, track_running_stats=False, affine=False, dtype=np.float64)
    assert bn.state_dict() == {} and bn.running_mean is None
    x = RNG.standard_normal((3, 2, 2, 2))
    bn.eval()
    np.testing.assert_allclose(bn(x).data.mean(axis=(0, 2, 3)), 0, atol=1e-12)


def test_batch_norm_state_dict_round_trip():
    a, b = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    a(RNG.standard_normal((6, 3)).astype(np.float32))
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b.running_mean, a.running_mean)
    assert int(b.num_batches_tracked) == 1 and b.num_batches_tracked.dtype == np.int64


def test_batch_norm_errors_name_the_layer_and_shapes():
    with pytest.raises(
        ValueError, match=r"BatchNorm2d: input has 4 channels, expected num_features=3 \(input shape \(2, 4, 5, 5\)\)"
    ):
        nn.BatchNorm2d(3)(np.ones((2, 4, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected a 2-D or 3-D input, got shape \(2, 3, 4, 4\)"):
        nn.BatchNorm1d(3)(np.ones((2, 3, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(np.ones((1, 3), dtype=np.float32))


def test_compiled_layer_norm_and_batch_norm_replay_eager():
    # batch statistics in training mode; no running statistics to update (a compiled step refuses those)
    ln, bn = nn.LayerNorm(4, dtype=np.float64), nn.BatchNorm1d(4, track_running_stats=False, dtype=np.float64)
    ln.weight.data[...] = RNG.standard_normal(4)
    params = list(ln.parameters()) + list(bn.parameters())

    def step(x):
        y = bn(ln(x))
        loss = (y * y * y).sum()
        loss.backward()
        return loss

    compiled = mg.compile(step)
    for _ in range(3):
        x = RNG.standard_normal((5, 4))
        for p in params:
            p.grad = None
        eager = [step(x).data] + [p.grad.copy() for p in params]
        for p in params:
            p.grad = None
        replay = [compiled(x).data] + [p.grad.copy() for p in params]
        for a, b in zip(replay, eager):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_compiled_batch_norm_in_eval_reads_the_running_statistics_of_each_call():
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    x = RNG.standard_normal((4, 3))
    bn.eval()
    compiled = mg.compile(lambda t: bn(t) * 1.0)
    compiled(x), compiled(x)
    for _ in range(2):  # eager training steps move the running statistics in place
        bn.train()
        bn(RNG.standard_normal((6, 3)) * 3 + 1)
        bn.eval()
        np.testing.assert_allclose(compiled(x).data, bn(x).data, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_primitives_on_large_arrays_match_the_composites(dtype):
    # from 4096 elements the fused primitives reduce rows through BLAS and a transposed copy: compared here with
    # the composites of mean/var and exp/logsumexp, values and gradients
    from minigrad.nn.fused_norms import fused_softmax, layer_norm
    from minigrad.nn.normalization_functions import _normalized

    x = (RNG.standard_normal((8, 4, 33, 40)) * 3).astype(dtype)
    masked = x.copy()
    masked[0, 0, 0, :] = -np.inf  # a row of -inf but one
    masked[0, 0, 0, 5] = 1.0
    w, c = RNG.standard_normal(40).astype(dtype), RNG.standard_normal(x.shape).astype(dtype)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=1e-5)
    cases = [
        (masked, lambda t: fused_softmax(t, 0.5), lambda t: mg.softmax(t * 0.5, -1)),
        (x, lambda t: layer_norm(t, w, None, (3,), 1e-5), lambda t: _normalized(t, (3,), 1e-5)[0] * w),
    ]
    for data, fused, composite in cases:
        results = []
        for f in (fused, composite):
            t = mg.tensor(data, requires_grad=True)
            y = f(t)
            (y * c).sum().backward()
            results.append((y.data, t.grad))
        (y1, g1), (y2, g2) = results
        np.testing.assert_allclose(y1, y2, **tol)
        np.testing.assert_allclose(g1, g2, **tol)


def test_compile_refuses_a_training_batch_norm_that_updates_running_statistics_and_replays_eval():
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((4, 3))

    @mg.compile
    def step(xb):
        loss = (bn(xb) ** 2).sum()
        loss.backward()
        return loss

    with pytest.raises(mg.CompileError, match="batch_norm: in training"):
        step(x)
    np.testing.assert_array_equal(bn.running_mean, 0.0)  # refused before anything moved
    bn.eval()
    bn.running_mean[...] = 0.5
    for _ in range(3):
        got = step(x).data
    bn.running_mean[...] = 0.25  # the replay reads the statistics as they are at each call
    want = ((x - 0.25) / np.sqrt(1 + bn.eps)) ** 2
    np.testing.assert_allclose(step(x).data, want.sum(), rtol=1e-12)
    assert got != step(x).data
    # without running statistics nothing is updated, and the training step compiles
    free = nn.BatchNorm1d(3, track_running_stats=False, dtype=np.float64)

    @mg.compile
    def free_step(xb):
        loss = (free(xb) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(3):
        free_step(x)
