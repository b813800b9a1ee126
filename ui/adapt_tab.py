"""Adapt tab: domain-adaptive (continued) pre-training of a backbone before fine-tuning.

The form is generated from engine.config.PretrainConfig (ui/form.py, ``PRETRAIN``); the domain
report calls engine.adaptive.domain_report; Start submits the PretrainConfig to the shared job
queue and a timer reads the run folder (status, events.jsonl, report.json, metrics.json), so a
page reload re-attaches to the latest adaptation run. A finished run's adapted backbone
("run:/abs/folder") is offered in the Train tab's backbone list.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import gradio as gr

from engine.config import PretrainConfig, config_fields
from engine.errors import human_error
from engine.jobs import JobManager
from engine.runs import Run, RunStore, read_json

from ui import charts
from ui.common import ENGINE_ERRORS, LIVE_STATUSES, Context, box, error_message, status_text
from ui.form import PRETRAIN, config_to_form, field_widget, form_fields, form_to_config, values_from
from ui.i18n import T, t
from ui.train_tab import (
    backbone_choices,
    backbone_text,
    last,
    pick_run_to_show,
    progress_html,
    queue_position,
)

# Fields with their own widget or place (the others come from field_widget in metadata order).
STATE_FIELDS = {"data"}  # set by the upload or the "use my labelled set" button
COLUMN_FIELDS = {"text_column", "label_column"}  # dropdowns of the file's columns
GROUP_ORDER = ("data", "model", "training")
TABLE_SUFFIXES = [".txt", ".csv", ".tsv", ".jsonl", ".json", ".parquet", ".xlsx"]
LOG_LINES = 8
_DEFAULTS = PretrainConfig()


def field_names() -> list[str]:
    """The form's fields, in PretrainConfig order (the positional inputs of the callbacks)."""
    return [f.name for f in form_fields(PretrainConfig)]


def _field(name: str):
    return PretrainConfig.__dataclass_fields__[name]


def _ppl(value) -> str:
    return (
        f"{value:.2f}"
        if isinstance(value, (int, float)) and value < 100
        else (f"{value:.1f}" if isinstance(value, (int, float)) else "–")
    )


def _kind(kind: str | None, lang: str) -> str:
    return t(f"adapt.kind.{kind or 'perplexity'}", lang)


# ---- domain text -----------------------------------------------------------------------------


def table_columns(path: str | None) -> list[str]:
    """The columns of a table ([] for a .txt file or an unreadable one)."""
    from engine.data import load_table

    if not path or Path(path).suffix.lower() == ".txt":
        return []
    try:
        return [str(c) for c in load_table(path, max_rows=50, min_columns=1).columns]
    except ENGINE_ERRORS:
        return []


def data_line(
    path: str | None,
    text_column: str | None = "",
    source: str | None = "text",
    label_column: str | None = "",
    seed=None,
    lang: str = "en",
) -> str:
    """What the domain text is (documents, words, column, which rows), or why it cannot be
    used: read with the engine's own loader, so a wrong column shows up before Start."""
    from engine.adaptive import load_domain_texts

    if not path:
        return box("info", t("adapt.data_none", lang))
    try:
        cfg = PretrainConfig(
            data=path,
            text_column=text_column or "",
            source=source or "text",
            label_column=label_column or "",
            seed=int(seed) if seed not in (None, "") else _DEFAULTS.seed,
        )
        texts, info = load_domain_texts(cfg)
    except ENGINE_ERRORS as e:
        return box("error", error_message(e), Path(path).name)
    parts = [
        t(
            "adapt.data_line",
            lang,
            name=html.escape(Path(path).name),
            documents=f"{info.get('documents', len(texts)):,}",
            words=f"{info.get('words', 0):,}",
        )
    ]
    if info.get("text_column"):
        parts.append(t("adapt.data_column", lang, column=html.escape(info["text_column"])))
    if info.get("mode") == "labelled-train":
        parts.append(t("adapt.data_labelled", lang, held=info.get("held_out_rows", "?")))
    out = _md_inline(" · ".join(parts))
    if info.get("warnings"):
        out += box("warning", info["warnings"])
    return f'<div class="adapt-data-line">{out}</div>'


def _md_inline(text: str) -> str:
    """The few inline marks the data line uses (**bold**, `code`) as HTML."""
    import re

    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def labelled_source(
    data_path: str | None,
    text_column: str | None,
    label_column: str | None,
    seed=None,
    lang: str = "en",
    task: str | None = "classification",
) -> tuple:
    """'Use the texts of my labelled training set': the Data tab's table, its columns, and
    source="labelled-train" (only its training rows). Returns the updates of
    (data, text column, source, label column, data line).

    The engine splits the table as a text-classification run does: NER token lists are not
    text (refused with a reason), and another task's own split may differ (said)."""
    task = task or "classification"
    if not data_path:
        return (
            gr.skip(),
            gr.skip(),
            gr.skip(),
            gr.skip(),
            box("warning", t("adapt.need_labelled", lang)),
        )
    if task == "ner":
        return (
            gr.skip(),
            gr.skip(),
            gr.skip(),
            gr.skip(),
            box("warning", t("adapt.labelled_ner", lang)),
        )
    columns = table_columns(data_path)
    line = data_line(data_path, text_column, "labelled-train", label_column, seed, lang)
    if task != "classification":
        line += box("warning", t("adapt.labelled_task", lang, task=t(f"task.{task}", lang)))
    return (
        data_path,
        gr.update(choices=columns, value=text_column if text_column in columns else None),
        "labelled-train",
        gr.update(choices=columns, value=label_column if label_column in columns else None),
        line,
    )


def uploaded_source(path: str, seed=None, lang: str = "en") -> tuple:
    """A new domain-text file: every document of it (source="text"), the text column left to
    inference. Same outputs as ``labelled_source``."""
    columns = table_columns(path)
    return (
        path,
        gr.update(choices=columns, value=None),
        "text",
        gr.update(choices=columns, value=None),
        data_line(path, "", "text", "", seed, lang),
    )


# ---- the domain report -----------------------------------------------------------------------


def _head_text(report: dict, lang: str) -> str:
    head = report.get("head") or {}
    if lang == "en" and head.get("text"):
        return head["text"]
    if report.get("objective") == "clm":
        return t("adapt.head.clm", lang)
    if head.get("fresh_weights"):
        if head.get("steps"):
            return t(
                "adapt.head.fitted",
                lang,
                steps=head["steps"],
                start=head.get("loss_start", "?"),
                end=head.get("loss_end", "?"),
            )
        return t("adapt.head.random", lang)
    return t("adapt.head.own", lang)


def verdict_html(verdict: dict, lang: str) -> str:
    level = verdict.get("level", "moderate")
    css = {"close": "ok", "moderate": "info", "far": "warning"}.get(level, "info")
    headline = t(f"adapt.verdict.{level}", lang)
    # English: the engine's sentence (it names the reasons); Chinese: the translated advice
    text = verdict.get("text", "") if lang == "en" else t(f"adapt.advice.{level}", lang)
    if lang == "en" and text.startswith(headline):
        text = text[len(headline) :].lstrip(":. ")
    return (
        f'<div class="msg msg-{css} adapt-verdict"><strong>{html.escape(headline)}.'
        f"</strong> {html.escape(text)}</div>"
    )


def _table(header: list[str], rows: list[list[str]], css: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def report_html(report: dict | None, lang: str = "en") -> str:
    """The domain report in plain words: verdict, fragmentation, unknown tokens, the base
    perplexity and its kind, what was done about the LM head, the most fragmented words."""
    if not report:
        return box("info", t("adapt.report_none", lang))
    vocab = report.get("vocabulary") or {}
    data = report.get("data") or {}
    docs = report.get("documents") or {}
    kind = _kind(report.get("perplexity_kind"), lang)
    if vocab.get("byte_level") and not vocab.get("unknown_tokens"):
        unknown = t("adapt.r.byte_level", lang)
    else:
        unknown = (
            f"{float(vocab.get('unknown_token_rate') or 0):.2%} "
            f"({vocab.get('unknown_tokens', 0):,})"
        )
    objective = report.get("objective", "")
    rows = [
        [
            t("adapt.r.subwords", lang),
            f"<strong>{float(vocab.get('subwords_per_word') or 0):.2f}</strong>",
        ],
        [t("adapt.r.unknown", lang), html.escape(unknown)],
        [
            t("adapt.r.perplexity", lang, kind=kind),
            t(
                "adapt.r.perplexity_value",
                lang,
                value=f"<strong>{_ppl(report.get('perplexity'))}</strong>",
                tokens=report.get("perplexity_tokens", "?"),
            ),
        ],
        *(
            [
                [
                    t("adapt.r.control", lang),
                    t("adapt.r.control_value", lang, value=_ppl(report["control_perplexity"])),
                ]
            ]
            if isinstance(report.get("control_perplexity"), (int, float))
            else []
        ),
        [
            t("adapt.r.documents", lang),
            t(
                "adapt.r.documents_value",
                lang,
                train=docs.get("train", "?"),
                held=docs.get("held_out", "?"),
            ),
        ],
        [
            t("adapt.r.objective", lang),
            html.escape(
                t(f"adapt.objective.{objective}", lang)
                if objective in ("mlm", "clm")
                else objective
            ),
        ],
        [t("adapt.r.head", lang), html.escape(_head_text(report, lang))],
    ]
    rows = [[html.escape(a), b] for a, b in rows]
    words = vocab.get("most_fragmented") or []
    frag = (
        _table(
            [t("adapt.frag.word", lang), t("adapt.frag.count", lang), t("adapt.frag.pieces", lang)],
            [
                [
                    f"<strong>{html.escape(str(w.get('word', '')))}</strong>",
                    str(w.get("count", "")),
                    " ".join(f"<code>{html.escape(str(p))}</code>" for p in w.get("pieces", [])),
                ]
                for w in words
            ],
            "adapt-table adapt-fragments",
        )
        if words
        else ""
    )
    title = t(
        "adapt.report_title",
        lang,
        backbone=report.get("backbone", "?"),
        name=data.get("source", "?"),
    )
    out = (
        f'<div class="adapt-report-body"><h4>{html.escape(title)}</h4>'
        + verdict_html(report.get("verdict") or {}, lang)
        + _table(
            [t("adapt.r.measure", lang), t("adapt.r.value", lang)],
            rows,
            "adapt-table adapt-measures",
        )
    )
    if frag:
        out += f"<h4>{html.escape(t('adapt.frag.title', lang))}</h4>" + frag
    if data.get("warnings"):
        out += box("warning", data["warnings"])
    return out + "</div>"


def run_report(
    values: dict, root: str | Path, lang: str = "en", say=None, check=None
) -> tuple[str, dict | None]:
    """(panel HTML, report) for the form's values; a bad input is a message, never a raise.
    ``check``: called with the configuration first (the studio's access check)."""
    from engine.adaptive import domain_report

    if not values.get("data"):
        return box("error", t("adapt.need_data", lang), t("adapt.report_failed", lang)), None
    try:
        cfg = form_to_config(values, PretrainConfig)
        cfg.output_dir = str(root)
        if check is not None:
            check(cfg)
        report = domain_report(cfg, say=say)
    except ENGINE_ERRORS as e:
        return box("error", error_message(e, lang), t("adapt.report_failed", lang)), None
    except Exception as e:  # noqa: BLE001 - the panel says what went wrong, the UI lives on
        return box("error", human_error(e), t("adapt.report_failed", lang)), None
    return report_html(report, lang), report


# ---- a run -----------------------------------------------------------------------------------


def status_html(
    run: Run | None, events: list[dict], status: str, lang: str, position: int | None = None
) -> str:
    """Name, status, backbone · objective · strategy, then the progress bar (step / max, ETA)
    and, for a failed run, the engine's reason."""
    if run is None:
        return box("info", t("adapt.no_run", lang))
    cfg = run.config_dict()
    name = cfg.get("run_name") or run.id
    objective = (last(events, "start") or {}).get("objective") or cfg.get("objective", "")
    what = [cfg.get("backbone", "?")]
    if objective in ("mlm", "clm"):
        what.append(t(f"adapt.objective.{objective}", lang))
    strategy = cfg.get("strategy", "")
    if strategy:
        what.append(t(f"pretrain.strategy.choice.{strategy}", lang))
    out = (
        f'<div class="run-status status-{html.escape(status)}"><span class="dot"></span>'
        f"<strong>{html.escape(name)}</strong> · {html.escape(status_text(status, lang))}"
        f' <span class="muted">({html.escape(" · ".join(what))})</span></div>'
    )
    out += progress_html(run, events, status, lang, position)
    if status == "failed":
        end = last(events, "end") or {}
        error = run.status_info().get("error") or end.get("error") or "?"
        out += box("error", error, t("train.failed", lang))
    elif status == "interrupted":
        out += box("warning", t("train.interrupted", lang))
    return out


def result_html(run: Run | None, lang: str = "en") -> str:
    """A finished run: perplexity before -> after (change) with its kind, how training ended,
    the tracked curve's numbers, the verdict; "" while there is no result."""
    if run is None:
        return ""
    m = run.metrics()
    if m.get("kind") != "pretrain" or m.get("perplexity_after") is None:
        return ""
    before, after = m.get("perplexity_before"), m.get("perplexity_after")
    drop = m.get("perplexity_drop_pct")
    if not isinstance(drop, (int, float)) and isinstance(before, (int, float)) and before:
        drop = 100 * (before - after) / before
    change = (
        t("adapt.result.lower", lang, pct=f"{drop:.1f}")
        if isinstance(drop, (int, float)) and drop >= 0
        else t("adapt.result.higher", lang, pct=f"{-(drop or 0):.1f}")
    )
    head = t(
        "adapt.result.ppl",
        lang,
        kind=_kind(m.get("perplexity_kind"), lang),
        before=_ppl(before),
        after=_ppl(after),
        change=change,
    )
    css = "ok" if isinstance(drop, (int, float)) and drop >= 0 else "warning"
    step, total = m.get("global_step", "?"), m.get("max_steps", "?")
    best = m.get("best_step") or step
    if m.get("status") == "stopped" or m.get("stop_reason"):
        ended = t(
            "adapt.result.stopped",
            lang,
            step=step,
            total=total,
            best=best,
            reason=m.get("stop_reason") or status_text("stopped", lang),
        )
    elif m.get("early_stopped"):
        ended = t("adapt.result.early", lang, step=step, total=total, best=best)
    else:
        ended = t("adapt.result.full", lang, total=total, best=best)
    lines = [ended]
    c_before, c_after = m.get("control_perplexity_before"), m.get("control_perplexity_after")
    if isinstance(c_before, (int, float)) and isinstance(c_after, (int, float)) and c_before:
        c_drop = 100 * (c_before - c_after) / c_before
        lines.append(
            t(
                "adapt.result.control",
                lang,
                before=_ppl(c_before),
                after=_ppl(c_after),
                change=f"{-c_drop:+.1f}%".replace("-", "−"),
            )
        )
        if isinstance(drop, (int, float)) and drop > 0:
            # the engine's rule (engine/adaptive.py result_summary): a gain the everyday-English
            # control shares for the most part is the objective being learnt, not the domain
            lines.append(
                t(
                    "adapt.result.shared"
                    if c_drop > 0 and c_drop >= 0.5 * drop
                    else "adapt.result.specific",
                    lang,
                )
            )
    tracked = m.get("tracked_perplexity") or {}
    if tracked.get("before") is not None and tracked.get("best") is not None:
        objective = m.get("objective", "")
        kind = (
            tracked.get("kind", "")
            if lang == "en" or objective not in ("mlm", "clm")
            else t(f"adapt.tracked.{objective}", lang)
        )
        lines.append(
            t(
                "adapt.result.tracked",
                lang,
                kind=kind,
                before=_ppl(tracked["before"]),
                best=_ppl(tracked["best"]),
            )
        )
    if m.get("adapted_backbone"):
        lines.append(t("adapt.result.saved", lang))
    out = (
        f'<div class="msg msg-{css} adapt-result-head"><strong>{html.escape(head)}</strong>'
        f'</div><div class="hint">' + "<br>".join(html.escape(x) for x in lines) + "</div>"
    )
    if m.get("verdict"):
        out += (
            f'<div class="hint">{html.escape(t("adapt.result.verdict", lang))}</div>'
            + verdict_html(m["verdict"], lang)
        )
    return out


def log_html(events: list[dict], lang: str, limit: int = LOG_LINES) -> str:
    lines = []
    for e in events:
        kind = e.get("event")
        level = "info"
        if kind == "message":
            text, level = str(e.get("text", "")), e.get("level", "info")
        elif kind == "start":
            text = t(
                "log.start_adapt",
                lang,
                device=e.get("device", "?"),
                rows=e.get("train_rows", "?"),
                steps=e.get("max_steps", "?"),
            )
        elif kind == "eval" and e.get("eval_perplexity") is not None:
            text = t(
                "log.eval_adapt", lang, step=e.get("step", "?"), ppl=_ppl(e.get("eval_perplexity"))
            )
        elif kind == "end":
            text = t("log.end", lang, status=status_text(e.get("status", ""), lang))
            if e.get("error"):
                text += f" — {e['error']}"
                level = "error"
        else:
            continue
        stamp = time.strftime("%H:%M:%S", time.localtime(e.get("time", 0)))
        lines.append(
            f'<div class="log-line log-{html.escape(str(level))}"><span class="log-time">'
            f"{stamp}</span> {html.escape(text)}</div>"
        )
    return '<div class="run-log">' + "".join(lines[-limit:]) + "</div>" if lines else ""


def adapted_value(run: Run | None) -> str:
    """The run's adapted backbone ("run:/abs/folder"), "" when it has none (yet)."""
    if run is None or run.kind != "pretrain":
        return ""
    value = run.metrics().get("adapted_backbone") or ""
    if not value and (run.model_dir / "adapted.json").exists():
        value = f"run:{run.path.resolve()}"
    return value if (run.model_dir / "adapted.json").exists() else ""


def _get(store: RunStore, run_id: str | None) -> Run | None:
    if not run_id:
        return None
    try:
        return store.get(run_id)
    except KeyError:
        return None


def render(
    store: RunStore, jobs: JobManager, run_id: str | None, lang: str = "en", message: str = ""
) -> tuple:
    """(status, chart, result, log, use-in-train button) for the adaptation run ``run_id``."""
    run = _get(store, run_id)
    if run is None:
        return (
            message + status_html(None, [], "", lang),
            charts.empty_figure(t("chart.adapt_waiting", lang)),
            "",
            "",
            gr.update(visible=False),
        )
    events = run.events()
    status = run.status
    return (
        message + status_html(run, events, status, lang, queue_position(jobs, run.id)),
        charts.pretrain_figure(events, lang),
        result_html(run, lang),
        log_html(events, lang),
        gr.update(visible=bool(adapted_value(run))),
    )


def run_report_of(store: RunStore, run_id: str | None) -> dict | None:
    run = _get(store, run_id)
    return read_json(run.path / "report.json") if run is not None else None


def signature(store: RunStore, run_id: str | None) -> str:
    """Changes whenever the run folder has something new: events, status, the report."""
    run = _get(store, run_id)
    if run is None:
        return ""
    path = run.path / "events.jsonl"
    size = path.stat().st_size if path.exists() else 0
    return f"{run_id}:{size}:{int((run.path / 'report.json').exists())}:{run.status}"


def form_updates(config: PretrainConfig, names: list[str]) -> list:
    """One output value per form field (``names`` order) for a loaded configuration."""
    values = config_to_form(config)
    out = []
    for name in names:
        value = values.get(name)
        if name in COLUMN_FIELDS:
            columns = table_columns(values.get("data"))
            out.append(
                gr.update(choices=columns or ([value] if value else []), value=value or None)
            )
        else:
            out.append(value)
    return out


# ---- the tab ---------------------------------------------------------------------------------


def build(ctx: Context) -> None:
    tr, store, jobs = ctx.tr, ctx.store, ctx.jobs
    names = field_names()
    comps: dict[str, object] = {}
    tr.make(gr.Markdown, value=T("adapt.intro"), elem_classes=["tab-intro"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, elem_classes=["settings-col"]):
            upload = tr.make(
                gr.File,
                label=T("adapt.upload"),
                file_types=TABLE_SUFFIXES,
                type="filepath",
                elem_id="adapt-upload",
                height=120,
            )
            with gr.Row(equal_height=False):
                use_labelled = tr.make(
                    gr.Button,
                    value=T("adapt.use_labelled"),
                    elem_id="adapt-use-labelled",
                    variant="secondary",
                    size="md",
                    scale=0,
                    min_width=300,
                )
                tr.make(gr.Markdown, value=T("adapt.use_labelled.hint"), elem_classes=["hint"])
            data_md = gr.HTML(data_line("", lang=tr.lang), elem_id="adapt-data", padding=False)
            comps["data"] = gr.State("")
            comps["text_column"] = field_widget(
                _field("text_column"), tr, PRETRAIN, choices=[], value=None, allow_custom_value=True
            )
            backbone = field_widget(
                _field("backbone"),
                tr,
                PRETRAIN,
                choices=backbone_choices(tr.lang, store),
                allow_custom_value=True,
            )
            tr.register(backbone, choices=lambda lang: backbone_choices(lang, store))
            comps["backbone"] = backbone
            backbone_md = gr.Markdown(
                backbone_text(_DEFAULTS.backbone, tr.lang),
                elem_id="adapt-backbone-info",
                elem_classes=["hint"],
            )

            basic = [
                f
                for g in GROUP_ORDER
                for f in config_fields(g, advanced=False, cls=PretrainConfig)
                if f.name in names and f.name not in comps and f.name not in STATE_FIELDS
            ]
            choice = [f for f in basic if "choices" in f.metadata]
            numeric = [f for f in basic if f.type in ("int", "float", int, float)]
            with gr.Row():
                for f in choice:
                    comps[f.name] = field_widget(f, tr, PRETRAIN, min_width=160)
            with gr.Row():
                for f in numeric:
                    comps[f.name] = field_widget(f, tr, PRETRAIN, min_width=140)
            for f in basic:
                if f.name not in comps:
                    comps[f.name] = field_widget(f, tr, PRETRAIN)

            with tr.make(
                gr.Accordion, label=T("train.advanced"), open=False, elem_id="adapt-advanced"
            ):
                for group in GROUP_ORDER:
                    adv = [
                        f
                        for f in config_fields(group, advanced=True, cls=PretrainConfig)
                        if f.name in names and f.name not in comps
                    ]
                    if not adv:
                        continue
                    tr.make(
                        gr.Markdown, value=T(f"adapt.group.{group}"), elem_classes=["group-title"]
                    )
                    for i in range(0, len(adv), 2):
                        with gr.Row():
                            for f in adv[i : i + 2]:
                                extra = (
                                    {"choices": [], "value": None, "allow_custom_value": True}
                                    if f.name in COLUMN_FIELDS
                                    else {}
                                )
                                comps[f.name] = field_widget(
                                    f, tr, PRETRAIN, min_width=180, **extra
                                )
            report_btn = tr.make(
                gr.Button,
                value=T("adapt.report_btn"),
                elem_id="adapt-report-btn",
                variant="secondary",
            )
            report = gr.HTML(report_html(None, tr.lang), elem_id="adapt-report", padding=False)

        with gr.Column(scale=6, elem_classes=["live-col"]):
            with gr.Row():
                start = tr.make(
                    gr.Button,
                    value=T("adapt.start"),
                    variant="primary",
                    elem_id="adapt-start",
                    scale=3,
                )
                stop = tr.make(
                    gr.Button,
                    value=T("adapt.stop"),
                    variant="stop",
                    elem_id="adapt-stop",
                    scale=1,
                    min_width=100,
                )
            status = gr.HTML(
                status_html(None, [], "", tr.lang), elem_id="adapt-status", padding=False
            )
            result = gr.HTML("", elem_id="adapt-result", padding=False)
            use_btn = tr.make(
                gr.Button,
                value=T("adapt.use_in_train"),
                variant="primary",
                elem_id="adapt-use-in-train",
                visible=False,
            )
            chart = gr.Plot(
                charts.empty_figure(t("chart.adapt_waiting", tr.lang)),
                show_label=False,
                elem_id="adapt-chart",
            )
            log = gr.HTML("", elem_id="adapt-log", padding=False)

    missing = [n for n in names if n not in comps]
    assert not missing, f"Adapt tab: no widget for {missing}"
    form = [comps[n] for n in names]
    run_id = gr.State(None)
    message = gr.State("")
    report_state = gr.State(None)
    sig = gr.State("")
    timer = gr.Timer(1.5, active=False)
    panel = [status, chart, result, log, use_btn]
    ctx.c.update(adapt_fields=comps, adapt_run_id=run_id, adapt_timer=timer, adapt_panel=panel)

    # ---- callbacks (closures over ctx) ---------------------------------------------------
    def show(rid, lang, msg):
        return (*render(store, jobs, rid, lang, msg), signature(store, rid))

    def tick(rid, lang, msg, last_sig):
        new_sig = signature(store, rid)
        live = bool(rid) and (jobs.is_live(rid) or new_sig.rsplit(":", 1)[-1] in LIVE_STATUSES)
        timer_update = gr.Timer(active=live)
        if new_sig == last_sig:
            return (
                *[gr.skip()] * len(panel),
                gr.skip(),
                gr.skip(),
                new_sig,
                timer_update,
                gr.skip(),
            )
        # the run's own report replaces the panel once, when report.json first appears
        fresh_report = new_sig.split(":")[-2:-1] == ["1"] and last_sig.split(":")[-2:-1] != ["1"]
        rep = run_report_of(store, rid) if fresh_report else None
        final = new_sig.rsplit(":", 1)[-1] not in LIVE_STATUSES
        return (
            *render(store, jobs, rid, lang, msg),
            report_html(rep, lang) if rep else gr.skip(),
            rep if rep else gr.skip(),
            new_sig,
            timer_update,
            gr.update(choices=backbone_choices(lang, store)) if final else gr.skip(),
        )

    def attach(lang):
        rid = pick_run_to_show(store, jobs, kind="pretrain")
        run = _get(store, rid)
        live = run is not None and run.status in LIVE_STATUSES
        rep = run_report_of(store, rid)
        return (
            rid,
            gr.Timer(active=live),
            "",
            *render(store, jobs, rid, lang),
            report_html(rep, lang),
            rep,
            signature(store, rid),
        )

    def start_run(lang, request: gr.Request, *args):
        vals = values_from(names, args)
        if not vals.get("data"):
            return (
                box("error", t("adapt.need_data", lang), t("train.cannot_start", lang)),
                gr.skip(),
                gr.skip(),
            )
        try:
            from engine.adaptive import preflight

            cfg = form_to_config(vals, PretrainConfig)
            cfg.output_dir = str(store.root)
            store.check_config(cfg)  # the text and the backbone are the user's to use
            preflight(cfg)  # data, backbone and objective checked before a run folder exists
            run = jobs.submit(cfg, owner=ctx.user(request) or "")
        except ENGINE_ERRORS as e:
            return (
                box("error", error_message(e, lang), t("train.cannot_start", lang)),
                gr.skip(),
                gr.skip(),
            )
        position = queue_position(jobs, run.id) if jobs.active and jobs.active != run.id else None
        msg = (
            t("adapt.queued", lang, id=run.id, position=position)
            if position
            else t("adapt.started", lang, id=run.id)
        )
        return box("ok", msg), run.id, gr.Timer(active=True)

    def stop_run(rid, lang, request: gr.Request = None):
        if not rid:
            return box("warning", t("train.nothing_to_stop", lang))
        try:
            store.get(rid)  # a run the user may not see does not exist for them
            stopped = jobs.stop(rid, ctx.viewer(request))
        except PermissionError as e:
            return box("warning", error_message(e, lang), t("train.not_yours", lang))
        except KeyError as e:
            return box("error", error_message(e, lang))
        return (
            box("ok", t("train.stopping", lang))
            if stopped
            else box("warning", t("train.not_active", lang))
        )

    def report_clicked(lang, progress=gr.Progress(), *args):
        progress(None, desc=t("adapt.report_progress", lang))
        text, rep = run_report(
            values_from(names, args),
            store.root,
            lang,
            say=lambda s: progress(None, desc=s),
            check=store.check_config,
        )
        return text, rep if rep is not None else gr.skip()

    def use_in_train(rid, lang):
        value = adapted_value(_get(store, rid))
        if not value:
            return gr.skip(), gr.skip(), box("warning", t("adapt.nothing_to_use", lang))
        return (
            gr.update(choices=backbone_choices(lang, store), value=value),
            gr.Tabs(selected="train"),
            box("ok", t("adapt.using", lang, name=rid)),
        )

    def from_upload(path, seed, lang):
        if not path:
            return (
                "",
                gr.update(choices=[], value=None),
                "text",
                gr.update(choices=[], value=None),
                data_line("", lang=lang),
            )
        try:
            kept = ctx.keep_upload(path)
        except ENGINE_ERRORS as e:
            return (
                gr.skip(),
                gr.skip(),
                gr.skip(),
                gr.skip(),
                box("error", error_message(e, lang)),
            )
        return uploaded_source(kept, seed, lang)

    def load_run_config(rid, lang):
        """A past adaptation run's settings into this form (the Runs tab's "Reuse")."""
        try:
            cfg = _get(store, rid).config()
        except (AttributeError, *ENGINE_ERRORS) as e:
            return (*[gr.skip()] * len(names), box("error", error_message(e, lang)))
        cfg, dropped = store.sanitized(cfg)  # never another user's text file or model
        message = box("ok", t("adapt.loaded", lang, id=rid))
        if dropped:
            message += box("warning", t("access.dropped", lang, fields=", ".join(dropped)))
        return (*form_updates(cfg, names), message)

    ctx.fn.update(
        adapt_attach=attach,
        adapt_start=start_run,
        adapt_stop=stop_run,
        adapt_tick=tick,
        adapt_report=report_clicked,
        adapt_use=use_in_train,
        adapt_load_run_config=load_run_config,
    )

    def wire() -> None:
        lang = ctx.lang
        train_backbone = ctx.fields["backbone"]
        seed = comps["seed"]
        source_outputs = [
            comps["data"],
            comps["text_column"],
            comps["source"],
            comps["label_column"],
            data_md,
        ]
        redraw = ([run_id, lang, message], [*panel, sig])

        def forget_message():  # a "cannot start" about the previous text is stale now
            return ""

        upload.upload(from_upload, [upload, seed, lang], source_outputs).then(
            forget_message, None, message
        ).then(show, *redraw, show_progress="hidden")
        upload.clear(from_upload, [gr.State(""), seed, lang], source_outputs)
        use_labelled.click(
            labelled_source,
            [
                ctx.data_path,
                ctx.fields["text_column"],
                ctx.fields["label_column"],
                seed,
                lang,
                ctx.fields["task"],
            ],
            source_outputs,
        ).then(forget_message, None, message).then(show, *redraw, show_progress="hidden")
        line_args = (
            [
                comps["data"],
                comps["text_column"],
                comps["source"],
                comps["label_column"],
                seed,
                lang,
            ],
            data_md,
        )
        for name in ("text_column", "source", "label_column"):
            comps[name].input(
                data_line, *line_args, show_progress="hidden", trigger_mode="always_last"
            )
        ctx.on_lang.append((data_line, *line_args))
        ctx.c["adapt_data_line"] = (data_line, *line_args)
        backbone.change(backbone_text, [backbone, lang], backbone_md, show_progress="hidden")

        def refresh_backbones(lang_value):  # runs finished since the page was built
            return gr.update(choices=backbone_choices(lang_value, store))

        ctx.c["adapt_tab"].select(refresh_backbones, lang, backbone, show_progress="hidden")
        ctx.on_load.append((refresh_backbones, lang, backbone))
        ctx.on_lang.append((backbone_text, [backbone, lang], backbone_md))
        report_btn.click(
            report_clicked,
            [lang, *form],
            [report, report_state],
            concurrency_limit=1,
            concurrency_id="adapt-report",
        )
        ctx.on_lang.append((report_html, [report_state, lang], report))
        start.click(start_run, [lang, *form], [message, run_id, timer]).then(
            show, [run_id, lang, message], [*panel, sig], show_progress="hidden"
        )
        stop.click(stop_run, [run_id, lang], message).then(
            show, [run_id, lang, message], [*panel, sig], show_progress="hidden"
        )
        timer.tick(
            tick,
            [run_id, lang, message, sig],
            [*panel, report, report_state, sig, timer, train_backbone],
            show_progress="hidden",
        )
        use_btn.click(use_in_train, [run_id, lang], [train_backbone, ctx.tabs, message])
        ctx.on_lang.append((show, [run_id, lang, message], [*panel, sig]))
        ctx.on_load.append(
            (attach, lang, [run_id, timer, message, *panel, report, report_state, sig])
        )
        ctx.c["adapt_form"] = form

    ctx.deferred.append(wire)


__all__ = [
    "build",
    "data_line",
    "report_html",
    "result_html",
    "run_report",
    "render",
    "status_html",
    "labelled_source",
    "uploaded_source",
    "field_names",
]
