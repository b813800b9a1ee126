"""SetFit on real few-shot data: 8 labelled sentences per class of the UCI sentiment sentences.

Needs the bundled MiniLM body and ../shared/data/uci_sentiment_sentences.csv (skipped if absent).
"""

from __future__ import annotations

import json
import threading
import time

import pandas as pd
import pytest

from engine.config import ConfigError, RunConfig
from engine.data import DataSpec
from engine.runs import RunStore

from tests.conftest import shared_file

pytest.importorskip("setfit")

SHOTS = 8
TEST_ROWS = 200


def _few_shot_spec(seed: int = 0) -> DataSpec:
    df = pd.read_csv(shared_file("uci_sentiment_sentences.csv"), dtype=str)
    df = df.rename(columns={"text": "text", "label": "label"})[["text", "label"]].dropna()
    df["text"] = df["text"].str.strip()
    train = df.groupby("label", group_keys=False).sample(n=SHOTS, random_state=seed)
    rest = df.drop(train.index)
    validation = rest.sample(n=50, random_state=seed)
    test = rest.drop(validation.index).sample(n=TEST_ROWS, random_state=seed)
    labels = sorted(df["label"].unique())
    return DataSpec(
        train.reset_index(drop=True),
        validation.reset_index(drop=True),
        test.reset_index(drop=True),
        labels,
        "text",
        "label",
        source="uci_sentiment_sentences.csv",
        stats={"label_counts": train["label"].value_counts().to_dict()},
    )


def _config(tmp_path, **kw) -> RunConfig:
    base = dict(
        data="uci_sentiment_sentences.csv",
        backbone="minilm-l6",
        strategy="setfit",
        output_dir=str(tmp_path / "runs"),
        setfit_iterations=5,
        epochs=1,
        batch_size=16,
        max_length=64,
    )
    return RunConfig(**{**base, **kw})


def test_setfit_eight_shots_beats_majority_and_reloads(tmp_path):
    from engine.fewshot import load_setfit, train_setfit

    spec = _few_shot_spec()
    cfg = _config(tmp_path)
    run = RunStore(cfg.output_dir).create(cfg)
    t0 = time.time()
    metrics = train_setfit(cfg, run, spec, threading.Event())
    seconds = time.time() - t0
    print(
        f"\nSetFit {SHOTS}/class: {seconds:.1f} s, test accuracy "
        f"{metrics['test']['accuracy']:.3f}, macro-F1 {metrics['test']['macro_f1']:.3f}, "
        f"majority {metrics['majority_baseline']:.3f}, {metrics['global_step']} steps"
    )
    # the time is printed, not asserted: speed targets live in bench/, not in tests
    assert run.status == "completed" and metrics["status"] == "completed"
    # the same schema as train_run's metrics.json
    for key in (
        "validation",
        "test",
        "test_report",
        "worst_errors",
        "majority_baseline",
        "train_samples_per_second",
        "train_seconds",
        "total_seconds",
        "global_step",
        "max_steps",
        "parameters",
        "device",
        "learning_rate",
        "labels",
        "status",
        "stop_reason",
        "early_stopped",
    ):
        assert key in metrics, key
    assert set(metrics["test"]) == {"accuracy", "macro_f1", "loss", "n"}
    assert metrics["test"]["n"] == TEST_ROWS
    assert metrics["test"]["accuracy"] > metrics["majority_baseline"] + 0.1
    assert metrics["global_step"] > 0 and metrics["train_samples_per_second"] > 0
    assert metrics["parameters"]["trainable"] > 0
    on_disk = json.loads((run.path / "metrics.json").read_text())
    assert on_disk["test"] == metrics["test"]

    kinds = [e["event"] for e in run.events()]
    assert "start" in kinds and kinds[-1] == "end" and "log" in kinds
    assert all(e["samples_per_second"] >= 0 for e in run.events("log"))
    assert not run.checkpoints_dir.exists()
    meta = json.loads((run.model_dir / "labels.json").read_text())
    assert meta["kind"] == "setfit" and meta["labels"] == spec.labels

    predictor = load_setfit(run.model_dir)
    texts = spec.test["text"].tolist()
    probs = predictor.predict_proba(texts)
    assert probs.shape == (TEST_ROWS, 2)
    assert abs(probs.sum(1) - 1).max() < 1e-6
    reloaded = [spec.labels[i] for i in probs.argmax(1)]
    accuracy = sum(p == g for p, g in zip(reloaded, spec.test["label"])) / TEST_ROWS
    assert accuracy == pytest.approx(metrics["test"]["accuracy"])  # the same model came back
    out = predictor.predict(texts[:3])
    assert [o["label"] for o in out] == reloaded[:3]
    assert set(out[0]["probabilities"]) == set(spec.labels)


def test_setfit_stop_event_still_saves(tmp_path):
    from engine.fewshot import train_setfit

    spec = _few_shot_spec(seed=1)
    cfg = _config(tmp_path, setfit_iterations=2)
    run = RunStore(cfg.output_dir).create(cfg)
    stop = threading.Event()
    stop.set()
    metrics = train_setfit(cfg, run, spec, stop)
    assert metrics["status"] == "stopped" and run.status == "stopped"
    assert metrics["global_step"] == 0
    assert (run.model_dir / "labels.json").exists()


def test_setfit_refuses_a_decoder(tmp_path, tiny_decoder):
    from engine.fewshot import train_setfit

    spec = _few_shot_spec()
    cfg = _config(tmp_path, backbone=str(tiny_decoder))
    run = RunStore(cfg.output_dir).create(cfg)
    with pytest.raises(ConfigError, match="decoder"):
        train_setfit(cfg, run, spec)


def test_setfit_on_a_tiny_random_encoder_is_fast(tmp_path, small_csv, tiny_encoder):
    """The whole SetFit path (data -> pairs -> head -> report -> save -> reload) in seconds."""
    from engine.fewshot import is_setfit_model, load_setfit, train_setfit
    from engine.training.pipeline import data_spec

    cfg = RunConfig(
        data=str(small_csv),
        backbone=str(tiny_encoder),
        strategy="setfit",
        output_dir=str(tmp_path / "runs"),
        setfit_iterations=2,
        epochs=1,
        batch_size=16,
        max_length=16,
        class_weights="balanced",
    )
    spec = data_spec(cfg)
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_setfit(cfg, run, spec)
    assert metrics["status"] == "completed" and metrics["labels"] == ["neg", "pos"]
    assert metrics["global_step"] == metrics["max_steps"] > 0
    assert metrics["test"]["n"] == len(spec.test)
    assert is_setfit_model(run.model_dir)
    probs = load_setfit(run.model_dir).predict_proba(["i loved it", "terrible awful mess"])
    assert probs.shape == (2, 2)
    log_events = run.events("log")
    assert log_events and log_events[-1]["progress"] == 1.0
