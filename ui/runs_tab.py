"""Runs tab: every run on disk, a side-by-side comparison of a few, resuming an interrupted run
from its last checkpoint and deleting runs (with a confirmation step; with --auth only the owner
may)."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import pandas as pd

from engine.runs import Run, RunBusyError, RunStore
from engine.uploads import TEMP_DIR_NAME

from ui import charts
from ui.common import (
    Context,
    box,
    error_message,
    fmt_score,
    human_duration,
    human_number,
    owner_text,
    run_label,
    status_text,
)
from ui.i18n import T, t

METRIC_ROWS = (
    "test_accuracy",
    "test_macro_f1",
    "val_accuracy",
    "val_macro_f1",
    "speed",
    "trainable",
    "duration",
)


TABLE_COLUMNS = [
    "name",
    "status",
    "task",
    "backbone",
    "strategy",
    "data",
    "accuracy",
    "f1",
    "duration",
    "created",
]
TABLE_WIDTHS = ["15%", "9%", "9%", "12%", "7%", "14%", "8%", "10%", "7%", "9%"]


def main_score(summary: dict, lang: str) -> str:
    """The run's headline score: macro-F1 for classification, the task's own metric otherwise
    (entity F1, micro-F1, chrF...), named when it is not macro-F1."""
    from ui.task_views import METRIC_NAMES, fmt

    metric, value = summary.get("main_metric", "macro_f1"), summary.get("main_value")
    if metric == "macro_f1":
        return fmt_score(value)
    if not isinstance(value, (int, float)):
        return "–"
    if metric == "perplexity":  # an adaptation run: the held-out perplexity after it
        return f"{value:.1f} {t('runs.m.perplexity', lang)}"
    return f"{fmt(value)} {t(METRIC_NAMES.get(metric, metric), lang)}"


def setting_label(key: str, lang: str) -> str:
    """A config key's label: the RunConfig field's, else the PretrainConfig field's."""
    from engine.config import RunConfig

    return t(key, lang) if key in RunConfig.__dataclass_fields__ else t("pretrain." + key, lang)


def runs_table(store: RunStore, lang: str = "en", user: str | None = None) -> pd.DataFrame:
    rows = []
    for run in store.list():
        s = run.summary()
        name = s["name"]
        if s.get("shared"):  # shared with every signed-in user: say by whom
            name += " · " + t("runs.shared_by", lang, owner=owner_text(s["owner"], user, lang))
        rows.append(
            [
                name,
                status_text(s["status"], lang),
                t(f"task.{s['task'] or 'classification'}", lang),
                s["backbone"],
                s["strategy"],
                s["data"],
                fmt_score(s["accuracy"]),
                main_score(s, lang),
                human_duration(s["duration_s"]),
                time.strftime("%m-%d %H:%M", time.localtime(s["created"])),
            ]
        )
    return pd.DataFrame(rows, columns=[t(f"runs.col.{c}", lang) for c in TABLE_COLUMNS])


def table_signature(store: RunStore) -> str:
    parts = []
    for run in store.list():
        status = run.path / "status.json"
        parts.append(f"{run.id}:{status.stat().st_mtime if status.exists() else 0}")
    return "|".join(parts)


PRETRAIN_ROWS = ("ppl_before", "ppl_after")


def _metric_values(run: Run) -> dict[str, str]:
    m, s = run.metrics(), run.summary()
    test, val = m.get("test") or {}, m.get("validation") or {}
    params = m.get("parameters") or {}
    ppl = {
        k: f"{m[src]:.2f}" if isinstance(m.get(src), (int, float)) else "–"
        for k, src in (("ppl_before", "perplexity_before"), ("ppl_after", "perplexity_after"))
    }
    return {
        **ppl,
        "test_accuracy": fmt_score(test.get("accuracy")),
        "test_macro_f1": fmt_score(test.get("macro_f1")),
        "val_accuracy": fmt_score(val.get("accuracy")),
        "val_macro_f1": fmt_score(val.get("macro_f1")),
        "speed": f"{m['train_samples_per_second']:.1f}"
        if isinstance(m.get("train_samples_per_second"), (int, float))
        else "–",
        "trainable": human_number(params.get("trainable")) if params else "–",
        "duration": human_duration(s.get("duration_s")),
    }


def compare(store: RunStore, run_ids: list[str] | None, lang: str = "en") -> tuple:
    """(curves figure, comparison table, message) for the selected runs."""
    run_ids = [r for r in (run_ids or []) if r]
    if not run_ids:
        return (
            charts.compare_figure({}, lang),
            empty_comparison(lang),
            box("info", t("runs.pick", lang)),
        )
    runs, problems = [], []
    for rid in run_ids:
        try:
            runs.append(store.get(rid))
        except KeyError as e:
            problems.append(error_message(e))
    names = {}
    for run in runs:  # unique, readable column names
        name = run.config_dict().get("run_name") or run.id
        names[run.id] = name if name not in names.values() else f"{name} ({run.id})"
    curves = charts.compare_figure({names[r.id]: r.events() for r in runs}, lang)

    configs = {r.id: r.config_dict() for r in runs}
    metrics = {r.id: _metric_values(r) for r in runs}
    keys = [k for k in dict.fromkeys(k for c in configs.values() for k in c) if k != "output_dir"]
    rows = []
    adapt = any(r.kind == "pretrain" for r in runs)
    for key in (PRETRAIN_ROWS if adapt else ()) + METRIC_ROWS:
        values = [metrics[r.id][key] for r in runs]
        rows.append((t(f"runs.metric.{key}", lang), values, True))
    for key in keys:
        values = [_plain(configs[r.id].get(key)) for r in runs]
        rows.append((setting_label(key, lang), values, False))
    differs = [len(set(v)) > 1 for _, v, _ in rows]
    # metrics first, then settings that differ, then the settings every run shares
    order = sorted(range(len(rows)), key=lambda i: (not rows[i][2], not differs[i]))
    mark = t("runs.differs", lang)
    table = pd.DataFrame(
        [[rows[i][0], mark if differs[i] and len(runs) > 1 else "", *rows[i][1]] for i in order],
        columns=[t("runs.col.setting", lang), "≠", *[names[r.id] for r in runs]],
    )
    message = box("error", problems) if problems else ""
    return curves, table, message


def delete_confirmation(store: RunStore, run_ids: list[str] | None, lang: str = "en") -> str:
    """The question the confirmation step asks: which runs go."""
    names = []
    for rid in run_ids or []:
        try:
            names.append(store.get(rid).config_dict().get("run_name") or rid)
        except KeyError:
            names.append(rid)
    return box("warning", t("runs.delete_confirm", lang, n=len(names), names=", ".join(names)))


def delete_runs(
    store: RunStore, run_ids: list[str] | None, with_data: bool = True, lang: str = "en"
) -> str:
    """Delete each run (as the store's viewer: the signed-in user), with its unshared uploaded
    data files and every temporary copy of them when ``with_data``; one message: what went, and
    why the others did not (another user's run, a run still queued or training)."""
    deleted, files, problems = [], 0, []
    for rid in run_ids or []:
        try:
            name = store.get(rid).config_dict().get("run_name") or rid
            removed = store.delete(rid, with_data=with_data)
        except (PermissionError, RunBusyError, KeyError, OSError) as e:
            problems.append(error_message(e, lang))
            continue
        deleted.append(name if name == rid else f"{name} ({rid})")
        # the data files (not the server's temporary copies; the run folder comes last)
        files += sum(1 for p in removed[:-1] if TEMP_DIR_NAME not in Path(p).parts)
    out = ""
    if deleted:
        text = t("runs.deleted", lang, names=", ".join(deleted))
        if with_data and files:
            text += " " + t("runs.deleted_files", lang, n=files)
        out += box("ok", text)
    if problems:
        out += box("warning", problems, t("runs.delete_refused", lang))
    return out or box("warning", t("runs.pick_one", lang))


def empty_comparison(lang: str) -> pd.DataFrame:
    return pd.DataFrame(columns=[t("runs.col.setting", lang), "≠"])


def _plain(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def build(ctx: Context) -> None:
    tr, store = ctx.tr, ctx.store
    tr.make(gr.Markdown, value=T("runs.intro"), elem_classes=["tab-intro"])
    with gr.Row():
        refresh = tr.make(
            gr.Button,
            value=T("common.refresh"),
            elem_id="runs-refresh",
            size="sm",
            scale=0,
            min_width=110,
        )
    table = tr.make(
        gr.Dataframe,
        label=T("runs.table"),
        value=runs_table(store, tr.lang),
        interactive=False,
        wrap=True,
        max_height=380,
        elem_id="runs-table",
        column_widths=TABLE_WIDTHS,
    )
    with gr.Row(equal_height=True):
        select = tr.make(
            gr.Dropdown,
            label=T("runs.select"),
            info=T("runs.select.help"),
            choices=[(run_label(r.summary(), tr.lang), r.id) for r in store.list()],
            value=[],
            multiselect=True,
            elem_id="runs-select",
            scale=4,
            allow_custom_value=True,
        )  # a deleted run may be in a tick in flight
        with gr.Column(scale=1, min_width=160):
            open_eval = tr.make(
                gr.Button, value=T("runs.open_eval"), elem_id="runs-open-eval", variant="secondary"
            )
            load_train = tr.make(
                gr.Button,
                value=T("runs.load_train"),
                elem_id="runs-load-settings",
                variant="secondary",
            )
            resume = gr.Button(
                t("train.resume", tr.lang, step="?"),
                variant="secondary",
                elem_id="runs-resume",
                visible=False,
            )
            delete = tr.make(
                gr.Button, value=T("runs.delete"), variant="stop", size="sm", elem_id="runs-delete"
            )
            share = tr.make(
                gr.Checkbox,
                label=T("runs.share"),
                info=T("runs.share.help"),
                value=False,
                visible=False,
                elem_id="runs-share",
            )
    with gr.Column(visible=False, elem_id="runs-delete-confirm") as confirm:
        confirm_text = gr.HTML("", elem_id="runs-delete-question", padding=False)
        with gr.Row(equal_height=True):
            delete_data = tr.make(
                gr.Checkbox,
                label=T("runs.delete_data"),
                value=True,
                elem_id="runs-delete-data",
                scale=3,
            )
            delete_yes = tr.make(
                gr.Button,
                value=T("runs.delete_yes"),
                variant="stop",
                elem_id="runs-delete-yes",
                scale=1,
                min_width=120,
            )
            delete_no = tr.make(
                gr.Button,
                value=T("runs.delete_no"),
                variant="secondary",
                elem_id="runs-delete-no",
                scale=1,
                min_width=120,
            )
    # resume / delete results: their own box (a selection change rewrites runs-message)
    action_msg = gr.HTML("", elem_id="runs-action-message", padding=False)
    message = gr.HTML("", elem_id="runs-message", padding=False)
    curves = gr.Plot(
        charts.compare_figure({}, tr.lang), show_label=False, elem_id="runs-compare-chart"
    )
    comparison = tr.make(
        gr.Dataframe,
        label=T("runs.comparison"),
        interactive=False,
        wrap=True,
        value=empty_comparison(tr.lang),
        elem_id="runs-compare-table",
    )
    timer = gr.Timer(5)
    sig = gr.State("")
    pending = gr.State([])  # the runs the delete question named

    def refresh_all(lang, selected):
        choices = [(run_label(r.summary(), lang), r.id) for r in store.list()]
        ids = {v for _, v in choices}
        return (
            runs_table(store, lang, ctx.user()),
            table_signature(store),
            gr.update(choices=choices, value=[s for s in (selected or []) if s in ids]),
        )

    def tick(lang, selected, last_sig):
        if table_signature(store) == last_sig:
            return gr.skip(), gr.skip(), gr.skip()
        return refresh_all(lang, selected)

    def on_select(run_ids, lang):
        return compare(store, run_ids, lang)

    def open_in_eval(run_ids, lang):
        if not run_ids:
            return gr.skip(), gr.skip(), box("warning", t("runs.pick_one", lang))
        run_id = run_ids[0]
        try:
            run = store.get(run_id)
        except KeyError as e:  # deleted meanwhile
            return gr.skip(), gr.skip(), box("warning", error_message(e))
        if run.kind == "pretrain":
            return gr.skip(), gr.skip(), box("warning", t("adapt.no_model_eval", lang, id=run_id))
        if not run.has_model:
            return gr.skip(), gr.skip(), box("warning", t("runs.no_model", lang, id=run_id))
        from ui.evaluate_tab import finished_runs

        return (
            gr.Tabs(selected="evaluate"),
            gr.update(choices=finished_runs(store, lang), value=run_id),
            "",
        )

    def resume_state(run_ids, lang, request: gr.Request = None):
        """The Resume button for the first selected run (shown when it can resume)."""
        from ui.train_tab import resume_button

        return resume_button(store, ctx.jobs, (run_ids or [None])[0], ctx.viewer(request), lang)

    def share_state(run_ids, request: gr.Request = None):
        """The Share box for the first selected run: shown (with sign-in) when the user may
        change that run, ticked when it is shared."""
        from engine.runs import may_write

        run_id = (run_ids or [None])[0]
        try:
            run = store.get(run_id) if run_id and store.auth else None
        except KeyError:
            run = None
        if run is None or not may_write(run, ctx.viewer(request)):
            return gr.update(visible=False)
        return gr.update(visible=True, value=run.shared)

    def share_selected(run_ids, shared, lang):
        """Share the selected runs with every signed-in user (read-only), or stop sharing."""
        done, problems = [], []
        for rid in run_ids or []:
            try:
                store.set_shared(rid, bool(shared))
                done.append(rid)
            except (PermissionError, KeyError) as e:
                problems.append(error_message(e, lang))
        out = (
            box(
                "ok",
                t("runs.shared_on" if shared else "runs.shared_off", lang, names=", ".join(done)),
            )
            if done
            else ""
        )
        return out + (box("warning", problems) if problems else "")

    def resume_selected(run_ids, lang, request: gr.Request = None):
        """Resume the first selected run, then follow it in the Train tab."""
        from ui.train_tab import resume_job

        run_id = (run_ids or [None])[0]
        text, ok = resume_job(ctx.jobs, store, run_id, ctx.viewer(request), lang)
        if not ok:
            return text, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return (
            text,
            text,
            gr.update(visible=False),
            gr.Tabs(selected="train"),
            run_id,
            gr.Timer(active=True),
        )

    def ask_delete(run_ids, lang):
        """Step 1: name the runs that would go; they are remembered, so changing the selection
        afterwards never deletes anything the question did not name."""
        if not run_ids:
            return (gr.update(visible=False), "", box("warning", t("runs.pick_one", lang)), [])
        return (
            gr.update(visible=True),
            delete_confirmation(store, run_ids, lang),
            "",
            list(run_ids),
        )

    def confirm_delete(run_ids, with_data, lang):
        """Step 2: delete the runs the question named (as the signed-in user)."""
        text = delete_runs(store, run_ids, bool(with_data), lang)
        return text, gr.update(visible=False), []

    ctx.fn.update(
        runs_resume_state=resume_state,
        runs_resume=resume_selected,
        runs_ask_delete=ask_delete,
        runs_delete=confirm_delete,
    )

    def wire() -> None:
        lang = ctx.lang
        refresh.click(refresh_all, [lang, select], [table, sig, select])
        select.change(resume_state, [select, lang], resume, show_progress="hidden")
        select.change(share_state, select, share, show_progress="hidden")
        share.input(share_selected, [select, share, lang], action_msg).then(
            refresh_all, [lang, select], [table, sig, select], show_progress="hidden"
        )
        ctx.on_load.append((refresh_all, [lang, select], [table, sig, select]))
        resume.click(
            resume_selected,
            [select, lang],
            [
                action_msg,
                ctx.c["train_message"],
                resume,
                ctx.tabs,
                ctx.run_id,
                ctx.c["train_timer"],
            ],
        ).then(refresh_all, [lang, select], [table, sig, select], show_progress="hidden")
        delete.click(ask_delete, [select, lang], [confirm, confirm_text, action_msg, pending])
        delete_no.click(
            lambda: (gr.update(visible=False), "", []), None, [confirm, action_msg, pending]
        )
        delete_yes.click(
            confirm_delete, [pending, delete_data, lang], [action_msg, confirm, pending]
        ).then(refresh_all, [lang, select], [table, sig, select]).then(
            resume_state, [select, lang], resume, show_progress="hidden"
        )
        ctx.on_lang.append((resume_state, [select, lang], resume))
        timer.tick(tick, [lang, select, sig], [table, sig, select], show_progress="hidden")
        ctx.c["runs_tab"].select(
            refresh_all, [lang, select], [table, sig, select], show_progress="hidden"
        )
        select.change(on_select, [select, lang], [curves, comparison, message])
        open_eval.click(open_in_eval, [select, lang], [ctx.tabs, ctx.c["eval_run"], message])
        form = ctx.field_components()
        adapt_form = ctx.c["adapt_form"]
        load_fn = ctx.fn["load_run_config"]
        load_adapt = ctx.fn["adapt_load_run_config"]

        def load_into_train(run_ids, lang_value):
            """A fine-tuning run's settings into the Train tab, an adaptation run's into the
            Adapt tab (each tab's form is a view of its own configuration class)."""
            skip_train, skip_adapt = [gr.skip()] * len(form), [gr.skip()] * len(adapt_form)
            if not run_ids:
                return (
                    *skip_train,
                    *skip_adapt,
                    box("warning", t("runs.pick_one", lang_value)),
                    gr.skip(),
                )
            try:
                pretrain = store.get(run_ids[0]).kind == "pretrain"
            except KeyError as e:
                return (*skip_train, *skip_adapt, box("error", error_message(e)), gr.skip())
            if pretrain:
                *values, msg = load_adapt(run_ids[0], lang_value)
                return (*skip_train, *values, msg, gr.Tabs(selected="adapt"))
            *values, msg = load_fn(run_ids[0], lang_value)
            return (*values, *skip_adapt, msg, gr.Tabs(selected="train"))

        load_train.click(
            load_into_train, [select, lang], [*form, *adapt_form, message, ctx.tabs]
        ).then(ctx.fn["inspect_data"], ctx.c["data_inputs"], ctx.c["data_outputs"]).then(
            *ctx.c["train_data_line"]
        ).then(*ctx.c["adapt_data_line"])
        ctx.on_lang.append((refresh_all, [lang, select], [table, sig, select]))
        ctx.on_lang.append((on_select, [select, lang], [curves, comparison, message]))

    ctx.deferred.append(wire)
