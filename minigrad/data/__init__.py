"""Datasets and batches, in the spirit of ``torch.utils.data``: ``Dataset``, ``TensorDataset``, ``Subset``,
``random_split``, ``DataLoader`` and ``default_collate``. No worker processes: batches are made in the caller.

>>> import numpy as np
>>> from minigrad.data import DataLoader, TensorDataset
>>> data = TensorDataset(np.arange(10.0).reshape(5, 2), np.arange(5))
>>> loader = DataLoader(data, batch_size=2, shuffle=True, generator=0)
>>> [len(y) for x, y in loader], len(loader)
([2, 2, 1], 3)
"""

from .collate import default_collate
from .dataset import Dataset, Subset, TensorDataset, random_split
from .loader import BatchSampler, DataLoader, RandomSampler, SequentialSampler

__all__ = [
    "BatchSampler",
    "DataLoader",
    "Dataset",
    "RandomSampler",
    "SequentialSampler",
    "Subset",
    "TensorDataset",
    "default_collate",
    "random_split",
]
