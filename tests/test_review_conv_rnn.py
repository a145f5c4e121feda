"""An adversarial review of the convolution, pooling and recurrent layers: unusual but legal uses, each a case
that was silently wrong or unclear before its fix (PyTorch's behaviour is the reference)."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

RNG = np.random.default_rng(0)


def _values(t):
    return np.asarray(t.data)


# -- mg.compile replays follow the lengths given as an argument ------------------------------------------------
@pytest.mark.parametrize("layer", ["RNN", "GRU", "LSTM"])
def test_compiled_step_follows_the_lengths_argument(layer):
    """The mask of the lengths was computed with NumPy from the argument, so the replay kept the traced
    lengths: later calls with other lengths returned the first call's loss and gradients."""
    rnn = getattr(nn, layer)(3, 4, num_layers=2, bidirectional=True, dtype="float64", rng=1)

    def step(x, lengths):
        out, h = rnn(x, lengths=lengths)
        h = h[1] if layer == "LSTM" else h
        loss = (out**2).sum() + (h * h).sum()
        loss.backward()
        return loss

    compiled = mg.compile(step)
    x = RNG.standard_normal((4, 3, 3))
    for lengths in ([4, 2, 3], [4, 2, 3], [4, 2, 3], [1, 4, 2], [2, 2, 2], [4, 4, 1]):
        for p in rnn.parameters():
            p.grad = None
        got = _values(compiled(x, np.array(lengths)))
        got_grads = [p.grad.copy() for p in rnn.parameters()]
        for p in rnn.parameters():
            p.grad = None
        want = _values(step(x, np.array(lengths)))
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"lengths {lengths}")
        for a, (name, p) in zip(got_grads, rnn.named_parameters()):
            np.testing.assert_allclose(a, p.grad, rtol=1e-10, atol=1e-13, err_msg=f"{name}, lengths {lengths}")
    assert compiled.traces == 1


def test_compiled_unbatched_step_follows_the_lengths_argument():
    gru = nn.GRU(3, 4, dtype="float64", rng=2)

    def step(x, lengths):
        return (gru(x, lengths=lengths)[0] ** 2).sum()

    compiled = mg.compile(step)
    x = RNG.standard_normal((5, 3))
    for n in (5, 5, 5, 2, 1):
        np.testing.assert_allclose(_values(compiled(x, np.array([n]))), _values(step(x, np.array([n]))), rtol=1e-12)


# -- the dtype of the initial state ------------------------------------------------------------------------------
def test_lstm_refuses_a_state_pair_of_another_dtype():
    """A float64 (h0, c0) given to a float32 LSTM made every output float64 (the pair hid it from the
    module's dtype check); a float64 h0 alone is refused, so the pair must be too."""
    lstm = nn.LSTM(3, 4, num_layers=2)
    x = np.zeros((5, 2, 3), np.float32)
    h, c = np.zeros((2, 2, 4)), np.zeros((2, 2, 4), np.float32)
    with pytest.raises(TypeError, match=r"LSTM: h0 is float64 \(shape \(2, 2, 4\)\) but the layer's parameters"):
        lstm(x, (h, c))
    with pytest.raises(TypeError, match=r"LSTM: c0 is float64"):
        lstm(x, (c, h))
    y, (h_n, c_n) = lstm(x, (c, c))
    assert y.dtype == h_n.dtype == c_n.dtype == np.float32


def test_lstm_cell_refuses_a_state_pair_of_another_dtype():
    cell = nn.LSTMCell(3, 4)
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match=r"LSTMCell: h is float64 \(shape \(2, 4\)\)"):
        cell(x, (np.zeros((2, 4)), np.zeros((2, 4), np.float32)))
    with pytest.raises(TypeError, match=r"LSTMCell: c is float64"):
        cell(x, (np.zeros((2, 4), np.float32), mg.tensor(np.zeros((2, 4)))))


# -- arguments PyTorch refuses when the layer is made -------------------------------------------------------------
def test_lstm_proj_size_is_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"LSTM: proj_size=2 is not supported"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"GRU: proj_size is only supported for LSTM"):
        nn.GRU(3, 4, proj_size=2)
    assert nn.LSTM(3, 4, proj_size=0).hidden_size == 4  # PyTorch's default, accepted


@pytest.mark.parametrize("layer", ["RNN", "GRU", "LSTM"])
def test_recurrent_arguments_by_position_mean_what_they_mean_in_pytorch(layer):
    """PyTorch's order: (input_size, hidden_size, num_layers, [nonlinearity,] bias, batch_first, dropout,
    bidirectional, proj_size). Positional ones were refused (or, with proj_size fourth, bias=False taken
    for proj_size=0 and ignored)."""
    head = ("tanh",) if layer == "RNN" else ()
    rnn = getattr(nn, layer)(3, 4, 2, *head, False, True, 0.25, True)
    assert (rnn.bias, rnn.batch_first, rnn.dropout, rnn.bidirectional) == (False, True, 0.25, True)
    assert "bias_ih_l0" not in dict(rnn.named_parameters()) and "weight_hh_l1_reverse" in dict(rnn.named_parameters())
    if layer == "RNN":
        assert nn.RNN(3, 4, 1, "relu").nonlinearity == "relu"


@pytest.mark.parametrize("layer", ["Conv1d", "Conv2d"])
def test_conv_same_padding_with_stride_is_refused_when_made(layer):
    """PyTorch refuses padding='same' with a stride other than 1 in the constructor; here it only failed at
    the first forward pass (and a bad padding string too)."""
    with pytest.raises(ValueError, match=rf"{layer}: padding='same' needs stride 1"):
        getattr(nn, layer)(3, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=rf"{layer}: padding must be"):
        getattr(nn, layer)(3, 2, 3, padding="full")
    with pytest.raises(ValueError, match=rf"{layer}: stride must be"):
        getattr(nn, layer)(3, 2, 3, stride=0)


# -- the pooling signatures are PyTorch's, positionally too --------------------------------------------------------
def test_avg_pool_fourth_positional_argument_is_ceil_mode():
    """PyTorch's AvgPool(kernel_size, stride, padding, ceil_mode, count_include_pad): a fourth positional
    False (ceil_mode) was taken as count_include_pad=False, dividing the edge windows by fewer elements."""
    x = RNG.standard_normal((2, 3, 7, 6))
    want = _values(nn.AvgPool2d(3, 2, 1)(x))
    np.testing.assert_array_equal(_values(nn.AvgPool2d(3, 2, 1, False)(x)), want)
    np.testing.assert_array_equal(_values(nn.functional.avg_pool2d(x, 3, 2, 1, False)), want)
    x1 = x[:, :, 0]
    np.testing.assert_array_equal(_values(nn.AvgPool1d(3, 2, 1, False)(x1)), _values(nn.AvgPool1d(3, 2, 1)(x1)))
    np.testing.assert_array_equal(
        _values(nn.functional.avg_pool1d(x1, 3, 2, 1, False)), _values(nn.AvgPool1d(3, 2, 1)(x1))
    )
    edge = _values(nn.AvgPool2d(3, 2, 1, False, False)(x))[0, 0, 0, 0]  # count_include_pad=False, 5th
    assert edge == pytest.approx(x[0, 0, :2, :2].mean(), rel=1e-12)


def test_max_pool_return_indices_and_ceil_mode_positions():
    x = RNG.standard_normal((1, 2, 6, 6))
    want = _values(nn.MaxPool2d(2)(x))
    np.testing.assert_array_equal(_values(nn.MaxPool2d(2, None, 0, 1, False, False)(x)), want)
    np.testing.assert_array_equal(_values(nn.functional.max_pool2d(x, 2, None, 0, 1, False, False)), want)
    with pytest.raises(ValueError, match=r"MaxPool2d: return_indices=True is not supported"):
        nn.MaxPool2d(2, return_indices=True)
    with pytest.raises(ValueError, match=r"max_pool2d: ceil_mode=True is not supported"):
        nn.functional.max_pool2d(x, 2, ceil_mode=True)


@pytest.mark.parametrize("layer", ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"])
def test_pool_ceil_mode_is_refused_naming_the_layer(layer):
    with pytest.raises(ValueError, match=rf"{layer}: ceil_mode=True is not supported"):
        getattr(nn, layer)(2, ceil_mode=True)


def test_avg_pool2d_divisor_override():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 3, 7, 6))
    for kwargs in ({"divisor_override": 2}, {"divisor_override": 5, "count_include_pad": False}):
        want = torch.nn.AvgPool2d(3, 2, 1, **kwargs)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(_values(nn.AvgPool2d(3, 2, 1, **kwargs)(x)), want, rtol=1e-12)
    with pytest.raises(ValueError, match=r"AvgPool2d: divisor_override must be a positive int, got 0"):
        nn.AvgPool2d(2, divisor_override=0)


# -- empty batches and empty sequences ---------------------------------------------------------------------------
@pytest.mark.parametrize("layer", ["RNN", "GRU", "LSTM"])
def test_recurrent_layer_takes_an_empty_batch(layer):
    """PyTorch returns empty outputs for a batch of 0 sequences; here a reshape with -1 failed."""
    rnn = getattr(nn, layer)(3, 2, num_layers=2, bidirectional=True)
    out, h = rnn(np.zeros((4, 0, 3), np.float32))
    h = h[0] if layer == "LSTM" else h
    assert out.shape == (4, 0, 4) and h.shape == (4, 0, 2)


def test_recurrent_layer_refuses_an_empty_sequence_naming_it():
    with pytest.raises(ValueError, match=r"GRU: input of shape \(0, 2, 3\) has no time steps"):
        nn.GRU(3, 2)(np.zeros((0, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"LSTM: input of shape \(2, 0, 3\) has no time steps"):
        nn.LSTM(3, 2, batch_first=True)(np.zeros((2, 0, 3), np.float32))


# -- the hardest combinations against PyTorch, in float64 (they held; kept so that they keep holding) -------------
def _load_from_torch(layer, twin):
    layer.load_state_dict({k: v.detach().numpy().copy() for k, v in twin.state_dict().items()})


@pytest.mark.parametrize("name", ["GRU", "LSTM"])
def test_three_bidirectional_layers_with_lengths_and_h0_match_torch(name):
    torch = pytest.importorskip("torch")
    kw = {"num_layers": 3, "bidirectional": True, "batch_first": True, "dropout": 0.5}
    twin = getattr(torch.nn, name)(3, 4, **kw).double().eval()
    layer = getattr(nn, name)(3, 4, dtype="float64", **kw).eval()
    _load_from_torch(layer, twin)
    x, h0 = RNG.standard_normal((3, 5, 3)), RNG.standard_normal((6, 3, 4))
    lengths = [1, 5, 3]
    xt, ht = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    xm, hm = mg.tensor(x, requires_grad=True), mg.tensor(h0, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), True, enforce_sorted=False)
    out_t, state_t = twin(packed, (ht, ht * 0.5) if name == "LSTM" else ht)
    out_t = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=True, total_length=5)[0]
    out_m, state_m = layer(xm, (hm, hm * 0.5) if name == "LSTM" else hm, lengths=np.array(lengths))
    h_t, h_m = (state_t[1], state_m[1]) if name == "LSTM" else (state_t, state_m)
    ((out_t**2).sum() + (h_t**3).sum()).backward()
    ((out_m**2).sum() + (h_m**3).sum()).backward()
    np.testing.assert_allclose(_values(out_m), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hm.grad, ht.grad.numpy(), rtol=1e-10, atol=1e-12)
    grads = {n: p.grad.numpy() for n, p in twin.named_parameters()}
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, grads[n], rtol=1e-10, atol=1e-12, err_msg=n)


def test_gru_and_conv_hessian_vector_products_match_torch():
    torch = pytest.importorskip("torch")
    gru_t, conv_t = torch.nn.GRU(2, 3).double(), torch.nn.Conv2d(4, 4, 3, 2, 1, 2, groups=2).double()
    gru, conv = nn.GRU(2, 3, dtype="float64"), nn.Conv2d(4, 4, 3, 2, 1, 2, groups=2, dtype="float64")
    _load_from_torch(gru, gru_t)
    _load_from_torch(conv, conv_t)
    cases = [
        (lambda x: (gru(x)[0] ** 3).sum(), lambda x: (gru_t(x)[0] ** 3).sum(), (3, 2, 2)),
        (lambda x: (mg.tanh(conv(x)) ** 2).sum(), lambda x: (torch.tanh(conv_t(x)) ** 2).sum(), (2, 4, 7, 6)),
    ]
    for f, f_t, shape in cases:
        x, v = RNG.standard_normal(shape), RNG.standard_normal(shape)
        hv = mg.grad(lambda x, f=f, v=v: (mg.grad(f)(x) * v).sum())(x)
        xt = torch.tensor(x, requires_grad=True)
        (g,) = torch.autograd.grad(f_t(xt), xt, create_graph=True)
        (hv_t,) = torch.autograd.grad((g * torch.tensor(v)).sum(), xt)
        np.testing.assert_allclose(_values(hv), hv_t.numpy(), rtol=1e-10, atol=1e-12)


def test_two_threads_backward_through_grus_never_mix_their_shared_passes():
    """The scan's rules share one backward pass per node, kept per thread (``threading.local``); here both
    threads are held inside that pass at once (a barrier in it), and each still gets its own gradients."""
    import threading

    from minigrad.nn import rnn_scan

    nets = [mg.nn.GRU(3, 2, dtype=np.float64, rng=k) for k in range(2)]
    xs = [np.random.default_rng(k).standard_normal((4, 2, 3)) for k in range(2)]

    def grads(k):
        nets[k].zero_grad()
        nets[k](xs[k])[0].sum().backward()
        return [p.grad.copy() for p in nets[k].parameters()]

    alone = [grads(0), grads(1)]
    barrier, original = threading.Barrier(2, timeout=10), rnn_scan._GRU.backward

    def backward_then_wait(*args):
        out = original(*args)
        barrier.wait()  # both threads have computed their pass before either takes its gradients
        return out

    results = [None, None]
    rnn_scan._GRU.backward = backward_then_wait
    try:
        threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, grads(k))) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        rnn_scan._GRU.backward = original
    for got, want in zip(results, alone):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
