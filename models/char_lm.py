"""A character-level GRU language model on public-domain English (models/texts/public_domain.txt).

``python -m models.char_lm [--epochs 12] [--hidden 192] [--seq-len 64] [--batch 16] [--temperature 0.7]``

Characters → an embedding → ``nn.GRU`` → a linear layer over the characters; trained with truncated
backpropagation through time: the training text is cut into ``batch`` parallel streams read ``seq_len``
characters at a time, the state carried from one piece to the next but not differentiated through it
(detached). Adam, gradient norm clipped. The text is split by position: of every ten blocks of the text,
nine train and the tenth is held out; the model reports bits per character, the mean cross-entropy in
base 2, on both, and samples a continuation of a prompt at a temperature.
"""

from __future__ import annotations

import os

# One BLAS thread unless the user says otherwise, as in models/ner.py: the products here are small
# (32 × 192 by 192 × 576 per step), where a second thread that spins while another process holds a core
# made an epoch 20 times slower. Set before NumPy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import nn, optim  # noqa: E402
from minigrad.nn import functional as F  # noqa: E402

TEXT = Path(__file__).parent / "texts" / "public_domain.txt"


def load_text(path: Path = TEXT) -> str:
    """The text without its header (the lines starting with '#' before the first blank line)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines).lstrip("\n")


class Vocabulary:
    """The characters of a text, each with an id (sorted, so the ids do not depend on the order of the text)."""

    def __init__(self, text: str) -> None:
        self.chars = sorted(set(text))
        self.ids = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.ids[c] for c in text], dtype=np.int64)

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(i)] for i in ids)


class CharLM(nn.Module):
    """logits of the next character after each one: Embedding(V, E) → GRU(E, H) → Dropout → Linear(H, V)."""

    def __init__(self, vocab: int, embed: int = 32, hidden: int = 192, dropout: float = 0.0, rng: Any = None) -> None:
        super().__init__()
        rng = np.random.default_rng(rng)
        self.embed = nn.Embedding(vocab, embed, sparse=False, rng=rng)
        self.gru = nn.GRU(embed, hidden, rng=rng)
        self.drop = nn.Dropout(dropout, rng=rng)
        self.out = nn.Linear(hidden, vocab, rng=rng)

    def forward(self, ids: np.ndarray, h: Any = None) -> tuple:
        """(logits (L, N, V), the state after the last step) for ids (L, N)."""
        out, h = self.gru(self.embed(ids), h)
        return self.out(self.drop(out)), h


def split(ids: np.ndarray, block: int = 4096, every: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) by position: of each ``every`` blocks of ``block`` characters, the last is held out,
    so that the held-out text samples every part of the book (psalms, sonnets and prose alike)."""
    held = (np.arange(len(ids)) // block) % every == every - 1
    return ids[~held], ids[held]


def streams(ids: np.ndarray, batch: int) -> np.ndarray:
    """The ids cut into ``batch`` streams side by side, (length, batch): stream b reads one contiguous piece."""
    length = len(ids) // batch
    return ids[: length * batch].reshape(batch, length).T


def _clip(params: list, max_norm: float) -> float:
    """Scale all gradients by one factor so that their joint norm is at most ``max_norm``; the norm before."""
    total = math.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in params if p.grad is not None))
    if total > max_norm:
        for p in params:
            if p.grad is not None:
                p.grad = p.grad * (max_norm / (total + 1e-6))
    return total


def clip_grad_norm(params: list, max_norm: float) -> float:
    """``nn.utils.clip_grad_norm_`` where minigrad has it, else the same computed here."""
    utils = getattr(nn, "utils", None)
    clip = getattr(utils, "clip_grad_norm_", None)
    return float(clip(params, max_norm)) if clip is not None else _clip(params, max_norm)


def bits_per_char(model: CharLM, data: np.ndarray, seq_len: int) -> float:
    """Mean cross-entropy in bits of each next character of ``data`` (length, batch), the state carried."""
    total, count, h = 0.0, 0, None
    with mg.no_grad():
        for start in range(0, data.shape[0] - 1, seq_len):
            x, y = data[start : start + seq_len], data[start + 1 : start + seq_len + 1]
            x = x[: len(y)]
            logits, h = model(x, h)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").data)
            count += y.size
    return total / count / math.log(2)


def train_epoch(model: CharLM, opt: Any, data: np.ndarray, seq_len: int, clip: float) -> float:
    """One pass of truncated BPTT over ``data`` (length, batch); the training bits per character."""
    params = list(model.parameters())
    total, count, h = 0.0, 0, None
    for start in range(0, data.shape[0] - 1, seq_len):
        x, y = data[start : start + seq_len], data[start + 1 : start + seq_len + 1]
        x = x[: len(y)]
        opt.zero_grad()
        logits, h = model(x, h)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        clip_grad_norm(params, clip)
        opt.step()
        h = h.detach()  # the next piece starts from this state, without backpropagating into this piece
        total += float(loss.data) * y.size
        count += y.size
    return total / count / math.log(2)


def sample(
    model: CharLM, vocab: Vocabulary, prompt: str, length: int, temperature: float = 1.0, rng: Any = None
) -> str:
    """``length`` characters following ``prompt``, each drawn from softmax(logits / temperature)."""
    if temperature <= 0:
        raise ValueError(f"sample: temperature must be positive, got {temperature}")
    rng = np.random.default_rng(rng)
    out: list[int] = []
    with mg.no_grad():
        logits, h = model(vocab.encode(prompt)[:, None])
        for _ in range(length):
            z = logits.data[-1, 0].astype(np.float64) / temperature
            p = np.exp(z - z.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            logits, h = model(np.array([[nxt]]), h)
    return vocab.decode(out)


def run(
    epochs: int = 12,
    hidden: int = 192,
    embed: int = 32,
    seq_len: int = 64,
    batch: int = 16,
    lr: float = 3e-3,
    clip: float = 1.0,
    dropout: float = 0.2,
    temperature: float = 0.7,
    sample_length: int = 300,
    prompt: str = "And God said, ",
    seed: int = 0,
    text: str | None = None,
    log: Any = print,
) -> dict:
    """Train and evaluate; returns the history, the final bits per character and a sample."""
    text = load_text() if text is None else text
    vocab = Vocabulary(text)
    ids = vocab.encode(text)
    train_ids, valid_ids = split(ids, block=max(256, len(ids) // 40))
    train, valid = streams(train_ids, batch), streams(valid_ids, min(batch, 8))
    model = CharLM(len(vocab), embed, hidden, dropout=dropout, rng=seed)
    opt = optim.Adam(model.parameters(), lr=lr)
    log(f"text: {len(text)} characters, {len(vocab)} distinct; train {len(train_ids)}, valid {len(valid_ids)}")
    history = []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        train_bpc = train_epoch(model, opt, train, seq_len, clip)
        model.eval()
        valid_bpc = bits_per_char(model, valid, seq_len)
        history.append({"epoch": epoch, "train_bpc": train_bpc, "valid_bpc": valid_bpc})
        seconds = time.perf_counter() - start
        log(f"epoch {epoch:2d}  train {train_bpc:.3f} bpc  valid {valid_bpc:.3f} bpc  {seconds:.1f} s")
    text_out = sample(model, vocab, prompt, sample_length, temperature, rng=seed)
    return {"history": history, "vocab": vocab, "model": model, "sample": prompt + text_out,
            "seconds": time.perf_counter() - start}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m models.char_lm", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--hidden", type=int, default=192)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--clip", type=float, default=1.0, help="maximal gradient norm")
    p.add_argument("--dropout", type=float, default=0.2, help="on the GRU's outputs, while training")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--sample-length", type=int, default=300)
    p.add_argument("--prompt", default="And God said, ")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    result = run(a.epochs, a.hidden, a.embed, a.seq_len, a.batch, a.lr, a.clip, a.dropout, a.temperature,
                 a.sample_length, a.prompt, a.seed)  # fmt: skip
    h = result["history"]
    uniform = math.log2(len(result["vocab"]))
    print(f"\n{'':<22}{'bits/char':>10}")
    print(f"{'uniform over chars':<22}{uniform:>10.3f}")
    print(f"{'train (last epoch)':<22}{h[-1]['train_bpc']:>10.3f}")
    print(f"{'valid (held out)':<22}{h[-1]['valid_bpc']:>10.3f}")
    print(f"{'best valid':<22}{min(r['valid_bpc'] for r in h):>10.3f}")
    print(f"{'seconds':<22}{result['seconds']:>10.1f}")
    print(f"\nsample (temperature {a.temperature}):\n{result['sample']}")
    return result


if __name__ == "__main__":
    main()
