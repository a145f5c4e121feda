"""``python -m models.ner export``: the tagger's network in ONNX Runtime tags as the tagger does."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from test_ner_cli import _write  # noqa: E402

from models import conll, ner  # noqa: E402
from models.ner_onnx import OnnxTagger  # noqa: E402
from models.tagger import Tagger, TaggerConfig  # noqa: E402

SENTENCES = [["we", "met", "Dana", "today", "."], ["the", "museum", "in", "Oslo"], ["Smith"]]


@pytest.mark.parametrize("crf", [False, True])
def test_export_then_tag_through_onnx_runtime(tmp_path, capsys, crf):
    train = conll.read_conll(_write(tmp_path / "train.txt", 40, 0))
    tagger = Tagger.for_data(train, TaggerConfig(word_dim=8, hidden=16, crf=crf, seed=1))  # untrained: any weights
    tagger.save(tmp_path / "model")
    output = tmp_path / "tagger.onnx"
    assert ner.main(["export", "--model", str(tmp_path / "model"), "--output", str(output)]) == 0
    assert "wrote" in capsys.readouterr().out
    served = OnnxTagger(tmp_path / "model", output)
    windows = tagger.windows(SENTENCES)
    expected = tagger.model.eval()(windows).data
    np.testing.assert_allclose(served.scores(SENTENCES), expected, rtol=1e-5, atol=1e-5)
    assert served.predict(SENTENCES) == tagger.predict(SENTENCES)


def test_export_refuses_a_missing_model(tmp_path, capsys):
    assert ner.main(["export", "--model", str(tmp_path / "none"), "--output", str(tmp_path / "t.onnx")]) == 2
    assert "has no config.json" in capsys.readouterr().err


def test_the_tag_command_tags_through_onnx_runtime(tmp_path, capsys, monkeypatch):
    train = conll.read_conll(_write(tmp_path / "train.txt", 40, 0))
    Tagger.for_data(train, TaggerConfig(word_dim=8, hidden=16, crf=True, seed=2)).save(tmp_path / "model")
    model, output = str(tmp_path / "model"), str(tmp_path / "tagger.onnx")
    assert ner.main(["export", "--model", model, "--output", output]) == 0
    text = tmp_path / "text.txt"
    text.write_text("we met Dana today .\nthe museum in Oslo\n")
    capsys.readouterr()
    assert ner.main(["tag", "--model", model, str(text)]) == 0
    eager = capsys.readouterr().out
    assert ner.main(["tag", "--model", model, "--onnx", output, str(text)]) == 0
    assert capsys.readouterr().out == eager and eager.count("\n") == 2
    assert ner.main(["tag", "--model", model, "--onnx", str(tmp_path / "missing.onnx"), str(text)]) == 2
    assert "--onnx: " in capsys.readouterr().err
