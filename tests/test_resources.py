"""Resources: deep and huge graphs, memory back to its baseline after backward, no leak over training.

Memory is measured with ``tracemalloc`` after one warm-up run of the same code: the warm-up fills
CPython's free lists (up to 2,000 freed tuples per length, 100 floats...), which tracemalloc counts
as allocated, so that the measured run starts from a level it returns to exactly if nothing leaks.
The cycle checks (nothing here needs the garbage collector) are in ``test_reference_cycles.py``.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import functional as F

# What may stay allocated after a graph is freed: a few small objects (x.grad, the root's array and
# node, counters), a few hundred bytes measured. A leak of one node per step or per graph node is at
# least ~100 bytes per node, so 64 KiB is far below what the smallest leak here would leave (10 MB
# for the chain, 900 KB for 9,000 training steps) and far above the interpreter's own noise.
SLACK = 64 * 1024


def _traced() -> int:
    return tracemalloc.get_traced_memory()[0]


def _live_tensors() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, mg.Tensor))


def _chain(x: mg.Tensor, a: np.ndarray, b: float, pairs: int) -> mg.Tensor:
    """y ← y·a + b, ``pairs`` times: 2·pairs nodes in one chain; ∂y/∂x = a^pairs elementwise."""
    y = x
    for _ in range(pairs):
        y = y * a + b
    return y


def test_a_100000_deep_chain_frees_its_memory_on_backward():
    pairs = 50_000  # 100,000 nodes, each the only parent of the next
    a = np.array([1 + 1 / pairs, 1 - 1 / pairs, 1.0])
    x = mg.tensor([0.5, -2.0, 3.0], dtype=np.float64, requires_grad=True)
    tracemalloc.start()
    try:
        _chain(x, a, 0.25, pairs).sum().backward()  # warm-up (see the module docstring)
        x.grad = None
        before = _traced()
        y = _chain(x, a, 0.25, pairs).sum()
        built = _traced()
        y.backward()
        after_backward = _traced()  # y is still alive: backward alone must free the graph
        del y
        after_drop = _traced()
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(x.grad, a**pairs, rtol=1e-9)  # (1 ± 1/n)^n ≈ e^±1, summed over 50,000 factors
    assert built - before > 100 * 2 * pairs  # the graph was measured: >100 bytes a node
    assert after_backward - before < SLACK, f"{after_backward - before} bytes still held after backward"
    assert after_drop - before < SLACK


def test_a_million_node_graph_runs_backward_and_frees_every_node():
    # 1,000 chains of 1,000 nodes (depth) from one input, summed (width): x has 1,000 consumers and
    # every chain's gradient accumulates into it. ∂total/∂x = Σₖ aₖ^999 (999 multiplications per chain).
    # The collector is off while building: a million live nodes make CPython's full collections,
    # triggered as the heap grows by 25%, cost 80% of the build (8.5 s against 1.6 s measured);
    # minigrad's graph has no cycles, so nothing needs it (test_reference_cycles.py checks that).
    width, depth = 1000, 1000
    a = 1 + 1e-4 * np.arange(width) / width
    x = mg.tensor([0.5, -1.0], dtype=np.float64, requires_grad=True)
    sample = []
    gc.disable()
    try:
        before = _live_tensors()
        total = None
        for k in range(width):
            y, ak = x, float(a[k])
            for _ in range(depth - 1):
                y = y * ak
            sample.append(weakref.ref(y))
            total = y if total is None else total + y  # the running sum: one more node per chain
        root = total.sum()
        del y, total
        nodes = _live_tensors() - before
        root.backward()
        alive_after_backward = sum(r() is not None for r in sample)
        left = _live_tensors() - before  # root, x.grad is an array: only the root may remain
    finally:
        gc.enable()
    assert nodes >= width * depth
    np.testing.assert_allclose(x.grad, np.full(2, np.sum(a ** (depth - 1))), rtol=1e-10)
    assert alive_after_backward == 0
    assert left == 1  # the root itself, still referenced here


def _window_scorer(rng: int) -> nn.Module:
    class Scorer(nn.Module):
        """s = uᵀ tanh(W [e(w₁); e(w₂); e(w₃)] + b), the lecture's window scorer, small."""

        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(50, 4, rng=rng)
            self.hidden = nn.Linear(12, 8, rng=rng)
            self.u = nn.Parameter(np.linspace(-1, 1, 8))

        def forward(self, windows: np.ndarray) -> mg.Tensor:
            x = self.embed(windows).reshape(windows.shape[0], -1)
            return mg.tanh(self.hidden(x)) @ self.u

    return Scorer()


def test_no_leak_over_10000_training_steps():
    # The window scorer (row-sparse embedding, linear, tanh, the margin loss) trained with Adam. Tracing
    # starts at step 1,000 (all optimizer state built): what it counts at step 10,000 is what the last
    # 9,000 steps allocated and left alive. The count of live tensors is the same at both steps.
    rng = np.random.default_rng(0)
    scorer = _window_scorer(0)
    adam = optim.Adam(scorer.parameters(), lr=0.01)
    try:
        for step in range(1, 10_001):
            windows, corrupted = rng.integers(0, 50, (2, 16, 3))  # fresh random windows: the loss stays > 0
            adam.zero_grad()
            loss = F.margin_ranking_loss(scorer(windows), scorer(corrupted), 1, margin=1.0)
            loss.backward()
            adam.step()
            if step == 1_000:
                tensors_at_1000 = _live_tensors()
                tracemalloc.start()
        kept = _traced()
    finally:
        tracemalloc.stop()
    assert loss.item() > 0  # gradients still flow
    assert _live_tensors() == tensors_at_1000
    assert kept < SLACK, f"{kept} bytes allocated after step 1,000 are still alive at step 10,000"


def test_lookups_without_training_leak_nothing():
    # An embedding remembers the rows looked up while recording until the next zero_grad (for the
    # optimizers' sparse update). Evaluating without no_grad and never training must not grow that
    # memory with the number of lookups: it is bounded by the table's rows.
    rng = np.random.default_rng(0)
    scorer = _window_scorer(0)
    try:
        for step in range(1, 5_001):
            scorer(rng.integers(0, 50, (16, 3)))
            if step == 500:
                tracemalloc.start()
        kept = _traced()
    finally:
        tracemalloc.stop()
    assert kept < SLACK, f"{kept} bytes allocated after 500 lookups are still alive after 5,000"


def test_backward_adds_each_leaf_gradient_into_grad_as_it_comes():
    """The weights' gradients are not all held until the walk ends (they are reached last, lowest ids): each
    goes into .grad as soon as it is made, so with .grad kept a step's peak is its graph plus one gradient."""
    rng = np.random.default_rng(0)
    weights = [mg.tensor(rng.standard_normal((256, 256)) * 0.06, requires_grad=True) for _ in range(12)]
    x = mg.tensor(rng.standard_normal((16, 256)))

    def step(seen=None):
        h = x
        for k, w in enumerate(weights):
            h = mg.tanh(h @ w)
            if seen is not None and k == 0:  # when the first layer's gradient arrives, the last weight's is in
                h.register_hook(lambda g: seen.append(weights[-1].grad is not None) or g)
        h.sum().backward()

    seen: list = []
    step(seen)
    assert seen == [True]
    gc.collect()
    tracemalloc.start()
    try:
        step()  # .grad replaced under tracemalloc's view
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        step()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    one_gradient, activations = 256 * 256 * 8, 12 * 16 * 256 * 8
    assert peak < activations + 4 * one_gradient, f"peak {peak} bytes: the walk holds the weights' gradients"
