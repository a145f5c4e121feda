"""No reference cycles: every graph, model, optimizer and transform is freed by reference counting alone.

Each test runs with the garbage collector off. Weak references show what is alive: a graph's
intermediates die as soon as backward has run (or the loss is dropped), everything else when the
last name for it goes. Then ``gc.collect()`` with ``DEBUG_SAVEALL`` must find nothing: an object that
only the collector can free would be a cycle, which keeps a step's arrays alive until some later
collection.
"""

from __future__ import annotations

import contextlib
import gc
import types
import weakref
from collections.abc import Iterator

import numpy as np
import pytest
from test_function import Cube  # the custom Function of the mg.Function tests

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import functional as F


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _ours(o: object) -> bool:
    if isinstance(o, types.FunctionType):
        return (o.__module__ or "").startswith("minigrad")
    return isinstance(o, np.ndarray) or type(o).__module__.startswith("minigrad")


def cyclic_garbage() -> list[str]:
    """What only the collector can free now, of minigrad's: its objects, arrays, and what holds them directly.

    Call with the collector off. Cycles of the standard library are left out: ``ast.literal_eval``
    (which ``np.load`` calls on each header) and ``importlib.metadata`` leave closures in cycles.
    """
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = [o for o in gc.garbage if _ours(o) or any(_ours(r) for r in gc.get_referents(o))]
        return sorted({type(o).__qualname__ for o in found})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def refs(*objects) -> list:
    return [weakref.ref(o) for o in objects]


def alive(references: list) -> list[str]:
    return [type(r()).__name__ for r in references if r() is not None]


class Scorer(nn.Module):
    """The window scorer s = uᵀ tanh(W [e(w₁); e(w₂)] + b), with a hook to watch its intermediates."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 3, rng=0)
        self.hidden = nn.Linear(6, 4, rng=1)
        self.u = nn.Parameter(np.ones(4))

    def forward(self, windows: np.ndarray, watch: list) -> mg.Tensor:
        x = self.embed(windows).reshape(len(windows), -1)
        z = self.hidden(x)
        h = mg.tanh(z)
        s = h @ self.u
        watch += refs(x, z, h)
        return s


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd-nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1),
    "adam": lambda ps: optim.Adam(ps, lr=0.1, weight_decay=1e-4),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_steps_need_no_collector(name):
    windows = np.array([[1, 2], [3, 4], [5, 5]])
    targets = np.array([0, 1, 1])
    with collector_off():
        model = Scorer()
        opt = OPTIMIZERS[name](model.parameters())
        for _ in range(3):
            opt.zero_grad()
            inner: list = []
            s = model(windows, inner)
            loss = F.cross_entropy(mg.stack([s, -s], axis=-1), targets) + F.margin_ranking_loss(s[:2], s[1:], 1.0)
            loss.backward()
            assert alive(inner) == [], "backward left the graph alive while the loss is alive"
            opt.step()
        state = [a for st in opt.state.values() for a in st.values() if isinstance(a, np.ndarray)]
        everything = refs(model, opt, loss, *model.parameters(), *state)
        del model, opt, loss, s, state
        assert alive(everything) == []
        assert cyclic_garbage() == []


def test_a_graph_dropped_without_backward_needs_no_collector():
    with collector_off():
        model, inner = Scorer(), []
        loss = model(np.array([[1, 2]]), inner).sum()
        del loss
        assert alive(inner) == []
        loss = model(np.array([[1, 2]]), inner).sum()
        loss.backward(retain_graph=True)  # a kept graph is a DAG too
        del loss
        assert alive(inner) == []
        assert cyclic_garbage() == []


def test_the_check_finds_a_cycle_through_leaf_grad():
    # backward(create_graph=True) stores in x.grad a Tensor whose graph leads back to x: the one cycle
    # minigrad makes, as PyTorch does (it warns about it). The check must see it.
    with collector_off():
        x = mg.tensor([0.5, 1.5], requires_grad=True)
        (x**3).sum().backward(create_graph=True)
        del x
        assert "Tensor" in cyclic_garbage()


class Exp(mg.Function):
    """Saves its output: a recorded backward then refers to the node itself."""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * y


def g(x, watch):
    """The vector sin(x)·Cube(x) + Exp(x), through two custom Functions; ``watch`` gets its intermediates."""
    c = Cube.apply(x)
    e = Exp.apply(x)
    s = mg.sin(x) * c + e
    watch += refs(c, e, s)
    return s


def f(x, watch):
    return g(x, watch).sum()


TRANSFORMS = {
    "backward": lambda x, w: f(mg.tensor(x, requires_grad=True), w).backward(),
    "grad": lambda x, w: mg.grad(lambda t: f(t, w))(x),
    "value_and_grad": lambda x, w: mg.value_and_grad(lambda t: f(t, w))(x),
    "grad-of-grad": lambda x, w: mg.grad(lambda t: mg.grad(lambda u: f(u, w))(t).sum())(x),
    "vjp": lambda x, w: mg.vjp(lambda t: g(t, w), x)[1](np.ones(2)),
    "jvp": lambda x, w: mg.jvp(lambda t: g(t, w), (x,), (np.ones(2),)),
    "jacobian-rev": lambda x, w: mg.jacobian(lambda t: g(t, w), mode="rev")(x),
    "jacobian-fwd": lambda x, w: mg.jacobian(lambda t: g(t, w), mode="fwd")(x),
    "hessian": lambda x, w: mg.hessian(lambda t: f(t, w))(x),
    "hessian-fwd": lambda x, w: mg.hessian(lambda t: f(t, w), mode="fwd")(x),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transforms_and_custom_functions_need_no_collector(name):
    x = np.array([0.3, -1.2])
    with collector_off():
        inner: list = []
        result = TRANSFORMS[name](x, inner)
        assert alive(inner) == [], f"{name} left the graph of f alive"
        del result
        assert cyclic_garbage() == []


def test_a_kept_vjp_function_frees_the_graph_when_dropped():
    with collector_off():
        inner: list = []
        out, vjp_fn = mg.vjp(lambda t: g(t, inner), np.array([0.3, -1.2]))
        (first,) = vjp_fn(np.ones(2))
        (second,) = vjp_fn(np.ones(2))  # the graph is kept between calls
        assert np.array_equal(first.data, second.data)
        assert len(alive(inner)) == len(inner)
        del vjp_fn
        assert alive(inner) == []
        assert cyclic_garbage() == []


def test_modules_state_dicts_and_saved_files_need_no_collector(tmp_path):
    with collector_off():
        model = nn.Sequential(nn.Embedding(10, 3, rng=0), nn.Linear(3, 2, rng=1), nn.Tanh(), nn.Dropout(0.5, rng=2))
        state = model.state_dict()
        mg.save(state, tmp_path / "m.npz")
        model.load_state_dict(mg.load(tmp_path / "m.npz"))
        model.eval()
        model(np.array([1, 2])).sum()
        everything = refs(model, *model.parameters(), *model.modules())
        del model, state
        assert alive(everything) == []
        assert cyclic_garbage() == []


def test_create_graph_cycles_only_through_leaf_grad():
    # Clearing x.grad breaks the cycle, also through custom Functions (whose recorded backward refers to
    # their node); mg.grad and mg.hessian make none (tested below).
    with collector_off():
        x = mg.tensor([0.5, 1.5], requires_grad=True)
        inner: list = []
        y = f(x, inner)
        y.backward(create_graph=True)
        inner += refs(x.grad, y)
        x.grad = None
        del y
        assert alive(inner) == []
        assert cyclic_garbage() == []
