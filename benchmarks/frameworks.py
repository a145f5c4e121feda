"""How each framework runs one forward+backward step of a case.

``STEPS[name](case)`` returns ``(step, to_numpy)``: ``step()`` does one forward+backward pass and
returns ``(loss, grads)`` in the framework's own types, ``to_numpy`` turns that into
``(float, {name: ndarray})`` for the agreement check (outside the timed region).

- minigrad: public API only; leaves made once with ``requires_grad``, ``.grad`` cleared each step.
  Cross-entropy is ``minigrad.nn.functional.cross_entropy`` when that exists, else the composite
  ``-log_softmax(logits)[rows, y].mean()``.
- numpy: the hand-written reference of ``benchmarks.numpy_hand``.
- torch (eager), mygrad: the same tape-based pattern as minigrad, with their own cross-entropy.
- jax: ``jax.jit(jax.value_and_grad(loss))``, float64 through ``jax_enable_x64``: compiled, not eager.
- autograd (HIPS): ``autograd.value_and_grad(loss)``, re-tracing every call as it always does.
A peer whose package is missing raises ``ImportError``; the runner skips it with a note.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import numpy_hand
from .workloads import Case

Step = Callable[[], Any]


def _is_float(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


# -- tape-based: leaves with requires_grad, loss.backward(), read .grad -----------------------------
def _tape_step(case: Case, ops: Any, leaf: Callable, const: Callable, clear: Callable, grad: Callable) -> tuple:
    leaves = {k: leaf(v) for k, v in case.wrt.items()}
    consts = {k: const(v) for k, v in case.const.items()}
    loss_fn = case.loss

    def step() -> tuple:
        for t in leaves.values():
            clear(t)
        loss = loss_fn(ops, leaves, consts)
        loss.backward()
        return loss, {k: grad(t) for k, t in leaves.items()}

    return step


def minigrad_cross_entropy() -> str:
    """Which cross-entropy the minigrad runs use."""
    try:
        from minigrad.nn.functional import cross_entropy  # noqa: F401
    except ImportError:
        return "composite: -log_softmax(logits)[rows, y].mean()"
    return "minigrad.nn.functional.cross_entropy"


def minigrad_step(case: Case) -> tuple[Step, Callable]:
    import minigrad as mg

    try:
        from minigrad.nn.functional import cross_entropy
    except ImportError:

        def cross_entropy(logits: Any, y: np.ndarray) -> Any:
            return -(mg.log_softmax(logits, axis=-1)[np.arange(len(y)), y]).mean()

    ops = SimpleNamespace(tanh=mg.tanh, sin=mg.sin, relu=mg.relu, cross_entropy=cross_entropy)

    def clear(t: Any) -> None:
        t.grad = None

    step = _tape_step(
        case,
        ops,
        leaf=lambda a: mg.tensor(a, requires_grad=True),
        const=lambda a: mg.tensor(a) if _is_float(a) else a,  # an ndarray operand would go through dispatch
        clear=clear,
        grad=lambda t: t.grad,
    )
    return step, lambda out: (float(out[0].item()), out[1])


def numpy_step(case: Case) -> tuple[Step, Callable]:
    return numpy_hand.make_step(case), lambda out: (float(out[0]), out[1])


def torch_step(case: Case) -> tuple[Step, Callable]:
    import torch
    import torch.nn.functional as F

    if os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

    ops = SimpleNamespace(tanh=torch.tanh, sin=torch.sin, relu=torch.relu, cross_entropy=F.cross_entropy)

    def clear(t: Any) -> None:
        t.grad = None

    step = _tape_step(
        case,
        ops,
        leaf=lambda a: torch.from_numpy(a.copy()).requires_grad_(True),
        const=lambda a: torch.from_numpy(a.copy()),
        clear=clear,
        grad=lambda t: t.grad,
    )
    return step, lambda out: (float(out[0].item()), {k: g.numpy() for k, g in out[1].items()})


def mygrad_step(case: Case) -> tuple[Step, Callable]:
    import mygrad
    from mygrad.nnet.activations import relu
    from mygrad.nnet.losses import softmax_crossentropy

    ops = SimpleNamespace(tanh=mygrad.tanh, sin=mygrad.sin, relu=relu, cross_entropy=softmax_crossentropy)
    step = _tape_step(
        case,
        ops,
        leaf=lambda a: mygrad.tensor(a.copy()),
        const=lambda a: mygrad.tensor(a, constant=True) if _is_float(a) else a,
        clear=lambda t: None,  # MyGrad's backward sets .grad afresh rather than accumulating
        grad=lambda t: t.grad,
    )
    return step, lambda out: (float(out[0].item()), out[1])


# -- functional: value_and_grad of the loss as a function of the dict of arrays ---------------------
def jax_step(case: Case) -> tuple[Step, Callable]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def cross_entropy(logits: Any, y: Any) -> Any:
        return -jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), y[:, None], axis=1).mean()

    ops = SimpleNamespace(tanh=jnp.tanh, sin=jnp.sin, relu=jax.nn.relu, cross_entropy=cross_entropy)
    loss_fn = case.loss
    f = jax.jit(jax.value_and_grad(lambda p, c: loss_fn(ops, p, c)))
    params = {k: jnp.asarray(v) for k, v in case.wrt.items()}
    consts = {k: jnp.asarray(v) for k, v in case.const.items()}

    def step() -> Any:
        return jax.block_until_ready(f(params, consts))

    return step, lambda out: (float(out[0]), {k: np.asarray(g) for k, g in out[1].items()})


def autograd_step(case: Case) -> tuple[Step, Callable]:
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    def cross_entropy(logits: Any, y: np.ndarray) -> Any:
        logp = logits - logsumexp(logits, axis=1, keepdims=True)
        return -anp.mean(logp[np.arange(len(y)), y])

    def relu(x: Any) -> Any:
        return anp.maximum(x, 0.0)

    ops = SimpleNamespace(tanh=anp.tanh, sin=anp.sin, relu=relu, cross_entropy=cross_entropy)
    loss_fn = case.loss
    f = autograd.value_and_grad(lambda p, c: loss_fn(ops, p, c))
    params, consts = dict(case.wrt), dict(case.const)
    return (lambda: f(params, consts)), lambda out: (float(out[0]), out[1])


STEPS: dict[str, Callable[[Case], tuple[Step, Callable]]] = {
    "numpy": numpy_step,
    "minigrad": minigrad_step,
    "torch": torch_step,
    "jax": jax_step,
    "autograd": autograd_step,
    "mygrad": mygrad_step,
}
TRACEABLE = ("numpy", "minigrad", "autograd", "mygrad")  # allocate through NumPy: tracemalloc sees them
