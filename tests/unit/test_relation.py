"""Relation task: entity location and markers, data checks, metrics, tiny training runs."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.config import RunConfig
from engine.data import DataError
from engine.runs import RunStore
from engine.strategies import STRATEGIES
from engine.tasks import _common as common
from engine.tasks import get_task
from engine.tasks import relation as rel
from engine.training.pipeline import train_run

from tests.conftest import REPO

SAMPLE = REPO / "sample_data" / "relation_sample.csv"


def _cfg(path, **kw) -> RunConfig:
    return RunConfig(task="relation", data=str(path), **kw)


def _write(tmp_path, rows, name="rel.csv") -> str:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _rows(n=30):
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            out.append(
                {
                    "sentence": f"Ann{i} works for Acme{i}.",
                    "subject": f"Ann{i}",
                    "object": f"Acme{i}",
                    "label": "works_for",
                }
            )
        elif kind == 1:
            out.append(
                {
                    "sentence": f"Bo{i} was born in Oslo{i}.",
                    "subject": f"Bo{i}",
                    "object": f"Oslo{i}",
                    "label": "born_in",
                }
            )
        else:
            out.append(
                {
                    "sentence": f"Cy{i} visited Rome{i}.",
                    "subject": f"Cy{i}",
                    "object": f"Rome{i}",
                    "label": "no_relation",
                }
            )
    return out


# ---- entities and markers --------------------------------------------------------------------


def test_locate_prefers_whole_words_case_insensitive_and_the_closest_pair():
    text = "Paris is big. Later, Anna Berg, born in PARIS, left."
    hs, he, ts, te = rel.locate(text, "anna berg", "Paris")
    assert text[hs:he] == "Anna Berg" and text[ts:te] == "PARIS" and ts > 30
    assert rel.locate("Annabel met Ann.", "Ann", "Annabel") == (12, 15, 0, 7)  # whole word
    assert rel.locate("no entity here", "Bob", "here") == "head"
    assert rel.locate("Bob is here", "Bob", "Alice") == "tail"
    assert rel.locate("New York City", "New York", "York City") == "overlap"


def test_mark_and_window():
    text = "Anna Berg works for Norvik Labs."
    span = rel.locate(text, "Anna Berg", "Norvik Labs")
    assert rel.mark(text, span) == "@ Anna Berg @ works for # Norvik Labs #."
    span = rel.locate("Norvik Labs hired Anna Berg", "Anna Berg", "Norvik Labs")
    assert rel.mark("Norvik Labs hired Anna Berg", span) == "# Norvik Labs # hired @ Anna Berg @"


def test_long_text_keeps_a_window_with_both_markers(tiny_encoder):
    tok = common.load_tokenizer(tiny_encoder)
    text = "filler words " * 80 + "Anna Berg works for Norvik Labs. " + "more words " * 80
    frame = pd.DataFrame(
        {"text": [text], "span": [list(rel.locate(text, "Anna Berg", "Norvik Labs"))]}
    )
    marked = rel.mark_rows(frame, tok, 24)[0]
    assert "@ Anna Berg @ works for # Norvik Labs #" in marked
    assert len(tok(marked)["input_ids"]) <= 24


# ---- data ------------------------------------------------------------------------------------


def test_prepare_infers_columns_and_stratifies(tmp_path):
    data = rel.prepare(_cfg(_write(tmp_path, _rows())))
    assert data.columns == {
        "text": "sentence",
        "head": "subject",
        "tail": "object",
        "relation": "label",
    }
    assert data.labels == ["born_in", "no_relation", "works_for"]
    assert data.info["negative_label"] == "no_relation"
    assert sorted(data.test["relation"]) == ["born_in", "no_relation", "works_for"]
    assert {"text", "head", "tail", "relation", "span"} <= set(data.train.columns)


def test_entity_not_in_text_lists_the_rows(tmp_path):
    rows = _rows()
    for i in (2, 5, 9, 11, 14, 20, 25):
        rows[i]["object"] = "Atlantis"
    with pytest.raises(DataError) as e:
        rel.prepare(_cfg(_write(tmp_path, rows)))
    msg = str(e.value)
    assert "tail entity is not in its text" in msg
    assert "rows 3, 6, 10, 12, 15 and 2 more" in msg and "'Atlantis'" in msg


@pytest.mark.parametrize(
    "mutate, kw, words",
    [
        (lambda r: r, {"head_column": "subj"}, "Did you mean 'subject'?"),
        (lambda r: [{**x, "label": "works_for"} for x in r], {}, "only one relation"),
        (
            lambda r: [
                {"a": x["sentence"], "b": x["subject"], "c": x["object"], "d": x["label"]}
                for x in r
            ],
            {},
            "Could not tell which column",
        ),
        (lambda r: [{**x, "object": x["sentence"]} for x in r], {}, "overlap"),
    ],
)
def test_prepare_errors(tmp_path, mutate, kw, words):
    with pytest.raises(DataError) as e:
        rel.prepare(_cfg(_write(tmp_path, mutate(_rows())), **kw))
    assert words in str(e.value)


def test_explicit_columns_and_empty_cells(tmp_path):
    rows = [
        {"s": x["sentence"], "h": x["subject"], "t": x["object"], "r": x["label"]} for x in _rows()
    ]
    rows[4]["t"] = None
    data = rel.prepare(
        _cfg(
            _write(tmp_path, rows),
            text_column="s",
            head_column="h",
            tail_column="t",
            label_column="r",
        )
    )
    assert len(data.train) + len(data.validation) + len(data.test) == 29
    assert any("1 of 30 rows" in w for w in data.warnings)


# ---- metrics ---------------------------------------------------------------------------------


def test_positive_micro_f1_by_hand():
    # negative class 0; gold/pred pairs: (1,1) ok, (2,1) wrong, (0,2) false alarm, (1,0) miss
    gold, pred = [1, 2, 0, 1, 0], [1, 1, 2, 0, 0]
    # predicted non-negative: 3 (1 correct); gold non-negative: 3 -> P = R = 1/3
    assert rel.positive_micro_f1(gold, pred, 0) == pytest.approx(1 / 3)
    assert rel.positive_micro_f1(gold, pred, None) == pytest.approx(2 / 5)  # accuracy


def test_unsupported_and_defaults():
    assert rel.unsupported("setfit", "encoder")
    assert all(
        rel.unsupported(s, f) is None
        for s in STRATEGIES
        if s != "setfit"
        for f in ("encoder", "decoder")
    )
    assert rel.DEFAULT_METRIC == "macro_f1" and rel.INPUT_FIELDS == ["text", "head", "tail"]
    assert get_task("relation") is rel


# ---- training --------------------------------------------------------------------------------


def _train(tmp_path, backbone, **kw):
    base = dict(
        backbone=str(backbone),
        output_dir=str(tmp_path / "runs"),
        max_steps=4,
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=32,
        max_rows=100,
    )
    cfg = _cfg(SAMPLE, **{**base, **kw})
    run = RunStore(cfg.output_dir).create(cfg)
    return run, train_run(cfg, run)


@pytest.mark.parametrize(
    "fixture, strategy",
    [("tiny_encoder", "lora"), ("tiny_encoder", "full"), ("tiny_decoder", "lora")],
)
def test_train_run_and_predictor(request, tmp_path, fixture, strategy):
    run, metrics = _train(
        tmp_path, request.getfixturevalue(fixture), strategy=strategy, class_weights="balanced"
    )
    assert run.status == "completed" and metrics["task"] == "relation"
    for key in (
        "test",
        "validation",
        "before",
        "report",
        "examples",
        "majority_baseline",
        "parameters",
        "device",
        "train_samples_per_second",
        "global_step",
    ):
        assert key in metrics, key
    test = metrics["test"]
    assert test["n"] == 10 and {"accuracy", "macro_f1", "micro_f1_without_negative"} <= set(test)
    report = metrics["report"]
    assert len(report["confusion_matrix"]) == len(metrics["labels"]) == 5
    assert metrics["regularization"]["class_weights"] is not None
    assert (run.model_dir / "task.json").exists() and not run.checkpoints_dir.exists()

    pred = rel.Predictor(run.path)
    examples = metrics["examples"]
    out = pred.predict([{k: e[k] for k in ("text", "head", "tail")} for e in examples])
    for o, e in zip(out, examples):  # the reloaded model scores like the trained one
        assert o["relation"] == e["predicted"]
        assert o["probabilities"][e["predicted"]] == pytest.approx(e["confidence"], abs=1e-4)
        assert o["marked_text"] == e["marked_text"]
    table = pred.predict_table(
        pd.DataFrame(
            {
                "sentence": ["Anna Berg works for Norvik Labs."],
                "head": ["Anna Berg"],
                "tail": ["Norvik Labs"],
            }
        )
    )
    assert table["prediction"].iloc[0] in metrics["labels"]
    with pytest.raises(DataError, match="tail entity is not in the text"):
        pred.predict([{"text": "Anna works here.", "head": "Anna", "tail": "Bob"}])
    with pytest.raises(DataError, match="lacks 'tail'"):
        pred.predict([{"text": "Anna works here.", "head": "Anna"}])


@pytest.mark.parametrize(
    "strategy", [s for s in STRATEGIES if s not in ("auto", "setfit", "qlora")]
)
def test_every_strategy_trains_a_couple_of_steps(tmp_path, tiny_encoder, strategy):
    run, metrics = _train(
        tmp_path, tiny_encoder, strategy=strategy, max_steps=2, max_rows=50, num_virtual_tokens=4
    )
    assert metrics["status"] == "completed" and metrics["global_step"] == 2
    assert metrics["parameters"]["trainable"] > 0
