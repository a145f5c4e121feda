"""The NER tagger served by ONNX Runtime: ``python -m models.ner export --model DIR --output tagger.onnx``.

The ONNX graph is the tagger's network, windows of feature ids (batch, 2·half + 1, 3) int64 -> scores
(batch, labels), with a dynamic batch axis; its metadata hold the labels and the scheme. What is not a network
stays in Python: the vocabularies (in DIR's config.json) that turn words into ids, and, for a CRF tagger,
Viterbi decoding over the scores with the transitions saved in DIR. ``OnnxTagger`` does both around an ONNX
Runtime session (``pip install onnxruntime``).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

import minigrad as mg

from . import conll
from .crf import viterbi_ids
from .tagger import Tagger

INPUT, OUTPUT = "windows", "scores"


def export(tagger: Tagger, path: str | os.PathLike) -> Any:
    """Write ``tagger``'s network to ``path`` as ONNX; returns the ``onnx.ModelProto``."""
    windows = tagger.windows([["an", "example", "."]])  # any ids: the graph does not depend on them
    proto = mg.onnx.export(
        tagger.model, windows, None, input_names=[INPUT], output_names=[OUTPUT],
        dynamic_axes={INPUT: {0: "tokens"}, OUTPUT: {0: "tokens"}},
    )  # fmt: skip
    meta = {"labels": json.dumps(tagger.labels), "scheme": tagger.scheme, "half": str(tagger.config.half)}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    import onnx

    onnx.save(proto, str(path))
    return proto


class OnnxTagger:
    """Tags sentences with the network of ``onnx_path`` run by ONNX Runtime, the vocabularies (and CRF) of DIR."""

    def __init__(self, model_dir: str | os.PathLike, onnx_path: str | os.PathLike) -> None:
        import onnxruntime

        self.tagger = Tagger.load(model_dir)
        self.session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        if json.loads(meta.get("labels", "null")) != self.tagger.labels:
            raise ValueError(f"{onnx_path}: its labels are not those of the model in {model_dir}")

    def scores(self, sentences: list[list[str]]) -> np.ndarray:
        windows = self.tagger.windows(sentences)
        return self.session.run([OUTPUT], {INPUT: windows})[0] if len(windows) else np.zeros((0, 0), np.float32)

    def predict(self, sentences: list[list[str]]) -> list[list[str]]:
        """Tags for each sentence in the scheme of the training data, as ``Tagger.predict``."""
        scores, lengths = self.scores(sentences), np.array([len(s) for s in sentences], dtype=np.int64)
        crf = self.tagger.model.crf
        ids = np.argmax(scores, axis=1) if crf is None else viterbi_ids(crf, scores, lengths)
        out, start = [], 0
        for words in sentences:
            bio = [self.tagger.labels[i] for i in ids[start : start + len(words)]]
            out.append(conll.convert(bio, self.tagger.scheme))
            start += len(words)
        return out
