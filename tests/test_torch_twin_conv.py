"""Every convolution and pooling layer against its PyTorch twin in float64: the same weights through the
state_dict, outputs and the gradients of input, weight and bias to 1e-10 relative. Skipped without torch."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

torch = pytest.importorskip("torch")

RTOL = 1e-10
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")


def _close(ours, theirs, what):
    theirs = theirs.detach().numpy()
    scale = max(np.abs(theirs).max(), 1e-300)
    assert np.abs(np.asarray(ours) - theirs).max() <= RTOL * scale, what


def _twin(ours, theirs, shape, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if ties:
        x = np.round(x)  # many equal maxima in a window
    state = {k: torch.tensor(np.asarray(v)) for k, v in ours.state_dict().items()}
    theirs = theirs.double()
    theirs.load_state_dict(state)
    X = mg.tensor(x, requires_grad=True)
    y = ours(X)
    g = rng.standard_normal(y.shape)
    (y * mg.tensor(g)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    (ty * torch.tensor(g)).sum().backward()
    _close(y.data, ty, "output")
    _close(X.grad, tx.grad, "input gradient")
    for name, p in ours.named_parameters():
        _close(p.grad, dict(theirs.named_parameters())[name].grad, f"{name} gradient")


CONV2D = [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
    dict(in_channels=2, out_channels=4, kernel_size=2, padding="same", dilation=2, bias=False),
    dict(in_channels=3, out_channels=3, kernel_size=3, stride=2, padding=1, groups=3),
]


@pytest.mark.parametrize("kw", CONV2D, ids=str)
def test_conv2d(kw):
    ours = nn.Conv2d(**kw, dtype=np.float64, rng=0)
    _twin(ours, torch.nn.Conv2d(**kw), (2, kw["in_channels"], 7, 8))


@pytest.mark.parametrize(
    "kw",
    [
        dict(in_channels=2, out_channels=3, kernel_size=3),
        dict(in_channels=4, out_channels=2, kernel_size=4, stride=3, padding=2, dilation=2, groups=2),
        dict(in_channels=2, out_channels=2, kernel_size=4, padding="same"),
        dict(in_channels=2, out_channels=2, kernel_size=3, padding="valid"),
    ],
    ids=str,
)
def test_conv1d(kw):
    ours = nn.Conv1d(**kw, dtype=np.float64, rng=1)
    _twin(ours, torch.nn.Conv1d(**kw), (3, kw["in_channels"], 11))


def test_conv2d_unbatched():
    ours = nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64, rng=2)
    _twin(ours, torch.nn.Conv2d(2, 3, 3, padding=1), (2, 5, 5))


@pytest.mark.parametrize(
    "kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=1, dilation=2)]
)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool(kw, ties):
    _twin(nn.MaxPool2d(**kw), torch.nn.MaxPool2d(**kw), (2, 3, 7, 6), ties=ties)
    _twin(nn.MaxPool1d(**kw), torch.nn.MaxPool1d(**kw), (2, 3, 9), ties=ties)


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=(3, 2), stride=1, padding=(1, 1), count_include_pad=False),
    ],
    ids=str,
)
def test_avg_pool(kw):
    _twin(nn.AvgPool2d(**kw), torch.nn.AvgPool2d(**kw), (2, 3, 7, 6))
    kw1 = {k: (v[0] if isinstance(v, tuple) else v) for k, v in kw.items()}
    _twin(nn.AvgPool1d(**kw1), torch.nn.AvgPool1d(**kw1), (2, 3, 9))


@pytest.mark.parametrize("size", [1, 3, (2, 4), (None, 2), 7])
def test_adaptive_avg_pool(size):
    _twin(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), (2, 3, 7, 5))


@pytest.mark.parametrize("dims", [(1, -1), (0, 2), (2, 3)])
def test_flatten(dims):
    _twin(nn.Flatten(*dims), torch.nn.Flatten(*dims), (2, 3, 4, 5))


def test_init_bounds_match_pytorch():
    # U(−1/√fan_in, 1/√fan_in) for the weight (kaiming_uniform_ with a = √5) and for the bias
    ours = nn.Conv2d(6, 8, (3, 2), groups=2, rng=0)
    bound = 1 / np.sqrt(3 * 3 * 2)
    for p in (ours.weight.data, ours.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.8 * bound
    theirs = torch.nn.Conv2d(6, 8, (3, 2), groups=2)
    assert {k: tuple(v.shape) for k, v in theirs.state_dict().items()} == {
        k: v.shape for k, v in ours.state_dict().items()
    }


def test_max_pool_nan_takes_the_gradient_as_in_pytorch():
    x = np.array([[[1.0, np.nan, 3.0, np.nan, 0.5, 2.0]]])
    X = mg.tensor(x, requires_grad=True)
    nn.MaxPool1d(3, 1)(X).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    torch.nn.MaxPool1d(3, 1)(t).sum().backward()
    np.testing.assert_array_equal(X.grad, t.grad.numpy())


@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_large_batch(groups):  # the transposed convolution made one kernel offset at a time
    ours = nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=groups, dtype=np.float64, rng=3)
    _twin(ours, torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=groups), (8, 4, 20, 22))
