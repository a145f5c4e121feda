"""Per-example gradients: ``mg.vmap(mg.grad(loss))`` against one batched backward pass and a loop of ``grad``.

    python -m benchmarks.per_example            # prints the tables (torch.func too when torch is installed)

Two classifiers with the lecture's shape, a batch of 256 windows, float64, timed in one run:
- the NER classifier, 250 → 100 → 5 (issue 16's workload): its per-example gradients of W₁ alone are
  256 × 100 × 250 numbers, 51 MB, so every way of computing them is bound by writing that memory;
- a small window classifier, 20 → 8 → 5: 256 × 8 × 20 numbers, where the cost is the calls, not the memory.

Steps, each for the same batch:
- ``batched backward``: one ordinary forward and backward pass of the mean loss (the batch's gradient only);
- ``vmap(grad)``: the per-example gradients, one vectorized pass;
- ``loop of grad``: a Python loop of 256 ``mg.grad`` calls, the same gradients;
- ``torch.func vmap(grad)``: ``torch.func.vmap(torch.func.grad(loss))`` on the same values (one thread).
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.benchmark import compare
from minigrad.nn import functional as F

BATCH, CLASSES = 256, 5
WORKLOADS = {"NER classifier 250 → 100 → 5": (250, 100), "window classifier 20 → 8 → 5": (20, 8)}
EVERY = (0, 1, 2, 3)


def _problem(window: int, hidden: int, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    shapes = ((hidden, window), (hidden,), (CLASSES, hidden), (CLASSES,))
    params = [rng.standard_normal(s) * 0.1 for s in shapes]
    return params, rng.standard_normal((BATCH, window)), rng.integers(0, CLASSES, BATCH)


def loss(W1, b1, W2, b2, x, y):
    """The cross-entropy of one example: x a window vector, y its class (the lecture's W x + b)."""
    return F.cross_entropy(W2 @ mg.tanh(W1 @ x + b1) + b2, y)


def batch_loss(W1, b1, W2, b2, xs, ys):
    """The mean cross-entropy of a batch: the rows of xs and the entries of ys are the examples."""
    return F.cross_entropy(mg.tanh(xs @ W1.T + b1) @ W2.T + b2, ys)


per_example = mg.vmap(mg.grad(loss, argnums=EVERY), in_axes=(None, None, None, None, 0, 0))


def steps(params: list, xs: np.ndarray, ys: np.ndarray) -> dict:
    tensors = [mg.tensor(p, requires_grad=True) for p in params]
    one = mg.grad(loss, argnums=EVERY)

    def batched_backward():
        for t in tensors:
            t.grad = None
        batch_loss(*tensors, mg.tensor(xs), ys).backward()
        return [t.grad for t in tensors]

    found = {
        "batched backward": batched_backward,
        "vmap(grad)": lambda: per_example(*params, xs, ys),
        "loop of grad": lambda: [one(*params, mg.tensor(x), y) for x, y in zip(xs, ys)],
    }
    torch_step = _torch_step(params, xs, ys)
    if torch_step is not None:
        found["torch.func vmap(grad)"] = torch_step
    return found


def _torch_step(params: list, xs: np.ndarray, ys: np.ndarray):
    try:
        import torch
        from torch.func import grad, vmap
    except ImportError:
        return None
    torch.set_num_threads(1)

    def torch_loss(W1, b1, W2, b2, x, y):
        logits = W2 @ torch.tanh(W1 @ x + b1) + b2
        return torch.nn.functional.cross_entropy(logits[None], y[None])

    tp = [torch.tensor(p) for p in params]
    tx, ty = torch.tensor(xs), torch.tensor(ys)
    vectorized = vmap(grad(torch_loss, argnums=EVERY), in_dims=(None, None, None, None, 0, 0))
    return lambda: vectorized(*tp, tx, ty)


def largest_difference(params: list, xs: np.ndarray, ys: np.ndarray) -> float:
    """The largest difference between vmap(grad)'s gradients and the loop's, over a sample of examples."""
    got = per_example(*params, xs, ys)
    worst = 0.0
    for i in range(0, BATCH, 37):
        want = mg.grad(loss, argnums=EVERY)(*params, mg.tensor(xs[i]), ys[i])
        worst = max(worst, *(float(np.abs(g.data[i] - w.data).max()) for g, w in zip(got, want)))
    return worst


def main() -> None:
    for name, (window, hidden) in WORKLOADS.items():
        params, xs, ys = _problem(window, hidden)
        print(f"\nper-example gradients: {name}, batch {BATCH}, float64")
        print(f"largest difference from the loop: {largest_difference(params, xs, ys):.1e}")
        result = compare(steps(params, xs, ys), rounds=9, reference="vmap(grad)")
        print(result)
        t = {k: v.median_s for k, v in result.timings.items()}
        print(
            f"vmap(grad) / batched backward: {t['vmap(grad)'] / t['batched backward']:.1f}x; "
            f"loop of grad / vmap(grad): {t['loop of grad'] / t['vmap(grad)']:.1f}x"
        )


if __name__ == "__main__":
    main()
