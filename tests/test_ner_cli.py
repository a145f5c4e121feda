"""``python -m models.ner``: train, save, reload, evaluate and tag, on small synthetic CoNLL files."""

from __future__ import annotations

import numpy as np
import pytest

from models import conll, conlleval, data, ner

NAMES, CITIES = ["Anna", "Boris", "Chen", "Dana", "Emil"], ["Paris", "Lyon", "Oslo", "Rome", "Kyiv"]
FILLER = ["we", "saw", "the", "old", "museum", "today", "and", "it", "was", "fine"]


def _sentence(rng):
    """Words and BIO tags: "met NAME (Surname)" is a person, "in CITY" a location."""
    words, tags = [], []
    for _ in range(rng.integers(1, 3)):
        words += list(rng.choice(FILLER, rng.integers(1, 4)))
        tags += ["O"] * (len(words) - len(tags))
        if rng.random() < 0.5:
            person = [str(rng.choice(NAMES))] + (["Smith"] if rng.random() < 0.3 else [])
            words += ["met", *person]
            tags += ["O", "B-PER"] + ["I-PER"] * (len(person) - 1)
        else:
            words += ["in", str(rng.choice(CITIES))]
            tags += ["O", "B-LOC"]
    return words + ["."], tags + ["O"]


def _write(path, n, seed, scheme="BIO", columns=2):
    rng = np.random.default_rng(seed)
    lines = ["-DOCSTART- -X- -X- O", ""]
    for _ in range(n):
        words, tags = _sentence(rng)
        tags = conll.convert(tags, scheme)
        middle = " NN I-NP" if columns == 4 else ""
        lines += [f"{w}{middle} {t}" for w, t in zip(words, tags)] + [""]
    path.write_text("\n".join(lines))
    return path


FAST = ["--epochs", "6", "--hidden", "32", "--word-dim", "16", "--batch", "16", "--min-count", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner")
    files = {
        "train": _write(root / "train.txt", 300, 0),
        "dev": _write(root / "dev.txt", 60, 1, columns=4),
        "test": _write(root / "test.txt", 60, 2, scheme="IOB1"),
    }
    model = root / "model"
    args = ["train", "--save", str(model)] + [a for k, v in files.items() for a in (f"--{k}", str(v))]
    return root, files, model, args


def test_train_saves_and_prints_the_f1_table(trained, capsys):
    root, files, model, args = trained
    assert ner.main(args + FAST) == 0
    out = capsys.readouterr().out
    assert "dev P" in out and "tokens/s" in out and "kept epoch" in out
    test_row = next(line for line in out.splitlines() if line.startswith("test "))
    assert float(test_row.split()[-1]) > 90.0  # the cue words make this easy
    assert (model / "config.json").exists() and (model / "weights.npz").exists()


def test_evaluate_reloads_and_writes_scorer_input(trained, capsys):
    root, files, model, _ = trained
    output = root / "pred.txt"
    assert ner.main(["evaluate", "--model", str(model), "--test", str(files["test"]), "--output", str(output)]) == 0
    report = capsys.readouterr().out
    # rescore the written `word gold predicted` lines: the same numbers as the report
    gold, pred, g, p = [], [], [], []
    for line in output.read_text().splitlines() + [""]:
        if not line:
            if g:
                gold.append(g), pred.append(p)
            g, p = [], []
            continue
        word, gtag, ptag = line.split(" ")
        g.append(gtag), p.append(ptag)
    assert conlleval.report(conlleval.count(gold, pred)) in report
    assert [s.tags for s in conll.read_conll(files["test"])] == gold
    assert conll.detect_scheme(pred) in ("IOB1", "BIO")  # predictions follow the test file's scheme (IOB1)
    assert any(t.startswith("I-") and (i == 0 or s[i - 1] == "O") for s in pred for i, t in enumerate(s))


def test_tag_raw_text(trained, capsys, tmp_path):
    _, _, model, _ = trained
    text = tmp_path / "raw.txt"
    text.write_text("we met Dana today.\n\nthe museum in Oslo was fine\n")
    assert ner.main(["tag", "--model", str(model), str(text)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["we met [PER Dana] today .", "", "the museum in [LOC Oslo] was fine"]
    assert ner.main(["tag", "--model", str(model), "--format", "conll", str(text)]) == 0
    assert "Dana\tB-PER" in capsys.readouterr().out


def test_malformed_training_file_is_reported_with_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("Paris B-LOC\nis\n")
    assert ner.main(["train", "--train", str(bad)]) == 2
    assert f"{bad}:2: expected a word and a tag" in capsys.readouterr().err


def test_missing_model_directory(tmp_path, capsys):
    assert ner.main(["evaluate", "--model", str(tmp_path / "none"), "--test", str(tmp_path)]) == 2
    assert "has no config.json" in capsys.readouterr().err


def test_no_argument_run_trains_on_the_default_splits(tmp_path, monkeypatch, capsys):
    sentences = conll.read_conll(_write(tmp_path / "all.txt", 60, 3))
    monkeypatch.setattr(data, "default_splits", lambda: data.split(sentences))
    monkeypatch.setattr(data, "default_path", lambda: "synthetic")
    assert ner.main([]) == 0
    out = capsys.readouterr().out
    assert "default data: synthetic split 80/10/10" in out
    assert any(line.startswith("test ") for line in out.splitlines())


def test_default_split_is_deterministic_and_disjoint():
    items = [conll.Sentence([str(i)], ["O"]) for i in range(100)]
    a, b = data.split(items), data.split(items)
    assert [len(part) for part in a] == [80, 10, 10]
    assert all([s.words for s in x] == [s.words for s in y] for x, y in zip(a, b))
    assert len({s.words[0] for part in a for s in part}) == 100


def test_tokenize_keeps_mentions_urls_and_contractions():
    assert ner.tokenize("@bob didn't see http://t.co/x #nlp, ok?") == [
        "@bob", "did", "n't", "see", "http://t.co/x", "#nlp", ",", "ok", "?",
    ]  # fmt: skip
