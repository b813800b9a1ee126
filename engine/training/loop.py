"""The one training loop: every Trainer-based job of the engine trains through ``fit``.

Text classification, multi-label, NER, relation, QA, the three generation tasks and adaptive
pre-training all call ``fit``; it owns what used to be written out once per task:

- the ``TrainingArguments`` (``trainer_arguments``: evaluation / saving schedule, best
  checkpoint by the task's metric, seed, device precision, length grouping),
- the strategy (``engine.strategies.apply_strategy``) and the parameter counts,
- the "start" event, the callbacks (``EventsCallback``: events.jsonl, Stop, time budget, the
  NaN guard, distributed stop; ``PatientEarlyStopping`` on the task's metric; the strategy's own
  callbacks; anything the caller adds, e.g. a hyper-parameter search's ``PruningCallback``),
- the Trainer (``AdaptuneTrainer``: the run's regularisation, evaluation in row order),
- resume from a full checkpoint, and training samples per second over every process.

``finish`` writes metrics.json, the "end" event and the final status, the same for every task.
SetFit keeps its own trainer (engine/fewshot.py) but shares ``EventsCallback`` and ``finish``.
"""

from __future__ import annotations

import math
import shutil
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from transformers import TrainerCallback

from engine.distributed import STOP_FILE, is_distributed
from engine.runs import Run


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
        return {
            "device": "cuda",
            "bf16": bf16,
            "fp16": not bf16,
            "label": f"GPU: {name} ({'bf16' if bf16 else 'fp16'} mixed precision)",
        }
    if (
        setting in ("auto", "mps")
        and getattr(torch.backends, "mps", None)
        and torch.backends.mps.is_available()
    ):
        return {"device": "mps", "bf16": False, "fp16": False, "label": "Apple GPU (MPS), fp32"}
    if setting == "cuda":
        raise RuntimeError("device=cuda was asked for but no CUDA GPU is visible; use auto or cpu.")
    threads = torch.get_num_threads()
    return {
        "device": "cpu",
        "bf16": False,
        "fp16": False,
        "label": f"CPU ({threads} threads), fp32 — no GPU found",
    }


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


class EventsCallback(TrainerCallback):
    """Writes progress to events.jsonl and honours Stop, the time budget and a diverged loss.

    ``samples_per_step``: training samples one optimisation step consumes over every process
    (batch size x gradient accumulation x world size), for samples/s."""

    def __init__(
        self, run: Run, stop_event: threading.Event, time_budget: float, samples_per_step: int
    ):
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
        elif (
            self.time_budget
            and time.time() - self.start > self.time_budget
            and not self.stop_reason
        ):
            self.stop_reason = f"time budget of {self.time_budget:.0f} s spent"
        if is_distributed() and _any_rank(bool(self.stop_reason)) and not self.stop_reason:
            # every rank stops at this step; a user's stop seen first by another rank is
            # still a stop here (rank 0 reports the run as stopped)
            self.stop_reason = "stopped by another process"
            if (self.run.path / STOP_FILE).exists():
                self.stop_event.set()
        if self.stop_reason:
            self.run.append_event(
                "message",
                text=f"Stopping: {self.stop_reason}; evaluating and keeping the best checkpoint.",
            )
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
            self.run.append_event(
                "log",
                step=step,
                max_steps=total,
                loss=None,
                epoch=round(state.epoch or 0, 4),
                diverged=str(loss),
                learning_rate=logs.get("learning_rate"),
            )
            raise DivergedError(
                f"The training loss became {loss} at step {step}: training diverged, so the run "
                f"was stopped. Lower the learning rate (it was {args.learning_rate:g}; try 10x "
                "lower), keep warm-up on, and check the data for empty or huge texts. The last "
                "good checkpoint is kept: resume continues from it."
            )
        self.run.append_event(
            "log",
            step=step,
            max_steps=total,
            epoch=round(state.epoch or 0, 4),
            loss=logs.get("loss"),
            learning_rate=logs.get("learning_rate"),
            grad_norm=logs.get("grad_norm"),
            samples_per_second=round(done * self.samples_per_step / elapsed, 2),
            eta_seconds=round(per_step * (total - step), 1),
            progress=round(step / total, 4),
            elapsed_seconds=round(time.time() - self.start, 1),
        )

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        metrics = dict(metrics or {})
        self.eval_seconds += float(metrics.get("eval_runtime", 0.0))
        values = {
            k: v
            for k, v in metrics.items()
            if k.startswith("eval_") and isinstance(v, (int, float))
        }
        self.run.append_event(
            "eval", step=state.global_step, epoch=round(state.epoch or 0, 4), **values
        )


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


def best_metric(config, reported: set[str] | list[str], default: str) -> str:
    """The metric that picks the best checkpoint: the user's choice when the task reports it,
    else the task's own main metric ("loss" is always reported)."""
    chosen = getattr(config, "metric_for_best_model", "loss")
    return chosen if chosen == "loss" or chosen in reported else default


def trainer_arguments(
    config,
    run: Run,
    n_train: int,
    dev: dict,
    family: str = "encoder",
    metric: str | None = None,
    *,
    task: str = "classification",
    evaluations: int = 0,
    **overrides,
):
    """TrainingArguments for a run, shared by every job: evaluation/saving schedule, best
    checkpoint, seed, device precision, length grouping. Returns (args, total_steps, lr).

    ``metric``: the validation metric for the best checkpoint (default: the config's; "loss"
    and "perplexity" are minimised). ``task``: picks the default learning rate when the
    config leaves it at 0 (engine.strategies.default_learning_rate). ``evaluations``: evaluations over the whole run instead of the
    config's evaluations per epoch. ``overrides``: extra TrainingArguments fields (e.g.
    train_sampling_strategy="random" when the dataset has no "length" column)."""
    from transformers import TrainingArguments

    from engine.strategies import default_learning_rate

    steps_per_epoch = max(1, math.ceil(n_train / config.batch_size))
    total = config.max_steps or max(1, math.ceil(steps_per_epoch * config.epochs))
    if evaluations:
        eval_every = max(1, math.ceil(total / evaluations))
    else:
        eval_every = max(1, min(total, math.ceil(steps_per_epoch / config.evaluations_per_epoch)))
    lr = config.learning_rate or default_learning_rate(config.strategy, family, task)
    best = metric or config.metric_for_best_model
    kwargs = dict(
        output_dir=str(run.checkpoints_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=getattr(config, "eval_batch_size", config.batch_size),
        learning_rate=lr,
        weight_decay=config.weight_decay,
        warmup_steps=int(config.warmup_ratio * total),
        lr_scheduler_type=getattr(config, "lr_scheduler", "linear"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        eval_strategy="steps",
        eval_steps=eval_every,
        save_strategy="steps",
        save_steps=eval_every,
        save_total_limit=2,
        load_best_model_at_end=True,
        save_only_model=False,
        metric_for_best_model=("eval_loss" if best == "loss" else f"eval_{best}"),
        greater_is_better=best not in ("loss", "perplexity"),
        logging_steps=max(1, min(10, eval_every // 2 or 1)),
        logging_first_step=True,
        train_sampling_strategy="group_by_length",
        length_column_name="length",
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        use_cpu=dev["device"] == "cpu",
        bf16=dev["bf16"],
        fp16=dev["fp16"],
        dataloader_num_workers=0,
        optim="adamw_torch",
    )
    kwargs.update(overrides)
    return TrainingArguments(**kwargs), total, lr


@dataclass
class Fit:
    """What ``fit`` leaves behind: the trainer (best checkpoint loaded) and the run's facts."""

    trainer: Any
    model: Any
    counts: dict
    dev: dict
    lr: float
    total_steps: int
    callback: EventsCallback
    stop_reason: str
    train_seconds: float
    samples_per_second: float
    processes: int
    before: Any = None

    @property
    def early_stopped(self) -> bool:
        return not self.stop_reason and self.trainer.state.global_step < self.total_steps


def fit(
    config,
    run: Run,
    stop_event: threading.Event,
    *,
    model,
    tokenizer,
    family: str,
    train_ds,
    val_ds,
    task: str,
    metric: str,
    data_collator=None,
    compute_metrics=None,
    task_type: str | None = "SEQ_CLS",
    strategy: bool = True,
    regularization=None,
    trainer_class=None,
    callbacks: list | tuple = (),
    args_overrides: dict | None = None,
    evaluations: int = 0,
    label_names: list[str] | None = None,
    start_info: dict | None = None,
    prepare_model: Callable[[Any], Any] | None = None,
    before: Callable[[Any], Any] | None = None,
    resume_from: str | None = None,
    **trainer_kwargs,
) -> Fit:
    """Train ``model`` on ``train_ds`` for ``run``: the strategy applied (unless ``strategy`` is
    False: the caller prepared the model), the spine's callbacks, the best checkpoint by
    ``metric`` loaded at the end.

    The TrainingArguments come from ``trainer_arguments`` with ``args_overrides``,
    ``evaluations`` and ``label_names`` (the task picks the default learning rate).
    ``trainer_class``: a subclass of
    ``AdaptuneTrainer`` (default) for a job's own evaluation or loss. ``callbacks``: extra
    TrainerCallbacks (one with a ``stop_reason`` attribute names why it stopped the run).
    ``prepare_model(model)``: called after the strategy, before the Trainer is built.
    ``before(trainer)``: called once before training (the untrained model's scores).
    ``resume_from``: a checkpoint of this run to continue from (weights, optimizer, scheduler
    and random state). ``trainer_kwargs``: passed to the trainer (e.g.
    preprocess_logits_for_metrics)."""
    from transformers.trainer_callback import PrinterCallback

    from engine import regularization as reg_module
    from engine.strategies import apply_strategy, parameter_counts, strategy_callbacks

    dev = pick_device(config.device)
    overrides = {"label_names": label_names or ["labels"], **(args_overrides or {})}
    args, total_steps, lr = trainer_arguments(
        config,
        run,
        len(train_ds),
        dev,
        family,
        metric=metric,
        task=task,
        evaluations=evaluations,
        **overrides,
    )
    if strategy:
        model = apply_strategy(model, config, total_steps=total_steps, task_type=task_type)
    if prepare_model is not None:
        model = prepare_model(model) or model
    counts = parameter_counts(model)
    processes = max(1, args.world_size)
    start = dict(
        device=dev["label"],
        backbone=config.backbone,
        family=family,
        strategy=config.strategy,
        parameters=counts,
        learning_rate=lr,
        max_steps=total_steps,
        train_rows=len(train_ds),
        validation_rows=len(val_ds) if hasattr(val_ds, "__len__") else None,
        task=task,
        metric=metric,
        processes=processes,
    )
    if resume_from:
        start["resumed_from"] = str(resume_from).replace("\\", "/").rsplit("/", 1)[-1]
    start.update(start_info or {})
    run.append_event("start", **start)
    events = EventsCallback(
        run,
        stop_event,
        config.time_budget_seconds,
        config.batch_size * args.gradient_accumulation_steps * processes,
    )
    all_callbacks = [events]
    if getattr(config, "early_stopping_patience", 0):
        all_callbacks.append(early_stopping(config.early_stopping_patience))
    all_callbacks += strategy_callbacks(model) + list(callbacks)
    if regularization is None and hasattr(config, "adversarial"):
        regularization = reg_module.Regularization(
            adversarial=config.adversarial, adversarial_epsilon=config.adversarial_epsilon
        )
    trainer = (trainer_class or reg_module.AdaptuneTrainer)(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        processing_class=tokenizer,
        data_collator=data_collator,
        compute_metrics=compute_metrics,
        callbacks=all_callbacks,
        regularization=regularization,
        **trainer_kwargs,
    )
    trainer.remove_callback(PrinterCallback)  # progress goes to events.jsonl instead
    before_scores = before(trainer) if before else None
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_seconds = max(1e-9, result.metrics.get("train_runtime", 0) - events.eval_seconds)
    samples_seen = (trainer.state.global_step - events.first_step) * events.samples_per_step
    stop_reason = events.stop_reason or next(
        (cb.stop_reason for cb in callbacks if getattr(cb, "stop_reason", "")), ""
    )
    return Fit(
        trainer=trainer,
        model=trainer.model,
        counts=counts,
        dev=dev,
        lr=lr,
        total_steps=total_steps,
        callback=events,
        stop_reason=stop_reason,
        train_seconds=train_seconds,
        processes=processes,
        samples_per_second=round(samples_seen / train_seconds, 2),
        before=before_scores,
    )


def base_metrics(
    config, stop_event: threading.Event, result: Fit, task: str, started: float
) -> dict:
    """The fields every job's metrics.json has (the task adds test/validation/report...)."""
    return {
        "status": "stopped" if stop_event.is_set() else "completed",
        "stop_reason": result.stop_reason,
        "task": task,
        "train_samples_per_second": result.samples_per_second,
        "train_seconds": round(result.train_seconds, 2),
        "total_seconds": round(time.time() - started, 2),
        "global_step": result.trainer.state.global_step,
        "max_steps": result.total_steps,
        "best_checkpoint_metric": result.trainer.state.best_metric,
        "parameters": result.counts,
        "device": result.dev["label"],
        "learning_rate": result.lr,
        "processes": result.processes,
        "early_stopped": result.early_stopped,
    }


def finish(run: Run, metrics: dict, device: str = "cpu", **end_fields) -> dict:
    """Write metrics.json, the end event and the final status; drop the checkpoints (the best
    model is saved by then); free the accelerator's cache. The same for every job."""
    run.write_metrics(metrics)
    run.append_event(
        "end", status=metrics["status"], **(end_fields or {"test": metrics.get("test")})
    )
    run.set_status(metrics["status"])
    if run.writer:
        shutil.rmtree(run.checkpoints_dir, ignore_errors=True)
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()
    return metrics


def predict_logits(trainer, dataset):
    """The model's raw outputs on ``dataset`` (a tuple for several heads) and the loss.
    The trainer's compute_metrics (written for the validation rows) is not run here."""
    saved, trainer.compute_metrics = trainer.compute_metrics, None
    try:
        out = trainer.predict(dataset)
    finally:
        trainer.compute_metrics = saved
    return out.predictions, float(out.metrics.get("test_loss", float("nan")))
