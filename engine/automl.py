"""Hyper-parameter search with Optuna: a study per search, TPE sampling, pruning from the
intermediate validation scores, a budget in trials and/or minutes, and studies in an SQLite (or
any SQLAlchemy) database so a restart continues them and several workers share one.

A search is a run folder of kind "hpo" (``runs/<id>/``: config.json = HpoConfig, events.jsonl
with one ``trial`` event per finished trial, metrics.json with the best so far). Each trial is a
normal training run in ``runs/<id>/trials/`` (its curves stay viewable); the best trial is
copied to ``runs/<id>-best`` as an ordinary run with its model (listed in Runs, usable by
Evaluate / predict / export). Trials are reported to the study by a ``PruningCallback`` handed
to the one training loop (engine/training/loop.py), so every task prunes the same way.

Search space JSON: {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": true},
"batch_size": {"type": "categorical", "choices": [8, 16, 32]}, ...}; names are RunConfig
fields. LoRA settings are only sampled for trials whose strategy is in the LoRA family.
"""

from __future__ import annotations

import json
import math
import shutil
import threading
import time
import warnings
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from engine.config import HpoConfig, RunConfig
from engine.strategies import LORA_KIND
from engine.runs import Run, RunStore, write_json_atomic

LORA_PARAMS = ("lora_r", "lora_alpha", "lora_dropout")
MINIMIZED = ("loss", "perplexity", "hamming_loss")
TYPES = ("float", "int", "categorical")
HEARTBEAT_SECONDS = 30  # a running trial's worker writes a heartbeat this often
GRACE_SECONDS = 120  # ... and is presumed dead (trial failed) after this long without one


class SearchError(ValueError):
    """A search setting the engine cannot use; the message says which and why."""


# ---- search space --------------------------------------------------------------------------------
def parse_space(text: str | dict) -> dict[str, dict]:
    """Validate a search space (JSON text or dict) against RunConfig's fields."""
    if isinstance(text, dict):
        raw = text
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise SearchError(
                f"The search space is not valid JSON ({e.msg} at character {e.pos})."
            ) from None
    if not isinstance(raw, dict) or not raw:
        raise SearchError(
            'The search space must be a JSON object {"setting": {...}} with at least one setting.'
        )
    known = {f.name: f for f in fields(RunConfig)}
    space = {}
    for name, spec in raw.items():
        if name not in known:
            raise SearchError(
                f"{name!r} is not a training setting (e.g. learning_rate, "
                "batch_size, epochs, warmup_ratio, weight_decay, lora_r, "
                "strategy)."
            )
        if not isinstance(spec, dict) or spec.get("type") not in TYPES:
            raise SearchError(f"{name}: give a type (float, int or categorical).")
        kind = spec["type"]
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise SearchError(
                    f"{name}: a categorical setting needs a non-empty 'choices' list."
                )
            allowed = known[name].metadata.get("choices")
            bad = [c for c in choices if allowed and c not in allowed]
            if bad:
                raise SearchError(
                    f"{name}: {', '.join(map(str, bad))} not allowed (choose "
                    f"from {', '.join(map(str, allowed))})."
                )
            space[name] = {"type": kind, "choices": list(choices)}
            continue
        try:
            low, high = float(spec["low"]), float(spec["high"])
        except (KeyError, TypeError, ValueError):
            raise SearchError(f"{name}: a {kind} setting needs numeric 'low' and 'high'.") from None
        log = bool(spec.get("log", False))
        if not low < high:
            raise SearchError(f"{name}: low ({low:g}) must be below high ({high:g}).")
        if log and low <= 0:
            raise SearchError(f"{name}: a log scale needs low > 0.")
        meta = known[name].metadata
        if (
            "minimum" in meta
            and low < meta["minimum"]
            or "maximum" in meta
            and high > meta["maximum"]
        ):
            raise SearchError(
                f"{name}: the range must stay within {meta.get('minimum')} .. "
                f"{meta.get('maximum')}."
            )
        if kind == "int":
            low, high = int(math.ceil(low)), int(math.floor(high))
        space[name] = {"type": kind, "low": low, "high": high, "log": log}
    return space


def default_space(config: RunConfig, spec=None) -> tuple[dict[str, dict], dict[str, Any]]:
    """(space, the Auto plan's values): ranges around what the planner would pick, and the
    strategy as a categorical (the planned one, LoRA, and full fine-tuning for encoders).
    Epochs are searched unless the base fixes max_steps (then every trial gets that many)."""
    from engine.backbones import family_of
    from engine.training.pipeline import data_spec, plan_run

    if spec is None and config.task == "classification":
        spec = data_spec(config)
    planned = config
    if config.strategy == "auto" and config.task == "classification":
        planned, _ = plan_run(config, spec)
    elif config.strategy == "auto":
        from engine.training.pipeline import resolve_task_strategy

        planned = resolve_task_strategy(config)
    from engine.strategies import default_learning_rate

    family = family_of(config.backbone)
    lr = planned.learning_rate or default_learning_rate(planned.strategy, family)
    strategies = [planned.strategy] + [
        s
        for s in ("lora", "full")
        if s != planned.strategy and (family == "encoder" or s == "lora")
    ]
    if planned.strategy == "setfit":
        strategies = ["setfit", "lora"]
    space: dict[str, dict] = {
        "strategy": {"type": "categorical", "choices": strategies},
        "learning_rate": {
            "type": "float",
            "low": max(1e-6, lr / 10),
            "high": min(1e-2, lr * 5),
            "log": True,
        },
        "batch_size": {
            "type": "categorical",
            "choices": sorted(
                {max(4, planned.batch_size // 2), planned.batch_size, planned.batch_size * 2}
            ),
        },
        "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2, "log": False},
        "weight_decay": {"type": "float", "low": 0.0, "high": 0.1, "log": False},
        "lora_r": {"type": "categorical", "choices": [4, 8, 16, 32]},
        "lora_alpha": {"type": "categorical", "choices": [8, 16, 32, 64]},
        "lora_dropout": {"type": "float", "low": 0.0, "high": 0.2, "log": False},
    }
    if not planned.max_steps:  # a fixed --max-steps is the user's budget per trial: kept
        e = float(planned.epochs or 3)
        space["epochs"] = {
            "type": "float",
            "low": max(0.5, e / 2),
            "high": min(100.0, e * 2),
            "log": False,
        }
    first = {name: getattr(planned, name) for name in space}
    first["learning_rate"] = lr
    return space, first


def plan_inside(space: dict[str, dict], plan: dict[str, Any]) -> dict[str, Any]:
    """The Auto plan's values for the settings of ``space`` that lie inside it (the first
    trial of a new study with a custom space); {} when none does."""
    out = {}
    for name, spec in space.items():
        if name not in plan:
            continue
        value = plan[name]
        if spec["type"] == "categorical":
            if value in spec["choices"]:
                out[name] = value
        elif isinstance(value, (int, float)) and spec["low"] <= value <= spec["high"]:
            out[name] = int(value) if spec["type"] == "int" else float(value)
    return out


def sample(trial, space: dict[str, dict], strategy: str = "lora") -> dict[str, Any]:
    """One configuration from the space (define-by-run: LoRA settings only when the trial's
    strategy, sampled or else ``strategy`` (the base's), is in the LoRA family)."""
    values: dict[str, Any] = {}
    order = sorted(space, key=lambda n: (n != "strategy", n))
    for name in order:
        spec = space[name]
        if name in LORA_PARAMS and values.get("strategy", strategy) not in LORA_KIND:
            continue
        if spec["type"] == "categorical":
            values[name] = trial.suggest_categorical(name, spec["choices"])
        elif spec["type"] == "int":
            values[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec["log"])
        else:
            values[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec["log"])
    return values


# ---- study -------------------------------------------------------------------------------------
def storage_url(config: HpoConfig) -> str:
    if config.storage:
        return config.storage
    root = Path(config.output_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'hpo.db'}"


def _storage(url: str):
    import optuna

    kwargs = {}
    if url.startswith("sqlite"):
        # several workers share one file: wait for the lock instead of failing at once
        kwargs = {"connect_args": {"timeout": 60}}
    try:
        # heartbeats: a trial whose worker died (server killed mid-search) is marked failed
        # by the next worker that opens the study, instead of staying "running" forever
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=kwargs,
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
            )
    except Exception as e:  # noqa: BLE001 - a bad URL, a missing driver, an unreachable host
        raise SearchError(f"Cannot open the study storage {url!r}: {e}") from None


def _pruner(name: str):
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def objective_of(config: RunConfig, metric: str = "", direction: str = "auto") -> tuple[str, str]:
    """(metric, direction): the task's main metric by default; losses are minimized."""
    from engine.tasks import MAIN_METRIC

    metric = metric or MAIN_METRIC.get(config.task, "macro_f1")
    if direction == "auto":
        direction = "minimize" if any(m in metric for m in MINIMIZED) else "maximize"
    return metric, direction


def open_study(config: HpoConfig, name: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _, direction = objective_of(config, config.objective_metric, config.direction)
    for attempt in range(5):
        try:
            storage = _storage(storage_url(config))
        except SearchError as e:  # two workers creating the same database at once
            # the schema is created by whichever worker comes first: the other one sees a
            # duplicate row, a locked file or a table that "already exists"
            racing = ("IntegrityError", "locked", "already exists")
            if attempt == 4 or not any(w in str(e) for w in racing):
                raise
            time.sleep(1 + attempt)
            continue
        try:
            return optuna.create_study(
                study_name=name,
                storage=storage,
                sampler=optuna.samplers.TPESampler(seed=config.seed),
                pruner=_pruner(config.pruner),
                direction=direction,
                load_if_exists=True,
            )
        except ValueError as e:  # e.g. an existing study with the other direction
            raise SearchError(f"Cannot use the study {name!r}: {e}") from None
        except Exception:
            if attempt == 4:
                raise
            time.sleep(1 + attempt)


def load_study(storage: str, name: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=name, storage=_storage(storage))
    except KeyError:
        raise SearchError(f"No study called {name!r} in {storage}.") from None


def pruning_callback(trial, metric: str):
    """A TrainerCallback that reports each evaluation of a trial's run to the Optuna trial and
    stops the training when the pruner says so (``.pruned``, ``.stop_reason``)."""
    from transformers import TrainerCallback

    class PruningCallback(TrainerCallback):
        def __init__(self):
            self.key, self.pruned, self.reported, self.stop_reason = "eval_" + metric, False, 0, ""

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            value = (metrics or {}).get(self.key)
            if not isinstance(value, (int, float)):
                return
            trial.report(float(value), state.global_step)
            self.reported += 1
            if trial.should_prune():
                self.pruned, self.stop_reason = True, "pruned"
                control.should_training_stop = True

    return PruningCallback()


def hpo_run(config: HpoConfig, run: Run, stop_event: threading.Event | None = None) -> dict:
    """Run the search in ``run`` (a folder of kind "hpo"); returns its metrics.json.

    ``stop_event`` ends the search after the current trial (which finishes and counts)."""
    import optuna

    from engine.training.pipeline import train_run
    from engine.training.loop import quiet_libraries

    stop_event = stop_event or threading.Event()
    quiet_libraries()
    config.validate()
    run.set_status("stopping" if stop_event.is_set() else "running")
    base = config.base()
    metric, direction = objective_of(base, config.objective_metric, config.direction)
    if config.search_space.strip():
        space = parse_space(config.search_space)
        first = plan_inside(space, default_space(base)[1])
    else:
        space, first = default_space(base)
    name = config.study_name or run.id
    study = open_study(config, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    if study.direction.name.lower() != direction:
        raise SearchError(
            f"The study {name!r} {study.direction.name.lower()}s; this search "
            f"asks to {direction} {metric}."
        )
    if first and not study.trials:  # a new study starts from the Auto plan
        strategy = first.get("strategy", base.strategy)
        study.enqueue_trial(
            {k: v for k, v in first.items() if k not in LORA_PARAMS or strategy in LORA_KIND},
            user_attrs={"origin": "auto plan"},
            skip_if_exists=True,
        )
    write_json_atomic(
        run.path / "search.json",
        {
            "study_name": name,
            "storage": storage_url(config),
            "metric": metric,
            "direction": direction,
            "space": space,
        },
    )
    run.append_event(
        "start",
        kind="hpo",
        study_name=name,
        storage=storage_url(config),
        metric=metric,
        direction=direction,
        space=space,
        trials=config.trials,
        timeout_minutes=config.timeout_minutes,
        existing_trials=len(study.trials),
    )
    trials_store = RunStore(run.path / "trials")
    started = time.time()

    def objective(trial) -> float:
        params = sample(trial, space, base.strategy)
        cfg = replace(
            base, **params, run_name=f"trial-{trial.number}", output_dir=str(trials_store.root)
        )
        cfg.validate()
        trial_run = trials_store.create(cfg, run_id=f"trial-{trial.number:03d}")
        trial.set_user_attr("run_dir", str(trial_run.path))
        hook = pruning_callback(trial, metric)
        run.append_event(
            "message",
            text=f"Trial {trial.number}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in params.items()),
        )
        t0 = time.time()
        try:
            metrics = train_run(cfg, trial_run, threading.Event(), callbacks=[hook])
            value = metrics.get("validation", {}).get(metric)
            if value is None:
                raise SearchError(
                    f"The trials report no validation {metric!r}; the task "
                    "reports "
                    f"{', '.join(sorted(metrics.get('validation', {})))}."
                )
        except Exception as exc:  # a failed trial is recorded; the search goes on
            from engine.errors import human_error

            trial.set_user_attr("error", human_error(exc))
            if trial_run.status not in ("failed", "completed", "stopped"):
                trial_run.set_status("failed", error=human_error(exc))
            raise
        trial.set_user_attr("test", metrics.get("test", {}))
        trial.set_user_attr("seconds", round(time.time() - t0, 1))
        if hook.pruned:
            _drop_model(trial_run)
            write_json_atomic(
                trial_run.path / "trial.json",
                {"number": trial.number, "state": "pruned", "params": params},
            )
            raise optuna.TrialPruned(f"pruned at step {metrics.get('global_step')}")
        write_json_atomic(
            trial_run.path / "trial.json",
            {"number": trial.number, "state": "complete", "value": value, "params": params},
        )
        return float(value)

    def after_trial(study, trial) -> None:
        state = trial.state.name.lower()
        best = _best(study)
        error = trial.user_attrs.get("error", "")
        run.append_event(
            "trial",
            number=trial.number,
            state=state,
            value=trial.value,
            params=trial.params,
            run_dir=trial.user_attrs.get("run_dir", ""),
            seconds=trial.user_attrs.get("seconds"),
            error=error,
            best_value=best.value if best else None,
            best_number=best.number if best else None,
        )
        if error:
            run.append_event(
                "message", text=f"Trial {trial.number} failed: {error}", level="warning"
            )
            errors.append(error)
            if len(errors) >= 2 and errors[-1] == errors[-2]:  # the same failure twice: fatal
                fatal.append(error)
                study.stop()
        if not config.keep_trial_models and best is not None:
            for t in study.trials:  # keep only the best trial's model (this worker's trials)
                folder = t.user_attrs.get("run_dir")
                if (
                    folder
                    and t.number != best.number
                    and Path(folder).is_dir()
                    and Path(folder).is_relative_to(run.path)
                ):
                    _drop_model(Run(Path(folder)))
        if stop_event.is_set():
            study.stop()

    errors: list[str] = []
    fatal: list[str] = []
    timeout = config.timeout_minutes * 60 if config.timeout_minutes else None
    study.optimize(
        objective,
        n_trials=config.trials,
        timeout=timeout,
        callbacks=[after_trial],
        catch=(Exception,),
        gc_after_trial=True,
    )
    if fatal and _best(study) is None:
        raise SearchError(f"The search stopped: two trials in a row failed with: {fatal[0]}")
    metrics = summarize(study, run, metric, direction, started, stop_event.is_set())
    if fatal:
        metrics["error"] = f"Stopped early: two trials in a row failed with: {fatal[0]}"
    run.write_metrics(metrics)
    run.append_event(
        "end",
        status=metrics["status"],
        best_value=metrics["best_value"],
        best_params=metrics["best_params"],
    )
    run.set_status(metrics["status"])
    return metrics


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _drop_model(run: Run) -> None:
    shutil.rmtree(run.model_dir, ignore_errors=True)


def _best(study):
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None


def summarize(study, run: Run, metric: str, direction: str, started: float, stopped: bool) -> dict:
    """metrics.json of a search: the best trial (promoted to a normal run), counts."""
    states = [t.state.name.lower() for t in study.trials]
    best = _best(study)
    out = {
        "status": "stopped" if stopped else "completed",
        "study_name": study.study_name,
        "metric": metric,
        "direction": direction,
        "n_trials": len(study.trials),
        "complete": states.count("complete"),
        "pruned": states.count("pruned"),
        "failed": states.count("fail"),
        "seconds": round(time.time() - started, 1),
        "best_value": best.value if best else None,
        "best_params": best.params if best else {},
        "best_number": best.number if best else None,
        "best_test": best.user_attrs.get("test", {}) if best else {},
        "best_run_dir": "",
    }
    if best is not None:
        out["best_run_dir"] = str(promote(best, run))
    return out


def promote(best, search: Run) -> Path:
    """Copy the best trial's run folder to ``<runs>/<search id>-best`` (replacing an older
    best): an ordinary run with its model, listed in Runs."""
    source = Path(best.user_attrs.get("run_dir", ""))
    target = search.path.parent / f"{search.id}-best"
    if not (source / "model").is_dir():
        if target.exists():
            return target  # another worker's best, promoted by that worker
        raise SearchError(f"The best trial's model is missing ({source}).")
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    cfg = json.loads((tmp / "config.json").read_text(encoding="utf-8"))
    cfg.update(
        run_name=f"{search.id} best (trial {best.number})", output_dir=str(search.path.parent)
    )
    write_json_atomic(tmp / "config.json", cfg)
    write_json_atomic(
        tmp / "trial.json",
        {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "search": str(search.path),
        },
    )
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


# ---- views -------------------------------------------------------------------------------------
def trials_table(study):
    """One row per trial: number, state, value, duration, params."""
    import pandas as pd

    rows = []
    for t in study.trials:
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                "value": t.value,
                "seconds": round(duration, 1) if duration is not None else None,
                **{k: _fmt(v) for k, v in t.params.items()},
            }
        )
    return pd.DataFrame(rows)


def figures(study) -> dict:
    """Optuna's plotly visualisations that the data allows (history from one finished trial,
    parallel coordinates and importances from two)."""
    import optuna.visualization as vis

    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    out = {}
    if done:
        out["history"] = vis.plot_optimization_history(study)
    if len(done) >= 2:
        out["parallel"] = vis.plot_parallel_coordinate(study)
        try:
            out["importances"] = vis.plot_param_importances(study)
        except (RuntimeError, ValueError, ZeroDivisionError):
            pass  # every trial had the same params, or one param only
    return out
