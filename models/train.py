"""Training the window tagger: minibatch cross-entropy, progress, dev F1 per epoch, best epoch kept."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad import Tensor, optim

from . import conlleval
from .conll import Sentence
from .tagger import Tagger

# The CRF's minibatches are whole sentences: 32 tweets are ~600 tokens, so fewer, larger steps, with a larger
# learning rate to match (chosen on the default data's dev split over 3 seeds; see docs/models.md).
CRF_BATCH, CRF_LR = 32, 0.004


@dataclass
class TrainConfig:
    epochs: int = 20
    batch: int = 64  # windows; with a CRF, sentences
    lr: float = 0.001  # Adam
    patience: int = 4  # stop after this many epochs without a better dev F1
    seed: int = 0
    compile: bool = False  # replay the training step with mg.compile


def evaluate(tagger: Tagger, sentences: list[Sentence]) -> conlleval.Counts:
    """conlleval's counts of the tagger's predictions against the gold tags."""
    predicted = tagger.predict([s.words for s in sentences], scheme=tagger.scheme)
    return conlleval.count([s.tags for s in sentences], predicted)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """One line of progress: overwritten in a terminal, printed every ``interval`` seconds otherwise."""

    def __init__(self, log: Callable[[str], None], interval: float | None = None) -> None:
        self.tty = log is print and sys.stdout.isatty()
        self.log, self.interval = log, interval if interval is not None else (0.5 if self.tty else 10.0)
        self.last = time.perf_counter()

    def due(self) -> bool:
        """Whether a line is due now (so that the caller builds the text only then)."""
        return time.perf_counter() - self.last >= self.interval

    def __call__(self, text: str) -> None:
        self.last = time.perf_counter()
        if self.tty:
            print("\r" + text.ljust(100), end="", flush=True)
        else:
            self.log(text)

    def done(self) -> None:
        if self.tty:
            print("\r" + " " * 100 + "\r", end="", flush=True)


def _batches(rng: np.random.Generator, n: int, lengths: np.ndarray, size: int, sentences: bool) -> list:
    """One epoch's minibatches as (rows, None): ``size`` random windows (WLL); or as (sentence ids, their
    lengths): ``size`` whole sentences (CRF), of similar lengths so that the forward algorithm pads little:
    the sentences are shuffled, sorted by length within pools of 50 batches, cut, and the batches shuffled."""
    if not sentences:
        order = rng.permutation(n)
        return [(order[i : i + size], None) for i in range(0, n, size)]
    order, pool = rng.permutation(len(lengths)), 50 * size
    batches = []
    for first in range(0, len(order), pool):
        part = order[first : first + pool]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + size] for i in range(0, len(part), size)]
    return [(b, lengths[b]) for b in (batches[i] for i in rng.permutation(len(batches)))]


def fit(
    tagger: Tagger,
    train: list[Sentence],
    dev: list[Sentence],
    config: TrainConfig,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Train ``tagger.model`` on ``train``; keep the parameters of the epoch with the best dev F1.

    Returns one record per epoch: loss, dev precision/recall/F1, tokens per second, seconds.
    """
    windows, targets = tagger.windows([s.words for s in train]), tagger.targets(train)
    lengths = np.array([len(s.words) for s in train], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    n = len(targets)
    model = tagger.model
    opt = optim.Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    progress = Progress(log)

    def train_step(batch_windows: np.ndarray, batch_targets: np.ndarray, batch_lengths: np.ndarray) -> Tensor:
        loss = model.loss(batch_windows, batch_targets, batch_lengths)
        loss.backward()
        return loss

    if config.compile:
        train_step = mg.compile(train_step)
    history: list[dict] = []
    best_f1, best_state, best_epoch = -1.0, None, 0
    start_run = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        batches = _batches(rng, n, lengths, config.batch, model.crf is not None)
        start, total_loss, seen = time.perf_counter(), 0.0, 0
        for step, (rows, sizes) in enumerate(batches, start=1):
            if sizes is not None:  # whole sentences: their tokens' rows, one sentence after the other
                rows = np.concatenate([np.arange(starts[i], starts[i] + lengths[i]) for i in rows])
            opt.zero_grad()
            loss = train_step(windows[rows], targets[rows], sizes if sizes is not None else np.array([len(rows)]))
            opt.step()
            total_loss += loss.item() * len(rows)
            seen += len(rows)
            if progress.due():
                speed = seen / max(time.perf_counter() - start, 1e-9)
                left = (n - seen) / speed
                left_run = left + (config.epochs - epoch) * n / speed
                progress(
                    f"epoch {epoch}/{config.epochs} {100 * step / len(batches):3.0f}% | loss {total_loss / seen:.4f}"
                    f" | {speed:,.0f} tokens/s | epoch ETA {_clock(left)}, run ETA ≤ {_clock(left_run)}"
                )
        seconds = time.perf_counter() - start
        progress.done()
        p, r, f = conlleval.overall(evaluate(tagger, dev))
        record = {"epoch": epoch, "loss": total_loss / n, "dev_p": p, "dev_r": r, "dev_f1": f,
                  "tokens_per_s": n / seconds, "seconds": seconds}  # fmt: skip
        history.append(record)
        better = f > best_f1
        if better:
            best_f1, best_epoch, best_state = f, epoch, model.state_dict()
        log(
            f"epoch {epoch:2d}: loss {record['loss']:.4f}  dev P {p:5.2f} R {r:5.2f} F1 {f:5.2f}"
            f"  {record['tokens_per_s']:,.0f} tokens/s  {seconds:.1f}s{'  *best' if better else ''}"
        )
        if epoch - best_epoch >= config.patience:
            log(f"no better dev F1 for {config.patience} epochs: stopping")
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    log(f"kept epoch {best_epoch} (dev F1 {best_f1:.2f}); training took {_clock(time.perf_counter() - start_run)}")
    return history
