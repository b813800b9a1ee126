"""Data tab: pick a table, check it, see what the model will learn from."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import gradio as gr
import pandas as pd

from engine.config import RunConfig, config_fields
from engine.data import (SUPPORTED_SUFFIXES, DataError, infer_columns, label_distribution,
                         list_sample_files, load_table, prepare_data, text_lengths)

from ui import charts
from ui.common import ENGINE_ERRORS, Context, box, error_message
from ui.form import STATE_FIELDS, field_widget
from ui.i18n import T, t

PREVIEW_ROWS = 20
# the data-group knobs of the "Split and sampling" accordion (the files themselves are uploads)
SPLIT_FIELDS = [f.name for f in config_fields("data", advanced=True) if f.name not in STATE_FIELDS]
_DEFAULTS = RunConfig()


def _num(value, default):
    return default if value is None or value == "" else value


def copy_upload(path: str | None, uploads_dir: Path) -> str:
    """Keep an uploaded file next to the runs (gradio's temp copy may vanish), named by content."""
    if not path:
        return ""
    src = Path(path)
    digest = hashlib.sha1(src.read_bytes()).hexdigest()[:12]
    dest = uploads_dir / digest / src.name  # the user's own file name shows in messages
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    return str(dest.resolve())


def sample_choices() -> list[tuple[str, str]]:
    return [(p.name, str(p)) for p in list_sample_files()]


def inspect_data(path: str | None, text_column: str | None = "", label_column: str | None = "",
                 lang: str = "en", validation_fraction: float | None = None,
                 test_fraction: float | None = None, max_rows: int | None = None,
                 test_path: str | None = "", seed: int | None = None,
                 max_length: int | None = None) -> tuple:
    """Load + validate a table. Returns the Data tab's outputs:
    (text column, label column, preview, label chart, length chart, summary, messages).
    Never raises for a bad file: the problem comes back as the messages box."""
    empty_cols = gr.update(choices=[], value=None)
    no_chart = charts.empty_figure(t("chart.no_data", lang), 280)
    if not path:
        return (empty_cols, empty_cols, gr.update(value=None, visible=False), no_chart,
                no_chart, "", box("info", t("data.none", lang)))
    name = Path(path).name
    try:
        df = load_table(path)
    except ENGINE_ERRORS as e:
        return (empty_cols, empty_cols, gr.update(value=None, visible=False), no_chart, no_chart,
                f"**{name}**", box("error", error_message(e), t("data.error", lang)))

    columns = [str(c) for c in df.columns]
    text_column = text_column if text_column in columns else ""
    label_column = label_column if label_column in columns else ""
    errors: list[str] = []
    spec = None
    try:
        text_column, label_column = infer_columns(df, name, text_column=text_column,
                                                  label_column=label_column)
    except DataError as e:
        errors.append(error_message(e))
    if not errors:
        try:
            spec = prepare_data(
                path, text_column, label_column, test_path or "",
                _num(validation_fraction, _DEFAULTS.validation_fraction),
                _num(test_fraction, _DEFAULTS.test_fraction), int(_num(seed, _DEFAULTS.seed)),
                int(_num(max_rows, _DEFAULTS.max_rows)),
                int(_num(max_length, _DEFAULTS.max_length)))
        except ENGINE_ERRORS as e:
            errors.append(error_message(e))

    label_chart = length_chart = no_chart
    try:
        if label_column:
            dist = label_distribution(df, label_column)
            if len(dist) <= 200:
                label_chart = charts.label_figure(dist["label"].tolist(), dist["count"].tolist(),
                                                  lang)
        if text_column:
            length_chart = charts.length_figure(text_lengths(df, text_column).tolist(), lang)
    except ENGINE_ERRORS + (TypeError,):
        pass

    if spec is not None:
        splits = spec.to_dict()["splits"]
        summary = t("data.summary", lang, name=name, rows=spec.stats.get("rows_used", len(df)),
                    classes=len(spec.labels), train=splits["train"],
                    validation=splits["validation"], test=splits["test"])
        messages = box("ok", t("data.ready", lang))
        if spec.warnings:
            messages += box("warning", spec.warnings, t("data.warnings", lang))
    else:
        summary = t("data.summary_bad", lang, name=name, rows=len(df), columns=len(columns))
        messages = box("error", errors[0], t("data.error", lang))

    return (gr.update(choices=columns, value=text_column or None),
            gr.update(choices=columns, value=label_column or None),
            preview_update(df, text_column), label_chart, length_chart, summary, messages)


def preview_update(df: pd.DataFrame, text_column: str = "") -> dict:
    """The first rows, with the text column wide and the others narrow (all visible)."""
    preview = df.head(PREVIEW_ROWS)
    columns = [str(c) for c in preview.columns]
    if text_column in columns and len(columns) > 1:
        other = min(15.0, 40.0 / (len(columns) - 1))
        widths = [f"{100 - other * (len(columns) - 1):.0f}%" if c == text_column
                  else f"{other:.0f}%" for c in columns]
    else:
        widths = None
    return gr.update(value=preview, column_widths=widths, visible=True)


def build(ctx: Context) -> None:
    tr = ctx.tr
    tr.make(gr.Markdown, value=T("data.intro"), elem_classes=["tab-intro"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            upload = tr.make(gr.File, label=T("data.upload"), file_types=list(SUPPORTED_SUFFIXES),
                             type="filepath", elem_id="data-upload", height=150)
            samples = sample_choices()
            with gr.Row(elem_classes=["sample-row"]):
                sample = tr.make(gr.Dropdown, label=T("data.sample"), info=T("data.sample.help"),
                                 choices=samples, value=samples[0][1] if samples else None,
                                 elem_id="data-sample", scale=3)
                use_sample = tr.make(gr.Button, value=T("data.use_sample"),
                                     elem_id="data-use-sample", scale=1, min_width=120,
                                     variant="secondary")
        with gr.Column(scale=1):
            summary = gr.Markdown("", elem_id="data-summary")
            with gr.Row():
                text_col = tr.make(gr.Dropdown, label=T("text_column"), info=T("text_column.help"),
                                   choices=[], value=None, elem_id="text-column")
                label_col = tr.make(gr.Dropdown, label=T("label_column"),
                                    info=T("label_column.help"), choices=[], value=None,
                                    elem_id="label-column")
            messages = gr.HTML(box("info", t("data.none", tr.lang)), elem_id="data-messages",
                               padding=False)
    with tr.make(gr.Accordion, label=T("data.split"), open=False, elem_id="data-split"):
        with gr.Row():
            split = {name: field_widget(_field(name), tr) for name in SPLIT_FIELDS}
        with gr.Row():
            test_upload = tr.make(gr.File, label=T("test_data"),
                                  file_types=list(SUPPORTED_SUFFIXES), type="filepath",
                                  elem_id="data-test-upload", height=110)
            tr.make(gr.Markdown, value=T("test_data.help"), elem_classes=["hint"])
        task = field_widget(_field("task"), tr, visible=len(RunConfig.__dataclass_fields__[
            "task"].metadata["choices"]) > 1)
    preview = tr.make(gr.Dataframe, label=T("data.preview"), interactive=False, wrap=True,
                      max_height=420, max_chars=200, elem_id="data-preview", visible=False)
    with gr.Row():
        label_chart = gr.Plot(charts.empty_figure(t("chart.no_data", tr.lang), 280),
                              show_label=False, elem_id="data-label-chart")
        length_chart = gr.Plot(charts.empty_figure(t("chart.no_data", tr.lang), 280),
                               show_label=False, elem_id="data-length-chart")

    ctx.fields.update({"data": ctx.data_path, "text_column": text_col, "label_column": label_col,
                       "test_data": ctx.test_path, **split, "task": task})
    outputs = [text_col, label_col, preview, label_chart, length_chart, summary, messages]
    ctx.c.update(data_outputs=outputs, data_summary=summary, data_messages=messages)
    ctx.fn["inspect_data"] = inspect_data

    def from_upload(path):
        try:
            return copy_upload(path, ctx.uploads_dir)
        except OSError as e:
            gr.Warning(error_message(e))
            return ""

    def wire() -> None:
        # seed and max_length live in the Train tab but change the split and the length warning
        inputs = [ctx.data_path, text_col, label_col, ctx.lang, *split.values(), ctx.test_path,
                  ctx.fields["seed"], ctx.fields["max_length"]]
        fresh = [ctx.data_path, gr.State(""), gr.State(""), ctx.lang, *split.values(),
                 ctx.test_path, ctx.fields["seed"], ctx.fields["max_length"]]
        ctx.c["data_inputs"] = inputs
        ctx.on_lang.append((inspect_data, inputs, outputs))
        upload.upload(from_upload, upload, ctx.data_path).then(inspect_data, fresh, outputs)
        upload.clear(lambda: "", None, ctx.data_path).then(inspect_data, fresh, outputs)
        use_sample.click(lambda p: p or "", sample, ctx.data_path).then(
            inspect_data, fresh, outputs)
        for comp in (text_col, label_col, *split.values()):
            # dropdowns re-validate on a pick, number boxes once the user leaves the box
            event = comp.blur if isinstance(comp, gr.Number) else comp.input
            event(inspect_data, inputs, outputs, show_progress="minimal",
                  trigger_mode="always_last")
        test_upload.upload(from_upload, test_upload, ctx.test_path).then(
            inspect_data, inputs, outputs)
        test_upload.clear(lambda: "", None, ctx.test_path).then(inspect_data, inputs, outputs)

    ctx.deferred.append(wire)


def _field(name: str):
    return RunConfig.__dataclass_fields__[name]
