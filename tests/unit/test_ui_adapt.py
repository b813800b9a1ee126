"""The Adapt tab (ui/adapt_tab.py) and what it changes in the other tabs, called as plain
functions: the form generated from PretrainConfig, the domain text and the domain report, a real
adaptation run of a tiny random encoder (a few steps) through the job queue, re-attaching, the
adapted backbone in the Train tab's list, and adaptation runs in the Runs / Evaluate tabs."""

from __future__ import annotations

import json
import re
import time
from dataclasses import fields

import gradio as gr
import pandas as pd
import pytest

from engine.config import PretrainConfig, RunConfig
from engine.jobs import JobManager
from engine.runs import RunStore, write_json_atomic
from ui import adapt_tab, charts, evaluate_tab, runs_tab, train_tab
from ui.app import build_app
from ui.form import PRETRAIN, config_to_form, form_fields, form_to_config
from ui.i18n import TEXT, t

CJK = re.compile(r"[\u4e00-\u9fff]")
ELEM_IDS = [
    "tab-adapt",
    "adapt-upload",
    "adapt-use-labelled",
    "adapt-data",
    "adapt-report-btn",
    "adapt-report",
    "adapt-start",
    "adapt-stop",
    "adapt-status",
    "adapt-chart",
    "adapt-result",
    "adapt-use-in-train",
    "adapt-advanced",
    "adapt-cfg-backbone",
    "adapt-cfg-max-steps",
    "adapt-cfg-head-warmup-steps",
    "adapt-cfg-eval-tokens",
    "adapt-cfg-objective",
    "adapt-cfg-curriculum",
    "adapt-cfg-text-column",
]
DOMAIN = [
    f"the cocoa crop in bahia rose {i} percent as rain helped the harvest of beans"
    for i in range(30)
] + [f"wheat exports fell {i} tonnes while maize prices climbed" for i in range(30)]
TINY = dict(
    max_steps=4,
    batch_size=8,
    max_length=32,
    evaluations=2,
    eval_tokens=64,
    head_warmup_steps=2,
    early_stopping_patience=0,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapt-studio")
    store = RunStore(root / "runs")
    demo = build_app(root / "runs", jobs=JobManager(store))
    return demo, demo.adaptune, root


@pytest.fixture
def domain_txt(tmp_path):
    path = tmp_path / "domain.txt"
    path.write_text("\n".join(DOMAIN), encoding="utf-8")
    return path


def form_args(**values):
    """Positional Adapt-form values as gradio would pass them, with overrides."""
    base = config_to_form(PretrainConfig())
    base.update(values)
    return [base.get(name) for name in adapt_tab.field_names()]


def values(**kw):
    return dict(zip(adapt_tab.field_names(), form_args(**kw)))


def wait_final(store: RunStore, run_id: str, jobs: JobManager, timeout: float = 240) -> str:
    assert jobs.wait(run_id, timeout=timeout), f"{run_id} did not finish in {timeout} s"
    return store.get(run_id).status


# ---- the form ---------------------------------------------------------------------------------


def test_the_form_is_generated_from_pretrain_config(app):
    demo, ctx, _ = app
    comps = ctx.c["adapt_fields"]
    expected = [f.name for f in fields(PretrainConfig) if f.name not in ("kind", "output_dir")]
    assert sorted(comps) == sorted(expected) == sorted(adapt_tab.field_names())
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert not [e for e in ELEM_IDS if e not in ids]
    assert isinstance(comps["data"], gr.State)
    assert isinstance(comps["text_column"], gr.Dropdown) and comps["text_column"].allow_custom_value
    assert isinstance(comps["whole_word_mask"], gr.Checkbox)
    assert isinstance(comps["eval_tokens"], gr.Number) and comps["eval_tokens"].minimum == 64
    # dropdowns show translated choices, values stay the config's
    objective = comps["objective"]
    assert [v for _, v in objective.choices] == ["auto", "mlm", "clm"]
    assert ("Masked-LM (encoders)", "mlm") in [tuple(c) for c in objective.choices]
    # the help text is the engine's own, the label the i18n one
    assert (
        comps["eval_tokens"].info
        == PretrainConfig.__dataclass_fields__["eval_tokens"].metadata["help"]
    )
    # the Train tab's form is unchanged (RunConfig only)
    assert set(ctx.fields) == {f.name for f in form_fields(RunConfig)}


def test_advanced_fields_sit_in_the_accordion(app):
    demo, ctx, _ = app
    accordion = next(
        b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "adapt-advanced"
    )
    inside = set()

    def walk(block):
        for child in getattr(block, "children", []) or []:
            inside.add(id(child))
            walk(child)

    walk(accordion)
    comps = ctx.c["adapt_fields"]
    for f in form_fields(PretrainConfig):
        if f.name == "data":
            continue
        assert (id(comps[f.name]) in inside) == bool(f.metadata.get("advanced")), f.name


def test_form_round_trip():
    cfg = PretrainConfig(
        data="d.txt",
        backbone="smollm2-135m-instruct",
        objective="clm",
        strategy="lora",
        curriculum="loss",
        max_steps=30,
        grow_length=True,
        eval_tokens=256,
        source="labelled-train",
        label_column="y",
    )
    vals = config_to_form(cfg)
    assert "kind" not in vals and "output_dir" not in vals
    again = form_to_config(vals, PretrainConfig)
    assert again == PretrainConfig(**{**cfg.to_dict(), "output_dir": again.output_dir})
    # empty number boxes take the default, a bad value is the engine's message
    assert form_to_config({**vals, "max_steps": ""}, PretrainConfig).max_steps == 200
    with pytest.raises(ValueError, match="eval-tokens"):
        form_to_config({**vals, "eval_tokens": 8}, PretrainConfig)


def test_every_pretrain_field_is_labelled_in_both_languages():
    assert not [k for k, v in TEXT.items() if not v.get("zh")]
    for f in form_fields(PretrainConfig):
        key = PRETRAIN.key(f.name)
        entry = TEXT.get(key) or TEXT.get(f.name)  # own label, or the Train tab's
        assert t(key, "en") != key and entry and entry.get("zh") == t(key, "zh"), f.name
        assert t(key + ".help", "en") == f.metadata["help"], f.name
        assert CJK.search(t(key + ".help", "zh")), f.name
        for choice in f.metadata.get("choices", []):
            if f.name != "device":
                assert CJK.search(t(f"{key}.choice.{choice}", "zh")), (f.name, choice)


def test_language_switch_reaches_the_adapt_tab(app):
    _, ctx, _ = app
    comps = ctx.c["adapt_fields"]
    updates = dict(zip(map(id, ctx.tr.components), ctx.tr.updates("zh")))
    assert CJK.search(updates[id(comps["head_warmup_steps"])]["label"])
    assert CJK.search(updates[id(comps["eval_tokens"])]["info"])
    assert all(CJK.search(label) for label, _ in updates[id(comps["curriculum"])]["choices"])
    assert t("tab.adapt", "zh") != t("tab.adapt", "en")


# ---- domain text ------------------------------------------------------------------------------


def test_data_line_for_text_a_table_and_a_wrong_column(tmp_path, domain_txt):
    assert "msg-info" in adapt_tab.data_line("", lang="en")
    line = adapt_tab.data_line(str(domain_txt))
    assert "domain.txt" in line and "60 documents" in line
    table = tmp_path / "d.csv"
    pd.DataFrame({"id": range(60), "body": DOMAIN}).to_csv(table, index=False)
    assert "`body`" not in adapt_tab.data_line(str(table))  # code marks become HTML
    assert "<code>body</code>" in adapt_tab.data_line(str(table))
    bad = adapt_tab.data_line(str(table), text_column="nope")
    assert "msg-error" in bad and "nope" in bad and "Traceback" not in bad
    assert CJK.search(adapt_tab.data_line(str(domain_txt), lang="zh"))


def test_use_the_labelled_training_set(small_csv):
    out = adapt_tab.labelled_source("", "", "", 42, "en")
    assert "msg-warning" in out[-1] and out[0] == gr.skip()
    data, text_col, source, label_col, line = adapt_tab.labelled_source(
        str(small_csv), "review", "sentiment", 42, "en"
    )
    assert data == str(small_csv) and source == "labelled-train"
    assert text_col["value"] == "review" and "sentiment" in text_col["choices"]
    assert label_col["value"] == "sentiment"
    assert "left out" in line and "64 documents" in line  # 80 rows: 8 validation + 8 test out
    # another task: said (its own split may differ); NER token lists: refused with a reason
    *_, line = adapt_tab.labelled_source(
        str(small_csv), "review", "sentiment", 42, "en", "multilabel"
    )
    assert "msg-warning" in line and t("task.multilabel", "en") in line
    out = adapt_tab.labelled_source(str(small_csv), "review", "sentiment", 42, "en", "ner")
    assert out[0] == gr.skip() and "named-entity" in out[-1]
    # a new upload goes back to every document of the file
    data, text_col, source, label_col, line = adapt_tab.uploaded_source(str(small_csv))
    assert source == "text" and text_col["value"] is None and "80 documents" in line


# ---- the domain report ------------------------------------------------------------------------


def test_report_bad_inputs_are_messages(tmp_path, tiny_encoder, domain_txt):
    html, report = adapt_tab.run_report(values(), tmp_path, "en")
    assert report is None and "msg-error" in html and "domain text" in html
    html, report = adapt_tab.run_report(
        values(data=str(domain_txt), backbone=str(tiny_encoder), objective="clm"), tmp_path, "en"
    )
    assert report is None and "msg-error" in html and "encoder" in html
    html, _ = adapt_tab.run_report(
        values(data=str(domain_txt), text_column="nope", backbone=str(tiny_encoder)), tmp_path, "en"
    )
    assert "msg-error" in html
    html, _ = adapt_tab.run_report(values(data=str(tmp_path / "gone.txt")), tmp_path, "en")
    assert "msg-error" in html and "gone.txt" in html and "Traceback" not in html


def test_report_of_a_tiny_encoder(tmp_path, tiny_encoder, domain_txt):
    said = []
    html, report = adapt_tab.run_report(
        values(data=str(domain_txt), backbone=str(tiny_encoder), **TINY),
        tmp_path,
        "en",
        say=said.append,
    )
    assert report is not None, html
    assert report["perplexity_kind"] == "pseudo-perplexity"
    assert t(f"adapt.verdict.{report['verdict']['level']}", "en") in html
    for needle in (
        "Sub-words per word",
        "Unknown-token rate",
        "Base pseudo-perplexity",
        "fitted for 2 steps",
        "Most fragmented frequent words",
        "<code>",
    ):
        assert needle in html, needle
    assert said  # the progress indicator got the engine's messages
    zh = adapt_tab.report_html(report, "zh")
    assert CJK.search(zh) and "伪困惑度" in zh and "2 步" in zh
    assert "msg-info" in adapt_tab.report_html(None, "en")


# ---- a run ------------------------------------------------------------------------------------


def test_start_refuses_bad_input_without_a_run_folder(app, tiny_encoder, domain_txt):
    _, ctx, root = app
    start = ctx.fn["adapt_start"]
    before = len(ctx.store.list())
    for kw, needle in [
        ({}, "domain text"),
        ({"data": str(domain_txt), "text_column": "nope", "backbone": str(tiny_encoder)}, "nope"),
        ({"data": str(domain_txt), "backbone": str(tiny_encoder), "objective": "clm"}, "encoder"),
        ({"data": str(domain_txt), "backbone": str(tiny_encoder), "eval_tokens": 1}, "eval-tokens"),
    ]:
        message, run_id, timer = start("en", None, *form_args(**kw))  # no request: no sign-in
        assert "msg-error" in message and needle in message, (kw, message)
        assert "Traceback" not in message
        assert run_id == gr.skip() or run_id is gr.skip()
    assert len(ctx.store.list()) == before
    status, *_ = adapt_tab.render(ctx.store, ctx.jobs, None, "en", message)
    assert "msg-error" in status  # the start message leads the status panel


def test_a_run_from_start_to_the_train_tab(app, tiny_encoder, domain_txt):
    _, ctx, root = app
    store, jobs = ctx.store, ctx.jobs
    message, run_id, timer = ctx.fn["adapt_start"](
        "en",
        None,
        *form_args(data=str(domain_txt), backbone=str(tiny_encoder), run_name="tiny-adapt", **TINY),
    )
    assert "msg-ok" in message and run_id, message
    assert wait_final(store, run_id, jobs) == "completed", store.get(run_id).status_info()

    assert "msg-warning" in ctx.fn["adapt_stop"](run_id, "en")  # finished: nothing to stop
    assert "msg-warning" in ctx.fn["adapt_stop"](None, "en")

    # the tick renders everything from the run folder and refreshes the Train tab's list
    out = ctx.fn["adapt_tick"](run_id, "en", "", "")
    status, chart, result, log, use_btn, report, report_state, sig, timer, train_bb = out
    assert "tiny-adapt" in status and t("status.completed", "en") in status
    assert re.search(r"Step (\d+) / \1", status)
    assert re.search(r"pseudo-perplexity: \d+(\.\d+)? → \d+(\.\d+)? \([−+]\d+\.\d%", result), result
    assert "Trained all 4 steps" in result or "Stopped early" in result
    assert use_btn["visible"] is True
    names = [tr.name for tr in chart.data]
    assert names == [t("chart.train_loss"), t("chart.held_loss"), t("chart.held_ppl")]
    assert list(chart.data[2].x)[0] == 0  # the step-0 point: the model before training
    assert "Base pseudo-perplexity" in report and report_state["perplexity"] > 0
    value = f"run:{store.get(run_id).path.resolve()}"
    assert value in [v for _, v in train_bb["choices"]]
    label = dict((v, k) for k, v in train_bb["choices"])[value]
    assert label.startswith(f"run:{run_id} · adapted ")
    # nothing new: the tick skips every output
    again = ctx.fn["adapt_tick"](run_id, "en", "", sig)
    assert all(x is gr.skip() or x == gr.skip() for x in again[:7])

    # "Fine-tune from this backbone": the Train tab's dropdown takes the run: value
    backbone, tabs, msg = ctx.fn["adapt_use"](run_id, "en")
    assert backbone["value"] == value and value in [v for _, v in backbone["choices"]]
    assert tabs.selected == "train"
    assert "Adapted from" in train_tab.backbone_text(value, "en")
    assert CJK.search(train_tab.backbone_text(value, "zh"))
    assert ctx.fn["train_backbones"]("en")["choices"] == train_tab.backbone_choices(
        "en", store.root
    )
    # a "run:" value that is no finished run says so
    assert "msg-warning" in train_tab.backbone_text("run:/nowhere/at-all", "en")

    # a page reload re-attaches to it; the Train tab does not take it for a fine-tuning run
    rid, timer, msg, status, *_, report_html, report_state, sig = ctx.fn["adapt_attach"]("en")
    assert rid == run_id and "tiny-adapt" in status and report_state
    assert train_tab.pick_run_to_show(store, jobs) != run_id
    assert run_id not in [v for _, v in train_tab.run_choices(store)]
    *_, msg = ctx.fn["load_run_config"](run_id, "en")
    assert "msg-error" in msg and "Adapt tab" in msg

    # Runs tab: task "Domain adaptation", the perplexity as main score; compare labels it
    table = runs_tab.runs_table(store, "en")
    row = table[table[t("runs.col.name")] == "tiny-adapt"].iloc[0]
    assert row[t("runs.col.task")] == t("task.pretrain", "en")
    assert "perplexity" in row[t("runs.col.f1")]
    fig, comparison, message = runs_tab.compare(store, [run_id], "en")
    settings = list(comparison.iloc[:, 0])
    assert t("runs.metric.ppl_after", "en") in settings and "Head warm-up steps" in settings
    assert not [s for s in settings if re.fullmatch(r"[a-z]+(_[a-z]+)+", s)]
    # Evaluate: never offered, and a direct pick explains why
    assert run_id not in [v for _, v in evaluate_tab.finished_runs(store)]
    note, *_ = evaluate_tab.show_run(store, run_id, "en")
    assert "domain-adaptation run" in note
    # Runs tab "Reuse its settings" loads the Adapt form
    *form_values, msg = ctx.fn["adapt_load_run_config"](run_id, "en")
    loaded = dict(zip(adapt_tab.field_names(), form_values))
    assert loaded["max_steps"] == 4 and loaded["run_name"] == "tiny-adapt" and "msg-ok" in msg


def test_status_and_chart_of_a_running_run(tmp_path):
    store = RunStore(tmp_path / "runs")
    jobs = JobManager(store)  # (made first: it marks a run left "running" as interrupted)
    run = store.create(PretrainConfig(data="d.txt", run_name="live"))
    run.set_status("running")
    run.append_event("message", text="Reading the domain text and loading the backbone.")
    run.append_event(
        "start", device="CPU", max_steps=20, objective="mlm", kind="pretrain", train_rows=50
    )
    run.append_event("eval", step=0, eval_perplexity=40.0, eval_loss=3.69)
    run.append_event("log", step=5, max_steps=20, loss=3.1, eta_seconds=75, progress=0.25)
    run.append_event("eval", step=10, eval_perplexity=30.0, eval_loss=3.4)
    (
        status,
        chart,
        result,
        log,
        use_btn,
    ) = adapt_tab.render(store, jobs, run.id, "en")
    assert "Step 10 / 20" in status and "1:15" in status and "masked-LM" in status
    assert result == "" and use_btn["visible"] is False
    assert [len(tr.x) for tr in chart.data] == [1, 2, 2]
    assert "held-out perplexity 30.00" in log
    zh_status, *_ = adapt_tab.render(store, jobs, run.id, "zh")
    assert CJK.search(zh_status)
    # a failed run shows the engine's reason, never a traceback
    run.set_status("failed", error="Out of memory: lower the batch size.")
    run.append_event("end", status="failed", error="Out of memory: lower the batch size.")
    status, *_ = adapt_tab.render(store, jobs, run.id, "en")
    assert "msg-error" in status and "Out of memory" in status
    assert charts.pretrain_figure([], "en").layout.annotations


def test_result_of_an_early_stopped_run(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create(PretrainConfig(data="d.txt"))
    write_json_atomic(run.path / "status.json", {"status": "completed", "created": time.time()})
    run.write_metrics(
        {
            "kind": "pretrain",
            "status": "completed",
            "objective": "clm",
            "perplexity_kind": "perplexity",
            "perplexity_before": 52.3,
            "perplexity_after": 60.1,
            "perplexity_drop_pct": -14.91,
            "global_step": 40,
            "max_steps": 200,
            "early_stopped": True,
            "control_perplexity_before": 40.0,
            "control_perplexity_after": 30.0,
            "best_step": 20,
            "tracked_perplexity": {"kind": "perplexity", "before": 52.3, "best": 50.2},
            "verdict": {
                "level": "far",
                "text": "Far from what the backbone was "
                "trained on: a high perplexity of 120.0. Continued "
                "pre-training on this text is likely to help.",
            },
        }
    )
    html = adapt_tab.result_html(run, "en")
    assert "52.30 → 60.10 (+14.9%" in html and "msg-warning" in html
    assert "Stopped early at step 40 of 200" in html and "step 20" in html
    assert "Far from what the backbone was trained on." in html
    assert "a high perplexity of 120.0" in html
    assert "Everyday English (control): 40.00 → 30.00 (−25.0%)" in html
    run.write_metrics({**run.metrics(), "perplexity_after": 41.0, "perplexity_drop_pct": 21.61})
    html = adapt_tab.result_html(run, "en")  # -21.6% on the domain, -25% on the control
    assert "52.30 → 41.00 (−21.6%)" in html and "shared by the control" in html
    run.write_metrics({**run.metrics(), "control_perplexity_after": 39.0})
    assert "specific to the domain" in adapt_tab.result_html(run, "en")
    run.write_metrics(
        {
            **run.metrics(),
            "status": "stopped",
            "early_stopped": False,
            "stop_reason": "stopped by the user",
        }
    )
    assert "Stopped at step 40 of 200 (stopped by the user)" in adapt_tab.result_html(run, "en")
    report = {
        "backbone": "b",
        "perplexity_kind": "perplexity",
        "perplexity": 80.0,
        "control_perplexity": 20.0,
        "objective": "clm",
        "verdict": {"level": "far"},
        "vocabulary": {"byte_level": True, "unknown_tokens": 0},
    }
    html = adapt_tab.report_html(report, "en")
    assert "everyday English (control)" in html and "20.00" in html
    assert "byte-level" in html and "Causal-LM perplexity" in html
    assert CJK.search(adapt_tab.result_html(run, "zh"))
    assert adapt_tab.adapted_value(run) == ""  # no model folder: nothing to fine-tune from
    summary = json.loads(json.dumps(run.summary()))
    assert summary["task"] == "pretrain" and summary["main_value"] == 41.0
