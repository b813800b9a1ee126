"""Extractive QA: SQuAD metrics, answer location, long-context windows, tiny training runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.config import RunConfig
from engine.data import DataError
from engine.runs import RunStore
from engine.strategies import STRATEGIES
from engine.tasks import _common as common
from engine.tasks import get_task
from engine.tasks import qa
from engine.training.pipeline import train_run

from tests.conftest import REPO

SAMPLE = REPO / "sample_data" / "qa_sample.jsonl"


def _cfg(path, **kw) -> RunConfig:
    return RunConfig(task="qa", data=str(path), **kw)


def _rows(n=24):
    out = []
    for i in range(n):
        ctx = f"Person{i} was born in City{i} in {1950 + i}. She founded Firm{i} later."
        q, a = [
            (f"Where was Person{i} born?", f"City{i}"),
            (f"Who founded Firm{i}?", f"Person{i}"),
            (f"When was Person{i} born?", str(1950 + i)),
        ][i % 3]
        out.append({"context": ctx, "question": q, "answer": a})
    return out


def _write_csv(tmp_path, rows, name="qa.csv") -> str:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _write_jsonl(tmp_path, rows, name="qa.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


# ---- metrics ---------------------------------------------------------------------------------


def test_normalize_like_the_squad_script():
    assert qa.normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert qa.normalize_answer("an apple, a pear") == "apple pear"
    assert qa.normalize_answer("«Señor»") == "señor"  # Unicode punctuation too


def test_exact_match_and_f1_by_hand():
    assert qa.exact_match("the Eiffel tower", "Eiffel Tower.") == 1.0
    # pred tokens: eiffel tower paris / gold: eiffel tower -> P 2/3, R 1 -> F1 0.8
    assert qa.f1_score("Eiffel Tower, Paris", "the Eiffel Tower") == pytest.approx(0.8)
    # "in" is no article: 4 predicted tokens -> P 1/2, R 1 -> F1 2/3
    assert qa.f1_score("Eiffel Tower in Paris", "the Eiffel Tower") == pytest.approx(2 / 3)
    assert qa.f1_score("London", "Paris") == 0.0
    assert qa.f1_score("", "") == 1.0 and qa.f1_score("a", "Paris") == 0.0  # "a" normalises empty
    scores = qa.squad_scores(
        ["Paris", "in 1889", "Gustave"], [["Paris", "Paris, France"], ["1889"], ["Gustave Eiffel"]]
    )
    assert scores["exact_match"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert scores["n"] == 3


def test_cjk_f1_per_character():
    assert qa.answer_tokens("北京大学") == ["北", "京", "大", "学"]
    # 北京 vs 北京大学: P 1, R 0.5 -> 2/3
    assert qa.f1_score("北京", "北京大学") == pytest.approx(2 / 3)
    assert qa.answer_tokens("在 Tokyo 东京") == ["在", "tokyo", "东", "京"]


# ---- data ------------------------------------------------------------------------------------


def test_find_answer_uses_the_start_or_the_closest_occurrence():
    ctx = "Paris is big. I love Paris. paris!"
    assert qa.find_answer(ctx, "Paris") == (0, "Paris")
    assert qa.find_answer(ctx, "Paris", 21) == (21, "Paris")
    assert qa.find_answer(ctx, "Paris", 25) == (21, "Paris")  # start off by a few: nearest
    assert qa.find_answer("I love PARIS.", "paris") == (7, "PARIS")
    assert qa.find_answer(ctx, "London") is None


def test_prepare_csv_infers_columns_and_splits_by_context(tmp_path):
    data = qa.prepare(_cfg(_write_csv(tmp_path, _rows())))
    assert data.columns == {"context": "context", "question": "question", "answer": "answer"}
    assert data.info["split_by_context"]
    assert not set(data.train["context"]) & set(data.test["context"])
    row = data.train.iloc[0]
    assert row["context"][row["answer_start"] :][: len(row["answer"])] == row["answer"]


def test_prepare_squad_layout_jsonl(tmp_path):
    rows = [
        {
            "context": r["context"],
            "question": r["question"],
            "answers": {"text": [r["answer"]], "answer_start": [r["context"].find(r["answer"])]},
        }
        for r in _rows()
    ]
    rows[0]["answers"] = {"text": [], "answer_start": []}  # unanswerable: left out
    data = qa.prepare(_cfg(_write_jsonl(tmp_path, rows)))
    assert data.columns["answer"] == "answers"
    assert len(data.train) + len(data.validation) + len(data.test) == 23
    assert any("no answer" in w for w in data.warnings)


def test_answer_start_column_that_points_elsewhere(tmp_path):
    rows = _rows()
    for r in rows:
        r["answer_start"] = r["context"].find(r["answer"])
    rows[1]["answer_start"] = 3  # wrong: the nearest occurrence is used, with a warning
    data = qa.prepare(_cfg(_write_csv(tmp_path, rows)))
    assert data.columns["answer_start"] == "answer_start"
    assert any("did not point at the answer" in w for w in data.warnings)


def test_answer_not_in_context_lists_rows(tmp_path):
    rows = _rows()
    rows[4]["answer"] = "Atlantis"
    rows[10]["answer"] = "Nowhere"
    with pytest.raises(DataError) as e:
        qa.prepare(_cfg(_write_csv(tmp_path, rows)))
    msg = str(e.value)
    assert "rows 5 and 11" in msg and "'Atlantis'" in msg and "copied exactly" in msg


@pytest.mark.parametrize(
    "rows, kw, words",
    [
        (_rows(), {"question_column": "qestion"}, "Did you mean 'question'?"),
        (
            [{"a": r["context"], "b": r["question"], "c": r["answer"]} for r in _rows()],
            {},
            "Could not tell which column",
        ),
        (_rows(3), {}, "only 3 usable rows"),
    ],
)
def test_prepare_errors(tmp_path, rows, kw, words):
    with pytest.raises(DataError) as e:
        qa.prepare(_cfg(_write_csv(tmp_path, rows), **kw))
    assert words in str(e.value)


# ---- windows and decoding --------------------------------------------------------------------


def test_long_context_windows_hold_the_answer_once(tiny_encoder):
    tok = common.load_tokenizer(tiny_encoder)
    ctx = (
        " ".join(f"word{i}" for i in range(120))
        + " The treasure is in Lisbon. "
        + " ".join(f"tail{i}" for i in range(60))
    )
    frame = pd.DataFrame(
        [
            {
                "context": ctx,
                "question": "Where is the treasure?",
                "answer": "Lisbon",
                "answer_start": ctx.find("Lisbon"),
            }
        ]
    )
    feats = qa.features(frame, tok, 64)
    n = len(feats["example"])
    assert n > 3 and set(feats["example"]) == {0}
    assert all(len(ids) <= 64 for ids in feats["data"]["input_ids"])
    hits = [
        (s, e)
        for s, e in zip(feats["data"]["start_positions"], feats["data"]["end_positions"])
        if s
    ]
    assert hits  # at least one window holds the whole answer...
    for (s, e), offsets in zip(
        hits, [o for o, s in zip(feats["offsets"], feats["data"]["start_positions"]) if s]
    ):
        assert ctx[offsets[s][0] : offsets[e][1]] == "Lisbon"
    # ...and decoding logits that point at it from any window finds the answer text
    i = feats["data"]["start_positions"].index(hits[0][0])
    start = [np.full(len(ids), -5.0) for ids in feats["data"]["input_ids"]]
    end = [np.full(len(ids), -5.0) for ids in feats["data"]["input_ids"]]
    start[i][hits[0][0]], end[i][hits[0][1]] = 5.0, 5.0
    out = qa.decode(start, end, feats, [ctx], max_answer_tokens=30)
    assert out[0]["answer"] == "Lisbon" and out[0]["score"] > 0.5
    assert ctx[out[0]["start"] : out[0]["end"]] == "Lisbon"


def test_decode_respects_order_and_max_length():
    feats = {"example": [0], "offsets": [[None, (0, 3), (4, 8), (9, 12), None]]}
    start = [np.array([9.0, 1.0, 0.0, 3.0, 9.0])]
    end = [np.array([9.0, 2.0, 0.0, -1.0, 9.0])]
    # tokens 0 and 4 are outside the context; the best start (3) lies after the best end (1):
    # the best valid pair is (1, 1) = 3 (not (3, 3) = 2)
    assert qa.decode(start, end, feats, ["abc defg hij"], 30)[0]["answer"] == "abc"
    end = [np.array([0.0, 0.0, 0.0, 2.0, 0.0])]
    assert qa.decode(start, end, feats, ["abc defg hij"], 30)[0]["answer"] == "hij"
    start = [np.array([0.0, 5.0, 0.0, 0.0, 0.0])]
    assert qa.decode(start, end, feats, ["abc defg hij"], 2)[0]["answer"] != "abc defg hij"


def test_unsupported_and_defaults():
    assert qa.unsupported("setfit", "encoder")
    for s in ("prompt", "ptuning"):
        assert "answer positions" in qa.unsupported(s, "encoder")
    assert all(
        qa.unsupported(s, f) is None
        for s in STRATEGIES
        if s not in ("setfit", "prompt", "ptuning")
        for f in ("encoder", "decoder")
    )
    assert qa.DEFAULT_METRIC == "f1" and qa.INPUT_FIELDS == ["context", "question"]
    assert get_task("qa") is qa


# ---- training --------------------------------------------------------------------------------


def _train(tmp_path, backbone, **kw):
    base = dict(
        backbone=str(backbone),
        output_dir=str(tmp_path / "runs"),
        max_steps=4,
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=48,
        max_rows=80,
    )
    cfg = _cfg(SAMPLE, **{**base, **kw})
    run = RunStore(cfg.output_dir).create(cfg)
    return run, train_run(cfg, run)


@pytest.mark.parametrize(
    "fixture, strategy",
    [
        ("tiny_encoder", "lora"),
        ("tiny_encoder", "full"),
        ("tiny_decoder", "lora"),
        ("tiny_decoder", "full"),
    ],
)
def test_train_run_and_predictor(request, tmp_path, fixture, strategy):
    run, metrics = _train(tmp_path, request.getfixturevalue(fixture), strategy=strategy)
    assert run.status == "completed" and metrics["task"] == "qa"
    for key in (
        "test",
        "validation",
        "before",
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
    assert {"exact_match", "f1", "n"} <= set(test) and test["n"] == 8
    assert metrics["windows"]["train"] > 64  # 48-token windows: contexts are split
    assert (run.model_dir / "task.json").exists() and not run.checkpoints_dir.exists()
    examples = metrics["examples"]
    assert {"context", "question", "gold", "predicted", "score"} <= set(examples[0])

    pred = qa.Predictor(run.path)
    out = pred.predict([{"context": e["context"], "question": e["question"]} for e in examples])
    for o, e in zip(out, examples):  # the reloaded model answers like the trained one
        assert o["answer"] == e["predicted"]
        assert o["score"] == pytest.approx(e["score"], abs=1e-5)
    table = pred.predict_table(
        pd.DataFrame({"passage": [examples[0]["context"]], "question": [examples[0]["question"]]})
    )
    assert table["prediction"].iloc[0] == examples[0]["predicted"]
    with pytest.raises(DataError, match="lacks 'question'"):
        pred.predict({"context": "Some text."})


@pytest.mark.parametrize(
    "strategy", [s for s in STRATEGIES if s not in ("auto", "setfit", "qlora", "prompt", "ptuning")]
)
def test_every_supported_strategy_trains_a_couple_of_steps(tmp_path, tiny_encoder, strategy):
    run, metrics = _train(
        tmp_path, tiny_encoder, strategy=strategy, max_steps=2, max_rows=40, num_virtual_tokens=4
    )
    assert metrics["status"] == "completed" and metrics["global_step"] == 2
    assert metrics["parameters"]["trainable"] > 0


def test_prompt_tuning_is_refused_before_training(tmp_path, tiny_encoder):
    from engine.config import ConfigError

    cfg = _cfg(
        SAMPLE,
        backbone=str(tiny_encoder),
        strategy="prompt",
        output_dir=str(tmp_path / "runs"),
        max_steps=2,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    with pytest.raises(ConfigError, match="answer positions"):
        train_run(cfg, run)


def test_separate_test_file_without_offsets(tmp_path):
    rows = _rows()
    for r in rows:
        r["answer_start"] = r["context"].find(r["answer"])
    test_rows = [{k: v for k, v in r.items() if k != "answer_start"} for r in _rows(6)]
    cfg = _cfg(_write_csv(tmp_path, rows), test_data=_write_csv(tmp_path, test_rows, "t.csv"))
    data = qa.prepare(cfg)
    assert len(data.test) == 6 and len(data.train) + len(data.validation) == 24
    missing = [{"context": r["context"], "question": r["question"]} for r in _rows(6)]
    cfg = _cfg(_write_csv(tmp_path, rows), test_data=_write_csv(tmp_path, missing, "m.csv"))
    with pytest.raises(DataError, match="lacks the column"):
        qa.prepare(cfg)
