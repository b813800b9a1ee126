"""The Evaluate / Data / Runs views of the tasks other than classification, without a browser."""

from __future__ import annotations

import json

import pytest

from engine.config import RunConfig
from engine.runs import RunStore
from engine.tasks import COLUMN_ROLES, MAIN_METRIC, TASK_MODULES, guess_task
from ui import evaluate_tab, runs_tab, task_views


def fake_task_run(root, run_id, task, metrics, examples=None):
    store = RunStore(root)
    run = store.create(RunConfig(task=task, data="x.csv", output_dir=str(root)), run_id=run_id)
    run.model_dir.mkdir(parents=True, exist_ok=True)
    (run.model_dir / "task.json").write_text(json.dumps({"task": task}))
    run.write_metrics({"status": "completed", "task": task, **metrics, "examples": examples or []})
    run.set_status("completed")
    return store, run


def test_every_task_has_a_module_a_main_metric_and_column_roles():
    for task in RunConfig.__dataclass_fields__["task"].metadata["choices"]:
        assert task in TASK_MODULES and task in MAIN_METRIC and task in COLUMN_ROLES
        assert task in task_views.INPUT_ROLES and task in task_views.OUTPUT_KIND


@pytest.mark.parametrize(
    "name,columns,task",
    [
        ("wnut16_train.conll", [], "ner"),
        ("mine.jsonl", ["tokens", "tags"], "ner"),
        ("rel.csv", ["text", "head", "tail", "relation"], "relation"),
        ("squad.csv", ["context", "question", "answer"], "qa"),
        ("bible_en_web__es_rv1909.csv", ["en", "es"], "translation"),
        ("news_summaries.csv", ["article", "summary"], "summarization"),
        ("reviews.csv", ["text", "label"], None),
    ],
)
def test_guess_task_from_name_and_columns(name, columns, task):
    assert guess_task(name, columns) == task


def test_task_metrics_table_shows_before_and_after():
    metrics = {
        "test": {"chrf": 41.25, "bleu": 12.0, "rougeL": 0.412, "n": 24},
        "before": {"chrf": 20.5, "bleu": 3.1, "rougeL": 0.2, "n": 24},
        "parameters": {"trainable": 460000, "total": 134000000, "percent": 0.34},
    }
    table = task_views.task_metrics_table(metrics, "en")
    rows = dict(zip(table["Metric"], zip(table["Value"], table["Before fine-tuning"])))
    assert rows["chrF"] == ("41.2", "20.5") and rows["ROUGE-L"] == ("0.412", "0.200")
    assert rows["Test rows"][0] == "24"


def test_report_table_accepts_the_report_shapes_tasks_write():
    seqeval_like = {
        "report": {
            "PER": {"precision": 0.5, "recall": 1.0, "f1-score": 0.667, "support": 2},
            "LOC": {"precision": 1, "recall": 1, "f1-score": 1, "support": 1},
        }
    }
    table = task_views.task_report_table(seqeval_like, "en")
    assert list(table["Label"]) == ["PER", "LOC"] and list(table["F1"]) == [0.667, 1.0]
    nested = {
        "report": {"per_class": {"a": {"precision": 1, "recall": 0.5, "f1": 0.667, "support": 4}}}
    }
    assert list(task_views.task_report_table(nested, "en")["Test rows"]) == [4]


def test_ner_example_highlights_gold_and_predicted_spans():
    metrics = {
        "examples": [
            {
                "text": "Ada Lovelace lives in London",
                "gold_entities": [
                    {"start": 0, "end": 12, "label": "PER"},
                    {"start": 22, "end": 28, "label": "LOC"},
                ],
                "predicted_entities": [{"start": 0, "end": 3, "label": "PER"}],
            }
        ]
    }
    gold, pred = task_views.ner_example(metrics, 0)
    assert gold["entities"][1] == {"entity": "LOC", "start": 22, "end": 28}
    assert pred["entities"] == [{"entity": "PER", "start": 0, "end": 3}]
    assert task_views.ner_example({}, 0) == (None, None)


def test_prediction_inputs_and_outputs_per_task():
    assert task_views.prediction_input("qa", "ctx", "", "") == (None, "eval.need.question")
    assert task_views.prediction_input("qa", "ctx", "who?", "")[0] == {
        "context": "ctx",
        "question": "who?",
    }
    assert task_views.prediction_input("relation", "A met B", "A", "B")[0]["tail"] == "B"
    label, hl, text = task_views.prediction_outputs(
        "multilabel", {"labels": ["a", "c"], "probabilities": {"a": 0.9, "b": 0.1, "c": 0.7}}
    )
    assert label["a"] == 0.9 and text == "a, c" and hl is None
    _, hl, _ = task_views.prediction_outputs(
        "ner", {"text": "Ada", "entities": [{"start": 0, "end": 3, "label": "PER", "text": "Ada"}]}
    )
    assert hl["entities"][0]["entity"] == "PER"
    assert task_views.prediction_outputs("translation", {"output": "hola"})[2] == "hola"


def test_evaluate_tab_shows_a_generation_run_with_examples(tmp_path):
    store, run = fake_task_run(
        tmp_path,
        "gen",
        "translation",
        {"test": {"chrf": 40.0, "bleu": 10.0, "n": 2}, "before": {"chrf": 20.0, "bleu": 2.0}},
        examples=[
            {
                "source": "In the beginning",
                "reference": "En el principio",
                "before": "Al principio",
                "after": "En el principio",
            }
        ],
    )
    assert "gen" in [v for _, v in evaluate_tab.finished_runs(store)]
    note, metrics, fig, report, examples = evaluate_tab.show_run(store, "gen", "en")
    assert "msg-ok" in note and "20.0 before fine-tuning" in note
    assert list(examples.columns) == [
        "Source",
        "Reference",
        "Before fine-tuning",
        "After fine-tuning",
    ]
    extras = evaluate_tab.task_extras(store, "gen", "en")
    ner_group, answer = extras[0], extras[10]
    assert ner_group["visible"] is False and answer["visible"] is True
    assert extras[-1]["label"] == "Test examples"
    table = runs_tab.runs_table(store, "en")
    assert "40.0 chrF" in set(table.iloc[:, 7]) and "Translation" in set(table["Task"])


def test_evaluate_tab_warns_when_fine_tuning_did_not_help(tmp_path):
    store, _ = fake_task_run(
        tmp_path,
        "ner",
        "ner",
        {"test": {"f1": 0.1, "n": 5}, "before": {"f1": 0.2}},
        examples=[{"text": "x", "gold_entities": [], "predicted_entities": []}],
    )
    note = evaluate_tab.show_run(store, "ner", "en")[0]
    assert "msg-warning" in note
    extras = evaluate_tab.task_extras(store, "ner", "en")
    assert extras[0]["visible"] is True and extras[9]["visible"] is True  # highlighted answer


def test_predict_any_asks_for_the_missing_field(tmp_path):
    store, _ = fake_task_run(tmp_path, "qa", "qa", {"test": {"f1": 0.5, "n": 3}})
    out = evaluate_tab.predict_any(store, "qa", "Some context.", "", "", "en")
    assert "msg-warning" in out[-1] and "question" in out[-1]


def test_data_tab_inspects_a_task_file_with_its_own_columns():
    from ui import data_tab

    out = data_tab.inspect_task(
        "sample_data/relation_sample.csv",
        "",
        "",
        "en",
        None,
        None,
        None,
        "",
        None,
        None,
        "relation",
    )
    text_col, label_col, _, label_chart, _, summary, messages, head, tail, question, *_ = out
    assert "msg-ok" in messages and "Relation extraction" in summary
    assert text_col["value"] == "sentence" and label_col["label"] == "Relation column"
    assert head["visible"] and head["value"] == "head" and tail["value"] == "tail"
    assert not question["visible"]
    assert len(label_chart.data) == 1 and len(label_chart.data[0].y) == 5  # 5 relations


def test_data_tab_gives_a_human_message_for_a_wrong_task_file(tmp_path):
    from ui import data_tab

    bad = tmp_path / "tags.jsonl"
    bad.write_text('{"tokens": ["a", "b"], "tags": ["O"]}\n' * 10, encoding="utf-8")
    out = data_tab.inspect_task(str(bad), "", "", "en", None, None, None, "", None, None, "ner")
    assert "msg-error" in out[6] and "Traceback" not in out[6]


def test_data_tab_switches_to_the_multilingual_encoder_for_chinese():
    from ui import data_tab

    update, hint = data_tab.backbone_hint(
        "sample_data/ner_chinese_demo.jsonl", "tokens", "minilm-l6", "ner", "en"
    )
    assert update["value"] == "e5-small-multilingual" and "msg-info" in hint
    assert data_tab.backbone_hint(
        "sample_data/reviews_sentiment.csv", "text", "minilm-l6", "classification", "en"
    ) == ({"__type__": "update"}, "")
    # generation tasks train decoders: left alone
    assert (
        data_tab.backbone_hint(
            "sample_data/ner_chinese_demo.jsonl", "tokens", "minilm-l6", "translation", "en"
        )[1]
        == ""
    )


def test_generation_run_shows_before_after_bars_and_no_empty_report(tmp_path):
    store, _ = fake_task_run(
        tmp_path,
        "sum",
        "summarization",
        {
            "test": {"rougeL": 30.0, "chrf": 40.0, "loss": 2.0, "n": 3},
            "before": {"rougeL": 10.0, "chrf": 20.0, "loss": 3.0},
        },
    )
    fig = evaluate_tab.show_run(store, "sum", "en")[2]
    assert [trace.name for trace in fig.data] == ["before fine-tuning", "after fine-tuning"]
    assert list(fig.data[1].y) == [30.0, 40.0]  # loss is not a score to compare as a bar
    per_label = evaluate_tab.task_extras(store, "sum", "en")[-2]
    assert per_label["visible"] is False
