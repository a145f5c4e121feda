"""The backward engine: one walk over the graph in reverse topological order, without recursion.

Every node gets a creation id larger than its parents' ids, so visiting the reached nodes from the
largest id down visits every node after all of its consumers: a heap of ids is a topological order
that is built while walking. A node's gradient is complete when it leaves the heap; it is then
handed to its parents through the rules in ``minigrad.registry.PRIMITIVES`` (``parent_gradient``) and dropped.
"""

from __future__ import annotations

from heapq import heappop, heappush
from threading import Lock, get_ident
from typing import Any

import numpy as np

from .anomaly import AnomalyError, backward_anomaly, check_backward
from .anomaly import _on as _anomaly
from .grad_mode import set_grad_enabled
from .guard import SELF_ONLY, release_node
from .hooks import active as hooked
from .hooks import has_hooks
from .hooks import run as run_hooks
from .registry import PRIMITIVES, UNARY
from .tensor import Tensor

_accumulating = Lock()  # two threads' backward() into a shared leaf would otherwise lose updates


def unbroadcast(g: Any, shape: tuple) -> Any:
    """Sum ``g`` over the axes that broadcasting added (leading) or stretched (size 1 in ``shape``).

    The only place where broadcasting is undone: no rule sums over broadcast axes by itself.
    """
    lead = g.ndim - len(shape)
    if lead < 0:
        return g.reshape(shape)
    gshape = g.shape
    if lead == 1 and 1 not in shape:  # a bias: one leading axis, nothing stretched
        axes = (0,) if gshape[0] != 1 else ()
    else:
        # axes of length 1 in g need no sum (the reshape drops them)
        axes = tuple(i for i in range(lead) if gshape[i] != 1)
        axes += tuple(lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
    if axes:
        if axes == (0,) and g.ndim == 2 and gshape[0] >= 64 and type(g) is np.ndarray and g.dtype.kind == "f":
            g = np.ones(gshape[0], dtype=g.dtype) @ g  # 1ᵀG: BLAS sums many rows faster than sum(axis=0)
        else:
            g = g.sum(axis=axes)
    return g.reshape(shape)


def parent_gradient(node: Any, i: int, g: Any, ans: Any, args: tuple, parent: Any) -> Any:
    """Rule ``i`` of ``node`` applied to ``g`` (on arrays, or on Tensors when recording), fitted to ``parent``:
    the gradient that flows to it.

    ``ans`` and ``args`` are what the rule takes: the node's value and arguments (arrays), or for a
    recorded backward the node and its arguments with the parents in place of their arrays.
    """
    primitive = PRIMITIVES[node._op]
    pg = primitive.vjps[i](g, ans, *args)
    return pg if primitive.kind == UNARY else fit(pg, parent)


def fit(pg: Any, parent: Any) -> Any:
    """A rule's result summed over the axes broadcasting added and cast to the parent's dtype. (The rules of
    unary elementwise primitives need neither: g ∘ f′(x) has the node's shape and dtype, which are x's.)"""
    if not isinstance(pg, (np.ndarray, Tensor)):
        pg = np.asarray(pg)
    pdata = parent._data
    if pg.shape != pdata.shape:
        pg = unbroadcast(pg, pdata.shape)
    if pg.dtype != pdata.dtype:
        pg = pg.astype(pdata.dtype)
    return pg


def _freed(node: Tensor) -> RuntimeError:
    return RuntimeError(
        f"backward: the graph through '{node._op}' (shape {node.data.shape}) was already freed by an earlier "
        "backward; pass retain_graph=True to the first backward to go through it twice"
    )


def _seed(root: Tensor, gradient: Any, create_graph: bool) -> Any:
    """The gradient of the root itself, checked against its shape."""
    if not root._rg:
        raise RuntimeError("backward: this tensor does not require grad and has no grad_fn, so nothing to do")
    shape = root._data.shape
    if gradient is None:
        if root._data.size != 1:
            raise RuntimeError(
                f"backward: the output has shape {shape}; backward() without a gradient needs a scalar "
                "(pass gradient= of that shape, or reduce the output first, e.g. .sum())"
            )
        g = np.array(1, dtype=root._data.dtype) if shape == () else np.ones(shape, dtype=root._data.dtype)
    else:
        value = gradient._data if isinstance(gradient, Tensor) else gradient
        if np.iscomplexobj(value):
            raise TypeError("backward: the gradient is complex; minigrad is real-valued (its imaginary part is lost)")
        if np.shape(value) != shape:
            raise ValueError(f"backward: gradient has shape {np.shape(value)} but the output has shape {shape}")
        if create_graph and isinstance(gradient, Tensor):  # (in the output's dtype, as every gradient is)
            return gradient if value.dtype == root._data.dtype else gradient.astype(root._data.dtype)
        g = np.array(value, dtype=root._data.dtype)  # a copy: never alias the caller's array
    return Tensor(g) if create_graph else g


def backward(root: Tensor, gradient: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    With ``create_graph=True`` the backward pass is itself recorded (the rules run on Tensors) and
    ``leaf.grad`` is a Tensor carrying that graph, as in PyTorch: ``leaf.grad.sum().backward()`` then
    adds the second derivative into ``leaf.grad`` (clear it first with ``leaf.grad = None``). The
    graph is kept, as if ``retain_graph=True``.

    Each leaf's gradient is added into ``leaf.grad`` as the walk makes it (part by part for a leaf used
    several times), so a backward pass that raises midway (a freed graph, ``detect_anomaly``) leaves the parts
    already added, as PyTorch does.
    """
    g = _seed(root, gradient, create_graph)
    if not create_graph:  # each leaf's gradient goes into .grad as soon as it is complete (see _IntoGrad)
        _walk(root, g, retain_graph, None, _IntoGrad())
        return
    into = _IntoGrad()
    for leaf, grad in backward_pass(root, g, True, True, None).items():
        into[leaf] = grad


class _IntoGrad(dict):
    """Where backward's walk puts each leaf's gradient: into ``leaf.grad`` at once, not held until the walk ends
    (a deep network's weight gradients are as large as its activations), as PyTorch's AccumulateGrad does."""

    def __setitem__(self, leaf: Tensor, grad: Any) -> None:
        with _accumulating:  # NumPy lets other threads run during a large addition: one .grad update at a time
            # (the slot itself: the engine made grad of the leaf's shape and dtype, which .grad = checks for users)
            total = grad if leaf._grad is None else leaf._grad + grad
            leaf._grad = total if isinstance(total, (np.ndarray, Tensor)) else np.asarray(total)  # (0-d + 0-d)


def backward_pass(root: Tensor, g: Any, retain_graph: bool, create_graph: bool, inputs: Any) -> dict:
    """Push ``g`` from ``root`` down the graph; return the gradients it reaches.

    With ``inputs`` None the result holds every leaf that requires grad, else just the tensors in
    ``inputs`` (leaves or not). Arrays with ``create_graph`` False, Tensors (recorded) with it True.
    """
    if create_graph:
        with set_grad_enabled(True):
            return _walk_recorded(root, g, inputs)
    return _walk(root, g, retain_graph, inputs)


def _walk(root: Tensor, g: Any, retain_graph: bool, inputs: Any, found: Any = None) -> dict:
    """The walk on arrays: pop the node with the largest id, hand its gradient to its parents, repeat. The
    gradients it reaches are put in ``found`` (a new dict, or backward's ``_IntoGrad``)."""
    wanted = None if inputs is None else set(inputs)
    check = bool(_anomaly) and get_ident() in _anomaly  # detect_anomaly: every rule's result is checked
    grads = {root: g}
    owned: set = set()  # nodes whose gradient array this walk made by an addition: safe to add into
    handed: set = set()  # ids of the arrays returned, so that no two results share memory
    found = {} if found is None else found
    into_grad = type(found) is _IntoGrad  # backward(): the leaves' gradients go into .grad as they come
    heap = [(-root._id, root)]
    push, primitives = heappush, PRIMITIVES  # (locals: the loop below reads them once per node)
    while heap:
        node = heappop(heap)[1]
        g = grads.pop(node)
        while node is not None:  # the inner loop follows a chain of single parents without the heap
            if hooked[0] and has_hooks(node):  # its gradient is complete: t.register_hook's functions see it
                g = run_hooks(node, g)
            op = node._op
            if wanted is not None and node in wanted:
                found[node] = _own(g, node in owned, handed)
                if len(found) == len(wanted):  # every wanted gradient is complete: the rest is not needed
                    return found
                if op is None:
                    break
            elif op is None:  # a leaf
                if wanted is None:
                    found[node] = _own(g, node in owned, handed)
                break
            parents = node._parents
            if parents is None:
                raise _freed(node)
            follow = None
            primitive = primitives[op]  # (parent_gradient, written out: this loop runs once per edge)
            rules = primitive.vjps
            fitted = primitive.kind is UNARY  # (``is``: were it ever False for a unary one, fit() would do nothing)
            ans = node._data
            args = node._args
            n_args = len(args)
            n_parents = len(parents)
            for i, parent in enumerate(parents):
                if parent is None:
                    continue
                if n_args == 1:  # (most rules take one or two arguments: a call with *args builds a tuple)
                    pg = rules[i](g, ans, args[0])
                elif n_args == 2:
                    pg = rules[i](g, ans, args[0], args[1])
                else:
                    pg = rules[i](g, ans, *args)
                if not fitted:
                    pdata = parent._data  # (``is`` first: comparing two dtypes by value costs more than a rule)
                    if pg.shape != pdata.shape or pg.dtype is not pdata.dtype and pg.dtype != pdata.dtype:
                        pg = fit(pg, parent)
                if check:
                    check_backward(node, i, g, pg)
                if into_grad and parent._op is None and not (hooked[0] and has_hooks(parent)):
                    # a leaf (no hook to see its whole gradient): each part goes into .grad now, so that the
                    # walk does not hold the parameters' gradients until it reaches them, last (lowest ids)
                    found[parent] = pg if parent._grad is not None else _own(pg, False, handed)  # (a sum: new)
                elif n_parents == 1 and not heap:
                    # The only parent, and no other node is waiting (so none holds a gradient): every
                    # consumer of the parent that the walk can reach has a larger id, so it would be
                    # waiting. The parent's gradient is complete: go straight on to it.
                    follow = parent
                elif parent not in grads:
                    grads[parent] = pg
                    push(heap, (-parent._id, parent))
                elif parent in owned:
                    grads[parent] += pg
                else:  # copy on first accumulation: the first gradient may be shared (add hands g to both)
                    grads[parent] = grads[parent] + pg
                    owned.add(parent)
            if not retain_graph:
                node._args = node._parents = None
                saved = node._saved  # what its rules read may be written again
                if saved is SELF_ONLY:  # (the commonest case, tanh, exp..., without the call)
                    node._saved = None
                    node._held -= 1
                elif saved is not None:
                    release_node(node)
            node = follow
            g = pg
    return found


def _walk_recorded(root: Tensor, g: Tensor, inputs: Any) -> dict:
    """The walk on Tensors: the rules record the backward pass, for a higher derivative.

    With ``inputs`` the walk stops as soon as every wanted tensor has left the heap (its gradient is
    complete then): a transform asking for d(root)/d(x) never walks the graph that made x, which
    forward mode relies on to keep the cost of each of its small backward passes independent of
    the size of the graph around it.
    """
    wanted = None if inputs is None else set(inputs)
    check = bool(_anomaly) and get_ident() in _anomaly
    grads = {root: g}
    found: dict = {}
    heap = [(-root._id, root)]
    while heap:
        node = heappop(heap)[1]
        g = grads.pop(node)
        if hooked[0] and has_hooks(node):
            g = run_hooks(node, g)
        if node._op is None if wanted is None else node in wanted:
            found[node] = g
            if wanted is not None and len(found) == len(wanted):
                break
        if node._op is None:
            continue
        if node._parents is None:
            raise _freed(node)
        args = recorded_args(node)
        for i, parent in enumerate(node._parents):
            if parent is None:
                continue
            try:
                pg = parent_gradient(node, i, g, node, args, parent)
            except AnomalyError as e:  # an op of the rule, recorded in anomaly mode, made the NaN/Inf
                raise backward_anomaly(node, i, e) from None
            if not isinstance(pg, Tensor):
                pg = Tensor(pg)
            if check:
                check_backward(node, i, g, pg)
            if parent in grads:
                grads[parent] = grads[parent] + pg
            else:
                grads[parent] = pg
                heappush(heap, (-parent._id, parent))
    return found


def recorded_args(node: Tensor) -> tuple:
    """The node's arguments with its parents in place of their arrays: what its rules take to be recorded."""
    args = list(node._args)
    for i, parent in enumerate(node._parents):
        if parent is not None:
            args[i] = parent
    return tuple(args)


def _own(g: Any, owned: bool, handed: set) -> np.ndarray:
    """``g`` as a gradient that shares memory with no other result of this walk."""
    if type(g) is not np.ndarray:
        g = np.asarray(g)
    elif not owned and (g.base is not None or id(g) in handed or not g.flags.writeable):
        g = g.copy()
    handed.add(id(g))
    return g
