"""``Dataset``, ``TensorDataset``, ``Subset`` and ``random_split``, as ``torch.utils.data``'s."""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor


class Dataset:
    """A map from indices 0..len−1 to samples: define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class TensorDataset(Dataset):
    """Sample i is ``(a[i] for a in arrays)``: NumPy arrays or minigrad Tensors with the same first axis."""

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: give at least one array")
        arrays = [t if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
        lengths = [a.shape[0] if a.ndim else None for a in arrays]
        if None in lengths:
            raise ValueError("TensorDataset: a 0-d array has no first axis to index")
        if len(set(lengths)) > 1:
            raise ValueError(f"TensorDataset: the arrays' first axes differ in length: {lengths}")
        self.tensors = tuple(arrays)

    def __getitem__(self, index: Any) -> tuple:
        return tuple(a[index] for a in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index: Any) -> Any:
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def _rng(generator: Any) -> np.random.Generator:
    """A NumPy Generator: given, made from a seed, or fresh (None)."""
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None or (isinstance(generator, numbers.Integral) and not isinstance(generator, bool)):
        return np.random.default_rng(generator)
    raise TypeError(f"generator must be a numpy.random.Generator, an integer seed or None, got {generator!r}")


def _lengths(n: int, lengths: Sequence[Any]) -> list[int]:
    """Split sizes from counts, or from fractions summing to 1 (the remainder spread over the first, as PyTorch)."""
    lengths = list(lengths)
    if lengths and math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction {i} is {frac}, not between 0 and 1")
        sizes = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        return sizes
    if not all(isinstance(k, numbers.Integral) and k >= 0 for k in lengths):
        raise ValueError(f"random_split: lengths must be counts ≥ 0 or fractions summing to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, the dataset has {n} samples")
    return [int(k) for k in lengths]


def random_split(dataset: Any, lengths: Sequence[Any], generator: Any = None) -> list[Subset]:
    """Disjoint random ``Subset``s of the given lengths (counts, or fractions summing to 1).

    ``generator``: a NumPy Generator or an integer seed (the same seed, the same split); None draws a fresh one.
    """
    sizes = _lengths(len(dataset), lengths)
    order = _rng(generator).permutation(sum(sizes)).tolist()
    return [Subset(dataset, order[end - k : end]) for end, k in zip(itertools.accumulate(sizes), sizes)]
