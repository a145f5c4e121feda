"""The linear-chain CRF (``models/crf.py``) against brute force over every tag path, its gradients against numerical
differences and the marginals, the BIO constraints, and the CRF tagger end to end (train, save, load, tag)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.testing import gradcheck
from models import conll, conlleval, features, ner
from models.crf import CRF, bio_constraints, padded_index, viterbi_ids
from models.tagger import Tagger, TaggerConfig, WindowTagger, weight_shapes
from models.train import TrainConfig, evaluate, fit

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def _crf(rng, constrained=True):
    crf = CRF(len(LABELS), *(bio_constraints(LABELS) if constrained else (None, None)), dtype=np.float64)
    for p in (crf.transitions, crf.start, crf.end):
        p.data[...] = rng.standard_normal(p.shape)
    return crf


def _paths(crf, length):
    """Every tag path of ``length`` tokens that the CRF allows."""
    for y in itertools.product(range(crf.n_labels), repeat=length):
        if crf.start_allowed[y[0]] and all(crf.allowed[a, b] for a, b in zip(y, y[1:])):
            yield y


def _score(crf, em, y):
    """s(y) written out term by term."""
    A, s, e = crf.transitions.data, crf.start.data, crf.end.data
    return s[y[0]] + sum(em[t, j] for t, j in enumerate(y)) + sum(A[a, b] for a, b in zip(y, y[1:])) + e[y[-1]]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), lengths=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       constrained=st.booleans())  # fmt: skip
def test_log_partition_path_score_and_viterbi_equal_brute_force(seed, lengths, constrained):
    rng = np.random.default_rng(seed)
    crf = _crf(rng, constrained)
    lengths = np.array(lengths)
    em = 2 * rng.standard_normal((len(lengths), lengths.max(), crf.n_labels))
    log_z = crf.log_partition(mg.tensor(em), lengths).data
    best = crf.decode(em, lengths)
    assert not best[np.arange(best.shape[1]) >= lengths[:, None]].any()  # the padding of the decoded paths is 0
    for b, n in enumerate(lengths):
        paths = list(_paths(crf, n))
        scores = np.array([_score(crf, em[b], y) for y in paths])
        assert log_z[b] == pytest.approx(np.log(np.exp(scores - scores.max()).sum()) + scores.max(), abs=1e-10)
        assert tuple(best[b, :n]) == paths[int(np.argmax(scores))]  # Viterbi is the argmax over all paths
        y = paths[rng.integers(len(paths))]
        tags = np.zeros(em.shape[:2], dtype=np.int64)
        tags[b, :n] = y
        assert crf.path_score(mg.tensor(em), tags, lengths).data[b] == pytest.approx(_score(crf, em[b], y))


def test_gradient_of_log_partition_is_the_marginals_by_enumeration():
    """Backpropagation through the forward recursion is forward-backward: ∂log Z/∂e[t, j] = p(yₜ = j) and
    ∂log Z/∂A[i, j] = the expected number of i → j steps, here summed over every path by brute force."""
    rng = np.random.default_rng(1)
    crf = _crf(rng)
    em = mg.tensor(rng.standard_normal((1, 4, crf.n_labels)), requires_grad=True)
    crf.log_partition(em, np.array([4])).sum().backward()
    paths = list(_paths(crf, 4))
    p = np.exp([_score(crf, em.data[0], y) for y in paths])
    p /= p.sum()
    marginals, pairs = np.zeros((4, crf.n_labels)), np.zeros((crf.n_labels, crf.n_labels))
    for weight, y in zip(p, paths):
        marginals[np.arange(4), y] += weight
        np.add.at(pairs, (y[:-1], y[1:]), weight)
    np.testing.assert_allclose(em.grad[0], marginals, atol=1e-12)
    np.testing.assert_allclose(crf.transitions.grad, pairs, atol=1e-12)
    assert not crf.transitions.grad[~crf.allowed].any()  # a forbidden transition never learns


def test_crf_loss_gradients_match_numerical_differences():
    rng = np.random.default_rng(2)
    crf = _crf(rng)
    lengths = np.array([3, 1, 4])
    em = rng.standard_normal((3, 4, crf.n_labels))
    tags = np.array([[1, 2, 0, 0], [3, 0, 0, 0], [0, 3, 4, 4]])

    def loss(em, transitions, start, end):
        return nn.functional_call(crf, {"transitions": transitions, "start": start, "end": end}, em, tags, lengths)

    assert gradcheck(loss, em, crf.transitions.data, crf.start.data, crf.end.data)


def test_bio_constraints_are_enforced_in_decoding_and_the_partition():
    allowed, start = bio_constraints(LABELS)
    i_loc, b_loc, i_per = LABELS.index("I-LOC"), LABELS.index("B-LOC"), LABELS.index("I-PER")
    assert not start[i_loc] and start[b_loc] and not allowed[0, i_loc] and not allowed[LABELS.index("B-PER"), i_loc]
    assert allowed[b_loc, i_loc] and allowed[i_loc, i_loc] and allowed[i_loc, 0] and allowed[i_per, b_loc]
    crf = CRF(len(LABELS), allowed, start, dtype=np.float64)
    em = np.zeros((1, 3, len(LABELS)))
    em[0, :, i_loc] = 5.0  # every token alone says I-LOC
    path = [LABELS[i] for i in crf.decode(em, np.array([3]))[0]]
    assert path == ["B-LOC", "I-LOC", "I-LOC"]  # the best valid path, never an entity opened with I-
    free = CRF(len(LABELS), dtype=np.float64)
    assert [LABELS[i] for i in free.decode(em, np.array([3]))[0]] == ["I-LOC"] * 3  # unconstrained: the argmax
    n_valid = len(list(_paths(crf, 3)))
    assert crf.log_partition(mg.tensor(np.zeros((1, 3, 5))), np.array([3])).item() == pytest.approx(np.log(n_valid))


def test_a_gold_path_that_breaks_the_constraints_is_a_clear_error():
    crf = CRF(len(LABELS), *bio_constraints(LABELS))
    em = mg.tensor(np.zeros((2, 3, len(LABELS)), dtype=np.float32))
    with pytest.raises(ValueError, match=r"CRF.loss: the tag path of sentence 1 .* at position 2: \[0, 0, 2\]"):
        crf.loss(em, np.array([[1, 2, 0], [0, 0, 2]]), np.array([3, 3]))
    with pytest.raises(ValueError, match="sentence 0 .* at the start"):
        crf.loss(em, np.array([[4, 0, 0], [0, 0, 0]]), np.array([3, 3]))


@pytest.mark.parametrize(
    "emissions, lengths, message",
    [
        (np.zeros((2, 3, 4)), [3, 3], r"emissions must be \(sentences, time, 5 labels\), got shape \(2, 3, 4\)"),
        (np.zeros((2, 3)), [3, 3], r"got shape \(2, 3\)"),
        (np.zeros((2, 3, 5)), [3], r"lengths must be 2 integers .* got \(1,\)"),
        (np.zeros((2, 3, 5)), [3.0, 1.0], "of dtype float64"),
        (np.zeros((2, 3, 5)), [3, 0], r"lengths\[1\] = 0 is not in \[1, 3\]"),
        (np.zeros((2, 3, 5)), [4, 1], r"lengths\[0\] = 4 is not in \[1, 3\]"),
    ],
)
def test_bad_shapes_and_lengths_name_the_operation_and_the_argument(emissions, lengths, message):
    crf = CRF(5)
    for op, call in (("log_partition", crf.log_partition), ("decode", crf.decode)):
        with pytest.raises(ValueError, match=f"CRF\\.{op}: .*{message}"):
            call(emissions, np.array(lengths))
    with pytest.raises(ValueError, match=r"CRF.path_score: tags must be label ids in \[0, 5\), got 0..7"):
        crf.path_score(np.zeros((1, 2, 5)), np.array([[0, 7]]), np.array([2]))


def test_padding_is_never_read_and_a_batch_is_its_sentences_one_by_one():
    rng = np.random.default_rng(3)
    crf = _crf(rng)
    lengths = np.array([2, 5, 1])
    em = rng.standard_normal((3, 5, crf.n_labels))
    junk = em.copy()
    junk[np.arange(5) >= lengths[:, None]] = 1e3
    for b, n in enumerate(lengths):
        alone = crf.log_partition(mg.tensor(em[b : b + 1, :n]), lengths[b : b + 1]).item()
        assert crf.log_partition(mg.tensor(junk), lengths).data[b] == pytest.approx(alone, abs=1e-12)
        assert np.array_equal(crf.decode(junk, lengths)[b, :n], crf.decode(em[b : b + 1, :n], lengths[b : b + 1])[0])
    # the flat version used by the tagger: tokens of sentences one after the other, decoded in length groups
    flat = np.concatenate([em[b, :n] for b, n in enumerate(lengths)])
    assert np.array_equal(padded_index(lengths)[1], [2, 3, 4, 5, 6]) and padded_index(lengths)[0, 4] == 1
    expected = np.concatenate([crf.decode(em, lengths)[b, :n] for b, n in enumerate(lengths)])
    assert np.array_equal(viterbi_ids(crf, flat, lengths, batch=2), expected)


# -- the CRF tagger ------------------------------------------------------------------------------------------------

SMALL = TaggerConfig(half=1, word_dim=3, case_dim=2, suffix_dim=2, hidden=4, dropout=0.0, crf=True)


def test_crf_tagger_gradients_match_numerical_through_network_and_crf():
    model = WindowTagger(n_words=6, n_suffixes=4, n_labels=3, config=SMALL, dtype=np.float64, labels=LABELS[:3])
    words, suffixes = features.Vocab(["museums", "in", "paris", "are"]), features.Vocab(["ums", "in"])
    sentences = [["Museums", "in", "Paris", "are", "amazing"], ["in", "Paris"]]
    windows = features.windows(sentences, words, suffixes, half=1)
    y, lengths = np.array([0, 0, 1, 2, 0, 0, 1]), np.array([5, 2])
    names = [n for n, _ in model.named_parameters()]
    assert {"crf.transitions", "crf.start", "crf.end"} <= set(names)

    def loss(*params):
        replaced = dict(zip(names, params))
        logits = nn.functional_call(model, replaced, windows)
        index = padded_index(lengths)
        crf_params = {k.removeprefix("crf."): v for k, v in replaced.items() if k.startswith("crf.")}
        return nn.functional_call(model.crf, crf_params, logits[index], y[index], lengths)

    assert loss(*model.parameters()).item() == pytest.approx(model.loss(windows, y, lengths).item())
    assert gradcheck(loss, *[p.data for p in model.parameters()])


def _sentences(rng, n):
    """ "new york" is a place and "york" alone is not; "met anna (smith)" is a person. With half=0 a token sees only
    itself, so only the transitions (B-LOC → I-LOC, B-PER → I-PER) can tell the two "york"s and "smith"s apart."""
    out = []
    for _ in range(n):
        words, tags = list(rng.choice(["we", "saw", "old", "york", "smith"], rng.integers(1, 4))), []
        tags = ["O"] * len(words)
        if rng.random() < 0.5:
            words, tags = words + ["new", "york"], tags + ["B-LOC", "I-LOC"]
        else:
            words, tags = words + ["met", "anna", "smith"], tags + ["O", "B-PER", "I-PER"]
        out.append(conll.Sentence(words, tags))
    return out


def test_the_crf_learns_what_the_transitions_tell_and_the_word_level_tagger_cannot():
    rng = np.random.default_rng(0)
    train, dev = _sentences(rng, 200), _sentences(rng, 50)
    f1 = {}
    for crf in (False, True):
        config = TaggerConfig(half=0, word_dim=8, hidden=16, dropout=0.0, min_count=1, crf=crf)
        tagger = Tagger.for_data(train, config)
        fit(tagger, train, dev, TrainConfig(epochs=15, batch=16, lr=0.01, patience=15), log=lambda _: None)
        f1[crf] = conlleval.overall(evaluate(tagger, dev))[2]
    assert f1[True] == 100.0 and f1[False] < 90.0, f1  # "york" and "smith" alone: half of them are O


def test_a_crf_model_round_trips_through_save_and_load_and_old_models_still_load(tmp_path):
    rng = np.random.default_rng(4)
    train = _sentences(rng, 30)
    tagger = Tagger.for_data(train, TaggerConfig(word_dim=4, hidden=8, min_count=1, crf=True))
    for p in tagger.model.crf.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    tagger.save(tmp_path / "crf")
    meta = json.loads((tmp_path / "crf" / "config.json").read_text())
    assert meta["config"]["crf"] is True
    loaded = Tagger.load(tmp_path / "crf")
    assert loaded.model.crf is not None and np.array_equal(loaded.model.crf.allowed, tagger.model.crf.allowed)
    for (name, a), (_, b) in zip(tagger.model.named_parameters(), loaded.model.named_parameters()):
        assert np.array_equal(a.data, b.data), name
    words = [s.words for s in train]
    assert loaded.predict(words) == tagger.predict(words)
    shapes = weight_shapes(tagger.config, len(tagger.words), len(tagger.suffixes), len(tagger.labels))
    assert shapes["crf.transitions"] == (len(tagger.labels),) * 2 and shapes["crf.end"] == (len(tagger.labels),)
    # a model saved before the CRF existed has no "crf" setting and no CRF weights: it loads as word-level
    wll = Tagger.for_data(train, TaggerConfig(word_dim=4, hidden=8, min_count=1))
    wll.save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "config.json").read_text())
    del meta["config"]["crf"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(meta))
    assert Tagger.load(tmp_path / "old").model.crf is None
    # and a config that says crf over weights without them is refused, naming what is missing
    meta["config"]["crf"] = True
    (tmp_path / "old" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"missing \['crf.transitions', 'crf.start', 'crf.end'\]"):
        Tagger.load(tmp_path / "old")
    meta["config"]["crf"] = 1
    (tmp_path / "old" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="config.crf must be true or false, got 1"):
        Tagger.load(tmp_path / "old")


def test_train_crf_then_evaluate_output_and_tag_work_as_for_the_word_level_model(tmp_path, capsys):
    rng = np.random.default_rng(5)
    for name, n in (("train", 120), ("dev", 30), ("test", 30)):
        lines = [f"{w} {t}" for s in _sentences(rng, n) for w, t in [*zip(s.words, s.tags), ("", "")]]
        (tmp_path / f"{name}.txt").write_text("\n".join(lines).replace("\n \n", "\n\n"))
    files = [a for k in ("train", "dev", "test") for a in (f"--{k}", str(tmp_path / f"{k}.txt"))]
    fast = ["--epochs", "8", "--hidden", "16", "--word-dim", "8", "--batch", "8", "--lr", "0.01", "--min-count", "1"]
    assert ner.main(["train", "--crf", "--save", str(tmp_path / "m"), *files, *fast]) == 0
    assert "test " in capsys.readouterr().out
    out = tmp_path / "pred.txt"
    assert ner.main(["evaluate", "--model", str(tmp_path / "m"), "--test", str(tmp_path / "test.txt"),
                     "--output", str(out)]) == 0  # fmt: skip
    report = capsys.readouterr().out
    predicted = [line.split() for line in out.read_text().splitlines() if line]
    gold = [line.split() for line in (tmp_path / "test.txt").read_text().splitlines() if line.strip()]
    assert [p[:2] for p in predicted] == gold and "FB1:" in report
    (tmp_path / "in.txt").write_text("we saw new york\nwe met anna smith\n")
    assert ner.main(["tag", "--model", str(tmp_path / "m"), str(tmp_path / "in.txt")]) == 0
    assert capsys.readouterr().out.splitlines() == ["we saw [LOC new york]", "we met [PER anna smith]"]
