"""Export tab: turn a finished run into artefacts people can use, and show what each costs.

1. Export: a run, one or more formats (engine/export.py ``FORMATS``), each written and measured in
   turn against the run's own model on its test split.
2. The comparison table (one row for the run's model, one per artefact) and a plain-words
   verdict per artefact, rebuilt from ``export.list_exports`` (so a reload loses nothing).
3. One artefact: its model card, a zip download, a push to the Hugging Face Hub (the token is a
   password box, used once, never stored, cleared afterwards).
4. Batch prediction of an uploaded table with the run or one of its exports (a CSV in
   ``<run>/predictions/``, formula-escaped by the engine), a preview and the label counts.
5. Retraining on newly labelled rows from this run's model (``RunConfig.warm_start``) through the
   shared job queue, with its live status and the old-vs-new comparison when it is done.
6. The command that serves the run over HTTP and a curl example.

The callbacks are plain functions returning dicts keyed by output name (``RUN_OUTPUTS`` ...),
so the tests call them without a browser; ``build`` lays out the widgets and wires the events.
Everything is read from the run folder; run ids and format names from the page are looked up
in the run store, never used as paths.
"""

from __future__ import annotations

import html
import json
import re
import shlex
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr
import pandas as pd

from engine import export as E
from engine.errors import human_error
from engine.jobs import JobManager
from engine.runs import Run, RunStore, safe_id

from ui.common import (
    ENGINE_ERRORS,
    LIVE_STATUSES,
    Context,
    box,
    error_message,
    fmt_score,
    run_label,
)
from ui.i18n import T, t
from ui.train_tab import progress_html, queue_position, run_signature
from ui.train_tab import status_html as run_status_html

FORMATS = E.FORMATS
SERVE_ARTEFACTS = ("pytorch", "merged", "int8", "onnx")  # engine.serve.ARTEFACTS
DEFAULT_FORMATS = ["int8"]
RUN_SOURCE = "run"  # batch prediction with the run's own model
KEY_PLACEHOLDER = "choose-a-long-random-secret"
COLUMNS = [
    "format",
    "size",
    "folder",
    "batched",
    "single",
    "accuracy",
    "macro_f1",
    "agreement",
    "speedup",
]
RETRAIN_COLUMNS = ["split", "n", "old_acc", "new_acc", "change", "old_f1", "new_f1"]
FORGETTING_POINTS = 2.0  # an old-split drop larger than this is called forgetting
SAME_SPEED = 1.15  # CPU timings of a small test split vary by ~10%: closer is "about as fast"
PREVIEW_ROWS = 10
POLL_SECONDS = 1.5

RUN_OUTPUTS = [
    "note",
    "table",
    "verdicts",
    "artefact",
    "source",
    "serve_artefact",
    "serve_cmd",
    "serve_curl",
]
EXPORT_OUTPUTS = ["status", "log", *RUN_OUTPUTS]
ARTEFACT_OUTPUTS = ["card", "zip", "artefact_message"]
ZIP_OUTPUTS = ["zip", "artefact_message"]
PUSH_OUTPUTS = ["artefact_message", "token"]
BATCH_OUTPUTS = ["batch_message", "batch_file", "batch_preview", "batch_counts", "batch_state"]
RETRAIN_START_OUTPUTS = ["retrain_message", "retrain_id", "timer"]
RETRAIN_OUTPUTS = ["retrain_status", "retrain_table", "retrain_summary", "retrain_open"]


def _as_outputs(result: dict, names: list[str]) -> tuple:
    return tuple(result.get(n, gr.skip()) for n in names)


# ---- runs ---------------------------------------------------------------------------------------


def _get(store: RunStore, run_id: str | None) -> Run | None:
    if not run_id:
        return None
    try:
        return store.get(run_id)
    except KeyError:
        return None


def run_choices(store: RunStore, lang: str = "en") -> list[tuple[str, str]]:
    """(label, id) of the fine-tuning runs with a model, newest first (what the tab can use:
    text-classification runs export; every run labels files and serves)."""
    out = []
    for run in store.list():
        try:
            if run.kind == "train" and run.has_model:
                out.append((run_label(run.summary(), lang), run.id))
        except (OSError, ValueError, TypeError):  # a half-written run folder: listed next time
            continue
    return out


def is_classification(run: Run) -> bool:
    return (run.config_dict().get("task") or "classification") == "classification"


def export_problem(run: Run) -> str | None:
    """Why this run cannot be exported (the engine's own words), or None."""
    return E.check_exportable(run.path)


def default_run(store: RunStore, current: str | None = None) -> str | None:
    """The current pick when it is still listed, else the newest exportable run, else the
    newest run with a model."""
    runs = [r for r in store.list() if r.kind == "train" and r.has_model]
    ids = [r.id for r in runs]
    if current in ids:
        return current
    for run in runs:
        if is_classification(run) and export_problem(run) is None:
            return run.id
    return ids[0] if ids else None


def refresh_runs(store: RunStore, current: str | None = None, lang: str = "en"):
    """The run picker again (runs finished since the page was built), keeping the pick."""
    return gr.update(choices=run_choices(store, lang), value=default_run(store, current))


# ---- the comparison table ------------------------------------------------------------------------


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _mb(n: Any) -> str:
    if not _num(n) or n <= 0:
        return "–"
    mb = n / 1e6
    return f"{mb:.2f}" if mb < 10 else f"{mb:.1f}"


def _ms(v: Any) -> str:
    if not _num(v):
        return "–"
    return f"{v:.3f}" if v < 1 else (f"{v:.2f}" if v < 100 else f"{v:.0f}")


def _pct(v: Any) -> str:
    return f"{v * 100:.1f}" if _num(v) else "–"


def _times(v: Any) -> str:
    return f"{v:.2f}×" if _num(v) else "–"


def _mtime(summary: dict) -> float:
    try:
        return (Path(summary["path"]) / E.EXPORT_FILE).stat().st_mtime
    except (OSError, KeyError, TypeError):
        return 0.0


def exports_of(run: Run) -> list[dict]:
    """The run's exports (engine summaries), in FORMATS order."""
    try:
        found = E.list_exports(run.path)
    except (OSError, ValueError):
        return []
    order = {f: i for i, f in enumerate(FORMATS)}
    return sorted((s for s in found if s.get("format") in order), key=lambda s: order[s["format"]])


def original_figures(run: Run, exports: list[dict]) -> dict:
    """The run's own model: as measured at the latest export (its size counts the backbone an
    adapter needs), else the run's test scores without timings."""
    measured = [e for e in exports if e.get("original")]
    if measured:
        return dict(max(measured, key=_mtime)["original"])
    test = run.metrics().get("test") or {}
    try:
        size = E.original_size(run.path)
    except (OSError, ValueError, AttributeError):
        size = E.model_size(run.model_dir) if run.model_dir.is_dir() else None
    return {"accuracy": test.get("accuracy"), "macro_f1": test.get("macro_f1"), "size_bytes": size}


def table_headers(lang: str = "en") -> list[str]:
    return [t(f"export.col.{c}", lang) for c in COLUMNS]


def comparison_table(
    run: Run | None, exports: list[dict] | None = None, lang: str = "en"
) -> pd.DataFrame:
    """One row for the run's model, one per artefact (strings: "–" where not measured)."""
    if run is None:
        return pd.DataFrame(columns=table_headers(lang))
    exports = exports_of(run) if exports is None else exports
    orig = original_figures(run, exports)
    run_folder = None
    if run.model_dir.is_dir():  # what ships: the model folder (+ the base weights an adapter needs)
        run_folder = E.folder_size(run.model_dir)
        if _num(orig.get("size_bytes")):
            run_folder += max(0, orig["size_bytes"] - E.model_size(run.model_dir))
    rows = [
        [
            t("export.fmt.pytorch", lang),
            _mb(orig.get("size_bytes")),
            _mb(run_folder),
            _ms(orig.get("latency_ms_per_example")),
            _ms(orig.get("latency_ms_single")),
            fmt_score(orig.get("accuracy")),
            fmt_score(orig.get("macro_f1")),
            "100.0",
            "1.00×" if orig.get("latency_ms_per_example") else "–",
        ]
    ]
    for e in exports:
        cmp_ = e.get("comparison") or {}
        rows.append(
            [
                t(f"export.fmt.{e['format']}", lang),
                _mb(e.get("model_bytes")),
                _mb(e.get("size_bytes")),
                _ms(e.get("latency_ms_per_example")),
                _ms(e.get("latency_ms_single")),
                fmt_score(e.get("accuracy")),
                fmt_score(e.get("macro_f1")),
                _pct(cmp_.get("agreement")),
                _times(cmp_.get("speedup")),
            ]
        )
    return pd.DataFrame(rows, columns=table_headers(lang))


def verdict(
    summary: dict, backbone: str = "", lang: str = "en", base_size: float | None = None
) -> str:
    """One line, e.g. "int8: 2.9× faster, 0.3 points less accurate, 45% smaller, agrees with
    the run's model on 98% of the test texts". Sizes are compared with ``base_size`` (the
    table's row for the run's model) when given, else with the export's own measurement."""
    cmp_ = summary.get("comparison") or {}
    orig = summary.get("original") or {}
    parts = []
    speed = cmp_.get("speedup")
    if _num(speed) and speed > 0:
        if speed >= SAME_SPEED:
            parts.append(t("export.v.faster", lang, x=f"{speed:.1f}"))
        elif speed <= 1 / SAME_SPEED:
            parts.append(t("export.v.slower", lang, x=f"{1 / speed:.1f}"))
        else:
            parts.append(t("export.v.same_speed", lang))
    change = cmp_.get("accuracy_change")
    if _num(change):
        points = change * 100
        if abs(points) < 0.05:
            parts.append(t("export.v.same_acc", lang))
        else:
            parts.append(
                t(
                    "export.v.less_acc" if points < 0 else "export.v.more_acc",
                    lang,
                    x=f"{abs(points):.1f}",
                )
            )
    elif cmp_:
        parts.append(t("export.v.no_acc", lang))
    size = summary.get("model_bytes")
    before = base_size if _num(base_size) else orig.get("size_bytes")
    if _num(size) and _num(before) and before > 0:
        ratio = 1 - size / before
        if ratio >= 0.02:
            parts.append(t("export.v.smaller", lang, x=f"{min(ratio * 100, 99):.0f}"))
        elif ratio <= -0.02:
            parts.append(t("export.v.larger", lang, x=f"{-ratio * 100:.0f}"))
        else:
            parts.append(t("export.v.same_size", lang))
    if _num(cmp_.get("agreement")):
        parts.append(t("export.v.agree", lang, x=f"{cmp_['agreement'] * 100:.0f}"))
    fmt = summary.get("format", "")
    if fmt == "pruned" and _num(summary.get("sparsity")):
        parts.append(t("export.v.sparsity", lang, x=f"{summary['sparsity'] * 100:.0f}"))
    if fmt == "adapter" and backbone:
        parts.append(t("export.v.adapter", lang, backbone=backbone))
    if not cmp_:  # written unmeasured (by a retrain of an adapter run, or by the server)
        parts.insert(0, t("export.v.not_measured", lang))
    sep = "，" if lang == "zh" else ", "
    return f"{t(f'export.fmt.{fmt}', lang)}: " + sep.join(parts)


def verdicts_html(run: Run | None, exports: list[dict] | None = None, lang: str = "en") -> str:
    if run is None:
        return ""
    exports = exports_of(run) if exports is None else exports
    if not exports:
        return box("info", t("export.none_yet", lang))
    backbone = run.config_dict().get("backbone", "")
    base = original_figures(run, exports).get("size_bytes")
    lines = [verdict(e, backbone, lang, base) for e in exports]
    n = next((e.get("n") for e in exports if _num(e.get("n"))), None)
    title = t("export.verdicts_n", lang, n=n) if n else t("export.verdicts", lang)
    return (
        box("info", lines, title)
        + f'<div class="hint">{html.escape(t("export.latency_note", lang))}</div>'
    )


# ---- the run's view ------------------------------------------------------------------------------


def note_html(run: Run | None, lang: str = "en", run_id: str | None = None) -> str:
    if run is None:
        if run_id:
            return box("error", t("export.unknown_run", lang, id=run_id))
        return box("info", t("export.pick", lang))
    problem = export_problem(run)
    if problem:
        return box("warning", t("export.not_exportable", lang, reason=problem))
    s = run.summary()
    return box(
        "ok",
        t(
            "export.note",
            lang,
            name=s["name"],
            backbone=s["backbone"],
            strategy=s["strategy"],
            accuracy=fmt_score(s.get("accuracy")),
        ),
    )


def _fmt_choices(exports: list[dict], lang: str) -> list[tuple[str, str]]:
    return [(t(f"export.fmt.{e['format']}", lang), e["format"]) for e in exports]


def serve_choices(run: Run | None, lang: str = "en") -> list[tuple[str, str]]:
    if run is None:
        return []
    if not is_classification(run) or export_problem(run):
        return [(t("export.fmt.pytorch", lang), "pytorch")]
    return [(t(f"export.fmt.{a}", lang), a) for a in SERVE_ARTEFACTS]


def show_run(
    store: RunStore,
    run_id: str | None,
    lang: str = "en",
    artefact: str | None = None,
    source: str | None = None,
    serve_artefact: str | None = None,
    api_key: bool = False,
) -> dict:
    """Every output of the run's view (``RUN_OUTPUTS``), from the run folder; the current picks
    are kept when they still exist."""
    run = _get(store, run_id)
    exports = exports_of(run) if run is not None else []
    formats = [e["format"] for e in exports]
    if artefact not in formats:
        artefact = max(exports, key=_mtime)["format"] if exports else None
    sources = (
        ([(t("export.fmt.pytorch", lang), RUN_SOURCE)] + _fmt_choices(exports, lang))
        if run is not None
        else []
    )
    if source not in [v for _, v in sources]:
        source = RUN_SOURCE if run is not None else None
    served = serve_choices(run, lang)
    if serve_artefact not in [v for _, v in served]:
        serve_artefact = "pytorch" if served else None
    cmd, curl = serve_texts(store, run.id if run else None, serve_artefact, api_key)
    return {
        "note": note_html(run, lang, run_id),
        "table": comparison_table(run, exports, lang),
        "verdicts": verdicts_html(run, exports, lang),
        "artefact": gr.update(choices=_fmt_choices(exports, lang), value=artefact),
        "source": gr.update(choices=sources, value=source),
        "serve_artefact": gr.update(choices=served, value=serve_artefact),
        "serve_cmd": cmd,
        "serve_curl": curl,
    }


# ---- exporting -----------------------------------------------------------------------------------


def _short(store: RunStore, path: str | Path) -> str:
    path = Path(path)
    try:
        return str(path.resolve().relative_to(store.root.resolve()))
    except ValueError:
        return str(path)


def status_html(log: list | None, lang: str = "en") -> str:
    """The export status: one box per (kind, text key, values) entry, in ``lang`` (kept in a
    gr.State so a language switch re-renders it)."""
    out = []
    for kind, key, params in log or []:
        values = dict(params)
        if "fmt" in values:
            values["fmt"] = t(f"export.fmt.{values['fmt']}", lang)
        out.append(box(kind, t(key, lang, **values)))
    return "".join(out)


def _step_of(text: str) -> str:
    """The engine's progress line as one of our steps (only the progress label uses it)."""
    low = text.lower()
    if low.startswith("writing"):
        return "write"
    if "own model" in low:
        return "original"
    return "measure"


def export_steps(
    store: RunStore,
    run_id: str | None,
    formats: list[str] | None,
    sparsity: float | None = 0.5,
    lang: str = "en",
    progress: Callable | None = None,
    artefact: str | None = None,
    source: str | None = None,
    serve_artefact: str | None = None,
    api_key: bool = False,
) -> Iterator[dict]:
    """Export each chosen format in turn; yields the status (one line per format) and, after
    each artefact, the run's view again (``EXPORT_OUTPUTS``)."""

    def stop(kind: str, key: str, **params: Any) -> dict:
        log = [(kind, key, params)]
        return {"status": status_html(log, lang), "log": log}

    if not run_id:
        yield stop("warning", "export.pick")
        return
    try:  # an export is written into the run's folder: its owner's to do
        run = store.get(run_id, write=True)
    except KeyError:
        yield stop("error", "export.unknown_run", id=run_id)
        return
    except PermissionError as e:
        yield stop("error", "access.not_yours", **getattr(e, "values", {}))
        return
    chosen = [f for f in FORMATS if f in (formats or [])]
    unknown = [str(f) for f in (formats or []) if f not in FORMATS]
    if unknown:
        yield stop(
            "error", "export.unknown_format", fmt=", ".join(unknown), formats=", ".join(FORMATS)
        )
        return
    if not chosen:
        yield stop("warning", "export.need_formats")
        return
    try:
        sparsity = float(0.5 if sparsity is None else sparsity)
    except (TypeError, ValueError):
        sparsity = 0.5
    log: list[tuple[str, str, dict]] = []
    n = len(chosen)
    for i, fmt in enumerate(chosen):
        name = t(f"export.fmt.{fmt}", lang)
        yield {"status": status_html(log + [("info", "export.running_one", {"fmt": fmt})], lang)}

        def say(text: str, i: int = i, name: str = name) -> None:
            step = _step_of(text)
            if progress is not None:
                frac = {"write": 0.05, "original": 0.35, "measure": 0.7}[step]
                progress(
                    (i + frac) / n,
                    desc=t(
                        "export.progress",
                        lang,
                        fmt=name,
                        i=i + 1,
                        n=n,
                        step=t(f"export.step.{step}", lang),
                    ),
                )

        start = time.perf_counter()
        try:
            summary = E.export(run.path, fmt, sparsity=sparsity, progress=say)
        except ENGINE_ERRORS as e:
            log.append(("error", "export.failed_one", {"fmt": fmt, "error": error_message(e)}))
        except Exception as e:  # noqa: BLE001 - e.g. a torch error: one line, never a traceback
            log.append(("error", "export.failed_one", {"fmt": fmt, "error": human_error(e)}))
        else:
            artefact = fmt
            log.append(
                (
                    "ok",
                    "export.done_one",
                    {
                        "fmt": fmt,
                        "seconds": f"{time.perf_counter() - start:.1f}",
                        "path": _short(store, summary["path"]),
                    },
                )
            )
        yield {
            "status": status_html(log, lang),
            "log": list(log),
            **show_run(store, run.id, lang, artefact, source, serve_artefact, api_key),
        }
    if progress is not None:
        progress(
            1.0, desc=t("export.summary_ok", lang, n=sum(k == "ok" for k, _, _ in log), total=n)
        )


def export_formats(
    store: RunStore,
    run_id: str | None,
    formats: list[str] | None,
    sparsity: float | None = 0.5,
    lang: str = "en",
    **kw: Any,
) -> dict:
    """``export_steps`` run to the end: the final outputs, merged."""
    out: dict = {}
    for step in export_steps(store, run_id, formats, sparsity, lang, **kw):
        out.update(step)
    return out


# ---- one artefact: card, zip, Hub ---------------------------------------------------------------


def export_folder(run: Run | None, fmt: str | None) -> Path | None:
    """The folder of an existing export of ``run`` (None when there is none)."""
    if run is None or fmt not in FORMATS:
        return None
    folder = E.default_output_dir(run.path, fmt)
    return folder if (folder / E.EXPORT_FILE).exists() else None


def card_markdown(folder: Path, store: RunStore | None = None, lang: str = "en") -> str:
    """The model card without its YAML front matter, headings one level down."""
    try:
        text = (folder / "README.md").read_text(encoding="utf-8")
    except OSError:
        return t("export.card_wait", lang)
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            text = text[end + 4 :].lstrip("\n")
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,5} ", line):
            line = "#" + line
        out.append(line)
    path = _short(store, folder) if store is not None else str(folder)
    return f"*{t('export.card_path', lang, path=path)}*\n\n" + "\n".join(out)


def show_artefact(store: RunStore, run_id: str | None, fmt: str | None, lang: str = "en") -> dict:
    """``ARTEFACT_OUTPUTS``: the card of the picked artefact; the zip and message cleared."""
    folder = export_folder(_get(store, run_id), fmt)
    card = card_markdown(folder, store, lang) if folder else t("export.card_wait", lang)
    return {"card": card, "zip": None, "artefact_message": ""}


def _artefact(
    store: RunStore, run_id: str | None, fmt: str | None, lang: str
) -> tuple[Path | None, str]:
    """(export folder, "") or (None, message box)."""
    if not run_id:
        return None, box("warning", t("export.pick", lang))
    run = _get(store, run_id)
    if run is None:
        return None, box("error", t("export.unknown_run", lang, id=run_id))
    folder = export_folder(run, fmt)
    if folder is None:
        return None, box("warning", t("export.no_artefact", lang))
    return folder, ""


def make_zip(store: RunStore, run_id: str | None, fmt: str | None, lang: str = "en") -> dict:
    """``ZIP_OUTPUTS``: <run>/exports/<fmt>.zip as a download (None: no file)."""
    folder, problem = _artefact(store, run_id, fmt, lang)
    if folder is None:
        return {"zip": None, "artefact_message": problem}
    try:
        path = E.zip_export(folder)
    except ENGINE_ERRORS as e:
        return {"zip": None, "artefact_message": box("error", error_message(e))}
    return {
        "zip": str(path),
        "artefact_message": box(
            "ok", t("export.zip_ok", lang, name=path.name, size=_mb(path.stat().st_size))
        ),
    }


def push_artefact(
    store: RunStore,
    run_id: str | None,
    fmt: str | None,
    repo_id: str | None,
    token: str | None,
    private: bool = True,
    lang: str = "en",
) -> dict:
    """``PUSH_OUTPUTS``: upload the artefact to a Hub model repo. The token is used for this
    call only and the password box is cleared (it is never kept, logged or shown)."""
    cleared = ""
    folder, problem = _artefact(store, run_id, fmt, lang)
    if folder is None:
        return {"artefact_message": problem, "token": cleared}
    try:
        url = E.push_to_hub(folder, repo_id or "", token or "", private=bool(private))
    except Exception as e:  # noqa: BLE001 - the Hub library raises many kinds: one line
        text = error_message(e) if isinstance(e, ENGINE_ERRORS) else human_error(e)
        if token and token.strip():
            text = text.replace(token.strip(), "***")
        return {"artefact_message": box("error", text), "token": cleared}
    return {"artefact_message": box("ok", t("export.hub_ok", lang, url=url)), "token": cleared}


# ---- batch prediction ----------------------------------------------------------------------------


def batch_columns(path: str | None, lang: str = "en"):
    """The text-column picker for an uploaded table: (automatic) + its columns."""
    auto = [(t("export.auto_column", lang), "")]
    if not path:
        return gr.update(choices=auto, value="")
    try:
        from engine.data import load_table

        columns = list(load_table(path, max_rows=50, min_columns=1).columns)
    except ENGINE_ERRORS:
        columns = []  # the Predict button explains what is wrong with the file
    return gr.update(choices=auto + [(c, c) for c in columns], value="")


def source_folder(run: Run, source: str | None, lang: str = "en") -> tuple[Path, str]:
    """(folder to predict with, short name for the output file) for a source picked in the tab:
    the run itself or one of its exports. Raises ExportError otherwise."""
    if not source or source in (RUN_SOURCE, "pytorch"):
        return run.path, "model"
    folder = export_folder(run, source)
    if folder is None:
        raise E.ExportError(t("export.unknown_source", lang, source=source))
    return folder, source


def empty_preview() -> pd.DataFrame:
    return pd.DataFrame(columns=["prediction"])


def counts_table(predictions: dict | None, lang: str = "en") -> pd.DataFrame:
    cols = [t("export.col.label", lang), t("export.col.rows", lang), t("export.col.share", lang)]
    items = list((predictions or {}).items())
    total = sum(v for _, v in items) or 1
    return pd.DataFrame([[k, v, f"{v / total:.1%}"] for k, v in items], columns=cols)


def batch_predict(
    store: RunStore,
    run_id: str | None,
    source: str | None,
    path: str | None,
    text_column: str | None = "",
    lang: str = "en",
    progress: Callable | None = None,
    should_stop: Callable[[], bool] | None = None,
    output_dir: str | Path | None = None,
) -> dict:
    """``BATCH_OUTPUTS``: predict every row of the uploaded table; the CSV goes to
    ``<run>/predictions/<file>-<source>.csv`` (or into ``output_dir``: a user predicting with
    a run someone shared with them writes nothing into its folder). The file output is its
    path, None on a problem: plain values, so the named API answers plainly too."""
    empty = {
        "batch_file": None,
        "batch_preview": empty_preview(),
        "batch_counts": counts_table({}, lang),
        "batch_state": None,
    }
    if not run_id:
        return {**empty, "batch_message": box("warning", t("export.pick", lang))}
    run = _get(store, run_id)
    if run is None:
        return {**empty, "batch_message": box("error", t("export.unknown_run", lang, id=run_id))}
    if not path:
        return {**empty, "batch_message": box("warning", t("export.upload_first", lang))}
    name = Path(path).name

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(
                done / max(total, 1), desc=t("export.predicting", lang, done=done, total=total)
            )

    try:
        folder, short = source_folder(run, source, lang)
        out_dir = Path(output_dir) if output_dir else run.path / "predictions"
        output = out_dir / f"{safe_id(Path(path).stem)}-{short}.csv"
        if progress is not None:
            progress(0.0, desc=t("export.predicting", lang, done=0, total="?"))
        result = E.batch_predict(
            folder,
            path,
            output,
            text_column=(text_column or "").strip(),
            progress=report,
            should_stop=should_stop,
        )
        preview = pd.read_csv(output, nrows=PREVIEW_ROWS, dtype=str, keep_default_na=False)
    except ENGINE_ERRORS as e:
        return {**empty, "batch_message": box("error", error_message(e))}
    except Exception as e:  # noqa: BLE001 - e.g. a torch error: one line, never a traceback
        return {**empty, "batch_message": box("error", human_error(e))}
    state = {
        "rows": result["rows"],
        "total": result["rows_total"],
        "stopped": bool(result.get("stopped")),
        "name": name,
        "source": short,
        "predictions": result.get("predictions") or {},
    }
    return {
        **batch_view(state, lang),
        "batch_file": result["output"],
        "batch_preview": preview,
        "batch_state": state,
    }


def batch_view(state: dict | None, lang: str = "en") -> dict:
    """The batch message and the label counts of a finished prediction (``batch_state``)."""
    if not state:
        return {}
    if state.get("stopped"):
        message = box(
            "warning", t("export.batch_stopped", lang, rows=state["rows"], total=state["total"])
        )
    else:
        short = state.get("source") or "model"
        source = t("export.fmt.pytorch" if short == "model" else f"export.fmt.{short}", lang)
        message = box(
            "ok",
            [
                t("export.batch_ok", lang, rows=state["rows"], name=state["name"], source=source),
                t("export.batch_escaped", lang),
            ],
        )
    return {"batch_message": message, "batch_counts": counts_table(state.get("predictions"), lang)}


_STOPS: dict[str, threading.Event] = {}


def _session(request: gr.Request | None) -> str:
    return str(getattr(request, "session_hash", None) or "local")


def new_stop(request: gr.Request | None) -> threading.Event:
    event = threading.Event()
    _STOPS[_session(request)] = event
    return event


def request_stop(request: gr.Request | None) -> bool:
    event = _STOPS.get(_session(request))
    if event is None or event.is_set():
        return False
    event.set()
    return True


# ---- retraining (warm start) ---------------------------------------------------------------------


def _warm_ref(ref: str) -> str:
    ref = (ref or "").strip()
    return ref[4:].strip() if ref.startswith("run:") else ref


def latest_retrain(store: RunStore, run_id: str | None) -> str | None:
    """The newest run warm-started from ``run_id`` (folder or id in its config)."""
    if not run_id:
        return None
    for run in store.list():  # newest first
        ref = _warm_ref(str(run.config_dict().get("warm_start") or ""))
        if ref and Path(ref).name == run_id:
            return run.id
    return None


def start_retrain(
    store: RunStore,
    jobs: JobManager,
    run_id: str | None,
    path: str | None,
    keep: Callable[[str], str],
    lang: str = "en",
    owner: str = "",
) -> dict:
    """``RETRAIN_START_OUTPUTS``: the run's settings, the new file as data (stored by ``keep``,
    e.g. ``Context.keep_upload``), its model as the starting point; checked (preflight) before a
    run folder exists, then queued."""
    title = t("train.cannot_start", lang)
    if not run_id:
        return {"retrain_message": box("warning", t("export.pick", lang))}
    run = _get(store, run_id)
    if run is None:
        return {"retrain_message": box("error", t("export.unknown_run", lang, id=run_id))}
    if not path:
        return {"retrain_message": box("warning", t("export.upload_first", lang))}
    problem = export_problem(run)
    if problem:
        return {"retrain_message": box("error", problem, title)}
    try:
        from engine.data import load_table
        from engine.training.pipeline import preflight

        data = keep(path)
        columns = set(load_table(data, max_rows=50).columns)
        cfg = run.config()
        cfg.text_column = cfg.text_column if cfg.text_column in columns else ""
        cfg.label_column = cfg.label_column if cfg.label_column in columns else ""
        cfg.data, cfg.test_data = data, ""
        cfg.warm_start = str(run.path.resolve())
        cfg.run_name = f"{cfg.run_name or run.id}-retrain"
        cfg.output_dir = str(store.root)
        store.check_config(cfg)  # what it starts from must be the user's to use
        preflight(cfg)
        new = jobs.submit(cfg, owner=owner or "")
    except ENGINE_ERRORS as e:
        return {"retrain_message": box("error", error_message(e, lang), title)}
    except Exception as e:  # noqa: BLE001 - one line, never a traceback
        return {"retrain_message": box("error", human_error(e), title)}
    guessed = t("export.retrain_guessed", lang)
    cols = t(
        "export.retrain_columns",
        lang,
        text=cfg.text_column or guessed,
        label=cfg.label_column or guessed,
    )
    position = queue_position(jobs, new.id) if jobs.active and jobs.active != new.id else None
    msg = (
        t("export.retrain_queued", lang, id=new.id, position=position)
        if position
        else t("export.retrain_started", lang, id=new.id, old=run.id)
    )
    return {
        "retrain_message": box("ok", f"{msg} {cols}"),
        "retrain_id": new.id,
        "timer": gr.Timer(active=True),
    }


def retrain_headers(lang: str = "en") -> list[str]:
    return [t(f"export.rt.{c}", lang) for c in RETRAIN_COLUMNS]


def _points(new: Any, old: Any) -> str:
    if not (_num(new) and _num(old)):
        return "–"
    return f"{(new - old) * 100:+.1f}"


def retrain_table(warm: dict | None, lang: str = "en") -> pd.DataFrame:
    """Old vs new model on the new data's test split and on the old run's test split."""
    rows = []
    for key, label in (("new_test", "export.rt.new_split"), ("old_test", "export.rt.old_split")):
        part = (warm or {}).get(key)
        if not part:
            continue
        old, new = part.get("old_model") or {}, part.get("new_model") or {}
        rows.append(
            [
                t(label, lang),
                new.get("n", old.get("n", "–")),
                fmt_score(old.get("accuracy")),
                fmt_score(new.get("accuracy")),
                _points(new.get("accuracy"), old.get("accuracy")),
                fmt_score(old.get("macro_f1")),
                fmt_score(new.get("macro_f1")),
            ]
        )
    return pd.DataFrame(rows, columns=retrain_headers(lang))


def retrain_summary(warm: dict | None, lang: str = "en") -> str:
    if not warm or not warm.get("new_test"):
        return ""
    part = warm["new_test"]
    new, old = (
        (part.get("new_model") or {}).get("accuracy"),
        (part.get("old_model") or {}).get("accuracy"),
    )
    lines = [
        t("export.rt.better", lang, new=fmt_score(new), old=fmt_score(old), delta=_points(new, old))
    ]
    kind = "ok"
    back = warm.get("old_test")
    if back:
        n2 = (back.get("new_model") or {}).get("accuracy")
        o2 = (back.get("old_model") or {}).get("accuracy")
        forgot = _num(n2) and _num(o2) and (o2 - n2) * 100 > FORGETTING_POINTS
        lines.append(
            t(
                "export.rt.forgot" if forgot else "export.rt.kept",
                lang,
                new=fmt_score(n2),
                old=fmt_score(o2),
            )
        )
        kind = "warning" if forgot else "ok"
    else:
        lines.append(t("export.rt.no_old", lang))
    return box(kind, lines)


def render_retrain(
    store: RunStore, jobs: JobManager, retrain_id: str | None, lang: str = "en"
) -> dict:
    """``RETRAIN_OUTPUTS`` for the retraining run ``retrain_id`` (read from its folder)."""
    run = _get(store, retrain_id)
    if run is None:
        return {
            "retrain_status": box("info", t("export.retrain_none", lang)),
            "retrain_table": retrain_table(None, lang),
            "retrain_summary": "",
            "retrain_open": gr.update(visible=False),
        }
    events = run.events()
    status = run.status
    head = run_status_html(run, events, status, lang) + progress_html(
        run, events, status, lang, queue_position(jobs, run.id)
    )
    warm = run.metrics().get("warm_start")
    summary = retrain_summary(warm, lang)
    if not summary and (status in LIVE_STATUSES or jobs.is_live(run.id)):
        summary = box("info", t("export.rt.wait", lang))
    return {
        "retrain_status": head,
        "retrain_table": retrain_table(warm, lang),
        "retrain_summary": summary,
        "retrain_open": gr.update(visible=True),
    }


def attach_retrain(store: RunStore, jobs: JobManager, run_id: str | None, lang: str = "en") -> dict:
    """The run's latest retraining (after a run change or a page reload): id, timer, view."""
    rid = latest_retrain(store, run_id)
    run = _get(store, rid)
    live = run is not None and (run.status in LIVE_STATUSES or jobs.is_live(run.id))
    return {
        "retrain_id": rid,
        "timer": gr.Timer(active=live),
        **render_retrain(store, jobs, rid, lang),
        "retrain_sig": run_signature(store, rid),
    }


# ---- serving -------------------------------------------------------------------------------------

EXAMPLE_TEXTS = [
    "The delivery was quick and the product works perfectly.",
    "Terrible support, I want my money back.",
]


def serve_texts(
    store: RunStore, run_id: str | None, artefact: str | None = "pytorch", api_key: bool = False
) -> tuple[str, str]:
    """(the command that serves the run, a curl call of POST /predict)."""
    run = _get(store, run_id)
    if run is None:
        return "", ""
    artefact = artefact if artefact in SERVE_ARTEFACTS else "pytorch"
    cmd = f".venv/bin/python -m engine serve --run {shlex.quote(str(run.path))}"
    if artefact != "pytorch":
        cmd += f" --artefact {artefact}"
    cmd += " --host 127.0.0.1 --port 8000"
    if api_key:
        cmd = f"export ADAPTUNE_API_KEY={shlex.quote(KEY_PLACEHOLDER)}\n{cmd}"
    task = run.config_dict().get("task") or "classification"
    if task == "classification":
        body = {"texts": EXAMPLE_TEXTS}
    else:
        try:
            from engine.tasks import get_task

            fields = list(get_task(task).INPUT_FIELDS)
        except (ImportError, KeyError, ValueError, AttributeError):
            fields = ["text"]
        body = {"inputs": [{f: f"your {f}" for f in fields}]}
    lines = ["curl -s http://127.0.0.1:8000/predict \\", "  -H 'Content-Type: application/json' \\"]
    if api_key:
        lines.append(f"  -H 'Authorization: Bearer {KEY_PLACEHOLDER}' \\")
    lines.append(f"  -d {shlex.quote(json.dumps(body, ensure_ascii=False))}")
    return cmd, "\n".join(lines)


def format_help(lang: str = "en") -> str:
    return "\n".join(
        f"- **{t(f'export.fmt.{f}', lang)}**: {t(f'export.help.{f}', lang)}" for f in FORMATS
    )


# ---- the tab -------------------------------------------------------------------------------------


def build(ctx: Context) -> None:
    tr, store, jobs = ctx.tr, ctx.store, ctx.jobs
    tr.make(gr.Markdown, value=T("export.intro"), elem_classes=["tab-intro"])
    with gr.Row(equal_height=True):
        run_dd = tr.make(
            gr.Dropdown,
            label=T("export.run"),
            info=T("export.run.help"),
            choices=run_choices(store, tr.lang),
            value=None,
            allow_custom_value=True,
            elem_id="export-run",
            scale=5,
        )
        refresh = tr.make(
            gr.Button,
            value=T("common.refresh"),
            elem_id="export-refresh",
            scale=1,
            min_width=110,
            size="lg",
        )
    note = gr.HTML(box("info", t("export.pick", tr.lang)), elem_id="export-note", padding=False)

    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            formats = tr.make(
                gr.CheckboxGroup,
                label=T("export.formats"),
                info=T("export.formats.help"),
                choices=[(T(f"export.fmt.{f}"), f) for f in FORMATS],
                value=list(DEFAULT_FORMATS),
                elem_id="export-formats",
            )
            sparsity = tr.make(
                gr.Slider,
                label=T("export.sparsity"),
                info=T("export.sparsity.help"),
                minimum=0.1,
                maximum=0.9,
                step=0.05,
                value=0.5,
                visible="pruned" in DEFAULT_FORMATS,
                elem_id="export-sparsity",
            )
            export_btn = tr.make(
                gr.Button, value=T("export.button"), variant="primary", elem_id="export-button"
            )
        with gr.Column(scale=3, min_width=300):
            helps = gr.Markdown(
                format_help(tr.lang), elem_classes=["hint"], elem_id="export-format-help"
            )
            tr.register(helps, value=format_help)
            status = gr.HTML("", elem_id="export-status", padding=False)
    table = tr.make(
        gr.Dataframe,
        label=T("export.table"),
        value=comparison_table(None, lang=tr.lang),
        interactive=False,
        wrap=True,
        elem_id="export-table",
    )
    verdicts = gr.HTML("", elem_id="export-verdicts", padding=False)

    tr.make(gr.Markdown, value=T("export.card_title"), elem_classes=["section-title"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            artefact = tr.make(
                gr.Dropdown,
                label=T("export.artefact"),
                info=T("export.artefact.help"),
                choices=[],
                value=None,
                allow_custom_value=True,
                elem_id="export-artefact",
            )
            card = gr.Markdown(
                t("export.card_wait", tr.lang), max_height=460, elem_id="export-card"
            )
        with gr.Column(scale=2, min_width=280):
            zip_btn = tr.make(gr.Button, value=T("export.zip"), elem_id="export-zip-button")
            zip_file = tr.make(
                gr.File,
                label=T("export.zip_file"),
                interactive=False,
                elem_id="export-zip",
                height=90,
            )
            repo = tr.make(
                gr.Textbox,
                label=T("export.hub_repo"),
                placeholder=T("export.hub_repo.ph"),
                elem_id="export-hub-repo",
            )
            token = tr.make(
                gr.Textbox,
                label=T("export.hub_token"),
                info=T("export.hub_token.help"),
                type="password",
                elem_id="export-hub-token",
            )
            private = tr.make(
                gr.Checkbox, label=T("export.hub_private"), value=True, elem_id="export-hub-private"
            )
            push_btn = tr.make(gr.Button, value=T("export.hub_push"), elem_id="export-hub-push")
            artefact_msg = gr.HTML("", elem_id="export-artefact-message", padding=False)

    tr.make(gr.Markdown, value=T("export.batch_title"), elem_classes=["section-title"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            upload = tr.make(
                gr.File,
                label=T("export.batch_file"),
                file_types=[".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet", ".xlsx"],
                type="filepath",
                elem_id="export-batch-file",
                height=120,
            )
            with gr.Row():
                source = tr.make(
                    gr.Dropdown,
                    label=T("export.source"),
                    info=T("export.source.help"),
                    choices=[],
                    value=None,
                    allow_custom_value=True,
                    elem_id="export-batch-source",
                )
                text_col = tr.make(
                    gr.Dropdown,
                    label=T("export.text_column"),
                    info=T("export.text_column.help"),
                    choices=[(t("export.auto_column", tr.lang), "")],
                    value="",
                    allow_custom_value=True,
                    elem_id="export-batch-column",
                )
            with gr.Row():
                batch_btn = tr.make(
                    gr.Button,
                    value=T("export.batch_button"),
                    variant="primary",
                    elem_id="export-batch-button",
                    scale=3,
                )
                batch_stop = tr.make(
                    gr.Button,
                    value=T("export.batch_stop"),
                    variant="stop",
                    elem_id="export-batch-stop",
                    scale=1,
                    min_width=90,
                )
        with gr.Column(scale=1):
            batch_msg = gr.HTML("", elem_id="export-batch-message", padding=False)
            batch_file = tr.make(
                gr.File,
                label=T("export.batch_download"),
                interactive=False,
                elem_id="export-batch-download",
                height=90,
            )
            counts = tr.make(
                gr.Dataframe,
                label=T("export.batch_counts"),
                value=counts_table({}, tr.lang),
                interactive=False,
                max_height=260,
                elem_id="export-batch-counts",
            )
    preview = tr.make(
        gr.Dataframe,
        label=T("export.batch_preview"),
        value=empty_preview(),
        interactive=False,
        wrap=True,
        max_height=360,
        elem_id="export-batch-preview",
    )

    tr.make(gr.Markdown, value=T("export.retrain_title"), elem_classes=["section-title"])
    tr.make(gr.Markdown, value=T("export.retrain_hint"), elem_classes=["hint"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            retrain_file = tr.make(
                gr.File,
                label=T("export.retrain_file"),
                file_types=[".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet", ".xlsx"],
                type="filepath",
                elem_id="export-retrain-file",
                height=120,
            )
            retrain_btn = tr.make(
                gr.Button,
                value=T("export.retrain_button"),
                variant="primary",
                elem_id="export-retrain-button",
            )
            retrain_msg = gr.HTML("", elem_id="export-retrain-message", padding=False)
        with gr.Column(scale=1):
            retrain_status = gr.HTML(
                box("info", t("export.retrain_none", tr.lang)),
                elem_id="export-retrain-status",
                padding=False,
            )
            retrain_open = tr.make(
                gr.Button,
                value=T("export.retrain_open"),
                visible=False,
                size="sm",
                elem_id="export-retrain-open",
            )
            retrain_sum = gr.HTML("", elem_id="export-retrain-summary", padding=False)
    retrain_tbl = tr.make(
        gr.Dataframe,
        label=T("export.retrain_table"),
        value=retrain_table(None, tr.lang),
        interactive=False,
        elem_id="export-retrain-table",
    )

    tr.make(gr.Markdown, value=T("export.serve_title"), elem_classes=["section-title"])
    tr.make(gr.Markdown, value=T("export.serve_hint"), elem_classes=["hint"])
    with gr.Row(equal_height=True):
        serve_art = tr.make(
            gr.Dropdown,
            label=T("export.serve_artefact"),
            info=T("export.serve_artefact.help"),
            choices=[],
            value=None,
            allow_custom_value=True,
            elem_id="export-serve-artefact",
            scale=3,
        )
        serve_key = tr.make(
            gr.Checkbox,
            label=T("export.serve_key"),
            value=False,
            elem_id="export-serve-key",
            scale=1,
        )
    serve_cmd = tr.make(
        gr.Code,
        label=T("export.serve_cmd"),
        language="shell",
        value="",
        interactive=False,
        elem_id="export-serve-cmd",
    )
    serve_curl = tr.make(
        gr.Code,
        label=T("export.serve_curl"),
        language="shell",
        value="",
        interactive=False,
        elem_id="export-serve-curl",
    )

    retrain_id = gr.State(None)
    retrain_sig = gr.State("")
    log = gr.State([])  # the export status as (kind, text key, values): re-rendered on a switch
    batch_state = gr.State(None)  # the last prediction's figures (no file content)
    timer = gr.Timer(POLL_SECONDS, active=False)
    view = {
        "note": note,
        "table": table,
        "verdicts": verdicts,
        "artefact": artefact,
        "source": source,
        "serve_artefact": serve_art,
        "serve_cmd": serve_cmd,
        "serve_curl": serve_curl,
        "status": status,
        "card": card,
        "zip": zip_file,
        "artefact_message": artefact_msg,
        "token": token,
        "batch_message": batch_msg,
        "batch_file": batch_file,
        "batch_preview": preview,
        "batch_counts": counts,
        "retrain_message": retrain_msg,
        "retrain_id": retrain_id,
        "timer": timer,
        "retrain_status": retrain_status,
        "retrain_table": retrain_tbl,
        "retrain_summary": retrain_sum,
        "retrain_open": retrain_open,
        "retrain_sig": retrain_sig,
        "log": log,
        "batch_state": batch_state,
    }
    ctx.c.update(export_run=run_dd, export_view=view)

    def outs(names: list[str]) -> list:
        return [view[n] for n in names]

    # ---- callbacks (closures over ctx) ---------------------------------------------------
    def show_cb(run_id, lang, picked, src, served, key):
        return _as_outputs(show_run(store, run_id, lang, picked, src, served, key), RUN_OUTPUTS)

    def export_run(run_id, fmts, sparse, lang, picked, src, served, key, progress=gr.Progress()):
        for res in export_steps(
            store, run_id, fmts, sparse, lang, progress, picked, src, served, key
        ):
            yield _as_outputs(res, EXPORT_OUTPUTS)

    def artefact_cb(run_id, fmt, lang):
        return _as_outputs(show_artefact(store, run_id, fmt, lang), ARTEFACT_OUTPUTS)

    def export_zip(run_id, fmt, lang):
        out = make_zip(store, run_id, fmt, lang)
        out["zip"] = ctx.hand_out(out.get("zip"))  # this user's download, nobody else's
        return _as_outputs(out, ZIP_OUTPUTS)

    def push_to_hub(run_id, fmt, repo_id, hub_token, is_private, lang):
        return _as_outputs(
            push_artefact(store, run_id, fmt, repo_id, hub_token, is_private, lang), PUSH_OUTPUTS
        )

    def batch_predict_cb(
        request: gr.Request, run_id, src, path, column, lang, progress=gr.Progress()
    ):
        import tempfile

        from engine.runs import may_write

        try:
            ctx.own_upload(path)
            run = store.get(run_id) if run_id else None
        except ENGINE_ERRORS as e:
            return _as_outputs(
                {"batch_message": box("error", error_message(e, lang))}, BATCH_OUTPUTS
            )
        scratch = None
        if run is not None and not may_write(run, ctx.viewer(request)):
            scratch = tempfile.mkdtemp(prefix="adaptune-predict-")  # a shared run: not in it
        stop = new_stop(request)
        out = batch_predict(
            store, run_id, src, path, column, lang, progress, stop.is_set, output_dir=scratch
        )
        out["batch_file"] = ctx.hand_out(out.get("batch_file"), move=scratch is not None)
        return _as_outputs(out, BATCH_OUTPUTS)

    def stop_batch(request: gr.Request, lang):
        if request_stop(request):
            return box("info", t("export.batch_stopping", lang))
        return box("info", t("export.batch_nothing", lang))

    def relabel_batch(state, lang):
        view_ = batch_view(state, lang)
        return view_.get("batch_message", gr.skip()), view_.get("batch_counts", gr.skip())

    def retrain(run_id, path, lang, request: gr.Request = None):
        return _as_outputs(
            start_retrain(
                store, jobs, run_id, path, ctx.keep_upload, lang, owner=ctx.user(request) or ""
            ),
            RETRAIN_START_OUTPUTS,
        )

    def retrain_show(rid, lang):
        return (
            *_as_outputs(render_retrain(store, jobs, rid, lang), RETRAIN_OUTPUTS),
            run_signature(store, rid),
        )

    def retrain_attach(run_id, lang):
        return _as_outputs(
            attach_retrain(store, jobs, run_id, lang),
            ["retrain_id", "timer", *RETRAIN_OUTPUTS, "retrain_sig"],
        )

    def tick(rid, lang, last_sig):
        new_sig = run_signature(store, rid)
        live = bool(rid) and (jobs.is_live(rid) or new_sig.rsplit(":", 1)[-1] in LIVE_STATUSES)
        if new_sig == last_sig:
            return (*[gr.skip()] * len(RETRAIN_OUTPUTS), new_sig, gr.Timer(active=live))
        return (
            *_as_outputs(render_retrain(store, jobs, rid, lang), RETRAIN_OUTPUTS),
            new_sig,
            gr.Timer(active=live),
        )

    def open_in_train(rid):
        if not rid:
            return gr.skip(), gr.skip(), gr.skip()
        return gr.Tabs(selected="train"), rid, gr.Timer(active=True)

    def serve_command(run_id, served, key):
        return serve_texts(store, run_id, served, bool(key))

    cleared = [
        "status",
        "log",
        "artefact_message",
        "batch_message",
        "batch_file",
        "batch_preview",
        "batch_counts",
        "batch_state",
        "retrain_message",
    ]

    def clear_cb(lang):
        """Another run picked: the messages and results of the previous one go."""
        fresh = {
            "status": "",
            "log": [],
            "artefact_message": "",
            "batch_message": "",
            "batch_file": None,
            "batch_preview": empty_preview(),
            "batch_counts": counts_table({}, lang),
            "batch_state": None,
            "retrain_message": "",
        }
        return _as_outputs(fresh, cleared)

    def refresh_cb(current, lang):
        return refresh_runs(store, current, lang)

    ctx.fn.update(
        export_run=export_run,
        export_show=show_cb,
        export_batch=batch_predict_cb,
        export_retrain=retrain,
        export_push=push_to_hub,
        export_zip=export_zip,
    )

    def wire() -> None:
        lang = ctx.lang
        picks = [artefact, source, serve_art, serve_key]
        show_args = ([run_dd, lang, *picks], outs(RUN_OUTPUTS))
        attach_args = ([run_dd, lang], [retrain_id, timer, *outs(RETRAIN_OUTPUTS), retrain_sig])
        run_dd.change(show_cb, *show_args, show_progress="hidden", api_name="export_summary").then(
            retrain_attach, *attach_args, show_progress="hidden"
        ).then(clear_cb, lang, outs(cleared), show_progress="hidden", api_visibility="private")
        refresh.click(refresh_cb, [run_dd, lang], run_dd, api_name="export_runs").then(
            show_cb, *show_args, show_progress="hidden"
        )
        ctx.c["export_tab"].select(
            refresh_cb, [run_dd, lang], run_dd, show_progress="hidden"
        ).then(  # exports made by the CLI
            show_cb, *show_args, show_progress="hidden"
        )
        ctx.on_load.append((refresh_cb, [run_dd, lang], run_dd))
        ctx.on_lang.append((refresh_cb, [run_dd, lang], run_dd))
        ctx.on_lang.append((show_cb, *show_args))

        formats.change(
            lambda f: gr.update(visible="pruned" in (f or [])),
            formats,
            sparsity,
            show_progress="hidden",
            api_visibility="private",
        )
        export_btn.click(
            export_run,
            [run_dd, formats, sparsity, lang, *picks],
            outs(EXPORT_OUTPUTS),
            api_name="export_run",
            concurrency_limit=1,
            concurrency_id="export-heavy",
        )

        artefact.change(
            artefact_cb,
            [run_dd, artefact, lang],
            outs(ARTEFACT_OUTPUTS),
            show_progress="hidden",
            api_name="export_card",
        )
        ctx.on_lang.append((artefact_cb, [run_dd, artefact, lang], outs(ARTEFACT_OUTPUTS)))
        zip_btn.click(
            export_zip,
            [run_dd, artefact, lang],
            outs(ZIP_OUTPUTS),
            api_name="export_zip",
            concurrency_limit=1,
            concurrency_id="export-zip",
        )
        push_btn.click(
            push_to_hub,
            [run_dd, artefact, repo, token, private, lang],
            outs(PUSH_OUTPUTS),
            api_name="push_to_hub",
            concurrency_limit=1,
        )

        upload.change(
            batch_columns,
            [upload, lang],
            text_col,
            show_progress="hidden",
            api_visibility="private",
        )
        batch_btn.click(
            batch_predict_cb,
            [run_dd, source, upload, text_col, lang],
            outs(BATCH_OUTPUTS),
            api_name="batch_predict",
            concurrency_limit=1,
            concurrency_id="export-heavy",
        )
        batch_stop.click(
            stop_batch, lang, batch_msg, show_progress="hidden", api_visibility="private"
        )

        # the first view at once; it re-arms the timer, so a view that arrives after a newer
        # one (a run faster than the poll) is corrected by the next tick
        retrain_btn.click(
            retrain, [run_dd, retrain_file, lang], outs(RETRAIN_START_OUTPUTS), api_name="retrain"
        ).then(
            lambda rid, lang_value: (*retrain_show(rid, lang_value), gr.Timer(active=bool(rid))),
            [retrain_id, lang],
            [*outs(RETRAIN_OUTPUTS), retrain_sig, timer],
            show_progress="hidden",
            api_visibility="private",
        )
        timer.tick(
            tick,
            [retrain_id, lang, retrain_sig],
            [*outs(RETRAIN_OUTPUTS), retrain_sig, timer],
            show_progress="hidden",
        )
        retrain_open.click(
            open_in_train,
            retrain_id,
            [ctx.tabs, ctx.run_id, ctx.c["train_timer"]],
            api_visibility="private",
        )
        ctx.on_lang.append(
            (lambda entries, lang_value: status_html(entries, lang_value), [log, lang], status)
        )
        ctx.on_lang.append((relabel_batch, [batch_state, lang], [batch_msg, counts]))
        ctx.on_lang.append(
            (retrain_show, [retrain_id, lang], [*outs(RETRAIN_OUTPUTS), retrain_sig])
        )

        serve_args = ([run_dd, serve_art, serve_key], [serve_cmd, serve_curl])
        serve_art.change(
            serve_command, *serve_args, show_progress="hidden", api_name="serve_command"
        )
        serve_key.change(
            serve_command, *serve_args, show_progress="hidden", api_visibility="private"
        )

    ctx.deferred.append(wire)


__all__ = [
    "build",
    "run_choices",
    "default_run",
    "show_run",
    "export_steps",
    "export_formats",
    "comparison_table",
    "verdict",
    "verdicts_html",
    "show_artefact",
    "card_markdown",
    "make_zip",
    "push_artefact",
    "batch_columns",
    "batch_predict",
    "start_retrain",
    "render_retrain",
    "retrain_table",
    "retrain_summary",
    "attach_retrain",
    "latest_retrain",
    "serve_texts",
    "RUN_OUTPUTS",
    "EXPORT_OUTPUTS",
    "BATCH_OUTPUTS",
]
