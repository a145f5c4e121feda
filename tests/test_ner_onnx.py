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
