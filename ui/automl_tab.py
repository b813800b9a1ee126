"""AutoML tab: hyper-parameter search with Optuna (engine/automl.py) around the Train tab's
settings.

The base of every trial is what the Data and Train tabs hold (``ctx.fields``); the search
settings are a form generated from HpoConfig's "search" group (ui/form.py, ``AUTOML``); the
search space is an editable table (one row per setting) filled from ``automl.default_space``
and validated by ``automl.parse_space`` on Start. Start submits an HpoConfig to the shared job
queue; a timer reads the search's run folder (events.jsonl, search.json, metrics.json) and its
Optuna study, so a page reload or a server restart re-attaches to the latest search.

The callbacks are plain functions returning dicts keyed by output name (``LIVE_OUTPUTS`` ...),
so the tests call them without a browser; ``build`` lays out the widgets and wires the events.
"""

from __future__ import annotations

import html
import json
import math
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from engine import automl
from engine.config import HpoConfig, RunConfig, config_fields
from engine.strategies import LORA_KIND
from engine.jobs import JobManager
from engine.runs import Run, RunStore, read_json

from ui import charts
from ui.common import (
    ENGINE_ERRORS,
    LIVE_STATUSES,
    Context,
    box,
    error_message,
    fmt_score,
    human_duration,
    status_text,
)
from ui.form import FormKind, field_widget, form_fields, form_to_config, values_from
from ui.i18n import T, t
from ui.train_tab import last, pick_run_to_show, queue_position

# The search settings are HpoConfig's "search" group: labels "hpo.<name>", ids "automl-<name>".
AUTOML = FormKind(HpoConfig, key_prefix="hpo.", id_prefix="automl-")
TABLE_FIELD = "search_space"  # edited as the space table, not as a text box
SPACE_COLUMNS = ["setting", "type", "low", "high", "log", "choices", "include"]
SPACE_TYPES = ["str", "str", "str", "str", "bool", "str", "bool"]
FIGURES = ("history", "parallel", "importances")
LIVE_OUTPUTS = [
    "status",
    "table",
    "history",
    "parallel",
    "importances",
    "pick",
    "curves",
    "best",
    "open_best",
]
SUGGEST_OUTPUTS = ["space", "first", "plan", "message"]
START_OUTPUTS = ["message", "run_id", "timer"]
POLL_SECONDS = 1.5
FIG_HEIGHT = 340
_TRUE = {"yes", "y", "true", "1", "on", "x", "✓", "是", "是的"}
_FALSE = {"no", "n", "false", "0", "off", "否", "不"}


def search_field_names() -> list[str]:
    """The search settings with a widget, in HpoConfig order (the callbacks' ``search``)."""
    return [
        f.name
        for f in form_fields(HpoConfig)
        if f.metadata.get("group") == "search" and f.name != TABLE_FIELD
    ]


def _field(name: str):
    return HpoConfig.__dataclass_fields__[name]


def _as_outputs(result: dict, names: list[str]) -> tuple:
    return tuple(result.get(n, gr.skip()) for n in names)


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float):
        return (
            f"{value:.3g}" if value and (abs(value) < 1e-3 or abs(value) >= 1e4) else f"{value:.4g}"
        )
    return str(value)


def _value(value: Any) -> str:
    return (
        f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"
    )


# ---- the base configuration (Data + Train tabs) --------------------------------------------------


def base_config(values: dict) -> RunConfig:
    """The Train tab's RunConfig (what every trial starts from); raises ConfigError."""
    names = {f.name for f in form_fields(RunConfig)}
    return form_to_config({k: v for k, v in values.items() if k in names}, RunConfig)


def base_line(values: dict, lang: str = "en") -> str:
    """One line: which data, columns, task, backbone, strategy and budget every trial uses."""
    if not values.get("data"):
        return box("warning", t("automl.need_data", lang))
    try:
        cfg = base_config(values)
    except ENGINE_ERRORS as e:
        return box("error", error_message(e))
    budget = (
        t("automl.base.steps", lang, steps=cfg.max_steps)
        if cfg.max_steps
        else t("automl.base.epochs", lang, epochs=_fmt(cfg.epochs))
    )
    rows = (
        t("automl.base.rows", lang, rows=f"{cfg.max_rows:,}")
        if cfg.max_rows
        else t("automl.base.all_rows", lang)
    )
    strategy = t(f"strategy.{cfg.strategy}.name", lang)
    parts = [
        f"<strong>{html.escape(Path(cfg.data).name)}</strong>",
        t(
            "automl.base.columns",
            lang,
            text=html.escape(cfg.text_column or "?"),
            label=html.escape(cfg.label_column or "?"),
        ),
        html.escape(t(f"task.{cfg.task}", lang)),
        html.escape(cfg.backbone),
        html.escape(strategy),
        html.escape(budget),
        html.escape(rows),
    ]
    return (
        f'<div class="automl-base">{html.escape(t("automl.base", lang))} '
        + " · ".join(parts)
        + "</div>"
    )


# ---- the search space table ----------------------------------------------------------------------


def space_headers(lang: str = "en") -> list[str]:
    return [t(f"automl.col.{c}", lang) for c in SPACE_COLUMNS]


def _num_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def space_frame(space: dict | None, lang: str = "en") -> pd.DataFrame:
    """One row per setting: (setting, type, low, high, log, choices, include)."""
    rows = []
    for name, spec in (space or {}).items():
        categorical = spec.get("type") == "categorical"
        rows.append(
            [
                name,
                spec.get("type", ""),
                "" if categorical else _num_text(spec.get("low")),
                "" if categorical else _num_text(spec.get("high")),
                bool(spec.get("log", False)) and not categorical,
                ", ".join(_num_text(c) for c in spec.get("choices", [])) if categorical else "",
                spec.get("include", True),
            ]
        )
    return pd.DataFrame(rows, columns=space_headers(lang))


def frame_rows(frame: Any) -> list[list]:
    """The table's rows as lists, whatever gradio handed over (DataFrame, dict, list)."""
    if frame is None:
        return []
    if isinstance(frame, pd.DataFrame):
        rows = frame.values.tolist()
    elif isinstance(frame, dict):
        rows = list(frame.get("data") or [])
    else:
        rows = [list(r) for r in frame]
    out = []
    for row in rows:
        row = list(row) + [None] * (len(SPACE_COLUMNS) - len(row))
        out.append(row[: len(SPACE_COLUMNS)])
    return out


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _truthy(value: Any, default: bool) -> bool:
    if _blank(value):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return default


def _number(value: Any) -> Any:
    """A number from a cell; a text that is no number is passed on (parse_space explains)."""
    if _blank(value):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    try:
        return float(str(value).strip())
    except ValueError:
        return str(value)


def _choice(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _choices(value: Any) -> list:
    if _blank(value):
        return []
    text = str(value)
    for sep in ("，", ";", "；", "|"):
        text = text.replace(sep, ",")
    return [_choice(x.strip()) for x in text.split(",") if x.strip()]


def frame_to_space(frame: Any, lang: str = "en") -> dict[str, dict]:
    """The included rows as a raw search space (validate it with ``automl.parse_space``)."""
    raw: dict[str, dict] = {}
    for name, kind, low, high, log, choices, include in frame_rows(frame):
        name = "" if _blank(name) else str(name).strip()
        if not name or not _truthy(include, True):
            continue
        if name in raw:
            raise automl.SearchError(t("automl.duplicate", lang, name=name))
        kind = "" if _blank(kind) else str(kind).strip().lower()
        if kind == "categorical":
            raw[name] = {"type": kind, "choices": _choices(choices)}
        else:
            raw[name] = {
                "type": kind,
                "low": _number(low),
                "high": _number(high),
                "log": _truthy(log, False),
            }
    return raw


def same_space(a: dict, b: dict) -> bool:
    """Two parsed spaces are the same (numbers equal to the table's printed precision)."""
    if set(a) != set(b):
        return False
    for name, x in a.items():
        y = b[name]
        if x["type"] != y["type"]:
            return False
        if x["type"] == "categorical":
            if list(x["choices"]) != list(y["choices"]):
                return False
            continue
        if bool(x.get("log")) != bool(y.get("log")):
            return False
        for key in ("low", "high"):
            if not math.isclose(float(x[key]), float(y[key]), rel_tol=1e-4, abs_tol=1e-12):
                return False
    return True


def relabel_space(frame: Any, lang: str = "en") -> pd.DataFrame:
    """The same rows under the headers of ``lang`` (a language switch)."""
    return pd.DataFrame(frame_rows(frame), columns=space_headers(lang))


def first_values(first: dict | None, space: dict | None) -> dict:
    """The Auto plan's values the first trial trains (LoRA settings only for LoRA)."""
    if not first:
        return {}
    lora = first.get("strategy", "lora") in LORA_KIND
    return {
        k: v
        for k, v in first.items()
        if (space is None or k in space) and (k not in automl.LORA_PARAMS or lora)
    }


def first_html(plan: dict | None, lang: str = "en") -> str:
    """ "Trial 0 is the Auto plan: strategy lora · learning_rate 0.001 · ..." ("" without)."""
    if not plan or not plan.get("first"):
        return ""
    values = first_values(plan["first"], plan.get("space"))
    items = " · ".join(
        f"<code>{html.escape(k)}</code> {html.escape(_fmt(v))}" for k, v in values.items()
    )
    return f'<div class="automl-first">{t("automl.first", lang)} {items}</div>'


def suggest(values: dict, lang: str = "en") -> dict:
    """The default space around the Auto plan of the current base configuration."""
    if not values.get("data"):
        return {"message": box("warning", t("automl.need_data", lang))}
    try:
        space, first = automl.default_space(base_config(values))
    except ENGINE_ERRORS as e:
        return {"message": box("error", error_message(e), t("automl.cannot_suggest", lang))}
    plan = {"space": space, "first": first}
    return {
        "space": space_frame(space, lang),
        "first": first_html(plan, lang),
        "plan": plan,
        "message": "",
    }


def has_rows(frame: Any) -> bool:
    return any(not _blank(r[0]) for r in frame_rows(frame))


# ---- start / stop --------------------------------------------------------------------------------


def search_text(base: RunConfig, frame: Any, lang: str = "en") -> str:
    """The HpoConfig.search_space for the table: "" (the engine's default space, with the Auto
    plan enqueued as trial 0) when the table is empty or still the suggested space, else the
    validated JSON. Raises SearchError with the reason."""
    if not has_rows(frame):
        return ""
    space = automl.parse_space(frame_to_space(frame, lang))
    default, _ = automl.default_space(base)
    if same_space(space, automl.parse_space(default)):
        return ""
    return json.dumps(space)


def start_search(
    store: RunStore,
    jobs: JobManager,
    values: dict,
    search: dict,
    frame: Any,
    lang: str = "en",
    owner: str = "",
) -> dict:
    """Check the base configuration and the space, then submit the search. Returns the
    (message, run_id, timer) updates; a bad input is a message and makes no run folder."""
    title = t("train.cannot_start", lang)
    if not values.get("data"):
        return {"message": box("error", t("automl.need_data", lang), title)}
    try:
        from engine.training.pipeline import preflight

        base = base_config(values)
        base.output_dir = str(store.root)
        store.check_config(base)  # the data and the backbone are the user's to use
        preflight(base)  # data and backbone, before a run folder exists
        text = search_text(base, frame, lang)
        cfg = form_to_config(
            {**values, **search, TABLE_FIELD: text, "output_dir": str(store.root)}, HpoConfig
        )
        store.check_config(cfg)  # a study database of one's own choosing: admins only
        run = jobs.submit(cfg, owner=owner or "")
    except ENGINE_ERRORS as e:
        return {"message": box("error", error_message(e, lang), title)}
    origin = t("automl.origin.plan" if not text else "automl.origin.custom", lang)
    position = queue_position(jobs, run.id) if jobs.active and jobs.active != run.id else None
    msg = (
        t("automl.queued", lang, id=run.id, position=position)
        if position
        else t("automl.started", lang, id=run.id)
    )
    return {
        "message": box("ok", f"{msg} {origin}"),
        "run_id": run.id,
        "timer": gr.Timer(active=True),
    }


def stop_search(
    store: RunStore, jobs: JobManager, run_id: str | None, lang: str = "en", user=None
) -> str:
    """Graceful: the running trial finishes and counts, then no new trial starts (``user``: a
    Viewer or user name; another user's search is refused)."""
    if not run_id:
        return box("warning", t("train.nothing_to_stop", lang))
    try:
        store.get(run_id)  # a run the user may not see does not exist for them
        stopped = jobs.stop(run_id, user)
        status = store.get(run_id).status
    except PermissionError as e:
        return box("warning", error_message(e, lang), t("train.not_yours", lang))
    except KeyError as e:
        return box("error", error_message(e, lang))
    if not stopped:
        return box("warning", t("automl.not_active", lang))
    if status == "stopped":
        return box("ok", t("automl.stopped_queued", lang))
    return box("ok", t("automl.stopping", lang))


# ---- reading a search --------------------------------------------------------------------------

_STUDIES: dict[tuple[str, str], Any] = {}
_STUDIES_LOCK = threading.Lock()


def load_study(storage: str, name: str):
    """The search's Optuna study (None while it does not exist); one object per study, kept."""
    if not storage or not name:
        return None
    key = (storage, name)
    with _STUDIES_LOCK:
        study = _STUDIES.get(key)
    if study is not None:
        return study
    try:
        study = automl.load_study(storage, name)
    except Exception:  # noqa: BLE001 - a missing study / database: the view waits for it
        return None
    with _STUDIES_LOCK:
        if len(_STUDIES) > 16:
            _STUDIES.clear()
        _STUDIES[key] = study
    return study


def _get(store: RunStore, run_id: str | None) -> Run | None:
    if not run_id:
        return None
    try:
        run = store.get(run_id)
    except KeyError:
        return None
    return run if run.kind == "hpo" else None


def search_info(run: Run, events: list[dict]) -> dict:
    """study_name, storage, metric, direction, space (search.json, else the start event)."""
    info = read_json(run.path / "search.json", {}) or {}
    start = last(events, "start") or {}
    return {
        k: info.get(k) or start.get(k)
        for k in ("study_name", "storage", "metric", "direction", "space")
    }


def current_trial(run: Run, events: list[dict]) -> Run | None:
    """This search's trial being trained (the newest trial folder without a ``trial`` event)."""
    folder = run.path / "trials"
    if not folder.is_dir():
        return None
    done = {str(Path(e.get("run_dir", "")).name) for e in events if e.get("event") == "trial"}
    live = sorted(
        p
        for p in folder.iterdir()
        if p.is_dir() and p.name not in done and (p / "config.json").exists()
    )
    return Run(live[-1]) if live else None


def signature(store: RunStore, run_id: str | None) -> str:
    """Changes when the search has something new: ``search part|current trial part``."""
    run = _get(store, run_id)
    if run is None:
        return ""
    path = run.path / "events.jsonl"
    size = path.stat().st_size if path.exists() else 0
    status = run.status
    trial = current_trial(run, run.events("trial")) if status in LIVE_STATUSES else None
    tsize = 0
    if trial is not None and (trial.path / "events.jsonl").exists():
        tsize = (trial.path / "events.jsonl").stat().st_size
    return f"{run_id}:{size}:{status}|{trial.id if trial else ''}:{tsize}"


def _trials(study) -> list:
    if study is None:
        return []
    try:
        return list(study.trials)
    except Exception:  # noqa: BLE001 - the database is busy or gone: show the folder's view
        return []


def _state(trial, run: Run, live: bool) -> str:
    state = trial.state.name.lower()
    if state == "running" and not live:
        folder = trial.user_attrs.get("run_dir", "")
        if folder and Path(folder).resolve().is_relative_to(run.path.resolve()):
            return "interrupted"  # this search's trial, left running by a stopped server
    return state


def trials_frame(
    run: Run | None, study, events: list[dict], metric: str, live: bool, lang: str = "en"
) -> pd.DataFrame:
    """One row per trial of the study: number, state, value, seconds and the settings."""
    head = [
        t("automl.col.trial", lang),
        t("automl.col.state", lang),
        t("automl.col.value", lang, metric=metric) if metric else t("automl.col.value_plain", lang),
        t("automl.col.seconds", lang),
    ]
    rows = []
    trials = _trials(study)
    if trials:
        for tr in trials:
            duration = (
                (tr.datetime_complete - tr.datetime_start).total_seconds()
                if tr.datetime_complete and tr.datetime_start
                else None
            )
            rows.append(
                {
                    head[0]: tr.number,
                    head[1]: t(f"automl.state.{_state(tr, run, live)}", lang),
                    head[2]: _value(tr.value),
                    head[3]: f"{duration:.1f}" if duration is not None else "–",
                    **{k: _fmt(v) for k, v in tr.params.items()},
                }
            )
    else:  # no study to read: the trials this search recorded
        for e in events:
            if e.get("event") != "trial":
                continue
            rows.append(
                {
                    head[0]: e.get("number"),
                    head[1]: t(f"automl.state.{e.get('state', 'fail')}", lang),
                    head[2]: _value(e.get("value")),
                    head[3]: f"{e['seconds']:.1f}"
                    if isinstance(e.get("seconds"), (int, float))
                    else "–",
                    **{k: _fmt(v) for k, v in (e.get("params") or {}).items()},
                }
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=head)
    return frame.fillna("–")


# ---- figures -----------------------------------------------------------------------------------


def _style(fig, title: str):
    fig.update_layout(
        template="plotly_white",
        height=FIG_HEIGHT,
        font={"family": charts.FONT, "size": 12},
        title={"text": title, "x": 0, "font": {"size": 14}},
        margin={"l": 60, "r": 20, "t": 44, "b": 50},
    )
    return fig


def localize(kind: str, fig, metric: str, lang: str = "en"):
    """Optuna's English figure texts in ``lang`` (titles, axes, legend names)."""
    objective = t("automl.col.value", lang, metric=metric or "?")
    if kind == "history":
        names = {
            "Objective Value": objective,
            "Best Value": t("automl.fig.best", lang),
            "Infeasible Trial": t("automl.fig.infeasible", lang),
        }
        for trace in fig.data:
            if trace.name in names:
                trace.name = names[trace.name]
        fig.update_xaxes(title_text=t("automl.col.trial", lang))
        fig.update_yaxes(title_text=objective)
        fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0})
        return _style(fig, t("automl.fig.history", lang))
    if kind == "parallel":  # optuna 5 draws it with scatter traces and tick labels
        ticks = fig.layout.xaxis.ticktext
        if ticks:
            fig.update_xaxes(ticktext=[objective if x == "Objective Value" else x for x in ticks])
        for trace in fig.data:
            for part in ("marker", "line"):
                bar = getattr(getattr(trace, part, None), "colorbar", None)
                if bar is not None and bar.title and bar.title.text == "Objective Value":
                    bar.title.text = objective
            for dim in getattr(trace, "dimensions", None) or ():  # a Parcoords trace
                if dim.label == "Objective Value":
                    dim.label = objective
        return _style(fig, t("automl.fig.parallel", lang))
    for trace in fig.data:
        trace.name = objective
    fig.update_xaxes(title_text=t("automl.fig.importance", lang))
    fig.update_yaxes(title_text=t("automl.col.setting", lang))
    return _style(fig, t("automl.fig.importances", lang))


def figures(study, metric: str, lang: str = "en") -> dict:
    """history / parallel / importances: Optuna's figures in ``lang``, or a placeholder that
    says what they wait for."""
    out = {}
    done = [tr for tr in _trials(study) if tr.state.name == "COMPLETE"]
    made = {}
    if done:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                made = automl.figures(study)
            except Exception:  # noqa: BLE001 - a plot optuna cannot draw: its placeholder
                made = {}
    for kind in FIGURES:
        if kind in made:
            out[kind] = localize(kind, made[kind], metric, lang)
            if kind == "history":  # whole trial numbers on the axis
                out[kind].update_xaxes(tick0=0, dtick=max(1, math.ceil(len(_trials(study)) / 10)))
            continue
        if kind == "history" or not done:
            reason = (
                t("automl.fig.wait_history", lang)
                if kind == "history"
                else t("automl.fig.wait_two", lang)
            )
        elif len(done) < 2:
            reason = t("automl.fig.wait_two", lang)
        else:
            reason = t("automl.fig.no_importances", lang)
        out[kind] = charts.empty_figure(reason, FIG_HEIGHT)
    return out


# ---- the trial picker and its curves -----------------------------------------------------------


def trial_choices(
    study, events: list[dict], run: Run, live: bool, lang: str = "en"
) -> list[tuple[str, str]]:
    """(label, trial run folder) of every trial with a folder, oldest first."""
    out = []
    trials = _trials(study)
    if trials:
        items = [
            (tr.number, _state(tr, run, live), tr.value, tr.user_attrs.get("run_dir"))
            for tr in trials
        ]
    else:
        items = [
            (e.get("number"), e.get("state", ""), e.get("value"), e.get("run_dir"))
            for e in events
            if e.get("event") == "trial"
        ]
    for number, state, value, folder in items:
        if not folder:
            continue
        label = t(
            "automl.pick.item",
            lang,
            number=number,
            state=t(f"automl.state.{state}", lang),
            value=_value(value),
        )
        out.append((label, str(folder)))
    current = current_trial(run, events) if live else None
    if current is not None and str(current.path) not in {v for _, v in out}:
        number = current.id.rsplit("-", 1)[-1].lstrip("0") or "0"
        out.append(
            (
                t(
                    "automl.pick.item",
                    lang,
                    number=number,
                    state=t("automl.state.running", lang),
                    value="–",
                ),
                str(current.path),
            )
        )
    return out


def default_pick(
    choices: list[tuple[str, str]], run: Run, live: bool, study, picked: str | None
) -> str | None:
    values = [v for _, v in choices]
    if picked in values:
        return picked
    if live:
        current = current_trial(run, run.events("trial"))
        if current is not None and str(current.path) in values:
            return str(current.path)
    try:
        best = study.best_trial.user_attrs.get("run_dir") if study is not None else None
    except (ValueError, RuntimeError):
        best = None
    if best in values:
        return best
    return values[-1] if values else None


def trial_curves(store: RunStore, folder: str | None, lang: str = "en"):
    """The loss / validation curves of one trial's run folder (under the runs folder only)."""
    if not folder:
        return charts.empty_figure(t("automl.curves_wait", lang))
    path = Path(folder)
    try:  # a trial folder inside a search the user may see
        inside = path.resolve().is_relative_to(store.root.resolve()) and store.may_read_path(path)
    except OSError:
        inside = False
    if not inside or not (path / "events.jsonl").exists():
        return charts.empty_figure(t("automl.curves_wait", lang))
    return charts.training_figure(Run(path).events(), lang)


# ---- status, best run ----------------------------------------------------------------------------


def _bar(frac: float, text: str, kind: str) -> str:
    width = f"{max(0.0, min(1.0, frac)) * 100:.1f}%"
    return (
        f'<div class="progress progress-{kind}"><div class="progress-track">'
        f'<div class="progress-fill" style="width:{width}"></div></div>'
        f'<div class="progress-text">{html.escape(text)}</div></div>'
    )


def _params(params: dict | None) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in (params or {}).items())


def best_so_far(study, events: list[dict]) -> dict | None:
    """{number, value, params} of the best finished trial (the study's, else the events')."""
    try:
        best = study.best_trial if study is not None else None
    except (ValueError, RuntimeError):
        best = None
    if best is not None:
        return {"number": best.number, "value": best.value, "params": best.params}
    trials = [e for e in events if e.get("event") == "trial"]
    end = trials[-1] if trials else {}
    if end.get("best_number") is None:
        return None
    params = next((e.get("params") for e in trials if e.get("number") == end["best_number"]), {})
    return {"number": end["best_number"], "value": end.get("best_value"), "params": params}


def _elapsed(run: Run) -> float | None:
    info = run.status_info()
    started = info.get("started")
    if not started:
        return None
    end = info.get("finished") if info.get("status") not in LIVE_STATUSES else None
    return (end or time.time()) - started


def status_html(
    run: Run | None,
    events: list[dict],
    study,
    info: dict,
    lang: str = "en",
    position: int | None = None,
) -> str:
    """Name and status; trial k of N with the current trial's step; the best so far with its
    settings; the elapsed time; the engine's reason when the search failed."""
    if run is None:
        return box("info", t("automl.no_search", lang))
    status = run.status
    cfg = run.config_dict()
    n = int(cfg.get("trials") or 0)
    metric, direction = info.get("metric") or "", info.get("direction") or ""
    what = [cfg.get("backbone", "?")]
    if metric:
        what.append(t(f"automl.dir.{direction}", lang, metric=metric) if direction else metric)
    out = (
        f'<div class="run-status status-{html.escape(status)}"><span class="dot"></span>'
        f"<strong>{html.escape(cfg.get('run_name') or run.id)}</strong> · "
        f'{html.escape(status_text(status, lang))} <span class="muted">'
        f"({html.escape(' · '.join(what))})</span></div>"
    )
    done = [e for e in events if e.get("event") == "trial"]
    parts: list[str] = []
    best = best_so_far(study, events)
    elapsed = _elapsed(run)
    if status == "queued":
        out += _bar(0, t("automl.status.queued", lang, position=position or "?"), "queued")
    elif status in ("running", "stopping"):
        if last(events, "start") is None:
            parts.append(t("automl.status.preparing", lang))
        else:
            k = min(len(done) + 1, n) if n else len(done) + 1
            parts.append(t("automl.status.trial", lang, k=k, n=n or "?"))
            trial = current_trial(run, events)
            log = last(trial.events(), "log") if trial is not None else None
            if log and log.get("step") is not None:
                total = log.get("max_steps") or (last(trial.events(), "start") or {}).get(
                    "max_steps"
                )
                parts.append(t("automl.status.step", lang, step=log["step"], total=total or "?"))
        if status == "stopping":
            parts.append(t("automl.status.stopping", lang))
        if elapsed is not None:
            parts.append(t("automl.status.elapsed", lang, time=human_duration(elapsed)))
        timeout = cfg.get("timeout_minutes") or 0
        if timeout:
            parts.append(t("automl.status.budget", lang, minutes=_fmt(float(timeout))))
        out += _bar(len(done) / n if n else 0, " · ".join(parts), "busy")
    elif status in ("completed", "stopped", "failed", "interrupted"):
        m = run.metrics()
        states = [e.get("state") for e in done]
        count = m.get("n_trials") if m else None
        count = count if count is not None else len(done)
        parts.append(
            t(
                "automl.status.done" if count != 1 else "automl.status.done_one",
                lang,
                n=count,
                complete=m.get("complete", states.count("complete")),
                pruned=m.get("pruned", states.count("pruned")),
                failed=m.get("failed", states.count("fail")),
            )
        )
        if elapsed is not None:
            parts.append(t("automl.status.took", lang, time=human_duration(elapsed)))
        out += _bar(
            1.0, " · ".join(parts), {"completed": "done", "failed": "failed"}.get(status, "stopped")
        )
    finished = status not in LIVE_STATUSES and run.metrics().get("best_value") is not None
    if (
        best is not None and best.get("value") is not None and status != "failed" and not finished
    ):  # (a finished search shows its best run below instead)
        out += (
            '<div class="automl-best-line">'
            + html.escape(
                t(
                    "automl.status.best",
                    lang,
                    metric=metric or "?",
                    value=_value(best["value"]),
                    number=best["number"],
                )
            )
            + (
                f' <span class="muted">({html.escape(_params(best.get("params")))})</span>'
                if best.get("params")
                else ""
            )
            + "</div>"
        )
    if status == "failed":
        end = last(events, "end") or {}
        error = run.status_info().get("error") or end.get("error") or "?"
        out += box("error", error, t("train.failed", lang))
    elif status == "interrupted":
        out += box("warning", t("automl.interrupted", lang, study=info.get("study_name") or run.id))
    return out


def best_run(store: RunStore, run: Run | None) -> Run | None:
    """The promoted best trial (``<id>-best``, a normal run in the runs folder) with a model."""
    if run is None:
        return None
    folder = run.metrics().get("best_run_dir") or ""
    if not folder:
        return None
    name = Path(folder).name
    try:
        best = store.get(name)
    except KeyError:
        return None
    return best if best.has_model else None


def best_html(store: RunStore, run: Run | None, lang: str = "en") -> str:
    """A finished search: the best trial, its value and settings, its test scores, its run."""
    if run is None or run.status in LIVE_STATUSES:
        return ""
    m = run.metrics()
    if not m:
        return ""
    if m.get("best_value") is None:
        return box("warning", t("automl.no_complete", lang))
    metric = m.get("metric", "?")
    lines = [
        t(
            "automl.best",
            lang,
            number=m.get("best_number"),
            metric=metric,
            value=_value(m.get("best_value")),
        )
    ]
    if m.get("best_params"):
        lines.append(t("automl.best_params", lang, params=_params(m["best_params"])))
    test = {
        k: v
        for k, v in (m.get("best_test") or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("n",)
    }
    if test:
        from ui.task_views import METRIC_NAMES

        scores = " · ".join(
            f"{t(METRIC_NAMES[k], lang) if k in METRIC_NAMES else k} {fmt_score(v)}"
            for k, v in test.items()
        )
        lines.append(t("automl.best_test", lang, scores=scores))
    best = best_run(store, run)
    if best is not None:
        lines.append(t("automl.best_saved", lang, id=best.id))
    head, rest = lines[0], lines[1:]
    return (
        f'<div class="msg msg-ok automl-best-box"><strong>{html.escape(head)}</strong>'
        + "".join(f"<div>{html.escape(x)}</div>" for x in rest)
        + "</div>"
    )


# ---- the whole live view -----------------------------------------------------------------------


def render(
    store: RunStore,
    jobs: JobManager,
    run_id: str | None,
    lang: str = "en",
    picked: str | None = None,
    trial_only: bool = False,
) -> dict:
    """Every output of the live view (``LIVE_OUTPUTS``) for the search ``run_id``;
    ``trial_only``: just the status line and the picked trial's curves (a step of a trial)."""
    run = _get(store, run_id)
    if run is None:
        return {
            "status": status_html(None, [], None, {}, lang),
            "table": trials_frame(None, None, [], "", False, lang),
            **{
                k: charts.empty_figure(
                    t("automl.fig.wait_history" if k == "history" else "automl.fig.wait_two", lang),
                    FIG_HEIGHT,
                )
                for k in FIGURES
            },
            "pick": gr.update(choices=[], value=None),
            "curves": charts.empty_figure(t("automl.curves_wait", lang)),
            "best": "",
            "open_best": gr.update(visible=False),
        }
    events = run.events()
    status = run.status
    live = status in LIVE_STATUSES or jobs.is_live(run.id)
    info = search_info(run, events)
    study = load_study(info.get("storage") or "", info.get("study_name") or "")
    out = {"status": status_html(run, events, study, info, lang, queue_position(jobs, run.id))}
    choices = trial_choices(study, events, run, live, lang)
    pick = default_pick(choices, run, live, study, picked)
    out["curves"] = trial_curves(store, pick, lang)
    if trial_only:
        return out
    out["table"] = trials_frame(run, study, events, info.get("metric") or "", live, lang)
    out.update(figures(study, info.get("metric") or "", lang))
    out["pick"] = gr.update(choices=choices, value=pick)
    out["best"] = best_html(store, run, lang)
    out["open_best"] = gr.update(visible=not live and best_run(store, run) is not None)
    return out


def attach(store: RunStore, jobs: JobManager, lang: str = "en") -> dict:
    """A page load (or a server restart): the active search, else the newest one on disk."""
    rid = pick_run_to_show(store, jobs, kind="hpo")
    run = _get(store, rid)
    live = run is not None and (run.status in LIVE_STATUSES or jobs.is_live(run.id))
    return {
        "run_id": rid,
        "timer": gr.Timer(active=live),
        **render(store, jobs, rid, lang),
        "sig": signature(store, rid),
    }


def open_best(store: RunStore, run_id: str | None, lang: str = "en") -> dict:
    """The best run in the Evaluate tab: (tabs, eval run picker, message)."""
    best = best_run(store, _get(store, run_id))
    if best is None:
        return {"message": box("warning", t("automl.no_best", lang))}
    from ui.evaluate_tab import finished_runs

    return {
        "tabs": gr.Tabs(selected="evaluate"),
        "eval_run": gr.update(choices=finished_runs(store, lang), value=best.id),
        "message": "",
    }


# ---- the tab ----------------------------------------------------------------------------------


def build(ctx: Context) -> None:
    tr, store, jobs = ctx.tr, ctx.store, ctx.jobs
    names = search_field_names()
    comps: dict[str, Any] = {}
    tr.make(gr.Markdown, value=T("automl.intro"), elem_classes=["tab-intro"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, elem_classes=["settings-col"]):
            base_md = gr.HTML(
                box("warning", t("automl.need_data", tr.lang)), elem_id="automl-base", padding=False
            )
            basic = [
                f for f in config_fields("search", advanced=False, cls=HpoConfig) if f.name in names
            ]
            numeric = [f for f in basic if f.type in ("int", "float", int, float)]
            with gr.Row():
                for f in numeric:
                    comps[f.name] = field_widget(f, tr, AUTOML, min_width=150)
            with gr.Row():
                for f in basic:
                    if f.name not in comps:
                        comps[f.name] = field_widget(f, tr, AUTOML, min_width=150)
            with tr.make(
                gr.Accordion, label=T("automl.advanced"), open=False, elem_id="automl-advanced"
            ):
                for f in config_fields("search", advanced=True, cls=HpoConfig):
                    if f.name in names:
                        comps[f.name] = field_widget(f, tr, AUTOML)
        with gr.Column(scale=6, elem_classes=["live-col"]):
            with gr.Row():
                start = tr.make(
                    gr.Button,
                    value=T("automl.start"),
                    variant="primary",
                    elem_id="automl-start",
                    scale=3,
                )
                stop = tr.make(
                    gr.Button,
                    value=T("automl.stop"),
                    variant="stop",
                    elem_id="automl-stop",
                    scale=1,
                    min_width=140,
                )
            message = gr.HTML("", elem_id="automl-message", padding=False)
            status = gr.HTML(
                box("info", t("automl.no_search", tr.lang)), elem_id="automl-status", padding=False
            )
            best = gr.HTML("", elem_id="automl-best", padding=False)
            open_btn = tr.make(
                gr.Button,
                value=T("automl.open_best"),
                variant="primary",
                visible=False,
                elem_id="automl-open-best",
            )

    # the search space: wide enough for its seven columns
    tr.make(gr.Markdown, value=T("automl.space_title"), elem_classes=["section-title"])
    with gr.Row(equal_height=True):
        tr.make(gr.Markdown, value=T("automl.space_hint"), elem_classes=["hint"])
        suggest_btn = tr.make(
            gr.Button,
            value=T("automl.suggest"),
            variant="secondary",
            elem_id="automl-suggest",
            scale=0,
            min_width=260,
        )
    space = tr.make(
        gr.Dataframe,
        label=T("automl.space"),
        value=space_frame({}, tr.lang),
        datatype=SPACE_TYPES,
        interactive=True,
        wrap=True,
        max_height=640,
        elem_id="automl-space",
    )
    first_md = gr.HTML("", elem_id="automl-first", padding=False)

    # how the search went
    tr.make(gr.Markdown, value=T("automl.charts_title"), elem_classes=["section-title"])
    table = tr.make(
        gr.Dataframe,
        label=T("automl.table"),
        value=trials_frame(None, None, [], "", False, tr.lang),
        interactive=False,
        max_height=400,
        elem_id="automl-table",
    )
    with gr.Row(equal_height=False):
        history = gr.Plot(
            charts.empty_figure(t("automl.fig.wait_history", tr.lang), FIG_HEIGHT),
            show_label=False,
            elem_id="automl-history",
        )
        importances = gr.Plot(
            charts.empty_figure(t("automl.fig.wait_two", tr.lang), FIG_HEIGHT),
            show_label=False,
            elem_id="automl-importances",
        )
    parallel = gr.Plot(
        charts.empty_figure(t("automl.fig.wait_two", tr.lang), FIG_HEIGHT),
        show_label=False,
        elem_id="automl-parallel",
    )
    with gr.Row(equal_height=False):
        pick = tr.make(
            gr.Dropdown,
            label=T("automl.pick"),
            info=T("automl.pick.help"),
            choices=[],
            value=None,
            elem_id="automl-trial-pick",
            scale=1,
            min_width=240,
        )
        curves = gr.Plot(
            charts.empty_figure(t("automl.curves_wait", tr.lang)),
            show_label=False,
            elem_id="automl-trial-curves",
            scale=3,
        )

    missing = [n for n in names if n not in comps]
    assert not missing, f"AutoML tab: no widget for {missing}"
    search = [comps[n] for n in names]
    run_id = gr.State(None)
    plan = gr.State(None)
    sig = gr.State("")
    timer = gr.Timer(POLL_SECONDS, active=False)
    panel = {
        "status": status,
        "table": table,
        "history": history,
        "parallel": parallel,
        "importances": importances,
        "pick": pick,
        "curves": curves,
        "best": best,
        "open_best": open_btn,
    }
    panel_out = [panel[k] for k in LIVE_OUTPUTS]
    ctx.c.update(
        automl_fields=comps,
        automl_run_id=run_id,
        automl_timer=timer,
        automl_space=space,
        automl_panel=panel,
    )

    # ---- callbacks (closures over ctx) ---------------------------------------------------
    def train_values(args) -> dict:
        return values_from(ctx.field_names(), args)

    def show(rid, lang, picked):
        return (
            *_as_outputs(render(store, jobs, rid, lang, picked), LIVE_OUTPUTS),
            signature(store, rid),
        )

    def tick(rid, lang, picked, last_sig):
        new_sig = signature(store, rid)
        live = bool(rid) and (
            jobs.is_live(rid) or new_sig.split("|")[0].rsplit(":", 1)[-1] in LIVE_STATUSES
        )
        timer_update = gr.Timer(active=live)
        if new_sig == last_sig:
            return (*[gr.skip()] * len(LIVE_OUTPUTS), new_sig, timer_update)
        trial_only = new_sig.split("|")[0] == last_sig.split("|")[0]
        res = render(store, jobs, rid, lang, picked, trial_only=trial_only)
        return (*_as_outputs(res, LIVE_OUTPUTS), new_sig, timer_update)

    def attach_cb(lang):
        res = attach(store, jobs, lang)
        return _as_outputs(res, ["run_id", "timer", *LIVE_OUTPUTS, "sig"])

    def on_select(lang, frame, *args):
        """Opening the tab: the base line again; the suggested space on the first visit."""
        values = train_values(args)
        line = base_line(values, lang)
        if has_rows(frame) or not values.get("data"):
            return line, gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return (line, *_as_outputs(suggest(values, lang), SUGGEST_OUTPUTS))

    def suggest_cb(lang, *args):
        return _as_outputs(suggest(train_values(args), lang), SUGGEST_OUTPUTS)

    def start_cb(lang, frame, request: gr.Request, *args):
        search_values = dict(zip(names, args[: len(names)]))
        res = start_search(
            store,
            jobs,
            train_values(args[len(names) :]),
            search_values,
            frame,
            lang,
            owner=ctx.user(request) or "",
        )
        return _as_outputs(res, START_OUTPUTS)

    def stop_cb(rid, lang, request: gr.Request = None):
        return stop_search(store, jobs, rid, lang, ctx.viewer(request))

    def pick_cb(rid, folder, lang):
        run = _get(store, rid)
        allowed = (
            {
                v
                for _, v in trial_choices(
                    load_study(*_study_key(run)), run.events(), run, True, lang
                )
            }
            if run
            else set()
        )
        return trial_curves(store, folder if folder in allowed else None, lang)

    def open_cb(rid, lang):
        return _as_outputs(open_best(store, rid, lang), ["tabs", "eval_run", "message"])

    def base_cb(lang, *args):
        return base_line(train_values(args), lang)

    ctx.fn.update(
        automl_attach=attach_cb,
        automl_start=start_cb,
        automl_stop=stop_cb,
        automl_tick=tick,
        automl_suggest=suggest_cb,
        automl_open_best=open_cb,
    )

    def wire() -> None:
        lang = ctx.lang
        form = ctx.field_components()
        redraw = ([run_id, lang, pick], [*panel_out, sig])
        ctx.c["automl_tab"].select(
            on_select,
            [lang, space, *form],
            [base_md, space, first_md, plan, message],
            show_progress="hidden",
        )
        suggest_btn.click(suggest_cb, [lang, *form], [space, first_md, plan, message])
        start.click(start_cb, [lang, space, *search, *form], [message, run_id, timer]).then(
            show, *redraw, show_progress="hidden"
        )
        stop.click(stop_cb, [run_id, lang], message).then(show, *redraw, show_progress="hidden")
        timer.tick(
            tick, [run_id, lang, pick, sig], [*panel_out, sig, timer], show_progress="hidden"
        )
        pick.input(pick_cb, [run_id, pick, lang], curves, show_progress="hidden")
        open_btn.click(open_cb, [run_id, lang], [ctx.tabs, ctx.c["eval_run"], message])
        ctx.on_lang.append((show, *redraw))
        ctx.on_lang.append((base_cb, [lang, *form], base_md))
        ctx.on_lang.append((relabel_space, [space, lang], space))
        ctx.on_lang.append((first_html, [plan, lang], first_md))
        ctx.on_load.append((attach_cb, lang, [run_id, timer, *panel_out, sig]))

    ctx.deferred.append(wire)


def _study_key(run: Run | None) -> tuple[str, str]:
    if run is None:
        return "", ""
    info = search_info(run, run.events())
    return info.get("storage") or "", info.get("study_name") or ""


__all__ = [
    "build",
    "search_field_names",
    "base_config",
    "base_line",
    "space_frame",
    "frame_to_space",
    "same_space",
    "relabel_space",
    "first_html",
    "suggest",
    "search_text",
    "start_search",
    "stop_search",
    "render",
    "attach",
    "open_best",
    "signature",
    "trials_frame",
    "figures",
    "trial_curves",
    "AUTOML",
    "LIVE_OUTPUTS",
]
