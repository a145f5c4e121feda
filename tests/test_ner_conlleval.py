"""Entity scoring with conlleval's semantics, CoNLL reading and tag-scheme conversion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models import conll, conlleval
from models.conll import ConllError


@pytest.mark.parametrize(
    "tags, expected",
    [
        (["O", "I-PER", "I-PER"], [(1, 3, "PER")]),  # I- after O starts an entity
        (["I-PER"], [(0, 1, "PER")]),  # ... and so does I- at the start of a sentence
        (["B-PER", "I-LOC"], [(0, 1, "PER"), (1, 2, "LOC")]),  # a change of type starts a new one
        (["I-PER", "B-LOC"], [(0, 1, "PER"), (1, 2, "LOC")]),  # B- of another type
        (["I-PER", "I-PER", "B-PER", "I-PER"], [(0, 2, "PER"), (2, 4, "PER")]),  # IOB1: B- between same type
        (["B-PER", "B-PER"], [(0, 1, "PER"), (1, 2, "PER")]),
        (["S-PER", "B-LOC", "E-LOC", "S-LOC"], [(0, 1, "PER"), (1, 3, "LOC"), (3, 4, "LOC")]),  # IOBES
        (["B-LOC", "I-LOC", "E-LOC", "I-LOC"], [(0, 3, "LOC"), (3, 4, "LOC")]),  # after E- an I- starts anew
        (["B-MISC-X", "I-MISC-X"], [(0, 2, "MISC-X")]),  # types may hold hyphens
        (["O", "O"], []),
    ],
)
def test_chunks_follow_conlleval(tags, expected):
    assert conlleval.chunks(tags) == expected


def test_counts_of_a_hand_scored_example():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["I-ORG"]]
    pred = [["B-PER", "I-LOC", "O", "B-LOC"], ["B-ORG"]]
    c = conlleval.count(gold, pred)
    # gold: PER(0,2) LOC(3,4) | ORG(0,1); predicted: PER(0,1) LOC(1,2) LOC(3,4) | ORG(0,1)
    assert (sum(c.gold.values()), sum(c.guessed.values()), sum(c.correct.values())) == (3, 4, 2)
    assert c.correct == {"LOC": 1, "ORG": 1}
    p, r, f = conlleval.overall(c)
    assert (p, r) == (50.0, 100.0 * 2 / 3)
    assert f == pytest.approx(2 * 50 * 200 / 3 / (50 + 200 / 3))
    assert c.tokens == 5 and c.correct_tags == 3  # an I-ORG/B-ORG pair is a wrong tag but a right entity
    assert "LOC: precision:  50.00%; recall: 100.00%; FB1:  66.67  2" in conlleval.report(c)


def test_an_entity_never_spans_a_sentence_boundary():
    c = conlleval.count([["I-PER"], ["I-PER"]], [["I-PER"], ["I-PER"]])
    assert c.gold["PER"] == c.correct["PER"] == 2


def test_count_checks_lengths():
    with pytest.raises(ValueError, match="sentence 0 has 2 gold tags but 1 predicted"):
        conlleval.count([["O", "O"]], [["O"]])


_TAGS = st.sampled_from(["O", "B-A", "I-A", "B-B", "I-B", "E-A", "S-B", "E-B", "S-A"])


@given(st.lists(st.tuples(_TAGS, _TAGS), min_size=1, max_size=12))
def test_streaming_count_equals_span_set_intersection(pairs):
    """conlleval's token-by-token loop agrees with matching the two sets of (start, end, type) spans."""
    gold, pred = [p[0] for p in pairs], [p[1] for p in pairs]
    c = conlleval.count([gold], [pred])
    g, p = set(conlleval.chunks(gold)), set(conlleval.chunks(pred))
    assert sum(c.gold.values()) == len(g)
    assert sum(c.guessed.values()) == len(p)
    assert sum(c.correct.values()) == len(g & p)


@st.composite
def _spans(draw):
    n = draw(st.integers(1, 12))
    cuts = sorted(draw(st.sets(st.integers(0, n), max_size=8)))
    spans = []
    for a, b in zip(cuts, cuts[1:]):
        if draw(st.booleans()):
            spans.append((a, b, draw(st.sampled_from(["PER", "LOC"]))))
    return n, spans


@pytest.mark.parametrize("scheme", conll.SCHEMES)
@given(case=_spans())
def test_every_scheme_round_trips_the_entities(scheme, case):
    n, spans = case
    tags = conll.encode(spans, n, scheme)
    assert conlleval.chunks(tags) == spans
    if scheme != "IOBES":
        assert conll.detect_scheme([tags]) in ("BIO", "IOB1")


def test_scheme_conversion_and_detection():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]
    assert conll.detect_scheme([iob1]) == "IOB1"
    assert conll.convert(iob1, "BIO") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert conll.convert(iob1, "IOBES") == ["B-PER", "E-PER", "S-PER", "O", "S-LOC"]
    assert conll.convert(["B-PER", "I-PER", "B-PER"], "IOB1") == ["I-PER", "I-PER", "B-PER"]
    assert conll.detect_scheme([["B-PER", "I-PER", "O"]]) == "BIO"
    assert conll.detect_scheme([["S-PER"]]) == "IOBES"


def test_read_two_and_four_columns_docstart_and_whitespace_lines(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n \t\nPeter NNP\tB-NP B-PER\n")
    sentences = conll.read_conll(path)
    assert [s.words for s in sentences] == [["EU", "rejects"], ["Peter"]]
    assert [s.tags for s in sentences] == [["B-ORG", "O"], ["B-PER"]]
    two = tmp_path / "two.txt"
    two.write_text("-DOCSTART- O\n\nPeter\tB-PER\nsaw O\n")
    assert [s.tags for s in conll.read_conll(two)] == [["B-PER", "O"]]
    # the lines of one file have one number of columns: a 2-column line in a 4-column file is an error
    # (it used to be read as word and tag, see test_a_line_that_lost_a_column_stops_with_file_and_line)
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("EU NNP B-NP B-ORG\n\nPeter\tB-PER\n")
    with pytest.raises(ConllError, match=r"mixed\.txt:3: expected 4 columns \(as on line 1\), got 2"):
        conll.read_conll(mixed)


@pytest.mark.parametrize(
    "text, message",
    [
        ("EU B-ORG\nrejects\n", r"bad\.txt:2: expected a word and a tag, got 'rejects'"),
        ("EU B-ORG\n\nrejects X-VERB\n", r"bad\.txt:3: tag 'X-VERB' is not O or B-/I-/E-/S-"),
        ("\n\n-DOCSTART- O\n", r"bad\.txt: no sentences found"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ConllError, match=message):
        conll.read_conll(path)


def test_non_utf8_and_missing_files(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"caf\xe9 O\n")
    with pytest.raises(ConllError, match=r"latin\.txt: not UTF-8"):
        conll.read_conll(path)
    with pytest.raises(ConllError, match="no such file"):
        conll.read_conll(tmp_path / "missing.txt")
