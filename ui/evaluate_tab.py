"""Evaluate tab: how good is a finished run, where does it fail, and try it on new text."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from engine.data import load_table
from engine.predict import get_predictor
from engine.runs import RunStore

from ui import charts, task_views
from ui.common import (
    ENGINE_ERRORS,
    Context,
    box,
    error_message,
    fmt_score,
    human_duration,
    human_number,
    run_label,
)
from ui.i18n import T, t

BATCH = 64


def finished_runs(store: RunStore, lang: str = "en") -> list[tuple[str, str]]:
    """(label, id) of the runs that have a trained model (not the Adapt tab's runs: they hold
    an adapted backbone, not a predictor)."""
    return [
        (run_label(r.summary(), lang), r.id)
        for r in store.list()
        if r.has_model and r.kind != "pretrain"
    ]


def metrics_table(metrics: dict, lang: str) -> pd.DataFrame:
    test, val = metrics.get("test") or {}, metrics.get("validation") or {}
    report = metrics.get("test_report") or {}
    params = metrics.get("parameters") or {}
    rows = [
        ("eval.m.accuracy", fmt_score(test.get("accuracy"))),
        ("eval.m.macro_f1", fmt_score(test.get("macro_f1"))),
        ("eval.m.weighted_f1", fmt_score(report.get("weighted_f1"))),
        ("eval.m.baseline", fmt_score(metrics.get("majority_baseline"))),
        ("eval.m.val_accuracy", fmt_score(val.get("accuracy"))),
        ("eval.m.val_macro_f1", fmt_score(val.get("macro_f1"))),
        ("eval.m.test_rows", str(test.get("n", "–"))),
        (
            "eval.m.speed",
            f"{metrics['train_samples_per_second']:.1f}"
            if isinstance(metrics.get("train_samples_per_second"), (int, float))
            else "–",
        ),
        (
            "eval.m.params",
            t(
                "eval.params_value",
                lang,
                trainable=human_number(params.get("trainable")),
                total=human_number(params.get("total")),
                percent=f"{float(params.get('percent', 0)):.2f}",
            )
            if params
            else "–",
        ),
        ("eval.m.time", human_duration(metrics.get("total_seconds"))),
        ("eval.m.device", str(metrics.get("device", "–"))),
    ]
    return pd.DataFrame(
        {
            t("eval.col.metric", lang): [t(k, lang) for k, _ in rows],
            t("eval.col.value", lang): [v for _, v in rows],
        }
    )


def per_class_table(metrics: dict, lang: str) -> pd.DataFrame:
    per_class = (metrics.get("test_report") or {}).get("per_class") or {}
    rows = per_class.values()
    return pd.DataFrame(
        {
            t("eval.col.label", lang): list(per_class),
            t("eval.col.precision", lang): [round(v.get("precision", 0), 3) for v in rows],
            t("eval.col.recall", lang): [round(v.get("recall", 0), 3) for v in rows],
            t("eval.col.f1", lang): [round(v.get("f1", 0), 3) for v in rows],
            t("eval.col.support", lang): [int(v.get("support", 0)) for v in rows],
        }
    )


def errors_table(metrics: dict, lang: str) -> pd.DataFrame:
    errors = metrics.get("worst_errors") or []
    return pd.DataFrame(
        {
            t("eval.col.text", lang): [e.get("text", "") for e in errors],
            t("eval.col.gold", lang): [e.get("gold", "") for e in errors],
            t("eval.col.predicted", lang): [e.get("predicted", "") for e in errors],
            t("eval.col.confidence", lang): [
                round(float(e.get("confidence", 0)), 3) for e in errors
            ],
        }
    )


def show_run(store: RunStore, run_id: str | None, lang: str = "en") -> tuple:
    """(message, metrics table, confusion matrix, per-class table, errors table)."""
    empty = (
        metrics_table({}, lang),
        charts.empty_figure(t("chart.no_data", lang), 360),
        per_class_table({}, lang),
        errors_table({}, lang),
    )
    if not run_id:
        return (box("info", t("eval.pick", lang)), *empty)
    try:
        run = store.get(run_id)
    except KeyError as e:
        return (box("error", error_message(e)), *empty)
    if run.kind == "pretrain":
        return (box("warning", t("adapt.no_model_eval", lang, id=run.id)), *empty)
    metrics = run.metrics()
    if not metrics:
        return (box("warning", t("eval.no_metrics", lang, status=run.status)), *empty)
    summary = run.summary()
    if summary["task"] not in ("", "classification"):
        return _show_task_run(summary, metrics, lang)
    report = metrics.get("test_report") or {}
    cm = charts.confusion_figure(
        report.get("confusion_matrix") or [],
        report.get("labels") or metrics.get("labels") or [],
        lang,
    )
    summary = run.summary()
    note = t(
        "eval.summary",
        lang,
        name=summary["name"],
        backbone=summary["backbone"],
        strategy=summary["strategy"],
        data=summary["data"],
    )
    acc, base = (metrics.get("test") or {}).get("accuracy"), metrics.get("majority_baseline")
    kind = "ok"
    if isinstance(acc, (int, float)) and isinstance(base, (int, float)) and acc <= base + 0.01:
        note += " " + t("eval.weak", lang)
        kind = "warning"
    return (
        box(kind, note),
        metrics_table(metrics, lang),
        cm,
        per_class_table(metrics, lang),
        errors_table(metrics, lang),
    )


def _show_task_run(summary: dict, metrics: dict, lang: str) -> tuple:
    """show_run's five outputs for a task other than classification."""
    task = summary["task"]
    note = t(
        "eval.summary_task",
        lang,
        name=summary["name"],
        task=t(f"task.{task}", lang),
        backbone=summary["backbone"],
        strategy=summary["strategy"],
        data=summary["data"],
    )
    main = summary.get("main_metric")
    after = (metrics.get("test") or {}).get(main)
    before = (metrics.get("before") or {}).get(main)
    kind = "ok"
    if isinstance(after, (int, float)) and isinstance(before, (int, float)):
        note += " " + t(
            "eval.before_after",
            lang,
            metric=t(task_views.METRIC_NAMES.get(main, main), lang)
            if main in task_views.METRIC_NAMES
            else main,
            before=task_views.fmt(before),
            after=task_views.fmt(after),
        )
        if after <= before:
            kind = "warning"
    report = metrics.get("report") or {}
    if isinstance(report, dict) and report.get("confusion_matrix"):
        fig = charts.confusion_figure(
            report["confusion_matrix"], report.get("labels") or metrics.get("labels") or [], lang
        )
    else:
        rows = task_views.report_rows(metrics)
        scores = {k: float(v.get("f1", v.get("f1-score", 0)) or 0) for k, v in rows.items()}
        if scores:
            fig = charts.scores_figure(scores, lang)
        else:  # generation: before vs after on the same rows
            names = {k: t(v, lang) for k, v in task_views.METRIC_NAMES.items()}
            fig = charts.before_after_figure(
                metrics.get("test") or {}, metrics.get("before") or {}, names, lang
            )
    return (
        box(kind, note),
        task_views.task_metrics_table(metrics, lang),
        fig,
        task_views.task_report_table(metrics, lang),
        task_views.examples_table(metrics, lang),
    )


def task_extras(store: RunStore, run_id: str | None, lang: str = "en") -> tuple:
    """Updates that adapt the tab to the run's task: the NER highlight view (shown for NER, with
    the first example), the extra "try it" boxes (question / head / tail), the text box's label,
    and which answer widget is shown (probabilities, highlighted entities, or text)."""
    task, metrics = "classification", {}
    if run_id:
        try:
            run = store.get(run_id)
            task = run.summary()["task"] or "classification"
            metrics = run.metrics()
        except KeyError:
            pass
    is_ner = task == "ner"
    n_examples = len(metrics.get("examples") or []) if is_ner else 0
    gold, pred = task_views.ner_example(metrics, 0) if is_ner else (None, None)
    roles = task_views.INPUT_ROLES.get(task, ("text", None, None))
    kind = task_views.OUTPUT_KIND.get(task, "label")
    return (
        gr.update(visible=is_ner and n_examples > 0),
        gr.update(maximum=max(n_examples - 1, 1), value=0),
        gold,
        pred,
        gr.update(label=t(f"eval.role.{roles[0]}", lang)),
        gr.update(
            visible=roles[1] is not None,
            value="",
            label=t(f"eval.role.{roles[1]}", lang) if roles[1] else "",
        ),
        gr.update(
            visible=roles[2] is not None,
            value="",
            label=t(f"eval.role.{roles[2]}", lang) if roles[2] else "",
        ),
        gr.update(visible=kind == "label", value=None),
        gr.update(visible=kind == "label"),
        gr.update(visible=kind == "entities", value=None),
        gr.update(visible=kind == "text", value=""),
        gr.update(
            label=t("eval.per_class" if task == "classification" else "eval.per_label", lang),
            visible=task == "classification" or bool(task_views.report_rows(metrics)),
        ),
        gr.update(label=t("eval.errors" if task == "classification" else "eval.examples", lang)),
    )


def predict_any(
    store: RunStore,
    run_id: str | None,
    first: str | None,
    second: str | None,
    third: str | None,
    lang: str = "en",
) -> tuple:
    """Try a finished run of any task. (label value, probabilities chart, highlighted value,
    answer text, message)."""
    no_fig = charts.probabilities_figure({}, lang)
    if not run_id:
        return None, no_fig, None, "", box("warning", t("eval.pick_first", lang))
    try:
        run = store.get(run_id)
    except KeyError as e:
        return None, no_fig, None, "", box("error", error_message(e))
    task = run.summary()["task"] or "classification"
    if task == "classification":
        label, fig, msg = predict_text(store, run_id, first, lang)
        return label, fig, None, "", msg
    value, missing = task_views.prediction_input(task, first or "", second or "", third or "")
    if missing:
        return None, no_fig, None, "", box("warning", t(missing, lang))
    try:
        result = get_predictor(run.path).predict([value])[0]
    except ENGINE_ERRORS as e:
        return None, no_fig, None, "", box("error", error_message(e))
    label, highlighted, answer = task_views.prediction_outputs(task, result)
    fig = charts.probabilities_figure(label, lang) if label else no_fig
    return label, fig, highlighted, answer, ""


def predict_text(store: RunStore, run_id: str | None, text: str | None, lang: str = "en") -> tuple:
    """(gr.Label value, probabilities chart, message)."""
    no_fig = charts.probabilities_figure({}, lang)
    if not run_id:
        return None, no_fig, box("warning", t("eval.pick_first", lang))
    if not text or not text.strip():
        return None, no_fig, box("warning", t("eval.type_text", lang))
    try:
        predictor = get_predictor(store.get(run_id).path)
        result = predictor.predict([text])[0]
    except ENGINE_ERRORS as e:
        return None, no_fig, box("error", error_message(e))
    probs = result["probabilities"]
    return probs, charts.probabilities_figure(probs, lang), ""


def predict_file(
    store: RunStore, run_id: str | None, path: str | None, lang: str = "en", progress=None
) -> tuple:
    """(download file update, message). Adds prediction + prob_<label> columns to the table."""
    if not run_id:
        return gr.update(value=None, visible=False), box("warning", t("eval.pick_first", lang))
    if not path:
        return gr.update(value=None, visible=False), box("warning", t("eval.upload_first", lang))
    try:
        predictor = get_predictor(store.get(run_id).path)
        df = load_table(path, min_columns=1)
        parts = []
        for start in range(0, len(df), BATCH):
            if progress is not None:
                progress(start / max(len(df), 1), desc=t("eval.predicting", lang))
            parts.append(predictor.predict_table(df.iloc[start : start + BATCH]))
        result = pd.concat(parts) if parts else df
    except ENGINE_ERRORS as e:
        return gr.update(value=None, visible=False), box("error", error_message(e))
    out = Path(tempfile.mkdtemp(prefix="adaptune-")) / f"{Path(path).stem}-predictions.csv"
    result.to_csv(out, index=False)
    if "prediction" in result.columns:
        counts = result["prediction"].astype(str).value_counts().head(12)
        spread = ", ".join(f"{k}: {v}" for k, v in counts.items())
    else:
        spread = ", ".join(c for c in result.columns if c not in df.columns)
    return (
        gr.update(value=str(out), visible=True),
        box("ok", t("eval.predicted_file", lang, rows=len(result), spread=spread)),
    )


def build(ctx: Context) -> None:
    tr, store = ctx.tr, ctx.store
    tr.make(gr.Markdown, value=T("eval.intro"), elem_classes=["tab-intro"])
    with gr.Row():
        run_dd = tr.make(
            gr.Dropdown,
            label=T("eval.run"),
            choices=finished_runs(store, tr.lang),
            value=None,
            elem_id="eval-run",
            scale=4,
        )
        refresh = tr.make(
            gr.Button,
            value=T("common.refresh"),
            elem_id="eval-refresh",
            scale=1,
            min_width=110,
            size="lg",
        )
    note = gr.HTML(box("info", t("eval.pick", tr.lang)), elem_id="eval-note", padding=False)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            metrics = tr.make(
                gr.Dataframe,
                label=T("eval.metrics"),
                interactive=False,
                value=metrics_table({}, tr.lang),
                elem_id="eval-metrics",
                wrap=True,
            )
        with gr.Column(scale=3):
            cm = gr.Plot(
                charts.empty_figure(t("chart.no_data", tr.lang), 360),
                show_label=False,
                elem_id="eval-confusion",
            )
    per_class = tr.make(
        gr.Dataframe,
        label=T("eval.per_class"),
        interactive=False,
        value=per_class_table({}, tr.lang),
        elem_id="eval-per-class",
    )
    errors = tr.make(
        gr.Dataframe,
        label=T("eval.errors"),
        interactive=False,
        wrap=True,
        value=errors_table({}, tr.lang),
        max_height=360,
        elem_id="eval-errors",
        column_widths=["64%", "12%", "12%", "12%"],
    )

    with gr.Column(visible=False, elem_id="eval-ner") as ner_group:
        tr.make(gr.Markdown, value=T("eval.ner_title"), elem_classes=["section-title"])
        ner_index = tr.make(
            gr.Slider,
            label=T("eval.ner_example"),
            minimum=0,
            maximum=1,
            step=1,
            value=0,
            elem_id="eval-ner-index",
        )
        with gr.Row():
            ner_gold = tr.make(
                gr.HighlightedText,
                label=T("eval.ner_gold"),
                elem_id="eval-ner-gold",
                show_legend=True,
                combine_adjacent=False,
            )
            ner_pred = tr.make(
                gr.HighlightedText,
                label=T("eval.ner_predicted"),
                elem_id="eval-ner-predicted",
                show_legend=True,
                combine_adjacent=False,
            )

    tr.make(gr.Markdown, value=T("eval.try"), elem_classes=["section-title"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            text = tr.make(
                gr.Textbox,
                label=T("eval.text"),
                placeholder=T("eval.text.ph"),
                lines=3,
                elem_id="predict-text",
            )
            second = gr.Textbox(label="", lines=1, visible=False, elem_id="predict-second")
            third = gr.Textbox(label="", lines=1, visible=False, elem_id="predict-third")
            predict_btn = tr.make(
                gr.Button, value=T("eval.predict"), variant="primary", elem_id="predict-button"
            )
            predict_msg = gr.HTML("", elem_id="predict-message", padding=False)
        with gr.Column(scale=1):
            label = tr.make(
                gr.Label, label=T("eval.prediction"), num_top_classes=5, elem_id="predict-label"
            )
            probs = gr.Plot(
                charts.probabilities_figure({}, tr.lang), show_label=False, elem_id="predict-chart"
            )
            entities = tr.make(
                gr.HighlightedText,
                label=T("eval.prediction"),
                visible=False,
                elem_id="predict-entities",
                show_legend=True,
                combine_adjacent=False,
            )
            answer = tr.make(
                gr.Textbox,
                label=T("eval.answer"),
                visible=False,
                lines=4,
                interactive=False,
                elem_id="predict-answer",
            )
    tr.make(gr.Markdown, value=T("eval.batch"), elem_classes=["section-title"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            upload = tr.make(
                gr.File,
                label=T("eval.file"),
                file_types=[".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet", ".xlsx"],
                type="filepath",
                elem_id="predict-file",
                height=120,
            )
            file_btn = tr.make(
                gr.Button, value=T("eval.predict_file"), elem_id="predict-file-button"
            )
        with gr.Column(scale=1):
            file_msg = gr.HTML("", elem_id="predict-file-message", padding=False)
            download = tr.make(
                gr.File,
                label=T("eval.download"),
                visible=False,
                interactive=False,
                elem_id="predict-download",
                height=100,
            )
    ctx.c.update(eval_run=run_dd)

    def refresh_choices(current, lang="en"):
        """Fresh choices; keeps the current pick, else picks the newest finished run."""
        choices = finished_runs(store, lang)
        ids = [v for _, v in choices]
        return gr.update(
            choices=choices, value=current if current in ids else (ids[0] if ids else None)
        )

    def on_run(run_id, lang):
        return show_run(store, run_id, lang)

    def on_predict(run_id, value, value2, value3, lang):
        return predict_any(store, run_id, value, value2, value3, lang)

    def on_extras(run_id, lang):
        return task_extras(store, run_id, lang)

    def on_ner_index(run_id, index):
        if not run_id:
            return None, None
        try:
            return task_views.ner_example(store.get(run_id).metrics(), index)
        except KeyError:
            return None, None

    def on_file(run_id, path, lang, progress=gr.Progress()):
        try:
            ctx.own_upload(path)
        except ENGINE_ERRORS as e:
            return gr.update(value=None, visible=False), box("error", error_message(e, lang))
        update, message = predict_file(store, run_id, path, lang, progress)
        if isinstance(update, dict) and update.get("value"):
            update["value"] = ctx.hand_out(update["value"], move=True)
        return update, message

    ctx.fn["eval_refresh"] = refresh_choices

    def wire() -> None:
        lang = ctx.lang
        outs = [note, metrics, cm, per_class, errors]
        extras = [
            ner_group,
            ner_index,
            ner_gold,
            ner_pred,
            text,
            second,
            third,
            label,
            probs,
            entities,
            answer,
            per_class,
            errors,
        ]
        run_dd.change(on_run, [run_dd, lang], outs).then(on_extras, [run_dd, lang], extras)
        ner_index.release(on_ner_index, [run_dd, ner_index], [ner_gold, ner_pred])
        refresh.click(refresh_choices, [run_dd, lang], run_dd)
        ctx.c["eval_tab"].select(refresh_choices, [run_dd, lang], run_dd, show_progress="hidden")
        ctx.on_lang.append((refresh_choices, [run_dd, lang], run_dd))
        ctx.on_load.append((refresh_choices, [run_dd, lang], run_dd))  # the user's own runs
        ctx.on_lang.append((on_run, [run_dd, lang], outs))
        try_in = [run_dd, text, second, third, lang]
        try_out = [label, probs, entities, answer, predict_msg]
        predict_btn.click(on_predict, try_in, try_out, concurrency_limit=2)
        text.submit(on_predict, try_in, try_out, concurrency_limit=2)
        file_btn.click(on_file, [run_dd, upload, lang], [download, file_msg], concurrency_limit=1)

    ctx.deferred.append(wire)
