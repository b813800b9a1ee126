"""The studio's callbacks, called as plain functions (no browser, no model training)."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import fields
from pathlib import Path

import gradio as gr
import pytest

from engine.config import ConfigError, RunConfig
from engine.jobs import JobManager
from engine.runs import RunStore, write_json_atomic
from ui import charts, data_tab, evaluate_tab, runs_tab, train_tab
from ui.app import build_app, launch_kwargs
from ui.form import config_to_form, form_fields, form_to_config
from ui.i18n import TEXT, t

CJK = re.compile(r"[\u4e00-\u9fff]")
ELEM_IDS = [
    "data-upload",
    "data-sample",
    "data-use-sample",
    "text-column",
    "label-column",
    "data-messages",
    "data-summary",
    "data-preview",
    "train-start",
    "train-stop",
    "train-chart",
    "train-progress",
    "train-params",
    "train-status",
    "train-log",
    "train-message",
    "train-backbone",
    "train-strategy",
    "eval-run",
    "eval-metrics",
    "eval-confusion",
    "predict-text",
    "predict-button",
    "predict-label",
    "predict-file",
    "predict-file-button",
    "predict-download",
    "runs-table",
    "runs-select",
    "runs-open-eval",
    "runs-compare-chart",
    "runs-compare-table",
    "lang-switch",
]

CSV = (
    "text,label\n"
    + "\n".join(
        f"{'great fun and loved it' if i % 2 else 'dull and far too long'} #{i},"
        f"{'pos' if i % 2 else 'neg'}"
        for i in range(40)
    )
    + "\n"
)

EVENTS = [
    {"event": "message", "time": 1.0, "text": "Starting."},
    {
        "event": "start",
        "time": 2.0,
        "device": "CPU (2 threads), fp32",
        "max_steps": 30,
        "train_rows": 32,
        "parameters": {"trainable": 222338, "total": 22936324, "percent": 0.9694},
    },
    {
        "event": "log",
        "time": 3.0,
        "step": 5,
        "max_steps": 30,
        "loss": 0.69,
        "learning_rate": 1e-3,
        "samples_per_second": 10.5,
        "eta_seconds": 50,
        "progress": 0.17,
        "epoch": 0.5,
    },
    {
        "event": "eval",
        "time": 4.0,
        "step": 10,
        "eval_loss": 0.6,
        "eval_accuracy": 0.7,
        "eval_macro_f1": 0.65,
    },
    {
        "event": "log",
        "time": 5.0,
        "step": 20,
        "max_steps": 30,
        "loss": 0.5,
        "learning_rate": 5e-4,
        "samples_per_second": 11.0,
        "eta_seconds": 20,
        "progress": 0.67,
        "epoch": 2.0,
    },
    {
        "event": "eval",
        "time": 6.0,
        "step": 30,
        "eval_loss": 0.4,
        "eval_accuracy": 0.9,
        "eval_macro_f1": 0.88,
    },
]


def fake_run(root: Path, name: str, status: str = "completed", **config) -> Path:
    """A finished run folder as the engine writes it (no model weights)."""
    path = root / name
    path.mkdir(parents=True)
    RunConfig.from_dict({"data": "sample.csv", "run_name": name, **config}).save(
        path / "config.json"
    )
    write_json_atomic(
        path / "status.json",
        {
            "status": status,
            "created": time.time(),
            "started": time.time() - 60,
            "finished": time.time(),
        },
    )
    events = EVENTS + (
        [{"event": "end", "time": 7.0, "status": status}] if status != "running" else []
    )
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if status == "completed":
        write_json_atomic(
            path / "metrics.json",
            {
                "status": "completed",
                "validation": {"accuracy": 0.9, "macro_f1": 0.88, "n": 4},
                "test": {"accuracy": 0.875, "macro_f1": 0.87, "loss": 0.4, "n": 8},
                "test_report": {
                    "accuracy": 0.875,
                    "macro_f1": 0.87,
                    "weighted_f1": 0.874,
                    "n": 8,
                    "per_class": {
                        "neg": {"precision": 1.0, "recall": 0.75, "f1": 0.857, "support": 4},
                        "pos": {"precision": 0.8, "recall": 1.0, "f1": 0.889, "support": 4},
                    },
                    "confusion_matrix": [[3, 1], [0, 4]],
                    "labels": ["neg", "pos"],
                },
                "worst_errors": [
                    {"text": "dull #3", "gold": "neg", "predicted": "pos", "confidence": 0.71}
                ],
                "majority_baseline": 0.5,
                "train_samples_per_second": 11.2,
                "parameters": {"trainable": 222338, "total": 22936324, "percent": 0.9694},
                "device": "CPU",
                "total_seconds": 61.0,
                "labels": ["neg", "pos"],
            },
        )
    return path


def instant_train(config, run, stop):
    """Stands in for engine.training.pipeline.train_run: writes a short, finished run."""
    run.set_status("running")
    for e in EVENTS[1:]:
        run.append_event(**e)
    run.write_metrics({"status": "completed", "test": {"accuracy": 1.0, "macro_f1": 1.0}})
    run.append_event("end", status="completed")
    run.set_status("completed")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("studio")
    store = RunStore(root / "runs")
    demo = build_app(root / "runs", jobs=JobManager(store, train_fn=instant_train))
    return demo, demo.adaptune, root


@pytest.fixture()
def csv_file(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def form_args(ctx, **values):
    """Positional form values as gradio would pass them, with overrides."""
    base = config_to_form(RunConfig())
    base.update(values)
    return [base.get(name) for name in ctx.field_names()]


# ---- building ---------------------------------------------------------------------------------


def test_build_app_has_every_field_and_elem_id(app):
    demo, ctx, _ = app
    assert isinstance(demo, gr.Blocks)
    assert [f.name for f in form_fields()] == sorted(
        ctx.fields, key=[f.name for f in fields(RunConfig)].index
    )
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    missing = [e for e in ELEM_IDS if e not in ids]
    assert not missing, missing
    kw = launch_kwargs()
    assert "css" in kw and ".msg-error" in kw["css"]
    assert "googleapis" not in str(kw["theme"]._stylesheets)


# ---- form <-> config --------------------------------------------------------------------------


def test_form_config_round_trip():
    cfg = RunConfig(
        data="d.csv",
        text_column="body",
        label_column="y",
        strategy="full",
        epochs=2.5,
        learning_rate=3e-5,
        batch_size=8,
        freeze_embeddings=True,
        lora_r=4,
        lr_scheduler="cosine",
        run_name="mine",
        max_rows=200,
    )
    assert form_to_config(config_to_form(cfg)) == cfg


def test_form_values_as_gradio_sends_them():
    values = config_to_form(RunConfig())
    values.update(epochs=None, batch_size=32.0, run_name="  spaced  ", learning_rate="")
    cfg = form_to_config(values)
    assert cfg.epochs == RunConfig().epochs  # an emptied box means the default
    assert cfg.batch_size == 32 and isinstance(cfg.batch_size, int)
    assert cfg.run_name == "spaced"
    with pytest.raises(ConfigError):
        form_to_config({**values, "batch_size": 0})


def test_save_and_load_config_file(app, tmp_path):
    _, ctx, _ = app
    args = form_args(ctx, data="d.csv", strategy="head", epochs=1.5, run_name="saved")
    file_update, message = ctx.fn["save_config"]("en", *args)
    path = file_update["value"]
    assert "msg-ok" in message and RunConfig.load(path).strategy == "head"
    *values, message = ctx.fn["load_config"](path, "en")
    loaded = dict(zip(ctx.field_names(), values))
    assert loaded["epochs"] == 1.5 and loaded["run_name"] == "saved"
    assert loaded["data"] == "d.csv"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    *values, message = ctx.fn["load_config"](str(bad), "en")
    assert "msg-error" in message and "Traceback" not in message


# ---- data tab ---------------------------------------------------------------------------------


def test_inspect_data_on_a_good_file(csv_file):
    text_col, label_col, preview, label_fig, length_fig, summary, messages = data_tab.inspect_data(
        str(csv_file), "", "", "en"
    )
    assert text_col["value"] == "text" and label_col["value"] == "label"
    assert text_col["choices"] == ["text", "label"] or ("text", "text") in text_col["choices"]
    assert "msg-error" not in messages and "msg-ok" in messages
    assert "40 rows" in summary and "2 classes" in summary
    assert len(preview["value"]) == 20
    assert isinstance(label_fig, charts.go.Figure) and isinstance(length_fig, charts.go.Figure)


def test_inspect_data_on_a_sample_file():
    samples = data_tab.sample_choices()
    if not samples:
        pytest.skip("no sample_data files")
    out = data_tab.inspect_data(samples[0][1], "", "", "zh")
    assert out[0]["value"] and out[1]["value"]
    assert "msg-error" not in out[6]
    assert CJK.search(out[5])


def test_inspect_data_reports_a_broken_file(tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\x00\x01\x02binary")
    out = data_tab.inspect_data(str(broken), "", "", "en")
    assert "msg-error" in out[6] and "Traceback" not in out[6]
    assert out[0]["choices"] == []
    one_column = tmp_path / "one.csv"
    one_column.write_text("just text\nrow one\nrow two\n")
    assert "msg-error" in data_tab.inspect_data(str(one_column), "", "", "en")[6]


def test_changing_a_column_revalidates(csv_file):
    out = data_tab.inspect_data(str(csv_file), "label", "text", "en")
    assert "msg-error" in out[6]  # the text column as the label: every value distinct
    assert out[0]["value"] == "label"  # the user's choice is kept
    assert out[0]["choices"] == ["text", "label"]


def test_no_data_yet():
    out = data_tab.inspect_data("", "", "", "en")
    assert "msg-info" in out[6]


# ---- train tab --------------------------------------------------------------------------------


def test_start_without_data_or_with_bad_data(app, tmp_path):
    _, ctx, _ = app
    message, *rest = ctx.fn["start_run"]("en", *form_args(ctx, data=""))
    assert "Choose a data file" in message and "msg-error" in message
    broken = tmp_path / "one.csv"
    broken.write_text("only\nnope\n")
    message, *rest = ctx.fn["start_run"]("en", *form_args(ctx, data=str(broken)))
    assert "msg-error" in message and "Traceback" not in message


def test_start_attach_and_render_a_run(app, csv_file):
    _, ctx, _ = app
    message, run_id, timer, past = ctx.fn["start_run"](
        "en", *form_args(ctx, data=str(csv_file), run_name="quick")
    )
    assert "msg-ok" in message and run_id
    assert ctx.jobs.wait(run_id, timeout=20)
    status, progress, params, device, chart, log = train_tab.render_run(
        ctx.store, ctx.jobs, run_id, "en"
    )
    assert "completed" in status
    assert "100%" in progress and "Step 30 / 30" in progress
    assert "222.3K of 22.9M parameters train (1.0%)" in params
    assert len(chart.data) == 4
    assert "Step 30" in log
    attached = ctx.fn["train_attach"]("en")
    assert attached[0] == run_id
    *_, sig, timer_update = ctx.fn["train_tick"](run_id, "en", "")
    assert sig.endswith(":completed")
    skipped = ctx.fn["train_tick"](run_id, "en", sig)
    assert all(isinstance(x, type(gr.skip())) for x in skipped[:6])


def test_progress_of_a_queued_and_a_running_run(tmp_path):
    store = RunStore(tmp_path)
    run = store.get(fake_run(tmp_path, "live", status="running").name)
    html = train_tab.progress_html(run, run.events(), "running", "en")
    assert "Step 30 / 30" in html or "Step 20 / 30" in html
    assert "samples/s" in html
    queued = train_tab.progress_html(run, [], "queued", "zh", position=2)
    assert "2" in queued and CJK.search(queued)


def test_stop_without_a_run(app):
    _, ctx, _ = app
    assert "msg-warning" in ctx.fn["stop_run"](None, "en")


# ---- evaluate tab -----------------------------------------------------------------------------


def test_predict_without_a_run_says_so(tmp_path):
    store = RunStore(tmp_path)
    label, fig, message = evaluate_tab.predict_text(store, None, "hello", "en")
    assert label is None and "Pick a finished run" in message
    download, message = evaluate_tab.predict_file(store, None, None, "en")
    assert "Pick a finished run" in message
    label, fig, message = evaluate_tab.predict_text(store, "missing-run", "hello", "en")
    assert "msg-error" in message


def test_show_a_finished_run(tmp_path):
    fake_run(tmp_path, "done")
    store = RunStore(tmp_path)
    note, metrics, cm, per_class, errors = evaluate_tab.show_run(store, "done", "en")
    assert "msg-ok" in note
    values = dict(zip(metrics.iloc[:, 0], metrics.iloc[:, 1]))
    assert values["Accuracy"] == "0.875" and values["Majority baseline (accuracy)"] == "0.500"
    assert values["Weighted F1"] == "0.874"
    assert list(per_class.iloc[:, 0]) == ["neg", "pos"]
    assert errors.iloc[0, 0] == "dull #3"
    assert list(cm.data[0].z[0]) == [3, 1]
    note, *_ = evaluate_tab.show_run(store, None, "en")
    assert "msg-info" in note


# ---- runs tab ---------------------------------------------------------------------------------


def test_runs_table_and_comparison(tmp_path):
    fake_run(tmp_path, "a", strategy="lora")
    fake_run(tmp_path, "b", strategy="full", learning_rate=5e-5)
    store = RunStore(tmp_path)
    table = runs_tab.runs_table(store, "en")
    assert set(table["Name"]) == {"a", "b"} and "0.875" in set(table["Test accuracy"])
    fig, comparison, message = runs_tab.compare(store, ["a", "b"], "en")
    assert len(fig.data) == 4
    settings = list(comparison.iloc[:, 0])
    differing = [s for s, mark in zip(settings, comparison.iloc[:, 1]) if mark]
    assert "Fine-tuning strategy" in differing and "Learning rate" in differing
    # settings that differ come right after the metrics, before the shared ones
    first_shared = next(
        i
        for i, (s, m) in enumerate(zip(settings, comparison.iloc[:, 1]))
        if not m and s not in [t(f"runs.metric.{k}") for k in runs_tab.METRIC_ROWS]
    )
    assert settings.index("Fine-tuning strategy") < first_shared
    fig, comparison, message = runs_tab.compare(store, [], "en")
    assert "msg-info" in message


# ---- language ---------------------------------------------------------------------------------


def test_language_switch_updates_every_registered_text(app):
    _, ctx, _ = app
    updates = ctx.tr.updates("zh")
    assert len(updates) == len(ctx.tr.components) > 40
    texts = [str(v) for u in updates for k, v in u.items() if k in ("label", "value", "info")]
    assert sum(bool(CJK.search(x)) for x in texts) > 0.8 * len(texts)
    labels = [u.get("label") for u in updates]
    assert "文本列" in labels and "训练轮数" in labels
    back = ctx.tr.updates("en")
    assert "Text column" in [u.get("label") for u in back]


def test_every_text_has_chinese_and_every_field_a_label():
    missing = [k for k, v in TEXT.items() if not v.get("zh")]
    assert not missing, missing
    for f in fields(RunConfig):
        assert f.name in TEXT, f.name
        assert t(f.name + ".help", "en") == TEXT.get(f.name + ".help", {}).get(
            "en", f.metadata["help"]
        )
        assert CJK.search(t(f.name + ".help", "zh")), f.name


# ---- charts -----------------------------------------------------------------------------------


def test_chart_builders():
    fig = charts.training_figure(EVENTS, "en")
    assert [trace.name for trace in fig.data] == [
        "training loss",
        "validation loss",
        "validation accuracy",
        "validation macro-F1",
    ]
    assert list(fig.data[0].x) == [5, 20] and list(fig.data[3].y) == [0.65, 0.88]
    assert charts.training_figure([], "zh").layout.annotations  # the "waiting" note
    assert len(charts.compare_figure({"a": EVENTS, "b": EVENTS}).data) == 4
    assert charts.label_figure(["a", "b"], [3, 4]).data[0].type == "bar"
    assert charts.length_figure([1, 2, 3]).data[0].type == "histogram"
    heat = charts.confusion_figure([[3, 1], [0, 4]], ["neg", "pos"])
    assert heat.data[0].type == "heatmap" and list(heat.data[0].x) == ["neg", "pos"]
    probs = charts.probabilities_figure({"neg": 0.2, "pos": 0.8})
    assert list(probs.data[0].y) == ["neg", "pos"]


def test_upload_is_copied_next_to_the_runs(tmp_path, csv_file):
    from engine.uploads import Uploads

    uploads = Uploads(tmp_path / "uploads")
    dest = uploads.keep(str(csv_file))
    assert dest.read_text() == CSV and dest.name == "reviews.csv"
    assert dest.parent.parent == (tmp_path / "uploads").resolve()
    assert uploads.keep(str(csv_file)) == dest
    # a signed-in user's uploads go to their own folder, named so no other name maps to it
    alice = uploads.keep(str(csv_file), user="alice")
    assert alice.parent.parent.name == "u-alice" and uploads.owns(alice, "alice")
    assert not uploads.owns(alice, "bob") and not uploads.owns(dest, "alice")


def test_threads_left_clean():
    # the module's JobManager worker is a daemon thread: it never blocks interpreter exit
    assert all(th.daemon for th in threading.enumerate() if th.name == "adaptune-worker")


def test_app_starts_in_chinese(tmp_path):
    demo = build_app(
        tmp_path / "runs",
        lang="zh",
        jobs=JobManager(RunStore(tmp_path / "runs"), train_fn=instant_train),
    )
    ctx = demo.adaptune
    assert ctx.tr.lang == "zh" and ctx.lang.value == "zh"
    assert ctx.fields["epochs"].label == "训练轮数"
    assert CJK.search(train_tab.data_line("", "", "", "zh"))
    assert "reviews.csv" in train_tab.data_line("/x/reviews.csv", "text", "label", "en")


def test_parameter_preview_before_start():
    from ui.train_tab import preview_text

    lora = preview_text("minilm-l6", "lora", 8, "en")
    assert "222.3K of 22.8M parameters will train" in lora and "small adapter" in lora
    assert "whole model" in preview_text("minilm-l6", "full", 8, "en")
    assert "参数" in preview_text("minilm-l6", "head", 8, "zh")
    assert preview_text("no-such/hub-model", "lora", 8, "en") == ""  # nothing is downloaded


def test_auto_plan_shown_before_start(tmp_path):
    from engine.config import RunConfig
    from tests.conftest import SAMPLE_CSV
    from ui import train_tab
    from ui.app import build_app
    from ui.form import config_to_form

    build_app(runs_dir=tmp_path)  # wires the form, which fixes the field order
    names = train_tab._FORM_NAMES
    values = config_to_form(
        RunConfig(data=str(SAMPLE_CSV), text_column="text", label_column="label")
    )
    text = train_tab.plan_text("en", *[values[n] for n in names])
    assert "What Auto will do" in text and "| strategy | lora |" in text
    assert "parameters will train" in text
    values["strategy"] = "full"
    assert train_tab.plan_text("en", *[values[n] for n in names]) == ""
    values.update(strategy="auto", data="")
    assert "choose a table" in train_tab.plan_text("en", *[values[n] for n in names])


def test_unavailable_pair_explained_before_start():
    from ui.train_tab import preview_text

    assert "CUDA GPU" in preview_text("minilm-l6", "qlora", 8, "en")
    assert "encoder backbone" in preview_text("smollm2-135m-instruct", "setfit", 8, "en")


def test_augmentation_preview_before_training(tmp_path):
    from engine.config import RunConfig
    from tests.conftest import SAMPLE_CSV
    from ui import train_tab
    from ui.app import build_app
    from ui.form import config_to_form

    build_app(runs_dir=tmp_path)
    values = config_to_form(RunConfig(data=str(SAMPLE_CSV), augment="tokens"))
    table, message = train_tab.augment_preview("en", *[values[n] for n in train_tab._FORM_NAMES])
    assert message == "" and table["visible"]
    frame = table["value"]
    assert len(frame) == 5 and (frame["Original"] != frame["Generated"]).any()
    values["augment"] = "none"
    _, message = train_tab.augment_preview("en", *[values[n] for n in train_tab._FORM_NAMES])
    assert "augmentation is off" in message


def test_measure_speed_and_memory_at_the_form_size(tmp_path, small_csv, tiny_encoder):
    from engine.config import RunConfig
    from ui import train_tab
    from ui.app import build_app
    from ui.form import config_to_form

    build_app(runs_dir=tmp_path)
    values = config_to_form(
        RunConfig(
            data=str(small_csv),
            backbone=str(tiny_encoder),
            strategy="lora",
            batch_size=8,
            max_length=32,
        )
    )
    text = train_tab.measure_speed("en", *[values[n] for n in train_tab._FORM_NAMES])
    assert "per epoch" in text and "samples/s over 3 measured steps" in text
    small = train_tab.preview_text("minilm-l6", "full", 8, "en", 8, 64)
    big = train_tab.preview_text("minilm-l6", "full", 8, "en", 64, 256)
    assert "(batch 8, length 64)" in small and "(batch 64, length 256)" in big
    assert small != big
