"""Export and serve the bundled MiniLM after a short real fine-tuning (a minute or two)."""

from __future__ import annotations

import numpy as np
import pytest

from engine import export as E
from engine.config import RunConfig
from engine.runs import RunStore
from engine.training.pipeline import train_run

from tests.conftest import SAMPLE_CSV


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-real")
    cfg = RunConfig(
        data=str(SAMPLE_CSV),
        backbone="minilm-l6",
        strategy="lora",
        max_steps=40,
        batch_size=16,
        max_length=64,
        evaluations_per_epoch=1,
        output_dir=str(root / "runs"),
    )
    r = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, r)
    assert metrics["status"] == "completed"
    return r


def test_minilm_artefacts_keep_the_predictions(run, tmp_path):
    from transformers import pipeline

    texts = [
        "I absolutely loved this phone, works great.",
        "Terrible. It broke after one day and support was rude.",
        "Arrived on time, does the job.",
    ]
    original = E.load_artefact(run.path).predict_proba(texts)
    merged = E.export(run.path, "merged", tmp_path / "merged", limit=40)
    clf = pipeline("text-classification", model=str(tmp_path / "merged"), device="cpu", top_k=None)
    for probs, scores in zip(original, clf(texts)):
        got = {s["label"]: s["score"] for s in scores}
        labels = E.load_artefact(tmp_path / "merged").labels
        np.testing.assert_allclose([got[l] for l in labels], probs, atol=1e-4)
    assert merged["comparison"]["agreement"] == 1.0
    onnx = E.export(run.path, "onnx", tmp_path / "onnx", limit=40)
    assert onnx["onnx_max_abs_diff"] < 1e-3 and onnx["comparison"]["agreement"] == 1.0
    int8 = E.export(run.path, "int8", tmp_path / "int8", limit=40)
    # quantization costs little here (the bench measures the full test split)
    assert int8["comparison"]["agreement"] >= 0.9
    assert abs(int8["comparison"]["accuracy_change"]) <= 0.05
    assert int8["model_bytes"] < 0.75 * merged["model_bytes"]
    np.testing.assert_allclose(
        E.load_artefact(tmp_path / "int8").predict_proba(texts), original, atol=0.1
    )
