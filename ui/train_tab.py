"""Train tab: the run form (generated from RunConfig), start / stop / resume, live progress, and
the job queue (who is training, who waits; cancel your own).

With ``--auth`` every callback that starts, stops, cancels or resumes a run acts as the signed-in
user (``request.username``): the engine refuses to let one user stop another's run, and the
refusal is shown as a warning box, not an error toast."""

from __future__ import annotations

import html
import tempfile
import time
from pathlib import Path

import gradio as gr

from engine.backbones import CATALOGUE, backbone_info
from engine.config import RunConfig, config_fields
from engine.jobs import JobManager
from engine.runs import Run, RunStore, Viewer, as_viewer, may_write
from engine.strategies import STRATEGIES
from engine.estimate import estimate_before_start
from engine.training.pipeline import preflight

from ui import charts
from ui.common import (
    ENGINE_ERRORS,
    LIVE_STATUSES,
    Context,
    box,
    error_message,
    fmt_score,
    human_duration,
    human_number,
    owner_text,
    params_line,
    run_label,
    status_text,
)
from ui.form import (
    STATE_FIELDS,
    config_to_form,
    field_widget,
    form_fields,
    form_to_config,
    strategy_only,
    task_only,
    values_from,
    visible_for,
)
from ui.i18n import T, t

LOG_LINES = 15
SPECIAL = {"backbone", "strategy"}  # fields with a richer widget than the generic one


# ---- pure helpers (unit-tested) ---------------------------------------------------------------


def backbone_choices(lang: str, root=None) -> list[tuple[str, str]]:
    """The catalogue (bundled first), then the adapted backbones of the finished pre-training
    runs under ``root`` (a runs folder or a store view: the Adapt tab's output)."""
    items = sorted(CATALOGUE.values(), key=lambda b: (not b.bundled, b.params_m, b.name))
    out = [
        (f"{b.name} · {t('train.bundled', lang)}" if b.bundled else b.name, b.name) for b in items
    ]
    return out + (adapted_choices(root, lang) if root is not None else [])


def _ppl(value) -> str:
    return f"{value:.1f}" if isinstance(value, (int, float)) else "?"


def adapted_choices(root, lang: str = "en") -> list[tuple[str, str]]:
    """(label, "run:/abs/folder") for every adapted backbone under ``root``, newest first; the
    label starts with "run:<run id>" so the picked value is recognisable in the box."""
    from engine.adaptive import adapted_runs
    from engine.runs import read_json

    try:
        runs = adapted_runs(root)
    except (OSError, ValueError, TypeError):  # a half-written run folder: list it next time
        return []
    out = []
    for _, value in runs:
        folder = Path(value[len("run:") :])
        meta = read_json(folder / "model" / "adapted.json", {}) or {}
        kind = t(f"adapt.kind.{meta.get('perplexity_kind') or 'perplexity'}", lang)
        out.append(
            (
                f"run:{folder.name} · "
                + t(
                    "train.adapted_choice",
                    lang,
                    base=meta.get("base_backbone", "?"),
                    kind=kind,
                    before=_ppl(meta.get("perplexity_before")),
                    after=_ppl(meta.get("perplexity_after")),
                ),
                value,
            )
        )
    return out


def adapted_text(name: str, lang: str = "en") -> str | None:
    """What an adapted backbone ("run:FOLDER") is, from its adapted.json; None when ``name`` is
    not one; the engine's one-line reason when it says run: but is no finished run."""
    from engine.backbones import BackboneError, adapted_model_folder
    from engine.runs import read_json

    try:
        folder = adapted_model_folder(name)
    except BackboneError as e:
        return box("warning", error_message(e))
    if folder is None:
        return None
    meta = read_json(folder / "adapted.json", {}) or {}
    kind = t(f"adapt.kind.{meta.get('perplexity_kind') or 'perplexity'}", lang)
    return t(
        "train.backbone_adapted",
        lang,
        description=backbone_info(name).description,
        base=meta.get("base_backbone", "?"),
        data=meta.get("data", "?"),
        kind=kind,
        before=_ppl(meta.get("perplexity_before")),
        after=_ppl(meta.get("perplexity_after")),
    )


def backbone_text(name: str | None, lang: str = "en") -> str:
    if not name:
        return t("train.backbone_none", lang)
    if name not in CATALOGUE:
        adapted = adapted_text(name, lang)
        if adapted is not None:
            return adapted
    info = backbone_info(name)
    desc = (
        t(f"backbone.{info.name}", lang)
        if info.name in CATALOGUE
        else (
            t("train.backbone_local", lang, name=name)
            if Path(name).expanduser().is_dir()
            else t("train.backbone_hub", lang, name=name)
        )
    )
    return desc


def strategy_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(f"strategy.{name}.name", lang), name) for name in STRATEGIES]


def strategy_text(strategy: str | None, lang: str = "en") -> str:
    if strategy not in STRATEGIES:
        return ""
    lr = STRATEGIES[strategy].default_lr
    return f"{t(f'strategy.{strategy}', lang)} {t('train.default_lr', lang, lr=f'{lr:g}')}"


def data_line(
    path: str | None, text_column: str | None, label_column: str | None, lang: str = "en"
) -> str:
    """Which data the Start button will use (set in the Data tab)."""
    if not path:
        return box("warning", t("train.data_none", lang))
    return t(
        "train.data", lang, name=Path(path).name, text=text_column or "?", label=label_column or "?"
    )


def last(events: list[dict], kind: str) -> dict | None:
    for e in reversed(events):
        if e.get("event") == kind:
            return e
    return None


def queue_position(jobs: JobManager, run_id: str) -> int | None:
    """1, 2, ... for a waiting run (the queue the Train tab shows); None when it is not waiting."""
    for entry in jobs.queue_view():
        if entry["run_id"] == run_id and entry["position"] > 0:
            return entry["position"]
    return None


# ---- the visible queue ----------------------------------------------------------------------


def queue_html(jobs: JobManager, user: Viewer | str | None, lang: str = "en") -> str:
    """The running job and the waiting ones: position, run name, owner ("you"), status (another
    user's job the viewer may not see: its place only)."""
    viewer = as_viewer(user)
    user = viewer.user
    entries = jobs.queue_view(viewer)
    if not entries:
        return f'<div class="queue-empty">{html.escape(t("queue.empty", lang))}</div>'
    head = "".join(
        f"<th>{html.escape(t('queue.col.' + c, lang))}</th>"
        for c in ("position", "name", "owner", "status")
    )
    rows = []
    for e in entries:
        position = t("queue.now", lang) if e["position"] == 0 else str(e["position"])
        mine = bool(user) and e["owner"] == user
        name = t("queue.hidden", lang) if e["hidden"] else e["name"]
        cells = [position, name, owner_text(e["owner"], user, lang), status_text(e["status"], lang)]
        rows.append(
            f'<tr class="queue-{"mine" if mine else "other"}" '
            f'data-run="{html.escape(e["run_id"])}">'
            + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
            + "</tr>"
        )
    return (
        f'<table class="queue-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def queue_choices(
    jobs: JobManager, user: Viewer | str | None, lang: str = "en"
) -> list[tuple[str, str]]:
    """(label, run id) of every job in the queue the user may see, for the Cancel picker (the
    engine refuses another user's)."""
    viewer = as_viewer(user)
    user = viewer.user
    out = []
    for e in jobs.queue_view(viewer):
        if e["hidden"]:
            continue
        where = (
            t("queue.now", lang)
            if e["position"] == 0
            else t("queue.position", lang, position=e["position"])
        )
        out.append((f"{e['name']} · {where} · {owner_text(e['owner'], user, lang)}", e["run_id"]))
    return out


def queue_signature(jobs: JobManager, user: Viewer | str | None) -> str:
    viewer = as_viewer(user)
    return f"{viewer.user}|" + "|".join(
        f"{e['run_id']}:{e['position']}:{e['status']}" for e in jobs.queue_view(viewer)
    )


def queue_updates(
    jobs: JobManager,
    user: Viewer | str | None,
    lang: str,
    current: str | None = None,
    last_sig: str | None = None,
) -> tuple:
    """(table, picker, picker row, signature) for the queue box; skips when nothing changed.
    The picker and its Cancel button show only while the queue holds a job."""
    sig = queue_signature(jobs, user) + f"|{lang}"
    if last_sig is not None and sig == last_sig:
        return gr.skip(), gr.skip(), gr.skip(), sig
    choices = queue_choices(jobs, user, lang)
    ids = [v for _, v in choices]
    return (
        queue_html(jobs, user, lang),
        gr.update(choices=choices, value=current if current in ids else None),
        gr.update(visible=bool(choices)),
        sig,
    )


def cancel_job(
    jobs: JobManager,
    store: RunStore,
    run_id: str | None,
    user: Viewer | str | None,
    lang: str = "en",
) -> str:
    """Cancel a waiting job (it never starts) or stop a running one, as ``user``; a job of
    someone else is refused with the engine's message."""
    if not run_id:
        return box("warning", t("queue.pick_none", lang))
    try:
        run = store.get(run_id)
        name = run.config_dict().get("run_name") or run.id
        was = run.status
        # a job cancelled while queued stays in the engine's queue until the worker reaches it
        stopped = jobs.stop(run_id, user=user) and was in LIVE_STATUSES
    except PermissionError as e:
        return box("warning", error_message(e, lang), t("train.not_yours", lang))
    except KeyError as e:
        return box("error", error_message(e, lang))
    if not stopped:
        return box("warning", t("train.not_active", lang))
    if was == "queued":
        return box("ok", t("queue.cancelled", lang, name=name))
    return box("ok", t("train.stopping", lang))


# ---- resume ---------------------------------------------------------------------------------


def resume_step(jobs: JobManager, run: Run | None) -> int | None:
    """The step a run would resume from (engine.jobs.JobManager.resume_point: an interrupted,
    failed or stopped training or adaptation run with a complete checkpoint, not queued again
    already); None when it cannot resume."""
    if run is None:
        return None
    try:
        checkpoint = jobs.resume_point(run)
    except (ValueError, OSError):
        return None
    step = checkpoint.name.rpartition("-")[2]
    return int(step) if step.isdigit() else None


def resume_button(
    store: RunStore,
    jobs: JobManager,
    run_id: str | None,
    user: Viewer | str | None,
    lang: str = "en",
):
    """The "Resume from step N" button: shown for a run the user may resume."""
    run = None
    if run_id:
        try:
            run = store.get(run_id)
        except KeyError:
            run = None
    step = resume_step(jobs, run)
    if step is None or not may_write(run, user):
        return gr.update(visible=False)
    return gr.update(visible=True, value=t("train.resume", lang, step=step))


def resume_job(
    jobs: JobManager,
    store: RunStore,
    run_id: str | None,
    user: Viewer | str | None,
    lang: str = "en",
) -> tuple[str, bool]:
    """Queue a run again from its last checkpoint: (message, resumed?)."""
    if not run_id:
        return box("warning", t("runs.pick_one", lang)), False
    try:
        store.get(run_id)  # a run the user may not see does not exist for them
        run = jobs.resume(run_id, user=user)
    except PermissionError as e:
        return box("warning", error_message(e, lang), t("train.not_yours", lang)), False
    except ENGINE_ERRORS as e:
        return box("warning", error_message(e, lang), t("train.cannot_resume", lang)), False
    resumes = run.events("resume")
    step = resumes[-1].get("from_step", "?") if resumes else "?"
    position = queue_position(jobs, run.id)
    text = t("train.resuming", lang, id=run.id, step=step)
    if position:
        text += " " + t("train.queued_msg", lang, id=run.id, position=position)
    return box("ok", text), True


def progress_html(
    run: Run | None, events: list[dict], status: str, lang: str, position: int | None = None
) -> str:
    if run is None:
        return ""
    log = last(events, "log")
    start = last(events, "start")
    if status == "queued":
        text = t("train.queued", lang, position=position or "?")
        return _bar(0, text, "queued")
    if log is None:
        if status in ("running", "stopping"):
            return _bar(0, t("train.preparing", lang), "busy")
        if status == "completed":
            return _bar(1, t("status.completed", lang), "done")
        return ""
    total = log.get("max_steps") or (start or {}).get("max_steps") or 1
    step = max(e.get("step") or 0 for e in events if e.get("event") in ("log", "eval"))
    frac = 1.0 if status == "completed" else min(1.0, step / max(total, 1))
    parts = [t("train.step", lang, step=step, total=total), f"{frac:.0%}"]
    if status in ("running", "stopping") and log.get("eta_seconds") is not None:
        parts.append(t("train.eta", lang, eta=human_duration(log["eta_seconds"])))
    if log.get("samples_per_second"):
        parts.append(t("train.speed", lang, speed=f"{log['samples_per_second']:.1f}"))
    if log.get("epoch") is not None:
        parts.append(t("train.epoch", lang, epoch=f"{log['epoch']:.2f}"))
    kind = {
        "completed": "done",
        "failed": "failed",
        "stopped": "stopped",
        "interrupted": "stopped",
    }.get(status, "busy")
    return _bar(frac, " · ".join(parts), kind)


def _bar(frac: float, text: str, kind: str) -> str:
    width = f"{max(0.0, min(1.0, frac)) * 100:.1f}%"
    return (
        f'<div class="progress progress-{kind}"><div class="progress-track">'
        f'<div class="progress-fill" style="width:{width}"></div></div>'
        f'<div class="progress-text">{html.escape(text)}</div></div>'
    )


def log_lines(events: list[dict], lang: str, limit: int = LOG_LINES) -> str:
    lines = []
    for e in events:
        kind = e.get("event")
        stamp = time.strftime("%H:%M:%S", time.localtime(e.get("time", 0)))
        level = "info"
        if kind == "start":
            text = t(
                "log.start",
                lang,
                device=e.get("device", "?"),
                rows=e.get("train_rows", "?"),
                steps=e.get("max_steps", "?"),
            )
        elif kind == "eval":
            text = t(
                "log.eval",
                lang,
                step=e.get("step", "?"),
                loss=fmt_score(e.get("eval_loss")),
                accuracy=fmt_score(e.get("eval_accuracy")),
                f1=fmt_score(e.get("eval_macro_f1")),
            )
        elif kind == "message":
            text, level = str(e.get("text", "")), e.get("level", "info")
        elif kind == "end":
            status = e.get("status", "")
            text = t("log.end", lang, status=status_text(status, lang))
            if e.get("error"):
                text += f" — {e['error']}"
            level = "error" if status == "failed" else "info"
        else:
            continue
        lines.append(
            f'<div class="log-line log-{html.escape(level)}"><span class="log-time">'
            f"{stamp}</span> {html.escape(text)}</div>"
        )
    if not lines:
        return ""
    return '<div class="run-log">' + "".join(lines[-limit:]) + "</div>"


def status_html(run: Run | None, events: list[dict], status: str, lang: str) -> str:
    if run is None:
        return box("info", t("train.no_run", lang))
    cfg = run.config_dict()
    name = cfg.get("run_name") or run.id
    strategy = cfg.get("strategy", "?")
    if strategy in STRATEGIES:
        strategy = t(f"strategy.{strategy}.name", lang)
    what = f"{cfg.get('backbone', '?')} · {strategy}"
    head = (
        f'<div class="run-status status-{html.escape(status)}"><span class="dot"></span>'
        f"<strong>{html.escape(name)}</strong> · {html.escape(status_text(status, lang))}"
        f' <span class="muted">({html.escape(what)})</span></div>'
    )
    end = last(events, "end") or {}
    if status == "failed":
        error = run.status_info().get("error") or end.get("error") or "?"
        head += box("error", error, t("train.failed", lang))
    elif status in ("completed", "stopped"):
        metrics = run.metrics()
        test = metrics.get("test") or end.get("test") or {}
        task = cfg.get("task") or "classification"
        if test and task == "classification":
            head += box(
                "ok",
                t(
                    "train.done",
                    lang,
                    accuracy=fmt_score(test.get("accuracy")),
                    f1=fmt_score(test.get("macro_f1")),
                ),
            )
        elif test:
            from engine.tasks import MAIN_METRIC
            from ui.task_views import METRIC_NAMES, fmt

            key = MAIN_METRIC.get(task, "f1")
            before = (metrics.get("before") or {}).get(key)
            metric = t(METRIC_NAMES[key], lang) if key in METRIC_NAMES else key
            head += box(
                "ok",
                t("train.done_task", lang, metric=metric, value=fmt(test.get(key)))
                + (
                    " " + t("train.done_before", lang, before=fmt(before))
                    if isinstance(before, (int, float))
                    else ""
                ),
            )
    elif status == "interrupted":
        can_resume = (
            run.last_checkpoint() is not None
            and (cfg.get("task") or "classification") == "classification"
        )
        head += box(
            "warning", t("train.interrupted_resume" if can_resume else "train.interrupted", lang)
        )
    return head


def render_run(
    store: RunStore,
    jobs: JobManager,
    run_id: str | None,
    lang: str = "en",
    default_device: str = "",
) -> tuple:
    """(status, progress, parameters, device, chart, log) for the Train tab."""
    run = None
    if run_id:
        try:
            run = store.get(run_id)
        except KeyError:
            run = None
    if run is None:
        return (
            status_html(None, [], "", lang),
            "",
            "",
            t("train.device", lang, device=default_device) if default_device else "",
            charts.empty_figure(t("chart.waiting", lang)),
            "",
        )
    events = run.events()
    status = run.status
    start = last(events, "start") or {}
    params = params_line(start.get("parameters"), lang)
    if params:
        params = f"**{params}**"
    device = start.get("device") or default_device
    return (
        status_html(run, events, status, lang),
        progress_html(run, events, status, lang, queue_position(jobs, run.id)),
        params,
        t("train.device", lang, device=device) if device else "",
        charts.training_figure(events, lang),
        log_lines(events, lang),
    )


def unsupported_reason(cfg: RunConfig) -> str | None:
    """The engine's one-line reason why this strategy cannot train this backbone, if any."""
    from engine.backbones import BackboneError
    from engine.training.pipeline import check_support

    try:
        check_support(cfg, download=False)  # a preview never downloads a model
    except BackboneError:
        return None  # not available locally: Start explains it
    except ENGINE_ERRORS as e:
        return error_message(e)
    return None


def preview_text(
    backbone: str | None,
    strategy: str | None,
    lora_r,
    lang: str = "en",
    batch_size=None,
    max_length=None,
    task: str | None = None,
) -> str:
    """Trainable / total parameters of the chosen pair, peak memory at the form's batch size
    and length, and the saved size, shown before Start."""
    from engine.training.pipeline import resolve_task_strategy

    d = RunConfig()
    try:
        cfg = RunConfig(
            backbone=backbone or d.backbone,
            strategy=strategy or d.strategy,
            lora_r=int(lora_r or d.lora_r),
            batch_size=int(batch_size or d.batch_size),
            max_length=int(max_length or d.max_length),
            task=task or d.task,
        )
        if cfg.strategy == "auto":
            if cfg.task == "classification":
                return ""  # the plan below shows the planned strategy's parameters
            cfg = resolve_task_strategy(cfg)
        reason = unsupported_reason(cfg)
        if reason:
            return box("warning", reason, t("train.unavailable", lang))
        est = estimate_before_start(cfg)
    except Exception:  # noqa: BLE001 - an unknown/offline backbone: Start explains it
        return ""
    counts = est["parameters"]
    return (
        t(
            "train.preview",
            lang,
            trainable=human_number(counts["trainable"]),
            total=human_number(counts["total"]),
            percent=f"{counts['percent']:.2f}",
            saves=t(f"train.saves.{STRATEGIES[cfg.strategy].saves}", lang),
        )
        + " "
        + t(
            "train.estimate",
            lang,
            memory=est["memory"]["human"]["peak"],
            size=est["saved_human"],
            batch=cfg.batch_size,
            length=cfg.max_length,
        )
    )


def augment_preview(lang: str, *args):
    """A few training texts and what the chosen augmentation makes of them, before training."""
    import pandas as pd

    from engine.augment import preview
    from engine.training.pipeline import data_spec

    vals = values_from(_FORM_NAMES, args)
    if not vals.get("data"):
        return gr.update(visible=False), box("error", t("train.need_data", lang))
    if (vals.get("augment") or "none") == "none":
        return gr.update(visible=False), box("info", t("train.augment_off", lang))
    try:
        cfg = form_to_config(vals)
        texts = data_spec(cfg).train["text"].head(5).tolist()
        rows = preview(texts, cfg.augment, cfg.seed)
    except ENGINE_ERRORS as e:
        return gr.update(visible=False), box("error", error_message(e))
    frame = pd.DataFrame(
        [
            {
                t("train.augment_original", lang): r["original"],
                t("train.augment_new", lang): r["augmented"] or "—",
                t("train.augment_method", lang): r["method"],
            }
            for r in rows
        ]
    )
    return gr.update(value=frame, visible=True), ""


def measure_speed(lang: str, *args) -> str:
    """Time a few real training steps of the chosen (or planned) setup on the user's data."""
    from engine.estimate import calibrate_time
    from engine.training.pipeline import data_spec, plan_run

    vals = values_from(_FORM_NAMES, args)
    if not vals.get("data"):
        return box("error", t("train.need_data", lang))
    if (vals.get("task") or "classification") != "classification":
        return box("info", t("train.speed_task", lang))
    try:
        cfg = form_to_config(vals)
        spec = data_spec(cfg)
        cfg = plan_run(cfg, spec)[0]
        reason = unsupported_reason(cfg)
        if reason:
            return box("warning", reason, t("train.unavailable", lang))
        out = calibrate_time(cfg, spec, n_steps=3)
    except ENGINE_ERRORS as e:
        return box("error", error_message(e))
    return box(
        "info",
        t(
            "train.speed_estimate",
            lang,
            per_epoch=out["human"]["per_epoch"],
            total=out["human"]["training"],
            rate=f"{out['samples_per_second']:.1f}",
            steps=out["n_steps"],
            strategy=cfg.strategy,
        ),
    )


def plan_text(lang: str, *args) -> str:
    """For strategy=auto: the plan (values and reasons) and the planned strategy's parameters."""
    from engine.planner import preview_plan

    vals = values_from(_FORM_NAMES, args)
    if (vals.get("strategy") or "auto") != "auto":
        return ""
    task = vals.get("task") or "classification"
    if task != "classification":
        from engine.tasks import get_task
        from engine.backbones import family_of

        try:
            planned = get_task(task).DEFAULT_STRATEGY(
                family_of(vals.get("backbone") or RunConfig().backbone)
            )
        except ENGINE_ERRORS + (ImportError,) as e:
            return error_message(e)
        params = preview_text(
            vals.get("backbone"),
            planned,
            vals.get("lora_r"),
            lang,
            vals.get("batch_size"),
            vals.get("max_length"),
            task,
        )
        return (
            t("train.plan_task", lang, strategy=planned, task=t("task." + task, lang))
            + "\n\n"
            + params
        )
    if not vals.get("data"):
        return t("train.plan_needs_data", lang)
    try:
        plan = preview_plan(form_to_config(vals))
    except ENGINE_ERRORS as e:
        return error_message(e)
    planned = {**vals, **plan.values, **plan.kept}
    params = preview_text(
        vals.get("backbone"),
        plan.values["strategy"],
        planned.get("lora_r"),
        lang,
        planned.get("batch_size"),
        planned.get("max_length"),
    )
    return f"{t('train.plan', lang)}\n\n{plan.to_markdown()}\n\n{params}"


_FORM_NAMES: list[str] = []


def run_signature(store: RunStore, run_id: str | None) -> str:
    """Changes whenever the run folder has something new to show."""
    if not run_id:
        return ""
    try:
        run = store.get(run_id)
    except KeyError:
        return ""
    path = run.path / "events.jsonl"
    size = path.stat().st_size if path.exists() else 0
    return f"{run_id}:{size}:{run.status}"


def pick_run_to_show(
    store: RunStore, jobs: JobManager, kind: str = "train", user: str | None = None
) -> str | None:
    """Of the runs of one kind ("train": fine-tuning, "pretrain": the Adapt tab's): the signed-in
    user's own active or queued run, else the active run, else the first queued one, else the
    newest live run, else the newest run on disk."""

    def of_kind(run_id: str) -> bool:
        try:
            return store.get(run_id).kind == kind
        except KeyError:
            return False

    if user:
        for entry in jobs.queue_view():
            if entry["owner"] == user and of_kind(entry["run_id"]):
                return entry["run_id"]
    if jobs.active and of_kind(jobs.active):
        return jobs.active
    queued = [r for r in jobs.queued() if of_kind(r)]
    if queued:
        return queued[0]
    runs = [r for r in store.list() if r.kind == kind]
    live = [r for r in runs if r.status in LIVE_STATUSES]
    if live:
        return live[0].id
    return runs[0].id if runs else None


def run_choices(store: RunStore, lang: str = "en") -> list[tuple[str, str]]:
    """Past fine-tuning runs (the Adapt tab's runs have settings of another kind)."""
    return [(run_label(r.summary(), lang), r.id) for r in store.list() if r.kind != "pretrain"]


def config_file(values: dict, folder: str | None = None) -> str:
    """Write the form's RunConfig to a JSON file and return its path (raises ConfigError)."""
    cfg = form_to_config(values)
    stem = cfg.run_name or f"{cfg.backbone}-{cfg.strategy}"
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in stem)[:60]
    out = Path(folder or tempfile.mkdtemp(prefix="adaptune-")) / f"adaptune-config-{safe}.json"
    out.write_text(cfg.to_json(), encoding="utf-8")
    return str(out)


def form_updates(config: RunConfig, names: list[str]) -> list:
    """One output value per form component (in ``names`` order) for a loaded config."""
    values = config_to_form(config)
    out = []
    for name in names:
        value = values.get(name)
        if name in ("text_column", "label_column"):
            out.append(gr.update(choices=[value] if value else [], value=value or None))
        else:
            out.append(value)
    return out


# ---- the tab ----------------------------------------------------------------------------------


def build(ctx: Context) -> None:
    tr, store, jobs = ctx.tr, ctx.store, ctx.jobs
    tr.make(gr.Markdown, value=T("train.intro"), elem_classes=["tab-intro"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, elem_classes=["settings-col"]):
            data_md = gr.Markdown(data_line("", "", "", tr.lang), elem_id="train-data")
            backbone = tr.make(
                gr.Dropdown,
                label=T("backbone"),
                info=T("backbone.help"),
                choices=backbone_choices(tr.lang, store),
                value=RunConfig().backbone,
                allow_custom_value=True,
                elem_id="train-backbone",
            )
            tr.register(backbone, choices=lambda lang: backbone_choices(lang, store))
            backbone_md = gr.Markdown(
                backbone_text(RunConfig().backbone, tr.lang),
                elem_id="train-backbone-info",
                elem_classes=["hint"],
            )
            strategy = tr.make(
                gr.Dropdown,
                label=T("strategy"),
                info=T("strategy.help"),
                choices=strategy_choices(tr.lang),
                value=RunConfig().strategy,
                elem_id="train-strategy",
            )
            tr.register(strategy, choices=strategy_choices)
            strategy_md = gr.Markdown(
                strategy_text(RunConfig().strategy, tr.lang),
                elem_id="train-strategy-info",
                elem_classes=["hint"],
            )
            preview_md = gr.Markdown(
                preview_text(None, None, None, tr.lang),
                elem_id="train-params-preview",
                elem_classes=["hint"],
            )
            plan_md = gr.Markdown("", elem_id="train-plan", elem_classes=["hint"])
            with gr.Row():
                speed_btn = tr.make(
                    gr.Button,
                    value=T("train.measure_speed"),
                    size="sm",
                    elem_id="train-measure-speed",
                )
            speed_md = gr.HTML("", elem_id="train-speed", padding=False)
            ctx.fields.update(backbone=backbone, strategy=strategy)

            basic = [
                f
                for g in ("model", "training")
                for f in config_fields(g, advanced=False)
                if f.name not in SPECIAL and f.name not in STATE_FIELDS
            ]
            numeric = [f for f in basic if f.type in ("int", "float", int, float)]
            with gr.Row():
                for f in numeric:
                    ctx.fields[f.name] = field_widget(f, tr, min_width=140)
            for f in basic:
                if f not in numeric:
                    ctx.fields[f.name] = field_widget(f, tr)

            strategy_fields = []
            with tr.make(
                gr.Accordion, label=T("train.advanced"), open=False, elem_id="train-advanced"
            ):
                for group in ("model", "training"):
                    tr.make(
                        gr.Markdown, value=T(f"train.group.{group}"), elem_classes=["group-title"]
                    )
                    adv = [
                        f
                        for f in config_fields(group, advanced=True)
                        if f.name in {x.name for x in form_fields()}
                    ]
                    # knobs of one strategy sit together, so hiding them leaves no holes
                    blocks: dict[tuple, list] = {}
                    for f in adv:
                        blocks.setdefault(
                            (tuple(strategy_only(f) or ()), tuple(task_only(f) or ())), []
                        ).append(f)
                    for block in blocks.values():
                        for i in range(0, len(block), 2):
                            with gr.Row():
                                for f in block[i : i + 2]:
                                    comp = field_widget(
                                        f,
                                        tr,
                                        min_width=180,
                                        visible=visible_for(f, RunConfig().strategy),
                                    )
                                    ctx.fields[f.name] = comp
                                    if strategy_only(f) or task_only(f):
                                        strategy_fields.append((f, comp))
                with gr.Row():
                    aug_btn = tr.make(
                        gr.Button,
                        value=T("train.augment_preview"),
                        size="sm",
                        elem_id="train-augment-preview",
                    )
                aug_table = gr.Dataframe(
                    visible=False, wrap=True, interactive=False, elem_id="train-augment-table"
                )
            # ticked in Advanced (or by a loaded config): visible even with Advanced folded
            remote_warning = gr.HTML("", elem_id="train-remote-code-warning", padding=False)

            with tr.make(
                gr.Accordion, label=T("train.saveload"), open=False, elem_id="train-saveload"
            ):
                with gr.Row():
                    save_btn = tr.make(
                        gr.Button,
                        value=T("train.save_config"),
                        elem_id="train-save-config",
                        size="sm",
                    )
                    load_btn = tr.make(
                        gr.UploadButton,
                        label=T("train.load_config"),
                        file_types=[".json"],
                        type="filepath",
                        size="sm",
                        elem_id="train-load-config",
                    )
                config_out = tr.make(
                    gr.File,
                    label=T("train.config_file"),
                    visible=False,
                    interactive=False,
                    elem_id="train-config-file",
                    height=80,
                )
                with gr.Row():
                    past = tr.make(
                        gr.Dropdown,
                        label=T("train.past_run"),
                        choices=[],
                        value=None,
                        elem_id="train-past-run",
                        scale=3,
                    )
                    load_run = tr.make(
                        gr.Button,
                        value=T("train.load_run"),
                        elem_id="train-load-run",
                        scale=1,
                        min_width=120,
                    )

        with gr.Column(scale=6, elem_classes=["live-col"]):
            with gr.Row():
                start = tr.make(
                    gr.Button,
                    value=T("train.start"),
                    variant="primary",
                    elem_id="train-start",
                    scale=3,
                )
                stop = tr.make(
                    gr.Button,
                    value=T("train.stop"),
                    variant="stop",
                    elem_id="train-stop",
                    scale=1,
                    min_width=100,
                )
                resume = gr.Button(
                    t("train.resume", tr.lang, step="?"),
                    variant="secondary",
                    elem_id="train-resume",
                    scale=2,
                    min_width=160,
                    visible=False,
                )
            message = gr.HTML("", elem_id="train-message", padding=False)
            with tr.make(
                gr.Accordion, label=T("queue.title"), open=True, elem_id="train-queue-box"
            ):
                queue_table = gr.HTML(
                    queue_html(jobs, None, tr.lang), elem_id="train-queue", padding=False
                )
                with gr.Row(
                    equal_height=False, visible=False, elem_id="train-queue-actions"
                ) as queue_actions:
                    # a job leaves the queue while its id may still be the picked value (a
                    # timer tick in flight): such a value must not be rejected with a toast
                    queue_pick = tr.make(
                        gr.Dropdown,
                        label=T("queue.pick"),
                        info=T("queue.pick.help"),
                        choices=[],
                        value=None,
                        allow_custom_value=True,
                        elem_id="train-queue-pick",
                        scale=3,
                    )
                    queue_cancel = tr.make(
                        gr.Button,
                        value=T("queue.cancel"),
                        size="md",
                        variant="stop",
                        elem_id="train-queue-cancel",
                        scale=1,
                        min_width=120,
                    )
            status = gr.HTML(
                box("info", t("train.no_run", tr.lang)), elem_id="train-status", padding=False
            )
            progress = gr.HTML("", elem_id="train-progress", padding=False)
            with gr.Row(elem_classes=["facts"]):
                params = gr.Markdown("", elem_id="train-params")
                device = gr.Markdown(
                    t("train.device", tr.lang, device=ctx.device), elem_id="train-device"
                )
            chart = gr.Plot(
                charts.empty_figure(t("chart.waiting", tr.lang)),
                show_label=False,
                elem_id="train-chart",
            )
            log = gr.HTML("", elem_id="train-log", padding=False)
    timer = gr.Timer(1.5, active=False)
    sig = gr.State("")
    # the queue changes with other users' runs too: its own slow timer, always on
    queue_timer = gr.Timer(2.5)
    queue_sig = gr.State("")
    panel = [status, progress, params, device, chart, log]
    queue_out = [queue_table, queue_pick, queue_actions, queue_sig]
    ctx.c.update(
        train_panel=panel,
        train_timer=timer,
        train_past=past,
        train_resume=resume,
        train_message=message,
    )

    # ---- callbacks (closures over ctx) ---------------------------------------------------
    # ``request`` (gradio fills it in) names the signed-in user with --auth; None without
    def show(run_id, lang, request: gr.Request = None):
        return (
            *render_run(store, jobs, run_id, lang, ctx.device),
            resume_button(store, jobs, run_id, ctx.viewer(request), lang),
            run_signature(store, run_id),
        )

    def tick(run_id, lang, last_sig, request: gr.Request = None):
        new_sig = run_signature(store, run_id)
        live = bool(run_id) and (
            jobs.is_live(run_id) or new_sig.rsplit(":", 1)[-1] in LIVE_STATUSES
        )
        timer_update = gr.Timer(active=live)
        if new_sig == last_sig:
            return (*[gr.skip()] * (len(panel) + 1), new_sig, timer_update)
        return (
            *render_run(store, jobs, run_id, lang, ctx.device),
            resume_button(store, jobs, run_id, ctx.viewer(request), lang),
            new_sig,
            timer_update,
        )

    def attach(lang, request: gr.Request = None):
        viewer = ctx.viewer(request)
        run_id = pick_run_to_show(store, jobs, user=viewer.user)
        live = bool(run_id) and store.get(run_id).status in LIVE_STATUSES
        return (
            run_id,
            gr.Timer(active=live),
            gr.update(choices=run_choices(store, lang)),
            *render_run(store, jobs, run_id, lang, ctx.device),
            resume_button(store, jobs, run_id, viewer, lang),
            run_signature(store, run_id),
        )

    def start_run(lang, *args, user: str | None = None):
        vals = values_from(ctx.field_names(), args)
        fail = (gr.skip(), gr.skip(), gr.skip())
        if not vals.get("data"):
            return (box("error", t("train.need_data", lang)), *fail)
        try:
            cfg = form_to_config(vals)
            cfg.output_dir = str(store.root)
            store.check_config(cfg)  # the data, backbone and warm start are the user's to use
            preflight(cfg)  # data and backbone checked before a run folder exists
            run = jobs.submit(cfg, owner=user or "")
        except ENGINE_ERRORS as e:
            return (box("error", error_message(e, lang), t("train.cannot_start", lang)), *fail)
        position = queue_position(jobs, run.id) if jobs.active and jobs.active != run.id else None
        msg = (
            t("train.queued_msg", lang, id=run.id, position=position)
            if position
            else t("train.started", lang, id=run.id)
        )
        return (
            box("ok", msg),
            run.id,
            gr.Timer(active=True),
            gr.update(choices=run_choices(store, lang)),
        )

    def start_click(lang, request: gr.Request, *args):
        return start_run(lang, *args, user=ctx.user(request))

    def stop_run(run_id, lang, request: gr.Request = None):
        if not run_id:
            return box("warning", t("train.nothing_to_stop", lang))
        # another user's run: a plain warning box with the engine's reason, never a toast
        return cancel_job(jobs, store, run_id, ctx.viewer(request), lang)

    def resume_run(run_id, lang, request: gr.Request = None):
        message_html, ok = resume_job(jobs, store, run_id, ctx.viewer(request), lang)
        if not ok:
            return message_html, gr.skip(), gr.skip()
        return message_html, run_id, gr.Timer(active=True)

    def refresh_queue(lang, current, last_sig, request: gr.Request = None):
        return queue_updates(jobs, ctx.viewer(request), lang, current, last_sig)

    def cancel_queued(run_id, lang, request: gr.Request = None):
        return cancel_job(jobs, store, run_id, ctx.viewer(request), lang)

    def remote_code_warning(ticked, lang):
        return box("warning", t("train.remote_code_warning", lang)) if ticked else ""

    def save_config(lang, *args):
        try:
            path = config_file(values_from(ctx.field_names(), args))
        except ENGINE_ERRORS as e:
            return gr.update(visible=False), box("error", error_message(e, lang))
        return (
            gr.update(value=ctx.hand_out(path, move=True), visible=True),
            box("ok", t("train.saved", lang)),
        )

    def _load(cfg_or_error, lang, what):
        names = ctx.field_names()
        if isinstance(cfg_or_error, Exception):
            return (*[gr.skip()] * len(names), box("error", error_message(cfg_or_error, lang)))
        # another user's data file or model folder never reaches this user's form
        cfg, dropped = store.sanitized(cfg_or_error)
        message = box("ok", t("train.loaded", lang, what=what))
        if dropped:
            message += box("warning", t("access.dropped", lang, fields=", ".join(dropped)))
        return (*form_updates(cfg, names), message)

    def load_config(path, lang):
        if not path:
            return _load(ValueError(t("train.no_file", lang)), lang, "")
        try:
            ctx.own_upload(path)
            cfg = RunConfig.load(path)
        except ENGINE_ERRORS as e:
            cfg = e
        return _load(cfg, lang, Path(path).name)

    def load_run_config(run_id, lang):
        if not run_id:
            return _load(ValueError(t("train.pick_run", lang)), lang, "")
        try:
            run = store.get(run_id)
            cfg = (
                run.config()
                if run.kind != "pretrain"
                else ValueError(t("adapt.not_train_run", lang, id=run_id))
            )
        except ENGINE_ERRORS as e:
            cfg = e
        return _load(cfg, lang, run_id)

    def refresh_backbones(lang):
        """The backbone list again (a pre-training run may have finished since)."""
        return gr.update(choices=backbone_choices(lang, store))

    ctx.fn.update(
        load_run_config=load_run_config,
        train_attach=attach,
        start_run=start_run,
        stop_run=stop_run,
        save_config=save_config,
        load_config=load_config,
        train_tick=tick,
        train_backbones=refresh_backbones,
        train_show=show,
        train_resume=resume_run,
        train_queue=refresh_queue,
        train_cancel=cancel_queued,
        remote_code_warning=remote_code_warning,
    )

    def wire() -> None:
        lang = ctx.lang
        form = ctx.field_components()
        backbone.change(backbone_text, [backbone, lang], backbone_md, show_progress="hidden")
        strat_out = [comp for _, comp in strategy_fields]

        def strategy_changed(value, lang_value, task_value):
            return (
                strategy_text(value, lang_value),
                *[gr.update(visible=visible_for(f, value, task_value)) for f, _ in strategy_fields],
            )

        task_comp = ctx.fields["task"]
        for comp in (strategy, task_comp):
            comp.change(
                strategy_changed,
                [strategy, lang, task_comp],
                [strategy_md, *strat_out],
                show_progress="hidden",
            )
        sizes = [
            ctx.fields["lora_r"],
            lang,
            ctx.fields["batch_size"],
            ctx.fields["max_length"],
            ctx.fields["task"],
        ]
        preview_args = ([backbone, strategy, *sizes], preview_md)
        for comp in (
            backbone,
            strategy,
            ctx.fields["lora_r"],
            ctx.fields["batch_size"],
            ctx.fields["max_length"],
            ctx.fields["task"],
        ):
            comp.change(preview_text, *preview_args, show_progress="hidden")
        ctx.on_lang.append((preview_text, *preview_args))
        _FORM_NAMES[:] = ctx.field_names()
        plan_args = ([lang, *form], plan_md)
        planned = (
            "epochs",
            "learning_rate",
            "batch_size",
            "max_length",
            "lora_r",
            "class_weights",
            "warmup_ratio",
            "evaluations_per_epoch",
            "max_steps",
        )
        for comp in (backbone, strategy, ctx.fields["task"], *[ctx.fields[n] for n in planned]):
            comp.change(plan_text, *plan_args, show_progress="hidden")
        ctx.c["train_tab"].select(plan_text, *plan_args, show_progress="hidden")
        aug_btn.click(augment_preview, [lang, *form], [aug_table, message])
        speed_btn.click(measure_speed, [lang, *form], speed_md)
        ctx.on_lang.append((plan_text, *plan_args))
        data_args = (
            [ctx.data_path, ctx.fields["text_column"], ctx.fields["label_column"], lang],
            data_md,
        )
        ctx.c["train_tab"].select(data_line, *data_args, show_progress="hidden")
        ctx.c["train_tab"].select(refresh_backbones, lang, backbone, show_progress="hidden")
        ctx.on_load.append((refresh_backbones, lang, backbone))
        ctx.c["train_data_line"] = (data_line, *data_args)
        ctx.on_lang.append((data_line, *data_args))
        ctx.on_lang.append((backbone_text, [backbone, lang], backbone_md))
        ctx.on_lang.append((strategy_text, [strategy, lang], strategy_md))
        ctx.on_lang.append(
            (
                lambda current, lang_value: gr.update(
                    choices=run_choices(store, lang_value), value=current
                ),
                [past, lang],
                past,
            )
        )
        shown = [*panel, resume, sig]
        queue_in = [lang, queue_pick, queue_sig]
        start.click(start_click, [lang, *form], [message, ctx.run_id, timer, past]).then(
            show, [ctx.run_id, lang], shown, show_progress="hidden"
        ).then(refresh_queue, queue_in, queue_out, show_progress="hidden")
        stop.click(stop_run, [ctx.run_id, lang], message).then(
            refresh_queue, queue_in, queue_out, show_progress="hidden"
        )
        resume.click(resume_run, [ctx.run_id, lang], [message, ctx.run_id, timer]).then(
            show, [ctx.run_id, lang], shown, show_progress="hidden"
        ).then(refresh_queue, queue_in, queue_out, show_progress="hidden")
        queue_cancel.click(cancel_queued, [queue_pick, lang], message).then(
            refresh_queue, queue_in, queue_out, show_progress="hidden"
        )
        queue_timer.tick(refresh_queue, queue_in, queue_out, show_progress="hidden")
        ctx.on_load.append((refresh_queue, [lang, queue_pick, gr.State("")], queue_out))
        ctx.on_lang.append((refresh_queue, queue_in, queue_out))
        remote = ctx.fields["trust_remote_code"]
        remote.change(remote_code_warning, [remote, lang], remote_warning, show_progress="hidden")
        ctx.on_lang.append((remote_code_warning, [remote, lang], remote_warning))

        def remote_allowed(lang_value, request: gr.Request = None):
            """With sign-in, only an admin may let a model run its own code."""
            if ctx.viewer(request).unrestricted:
                return gr.update(interactive=True)
            return gr.update(
                interactive=False, value=False, info=t("train.remote_code_admin", lang_value)
            )

        ctx.on_load.append((remote_allowed, lang, remote))
        ctx.on_lang.append((remote_allowed, lang, remote))
        timer.tick(
            tick, [ctx.run_id, lang, sig], [*panel, resume, sig, timer], show_progress="hidden"
        )
        save_btn.click(save_config, [lang, *form], [config_out, message])
        data_inputs, data_outputs = ctx.c["data_inputs"], ctx.c["data_outputs"]
        inspect = ctx.fn["inspect_data"]
        load_btn.upload(load_config, [load_btn, lang], [*form, message]).then(
            inspect, data_inputs, data_outputs
        ).then(data_line, *data_args)
        load_run.click(load_run_config, [past, lang], [*form, message]).then(
            inspect, data_inputs, data_outputs
        ).then(data_line, *data_args)
        ctx.c["train_attach_outputs"] = [ctx.run_id, timer, past, *panel, resume, sig]
        ctx.on_lang.append((show, [ctx.run_id, lang], shown))

    ctx.deferred.append(wire)
