"""Batching sibling subgraphs: the same operations applied to different inputs become one operation on both.

The window scorer scores a true window and a corrupted one with the same W, b, u:

    s = uᵀ tanh(W x + b),   s_c = uᵀ tanh(W x_c + b).

At batch 1 each of these NumPy calls costs its set-up, not its arithmetic, so computing both at once on
the rows of [x; x_c] halves the calls of the forward, and the backward follows: one outer product, one
f′(z), one Σ δ xᵀ for both (the two gradients of W summed by the product itself).

A *pair* is two graph nodes (n₀ created before n₁) with the same primitive, shape and dtype, whose
arguments position by position are either

- shared: the same array (and parent) or the same Python value,
- stacked: n₀'s from member 0 and n₁'s from member 1 of one earlier pair,
- seeds: two arrays outside the graph (inputs, constants) of one shape and dtype, stacked by the replay, or
- joined: two tensors that require grad, of one shape and dtype, joined by a ``concatenate`` node (whose
  rule hands each its rows of the gradient),

with at least one argument that differs, and n₁ not computed from n₀. The pair becomes a node N on the
rows of both (its data are ``concatenate((n₀, n₁))``) and two ``getitem`` nodes N[:L], N[L:] that stand
for n₀ and n₁ (their data are the same arrays, so the replay names them as before). Only operations for
which computing on the stacked rows is the same arithmetic are paired: elementwise primitives whose
differing operands have the result's shape and whose shared operands broadcast over the rows (fewer axes,
or a leading axis of 1), and ``matmul`` with a differing first operand of 2 or more axes against a shared
matrix or vector. Pairs are kept only in groups of at least ``_MIN_PAIRS`` connected pairs (fewer would
not pay for the stacking) and for members and differing operands of at most ``_MAX_SIZE`` numbers (a large
batch pays for its arithmetic, not for calls; stacking would only copy). The result: the same values;
gradients summed in another order.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from ..registry import elementwise_names
from ..tensor import Tensor, creation_ids, new_tensor
from .trace import Recorder

_MIN_PAIRS = 3
_MAX_SIZE = 4096
_CANDIDATES = 16  # the latest unpaired nodes of one operation, shape and dtype that a new node is matched with


def batch_siblings(nodes: list[Tensor], recorder: Recorder) -> tuple[list[Tensor], dict[int, Tensor], dict]:
    """The graph of ``nodes`` with its sibling pairs batched (see the module docstring).

    Returns the new nodes, the map from id(old node) to the node that stands for it, and the map
    from id(member node) to (stacked node, member index) that ``Builder.backward`` needs.
    """
    order = sorted(nodes, key=lambda n: n._id)
    same = _common(order)
    group_of: dict[int, tuple[int, int]] = {}  # id(node) -> (pair, member)
    pairs: list[tuple[Tensor, Tensor, list]] = []
    waiting: dict[tuple, list[Tensor]] = {}
    batched = elementwise_names() | {"matmul"}
    for n in order:
        if n._op not in batched or not 0 < n._data.ndim or n._data.size > _MAX_SIZE:
            continue
        bucket = waiting.setdefault((n._op, n._data.shape, n._data.dtype.str), [])
        above = _ancestors(n, min((m._id for m in bucket), default=n._id))  # n is not paired with what it uses
        found = [(m, spec) for m in bucket if id(m) not in above and (spec := _match(m, n, group_of, same))]
        if not found:
            bucket.append(n)
            if len(bucket) > _CANDIDATES:  # (a long chain of one operation would otherwise cost n² matches)
                del bucket[0]
            continue
        m, spec = next((f for f in found if any(s[0] == "stacked" for s in f[1])), found[0])  # extend a chain first
        bucket[:] = [t for t in bucket if t is not m]  # (by identity: == on tensors compares values)
        group_of[id(m)], group_of[id(n)] = (len(pairs), 0), (len(pairs), 1)
        pairs.append((m, n, spec))
    keep = _connected_enough(pairs)
    if not keep:
        return nodes, {}, {}
    return _rewrite(nodes, [pairs[k] if k in keep else None for k in range(len(pairs))], group_of, recorder)


def _common(order: list[Tensor]) -> dict[int, Tensor]:
    """id(node) -> the first node computing the same primitive of the same arguments (``W.T`` twice: once)."""
    first: dict[tuple, Tensor] = {}
    same: dict[int, Tensor] = {}
    for n in order:
        if n._op is None:
            continue
        key = (n._op,) + tuple(
            ("node", id(same[id(p)])) if p is not None and id(p) in same
            else ("leaf", id(p)) if p is not None
            else ("array", id(x)) if isinstance(x, np.ndarray)
            else ("value", type(x).__name__, repr(x))
            for x, p in zip(n._args, _parent_per_arg(n))
        )  # fmt: skip
        same[id(n)] = first.setdefault(key, n)
    return same


def _match(m: Tensor, n: Tensor, group_of: dict[int, tuple[int, int]], same: dict[int, Tensor]) -> list | None:
    """How the arguments of ``m`` and ``n`` pair up, position by position, or None if they do not."""
    if len(m._args) != len(n._args):
        return None
    spec: list[tuple] = []
    for x, y, p, q in zip(m._args, n._args, _parent_per_arg(m), _parent_per_arg(n)):
        if p is None and q is None and x is y or p is not None and same.get(id(p), p) is same.get(id(q), q):
            spec.append(("shared",))
        elif p is not None and q is not None:
            gp, gq = group_of.get(id(p)), group_of.get(id(q))
            if gp is not None and gq is not None and gp[0] == gq[0] and (gp[1], gq[1]) == (0, 1):
                spec.append(("stacked", gp[0]))
            elif x.shape == y.shape and x.dtype == y.dtype:
                spec.append(("joined",))  # two tensors that require grad: joined by a concatenate node
            else:
                return None
        elif p is None and q is None and isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
            if x.shape != y.shape or x.dtype != y.dtype:
                return None
            spec.append(("seed",))
        elif p is None and q is None and not isinstance(x, np.ndarray) and type(x) is type(y) and x == y:
            spec.append(("shared",))
        else:
            return None
    varying = [k for k, s in enumerate(spec) if s[0] != "shared"]
    if not varying or any(np.size(n._args[k]) > _MAX_SIZE for k in varying):  # (large inputs: stacking copies)
        return None
    out = n._data.shape
    if n._op == "matmul":
        a, b = n._args
        return spec if varying == [0] and a.ndim >= 2 and isinstance(b, np.ndarray) and b.ndim in (1, 2) else None
    for k, x in enumerate(n._args):  # elementwise: the rows of the result are the rows of the differing operands
        if k in varying and np.shape(x) != out:
            return None
        if k not in varying and isinstance(x, np.ndarray) and x.ndim == len(out) and x.shape[0] != 1:
            return None
    return spec


def _ancestors(t: Tensor, lowest: int) -> set[int]:
    """Ids of the nodes ``t`` is computed from, among those made at or after creation id ``lowest``."""
    stack, seen = [p for p in t._parents if p is not None], set()
    while stack:
        x = stack.pop()
        if id(x) in seen or x._id < lowest:
            continue
        seen.add(id(x))
        stack.extend(p for p in (x._parents or ()) if p is not None)
    return seen


def _connected_enough(pairs: list[tuple[Tensor, Tensor, list]]) -> set[int]:
    """The pairs in groups of at least ``_MIN_PAIRS`` pairs linked through stacked arguments."""
    root = list(range(len(pairs)))

    def find(k: int) -> int:
        while root[k] != k:
            root[k] = root[root[k]]
            k = root[k]
        return k

    for k, (_, _, spec) in enumerate(pairs):
        for s in spec:
            if s[0] == "stacked":
                root[find(k)] = find(s[1])
    sizes: dict[int, int] = {}
    for k in range(len(pairs)):
        sizes[find(k)] = sizes.get(find(k), 0) + 1
    return {k for k in range(len(pairs)) if sizes[find(k)] >= _MIN_PAIRS}


def _node(op: str, data: np.ndarray, args: tuple, parents: tuple) -> Tensor:
    t = new_tensor(Tensor)  # (not recording.record: these nodes exist for the replay only, never for eager backward)
    t._data, t.grad, t._rg, t._op, t._args, t._parents, t._id = data, None, True, op, args, parents, -1
    t._saved, t._held, t._links = None, 0, None  # (holds nothing: see minigrad.guard)
    return t


def _rewrite(nodes: list[Tensor], pairs: list, group_of: dict, recorder: Recorder) -> tuple:
    """The graph of ``nodes`` with each kept pair (the others are None) computed as one stacked node."""
    kept = {id(m) for pair in pairs if pair is not None for m in pair[:2]}
    inner = sorted((t for t in nodes if t._op is not None), key=lambda t: t._id)
    graph = _Stacking(pairs, recorder)
    for old in inner:  # first every new node, so that each old one has its stand-in; then their arguments
        if id(old) not in kept:
            graph.copy(old)
        elif group_of[id(old)][1] == 1:
            graph.stack(group_of[id(old)][0])
    for old in inner:
        if id(old) not in kept:
            graph.stand[id(old)]._parents = tuple(graph.mapped(p) for p in old._parents)
    for k, big in graph.stacked.items():
        graph.link(k, big)
    new_nodes = [t for t in nodes if t._op is None] + list({id(t): t for t in graph.stand.values()}.values())
    new_nodes += list(graph.stacked.values()) + list(graph.joined.values())
    if not _renumber(new_nodes, graph.time):
        return nodes, {}, {}  # (cannot happen for pairs as matched; kept as a guard against a cycle)
    return new_nodes, graph.stand, graph.unstack


class _Stacking:
    """The nodes of the rewritten graph, made by ``_rewrite`` in two rounds: the nodes, then their arguments."""

    def __init__(self, pairs: list, recorder: Recorder) -> None:
        self.pairs, self.recorder = pairs, recorder
        self.stand: dict[int, Tensor] = {}  # id(old node) -> the node that stands for it
        self.stacked: dict[int, Tensor] = {}  # pair index -> N
        self.unstack: dict[int, tuple[Tensor, int]] = {}  # id(getitem stand-in) -> (N, member index)
        self.time: dict[int, tuple] = {}  # id(new node) -> its place in the order: (creation id of the old, rank)
        self.joined: dict[tuple[int, int], Tensor] = {}  # (id(x), id(y)) -> the concatenate node of x and y
        self.seeds: dict[tuple[int, int], np.ndarray] = {}  # (id(x), id(y)) -> x and y stacked by the replay

    def copy(self, old: Tensor) -> None:
        """A node not paired: a copy of ``old``, whose parents are mapped to their stand-ins later."""
        self.stand[id(old)] = new = _node(old._op, old._data, old._args, old._parents)
        self.time[id(new)] = (old._id, 0)

    def stack(self, k: int) -> None:
        """The stacked node N of pair ``k`` (without its arguments yet) and the getitem nodes N[:L], N[L:]."""
        m, n, _ = self.pairs[k]
        self.stacked[k] = big = _node(m._op, np.concatenate((m._data, n._data)), (), ())
        self.time[id(big)] = (n._id, 0)
        rows = m._data.shape[0]
        for j, member in enumerate((m, n)):
            part = _node("getitem", member._data, (big._data, slice(j * rows, (j + 1) * rows)), (big,))
            self.stand[id(member)], self.time[id(part)], self.unstack[id(part)] = part, (n._id, 1 + j), (big, j)

    def mapped(self, p: Any) -> Any:
        return None if p is None else self.stand.get(id(p), p)

    def link(self, k: int, big: Tensor) -> None:
        """The arguments and parents of the stacked node ``big`` of pair ``k``, position by position."""
        m, n, spec = self.pairs[k]
        args, parents = [], []
        for s, x, y, p, q in zip(spec, m._args, n._args, _parent_per_arg(m), _parent_per_arg(n)):
            if s[0] == "shared":
                args.append(x)
                parents.append(self.mapped(p))
            elif s[0] == "stacked":
                args.append(self.stacked[s[1]]._data)
                parents.append(self.stacked[s[1]])
            elif s[0] == "joined":
                node = self.join(x, y, p, q, n._id)
                args.append(node._data)
                parents.append(node)
            else:
                args.append(self.seed(x, y))
                parents.append(None)
        big._args, big._parents = tuple(args), tuple(parents)

    def join(self, x: np.ndarray, y: np.ndarray, p: Tensor, q: Tensor, when: int) -> Tensor:
        """The ``concatenate`` node of the tensors ``p`` and ``q`` (of data ``x``, ``y``), made once."""
        key = (id(x), id(y))
        if key not in self.joined:
            both = np.concatenate((x, y))
            self.joined[key] = _node("concatenate", both, (x, y, 0), (self.mapped(p), self.mapped(q)))
            self.time[id(self.joined[key])] = (when, -1)
        return self.joined[key]

    def seed(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The arrays ``x`` and ``y`` from outside the graph stacked, made once; the replay stacks them anew."""
        if (id(x), id(y)) not in self.seeds:
            self.seeds[id(x), id(y)] = both = np.concatenate((x, y))
            self.recorder.recipes[id(both)] = (np.concatenate, ((x, y),))
            self.recorder.keep.append(both)
        return self.seeds[id(x), id(y)]


def _parent_per_arg(t: Tensor) -> tuple:
    """The parents of ``t`` position by position with its arguments (None after the last parent)."""
    return tuple(t._parents) + (None,) * (len(t._args) - len(t._parents))


def _renumber(nodes: list[Tensor], time: dict[int, tuple]) -> bool:
    """Give the non-leaf nodes new creation ids in an order where parents come first (False on a cycle)."""
    inner = [t for t in nodes if t._op is not None]
    waiting = {id(t): len({id(p) for p in t._parents if p is not None and id(p) in time}) for t in inner}
    children: dict[int, list[Tensor]] = {}
    for t in inner:
        for p in {id(p): p for p in t._parents if p is not None}.values():
            if id(p) in time:
                children.setdefault(id(p), []).append(t)
    heap = [(time[id(t)], k, t) for k, t in enumerate(inner) if waiting[id(t)] == 0]
    heapq.heapify(heap)
    done = 0
    while heap:
        _, _, t = heapq.heappop(heap)
        t._id = next(creation_ids)
        done += 1
        for c in children.get(id(t), []):
            waiting[id(c)] -= 1
            if waiting[id(c)] == 0:
                heapq.heappush(heap, (time[id(c)], id(c), c))
    return done == len(inner)
