"""One training run, start to finish: data -> backbone -> strategy -> Trainer -> report.

``train_run(config, run, stop_event)`` is what the JobManager's worker thread and the CLI both
call. Progress goes to ``run.append_event`` (events.jsonl); the final report to metrics.json.
"""
from __future__ import annotations

import math
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from transformers import TrainerCallback

from engine import augment as augmentation
from engine import regularization
from engine.backbones import family_of, pretrained_kwargs, remote_code, resolve_backbone
from engine.config import ConfigError, RunConfig
from engine.data import prepare_data
from engine.distributed import STOP_FILE, is_distributed
from engine.runs import Run, write_json_atomic
from engine.strategies import (STRATEGIES, apply_strategy, default_learning_rate, padding_side,
                               parameter_counts, save_model, strategy_callbacks, support)
from engine.tasks import classification as task


def quiet_libraries() -> None:
    """Progress bars and expected warnings of the libraries would drown our own progress."""
    import warnings

    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


def pick_device(setting: str = "auto") -> dict:
    """Device and precision to train with, and a line that says so."""
    import torch

    if setting in ("auto", "cuda") and torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        name = torch.cuda.get_device_name(0)
        return {"device": "cuda", "bf16": bf16, "fp16": not bf16,
                "label": f"GPU: {name} ({'bf16' if bf16 else 'fp16'} mixed precision)"}
    if setting in ("auto", "mps") and getattr(torch.backends, "mps", None) \
            and torch.backends.mps.is_available():
        return {"device": "mps", "bf16": False, "fp16": False, "label": "Apple GPU (MPS), fp32"}
    if setting == "cuda":
        raise RuntimeError("device=cuda was asked for but no CUDA GPU is visible; use auto or cpu.")
    threads = torch.get_num_threads()
    return {"device": "cpu", "bf16": False, "fp16": False,
            "label": f"CPU ({threads} threads), fp32 — no GPU found"}


class EventsCallback(TrainerCallback):
    """Trainer callback: writes progress to events.jsonl and honours stop / time budget."""

    def __init__(self, run: Run, stop_event: threading.Event, time_budget: float,
                 samples_per_step: int):
        self.run = run
        self.stop_event = stop_event
        self.time_budget = time_budget
        self.samples_per_step = samples_per_step
        self.start = time.time()
        self.eval_seconds = 0.0
        self.stop_reason = ""
        self.first_step = 0

    def _elapsed_training(self) -> float:
        return max(1e-9, time.time() - self.start - self.eval_seconds)

    def on_train_begin(self, args, state, control, **kw):
        self.start = time.time()
        self.first_step = state.global_step  # > 0 when resumed from a checkpoint

    def on_step_end(self, args, state, control, **kw):
        if self.stop_event.is_set() and not self.stop_reason:
            self.stop_reason = "stopped by the user"
        elif self.time_budget and time.time() - self.start > self.time_budget \
                and not self.stop_reason:
            self.stop_reason = f"time budget of {self.time_budget:.0f} s spent"
        if is_distributed() and _any_rank(bool(self.stop_reason)) and not self.stop_reason:
            # every rank stops at this step; a user's stop seen first by another rank is
            # still a stop here (rank 0 reports the run as stopped)
            self.stop_reason = "stopped by another process"
            if (self.run.path / STOP_FILE).exists():
                self.stop_event.set()
        if self.stop_reason:
            self.run.append_event("message", text=f"Stopping: {self.stop_reason}; evaluating and "
                                                   "keeping the best checkpoint.")
            control.should_training_stop = True
            control.should_evaluate = True
            control.should_save = True
        return control

    def on_log(self, args, state, control, logs=None, **kw):
        logs = dict(logs or {})
        if "loss" not in logs:
            return
        step, total = state.global_step, max(state.max_steps, 1)
        elapsed = self._elapsed_training()
        done = max(step - self.first_step, 1)  # steps trained by this process
        per_step = elapsed / done
        loss = logs.get("loss")
        if isinstance(loss, (int, float)) and not math.isfinite(loss):
            self.run.append_event("log", step=step, max_steps=total, loss=None,
                                  epoch=round(state.epoch or 0, 4), diverged=str(loss),
                                  learning_rate=logs.get("learning_rate"))
            raise DivergedError(
                f"The training loss became {loss} at step {step}: training diverged, so the run "
                f"was stopped. Lower the learning rate (it was {args.learning_rate:g}; try 10x "
                "lower), keep warm-up on, and check the data for empty or huge texts. The last "
                "good checkpoint is kept: resume continues from it.")
        self.run.append_event(
            "log", step=step, max_steps=total, epoch=round(state.epoch or 0, 4),
            loss=logs.get("loss"), learning_rate=logs.get("learning_rate"),
            grad_norm=logs.get("grad_norm"),
            samples_per_second=round(done * self.samples_per_step / elapsed, 2),
            eta_seconds=round(per_step * (total - step), 1), progress=round(step / total, 4),
            elapsed_seconds=round(time.time() - self.start, 1))

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        metrics = dict(metrics or {})
        self.eval_seconds += float(metrics.get("eval_runtime", 0.0))
        values = {k: v for k, v in metrics.items() if k.startswith("eval_")
                  and isinstance(v, (int, float))}
        self.run.append_event("eval", step=state.global_step, epoch=round(state.epoch or 0, 4),
                              **values)
        # e.g. a hyper-parameter search's pruner (engine/automl.py): True stops this run
        for hook in getattr(self.run, "eval_hooks", ()):
            if hook(state.global_step, values):
                self.stop_reason = self.stop_reason or "pruned"
                control.should_training_stop = True


class DivergedError(ValueError):
    """The loss became NaN or infinite; the message says what to change."""


def _any_rank(flag: bool) -> bool:
    """True when ``flag`` is set on any process of a distributed run (a collective: every
    rank calls it at the same step, so they all stop together)."""
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        return flag
    t = torch.tensor([1 if flag else 0])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def early_stopping(patience: int):
    """EarlyStoppingCallback that only starts counting once the score has left zero.

    Entity F1 (NER), exact match and other span scores sit at exactly 0 for the first
    evaluations while a fresh head still predicts "O" everywhere; counting those as "no
    improvement" stopped a Chinese NER run after 15 steps at F1 0.0 (measured). A loss never
    sits at 0, so "loss" runs behave as before."""
    from transformers import EarlyStoppingCallback

    class PatientEarlyStopping(EarlyStoppingCallback):
        def check_metric_value(self, args, state, control, metric_value):
            if args.greater_is_better and not metric_value and not state.best_metric:
                self.early_stopping_patience_counter = 0  # nothing learnt yet: keep going
                return
            super().check_metric_value(args, state, control, metric_value)

    return PatientEarlyStopping(patience)


def best_metric(config: RunConfig, reported: set[str] | list[str], default: str) -> str:
    """The metric that picks the best checkpoint: the user's choice when the task reports it,
    else the task's own main metric ("loss" is always reported)."""
    chosen = config.metric_for_best_model
    return chosen if chosen == "loss" or chosen in reported else default


def trainer_arguments(config: RunConfig, run: Run, n_train: int, dev: dict,
                      family: str = "encoder", metric: str | None = None, **overrides):
    """TrainingArguments for a run, shared by every task: evaluation/saving schedule, best
    checkpoint, seed, device precision, length grouping. Returns (args, total_steps, lr).

    ``metric``: the validation metric for the best checkpoint (default: the config's).
    ``overrides``: extra TrainingArguments fields (e.g. train_sampling_strategy="random" when the
    dataset has no "length" column)."""
    from transformers import TrainingArguments

    steps_per_epoch = max(1, math.ceil(n_train / config.batch_size))
    total = config.max_steps or max(1, math.ceil(steps_per_epoch * config.epochs))
    eval_every = max(1, min(total, math.ceil(steps_per_epoch / config.evaluations_per_epoch)))
    lr = config.learning_rate or default_learning_rate(config.strategy, family)
    best = metric or config.metric_for_best_model
    kwargs = dict(
        output_dir=str(run.checkpoints_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=lr, weight_decay=config.weight_decay, warmup_steps=int(config.warmup_ratio * total),
        lr_scheduler_type=config.lr_scheduler,
        num_train_epochs=config.epochs, max_steps=config.max_steps or -1,
        eval_strategy="steps", eval_steps=eval_every, save_strategy="steps", save_steps=eval_every,
        save_total_limit=2, load_best_model_at_end=True, save_only_model=False,
        metric_for_best_model=("eval_loss" if best == "loss" else f"eval_{best}"),
        greater_is_better=best != "loss",
        logging_steps=max(1, min(10, eval_every // 2 or 1)), logging_first_step=True,
        train_sampling_strategy="group_by_length", length_column_name="length",
        seed=config.seed, data_seed=config.seed, report_to="none", disable_tqdm=True,
        use_cpu=dev["device"] == "cpu", bf16=dev["bf16"], fp16=dev["fp16"],
        dataloader_num_workers=0, optim="adamw_torch",
    )
    kwargs.update(overrides)
    return TrainingArguments(**kwargs), total, lr



def data_spec(config: RunConfig):
    """The run's data, loaded, checked and split as the configuration says (texts masked when
    ``config.mask_pii``: every split, so evaluation and export see what training saw)."""
    spec = prepare_data(config.data, config.text_column, config.label_column, config.test_data,
                        config.validation_fraction, config.test_fraction, config.seed,
                        config.max_rows, config.max_length)
    if getattr(config, "mask_pii", False):
        from engine.privacy import mask_series

        total: dict = {}
        for split in ("train", "validation", "test"):
            frame = getattr(spec, split).copy()
            frame["text"], counts = mask_series(frame["text"].astype(str))
            setattr(spec, split, frame)
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
        spec.stats["masked"] = total
        spec.warnings.append("Personal data masked before training: " + (", ".join(
            f"{v} {k}" for k, v in total.items() if v) or "nothing found") + ".")
    return spec


def check_support(config: RunConfig, download: bool = True) -> None:
    """ConfigError with the one-line reason when the strategy cannot train this backbone here."""
    from transformers import AutoConfig

    if config.strategy == "auto":
        return
    path = resolve_backbone(config.backbone, download=download)
    # a model with its own code needs the run's "trust remote code" even to read its config
    with remote_code(getattr(config, "trust_remote_code", False)):
        model_type = getattr(AutoConfig.from_pretrained(path, **pretrained_kwargs()),
                             "model_type", "")
    reason = support(config.strategy, family_of(config.backbone), model_type, config.device)
    if not reason and config.task != "classification":
        from engine.tasks import get_task

        reason = get_task(config.task).unsupported(config.strategy, family_of(config.backbone))
    if reason:
        raise ConfigError(reason)


def plan_run(config: RunConfig, spec) -> tuple[RunConfig, object]:
    """Resolve ``strategy=auto`` with the planner; other strategies pass through unchanged."""
    from engine.planner import resolve_auto

    return resolve_auto(config, spec)


def preflight(config: RunConfig):
    """Check the data and the backbone before a run folder is made; returns the DataSpec.

    Raises DataError / BackboneError / ConfigError with the human message."""
    with remote_code(getattr(config, "trust_remote_code", False)):
        return _preflight(config)


def _preflight(config: RunConfig):
    config.validate()
    if config.task != "classification":
        from engine.tasks import get_task

        data = get_task(config.task).prepare(config)
        resolve_backbone(config.backbone)
        check_support(resolve_task_strategy(config))
        return data
    spec = data_spec(config)
    resolve_backbone(config.backbone)
    check_support(plan_run(config, spec)[0])
    if config.warm_start:
        from engine.export import warm_start_run

        warm_start_run(config.warm_start, config.output_dir)
        if config.strategy == "setfit":
            raise ConfigError("SetFit trains its own sentence encoder; warm-start with LoRA, full "
                              "or head-only fine-tuning.")
    if config.augment in ("paraphrase", "both"):
        resolve_backbone("smollm2-135m-instruct")  # the paraphrasing model must be there
    return spec


def train_run(config: RunConfig, run: Run, stop_event: threading.Event | None = None,
              resume_from: str | os.PathLike | None = None) -> dict:
    """Train and evaluate one run; returns the metrics written to metrics.json.

    Raises the engine's human errors (DataError, BackboneError, ConfigError) unchanged; the
    caller records them. A stop request ends training early but still saves and reports.
    ``resume_from``: a checkpoint of this run (engine.jobs.JobManager.resume): the same data
    split and model are rebuilt, then the Trainer continues from that step (weights, optimizer,
    scheduler and random state), appending to the same events.
    """
    with remote_code(getattr(config, "trust_remote_code", False)):
        return _train_run(config, run, stop_event, resume_from)


def _train_run(config: RunConfig, run: Run, stop_event: threading.Event | None,
               resume_from) -> dict:
    import torch
    from transformers import DataCollatorWithPadding, set_seed

    stop_event = stop_event or threading.Event()
    quiet_libraries()
    run.set_status("running")
    if getattr(config, "trust_remote_code", False):
        run.append_event("message", level="warning",
                         text="Trust remote code is on: the backbone's own Python code may run "
                              "on this machine.")
    started = time.time()
    set_seed(config.seed)
    if config.task != "classification":
        if not run.writer or is_distributed():
            raise ConfigError("Distributed (multi-process) training supports text "
                              "classification; train other tasks in one process.")
        return _train_task(config, run, stop_event)

    spec = data_spec(config)
    if run.writer:
        write_json_atomic(run.path / "data.json", spec.to_dict())
    for w in spec.warnings:
        run.append_event("message", text=f"Data warning: {w}", level="warning")
    if config.strategy == "auto":
        requested = config
        config, plan = plan_run(config, spec)
        # config.json holds what actually trains (predict reads max_length from it); the form
        # the run was started from is kept in plan.json
        if run.writer:
            write_json_atomic(run.path / "plan.json", {**plan.to_dict(),
                                                       "requested": requested.to_dict()})
            config.save(run.path / "config.json")
        run.append_event("message", text=plan.summary(), plan=plan.to_dict())
        for note in plan.notes:
            run.append_event("message", text=note, level="warning")
    check_support(config)
    if STRATEGIES[config.strategy].trainer == "fewshot":
        if is_distributed():
            raise ConfigError("SetFit trains in one process; pick another strategy for "
                              "distributed training.")
        from engine.fewshot import train_setfit

        return train_setfit(config, run, spec, stop_event)

    train_frame, augment_info = _augmented_train(config, spec, run, stop_event)

    family = family_of(config.backbone)
    path = resolve_backbone(config.backbone)
    dev = pick_device(config.device)
    dropout = regularization.dropout_overrides(path, config.dropout)
    warm = None
    if config.warm_start:
        model, tokenizer, warm = _warm_start(config, spec, family, dropout, run)
    else:
        model, tokenizer = task.load_model(path, spec.labels, family, config_overrides=dropout)
    tokenizer.padding_side = padding_side(config.strategy, family)
    train_ds = task.tokenize_frame(train_frame, tokenizer, config.max_length, spec.label2id)
    val_ds = task.tokenize_frame(spec.validation, tokenizer, config.max_length, spec.label2id)
    test_ds = task.tokenize_frame(spec.test, tokenizer, config.max_length, spec.label2id)
    args, total_steps, lr = trainer_arguments(config, run, len(train_ds), dev, family)
    model = apply_strategy(model, config, total_steps=total_steps)
    counts = parameter_counts(model)
    run.append_event("start", device=dev["label"], backbone=config.backbone, family=family,
                     strategy=config.strategy, parameters=counts, learning_rate=lr,
                     max_steps=total_steps, train_rows=len(train_ds), validation_rows=len(val_ds),
                     test_rows=len(test_ds), labels=spec.labels,
                     **({"resumed_from": Path(resume_from).name} if resume_from else {}))
    callbacks = [EventsCallback(run, stop_event, config.time_budget_seconds,
                                config.batch_size * args.gradient_accumulation_steps
                                * args.world_size)]
    if config.early_stopping_patience:
        callbacks.append(early_stopping(config.early_stopping_patience))
    callbacks += strategy_callbacks(model)
    reg = regularization.Regularization.from_config(config, train_frame["label"], spec.labels)
    trainer = regularization.AdaptuneTrainer(
        model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds,
        processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=task.compute_metrics, callbacks=callbacks, regularization=reg)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # progress goes to events.jsonl instead
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    events_cb = callbacks[0]
    samples_seen = (trainer.state.global_step - events_cb.first_step) * config.batch_size \
        * args.world_size
    train_seconds = max(1e-9, result.metrics.get("train_runtime", 0) - events_cb.eval_seconds)

    # final reports, with the best checkpoint loaded
    validation = _evaluate(trainer, val_ds, spec.validation, spec.labels)
    test_t0 = time.time()
    test = _evaluate(trainer, test_ds, spec.test, spec.labels)
    test_seconds = time.time() - test_t0

    if run.writer:
        _save_model(trainer, tokenizer, run, spec, merge=warm is not None)
        shutil.rmtree(run.checkpoints_dir, ignore_errors=True)
    warm_report = None
    if warm is not None and run.writer:
        from engine.export import warm_start_comparison

        warm_report = warm_start_comparison(warm, run.path, spec.test[["text", "label"]])
        run.append_event("message", text=warm_report["summary"])
    stopped = bool(events_cb.stop_reason)
    metrics = {
        "status": "stopped" if stop_event.is_set() else "completed",
        "stop_reason": events_cb.stop_reason,
        "validation": validation["summary"], "test": test["summary"],
        "test_report": test["report"], "validation_report": validation["report"],
        "worst_errors": test["errors"],
        "majority_baseline": task.majority_baseline(spec.train["label"].tolist(),
                                                    spec.test["label"].tolist()),
        "train_samples_per_second": round(samples_seen / train_seconds, 2),
        "eval_samples_per_second": round(len(test_ds) / max(test_seconds, 1e-9), 2),
        "train_seconds": round(train_seconds, 2), "total_seconds": round(time.time() - started, 2),
        "global_step": trainer.state.global_step, "max_steps": total_steps,
        "best_checkpoint_metric": trainer.state.best_metric,
        "parameters": counts, "device": dev["label"], "learning_rate": lr,
        "processes": args.world_size,
        "labels": spec.labels, "early_stopped": (not stopped and trainer.state.global_step
                                                  < total_steps),
        "regularization": _regularization_summary(config, reg, dropout, augment_info, trainer),
    }
    if warm_report:
        metrics["warm_start"] = warm_report
    run.write_metrics(metrics)
    run.append_event("end", status=metrics["status"], test=test["summary"])
    run.set_status(metrics["status"])
    del trainer, model
    if dev["device"] == "cuda":
        torch.cuda.empty_cache()
    return metrics


def resolve_task_strategy(config: RunConfig) -> RunConfig:
    """``strategy=auto`` for a task other than classification: the task's own default for the
    backbone family (the classification planner reads class statistics these tasks lack)."""
    from dataclasses import replace

    from engine.tasks import get_task

    if config.strategy != "auto":
        return config
    module = get_task(config.task)
    return replace(config, strategy=module.DEFAULT_STRATEGY(family_of(config.backbone)))


def _train_task(config: RunConfig, run: Run, stop_event: threading.Event) -> dict:
    """Every task but classification: the task module prepares, trains and reports."""
    from engine.tasks import get_task

    module = get_task(config.task)
    if config.augment != "none":
        run.append_event("message", level="warning",
                         text=f"Augmentation ({config.augment}) is for text classification; the "
                              f"{config.task} task trains on the rows as they are.")
    data = module.prepare(config)
    write_json_atomic(run.path / "data.json", data.to_dict())
    for w in data.warnings:
        run.append_event("message", text=f"Data warning: {w}", level="warning")
    if config.strategy == "auto":
        resolved = resolve_task_strategy(config)
        run.append_event("message", text=f"Auto: {resolved.strategy} for the {config.task} task "
                                         f"on {config.backbone}.")
        write_json_atomic(run.path / "plan.json", {"strategy": resolved.strategy,
                                                   "requested": config.to_dict()})
        config = resolved
        config.save(run.path / "config.json")
    check_support(config)
    return module.train(config, run, stop_event, data)


def _evaluate(trainer, dataset, frame, labels: list[str]) -> dict:
    out = trainer.predict(dataset)
    logits = out.predictions[0] if isinstance(out.predictions, tuple) else out.predictions
    probs = task.softmax(np.asarray(logits, dtype=np.float64))
    preds = probs.argmax(-1).tolist()
    gold = out.label_ids.tolist()
    rep = task.report(gold, preds, labels)
    summary = {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"],
               "loss": float(out.metrics.get("test_loss", float("nan"))), "n": rep["n"]}
    wrong = [(float(probs[i, preds[i]]), i) for i in range(len(preds)) if preds[i] != gold[i]]
    wrong.sort(reverse=True)
    errors = [{"text": frame["text"].iloc[i], "gold": labels[gold[i]], "predicted": labels[preds[i]],
               "confidence": round(c, 4)} for c, i in wrong[:25]]
    return {"summary": summary, "report": rep, "errors": errors}


def _save_model(trainer, tokenizer, run: Run, spec, merge: bool = False) -> None:
    """model/ holds an adapter (LoRA) or a full model, the tokenizer and labels.json.
    ``merge``: an adapter is merged first (a warm-started run's adapter belongs to the earlier
    run's model, not to the backbone that config.json names)."""
    out = run.model_dir
    tmp = out.with_name("model.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model = trainer.model
    if merge and hasattr(model, "merge_and_unload"):
        try:
            model = model.merge_and_unload()
        except (AttributeError, ValueError, TypeError, NotImplementedError):
            raise ConfigError("This strategy's adapter cannot be merged into a warm-started "
                              "model; retrain with LoRA, full or head-only.") from None
    save_model(model, tmp)  # PiSSA becomes a plain LoRA adapter for the original base
    tokenizer.save_pretrained(tmp)
    write_json_atomic(tmp / "labels.json", {"labels": spec.labels,
                                            "text_column": spec.text_column,
                                            "label_column": spec.label_column})
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def _warm_start(config: RunConfig, spec, family: str, dropout: dict, run: Run):
    """The model and tokenizer of the finished run ``config.warm_start`` (merged when it was an
    adapter), with its classification head kept when the labels are the same, else a fresh
    head for the new labels; returns (model, tokenizer, the earlier Run)."""
    from engine.export import warm_start_model, warm_start_run

    old = warm_start_run(config.warm_start, config.output_dir)
    folder, old_labels = warm_start_model(old)
    same = list(old_labels) == list(spec.labels)
    overrides = dict(dropout)
    if len(old_labels) != len(spec.labels):
        overrides["ignore_mismatched_sizes"] = True
    model, tokenizer = task.load_model(folder, spec.labels, family, config_overrides=overrides)
    if not same:
        for name in ("classifier", "score"):
            head = getattr(model, name, None)
            for module in (head.modules() if head is not None else []):
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
    run.append_event("message", text=f"Warm start from {old.id}: its fine-tuned model"
                     + (" and classification head" if same else f" with a new head (labels "
                        f"{', '.join(old_labels)} -> {', '.join(spec.labels)})") + ".")
    return model, tokenizer, old


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
    auto_class, task_type = TASK_MODEL_CLASSES.get(config.task, TASK_MODEL_CLASSES["classification"])
    with torch.device("meta"):
        model = getattr(transformers, auto_class).from_config(model_cfg)
    return parameter_counts(apply_strategy(model, config, task_type=task_type))


# The transformers auto class and peft task type each task trains (for previews and estimates).
TASK_MODEL_CLASSES = {
    "classification": ("AutoModelForSequenceClassification", "SEQ_CLS"),
    "multilabel": ("AutoModelForSequenceClassification", "SEQ_CLS"),
    "relation": ("AutoModelForSequenceClassification", "SEQ_CLS"),
    "ner": ("AutoModelForTokenClassification", "TOKEN_CLS"),
    "qa": ("AutoModelForQuestionAnswering", "QUESTION_ANS"),
    "summarization": ("AutoModelForCausalLM", "CAUSAL_LM"),
    "translation": ("AutoModelForCausalLM", "CAUSAL_LM"),
    "dialogue": ("AutoModelForCausalLM", "CAUSAL_LM"),
}


# ---- regularisation and augmentation (engine/regularization.py, engine/augment.py) ----------
def _augmented_train(config: RunConfig, spec, run: Run,
                     stop_event: threading.Event) -> tuple[pd.DataFrame, dict]:
    """The rows to train on: the train split plus, when ``config.augment`` asks, generated rows.

    Only the train split is augmented (validation and test stay as they are). The new rows are
    saved to ``<run>/augmented.csv`` so the user can see exactly what was trained on."""
    info = {"augment": config.augment, "augment_per_example": config.augment_per_example,
            "train_rows_original": len(spec.train), "augmented_rows": 0}
    if config.augment == "none":
        return spec.train, info
    if config.augment in ("paraphrase", "both"):
        seconds = augmentation.paraphrase_seconds(spec.train["text"].tolist(),
                                                  config.augment_per_example)
        large = len(spec.train) > augmentation.LARGE_TRAIN_ROWS
        took = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
        run.append_event("message", level="warning" if large else "info",
                         text=f"Paraphrasing {len(spec.train)} training rows with SmolLM2 "
                              f"(x{config.augment_per_example}): about {took} on a CPU"
                              + (" (a large set: token edits are instant)." if large else "."))
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.time() - last[0] >= 30 or done == total:
            last[0] = time.time()
            run.append_event("message", text=f"Paraphrased {done} of {total} texts.")

    t0 = time.time()
    new = augmentation.augment_frame(spec.train, config.augment, config.augment_per_example,
                                     config.seed, progress=progress,
                                     should_stop=stop_event.is_set)
    augmentation.release_paraphraser()
    new.to_csv(run.path / "augmented.csv", index=False)
    counts = new["method"].value_counts().to_dict() if len(new) else {}
    info.update(augmented_rows=len(new), augment_seconds=round(time.time() - t0, 2),
                augmented_by_method={str(k): int(v) for k, v in counts.items()})
    run.append_event("message", text=f"Augmentation ({config.augment}): {len(new)} new training "
                                     f"rows added to {len(spec.train)} (saved to augmented.csv).")
    frame = pd.concat([spec.train[["text", "label"]], new[["text", "label"]]],
                      ignore_index=True)
    return frame, info


def _regularization_summary(config: RunConfig, reg, dropout: dict, augment_info: dict,
                            trainer) -> dict:
    """What metrics.json records under "regularization" (all options, on or off)."""
    out = {"dropout": config.dropout if config.dropout >= 0 else None,
           "dropout_fields": sorted(dropout),
           "label_smoothing": reg.label_smoothing, "class_weights": config.class_weights,
           "class_weight_values": reg.describe()["class_weights"],
           "adversarial": reg.adversarial, "adversarial_epsilon": reg.adversarial_epsilon,
           "adversarial_steps": getattr(trainer, "adversarial_steps", 0)}
    out.update(augment_info)
    return out
