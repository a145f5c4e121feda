"""Entity-level precision, recall and F1 exactly as the CoNLL shared-task scorer (conlleval) counts them.

The counting below is conlleval's own loop, token by token: an entity is correct when gold and
prediction start it at the same token with the same type and end it at the same token. The rules
that start and end an entity are conlleval's; for B/I/O tags (IOB1 and IOB2/BIO) they are those of
``conlleval.pl``: an I- after O, or after another type, starts an entity; a B- always does. E- and S-
(IOBES), which ``conlleval.pl`` predates, follow the common Python port of it: E- and S- end an entity.
Sentence boundaries end every entity. Tags without a type (``B``, ``I``) have the empty type.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


def split_tag(tag: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def end_of_chunk(prev_tag: str, tag: str, prev_type: str, kind: str) -> bool:
    """Whether an entity ends before the current token."""
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != kind


def start_of_chunk(prev_tag: str, tag: str, prev_type: str, kind: str) -> bool:
    """Whether an entity starts at the current token."""
    if tag in ("B", "S"):
        return True
    if tag in ("E", "I") and prev_tag in ("E", "S", "O"):
        return True
    return tag not in ("O", ".") and prev_type != kind


def chunks(tags: list[str]) -> list[tuple[int, int, str]]:
    """The entities of one sentence as (start, end, type), end exclusive."""
    out = []
    start, prev_tag, prev_type = None, "O", ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, kind = split_tag(tag)
        if start is not None and end_of_chunk(prev_tag, prefix, prev_type, kind):
            out.append((start, i, prev_type))
            start = None
        if start_of_chunk(prev_tag, prefix, prev_type, kind):
            start = i
        prev_tag, prev_type = prefix, kind
    return out


@dataclass
class Counts:
    """conlleval's counters: entities correct / in gold / predicted, per type, and token accuracy."""

    correct: Counter = field(default_factory=Counter)
    gold: Counter = field(default_factory=Counter)
    guessed: Counter = field(default_factory=Counter)
    correct_tags: int = 0
    tokens: int = 0


def count(gold_seqs: list[list[str]], pred_seqs: list[list[str]]) -> Counts:
    """Run conlleval's counting loop over sentences of gold and predicted tags."""
    c = Counts()
    if len(gold_seqs) != len(pred_seqs):
        raise ValueError(f"count: {len(gold_seqs)} gold sentences but {len(pred_seqs)} predicted")
    for n, (gold, pred) in enumerate(zip(gold_seqs, pred_seqs)):
        if len(gold) != len(pred):
            raise ValueError(f"count: sentence {n} has {len(gold)} gold tags but {len(pred)} predicted")
        in_correct = False
        last_c, last_g, last_ct, last_gt = "O", "O", "", ""
        for i, (ct, gt) in enumerate(zip([*gold, "O"], [*pred, "O"])):  # the boundary counts as O
            cp, ctype = split_tag(ct)
            gp, gtype = split_tag(gt)
            end_c = end_of_chunk(last_c, cp, last_ct, ctype)
            end_g = end_of_chunk(last_g, gp, last_gt, gtype)
            if in_correct:
                if end_c and end_g and last_gt == last_ct:
                    in_correct = False
                    c.correct[last_ct] += 1
                elif end_c != end_g or gtype != ctype:
                    in_correct = False
            start_c = start_of_chunk(last_c, cp, last_ct, ctype)
            start_g = start_of_chunk(last_g, gp, last_gt, gtype)
            if start_c and start_g and gtype == ctype:
                in_correct = True
            if start_c:
                c.gold[ctype] += 1
            if start_g:
                c.guessed[gtype] += 1
            if i < len(gold):
                c.correct_tags += cp == gp and ctype == gtype
                c.tokens += 1
            last_c, last_g, last_ct, last_gt = cp, gp, ctype, gtype
    return c


def prf(correct: int, gold: int, guessed: int) -> tuple[float, float, float]:
    """Precision, recall and F1 in percent, 0 where undefined (as conlleval prints them)."""
    p = 100.0 * correct / guessed if guessed else 0.0
    r = 100.0 * correct / gold if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def overall(c: Counts) -> tuple[float, float, float]:
    return prf(sum(c.correct.values()), sum(c.gold.values()), sum(c.guessed.values()))


def report(c: Counts) -> str:
    """conlleval's summary: token accuracy, overall and per-type precision/recall/F1."""
    p, r, f = overall(c)
    n_gold, n_guessed, n_correct = sum(c.gold.values()), sum(c.guessed.values()), sum(c.correct.values())
    accuracy = 100.0 * c.correct_tags / c.tokens if c.tokens else 0.0
    lines = [
        f"processed {c.tokens} tokens with {n_gold} phrases; found: {n_guessed} phrases; correct: {n_correct}.",
        f"accuracy: {accuracy:6.2f}%; precision: {p:6.2f}%; recall: {r:6.2f}%; FB1: {f:6.2f}",
    ]
    for kind in sorted(set(c.gold) | set(c.guessed)):
        p, r, f = prf(c.correct[kind], c.gold[kind], c.guessed[kind])
        lines.append(f"{kind:>17}: precision: {p:6.2f}%; recall: {r:6.2f}%; FB1: {f:6.2f}  {c.guessed[kind]}")
    return "\n".join(lines)


def read_pairs(lines: list[str], name: str = "input") -> tuple[list[list[str]], list[list[str]]]:
    """The gold and predicted tags of ``word ... gold predicted`` lines (conlleval's input: the last two columns),
    sentences ended by blank or ``-DOCSTART-`` lines. ``name`` (the file) starts the message of a short line."""
    gold, pred, g, p = [], [], [], []
    for number, line in enumerate(lines + [""], start=1):
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            if g:
                gold.append(g), pred.append(p)
            g, p = [], []
            continue
        if len(cols) < 3:
            raise ValueError(f"{name}:{number}: expected a word, a gold tag and a predicted tag, got {line.rstrip()!r}")
        g.append(cols[-2]), p.append(cols[-1])
    return gold, pred


def main(argv: list[str] | None = None) -> int:
    """``python -m models.conlleval [FILE]``: score ``word ... gold predicted`` lines, as ``conlleval.pl`` does."""
    import sys

    from .conll import EXIT_BROKEN_PIPE, ConllError, quiet_closed_stdout, read_lines

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1:
        print(f"error: {argv[1]}: one input file at most (usage: python -m models.conlleval [FILE])", file=sys.stderr)
        return 2
    try:
        name, lines = read_lines(argv[0] if argv else None)
        gold, pred = read_pairs(lines, name)
    except (ConllError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        print(report(count(gold, pred)))
        sys.stdout.flush()  # inside the try: a closed pipe shows up here rather than at the interpreter's exit
    except BrokenPipeError:
        quiet_closed_stdout()
        return EXIT_BROKEN_PIPE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
