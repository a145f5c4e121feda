"""Trees of tensors: arguments and results that are tuples, lists or dicts of tensors (a model's parameters).

``mg.vmap`` maps over the tensors of a tree, and ``mg.grad`` differentiates by every tensor of a tree
argument, giving a tree of gradients of the same structure (``torch.func.grad`` and ``jax.grad`` do the
same), so that ``grad(loss)(dict(model.named_parameters()), x, y)`` is a dict of gradients by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

BRANCHES = (tuple, list, dict)


def leaves(tree: Any, prefix: tuple = ()) -> list:
    """(path, leaf) for each tensor, array or number of a tuple/list/dict tree, in order."""
    if isinstance(tree, (tuple, list)):
        return [pair for i, t in enumerate(tree) for pair in leaves(t, prefix + (i,))]
    if isinstance(tree, dict):
        return [pair for k, t in tree.items() for pair in leaves(t, prefix + (k,))]
    return [(prefix, tree)]


def map_leaves(tree: Any, fn: Callable, prefix: tuple = ()) -> Any:
    """The tree with each leaf replaced by ``fn(path, leaf)``."""
    if isinstance(tree, (tuple, list)):
        return type(tree)(map_leaves(t, fn, prefix + (i,)) for i, t in enumerate(tree))
    if isinstance(tree, dict):
        return {k: map_leaves(t, fn, prefix + (k,)) for k, t in tree.items()}
    return fn(prefix, tree)


def refill(tree: Any, values: Any) -> Any:
    """``tree`` with its leaves replaced, in order, by ``values``."""
    it = iter(values)
    return map_leaves(tree, lambda path, leaf: next(it))


def flatten_at(args: tuple, nums: tuple) -> tuple:
    """The arguments with the trees at positions ``nums`` spread into their leaves.

    Returns (flat arguments, the positions among them of what was at ``nums``, ``rebuild``: flat arguments
    -> the original arguments, ``regroup``: one result per flat position -> one per entry of ``nums``, a tree
    where the argument was one).
    """
    flat, spans = [], {}
    for i, a in enumerate(args):
        if i in nums and isinstance(a, BRANCHES):
            start = len(flat)
            flat.extend(leaf for _, leaf in leaves(a))
            spans[i] = tuple(range(start, len(flat)))
        else:
            flat.append(a)
            spans[i] = len(flat) - 1

    def rebuild(values: tuple) -> list:
        return [
            refill(a, (values[k] for k in spans[i])) if isinstance(spans[i], tuple) else values[spans[i]]
            for i, a in enumerate(args)
        ]

    positions = [k for i in nums for k in (spans[i] if isinstance(spans[i], tuple) else (spans[i],))]

    def regroup(results: tuple) -> list:
        at = dict(zip(positions, results))
        return [
            refill(args[i], (at[k] for k in spans[i])) if isinstance(spans[i], tuple) else at[spans[i]] for i in nums
        ]

    return flat, tuple(positions), rebuild, regroup
