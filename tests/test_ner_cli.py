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


# -- the command line as a tool on one's own files -------------------------------------------------------------
def _four_columns(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_line_that_lost_a_column_stops_with_file_and_line(tmp_path, capsys):
    # `rejects VBZ I-VP` in a word POS chunk NER file was read with the chunk tag I-VP as its entity tag
    bad = _four_columns(tmp_path / "four.txt", ["EU NNP B-NP B-ORG", "rejects VBZ I-VP", "German JJ B-NP B-MISC", ""])
    assert ner.main(["train", "--train", str(bad)]) == 2
    assert f"{bad}:2: expected 4 columns (as on line 1), got 3: 'rejects VBZ I-VP'" in capsys.readouterr().err


def test_tag_column_picks_the_tag_of_files_with_extra_columns(tmp_path, capsys):
    path = _four_columns(tmp_path / "five.txt", ["EU NNP B-NP B-ORG 0.9", "rejects VBZ B-VP O 0.8", ""])
    assert [s.tags for s in conll.read_conll(path, tag_column=4)] == [["B-ORG", "O"]]
    with pytest.raises(conll.ConllError, match=r"five\.txt:1: tag '0\.9' is not O"):
        conll.read_conll(path)  # the last column by default
    for column in ("1", "6"):
        assert ner.main(["train", "--train", str(path), "--tag-column", column]) == 2
        assert f"--tag-column {column} is not a column of these 5-column lines" in capsys.readouterr().err


def test_tag_pre_tokenized_sentences_keeps_every_token(trained, capsys, tmp_path):
    _, _, model, _ = trained
    text = tmp_path / "tokens.txt"
    text.write_text("we met Dana on 1. May\n\nthe museum in Oslo , e-mail it\n")
    assert ner.main(["tag", "--model", str(model), "--input-format", "tokens", str(text)]) == 0
    lines = capsys.readouterr().out.split("\n")
    # one line per token, a blank line after each sentence (the empty one too): "1." stays one token
    assert [line.split("\t")[0] for line in lines] == [
        "we", "met", "Dana", "on", "1.", "May", "", "", "the", "museum", "in", "Oslo", ",", "e-mail", "it", "", "",
    ]  # fmt: skip
    assert "Dana\tB-PER" in lines and "Oslo\tB-LOC" in lines
    assert ner.main(["tag", "--model", str(model), "--input-format", "tokens", "--format", "inline", str(text)]) == 0
    inline = ["we met [PER Dana] on 1. May", "", "the museum in [LOC Oslo] , e-mail it"]
    assert capsys.readouterr().out.splitlines() == inline


def test_tag_a_conll_file_beside_its_gold_tags_scores_as_evaluate(trained, capsys, tmp_path):
    root, files, model, _ = trained
    gold = _write(tmp_path / "gold.txt", 40, 7, columns=4)  # BIO, as the training data: the same tags either way
    assert ner.main(["tag", "--model", str(model), "--input-format", "conll", str(gold)]) == 0
    out = capsys.readouterr().out.splitlines()
    gold_lines = gold.read_text().splitlines()
    assert len(out) == len(gold_lines)  # line for line: blank and -DOCSTART- lines copied
    gold_tags, predicted, g, p = [], [], [], []
    for mine, theirs in zip(out, gold_lines):
        cols = theirs.split()
        if not cols or cols[0] == "-DOCSTART-":
            assert mine == theirs
            if g:
                gold_tags.append(g), predicted.append(p)
            g, p = [], []
            continue
        word, tag = mine.split("\t")
        assert word == cols[0]
        g.append(cols[-1]), p.append(tag)
    if g:
        gold_tags.append(g), predicted.append(p)
    assert ner.main(["evaluate", "--model", str(model), "--test", str(gold)]) == 0
    assert conlleval.report(conlleval.count(gold_tags, predicted)) in capsys.readouterr().out


def _bad_inputs(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Zürich B-LOC\n".encode("latin-1"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    return [
        (tmp_path / "missing.txt", "no such file"),
        (tmp_path, "is a directory, not a text file"),
        (latin, "not UTF-8 text"),
        (empty, "empty input"),
    ]


def test_every_subcommand_reports_a_bad_input_file_the_same_way(trained, tmp_path, capsys):
    _, _, model, _ = trained
    for path, message in _bad_inputs(tmp_path):
        for argv in (
            ["train", "--train", str(path)],
            ["evaluate", "--model", str(model), "--test", str(path)],
            ["tag", "--model", str(model), str(path)],
            ["tag", "--model", str(model), "--input-format", "conll", str(path)],
        ):
            assert ner.main(argv) == 2, argv
            err = capsys.readouterr().err
            assert err == f"error: {path}: {message}" + err.split(message, 1)[1], (argv, err)
            assert err.count("\n") == 1  # one line, no traceback


def test_tag_of_empty_standard_input_is_an_error(trained, monkeypatch, capsys):
    import io

    _, _, model, _ = trained
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert ner.main(["tag", "--model", str(model)]) == 2
    assert "error: <stdin>: empty input" in capsys.readouterr().err


def test_a_model_path_that_is_a_file_is_one_line_of_error(tmp_path, capsys):
    model = tmp_path / "model"
    model.write_text("not a directory")
    text = tmp_path / "raw.txt"
    text.write_text("hello\n")
    assert ner.main(["tag", "--model", str(model), str(text)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(model) in err and err.count("\n") == 1


def test_help_describes_every_option_and_its_default(capsys):
    top = ner.parser()
    subparsers = next(a for a in top._actions if isinstance(a, ner.argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no description"
            if action.default not in (None, False):
                shown = sub.formatter_class(prog="x")._get_help_string(action) % vars(action)
                assert f"default: {action.default}" in shown, (name, action.dest, shown)
    with pytest.raises(SystemExit):
        ner.main(["--help"])
    assert "no subcommand" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        ner.main(["tag", "--help"])
    out = capsys.readouterr().out
    assert "n't is split off" in out and "one line per" in " ".join(out.split())


def test_the_readme_pipeline_tag_paste_and_score_gives_evaluate_s_report(trained, capsys, tmp_path):
    # python -m models.ner tag --input-format conll test.txt > tagged.txt
    # paste -d ' ' test.txt <(cut -f2 tagged.txt) > scored.txt; python -m models.conlleval scored.txt
    _, _, model, _ = trained
    gold = _write(tmp_path / "test.txt", 30, 11)
    assert ner.main(["tag", "--model", str(model), "--input-format", "conll", str(gold)]) == 0
    tagged = capsys.readouterr().out.splitlines()
    cut = [line.split("\t")[1] if "\t" in line else line for line in tagged]  # cut -f2: undelimited lines whole
    scored = tmp_path / "scored.txt"
    scored.write_text("\n".join(f"{a} {b}" for a, b in zip(gold.read_text().splitlines(), cut)) + "\n")
    assert conlleval.main([str(scored)]) == 0
    ours = capsys.readouterr().out
    assert ner.main(["evaluate", "--model", str(model), "--test", str(gold)]) == 0
    assert ours.strip() and ours.strip() in capsys.readouterr().out
    assert conlleval.main([str(tmp_path / "none.txt")]) == 2
    assert "none.txt: no such file" in capsys.readouterr().err
