"""``DataLoader`` and its samplers, as ``torch.utils.data``'s, without worker processes."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .collate import default_collate
from .dataset import Subset, TensorDataset, _rng


class SequentialSampler:
    """0, 1, ..., len(data) − 1."""

    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler:
    """A new random order of 0..len(data) − 1 at every pass, drawn from ``generator`` (a NumPy Generator or a
    seed: the same seed gives the same sequence of orders, pass after pass)."""

    def __init__(self, data_source: Any, generator: Any = None) -> None:
        self.data_source, self.generator = data_source, _rng(generator)

    def __iter__(self) -> Iterator[int]:
        return iter(self.generator.permutation(len(self.data_source)).tolist())

    def __len__(self) -> int:
        return len(self.data_source)


class BatchSampler:
    """Lists of ``batch_size`` indices from ``sampler``; the last one shorter unless ``drop_last``."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"BatchSampler: batch_size must be a positive integer, got {batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), bool(drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


class DataLoader:
    """Batches of ``dataset``: ``for x, y in DataLoader(data, batch_size=32, shuffle=True, generator=0)``.

    ``shuffle`` draws a new order at every pass (epoch) from ``generator``, a NumPy Generator or an integer
    seed: a loader made with the same seed goes through the same sequence of orders, epoch after epoch.
    ``sampler`` (an iterable of indices with a length) replaces the order; ``collate_fn`` (default
    ``default_collate``) turns a list of samples into a batch. A ``TensorDataset`` (or a ``Subset`` of one) with
    ``default_collate`` gives each batch by one fancy index per array: what collating its samples would make.
    ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        sampler: Iterable[int] | None = None,
        drop_last: bool = False,
        collate_fn: Callable[[list], Any] | None = None,
        generator: Any = None,
    ) -> None:
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True exclude each other (the sampler gives the order)")
        if sampler is None:
            sampler = RandomSampler(dataset, generator) if shuffle else SequentialSampler(dataset)
        self.dataset, self.sampler = dataset, sampler
        self.batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last = self.batch_sampler.batch_size, self.batch_sampler.drop_last
        self.collate_fn = default_collate if collate_fn is None else collate_fn

    def __iter__(self) -> Iterator[Any]:
        base, picks = self.dataset, None
        while isinstance(base, Subset):  # (a Subset of a Subset ... of a TensorDataset: the indices composed)
            picks = np.asarray(base.indices, dtype=np.intp) if picks is None else np.asarray(base.indices)[picks]
            base = base.dataset
        whole = self.collate_fn is default_collate and isinstance(base, TensorDataset)
        for indices in self.batch_sampler:
            if whole:
                index = np.asarray(indices, dtype=np.intp)
                index = index if picks is None else picks[index]
                yield [a[index] for a in base.tensors]
            else:
                yield self.collate_fn([self.dataset[i] for i in indices])

    def __len__(self) -> int:
        return len(self.batch_sampler)
