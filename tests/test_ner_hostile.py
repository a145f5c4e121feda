"""``python -m models.ner`` and ``python -m models.conlleval`` on hostile input (issue 22, item 8).

Bad paths, bad numbers, broken model directories, a closed output pipe and byte-order marks: each is one line
``error: <argument or path>: <problem>`` on stderr and exit status 2 (141 for a closed pipe), never a traceback,
and output paths are checked before any training or tagging starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import conlleval, ner
from models.tagger import Tagger

ROOT = Path(__file__).resolve().parent.parent  # where `python -m models.ner` finds the package
BOM = "\ufeff"
TINY = ["--epochs", "2", "--hidden", "8", "--word-dim", "4", "--batch", "16", "--min-count", "1"]


def _write(path: Path, n: int, seed: int) -> Path:
    """A CoNLL file (-DOCSTART- first, as CoNLL-2003) of n short sentences: "met NAME" is a person, "in CITY" a
    place; the cue words make it learnable in two epochs of a tiny model."""
    rng = np.random.default_rng(seed)
    lines = ["-DOCSTART- -X- -X- O", ""]
    for _ in range(n):
        filler = [f"{w} O" for w in rng.choice(["we", "saw", "the", "old", "museum"], rng.integers(1, 4))]
        if rng.random() < 0.5:
            lines += filler + ["met O", f"{rng.choice(['Anna', 'Boris', 'Chen'])} B-PER", ". O", ""]
        else:
            lines += filler + ["in O", f"{rng.choice(['Paris', 'Oslo', 'Rome'])} B-LOC", ". O", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """(directory of a tiny trained model, its train file, a test file)."""
    root = tmp_path_factory.mktemp("hostile")
    train = _write(root / "train.txt", 80, 0)
    dev, test = _write(root / "dev.txt", 20, 1), _write(root / "test.txt", 20, 2)
    saved = root / "model"
    assert ner.main(["train", "--train", str(train), "--dev", str(dev), "--save", str(saved), *TINY]) == 0
    return saved, train, test


def _one_line_error(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err  # one line, no traceback, no usage block
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def _no_training(monkeypatch):
    """Make training (and saving) fail loudly: a path check must stop the command before either."""

    def refuse(*args, **kwargs):
        raise AssertionError("training started before the --save path was checked")

    monkeypatch.setattr(ner, "fit", refuse)


# -- 1. output paths are checked before the work -----------------------------------------------------------------
def test_save_to_an_existing_file_is_refused_before_training(model, tmp_path, monkeypatch, capsys):
    _, train, _ = model
    _no_training(monkeypatch)
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    (tmp_path / "holds_dirs" / "config.json").mkdir(parents=True)
    for save, message in [
        (afile, f"error: {afile}: --save needs a directory, and this is a file"),
        (afile / "sub", f"error: {afile / 'sub'}: cannot be created: {afile} is a file, not a directory"),
        (tmp_path / "holds_dirs", "config.json in it is a directory"),
    ]:
        assert ner.main(["train", "--train", str(train), "--save", str(save), *TINY]) == 2
        _one_line_error(capsys, message)
    assert ner.main(["train", "--train", str(train), "--save", "", *TINY]) == 2  # used to train, then not save
    _one_line_error(capsys, "error: --save: needs a directory name")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write into a read-only dir")
def test_save_into_a_read_only_directory_is_refused_before_training(model, tmp_path, monkeypatch, capsys):
    _, train, _ = model
    _no_training(monkeypatch)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        for save in (locked, locked / "new"):
            assert ner.main(["train", "--train", str(train), "--save", str(save), *TINY]) == 2
            _one_line_error(capsys, f"error: {save}: cannot be")
    finally:
        locked.chmod(0o700)


def test_a_bad_evaluate_output_is_refused_before_evaluating(model, tmp_path, monkeypatch, capsys):
    saved, _, test = model

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before --output was checked")

    monkeypatch.setattr(Tagger, "load", refuse)
    gold = tmp_path / "gold.txt"
    gold.write_text(test.read_text())
    for output, test_file, message in [
        (tmp_path, test, f"error: {tmp_path}: --output needs a file name, and this is a directory"),
        (tmp_path / "no" / "pred.txt", test, "cannot be written: there is no directory"),
        (gold, gold, f"error: {gold}: --output is the --test file"),  # it would overwrite the gold tags
    ]:
        assert ner.main(["evaluate", "--model", str(saved), "--test", str(test_file), "--output", str(output)]) == 2
        _one_line_error(capsys, message)
    assert gold.read_text() == test.read_text()


# -- 2. a closed pipe ---------------------------------------------------------------------------------------------
def _run_into_a_closed_pipe(args: list[str], stdin: bytes | None = None, unbuffered: bool = False):
    """Run ``python -m ARGS`` with its standard output a pipe nobody reads any more (``... | head -0``)."""
    read, write = os.pipe()
    os.close(read)  # closed before the command writes anything: its first write fails with EPIPE
    env = dict(os.environ, PYTHONUNBUFFERED="1") if unbuffered else None  # unbuffered: the first print fails
    try:
        return subprocess.run(
            [sys.executable, "-m", *args], stdout=write, stderr=subprocess.PIPE, input=stdin, cwd=ROOT, env=env,
            timeout=120,
        )  # fmt: skip
    finally:
        os.close(write)


def test_tag_into_a_closed_pipe_exits_quietly(model):
    saved, _, test = model
    run = _run_into_a_closed_pipe(["models.ner", "tag", "--model", str(saved), "--input-format", "conll", str(test)])
    assert run.stderr == b"" and run.returncode == 141  # 128 + SIGPIPE, as `cat` or `grep` would


def test_evaluate_writes_its_output_file_even_when_the_pipe_closes(model, tmp_path):
    saved, _, test = model
    output = tmp_path / "pred.txt"
    args = ["models.ner", "evaluate", "--model", str(saved), "--test", str(test), "--output", str(output)]
    run = _run_into_a_closed_pipe(args, unbuffered=True)
    assert run.stderr == b"" and run.returncode == 141
    assert len(output.read_text().split("\n\n")) > 20  # every sentence written


def test_train_saves_its_model_even_when_the_pipe_closes(model, tmp_path):
    _, train, _ = model
    saved = tmp_path / "piped"
    run = _run_into_a_closed_pipe(["models.ner", "train", "--train", str(train), "--save", str(saved), *TINY],
                                  unbuffered=True)  # fmt: skip
    assert run.stderr == b"" and run.returncode == 141
    assert (saved / "config.json").is_file() and (saved / "weights.npz").is_file()


def test_conlleval_into_a_closed_pipe_exits_quietly(tmp_path):
    scored = tmp_path / "scored.txt"
    scored.write_text("Paris B-LOC B-LOC\nis O O\n")
    run = _run_into_a_closed_pipe(["models.conlleval", str(scored)])
    assert run.stderr == b"" and run.returncode == 141


# -- 3. a byte-order mark -----------------------------------------------------------------------------------------
def _with_bom(path: Path, target: Path) -> Path:
    target.write_bytes(BOM.encode("utf-8") + path.read_bytes())
    return target


def test_a_byte_order_mark_is_not_part_of_the_first_line(model, tmp_path, capsys):
    saved, train, test = model
    bom_train, bom_test = _with_bom(train, tmp_path / "train.txt"), _with_bom(test, tmp_path / "test.txt")
    # train: the BOM hid the first -DOCSTART-, whose 4 columns then clashed with the 2 of the tokens
    assert ner.main(["train", "--train", str(bom_train), "--test", str(bom_test), *TINY]) == 0
    capsys.readouterr()
    # evaluate: the same report as without the BOM
    assert ner.main(["evaluate", "--model", str(saved), "--test", str(test)]) == 0
    plain = capsys.readouterr().out
    assert ner.main(["evaluate", "--model", str(saved), "--test", str(bom_test)]) == 0
    assert capsys.readouterr().out == plain
    # tag, CoNLL input: the -DOCSTART- line copied without it, line for line with the input
    assert ner.main(["tag", "--model", str(saved), "--input-format", "conll", str(bom_test)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "-DOCSTART- -X- -X- O" and len(out) == len(test.read_text().splitlines())
    # tag, text and tokens input: the first word without it
    text = tmp_path / "text.txt"
    text.write_text(BOM + "Anna saw the museum\n", encoding="utf-8")
    for fmt in ("text", "tokens"):
        assert ner.main(["tag", "--model", str(saved), "--input-format", fmt, "--format", "conll", str(text)]) == 0
        assert capsys.readouterr().out.startswith("Anna\t")
    # models.conlleval
    scored = tmp_path / "scored.txt"
    scored.write_text(BOM + "Paris B-LOC B-LOC\nis O O\n", encoding="utf-8")
    assert conlleval.main([str(scored)]) == 0
    assert "found: 1 phrases; correct: 1." in capsys.readouterr().out


def test_a_byte_order_mark_on_standard_input_is_dropped(model, monkeypatch, capsys):
    import io

    saved, _, _ = model
    monkeypatch.setattr("sys.stdin", io.StringIO(BOM + "Anna saw the museum\n"))
    assert ner.main(["tag", "--model", str(saved), "--format", "conll"]) == 0
    assert capsys.readouterr().out.startswith("Anna\t")


# -- 4. numbers out of range, refused by the argument parser -----------------------------------------------------
@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--epochs", "0", "--epochs: must be >= 1, got 0"),
        ("--epochs", "-1", "--epochs: must be >= 1, got -1"),
        ("--batch", "0", "--batch: must be >= 1, got 0"),
        ("--batch", "x", "--batch: expected a whole number >= 1, got 'x'"),
        ("--patience", "0", "--patience: must be >= 1, got 0"),
        ("--half", "-1", "--half: must be >= 0 (0: the token alone), got -1"),
        ("--hidden", "0", "--hidden: must be >= 1, got 0"),
        ("--word-dim", "0", "--word-dim: must be >= 1, got 0"),
        ("--min-count", "0", "--min-count: must be >= 1 (1 keeps every word), got 0"),
        ("--seed", "-1", "--seed: must be >= 0, got -1"),
        ("--dropout", "1.5", "--dropout: must be a number in [0, 1), got 1.5"),
        ("--dropout", "1", "--dropout: must be a number in [0, 1), got 1"),
        ("--dropout", "nan", "--dropout: must be a number in [0, 1), got nan"),
        ("--lr", "-1", "--lr: must be a number > 0, got -1"),
        ("--lr", "0", "--lr: must be a number > 0, got 0"),
        ("--lr", "inf", "--lr: must be a number > 0, got inf"),
        ("--lr", "fast", "--lr: expected a number > 0, got 'fast'"),
        ("--tag-column", "0", "--tag-column: must be >= 1, got 0"),
    ],
)
def test_an_option_out_of_range_is_one_line_naming_it_and_its_range(model, monkeypatch, capsys, option, value, message):
    _, train, _ = model
    _no_training(monkeypatch)
    assert ner.main(["train", "--train", str(train), *TINY, option, value]) == 2
    _one_line_error(capsys, f"error: {message} (see python -m models.ner train --help)")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "--test", "x.txt"], "error: the following arguments are required: --model"),
        (["tag", "--model", "m", "--input-format", "xml"], "error: --input-format: invalid choice: 'xml'"),
        (["tag", "--model", "m", "a.txt", "b.txt"], "error: unrecognized arguments: b.txt"),
        (["evaluate", "--model", "m", "--tag-column", "-2"], "error: --tag-column: must be >= 1, got -2"),
    ],
)
def test_argument_errors_are_one_line_not_a_usage_block(argv, message, capsys):
    assert ner.main(argv) == 2  # returned like every other error, rather than argparse's SystemExit
    _one_line_error(capsys, message)


# -- 4. broken model directories ----------------------------------------------------------------------------------
def _config(saved: Path) -> dict:
    return json.loads((saved / "config.json").read_text(encoding="utf-8"))


def _broken_models(saved: Path):
    """(name, how to break a copy of the model directory, a fragment of the error). The fragments are loose on
    purpose: models/tagger.py words its own messages; what is checked is one line naming the directory."""
    meta = _config(saved)

    def config(text):
        return lambda d: (d / "config.json").write_text(text, encoding="utf-8")

    def changed(**parts):
        return config(json.dumps({**meta, **parts}))

    return [
        ("empty directory", lambda d: [p.unlink() for p in d.iterdir()], "has no config.json"),
        ("no weights", lambda d: (d / "weights.npz").unlink(), "has no weights.npz"),
        ("weights a directory", lambda d: ((d / "weights.npz").unlink(), (d / "weights.npz").mkdir()),
         "has no weights.npz"),
        ("config not JSON", config("{bad"), "not a usable model"),
        ("config a list", config("[1, 2]"), "not a usable model"),
        ("config null", config("null"), "not a usable model"),
        ("config empty object", config("{}"), "not a usable model"),
        ("config not UTF-8", lambda d: (d / "config.json").write_bytes(b"\xff\xfe{}"), "not a usable model"),
        ("half a string", changed(config={**meta["config"], "half": "x"}), "not a usable model"),
        ("half negative", changed(config={**meta["config"], "half": -1}), "not a usable model"),
        ("unknown setting", changed(config={**meta["config"], "colour": 1}), "not a usable model"),
        ("words a number", changed(words=5), "not a usable model"),
        ("labels of another model", changed(labels=meta["labels"] + ["B-ORG"]), "not a usable model"),
        ("labels not tags", changed(labels=[str(i) for i in range(len(meta["labels"]))]), "not a usable model"),
        ("unknown scheme", changed(scheme="XYZ"), "'XYZ'"),
        ("weights not npz", lambda d: (d / "weights.npz").write_bytes(b"junk\n"), "not a usable model"),
        ("weights of another model", lambda d: np.savez(d / "weights.npz", a=np.zeros(3)), "not a usable model"),
    ]  # fmt: skip


def test_every_broken_model_directory_is_one_line_naming_it(model, tmp_path, capsys):
    import shutil

    saved, _, test = model
    for name, break_it, message in _broken_models(saved):
        broken = tmp_path / name.replace(" ", "_")
        shutil.copytree(saved, broken)
        break_it(broken)
        for argv in (
            ["evaluate", "--model", str(broken), "--test", str(test)],
            ["tag", "--model", str(broken), "--input-format", "conll", str(test)],
        ):
            assert ner.main(argv) == 2, (name, argv)
            err = _one_line_error(capsys, message)
            assert err.startswith(f"error: {broken}: "), (name, err)


def test_a_model_path_that_does_not_exist_or_is_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert ner.main(["tag", "--model", str(tmp_path / "none"), str(afile)]) == 2
    _one_line_error(capsys, f"error: {tmp_path / 'none'}: has no config.json (there is no such directory")
    assert ner.main(["tag", "--model", str(afile), str(afile)]) == 2
    _one_line_error(capsys, f"error: {afile}: --model needs a directory")


# -- 4. what goes wrong late --------------------------------------------------------------------------------------
def test_out_of_memory_and_a_failed_save_are_one_line(model, tmp_path, monkeypatch, capsys):
    _, train, _ = model

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(ner, "fit", no_memory)
    assert ner.main(["train", "--train", str(train), *TINY]) == 2
    _one_line_error(capsys, "error: out of memory")
    monkeypatch.undo()

    def disk_full(self, directory):
        raise OSError(28, "No space left on device")  # no file name: the message must not say "None"

    monkeypatch.setattr(Tagger, "save", disk_full)
    assert ner.main(["train", "--train", str(train), "--save", str(tmp_path / "m"), *TINY]) == 2
    assert capsys.readouterr().err == "error: No space left on device\n"


def test_conlleval_names_the_file_and_line_of_a_short_line(tmp_path, capsys):
    scored = tmp_path / "scored.txt"
    scored.write_text("Paris B-LOC B-LOC\nis O\n")
    assert conlleval.main([str(scored)]) == 2
    _one_line_error(capsys, f"error: {scored}:2: expected a word, a gold tag and a predicted tag, got 'is O'")
