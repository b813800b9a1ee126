"""The whole training path on tiny random models built from configs (seconds, not minutes)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pandas as pd
import pytest

from engine.config import RunConfig
from engine.predict import Predictor
from engine.runs import RunStore
from engine.training.pipeline import train_run

from tests.conftest import REPO


def _config(data, backbone, tmp_path, **kw) -> RunConfig:
    base = dict(
        data=str(data),
        backbone=str(backbone),
        output_dir=str(tmp_path / "runs"),
        max_steps=6,
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=32,
    )
    return RunConfig(**{**base, **kw})


@pytest.mark.parametrize("strategy", ["lora", "full", "head"])
def test_encoder_strategies_train_save_and_predict(strategy, small_csv, tiny_encoder, tmp_path):
    cfg = _config(small_csv, tiny_encoder, tmp_path, strategy=strategy)
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    assert run.status == "completed"
    assert set(metrics["test"]) >= {"accuracy", "macro_f1"}
    assert metrics["train_samples_per_second"] > 0
    par = metrics["parameters"]
    if strategy == "full":
        assert par["trainable"] == par["total"]
    else:
        assert 0 < par["trainable"] < par["total"] * 0.5
    assert (
        run.model_dir / ("adapter_config.json" if strategy == "lora" else "config.json")
    ).exists()
    assert not run.checkpoints_dir.exists()  # best model kept in model/, checkpoints cleaned
    events = run.events()
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert "log" in kinds and "eval" in kinds
    assert all(e["samples_per_second"] > 0 for e in run.events("log"))
    assert json.loads((run.path / "data.json").read_text())["labels"] == ["neg", "pos"]
    report = metrics["test_report"]
    assert len(report["confusion_matrix"]) == 2 and set(report["per_class"]) == {"neg", "pos"}

    pred = Predictor(run.path)
    out = pred.predict(["i loved it", "terrible awful mess"])
    assert {o["label"] for o in out} <= {"neg", "pos"}
    assert abs(sum(out[0]["probabilities"].values()) - 1) < 1e-6


def test_decoder_trains_through_sequence_classification_head(small_csv, tiny_decoder, tmp_path):
    cfg = _config(small_csv, tiny_decoder, tmp_path, strategy="lora")
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    assert metrics["status"] == "completed"
    assert run.events("start")[0]["family"] == "decoder"
    probs = Predictor(run.path).predict_proba(["short", "a somewhat longer text here"])
    assert probs.shape == (2, 2)


def test_stop_event_ends_early_but_keeps_a_model(small_csv, tiny_encoder, tmp_path):
    cfg = _config(
        small_csv, tiny_encoder, tmp_path, max_steps=0, epochs=50, early_stopping_patience=0
    )
    run = RunStore(cfg.output_dir).create(cfg)
    stop = threading.Event()
    stop.set()  # asked to stop before the first step ends
    metrics = train_run(cfg, run, stop)
    assert metrics["status"] == "stopped" and metrics["global_step"] < 5
    assert (run.model_dir / "labels.json").exists()


def test_time_budget_stops_training(small_csv, tiny_encoder, tmp_path):
    cfg = _config(
        small_csv,
        tiny_encoder,
        tmp_path,
        max_steps=0,
        epochs=100,
        early_stopping_patience=0,
        time_budget_seconds=1,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    assert metrics["status"] == "completed"
    assert "time budget" in metrics["stop_reason"]
    assert metrics["global_step"] < metrics["max_steps"]


def _cli(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_cli_train_then_predict(small_csv, tiny_encoder, tmp_path):
    res = _cli(
        "train",
        "--data",
        str(small_csv),
        "--backbone",
        str(tiny_encoder),
        "--max-steps",
        "4",
        "--batch-size",
        "8",
        "--output-dir",
        str(tmp_path / "runs"),
        "--strategy",
        "head",
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"run_dir", "test", "train_samples_per_second"} <= set(out)
    assert 0 <= out["test"]["accuracy"] <= 1 and "macro_f1" in out["test"]
    assert "Traceback" not in res.stderr

    to_predict = tmp_path / "new.csv"
    pd.DataFrame({"review": ["i loved it", "boring and bad"]}).to_csv(to_predict, index=False)
    res = _cli(
        "predict",
        "--run",
        out["run_dir"],
        "--data",
        str(to_predict),
        "--output",
        str(tmp_path / "pred.csv"),
    )
    assert res.returncode == 0, res.stderr
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["review", "prediction", "prob_neg", "prob_pos"]
    assert ((pred.prob_neg + pred.prob_pos - 1).abs() < 1e-4).all()


@pytest.mark.parametrize(
    "args, words",
    [
        (["train", "--data", "missing.csv"], "File not found: missing.csv"),
        (["train", "--data", "{csv}", "--label-column", "stars"], "'stars' is not in"),
        (["train", "--data", "{csv}", "--backbone", "no-such/model-anywhere"], "cannot be reached"),
        (["train", "--data", "{csv}", "--batch-size", "0"], "at least 1"),
        (["predict", "--run", "{tmp}", "--data", "{csv}", "--output", "x.csv"], "no trained model"),
    ],
)
def test_cli_bad_input_exit_2_one_line(args, words, small_csv, tmp_path):
    (tmp_path / "config.json").write_text(RunConfig().to_json())
    args = [a.replace("{csv}", str(small_csv)).replace("{tmp}", str(tmp_path)) for a in args]
    res = subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)},
    )
    assert res.returncode == 2, res.stderr
    assert words in res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # nothing created for bad input


def test_worst_errors_pair_each_text_with_its_own_labels(tmp_path, tiny_encoder):
    """Predictions come back in the test rows' order (transformers 5 length-groups evaluation
    batches unless told otherwise), so each listed mistake shows its own text's gold label."""
    rows = [("good " * (i % 7 + 1) + f"thing {i}", "pos" if i % 2 else "neg") for i in range(80)]
    data = tmp_path / "varied.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(data, index=False)
    cfg = _config(
        data,
        tiny_encoder,
        tmp_path,
        strategy="head",
        max_steps=2,
        test_fraction=0.4,
        eval_batch_size=4,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    gold_of = dict(rows)
    errors = metrics["worst_errors"]
    assert errors, "an untrained head makes some mistakes"
    assert all(e["gold"] == gold_of[e["text"]] for e in errors)


def test_early_stopping_waits_until_the_score_leaves_zero():
    from types import SimpleNamespace

    from engine.training.loop import early_stopping

    cb = early_stopping(2)
    args = SimpleNamespace(greater_is_better=True)
    state = SimpleNamespace(best_metric=0.0)
    for _ in range(5):  # a fresh NER head: F1 exactly 0 for a while
        cb.check_metric_value(args, state, None, 0.0)
    assert cb.early_stopping_patience_counter == 0
    state.best_metric = 0.4  # once it has learnt something, no improvement counts
    cb.check_metric_value(args, state, None, 0.3)
    cb.check_metric_value(args, state, None, 0.3)
    assert cb.early_stopping_patience_counter == 2
    loss = SimpleNamespace(greater_is_better=False)
    cb2 = early_stopping(2)
    cb2.check_metric_value(loss, SimpleNamespace(best_metric=0.5), None, 0.6)
    assert cb2.early_stopping_patience_counter == 1
