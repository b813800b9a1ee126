"""Data tab: pick a table, check it, see what the model will learn from."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from engine.config import TASKS, RunConfig, config_fields
from engine.data import (
    SUPPORTED_SUFFIXES,
    DataError,
    infer_columns,
    label_distribution,
    list_sample_files,
    load_table,
    prepare_data,
    text_lengths,
)
from engine.tasks import COLUMN_ROLES, guess_task

from ui import charts
from ui.common import ENGINE_ERRORS, Context, box, error_message
from ui.form import STATE_FIELDS, field_widget
from ui.i18n import T, t

PREVIEW_ROWS = 20
# the data-group knobs of the "Split and sampling" accordion (the files themselves are uploads)
SPLIT_FIELDS = [
    f.name
    for f in config_fields("data", advanced=True)
    if f.name not in STATE_FIELDS and not f.metadata.get("tasks")
]
# columns (and the target language) that only some tasks have: shown for those tasks only
TASK_COLUMN_FIELDS = [
    "head_column",
    "tail_column",
    "question_column",
    "answer_start_column",
    "label_columns",
]
TASK_FIELDS = TASK_COLUMN_FIELDS + ["target_language"]
# extra file types some tasks read (CoNLL for NER)
UPLOAD_SUFFIXES = list(SUPPORTED_SUFFIXES) + [".conll", ".bio", ".iob", ".iob2", ".bioes"]
_DEFAULTS = RunConfig()


def _num(value, default):
    return default if value is None or value == "" else value


def privacy_preview(
    path: str | None, text_column: str | None = "", lang: str = "en", limit: int = 20
) -> tuple:
    """What masking personal data (RunConfig.mask_pii) would change in the table's texts: a
    summary box with the counts per kind, and a before / after table of the first changed
    texts (hidden when nothing changes)."""
    from engine.privacy import preview

    hidden = gr.update(value=None, visible=False)
    if not path:
        return box("info", t("data.privacy_need_data", lang)), hidden
    try:
        df = load_table(path)
        columns = [str(c) for c in df.columns]
        if text_column not in columns:
            text_column = infer_columns(df, Path(path).name)[0]
        texts = [v for v in df[text_column].tolist() if isinstance(v, str)]
        result = preview(texts, limit=limit)
    except ENGINE_ERRORS + (TypeError,) as e:
        return box("error", error_message(e), t("data.error", lang)), hidden
    counts = result["counts"]
    if not result["texts_changed"]:
        return box("ok", t("data.privacy_nothing", lang, total=result["texts"])), hidden
    summary = box(
        "info",
        t(
            "data.privacy_counts",
            lang,
            changed=result["texts_changed"],
            total=result["texts"],
            **counts,
        ),
    )
    frame = pd.DataFrame(
        [[e["before"], e["after"]] for e in result["examples"]],
        columns=[t("data.privacy_before", lang), t("data.privacy_after", lang)],
    )
    return summary, gr.update(value=frame, visible=True)


def privacy_if_ticked(
    ticked: bool, path: str | None, text_column: str | None = "", lang: str = "en"
) -> tuple:
    """The preview while the box is ticked; nothing once it is unticked."""
    if not ticked:
        return "", gr.update(value=None, visible=False)
    summary, table = privacy_preview(path, text_column, lang)
    return summary + box("info", t("data.privacy_on", lang)), table


def sample_choices() -> list[tuple[str, str]]:
    return [(p.name, str(p)) for p in list_sample_files()]


def inspect_data(
    path: str | None,
    text_column: str | None = "",
    label_column: str | None = "",
    lang: str = "en",
    validation_fraction: float | None = None,
    test_fraction: float | None = None,
    max_rows: int | None = None,
    test_path: str | None = "",
    seed: int | None = None,
    max_length: int | None = None,
) -> tuple:
    """Load + validate a table. Returns the Data tab's outputs:
    (text column, label column, preview, label chart, length chart, summary, messages).
    Never raises for a bad file: the problem comes back as the messages box."""
    empty_cols = gr.update(choices=[], value=None)
    no_chart = charts.empty_figure(t("chart.no_data", lang), 280)
    if not path:
        return (
            empty_cols,
            empty_cols,
            gr.update(value=None, visible=False),
            no_chart,
            no_chart,
            "",
            box("info", t("data.none", lang)),
        )
    name = Path(path).name
    try:
        df = load_table(path)
    except ENGINE_ERRORS as e:
        return (
            empty_cols,
            empty_cols,
            gr.update(value=None, visible=False),
            no_chart,
            no_chart,
            f"**{name}**",
            box("error", error_message(e), t("data.error", lang)),
        )

    columns = [str(c) for c in df.columns]
    text_column = text_column if text_column in columns else ""
    label_column = label_column if label_column in columns else ""
    errors: list[str] = []
    spec = None
    try:
        text_column, label_column = infer_columns(
            df, name, text_column=text_column, label_column=label_column
        )
    except DataError as e:
        errors.append(error_message(e))
    if not errors:
        try:
            spec = prepare_data(
                path,
                text_column,
                label_column,
                test_path or "",
                _num(validation_fraction, _DEFAULTS.validation_fraction),
                _num(test_fraction, _DEFAULTS.test_fraction),
                int(_num(seed, _DEFAULTS.seed)),
                int(_num(max_rows, _DEFAULTS.max_rows)),
                int(_num(max_length, _DEFAULTS.max_length)),
            )
        except ENGINE_ERRORS as e:
            errors.append(error_message(e))

    label_chart = length_chart = no_chart
    try:
        if label_column:
            dist = label_distribution(df, label_column)
            if len(dist) <= 200:
                label_chart = charts.label_figure(
                    dist["label"].tolist(), dist["count"].tolist(), lang
                )
        if text_column:
            length_chart = charts.length_figure(text_lengths(df, text_column).tolist(), lang)
    except ENGINE_ERRORS + (TypeError,):
        pass

    if spec is not None:
        splits = spec.to_dict()["splits"]
        summary = t(
            "data.summary",
            lang,
            name=name,
            rows=spec.stats.get("rows_used", len(df)),
            classes=len(spec.labels),
            train=splits["train"],
            validation=splits["validation"],
            test=splits["test"],
        )
        messages = box("ok", t("data.ready", lang))
        if spec.warnings:
            messages += box("warning", spec.warnings, t("data.warnings", lang))
    else:
        summary = t("data.summary_bad", lang, name=name, rows=len(df), columns=len(columns))
        messages = box("error", errors[0], t("data.error", lang))

    return (
        gr.update(choices=columns, value=text_column or None),
        gr.update(choices=columns, value=label_column or None),
        preview_update(df, text_column),
        label_chart,
        length_chart,
        summary,
        messages,
    )


def preview_update(df: pd.DataFrame, text_column: str = "") -> dict:
    """The first rows, with the text column wide and the others narrow (all visible)."""
    preview = df.head(PREVIEW_ROWS)
    columns = [str(c) for c in preview.columns]
    if text_column in columns and len(columns) > 1:
        other = min(15.0, 40.0 / (len(columns) - 1))
        widths = [
            f"{100 - other * (len(columns) - 1):.0f}%" if c == text_column else f"{other:.0f}%"
            for c in columns
        ]
    else:
        widths = None
    return gr.update(value=preview, column_widths=widths, visible=True)


def task_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(f"task.{name}", lang), name) for name in TASKS]


def _column_updates(task: str, columns: list[str], values: dict, lang: str) -> list:
    """Updates of the task-only column pickers: choices, value kept when still valid, shown for
    the tasks that use them."""
    out = []
    for name in TASK_COLUMN_FIELDS:
        f = _field(name)
        visible = task in f.metadata["tasks"]
        value = values.get(name)
        if name == "label_columns":
            picked = [c for c in (value or []) if c in columns]
            out.append(gr.update(choices=columns, value=picked, visible=visible))
        else:
            out.append(
                gr.update(
                    choices=[""] + columns, value=value if value in columns else "", visible=visible
                )
            )
    out.append(gr.update(visible=task in _field("target_language").metadata["tasks"]))
    return out


def _role_labels(task: str, lang: str) -> tuple[str, str]:
    text_role, label_role = COLUMN_ROLES.get(task, ("text", "label"))
    return t(f"role.{text_role}", lang), t(f"role.{label_role}", lang)


def inspect_task(
    path,
    text_column="",
    label_column="",
    lang="en",
    validation_fraction=None,
    test_fraction=None,
    max_rows=None,
    test_path="",
    seed=None,
    max_length=None,
    task="classification",
    head_column="",
    tail_column="",
    question_column="",
    answer_start_column="",
    label_columns=None,
    target_language="",
) -> tuple:
    """The Data tab for any task: ``inspect_data``'s seven outputs, the text/label pickers
    relabelled for the task (tokens/tags, context/answer, source/target...), then the updates of
    the task-only column pickers. Never raises for a bad file."""
    task = task or "classification"
    extra = {
        "head_column": head_column,
        "tail_column": tail_column,
        "question_column": question_column,
        "answer_start_column": answer_start_column,
        "label_columns": label_columns,
    }
    text_label, label_label = _role_labels(task, lang)
    if task == "classification" or not path:
        out = list(
            inspect_data(
                path,
                text_column,
                label_column,
                lang,
                validation_fraction,
                test_fraction,
                max_rows,
                test_path,
                seed,
                max_length,
            )
        )
        columns = list(out[0].get("choices") or []) if isinstance(out[0], dict) else []
        columns = [c[1] if isinstance(c, (list, tuple)) else c for c in columns]
        out[0] = {**out[0], "label": text_label}
        out[1] = {**out[1], "label": label_label}
        return (*out, *_column_updates(task, columns, extra, lang))
    return _inspect_other(
        path,
        text_column,
        label_column,
        lang,
        validation_fraction,
        test_fraction,
        max_rows,
        test_path,
        seed,
        max_length,
        task,
        extra,
        target_language,
        text_label,
        label_label,
    )


def _inspect_other(
    path,
    text_column,
    label_column,
    lang,
    validation_fraction,
    test_fraction,
    max_rows,
    test_path,
    seed,
    max_length,
    task,
    extra,
    target_language,
    text_label,
    label_label,
) -> tuple:
    from engine.tasks import get_task

    name = Path(path).name
    no_chart = charts.empty_figure(t("chart.no_data", lang), 280)
    df, columns = None, []
    try:
        df = load_table(path, min_columns=1)
        columns = [str(c) for c in df.columns]
    except ENGINE_ERRORS:
        pass  # e.g. a CoNLL file: the task's own loader reads it below
    values = {
        "text_column": text_column if text_column in columns else "",
        "label_column": label_column if label_column in columns else "",
    }
    settings = {
        **values,
        **{
            k: (",".join(v) if isinstance(v, (list, tuple)) else (v or ""))
            for k, v in extra.items()
        },
        "target_language": target_language or "",
        "data": path,
        "task": task,
        "test_data": test_path or "",
        "validation_fraction": _num(validation_fraction, _DEFAULTS.validation_fraction),
        "test_fraction": _num(test_fraction, _DEFAULTS.test_fraction),
        "max_rows": int(_num(max_rows, _DEFAULTS.max_rows)),
        "seed": int(_num(seed, _DEFAULTS.seed)),
        "max_length": int(_num(max_length, _DEFAULTS.max_length)),
    }
    data, error = None, ""
    try:
        data = get_task(task).prepare(RunConfig.from_dict(settings))
    except ENGINE_ERRORS + (ImportError,) as e:
        error = error_message(e)
    label_chart = length_chart = no_chart
    if data is not None:
        used = data.columns or {}
        text_role, label_role = COLUMN_ROLES.get(task, ("text", "label"))
        values["text_column"] = (
            values["text_column"] or used.get(text_role) or used.get("text") or ""
        )
        values["label_column"] = (
            values["label_column"] or used.get(label_role) or used.get("label") or ""
        )
        for field_name, role in (
            ("head_column", "head"),
            ("tail_column", "tail"),
            ("question_column", "question"),
            ("answer_start_column", "answer_start"),
        ):
            if not extra.get(field_name) and used.get(role):
                extra[field_name] = used[role]  # show what the task inferred
        info = data.info or {}
        counts = (
            info.get("label_counts")
            or info.get("entity_counts")
            or info.get("relation_counts")
            or {}
        )
        if counts and len(counts) <= 200:
            label_chart = charts.label_figure(list(counts), list(counts.values()), lang)
        rows = data.to_dict()["rows"]
        summary = t(
            "data.summary_task",
            lang,
            name=name,
            task=t(f"task.{task}", lang),
            train=rows["train"],
            validation=rows["validation"],
            test=rows["test"],
            labels=len(data.labels),
        )
        messages = box("ok", t("data.ready", lang))
        if data.warnings:
            messages += box("warning", data.warnings, t("data.warnings", lang))
    else:
        summary = t(
            "data.summary_bad",
            lang,
            name=name,
            rows=len(df) if df is not None else 0,
            columns=len(columns),
        )
        messages = box("error", error, t("data.error", lang))
    try:
        if df is not None and values["text_column"] in columns:
            length_chart = charts.length_figure(
                text_lengths(df, values["text_column"]).tolist(), lang
            )
    except ENGINE_ERRORS + (TypeError,):
        pass
    if df is not None:
        preview = preview_update(df, values["text_column"])
    elif data is not None:
        shown = data.train.head(PREVIEW_ROWS).copy()
        for c in shown.columns:  # token lists read better as one line
            shown[c] = shown[c].map(lambda v: " ".join(map(str, v)) if isinstance(v, list) else v)
        preview = gr.update(value=shown, column_widths=None, visible=True)
    else:
        preview = gr.update(value=None, visible=False)
    return (
        gr.update(choices=columns, value=values["text_column"] or None, label=text_label),
        gr.update(choices=columns, value=values["label_column"] or None, label=label_label),
        preview,
        label_chart,
        length_chart,
        summary,
        messages,
        *_column_updates(task, columns, extra, lang),
    )


def backbone_hint(
    path: str | None,
    text_column: str | None,
    backbone: str | None,
    task: str | None,
    lang: str = "en",
) -> tuple:
    """(backbone update, hint) for the data's language: text that is not English moves the
    default English-only MiniLM to the bundled multilingual encoder (e5-small-multilingual) and
    says so; a backbone the user picked is kept, with advice. Generation tasks use decoders and
    are left alone."""
    from engine.config import GENERATION_TASKS
    from engine.planner import guess_language, suggest_backbone

    if not path or (task or "classification") in GENERATION_TASKS:
        return gr.update(), ""
    try:
        if Path(path).suffix.lower() in (".conll", ".bio", ".iob", ".iob2", ".bioes"):
            from engine.data import read_text_file

            texts = read_text_file(path)[0].split("\n")[:2000]
        else:
            df = load_table(path, max_rows=500, min_columns=1)
            column = (
                text_column
                if text_column in df.columns
                else max(df.columns, key=lambda c: df[c].astype(str).str.len().mean())
            )
            texts = [
                " ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
                for v in df[column].tolist()
            ]
    except ENGINE_ERRORS + (TypeError,):
        return gr.update(), ""
    language = guess_language(texts)
    suggested, reason = suggest_backbone(language, backbone or "")
    if suggested != (backbone or ""):
        return gr.update(value=suggested), box(
            "info", t("data.backbone_switched", lang, backbone=suggested)
        )
    if language != "en" and "kept as is" in reason:
        return gr.update(), box("warning", reason)
    return gr.update(), ""


def guess_task_update(path: str | None, current: str | None):
    """Pre-select the task a new file obviously holds (a .conll file, tokens/tags columns...);
    otherwise keep the user's choice."""
    if not path:
        return gr.update()
    columns: list[str] = []
    try:
        columns = [str(c) for c in load_table(path, max_rows=5, min_columns=1).columns]
    except ENGINE_ERRORS:
        pass
    guess = guess_task(Path(path).name, columns)
    return gr.update(value=guess) if guess and guess != current else gr.update()


def build(ctx: Context) -> None:
    tr = ctx.tr
    tr.make(gr.Markdown, value=T("data.intro"), elem_classes=["tab-intro"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            task = tr.make(
                gr.Dropdown,
                label=T("task"),
                info=T("task.help"),
                choices=task_choices(tr.lang),
                value=_DEFAULTS.task,
                elem_id="cfg-task",
            )
            tr.register(task, choices=task_choices)
            upload = tr.make(
                gr.File,
                label=T("data.upload"),
                file_types=UPLOAD_SUFFIXES,
                type="filepath",
                elem_id="data-upload",
                height=150,
            )
            samples = sample_choices()
            with gr.Row(elem_classes=["sample-row"]):
                sample = tr.make(
                    gr.Dropdown,
                    label=T("data.sample"),
                    info=T("data.sample.help"),
                    choices=samples,
                    value=samples[0][1] if samples else None,
                    elem_id="data-sample",
                    scale=3,
                )
                use_sample = tr.make(
                    gr.Button,
                    value=T("data.use_sample"),
                    elem_id="data-use-sample",
                    scale=1,
                    min_width=120,
                    variant="secondary",
                )
        with gr.Column(scale=1):
            summary = gr.Markdown("", elem_id="data-summary")
            with gr.Row():
                text_col = tr.make(
                    gr.Dropdown,
                    label=T("text_column"),
                    info=T("text_column.help"),
                    choices=[],
                    value=None,
                    elem_id="text-column",
                )
                label_col = tr.make(
                    gr.Dropdown,
                    label=T("label_column"),
                    info=T("label_column.help"),
                    choices=[],
                    value=None,
                    elem_id="label-column",
                )
            with gr.Row():
                task_cols = {}
                for name in TASK_COLUMN_FIELDS:
                    multi = name == "label_columns"
                    task_cols[name] = tr.make(
                        gr.Dropdown,
                        label=T(name),
                        info=T(name + ".help"),
                        choices=[] if multi else [""],
                        value=[] if multi else "",
                        multiselect=multi,
                        visible=False,
                        elem_id="cfg-" + name.replace("_", "-"),
                    )
                target_language = field_widget(_field("target_language"), tr, visible=False)
            messages = gr.HTML(
                box("info", t("data.none", tr.lang)), elem_id="data-messages", padding=False
            )
    with tr.make(gr.Accordion, label=T("data.split"), open=False, elem_id="data-split"):
        with gr.Row():
            split = {name: field_widget(_field(name), tr) for name in SPLIT_FIELDS}
        with gr.Row():
            test_upload = tr.make(
                gr.File,
                label=T("test_data"),
                file_types=UPLOAD_SUFFIXES,
                type="filepath",
                elem_id="data-test-upload",
                height=110,
            )
            tr.make(gr.Markdown, value=T("test_data.help"), elem_classes=["hint"])
    # personal data: masked before training when ticked (text classification); the preview
    # shows what changes before anything trains
    with gr.Row(
        equal_height=False, elem_id="data-privacy", visible=_privacy_visible(_DEFAULTS.task)
    ) as privacy_row:
        mask_pii = field_widget(_field("mask_pii"), tr, scale=4)
        privacy_btn = tr.make(
            gr.Button,
            value=T("data.privacy_preview"),
            size="sm",
            elem_id="data-privacy-preview",
            scale=1,
            min_width=140,
        )
    privacy_msg = gr.HTML("", elem_id="data-privacy-summary", padding=False)
    privacy_table = tr.make(
        gr.Dataframe,
        interactive=False,
        wrap=True,
        max_height=320,
        elem_id="data-privacy-table",
        visible=False,
    )
    language_hint = gr.HTML("", elem_id="data-language-hint", padding=False)
    preview = tr.make(
        gr.Dataframe,
        label=T("data.preview"),
        interactive=False,
        wrap=True,
        max_height=420,
        max_chars=200,
        elem_id="data-preview",
        visible=False,
    )
    with gr.Row():
        label_chart = gr.Plot(
            charts.empty_figure(t("chart.no_data", tr.lang), 280),
            show_label=False,
            elem_id="data-label-chart",
        )
        length_chart = gr.Plot(
            charts.empty_figure(t("chart.no_data", tr.lang), 280),
            show_label=False,
            elem_id="data-length-chart",
        )

    ctx.fields.update(
        {
            "data": ctx.data_path,
            "text_column": text_col,
            "label_column": label_col,
            "test_data": ctx.test_path,
            **split,
            "mask_pii": mask_pii,
            "task": task,
            **task_cols,
            "target_language": target_language,
        }
    )
    outputs = [
        text_col,
        label_col,
        preview,
        label_chart,
        length_chart,
        summary,
        messages,
        *task_cols.values(),
        target_language,
    ]
    ctx.c.update(data_outputs=outputs, data_summary=summary, data_messages=messages)
    ctx.fn["inspect_data"] = inspect_task

    def from_upload(path, lang):
        """Keep the upload in the user's own uploads folder (gradio keeps the browser's file
        name); a file over the quota, or not uploaded by this user, is refused in words."""
        try:
            return ctx.keep_upload(path)
        except ENGINE_ERRORS as e:
            gr.Warning(error_message(e, lang))
            return ""

    def wire() -> None:
        # seed and max_length live in the Train tab but change the split and the length warning
        tail = [task, *task_cols.values(), target_language]
        inputs = [
            ctx.data_path,
            text_col,
            label_col,
            ctx.lang,
            *split.values(),
            ctx.test_path,
            ctx.fields["seed"],
            ctx.fields["max_length"],
            *tail,
        ]
        blank = [gr.State("")] * len(task_cols)
        fresh = [
            ctx.data_path,
            gr.State(""),
            gr.State(""),
            ctx.lang,
            *split.values(),
            ctx.test_path,
            ctx.fields["seed"],
            ctx.fields["max_length"],
            task,
            *blank,
            target_language,
        ]
        ctx.c["data_inputs"] = inputs
        ctx.on_lang.append((inspect_task, inputs, outputs))
        upload.upload(from_upload, [upload, ctx.lang], ctx.data_path).then(
            guess_task_update, [ctx.data_path, task], task
        ).then(inspect_task, fresh, outputs)
        upload.clear(lambda: "", None, ctx.data_path).then(inspect_task, fresh, outputs)
        use_sample.click(lambda p: p or "", sample, ctx.data_path).then(
            guess_task_update, [ctx.data_path, task], task
        ).then(inspect_task, fresh, outputs)
        task.input(inspect_task, fresh, outputs, show_progress="minimal")
        for comp in (text_col, label_col, *split.values(), *task_cols.values(), target_language):
            # dropdowns re-validate on a pick, number/text boxes once the user leaves the box
            event = comp.blur if isinstance(comp, (gr.Number, gr.Textbox)) else comp.input
            event(
                inspect_task, inputs, outputs, show_progress="minimal", trigger_mode="always_last"
            )
        # (not the text dropdown as an input: gradio rejects a value that a concurrent update
        # has just removed from its choices; the column is inferred again instead)
        hint_args = (
            [ctx.data_path, gr.State(""), ctx.fields["backbone"], task, ctx.lang],
            [ctx.fields["backbone"], language_hint],
        )
        # the suggestion follows the data once its columns are known
        summary.change(backbone_hint, *hint_args, show_progress="hidden")
        test_upload.upload(from_upload, [test_upload, ctx.lang], ctx.test_path).then(
            inspect_task, inputs, outputs
        )
        privacy_out = [privacy_msg, privacy_table]
        mask_pii.change(
            privacy_if_ticked,
            [mask_pii, ctx.data_path, text_col, ctx.lang],
            privacy_out,
            show_progress="minimal",
        )
        privacy_btn.click(privacy_preview, [ctx.data_path, text_col, ctx.lang], privacy_out)
        # new data: a shown preview follows it (the column is inferred again, see above)
        summary.change(
            privacy_if_ticked,
            [mask_pii, ctx.data_path, gr.State(""), ctx.lang],
            privacy_out,
            show_progress="hidden",
        )
        ctx.on_lang.append(
            (privacy_if_ticked, [mask_pii, ctx.data_path, gr.State(""), ctx.lang], privacy_out)
        )
        task.change(
            lambda value: (
                gr.update(visible=_privacy_visible(value)),
                "",
                gr.update(visible=False),
            ),
            task,
            [privacy_row, privacy_msg, privacy_table],
            show_progress="hidden",
        )
        test_upload.clear(lambda: "", None, ctx.test_path).then(inspect_task, inputs, outputs)

    ctx.deferred.append(wire)


def _privacy_visible(task: str | None) -> bool:
    """mask_pii applies to the tasks its metadata names (text classification)."""
    return (task or "classification") in (
        _field("mask_pii").metadata.get("tasks") or [task or "classification"]
    )


def _field(name: str):
    return RunConfig.__dataclass_fields__[name]
