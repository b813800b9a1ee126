"""Playground tab: zero- / few-shot classification with a prompt, free generation, measuring a
prompt on the Data tab's test rows next to fine-tuned runs, and word attributions of a
fine-tuned classifier.

Everything model-related is engine/prompting.py; this module turns widget values into a
``PromptConfig`` (the classification form is generated from its field metadata, ui/form.py,
``PLAY``) and engine results into HTML, plotly figures and tables. The callbacks are plain
functions returning dicts keyed by output name (``CLASSIFY_OUTPUTS`` ...), so the tests call
them without a browser; ``build`` only lays out the widgets and wires the events.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from engine.config import PromptConfig, config_fields
from engine.prompting import (
    PRESETS,
    PromptClassifier,
    PromptError,
    check_template,
    comparison_table,
    explain,
    fill,
    finished_runs,
    get_model,
    load_measurements,
    measure_data,
    measure_run,
    model_choices,
    parse_verbalizers,
    preset_names,
    record_measurement,
    verbalizer_text,
)

from ui import charts
from ui.common import ENGINE_ERRORS, Context, box, error_message, fmt_score
from ui.form import FormKind, field_widget, form_fields, form_to_config
from ui.i18n import T, t

# The classification form is PromptConfig: labels "prompt.<name>", element ids "play-<name>".
PLAY = FormKind(PromptConfig, key_prefix="prompt.", id_prefix="play-")
DATA_FIELDS = {"data", "text_column", "label_column"}  # the Data tab's file and columns
MEASURE_FIELDS = {"limit"}  # in the Measure section
ELEM_IDS = {"backbone": "play-model"}  # ids the browser tests rely on
GEN_PRESETS = ["free"] + preset_names("generate")
FREE_TEMPLATE = "{text}"
METHODS = ["occlusion", "integrated-gradients"]
MODES = ["classify", "generate"]
TABLE_COLUMNS = {
    "name": "name",
    "kind": "kind",
    "accuracy": "accuracy",
    "macro_f1": "macro_f1",
    "n": "n",
    "seconds_per_example": "seconds",
    "time": "time",
}
POLL_SECONDS = 0.4
_DEFAULTS = PromptConfig()

CLASSIFY_OUTPUTS = [
    "message",
    "label",
    "probs",
    "label_compare",
    "probs_compare",
    "examples",
    "prompt",
    "prompt_compare",
    "state",
]
GENERATE_OUTPUTS = ["message", "output", "output_compare"]
MEASURE_OUTPUTS = ["status", "result", "confusion", "table", "state"]
RUN_OUTPUTS = ["message", "table"]
EXPLAIN_OUTPUTS = ["message", "result", "highlight", "state"]


def field_names() -> list[str]:
    """The PromptConfig fields with a widget, in dataclass order (the callbacks' ``values``)."""
    return [f.name for f in form_fields(PromptConfig) if f.name not in DATA_FIELDS]


def _field(name: str):
    return PromptConfig.__dataclass_fields__[name]


_PROMPT_MAX_LIMIT = int(_field("limit").metadata.get("maximum", 100000))


def _as_outputs(result: dict, names: list[str]) -> tuple:
    return tuple(result.get(n, gr.skip()) for n in names)


# ---- settings -> PromptConfig -------------------------------------------------------------------


def _same_text(a: str | None, b: str | None) -> bool:
    return (a or "").replace("\r\n", "\n").strip() == (b or "").replace("\r\n", "\n").strip()


def prompt_config(
    values: dict,
    data: str | None = "",
    text_column: str | None = "",
    label_column: str | None = "",
    runs_dir: str | Path = "runs",
) -> PromptConfig:
    """Widget values + the Data tab's file and columns -> a PromptConfig (ConfigError).

    The template boxes show the preset's text: a template left as the preset's is sent as ""
    (the engine then names it by the preset), an edited one as typed, line breaks kept."""
    vals = dict(values)
    preset = PRESETS.get(str(vals.get("preset") or _DEFAULTS.preset)) or {}
    raw = {}
    for name in ("template", "example_template"):
        text = str(vals.get(name) or "").replace("\r\n", "\n")
        raw[name] = "" if _same_text(text, preset.get(name)) else text
        vals[name] = raw[name]
    vals.update(
        data=data or "",
        text_column=text_column or "",
        label_column=label_column or "",
        output_dir=str(runs_dir),
    )
    cfg = form_to_config(vals, PromptConfig)
    cfg.template = raw["template"]
    cfg.example_template = raw["example_template"]  # form_to_config strips its last "\n\n"
    return cfg


def _is_classification(task: str | None) -> bool:
    return (task or "classification") == "classification"


_DATA_CACHE: dict[tuple, Any] = {}


def load_data(config: PromptConfig):
    """engine.prompting.measure_data, kept while the file is unchanged (DataError)."""
    path = Path(config.data)
    try:
        stamp = path.stat().st_mtime
    except OSError:
        stamp = 0.0
    key = (str(path), stamp, config.text_column, config.label_column, config.seed, config.limit)
    if key not in _DATA_CACHE:
        if len(_DATA_CACHE) > 8:
            _DATA_CACHE.clear()
        _DATA_CACHE[key] = measure_data(config)
    return _DATA_CACHE[key]


def _typed_labels(config: PromptConfig) -> list[str]:
    return [x.strip() for x in (config.labels or "").split(",") if x.strip()]


def labels_and_pool(config: PromptConfig, task: str | None, lang: str = "en"):
    """(labels, few-shot pool or None) from the Data tab's table, else from the Labels box."""
    if config.data and _is_classification(task):
        md = load_data(config)
        return md.labels, md.pool
    labels = _typed_labels(config)
    if len(labels) < 2:
        raise PromptError(t("play.need_labels", lang))
    return labels, None


def _data_labels(data, text_column, label_column, task, seed) -> list[str]:
    if not data or not _is_classification(task):
        return []
    try:
        cfg = PromptConfig(
            data=data,
            text_column=text_column or "",
            label_column=label_column or "",
            seed=int(seed) if seed not in (None, "") else _DEFAULTS.seed,
        )
        return list(load_data(cfg).labels)
    except ENGINE_ERRORS:
        return []


def verbalizer_prefill(data, text_column, label_column, task, preset, labels_field="", seed=None):
    """The verbalizer box for the data's labels (or the typed ones) and the preset's suggested
    words, as lines 'label: word, word'; no change (gr.update()) when there are no labels."""
    labels = _data_labels(data, text_column, label_column, task, seed)
    asked = [x.strip() for x in (labels_field or "").split(",") if x.strip()]
    if asked:
        labels = [x for x in asked if not labels or x in labels]
    if len(labels) < 1:
        return gr.update()
    try:
        return verbalizer_text(parse_verbalizers("", labels, preset or _DEFAULTS.preset))
    except ENGINE_ERRORS:
        return gr.update()


def prefill_on_data(
    data, text_column, label_column, task, preset, labels_field="", seed=None, last: str | None = ""
) -> tuple:
    """The Data tab's table changed (or was re-rendered): (verbalizer box, labels signature).
    The box is refilled only when the data's labels differ from those it was filled for, so
    a language switch or the same file again keeps the user's words."""
    labels = _data_labels(data, text_column, label_column, task, seed)
    signature = "\x1f".join(labels)
    if not labels or signature == (last or ""):
        return gr.update(), signature or (last or "")
    return verbalizer_prefill(
        data, text_column, label_column, task, preset, labels_field, seed
    ), signature


def preset_changed(preset, data, text_column, label_column, task, labels_field="", seed=None):
    """A new preset: its template, example template and verbalizer words in the boxes."""
    p = PRESETS.get(preset or "") or PRESETS[_DEFAULTS.preset]
    return (
        p["template"],
        p.get("example_template", ""),
        verbalizer_prefill(data, text_column, label_column, task, preset, labels_field, seed),
    )


def gen_template_of(preset: str | None) -> str:
    return (
        (PRESETS.get(preset or "") or {}).get("template", FREE_TEMPLATE)
        if preset != "free"
        else FREE_TEMPLATE
    )


# ---- models -------------------------------------------------------------------------------------


def _model_label(label: str, name: str, lang: str) -> str:
    from engine.backbones import CATALOGUE

    if name.startswith("run:"):
        return t(
            "play.model.run",
            lang,
            label=label[len("run ") :] if label.startswith("run ") else label,
        )
    b = CATALOGUE.get(name)
    if b is None:
        return label
    return (
        f"{name} · {t('play.kind.' + b.family, lang)} · "
        f"{t('play.where.bundled' if b.bundled else 'play.where.hub', lang)}"
    )


def model_list(lang: str = "en", runs_dir="runs") -> list[tuple[str, str]]:
    """(label, value) of the models to prompt: decoders, finished generation runs, encoders."""
    try:
        items = model_choices(runs_dir)
    except (OSError, ValueError, TypeError):  # a half-written run folder: listed next time
        from engine.backbones import CATALOGUE

        items = [(b.name, b.name) for b in CATALOGUE.values()]
    return [(_model_label(label, name, lang), name) for label, name in items]


def compare_list(lang: str = "en", runs_dir="runs") -> list[tuple[str, str]]:
    return [(t("play.compare.none", lang), "")] + model_list(lang, runs_dir)


def run_list(runs_dir="runs") -> list[tuple[str, str]]:
    """Finished text-classification runs (Measure's "Add to comparison", Explain)."""
    try:
        return finished_runs(runs_dir)
    except (OSError, ValueError, TypeError):
        return []


def model_family(name: str | None) -> str:
    """'encoder' / 'decoder' for a name whose family is known without loading ('' otherwise)."""
    from engine.backbones import CATALOGUE, BackboneError, backbone_info

    name = (name or "").strip()
    if not name or name.startswith("run:"):
        return "decoder" if name else ""
    if name not in CATALOGUE and not Path(name).expanduser().is_dir():
        return ""  # an unknown hub id: known once loaded
    try:
        return backbone_info(name).family
    except (BackboneError, OSError, ValueError):
        return ""


def model_note(name: str | None, lang: str = "en") -> str:
    """Under the model picker: an encoder does not read the template."""
    if model_family(name) == "encoder":
        return box("info", t("play.encoder_note", lang, name=name))
    return ""


def short_name(name: str | None) -> str:
    name = (name or "").strip()
    if name.startswith("run:"):
        return "run " + Path(name[4:]).name
    return Path(name).name or name


# ---- the data line ------------------------------------------------------------------------------


def data_line(
    data,
    text_column="",
    label_column="",
    task="classification",
    limit=None,
    seed=None,
    lang: str = "en",
) -> str:
    """What the Playground uses from the Data tab: file, labels, training and test rows."""
    if not data:
        return box("info", t("play.data_none", lang))
    name = Path(data).name
    if not _is_classification(task):
        return box("warning", t("play.data_task", lang, task=t(f"task.{task}", lang)))
    try:
        cfg = PromptConfig(
            data=data,
            text_column=text_column or "",
            label_column=label_column or "",
            limit=_PROMPT_MAX_LIMIT,
            seed=int(seed) if seed not in (None, "") else _DEFAULTS.seed,
        )
        md = load_data(cfg)
    except ENGINE_ERRORS as e:
        return box("error", error_message(e), t("play.data_error", lang))
    n = min(int(limit or _DEFAULTS.limit), len(md.rows))
    text = t(
        "play.data_line",
        lang,
        name=html.escape(name),
        labels=", ".join(html.escape(x) for x in md.labels),
        train=len(md.pool),
        test=len(md.rows),
        n=n,
    )
    text = text.replace("**", "<strong>", 1).replace("**", "</strong>", 1)
    return f'<div class="play-data-line">{text}</div>'


# ---- classify -----------------------------------------------------------------------------------


def _pct(p: float) -> str:
    return f"{p:.1%}"


def prediction_html(result: dict | None, model: str, lang: str = "en") -> str:
    """The predicted label and its probability (and the calibration prior, when used)."""
    if not result:
        return ""
    label = result["label"]
    prob = result["probabilities"].get(label, 0.0)
    out = (
        f'<div class="play-pred"><div class="play-pred-model">{html.escape(model)}</div>'
        f'<span class="play-pred-key">{html.escape(t("play.predicted", lang))}</span> '
        f'<strong class="play-pred-label">{html.escape(str(label))}</strong> '
        f'<span class="play-pred-prob">{_pct(prob)}</span>'
    )
    prior = result.get("prior")
    if prior:
        leans = ", ".join(f"{html.escape(str(k))} {_pct(v)}" for k, v in prior.items())
        out += f'<div class="hint">{html.escape(t("play.prior", lang, prior=leans))}</div>'
    return out + "</div>"


def probability_figure(result: dict | None, lang: str = "en") -> go.Figure:
    """Horizontal bars of the label probabilities; calibrated next to uncalibrated when the
    prompt was calibrated."""
    if not result:
        return charts.empty_figure(t("play.chart.empty", lang), 240)
    probs = result["probabilities"]
    labels = [str(x) for x in probs]
    calibrated = bool(result.get("prior"))
    traces = [
        go.Bar(
            y=labels,
            x=list(probs.values()),
            orientation="h",
            name=t("play.chart.calibrated" if calibrated else "play.chart.probability", lang),
            marker_color=charts.COLORS[0],
            text=[_pct(v) for v in probs.values()],
            textposition="outside",
            cliponaxis=False,
        )
    ]
    if calibrated:
        raw = result.get("uncalibrated") or {}
        traces.append(
            go.Bar(
                y=labels,
                x=[raw.get(k, 0.0) for k in probs],
                orientation="h",
                name=t("play.chart.uncalibrated", lang),
                marker_color=charts.COLORS[9],
                opacity=0.6,
                text=[_pct(raw.get(k, 0.0)) for k in probs],
                textposition="outside",
                cliponaxis=False,
            )
        )
    fig = go.Figure(traces)
    fig.update_xaxes(
        range=[0, 1.15], tickformat=".0%", title_text=t("play.chart.probability", lang)
    )
    fig.update_yaxes(type="category", autorange="reversed")
    height = max(200, 70 + (28 if calibrated else 22) * len(labels) * (2 if calibrated else 1))
    fig = charts._layout(fig, min(height, 640), legend=calibrated)
    fig.update_layout(
        barmode="group", hovermode="closest", margin={"l": 90, "r": 20, "t": 16, "b": 40}
    )
    return fig


def examples_frame(examples: list[dict] | None, lang: str = "en") -> pd.DataFrame:
    rows = examples or []
    return pd.DataFrame(
        {
            t("play.col.text", lang): [e.get("text", "") for e in rows],
            t("play.col.label", lang): [e.get("label", "") for e in rows],
        }
    )


def prompt_text(result: dict | None, model: str, lang: str = "en") -> str:
    if not result:
        return ""
    return result.get("prompt") or t("play.prompt_encoder", lang, model=model)


def render_classify(state: dict | None, lang: str = "en") -> dict:
    """Outputs of a classification from its results (again after a language switch)."""
    state = state or {}
    main, other = state.get("main"), state.get("compare")
    name, other_name = state.get("model", ""), state.get("compare_model", "")
    examples = (main or {}).get("examples") or []
    return {
        "label": prediction_html(main, name, lang),
        "probs": probability_figure(main, lang),
        "label_compare": prediction_html(other, other_name, lang),
        "probs_compare": probability_figure(other, lang),
        "examples": gr.update(value=examples_frame(examples, lang), visible=bool(examples)),
        "prompt": gr.update(
            value=prompt_text(main, name, lang),
            label=t("play.prompt_label", lang, model=name) if name else None,
        ),
        "prompt_compare": gr.update(
            value=prompt_text(other, other_name, lang),
            label=t("play.prompt_label", lang, model=other_name) if other_name else None,
        ),
    }


def classify(
    values: dict,
    text: str | None,
    compare: str | None = "",
    data: str | None = "",
    text_column: str | None = "",
    label_column: str | None = "",
    task: str | None = "classification",
    runs_dir: str | Path = "runs",
    lang: str = "en",
) -> dict:
    """Classify one text with the prompt (and with the compare model, side by side).
    Returns CLASSIFY_OUTPUTS; a bad setting is the message, never a raise."""
    text = (text or "").strip()
    if not text:
        return {"message": box("warning", t("play.need_text", lang))}
    try:
        cfg = prompt_config(values, data, text_column, label_column, runs_dir)
        labels, pool = labels_and_pool(cfg, task, lang)
        main = PromptClassifier(cfg, labels, pool).classify(text)
    except ENGINE_ERRORS as e:
        return {"message": box("error", error_message(e), t("play.failed", lang))}
    state = {"main": main, "model": short_name(cfg.backbone)}
    message = ""
    compare = (compare or "").strip()
    if compare:
        state["compare_model"] = short_name(compare)
        try:
            other_cfg = replace(cfg, backbone=compare)
            state["compare"] = PromptClassifier(other_cfg, labels, pool).classify(text)
        except ENGINE_ERRORS as e:
            message = box("error", error_message(e), short_name(compare) + ":")
    return {"message": message, **render_classify(state, lang), "state": state}


# ---- generate -----------------------------------------------------------------------------------


def stop_strings(text: str | None) -> list[str]:
    """One stop sequence per line; a typed \\n is a line break."""
    return [line.replace("\\n", "\n") for line in (text or "").splitlines() if line]


def generation_prompt(template: str | None, text: str) -> str:
    template = (template or "").strip() or FREE_TEMPLATE
    check_template(template, ("text",))
    return fill(template.replace("\\n", "\n"), text=text)


def generate(
    model: str | None,
    compare: str | None,
    template: str | None,
    text: str | None,
    temperature=0.0,
    top_p=1.0,
    max_new_tokens=64,
    stops: str | None = "",
    use_chat: bool = True,
    lang: str = "en",
    stop: threading.Event | None = None,
) -> Iterator[dict]:
    """Stream the model's output (and the compare model's, side by side): yields
    GENERATE_OUTPUTS with the whole text so far. ``stop`` (or closing the generator) ends it."""
    text = (text or "").strip()
    if not text:
        yield {"message": box("warning", t("play.need_text", lang))}
        return
    names = [(model or "").strip()] + ([compare.strip()] if (compare or "").strip() else [])
    try:
        filled = generation_prompt(template, text)
        models = [get_model(n) for n in names]
    except ENGINE_ERRORS as e:
        yield {"message": box("error", error_message(e), t("play.failed", lang))}
        return
    for n, m in zip(names, models):
        if m.kind != "decoder":
            yield {"message": box("error", t("play.gen_encoder", lang, name=n))}
            return
    stop = stop or threading.Event()
    outs = [""] * len(models)
    errors: list[str | None] = [None] * len(models)
    done = [False] * len(models)
    changed = threading.Event()

    def work(i: int, m) -> None:
        stream = m.stream(
            filled,
            float(temperature or 0.0),
            float(top_p or 1.0),
            int(max_new_tokens or 64),
            stop_strings(stops),
            bool(use_chat),
        )
        try:
            for out in stream:
                outs[i] = out
                changed.set()
                if stop.is_set():
                    break
        except Exception as e:  # noqa: BLE001 - shown in the message, the UI lives on
            errors[i] = error_message(e)
        finally:
            stream.close()
            done[i] = True
            changed.set()

    start = time.perf_counter()
    threads = [
        threading.Thread(target=work, args=(i, m), daemon=True) for i, m in enumerate(models)
    ]
    for th in threads:
        th.start()
    shown = None
    busy = box("info", t("play.generating", lang))
    try:
        while not all(done):
            changed.wait(POLL_SECONDS)
            changed.clear()
            now = tuple(outs)
            if now != shown:
                shown = now
                yield {
                    "message": busy,
                    "output": outs[0],
                    "output_compare": outs[1] if len(outs) > 1 else gr.skip(),
                }
    finally:
        if not all(done):
            stop.set()  # closed early (the page went away, or Stop): end the generation
    for th in threads:
        th.join(timeout=5)
    msgs = [box("error", err, short_name(n) + ":") for n, err in zip(names, errors) if err]
    if not msgs:
        msgs = [
            box("ok", t("play.gen_stopped", lang))
            if stop.is_set()
            else box("ok", t("play.gen_done", lang, seconds=f"{time.perf_counter() - start:.1f}"))
        ]
    yield {
        "message": "".join(msgs),
        "output": outs[0],
        "output_compare": outs[1] if len(outs) > 1 else gr.skip(),
    }


# ---- measure ------------------------------------------------------------------------------------


def progress_bar(done: int, total: int, text: str, kind: str = "busy") -> str:
    frac = done / total if total else 0.0
    width = f"{max(0.0, min(1.0, frac)) * 100:.1f}%"
    return (
        f'<div class="progress progress-{kind}"><div class="progress-track">'
        f'<div class="progress-fill" style="width:{width}"></div></div>'
        f'<div class="progress-text">{html.escape(text)}</div></div>'
    )


def comparison(
    data: str | None, runs_dir: str | Path = "runs", lang: str = "en", owner: str | None = None
) -> pd.DataFrame:
    """Every recorded measurement on this data file (``owner``'s, when given), best first, with
    translated headers."""
    frame = comparison_table(load_measurements(runs_dir, data=data, owner=owner) if data else [])
    frame = frame.copy()
    if len(frame):
        frame["kind"] = [
            t(f"play.kind.{k}", lang) if k in ("prompt", "run") else k for k in frame["kind"]
        ]
    return frame.rename(columns={c: t(f"play.col.{k}", lang) for c, k in TABLE_COLUMNS.items()})


def result_html(result: dict | None, lang: str = "en") -> str:
    """A measurement: accuracy, macro-F1, (uncalibrated accuracy), rows, seconds per row."""
    if not result:
        return ""
    rows = [
        ("play.m.accuracy", f"<strong>{fmt_score(result.get('accuracy'))}</strong>"),
        ("play.m.macro_f1", f"<strong>{fmt_score(result.get('macro_f1'))}</strong>"),
    ]
    if result.get("calibrated"):
        rows.append(("play.m.uncalibrated", fmt_score(result.get("uncalibrated_accuracy"))))
    rows += [
        ("play.m.rows", str(result.get("n", "–"))),
        ("play.m.speed", f"{float(result.get('seconds_per_example') or 0):.3f}"),
        ("play.m.setting", html.escape(str(result.get("setting", "")))),
    ]
    body = "".join(f"<tr><td>{html.escape(t(k, lang))}</td><td>{v}</td></tr>" for k, v in rows)
    out = f'<table class="play-metrics"><tbody>{body}</tbody></table>'
    if result.get("stopped_early"):
        out += box("warning", t("play.stopped_early", lang, n=result.get("n", 0)))
    if result.get("warnings"):
        out += box("warning", list(result["warnings"]))
    return out


def render_measure(state: dict | None, lang: str = "en") -> dict:
    """Outputs of a finished measurement from its result (again after a language switch)."""
    state = state or {}
    result = state.get("result")
    if not result:
        return {"result": "", "confusion": gr.update(visible=False)}
    stopped = bool(result.get("stopped_early"))
    status = progress_bar(
        result["n"],
        max(state.get("total") or 0, result["n"]) if stopped else result["n"],
        t("play.done", lang, n=result["n"], seconds=state.get("seconds", "?")),
        "stopped" if stopped else "done",
    )
    return {
        "status": status,
        "result": result_html(result, lang),
        "confusion": gr.update(
            value=charts.confusion_figure(
                result.get("confusion") or [], result.get("labels") or [], lang
            ),
            visible=True,
        ),
    }


def measure(
    values: dict,
    data: str | None,
    text_column: str | None = "",
    label_column: str | None = "",
    task: str | None = "classification",
    runs_dir: str | Path = "runs",
    lang: str = "en",
    stop: threading.Event | None = None,
    owner: str | None = None,
) -> Iterator[dict]:
    """Measure the prompt on the first ``limit`` test rows of the Data tab's table, streaming a
    progress bar; the result is recorded and the comparison table re-read. Yields
    MEASURE_OUTPUTS."""
    if not data:
        yield {"status": box("error", t("play.need_data", lang))}
        return
    if not _is_classification(task):
        yield {"status": box("error", t("play.data_task", lang, task=t(f"task.{task}", lang)))}
        return
    try:
        cfg = prompt_config(values, data, text_column, label_column, runs_dir)
    except ENGINE_ERRORS as e:
        yield {"status": box("error", error_message(e), t("play.failed", lang))}
        return
    stop = stop or threading.Event()
    yield {"status": progress_bar(0, 0, t("play.loading", lang, model=short_name(cfg.backbone)))}
    progress = {"done": 0, "total": 0}
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            md = load_data(cfg)
            progress["total"] = len(md.rows)
            clf = PromptClassifier(cfg, md.labels, md.pool)
            result = clf.measure(md.rows, lambda d, n: progress.update(done=d, total=n), stop)
            result["warnings"] = md.warnings
            result["data"] = md.source
            record_measurement(result, cfg, output_dir=runs_dir, owner=owner)
            outcome["result"] = result
        except ENGINE_ERRORS as e:
            outcome["error"] = error_message(e)
        except Exception as e:  # noqa: BLE001 - shown as a message, the UI lives on
            outcome["error"] = f"{type(e).__name__}: {error_message(e)}"

    thread = threading.Thread(target=work, daemon=True)
    start = time.perf_counter()
    thread.start()
    shown = None
    finished = False
    try:
        while thread.is_alive():
            thread.join(POLL_SECONDS)
            now = (progress["done"], progress["total"], stop.is_set())
            if now != shown and progress["total"]:
                shown = now
                text = t("play.progress", lang, done=now[0], total=now[1])
                if stop.is_set():
                    text += " · " + t("play.stopping", lang)
                yield {"status": progress_bar(now[0], now[1], text)}
        finished = True
    finally:
        if not finished:
            stop.set()
    if "error" in outcome:
        yield {"status": box("error", outcome["error"], t("play.failed", lang))}
        return
    state = {
        "result": outcome["result"],
        "total": progress["total"],
        "seconds": f"{time.perf_counter() - start:.1f}",
    }
    yield {
        **render_measure(state, lang),
        "table": comparison(cfg.data, runs_dir, lang, owner),
        "state": state,
    }


def add_run(
    run_dir: str | None,
    values: dict,
    data: str | None,
    text_column: str | None = "",
    label_column: str | None = "",
    task: str | None = "classification",
    runs_dir: str | Path = "runs",
    lang: str = "en",
    owner: str | None = None,
) -> dict:
    """Measure a fine-tuned classification run on the same test rows and record it.
    Returns RUN_OUTPUTS."""
    if not data or not _is_classification(task):
        return {"message": box("error", t("play.need_data", lang))}
    if not run_dir:
        return {"message": box("warning", t("play.need_run", lang))}
    try:
        cfg = prompt_config(values, data, text_column, label_column, runs_dir)
        md = load_data(cfg)
        result = measure_run(run_dir, md, cfg)
        record_measurement(
            result, output_dir=runs_dir, kind="run", name=result["setting"], owner=owner
        )
    except ENGINE_ERRORS as e:
        return {"message": box("error", error_message(e), t("play.failed", lang))}
    message = box(
        "ok",
        t(
            "play.run_added",
            lang,
            name=result["setting"],
            accuracy=fmt_score(result.get("accuracy")),
            f1=fmt_score(result.get("macro_f1")),
            n=result.get("n", 0),
        ),
    )
    if result.get("note"):
        message += box("warning", t("play.run_note", lang, note=result["note"]))
    return {"message": message, "table": comparison(cfg.data, runs_dir, lang, owner)}


# ---- explain ------------------------------------------------------------------------------------


def render_explain(state: dict | None, lang: str = "en") -> str:
    out = (state or {}).get("explanation")
    if not out:
        return ""
    head = t(
        "play.explained",
        lang,
        label=html.escape(str(out["label"])),
        probability=_pct(out["probability"]),
    )
    head = head.replace("**", "<strong>", 1).replace("**", "</strong>", 1)
    legend = html.escape(t("play.legend", lang, label=out["label"]))
    return f'<div class="play-explained">{head}</div><div class="hint play-legend">{legend}</div>'


def explain_text(
    run_dir: str | None, text: str | None, method: str | None = "occlusion", lang: str = "en"
) -> dict:
    """Word attributions of a fine-tuned classifier's prediction. Returns EXPLAIN_OUTPUTS;
    ``highlight`` is the HighlightedText value [(segment, score in [-1, 1] or None)]."""
    if not run_dir:
        return {"message": box("warning", t("play.need_run", lang))}
    if not (text or "").strip():
        return {"message": box("warning", t("play.need_text", lang))}
    try:
        out = explain(run_dir, text, method or "occlusion")
    except ENGINE_ERRORS as e:
        return {"message": box("error", error_message(e), t("play.failed", lang))}
    except ImportError as e:  # captum missing for integrated gradients
        return {"message": box("error", error_message(e), t("play.failed", lang))}
    state = {
        "explanation": {k: out[k] for k in ("label", "probability", "probabilities", "method")}
    }
    highlight = [
        (s["text"], None if s["score"] is None else round(float(s["score"]), 3))
        for s in out["segments"]
    ]
    return {
        "message": "",
        "result": render_explain(state, lang),
        "highlight": highlight,
        "state": state,
    }


# ---- stop events per browser session ------------------------------------------------------------

_STOPS: dict[tuple[str, str], threading.Event] = {}


def _session(request: gr.Request | None) -> str:
    return str(getattr(request, "session_hash", None) or "local")


def new_stop(kind: str, request: gr.Request | None) -> threading.Event:
    event = threading.Event()
    _STOPS[(kind, _session(request))] = event
    return event


def request_stop(kind: str, request: gr.Request | None) -> bool:
    event = _STOPS.get((kind, _session(request)))
    if event is None or event.is_set():
        return False
    event.set()
    return True


# ---- the tab ------------------------------------------------------------------------------------


def mode_visibility(mode: str | None) -> tuple:
    classify_mode = (mode or "classify") == "classify"
    return (
        gr.update(visible=classify_mode),
        gr.update(visible=not classify_mode),
        gr.update(visible=classify_mode),
        gr.update(visible=not classify_mode),
        gr.update(visible=classify_mode),
    )


def compare_visibility(compare: str | None) -> tuple:
    on = bool((compare or "").strip())
    return gr.update(visible=on), gr.update(visible=on), gr.update(visible=on)


def build(ctx: Context) -> None:
    tr, root = ctx.tr, ctx.store.root
    names = field_names()
    comps: dict[str, Any] = {}
    c = ctx.c
    tr.make(gr.Markdown, value=T("play.intro"), elem_classes=["tab-intro"])
    with gr.Row(equal_height=False):
        model = field_widget(
            _field("backbone"),
            tr,
            PLAY,
            choices=model_list(tr.lang, ctx.store),
            allow_custom_value=True,
            elem_id=ELEM_IDS["backbone"],
            scale=3,
        )
        tr.register(model, choices=lambda lang: model_list(lang, ctx.store))
        comps["backbone"] = model
        compare = tr.make(
            gr.Dropdown,
            label=T("play.compare"),
            info=T("play.compare.help"),
            choices=compare_list(tr.lang, ctx.store),
            value="",
            allow_custom_value=True,
            elem_id="play-compare",
            scale=3,
        )
        tr.register(compare, choices=lambda lang: compare_list(lang, ctx.store))
        mode = tr.make(
            gr.Radio,
            label=T("play.mode"),
            choices=[(T(f"play.mode.{m}"), m) for m in MODES],
            value="classify",
            elem_id="play-mode",
            scale=2,
        )
    note = gr.HTML(
        model_note(_DEFAULTS.backbone, tr.lang), elem_id="play-model-note", padding=False
    )
    data_md = gr.HTML(data_line("", lang=tr.lang), elem_id="play-data", padding=False)

    with gr.Row(equal_height=False):
        with gr.Column(scale=5, elem_classes=["settings-col"]):
            with gr.Column(visible=True, elem_id="play-classify-settings") as cls_settings:
                comps["preset"] = field_widget(_field("preset"), tr, PLAY)
                comps["template"] = field_widget(
                    _field("template"),
                    tr,
                    PLAY,
                    value=PRESETS[_DEFAULTS.preset]["template"],
                    lines=5,
                    max_lines=14,
                )
                tr.make(gr.Markdown, value=T("play.template_hint"), elem_classes=["hint"])
                comps["labels"] = field_widget(_field("labels"), tr, PLAY)
                comps["verbalizers"] = field_widget(
                    _field("verbalizers"), tr, PLAY, lines=3, max_lines=10
                )
                with gr.Row():
                    for name in ("shots", "shot_selection", "calibrate"):
                        comps[name] = field_widget(_field(name), tr, PLAY, min_width=140)
                with tr.make(
                    gr.Accordion, label=T("play.advanced"), open=False, elem_id="play-advanced"
                ):
                    adv = [
                        f
                        for f in config_fields(advanced=True, cls=PromptConfig)
                        if f.name in names and f.name not in comps
                    ]
                    for i in range(0, len(adv), 2):
                        with gr.Row():
                            for f in adv[i : i + 2]:
                                extra = {}
                                if f.name == "example_template":
                                    extra = {
                                        "value": PRESETS[_DEFAULTS.preset]["example_template"],
                                        "lines": 3,
                                        "max_lines": 8,
                                    }
                                comps[f.name] = field_widget(f, tr, PLAY, min_width=200, **extra)
            with gr.Column(visible=False, elem_id="play-generate-settings") as gen_settings:
                gen_preset = tr.make(
                    gr.Dropdown,
                    label=T("play.gen_preset"),
                    info=T("play.gen_preset.help"),
                    choices=[(T(f"play.gen_preset.choice.{p}"), p) for p in GEN_PRESETS],
                    value="free",
                    elem_id="play-gen-preset",
                )
                gen_template = tr.make(
                    gr.Textbox,
                    label=T("play.gen_template"),
                    info=T("play.gen_template.help"),
                    value=FREE_TEMPLATE,
                    lines=4,
                    max_lines=12,
                    elem_id="play-gen-template",
                )
                with gr.Row():
                    temperature = tr.make(
                        gr.Slider,
                        label=T("play.temperature"),
                        info=T("play.temperature.help"),
                        minimum=0,
                        maximum=2,
                        step=0.05,
                        value=0.0,
                        elem_id="play-temperature",
                    )
                    top_p = tr.make(
                        gr.Slider,
                        label=T("play.top_p"),
                        info=T("play.top_p.help"),
                        minimum=0.05,
                        maximum=1,
                        step=0.05,
                        value=1.0,
                        elem_id="play-top-p",
                    )
                with gr.Row():
                    max_new = tr.make(
                        gr.Number,
                        label=T("play.max_new_tokens"),
                        info=T("play.max_new_tokens.help"),
                        value=64,
                        minimum=1,
                        maximum=1024,
                        step=16,
                        precision=0,
                        elem_id="play-max-new-tokens",
                    )
                    gen_chat = tr.make(
                        gr.Checkbox,
                        label=T("play.gen_chat"),
                        info=T("play.gen_chat.help"),
                        value=True,
                        elem_id="play-gen-chat",
                    )
                stops = tr.make(
                    gr.Textbox,
                    label=T("play.stop_seqs"),
                    info=T("play.stop_seqs.help"),
                    lines=2,
                    value="",
                    elem_id="play-stop-seqs",
                )

        with gr.Column(scale=6, elem_classes=["live-col"]):
            text = tr.make(
                gr.Textbox,
                label=T("play.input"),
                placeholder=T("play.input.placeholder"),
                lines=4,
                max_lines=12,
                elem_id="play-input",
            )
            with gr.Column(visible=True, elem_id="play-classify-live") as cls_live:
                classify_btn = tr.make(
                    gr.Button, value=T("play.classify"), variant="primary", elem_id="play-classify"
                )
                message = gr.HTML("", elem_id="play-message", padding=False)
                with gr.Row(equal_height=False):
                    with gr.Column(min_width=240):
                        label_md = gr.HTML("", elem_id="play-label", padding=False)
                        probs = gr.Plot(
                            probability_figure(None, tr.lang),
                            show_label=False,
                            elem_id="play-probs",
                        )
                    with gr.Column(min_width=240, visible=False) as cmp_col:
                        label_cmp = gr.HTML("", elem_id="play-label-compare", padding=False)
                        probs_cmp = gr.Plot(
                            probability_figure(None, tr.lang),
                            show_label=False,
                            elem_id="play-probs-compare",
                        )
                examples = tr.make(
                    gr.Dataframe,
                    label=T("play.examples"),
                    value=examples_frame([], tr.lang),
                    interactive=False,
                    wrap=True,
                    max_height=300,
                    visible=False,
                    elem_id="play-examples",
                )
                with tr.make(
                    gr.Accordion, label=T("play.prompt"), open=False, elem_id="play-prompt-box"
                ):
                    prompt = gr.Code(
                        "",
                        language=None,
                        interactive=False,
                        wrap_lines=True,
                        lines=6,
                        max_lines=30,
                        elem_id="play-prompt",
                    )
                    prompt_cmp = gr.Code(
                        "",
                        language=None,
                        interactive=False,
                        wrap_lines=True,
                        lines=6,
                        max_lines=30,
                        visible=False,
                        elem_id="play-prompt-compare",
                    )
            with gr.Column(visible=False, elem_id="play-generate-live") as gen_live:
                with gr.Row():
                    gen_btn = tr.make(
                        gr.Button,
                        value=T("play.generate"),
                        variant="primary",
                        elem_id="play-generate",
                        scale=3,
                    )
                    gen_stop = tr.make(
                        gr.Button,
                        value=T("play.gen_stop"),
                        variant="stop",
                        elem_id="play-gen-stop",
                        scale=1,
                        min_width=100,
                    )
                gen_msg = gr.HTML("", elem_id="play-gen-message", padding=False)
                with gr.Row(equal_height=True):
                    output = tr.make(
                        gr.Textbox,
                        label=T("play.output"),
                        lines=8,
                        max_lines=30,
                        interactive=False,
                        elem_id="play-output",
                    )
                    output_cmp = tr.make(
                        gr.Textbox,
                        label=T("play.output_compare"),
                        lines=8,
                        max_lines=30,
                        interactive=False,
                        visible=False,
                        elem_id="play-output-compare",
                    )

    with gr.Column(visible=True, elem_id="play-measure-section") as measure_col:
        tr.make(gr.Markdown, value=T("play.measure_title"), elem_classes=["section-title"])
        with gr.Row(equal_height=False):
            comps["limit"] = field_widget(_field("limit"), tr, PLAY, scale=2, min_width=160)
            with gr.Column(scale=3, elem_classes=["play-actions"]):
                with gr.Row():
                    measure_btn = tr.make(
                        gr.Button,
                        value=T("play.measure"),
                        variant="primary",
                        elem_id="play-measure",
                        scale=3,
                    )
                    measure_stop = tr.make(
                        gr.Button,
                        value=T("play.measure_stop"),
                        variant="stop",
                        elem_id="play-measure-stop",
                        scale=1,
                        min_width=100,
                    )
        measure_status = gr.HTML("", elem_id="play-measure-status", padding=False)
        with gr.Row(equal_height=False):
            measure_result = gr.HTML("", elem_id="play-measure-result", padding=False)
            confusion = gr.Plot(
                charts.empty_figure(t("chart.no_data", tr.lang), 320),
                show_label=False,
                visible=False,
                elem_id="play-confusion",
            )
        tr.make(gr.Markdown, value=T("play.comparison"), elem_classes=["section-title"])
        table = gr.Dataframe(
            comparison("", root, tr.lang),
            interactive=False,
            wrap=True,
            max_height=360,
            elem_id="play-compare-table",
        )
        with gr.Row(equal_height=False):
            run_pick = tr.make(
                gr.Dropdown,
                label=T("play.run"),
                info=T("play.run.help"),
                choices=run_list(ctx.store),
                value=None,
                elem_id="play-run",
                scale=4,
            )
            with gr.Column(scale=1, min_width=180, elem_classes=["play-actions"]):
                add_btn = tr.make(
                    gr.Button, value=T("play.add_run"), variant="secondary", elem_id="play-add-run"
                )
        run_msg = gr.HTML("", elem_id="play-run-message", padding=False)

    with tr.make(
        gr.Accordion, label=T("play.explain_title"), open=True, elem_id="play-explain-box"
    ):
        with gr.Row(equal_height=True):
            explain_run = tr.make(
                gr.Dropdown,
                label=T("play.explain_run"),
                info=T("play.explain_run.help"),
                choices=run_list(ctx.store),
                value=None,
                elem_id="play-explain-run",
                scale=3,
            )
            method = tr.make(
                gr.Radio,
                label=T("play.explain_method"),
                info=T("play.explain_method.help"),
                choices=[(T(f"play.method.{m}"), m) for m in METHODS],
                value="occlusion",
                elem_id="play-explain-method",
                scale=3,
            )
        explain_input = tr.make(
            gr.Textbox, label=T("play.explain_text"), lines=2, elem_id="play-explain-text"
        )
        explain_btn = tr.make(
            gr.Button, value=T("play.explain"), variant="primary", elem_id="play-explain"
        )
        explain_msg = gr.HTML("", elem_id="play-explain-message", padding=False)
        explain_result = gr.HTML("", elem_id="play-explain-result", padding=False)
        highlight = tr.make(
            gr.HighlightedText,
            label=T("play.highlight"),
            value=[],
            show_legend=False,
            show_inline_category=False,
            combine_adjacent=False,
            elem_id="play-highlight",
        )

    missing = [n for n in names if n not in comps]
    assert not missing, f"Playground tab: no widget for {missing}"
    form = [comps[n] for n in names]
    classify_state, measure_state, explain_state = gr.State(None), gr.State(None), gr.State(None)
    prefilled_for = gr.State("")  # the data labels the verbalizer box was last filled for
    c.update(play_fields=comps, play_form=form)

    # ---- callbacks (closures over the runs folder) ----------------------------------------
    # the lists show the runs the signed-in user may see (ctx.store); a model, compare model
    # or run typed or sent through the API is checked again before it is loaded
    def refused(lang, *models, run_dir=None) -> str:
        bad = [m for m in models if m and not ctx.store.may_use("model", m)]
        if run_dir and not ctx.store.may_read_path(run_dir):
            bad.append(run_dir)
        return box("error", t("access.path", lang, value=bad[0])) if bad else ""

    def classify_cb(lang, data, text_col, label_col, task, input_text, other, *args):
        values = dict(zip(names, args))
        problem = refused(lang, values.get("backbone"), values.get("embedder"), other)
        if problem:
            return _as_outputs({"message": problem}, CLASSIFY_OUTPUTS)
        res = classify(values, input_text, other, data, text_col, label_col, task, root, lang)
        return _as_outputs(res, CLASSIFY_OUTPUTS)

    def generate_cb(
        request: gr.Request,
        lang,
        name,
        other,
        template,
        input_text,
        temp,
        p,
        max_tokens,
        stop_text,
        chat,
    ):
        problem = refused(lang, name, other)
        if problem:
            yield _as_outputs({"message": problem}, GENERATE_OUTPUTS)
            return
        stop = new_stop("generate", request)
        for res in generate(
            name, other, template, input_text, temp, p, max_tokens, stop_text, chat, lang, stop
        ):
            yield _as_outputs(res, GENERATE_OUTPUTS)

    def stop_generate(request: gr.Request, lang):
        request_stop("generate", request)
        return box("ok", t("play.gen_stopped", lang))

    def measure_cb(request: gr.Request, lang, data, text_col, label_col, task, *args):
        values = dict(zip(names, args))
        problem = refused(lang, values.get("backbone"), values.get("embedder"))
        if problem:
            yield _as_outputs({"status": problem}, MEASURE_OUTPUTS)
            return
        stop = new_stop("measure", request)
        for res in measure(
            values, data, text_col, label_col, task, root, lang, stop, owner=ctx.user(request)
        ):
            yield _as_outputs(res, MEASURE_OUTPUTS)

    def stop_measure(request: gr.Request, lang):
        if request_stop("measure", request):
            return gr.skip()
        return box("info", t("play.nothing_to_stop", lang))

    def add_run_cb(lang, run_dir, data, text_col, label_col, task, *args):
        values = dict(zip(names, args))
        problem = refused(lang, values.get("embedder"), run_dir=run_dir)
        if problem:
            return _as_outputs({"message": problem}, RUN_OUTPUTS)
        return _as_outputs(
            add_run(run_dir, values, data, text_col, label_col, task, root, lang, owner=ctx.user()),
            RUN_OUTPUTS,
        )

    def explain_cb(lang, run_dir, input_text, how):
        problem = refused(lang, run_dir=run_dir)
        if problem:
            return _as_outputs({"message": problem}, EXPLAIN_OUTPUTS)
        return _as_outputs(explain_text(run_dir, input_text, how, lang), EXPLAIN_OUTPUTS)

    def refresh_lists(lang, name, other, run_value, explain_value):
        """Runs finished since the page was built: models, compare models, run pickers."""
        runs = run_list(ctx.store)
        values = {v for _, v in runs}
        return (
            gr.update(choices=model_list(lang, ctx.store)),
            gr.update(choices=compare_list(lang, ctx.store)),
            gr.update(choices=runs, value=run_value if run_value in values else None),
            gr.update(
                choices=runs,
                value=explain_value if explain_value in values else (runs[0][1] if runs else None),
            ),
        )

    def refresh_data(lang, data, text_col, label_col, task, limit, seed):
        return (
            data_line(data, text_col, label_col, task, limit, seed, lang),
            comparison(data, root, lang, ctx.user()),
        )

    def relabel_classify(state, lang):
        return _as_outputs(render_classify(state, lang), CLASSIFY_OUTPUTS[1:-1])

    def relabel_measure(state, lang):
        return _as_outputs(render_measure(state, lang), MEASURE_OUTPUTS[:3])

    ctx.fn.update(
        play_classify=classify_cb,
        play_measure=measure_cb,
        play_generate=generate_cb,
        play_add_run=add_run_cb,
        play_explain=explain_cb,
    )

    def wire() -> None:
        lang = ctx.lang
        data_inputs = [
            ctx.data_path,
            ctx.fields["text_column"],
            ctx.fields["label_column"],
            ctx.fields["task"],
        ]
        seed = comps["seed"]

        mode.change(
            mode_visibility,
            mode,
            [cls_settings, gen_settings, cls_live, gen_live, measure_col],
            show_progress="hidden",
        )
        compare.change(
            compare_visibility, compare, [cmp_col, prompt_cmp, output_cmp], show_progress="hidden"
        )
        model.change(model_note, [model, lang], note, show_progress="hidden")
        ctx.on_lang.append((model_note, [model, lang], note))

        # the Data tab's table: data line, label words, comparison table
        line_args = ([lang, *data_inputs, comps["limit"], seed], [data_md, table])
        c["data_summary"].change(refresh_data, *line_args, show_progress="hidden").then(
            prefill_on_data,
            [*data_inputs, comps["preset"], comps["labels"], seed, prefilled_for],
            [comps["verbalizers"], prefilled_for],
            show_progress="hidden",
        )
        comps["limit"].change(
            data_line,
            [*data_inputs, comps["limit"], seed, lang],
            data_md,
            show_progress="hidden",
            trigger_mode="always_last",
        )
        comps["preset"].input(
            preset_changed,
            [comps["preset"], *data_inputs, comps["labels"], seed],
            [comps["template"], comps["example_template"], comps["verbalizers"]],
            show_progress="hidden",
        )
        comps["labels"].blur(
            verbalizer_prefill,
            [*data_inputs, comps["preset"], comps["labels"], seed],
            comps["verbalizers"],
            show_progress="hidden",
        )
        gen_preset.input(gen_template_of, gen_preset, gen_template, show_progress="hidden")

        list_args = (
            [lang, model, compare, run_pick, explain_run],
            [model, compare, run_pick, explain_run],
        )
        c["play_tab"].select(refresh_lists, *list_args, show_progress="hidden").then(
            refresh_data, *line_args, show_progress="hidden"
        )
        ctx.on_load.append((refresh_lists, *list_args))
        ctx.on_load.append((refresh_data, *line_args))
        ctx.on_lang.append((refresh_data, *line_args))

        classify_btn.click(
            classify_cb,
            [lang, *data_inputs, text, compare, *form],
            [
                message,
                label_md,
                probs,
                label_cmp,
                probs_cmp,
                examples,
                prompt,
                prompt_cmp,
                classify_state,
            ],
        )
        text.submit(
            classify_cb,
            [lang, *data_inputs, text, compare, *form],
            [
                message,
                label_md,
                probs,
                label_cmp,
                probs_cmp,
                examples,
                prompt,
                prompt_cmp,
                classify_state,
            ],
        )
        ctx.on_lang.append(
            (
                relabel_classify,
                [classify_state, lang],
                [label_md, probs, label_cmp, probs_cmp, examples, prompt, prompt_cmp],
            )
        )

        gen_event = gen_btn.click(
            generate_cb,
            [
                lang,
                model,
                compare,
                gen_template,
                text,
                temperature,
                top_p,
                max_new,
                stops,
                gen_chat,
            ],
            [gen_msg, output, output_cmp],
            show_progress="hidden",
        )
        gen_stop.click(stop_generate, lang, gen_msg, cancels=[gen_event], show_progress="hidden")

        measure_btn.click(
            measure_cb,
            [lang, *data_inputs, *form],
            [measure_status, measure_result, confusion, table, measure_state],
            show_progress="hidden",
            concurrency_limit=1,
            concurrency_id="play-measure",
        )
        measure_stop.click(stop_measure, lang, measure_status, show_progress="hidden")
        ctx.on_lang.append(
            (relabel_measure, [measure_state, lang], [measure_status, measure_result, confusion])
        )
        add_btn.click(
            add_run_cb,
            [lang, run_pick, *data_inputs, *form],
            [run_msg, table],
            concurrency_limit=1,
            concurrency_id="play-measure",
        )

        explain_btn.click(
            explain_cb,
            [lang, explain_run, explain_input, method],
            [explain_msg, explain_result, highlight, explain_state],
        )
        ctx.on_lang.append((render_explain, [explain_state, lang], explain_result))

    ctx.deferred.append(wire)


__all__ = [
    "build",
    "classify",
    "generate",
    "measure",
    "add_run",
    "explain_text",
    "prompt_config",
    "verbalizer_prefill",
    "preset_changed",
    "data_line",
    "comparison",
    "probability_figure",
    "model_list",
    "field_names",
    "CLASSIFY_OUTPUTS",
    "GENERATE_OUTPUTS",
    "MEASURE_OUTPUTS",
    "RUN_OUTPUTS",
    "EXPLAIN_OUTPUTS",
]
