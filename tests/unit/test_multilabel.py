"""Multi-label task: data checks, metrics against hand-computed values, tiny training runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.config import RunConfig
from engine.data import DataError
from engine.runs import RunStore
from engine.strategies import STRATEGIES
from engine.tasks import get_task
from engine.tasks import multilabel as ml
from engine.training.pipeline import train_run

from tests.conftest import REPO

SAMPLE = REPO / "sample_data" / "multilabel_support_tickets.csv"


def _cfg(path, **kw) -> RunConfig:
    return RunConfig(task="multilabel", data=str(path), **kw)


def _write(tmp_path, rows, name="ml.csv") -> str:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _tickets(n=40, sep=";"):
    texts = [
        "parcel late and card charged twice",
        "app crashes on login",
        "refund please",
        "charged twice for shipping",
        "hello, nice shop",
    ]
    labels = [f"shipping{sep}billing", "technical", "refund", f"billing{sep}shipping", ""]
    return [{"message": f"{texts[i % 5]} {i}", "tags": labels[i % 5]} for i in range(n)]


# ---- data ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cells, expected",
    [
        (["a;b", "c", "a"], ";"),
        (["a|b", "c", "b|c"], "|"),
        (["a|b", "c;d", "e|f"], "|"),  # the one in more cells wins
        (["sports,politics", "sports", "politics,tech", "politics"], ","),
        (["Paris, France", "Lyon, France", "Oslo"], None),
        (["Washington, D.C.", "Paris, France", "Rome, Italy"], None),  # commas inside labels
        (["a,", "b"], None),  # an empty piece: not a separator
        (["x", "y", "z"], None),
    ],
)
def test_detect_separator(cells, expected):
    assert ml.detect_separator(cells) == expected


def test_prepare_separated_column_keeps_rows_without_labels(tmp_path):
    data = ml.prepare(_cfg(_write(tmp_path, _tickets())))
    assert data.labels == ["billing", "refund", "shipping", "technical"]
    assert data.columns == {"text": "message", "labels": "tags"}
    assert data.info["separator"] == ";" and data.info["rows_without_labels"] == 8
    assert any("8 of 40 rows" in w and "no label" in w for w in data.warnings)
    rows = len(data.train) + len(data.validation) + len(data.test)
    assert rows == 40 and len(data.test) == 4 and len(data.validation) == 4
    assert all(isinstance(ls, list) for ls in data.train["labels"])


def test_prepare_pipe_separator_and_label_in_one_row(tmp_path):
    rows = _tickets(sep="|") + [{"message": "a unique complaint", "tags": "legal|refund"}]
    data = ml.prepare(_cfg(_write(tmp_path, rows)))
    assert data.info["separator"] == "|"
    assert "legal" in data.labels
    assert any("only one row (legal)" in w for w in data.warnings)


def test_prepare_binary_columns_named_and_detected(tmp_path):
    rows = [
        {"text": f"text number {i}", "spam": i % 2, "urgent": int(i % 3 == 0), "id": 1000 + i}
        for i in range(30)
    ]
    path = _write(tmp_path, rows)
    named = ml.prepare(_cfg(path, label_columns="spam, urgent"))
    assert named.labels == ["spam", "urgent"] and named.info["format"] == "columns"
    assert named.columns == {"text": "text", "label_columns": "spam,urgent"}
    auto = ml.prepare(_cfg(path))  # no label column named: the 0/1 columns are found
    assert auto.labels == ["spam", "urgent"]
    first = auto.train.iloc[0]
    i = int(first["text"].split()[-1])
    assert first["labels"] == [l for l, on in (("spam", i % 2), ("urgent", i % 3 == 0)) if on]


def test_binary_column_with_other_values_is_a_data_error(tmp_path):
    rows = [{"text": f"t {i}", "a": 1, "b": 0} for i in range(10)]
    rows[3]["b"], rows[7]["b"] = "maybe", 2
    with pytest.raises(DataError) as e:
        ml.prepare(_cfg(_write(tmp_path, rows), label_columns="a,b"))
    msg = str(e.value)
    assert "'b'" in msg and "rows 4 and 8" in msg and "only 0 or 1" in msg


def test_blank_binary_cells_read_as_zero_with_warning(tmp_path):
    rows = [
        {"text": f"t {i}", "a": i % 2, "b": "" if i == 3 else int(i % 3 == 0)} for i in range(20)
    ]
    data = ml.prepare(_cfg(_write(tmp_path, rows), label_columns="a,b"))
    assert any("1 blank cells" in w for w in data.warnings)


@pytest.mark.parametrize(
    "rows, kw, words",
    [
        (_tickets(), {"label_column": "tag"}, "Did you mean 'tags'?"),
        ([{"message": f"m {i}", "tags": "only"} for i in range(10)], {}, "at least two"),
        ([{"message": f"m {i}", "other": f"x{i}"} for i in range(10)], {}, "holds the labels"),
        ([{"text": f"m {i}", "a": 1} for i in range(10)], {"label_columns": "a"}, "at least two"),
        (_tickets(3), {}, "only 3 usable rows"),
    ],
)
def test_prepare_errors(tmp_path, rows, kw, words):
    with pytest.raises(DataError) as e:
        ml.prepare(_cfg(_write(tmp_path, rows), **kw))
    assert words in str(e.value)


def test_test_file_with_unseen_labels(tmp_path):
    test_rows = [
        {"message": "parcel late", "tags": "shipping;alien"},
        {"message": "crash", "tags": "technical"},
    ]
    cfg = _cfg(_write(tmp_path, _tickets()), test_data=_write(tmp_path, test_rows, "t.csv"))
    data = ml.prepare(cfg)
    assert data.test["labels"].tolist() == [["shipping"], ["technical"]]
    assert any("alien" in w for w in data.warnings)


# ---- metrics ---------------------------------------------------------------------------------


def test_scores_by_hand():
    gold = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 0]])
    pred = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 0, 0]])
    s = ml.scores(gold, pred)
    # TP = 3 (r0 l0, r1 l1, r3 l0), FP = 1 (r1 l2), FN = 2 (r0 l2, r3 l1)
    assert s["micro_f1"] == pytest.approx(6 / 9)
    assert s["micro_precision"] == pytest.approx(3 / 4)
    assert s["micro_recall"] == pytest.approx(3 / 5)
    # per label F1: l0 = 1, l1 = 2/3 (tp1 fn1), l2 = 0 (fp1 fn1)
    assert s["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    # per row: 2/3, 2/3, 1 (both empty), 2/3
    assert s["samples_f1"] == pytest.approx((2 / 3 * 3 + 1) / 4)
    assert s["subset_accuracy"] == pytest.approx(1 / 4)
    assert s["hamming_loss"] == pytest.approx(3 / 12)
    assert s["n"] == 4


def test_macro_f1_ignores_labels_absent_from_gold_and_predictions():
    gold = np.array([[1, 0], [1, 0]])
    assert ml.scores(gold, gold)["macro_f1"] == 1.0


def test_best_threshold_and_report():
    gold = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    probs = np.array([[0.3, 0.1], [0.2, 0.35], [0.32, 0.4], [0.1, 0.05]])
    th = ml.best_threshold(gold, probs)
    assert 0.2 < th <= 0.3  # every gold label is above, every other below
    assert ml.scores(gold, probs >= th)["micro_f1"] == 1.0
    rep = ml.per_label_report(gold, probs >= 0.5, ["a", "b"])["per_label"]
    assert rep["a"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2, "predicted": 0}


def test_unsupported_and_defaults():
    assert ml.unsupported("setfit", "encoder")
    assert all(
        ml.unsupported(s, f) is None
        for s in STRATEGIES
        if s != "setfit"
        for f in ("encoder", "decoder")
    )
    assert ml.DEFAULT_STRATEGY("encoder") == "lora" and ml.DEFAULT_METRIC == "micro_f1"
    assert get_task("multilabel") is ml and ml.INPUT_FIELDS == ["text"]


# ---- training --------------------------------------------------------------------------------


def _train(tmp_path, backbone, **kw):
    base = dict(
        backbone=str(backbone),
        output_dir=str(tmp_path / "runs"),
        max_steps=4,
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=32,
        max_rows=80,
    )
    cfg = _cfg(SAMPLE, **{**base, **kw})
    run = RunStore(cfg.output_dir).create(cfg)
    return run, train_run(cfg, run)


@pytest.mark.parametrize(
    "fixture, strategy",
    [("tiny_encoder", "lora"), ("tiny_encoder", "full"), ("tiny_decoder", "lora")],
)
def test_train_run_and_predictor(request, tmp_path, fixture, strategy):
    run, metrics = _train(tmp_path, request.getfixturevalue(fixture), strategy=strategy)
    assert run.status == "completed" and metrics["task"] == "multilabel"
    for key in (
        "test",
        "validation",
        "before",
        "report",
        "examples",
        "parameters",
        "device",
        "train_samples_per_second",
        "train_seconds",
        "global_step",
        "max_steps",
    ):
        assert key in metrics, key
    test = metrics["test"]
    assert test["n"] == 8 and set(ml.REPORTED) <= set(test)
    assert 0.05 <= metrics["threshold"] <= 0.95
    assert set(metrics["report"]["per_label"]) == set(metrics["labels"])
    assert (run.model_dir / "task.json").exists() and not run.checkpoints_dir.exists()
    info = json.loads((run.model_dir / "task.json").read_text())
    assert info["threshold"] == metrics["threshold"]
    kinds = [e["event"] for e in run.events()]
    assert "start" in kinds and kinds[-1] == "end" and "eval" in kinds and "log" in kinds

    pred = ml.Predictor(run.path)
    examples = metrics["examples"]
    out = pred.predict([e["text"] for e in examples])
    for o, e in zip(out, examples):  # the reloaded model scores like the trained one
        for label, p in e["probabilities"].items():
            assert o["probabilities"][label] == pytest.approx(p, abs=1e-4)
        assert o["labels"] == e["predicted"]
    one = pred.predict("my parcel is late")  # a single text works too
    assert len(one) == 1 and set(one[0]["probabilities"]) == set(metrics["labels"])
    table = pred.predict_table(pd.DataFrame({"text": ["refund please", "app crashes"]}))
    assert list(table.columns[:2]) == ["text", "prediction"]
    assert {f"prob_{l}" for l in metrics["labels"]} <= set(table.columns)


@pytest.mark.parametrize(
    "strategy", [s for s in STRATEGIES if s not in ("auto", "setfit", "qlora")]
)
def test_every_strategy_trains_a_couple_of_steps(tmp_path, tiny_encoder, strategy):
    run, metrics = _train(
        tmp_path, tiny_encoder, strategy=strategy, max_steps=2, max_rows=40, num_virtual_tokens=4
    )
    assert metrics["status"] == "completed" and metrics["global_step"] == 2
    assert metrics["parameters"]["trainable"] > 0
