"""One training run, start to finish, for every task: data -> plan -> task.train (-> the one fit).

``train_run(config, run, stop_event)`` is what the job worker and the CLI both call. The task
module (``engine.tasks.get_task(config.task)``) loads and checks its data, and trains through
``engine.training.loop.fit``; progress goes to ``run.append_event`` (events.jsonl), the final
report to metrics.json. Nothing here knows one task from another.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace

from engine.backbones import family_of, pretrained_kwargs, remote_code, resolve_backbone
from engine.config import ConfigError, RunConfig
from engine.distributed import is_distributed
from engine.runs import Run, write_json_atomic
from engine.strategies import apply_strategy, parameter_counts, support
from engine.tasks import get_task
from engine.training.loop import quiet_libraries


def data_spec(config: RunConfig):
    """The run's data, loaded, checked and split as the configuration says (the task's own
    ``prepare``: a DataSpec for classification, a TaskData for the other tasks)."""
    return get_task(config.task).prepare(config)


def check_support(config: RunConfig, download: bool = True) -> None:
    """ConfigError with the one-line reason when the strategy cannot train this backbone here."""
    from transformers import AutoConfig

    if config.strategy == "auto":
        return
    path = resolve_backbone(config.backbone, download=download)
    # a model with its own code needs the run's "trust remote code" even to read its config
    with remote_code(getattr(config, "trust_remote_code", False)):
        model_type = getattr(
            AutoConfig.from_pretrained(path, **pretrained_kwargs()), "model_type", ""
        )
    family = family_of(config.backbone)
    reason = support(config.strategy, family, model_type, config.device) or get_task(
        config.task
    ).unsupported(config.strategy, family)
    if reason:
        raise ConfigError(reason)


def plan_run(config: RunConfig, data) -> tuple[RunConfig, object | None]:
    """Resolve ``strategy=auto``: the task's planner when it has one (classification reads class
    statistics), else the task's default strategy for the backbone family. Returns the config
    that trains and the plan (None without a planner)."""
    module = get_task(config.task)
    if config.strategy != "auto":
        return config, None
    planner = getattr(module, "plan", None)
    if planner is not None:
        return planner(config, data)
    return replace(config, strategy=module.DEFAULT_STRATEGY(family_of(config.backbone))), None


def resolve_task_strategy(config: RunConfig) -> RunConfig:
    """``strategy=auto`` as the task's default for the backbone family (no data read)."""
    if config.strategy != "auto":
        return config
    return replace(
        config, strategy=get_task(config.task).DEFAULT_STRATEGY(family_of(config.backbone))
    )


def preflight(config: RunConfig):
    """Check the data and the backbone before a run folder is made; returns the task's data.

    Raises DataError / BackboneError / ConfigError with the human message."""
    with remote_code(getattr(config, "trust_remote_code", False)):
        config.validate()
        module = get_task(config.task)
        data = module.prepare(config)
        resolve_backbone(config.backbone)
        check_support(plan_run(config, data)[0])
        extra = getattr(module, "preflight", None)
        if extra is not None:
            extra(config)
        return data


def train_run(
    config: RunConfig,
    run: Run,
    stop_event: threading.Event | None = None,
    resume_from: str | os.PathLike | None = None,
    callbacks: list | tuple = (),
) -> dict:
    """Train and evaluate one run of any task; returns the metrics written to metrics.json.

    Raises the engine's human errors (DataError, BackboneError, ConfigError) unchanged; the
    caller records them. A stop request ends training early but still saves and reports.
    ``resume_from``: a checkpoint of this run (engine.jobs.JobManager.resume): the same data
    split and model are rebuilt, then the Trainer continues from that step (weights, optimizer,
    scheduler and random state), appending to the same events. ``callbacks``: extra
    TrainerCallbacks for the one fit (a hyper-parameter search's pruning)."""
    with remote_code(getattr(config, "trust_remote_code", False)):
        return _train_run(config, run, stop_event or threading.Event(), resume_from, callbacks)


def _train_run(
    config: RunConfig, run: Run, stop_event: threading.Event, resume_from, callbacks
) -> dict:
    from transformers import set_seed

    quiet_libraries()
    run.set_status("running")
    if getattr(config, "trust_remote_code", False):
        run.append_event(
            "message",
            level="warning",
            text="Trust remote code is on: the backbone's own Python code may run on this machine.",
        )
    set_seed(config.seed)
    module = get_task(config.task)
    if is_distributed() and not getattr(module, "DISTRIBUTED", False):
        raise ConfigError(
            f"Distributed (multi-process) training does not support the "
            f"{config.task} task; train it in one process."
        )
    if config.augment != "none" and not getattr(module, "AUGMENTS", False):
        run.append_event(
            "message",
            level="warning",
            text=f"Augmentation ({config.augment}) is for text classification; the "
            f"{config.task} task trains on the rows as they are.",
        )
    data = module.prepare(config)
    if run.writer:
        write_json_atomic(run.path / "data.json", data.to_dict())
    for w in data.warnings:
        run.append_event("message", text=f"Data warning: {w}", level="warning")
    if config.strategy == "auto":
        requested = config
        config, plan = plan_run(config, data)
        # config.json holds what actually trains (predict reads max_length from it); the form
        # the run was started from is kept in plan.json
        if plan is not None:
            run.append_event("message", text=plan.summary(), plan=plan.to_dict())
            for note in plan.notes:
                run.append_event("message", text=note, level="warning")
        else:
            run.append_event(
                "message",
                text=f"Auto: {config.strategy} for the {config.task} task on {config.backbone}.",
            )
        if run.writer:
            write_json_atomic(
                run.path / "plan.json",
                {
                    **(plan.to_dict() if plan is not None else {"strategy": config.strategy}),
                    "requested": requested.to_dict(),
                },
            )
            config.save(run.path / "config.json")
    check_support(config)
    return module.train(
        config, run, stop_event, data, resume_from=resume_from, callbacks=list(callbacks)
    )


def parameter_preview(config: RunConfig, num_labels: int = 2) -> dict:
    """Trainable / total parameters for the chosen backbone and strategy, before any training.

    Built on the meta device from the backbone's config: no weights are read, so it is instant.
    A hub model not downloaded yet raises BackboneError (nothing is fetched for a preview).
    """
    import torch
    import transformers
    from transformers import AutoConfig

    path = resolve_backbone(config.backbone, download=False)
    model_cfg = AutoConfig.from_pretrained(path, num_labels=num_labels)
    if getattr(model_cfg, "pad_token_id", None) is None:
        model_cfg.pad_token_id = 0
    auto_class, task_type = get_task(config.task).MODEL_CLASS
    with torch.device("meta"):
        model = getattr(transformers, auto_class).from_config(model_cfg)
    return parameter_counts(apply_strategy(model, config, task_type=task_type))
