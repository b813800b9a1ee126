"""Short real training runs of each bundled backbone (CPU, a minute or two each)."""

from __future__ import annotations

import pytest

from engine.config import RunConfig
from engine.jobs import JobManager
from engine.predict import Predictor
from engine.runs import RunStore
from engine.training.pipeline import train_run

from tests.conftest import SAMPLE_CSV, shared_file


def test_minilm_lora_beats_majority_on_real_sentiment(tmp_path):
    data = shared_file("uci_sentiment_sentences.csv")
    cfg = RunConfig(
        data=str(data),
        backbone="minilm-l6",
        strategy="lora",
        max_rows=1200,
        epochs=2,
        output_dir=str(tmp_path),
    )
    run = RunStore(tmp_path).create(cfg)
    metrics = train_run(cfg, run)
    baseline = metrics["majority_baseline"]
    assert metrics["test"]["n"] == 120
    # clearly above the majority class (0.5): a collapsed model would sit at the baseline
    assert metrics["test"]["accuracy"] >= baseline + 0.25, metrics["test"]
    assert metrics["test"]["macro_f1"] >= 0.7
    assert metrics["parameters"]["percent"] < 2  # LoRA trains ~1% of MiniLM
    pred = Predictor(run.path).predict(
        [
            "I absolutely loved this phone, works great.",
            "Terrible. It broke after one day and support was rude.",
        ]
    )
    assert [p["label"] for p in pred] == ["1", "0"]


def test_smollm2_decoder_trains_a_classifier(tmp_path):
    cfg = RunConfig(
        data=str(SAMPLE_CSV),
        backbone="smollm2-135m-instruct",
        strategy="lora",
        max_rows=240,
        max_steps=10,
        batch_size=8,
        max_length=48,
        evaluations_per_epoch=1,
        output_dir=str(tmp_path),
    )
    run = RunStore(tmp_path).create(cfg)
    metrics = train_run(cfg, run)
    assert metrics["status"] == "completed"
    start = run.events("start")[0]
    assert start["family"] == "decoder" and start["parameters"]["trainable"] > 0
    assert len(run.events("log")) >= 2
    out = Predictor(run.path).predict(["What a wonderful film."])
    assert out[0]["label"] in {"negative", "positive"}


def test_job_manager_runs_a_real_job_in_the_background(tmp_path):
    jobs = JobManager(RunStore(tmp_path))
    cfg = RunConfig(
        data=str(SAMPLE_CSV),
        backbone="minilm-l6",
        strategy="head",
        max_steps=6,
        output_dir=str(tmp_path),
    )
    run = jobs.submit(cfg)
    assert jobs.wait(run.id, timeout=300)
    assert run.status == "completed", run.status_info()
    assert run.metrics()["test"]["n"] == 60


@pytest.mark.parametrize(
    "backbone", ["minilm-l6", "smollm2-135m-instruct", "e5-small-multilingual"]
)
def test_bundled_backbones_resolve_offline(backbone):
    from engine.backbones import resolve_backbone

    assert (resolve_backbone(backbone) / "config.json").exists()
