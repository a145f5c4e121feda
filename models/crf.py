"""A linear-chain CRF over per-token scores: Collobert et al.'s sentence-level log-likelihood (SLL).

A tag path y₁…yₙ of a sentence scores s(y) = start[y₁] + Σₜ e[t, yₜ] + Σₜ A[yₜ₋₁, yₜ] + end[yₙ], with e the
network's emissions (its per-token logits) and A the transition scores. Training maximises
log p(y) = s(y) − log Z, log Z = log Σ_y' exp s(y') over every path, computed by the forward algorithm

    α₁ = start + e₁,   αₜ[j] = e[t, j] + logsumexp_i (αₜ₋₁[i] + A[i, j]),   log Z = logsumexp_j (αₙ[j] + end[j]).

Its gradient needs no hand-written forward-backward pass: backpropagation through this logsumexp recursion *is*
the backward pass, and ∂log Z/∂e[t, j] comes out as the marginal p(yₜ = j) (``tests/test_crf.py`` checks it
against enumeration). Decoding is Viterbi: the same recursion with max for logsumexp, in NumPy.

Constraints. With ``allowed`` (from ``bio_constraints``), forbidden transitions (O → I-X, B-X → I-Y, a sentence
that starts with I-X) get the score ``FORBIDDEN`` in the partition function and in Viterbi: they are enforced,
not learned, so a decoded path is always valid BIO. ``FORBIDDEN`` is finite (exp of it is 0 in float32 and
float64) so that no inf − inf can make a nan anywhere in the forward or backward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor, nn

FORBIDDEN = -1e4


def bio_constraints(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(allowed (L, L), start_allowed (L,)) of BIO: I-X only after B-X or I-X, and never first."""
    n = len(labels)
    allowed, start = np.ones((n, n), dtype=bool), np.ones(n, dtype=bool)
    for j, tag in enumerate(labels):
        if tag.startswith("I-"):
            start[j] = False
            allowed[:, j] = [prev in (f"B-{tag[2:]}", tag) for prev in labels]
    return allowed, start


def _check(op: str, emissions: Any, lengths: np.ndarray, n_labels: int) -> np.ndarray:
    shape = np.shape(emissions.data if isinstance(emissions, Tensor) else emissions)
    if len(shape) != 3 or shape[2] != n_labels:
        raise ValueError(f"{op}: emissions must be (sentences, time, {n_labels} labels), got shape {shape}")
    lengths = np.asarray(lengths)
    if lengths.shape != (shape[0],) or lengths.dtype.kind not in "iu":
        raise ValueError(f"{op}: lengths must be {shape[0]} integers (one per sentence), got {lengths.shape} "
                         f"of dtype {lengths.dtype}")  # fmt: skip
    if shape[0] and (lengths.min() < 1 or lengths.max() > shape[1]):
        bad = int(np.flatnonzero((lengths < 1) | (lengths > shape[1]))[0])
        raise ValueError(f"{op}: lengths[{bad}] = {lengths[bad]} is not in [1, {shape[1]}] (emissions {shape})")
    return lengths


class CRF(nn.Module):
    """Transition scores ``transitions[i, j]`` (tag i then tag j), ``start`` and ``end`` scores, all learned
    (zero at first); ``allowed``/``start_allowed`` (bool arrays, default all True) forbid some of them."""

    def __init__(self, n_labels: int, allowed: Any = None, start_allowed: Any = None, dtype: Any = np.float32):
        super().__init__()
        self.n_labels = n_labels
        self.transitions = nn.Parameter(np.zeros((n_labels, n_labels)), dtype=dtype)
        self.start = nn.Parameter(np.zeros(n_labels), dtype=dtype)
        self.end = nn.Parameter(np.zeros(n_labels), dtype=dtype)
        allowed = np.ones((n_labels, n_labels), bool) if allowed is None else np.asarray(allowed, bool)
        start_allowed = np.ones(n_labels, bool) if start_allowed is None else np.asarray(start_allowed, bool)
        if allowed.shape != (n_labels, n_labels) or start_allowed.shape != (n_labels,):
            raise ValueError(f"CRF: allowed must be ({n_labels}, {n_labels}) and start_allowed ({n_labels},), got "
                             f"{allowed.shape} and {start_allowed.shape}")  # fmt: skip
        # plain arrays, not buffers: they follow from the labels, so a saved model need not hold them
        self.allowed, self.start_allowed = allowed, start_allowed
        self._penalty = np.where(allowed, 0.0, FORBIDDEN).astype(dtype)
        self._start_penalty = np.where(start_allowed, 0.0, FORBIDDEN).astype(dtype)

    def forward(self, emissions: Tensor, tags: np.ndarray, lengths: np.ndarray) -> Tensor:
        """The loss (``loss``), so that ``nn.functional_call`` can run the CRF with its parameters replaced."""
        return self.loss(emissions, tags, lengths)

    def log_partition(self, emissions: Tensor, lengths: np.ndarray) -> Tensor:
        """log Z of each sentence, shape (sentences,), for emissions (sentences, time, labels) padded after
        each sentence's ``lengths[b]`` tokens (the padding is never read)."""
        lengths = _check("CRF.log_partition", emissions, lengths, self.n_labels)
        emissions = mg.as_tensor(emissions)
        batch, n = emissions.shape[0], self.n_labels
        trans = self.transitions + self._penalty  # (L, L), broadcast over the sentences
        alpha = self.start + self._start_penalty + emissions[:, 0]
        short = lengths.min(initial=emissions.shape[1])
        for t in range(1, emissions.shape[1]):
            new = mg.logsumexp(alpha.reshape(batch, n, 1) + trans, axis=1) + emissions[:, t]
            # a finished sentence keeps its last α (no node while every sentence goes on: batches of similar lengths)
            alpha = new if t < short else mg.where((t < lengths)[:, None], new, alpha)
        return mg.logsumexp(alpha + self.end, axis=1)

    def path_score(self, emissions: Tensor, tags: np.ndarray, lengths: np.ndarray) -> Tensor:
        """s(y) of the tag paths ``tags`` (sentences, time) of integer label ids, shape (sentences,)."""
        lengths = _check("CRF.path_score", emissions, lengths, self.n_labels)
        tags = self._tags("CRF.path_score", tags, lengths, np.shape(emissions)[:2])
        emissions = mg.as_tensor(emissions)
        batch, time = tags.shape
        mask = np.arange(time) < lengths[:, None]
        rows = np.arange(batch)
        picked = emissions[rows[:, None], np.arange(time), tags]  # (sentences, time): e[t, yₜ]
        score = (picked * mask).sum(axis=1) + self.start[tags[:, 0]] + self.end[tags[rows, lengths - 1]]
        if time > 1:
            steps = self.transitions[tags[:, :-1], tags[:, 1:]]  # (sentences, time − 1): A[yₜ₋₁, yₜ]
            score = score + (steps * mask[:, 1:]).sum(axis=1)
        return score

    def _tags(self, op: str, tags: Any, lengths: np.ndarray, shape: tuple) -> np.ndarray:
        """``tags`` checked, with 0 in the padding (whatever it held: it is never read)."""
        tags = np.asarray(tags)
        if tags.shape != shape or tags.dtype.kind not in "iu":
            raise ValueError(f"{op}: tags must be integers of shape {shape}, got {tags.shape} of dtype {tags.dtype}")
        tags = np.where(np.arange(shape[1]) < lengths[:, None], tags, 0)
        if tags.size and (tags.min() < 0 or tags.max() >= self.n_labels):
            raise ValueError(f"{op}: tags must be label ids in [0, {self.n_labels}), got {tags.min()}..{tags.max()}")
        return tags

    def loss(self, emissions: Tensor, tags: np.ndarray, lengths: np.ndarray) -> Tensor:
        """−Σ log p(y | sentence) over the sentences, divided by the number of tokens (as WLL's mean).

        A gold path through a forbidden transition is an error: log Z leaves it out, so its log-likelihood would
        have no upper bound and training would diverge."""
        lengths = _check("CRF.loss", emissions, lengths, self.n_labels)
        tags = self._tags("CRF.loss", tags, lengths, np.shape(emissions)[:2])
        bad_start = ~self.start_allowed[tags[:, 0]]
        bad_step = ~self.allowed[tags[:, :-1], tags[:, 1:]] & (np.arange(1, tags.shape[1]) < lengths[:, None])
        if bad_start.any() or bad_step.any():
            b = int(np.flatnonzero(bad_start | bad_step.any(axis=1))[0])
            where = "at the start" if bad_start[b] else f"at position {int(np.argmax(bad_step[b])) + 1}"
            raise ValueError(f"CRF.loss: the tag path of sentence {b} takes a forbidden transition {where}: "
                             f"{tags[b, : lengths[b]].tolist()}")  # fmt: skip
        nll = self.log_partition(emissions, lengths) - self.path_score(emissions, tags, lengths)
        return nll.sum() / int(np.sum(lengths))

    def decode(self, emissions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The best tag path of each sentence (Viterbi), (sentences, time) label ids; 0 in the padding."""
        lengths = _check("CRF.decode", emissions, lengths, self.n_labels)
        em = np.asarray(emissions.data if isinstance(emissions, Tensor) else emissions, dtype=np.float64)
        batch, time, n = em.shape
        trans = np.where(self.allowed, self.transitions.data, -np.inf)
        delta = np.where(self.start_allowed, self.start.data, -np.inf) + em[:, 0]
        back = np.empty((batch, time, n), dtype=np.intp)
        back[:, 0] = np.arange(n)
        for t in range(1, time):
            scores = delta[:, :, None] + trans  # (sentences, from, to)
            best = np.argmax(scores, axis=1)
            live = (t < lengths)[:, None]
            # past a sentence's end its pointers are the identity, so the walk back passes through unchanged
            back[:, t] = np.where(live, best, np.arange(n))
            delta = np.where(live, np.take_along_axis(scores, best[:, None, :], axis=1)[:, 0] + em[:, t], delta)
        path = np.empty((batch, time), dtype=np.intp)
        path[:, -1] = np.argmax(delta + self.end.data, axis=1)
        for t in range(time - 1, 0, -1):
            path[:, t - 1] = back[np.arange(batch), t, path[:, t]]
        return np.where(np.arange(time) < lengths[:, None], path, 0)


def padded_index(lengths: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    """(sentences, max length) positions of each sentence's tokens among tokens laid one after the other, the
    sentences' first at ``starts`` (default: one sentence after the other); a position past a sentence's end
    repeats its last token (a valid row, never read)."""
    lengths = np.asarray(lengths)
    starts = np.cumsum(lengths) - lengths if starts is None else starts
    steps = np.minimum(np.arange(lengths.max(initial=1)), lengths[:, None] - 1)
    return starts[:, None] + steps


def viterbi_ids(crf: CRF, scores: np.ndarray, lengths: np.ndarray, batch: int = 256) -> np.ndarray:
    """The best path's label ids of every token, for the per-token scores of sentences one after the other.

    Sentences of similar length are decoded together (sorted by length, ``batch`` at a time) to pad little."""
    out = np.zeros(len(scores), dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    order = [i for i in np.argsort(lengths, kind="stable") if lengths[i] > 0]
    for first in range(0, len(order), batch):
        group = np.array(order[first : first + batch])
        index = padded_index(lengths[group], starts[group])
        path = crf.decode(scores[index], lengths[group])
        mask = np.arange(index.shape[1]) < lengths[group][:, None]
        out[index[mask]] = path[mask]
    return out
