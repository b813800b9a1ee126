"""SetFit: few-shot text classification from a handful of labelled examples per class.

The recipe (Tunstall et al., 2022) in two phases, through the ``setfit`` library:

1. **Contrastive body training.** Pairs of training sentences are drawn (same label -> similarity
   target 1, different labels -> 0; ``setfit_iterations`` positive and negative pairs per labelled
   example) and the sentence-encoder body is fine-tuned with a cosine-similarity loss. Sixteen
   labelled rows become hundreds of training pairs, which is why SetFit needs so few labels.
2. **Classification head.** The tuned body embeds every training sentence once and a logistic
   regression (SetFit's default head) is fitted on those embeddings.

``train_setfit(config, run, spec, stop_event)`` is the SetFit branch of ``train_run``: it writes the
same events and the same metrics.json schema, so the UI shows a SetFit run like any other.
``load_setfit(model_dir)`` loads the saved model for prediction.

Setting mapping (RunConfig -> SetFit):
  setfit_iterations -> ``num_iterations`` (pairs per example and polarity)
  epochs            -> passes over the generated pairs (rounded up; the SetFit paper uses 1)
  max_steps         -> ``max_steps`` of the body phase (0 = by epochs)
  batch_size        -> body batch size;  learning_rate -> body learning rate (0 = 2e-5)
  max_length        -> ``model_body.max_seq_length`` (SetFit's own ``max_length`` argument only
                       reaches the head phase)
  warmup_ratio      -> ``warmup_proportion``;  class_weights=balanced -> the head's class_weight
  time_budget_seconds / stop_event -> checked after every body step; the head is still fitted
                       (a second or two) so a stopped run is saved and reported.

Labels: the head is fitted on integer class ids 0..K-1 (``spec.labels`` order) and the SetFit model
carries ``labels=spec.labels``. scikit-learn's ``predict_proba`` orders its columns by
``head.classes_`` (only the ids seen in training), so probabilities are scattered back into all K
columns by id; they are never matched by string.
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from engine.backbones import family_of, resolve_backbone
from engine.config import ConfigError, RunConfig
from engine.runs import Run, read_json, write_json_atomic

HEAD_PARAMS = {"max_iter": 1000}


def _check_encoder(config: RunConfig) -> str:
    family = family_of(config.backbone)
    if family == "decoder":
        raise ConfigError(
            f"SetFit needs a sentence-encoder backbone, but {config.backbone} is a "
            "decoder; pick an encoder such as minilm-l6, or train the decoder with "
            "the lora strategy."
        )
    return family


def setfit_pairs(n_train: int, iterations: int) -> int:
    """Sentence pairs SetFit generates for ``n_train`` examples (positive + negative)."""
    return 2 * max(1, iterations) * n_train


def _progress_callback(run: Run, stop_event: threading.Event, time_budget: float, batch_size: int):
    """A transformers TrainerCallback for the body phase (setfit forwards its callbacks to the
    sentence-transformers trainer, with that trainer's TrainerState)."""
    from transformers import TrainerCallback

    class SetFitEvents(TrainerCallback):
        def __init__(self):
            self.start = time.time()
            self.stop_reason = ""
            self.global_step = 0
            self.max_steps = 0

        def on_train_begin(self, args, state, control, **kw):
            self.start = time.time()
            self.max_steps = state.max_steps

        def on_step_end(self, args, state, control, **kw):
            self.global_step, self.max_steps = state.global_step, state.max_steps
            if stop_event.is_set() and not self.stop_reason:
                self.stop_reason = "stopped by the user"
            elif time_budget and time.time() - self.start > time_budget and not self.stop_reason:
                self.stop_reason = f"time budget of {time_budget:.0f} s spent"
            if self.stop_reason and not control.should_training_stop:
                run.append_event(
                    "message",
                    text=f"Stopping: {self.stop_reason}; fitting the "
                    "head on the body trained so far.",
                )
                control.should_training_stop = True
            return control

        def on_log(self, args, state, control, logs=None, **kw):
            logs = dict(logs or {})
            loss = logs.get("embedding_loss", logs.get("loss"))
            if loss is None:
                return
            step, total = state.global_step, max(state.max_steps, 1)
            elapsed = max(1e-9, time.time() - self.start)
            run.append_event(
                "log",
                step=step,
                max_steps=total,
                epoch=round(state.epoch or 0, 4),
                loss=loss,
                learning_rate=logs.get("learning_rate"),
                grad_norm=logs.get("grad_norm"),
                samples_per_second=round(step * batch_size / elapsed, 2),
                eta_seconds=round(elapsed / max(step, 1) * (total - step), 1),
                progress=round(step / total, 4),
                elapsed_seconds=round(elapsed, 1),
                phase="body",
            )

    return SetFitEvents()


EMBEDDING_SHARE_TO_FREEZE = 0.5


def _freeze_large_embeddings(model) -> float:
    """Freeze the body's word-embedding table when it holds most of the body's weights (e.g.
    multilingual-e5-small: 96M of 118M for a 250k vocabulary). Updating it with AdamW made each
    SetFit step ~1.6 s on a CPU and cost ~1.5 GB of optimiser state, for rows of the table that a
    few-shot set hardly touches. Returns the share frozen (0.0 when nothing was frozen)."""
    body = model.model_body
    try:
        embeddings = body[0].auto_model.get_input_embeddings().weight
    except (AttributeError, IndexError, TypeError):
        return 0.0
    total = sum(p.numel() for p in body.parameters())
    share = embeddings.numel() / max(total, 1)
    if share <= EMBEDDING_SHARE_TO_FREEZE:
        return 0.0
    embeddings.requires_grad_(False)
    return share


def train_setfit(
    config: RunConfig, run: Run, spec, stop_event: threading.Event | None = None
) -> dict:
    """Train a SetFit classifier on ``spec`` and report like ``train_run`` (see module doc)."""
    import torch
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from transformers import set_seed

    from engine.strategies import default_learning_rate, parameter_counts
    from engine.tasks import classification as task
    from engine.training.loop import pick_device, quiet_libraries

    stop_event = stop_event or threading.Event()
    family = _check_encoder(config)
    quiet_libraries()
    _quiet_setfit()
    run.set_status("running")
    started = time.time()
    set_seed(config.seed)
    dev = pick_device(config.device)

    labels = list(spec.labels)
    label2id = {label: i for i, label in enumerate(labels)}
    x_train = spec.train["text"].astype(str).tolist()
    y_train = [label2id[l] for l in spec.train["label"]]
    lr = config.learning_rate or default_learning_rate("setfit")
    head_params = dict(HEAD_PARAMS)
    if config.class_weights == "balanced":
        head_params["class_weight"] = "balanced"

    run.append_event("message", text="SetFit: loading the sentence-encoder body.")
    path = resolve_backbone(config.backbone)
    model = SetFitModel.from_pretrained(
        str(path),
        labels=labels,
        head_params=head_params,
        device=dev["device"],
        local_files_only=True,
    )
    _set_max_length(model, config.max_length)
    frozen = _freeze_large_embeddings(model)
    if frozen:
        run.append_event(
            "message",
            text=f"SetFit: the word-embedding table holds {frozen:.0%} of "
            "the encoder's weights (a large multilingual "
            "vocabulary); it stays frozen, the layers above train.",
        )

    pairs = setfit_pairs(len(x_train), config.setfit_iterations)
    epochs = max(1, math.ceil(config.epochs))
    steps = config.max_steps or epochs * math.ceil(pairs / config.batch_size)
    args = TrainingArguments(
        output_dir=str(run.checkpoints_dir),
        batch_size=config.batch_size,
        num_epochs=epochs,
        max_steps=config.max_steps or -1,
        num_iterations=config.setfit_iterations,
        body_learning_rate=lr,
        warmup_proportion=config.warmup_ratio,
        l2_weight=config.weight_decay,
        seed=config.seed,
        use_amp=dev["device"] == "cuda",
        logging_steps=max(1, min(10, steps // 20 or 1)),
        logging_first_step=True,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        show_progress_bar=False,
    )
    counts = _parameters(model, len(labels), parameter_counts)
    run.append_event(
        "start",
        device=dev["label"],
        backbone=config.backbone,
        family=family,
        strategy="setfit",
        parameters=counts,
        learning_rate=lr,
        max_steps=steps,
        train_rows=len(x_train),
        validation_rows=len(spec.validation),
        test_rows=len(spec.test),
        labels=labels,
        setfit_pairs=pairs,
        setfit_iterations=config.setfit_iterations,
    )
    events = _progress_callback(run, stop_event, config.time_budget_seconds, config.batch_size)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict({"text": x_train, "label": y_train}),
        callbacks=[events],
    )
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)  # progress goes to events.jsonl instead
    trainer.remove_callback(ProgressCallback)
    trainer.st_trainer.args.dataloader_pin_memory = dev["device"] == "cuda"
    trainer.st_trainer.args.disable_tqdm = True

    # phase 1: contrastive fine-tuning of the body on sentence pairs
    run.append_event(
        "message",
        text=f"SetFit phase 1 of 2: contrastive training of the body on "
        f"{pairs} sentence pairs from {len(x_train)} examples.",
    )
    body_t0 = time.time()
    if not stop_event.is_set():
        trainer.train_embeddings(x_train, y_train, args=args)
    body_seconds = max(1e-9, time.time() - body_t0)
    state = trainer.st_trainer.state
    global_step = int(state.global_step or 0)
    steps = int(state.max_steps or steps)
    if stop_event.is_set() and not events.stop_reason:
        events.stop_reason = "stopped by the user"

    # phase 2: logistic-regression head on the tuned embeddings (always: a stopped run is saved)
    run.append_event(
        "message",
        text="SetFit phase 2 of 2: fitting the logistic-regression head "
        "on the tuned sentence embeddings.",
    )
    head_t0 = time.time()
    trainer.train_classifier(x_train, y_train, args=args)
    head_seconds = time.time() - head_t0
    run.append_event(
        "log",
        step=global_step,
        max_steps=max(steps, 1),
        epoch=round(float(state.epoch or 0), 4),
        loss=_last_loss(state),
        samples_per_second=round(global_step * config.batch_size / body_seconds, 2),
        eta_seconds=0.0,
        progress=1.0,
        elapsed_seconds=round(time.time() - started, 1),
        phase="head",
        head_seconds=round(head_seconds, 2),
    )

    predictor = SetFitPredictor(model, labels)
    validation = _evaluate(predictor, spec.validation, labels)
    test_t0 = time.time()
    test = _evaluate(predictor, spec.test, labels)
    test_seconds = time.time() - test_t0
    _save(model, run, spec)
    shutil.rmtree(run.checkpoints_dir, ignore_errors=True)

    status = "stopped" if stop_event.is_set() else "completed"
    train_seconds = body_seconds + head_seconds
    metrics = {
        "status": status,
        "stop_reason": events.stop_reason,
        "validation": validation["summary"],
        "test": test["summary"],
        "test_report": test["report"],
        "validation_report": validation["report"],
        "worst_errors": test["errors"],
        "majority_baseline": task.majority_baseline(
            spec.train["label"].tolist(), spec.test["label"].tolist()
        ),
        # SetFit's body trains on sentence pairs: these are pairs per second of the body phase
        "train_samples_per_second": round(global_step * config.batch_size / body_seconds, 2),
        "eval_samples_per_second": round(len(spec.test) / max(test_seconds, 1e-9), 2),
        "train_seconds": round(train_seconds, 2),
        "total_seconds": round(time.time() - started, 2),
        "global_step": global_step,
        "max_steps": steps,
        "best_checkpoint_metric": None,
        "parameters": counts,
        "device": dev["label"],
        "learning_rate": lr,
        "labels": labels,
        "early_stopped": False,
        "strategy": "setfit",
        "setfit": {
            "pairs": pairs,
            "iterations": config.setfit_iterations,
            "body_seconds": round(body_seconds, 2),
            "head_seconds": round(head_seconds, 2),
            "samples_are": "sentence pairs",
        },
    }
    run.write_metrics(metrics)
    run.append_event("end", status=status, test=test["summary"])
    run.set_status(status)
    del trainer, model, predictor
    if dev["device"] == "cuda":
        torch.cuda.empty_cache()
    return metrics


def _set_max_length(model, max_length: int) -> None:
    """Truncate the body at ``max_length`` tokens, never beyond its position embeddings (SetFit's
    own ``max_length`` argument reaches only the head phase)."""
    body = model.model_body
    limit = None
    try:
        limit = body[0].auto_model.config.max_position_embeddings
    except (AttributeError, IndexError, KeyError, TypeError):
        pass
    body.max_seq_length = min(max_length, limit) if limit else max_length


def _quiet_setfit() -> None:
    """setfit logs "model_head.pkl not found ..." and "***** Running training *****" at INFO level
    to stderr; the run's events say the same in plain words."""
    from setfit import logging as setfit_logging

    setfit_logging.set_verbosity_error()


def _last_loss(state) -> float | None:
    for entry in reversed(getattr(state, "log_history", None) or []):
        for key in ("embedding_loss", "loss", "train_loss"):
            if key in entry:
                return float(entry[key])
    return None


def _parameters(model, n_labels: int, parameter_counts) -> dict:
    """Body (all trained in phase 1) + logistic-regression head (dim x K weights + K biases;
    a binary head has one row, as scikit-learn stores it)."""
    body = parameter_counts(model.model_body)
    body_model = model.model_body
    dim_of = (
        getattr(body_model, "get_embedding_dimension", None)
        or body_model.get_sentence_embedding_dimension
    )
    dim = dim_of() or 0
    rows = 1 if n_labels == 2 else n_labels
    head = rows * dim + rows
    total = body["total"] + head
    trainable = body["trainable"] + head
    return {
        "trainable": trainable,
        "total": total,
        "percent": round(100.0 * trainable / total, 4) if total else 0.0,
    }


def _evaluate(predictor: "SetFitPredictor", frame, labels: list[str]) -> dict:
    """Same shape as engine.training._evaluate: summary, report, worst errors."""
    from engine.tasks import classification as task

    label2id = {label: i for i, label in enumerate(labels)}
    texts = frame["text"].astype(str).tolist()
    gold = [label2id[l] for l in frame["label"]]
    if not texts:  # e.g. too few rows to hold out a validation set
        return {
            "summary": {
                "accuracy": float("nan"),
                "macro_f1": float("nan"),
                "loss": float("nan"),
                "n": 0,
            },
            "report": None,
            "errors": [],
        }
    probs = predictor.predict_proba(texts)
    preds = probs.argmax(-1).tolist()
    rep = task.report(gold, preds, labels)
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(gold)), gold], 1e-12, 1.0))))
    summary = {
        "accuracy": rep["accuracy"],
        "macro_f1": rep["macro_f1"],
        "loss": loss,
        "n": rep["n"],
    }
    wrong = [(float(probs[i, preds[i]]), i) for i in range(len(preds)) if preds[i] != gold[i]]
    wrong.sort(reverse=True)
    errors = [
        {
            "text": texts[i],
            "gold": labels[gold[i]],
            "predicted": labels[preds[i]],
            "confidence": round(c, 4),
        }
        for c, i in wrong[:25]
    ]
    return {"summary": summary, "report": rep, "errors": errors}


def _save(model, run: Run, spec) -> None:
    out = run.model_dir
    tmp = out.with_name("model.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    write_json_atomic(
        tmp / "labels.json",
        {
            "labels": list(spec.labels),
            "text_column": spec.text_column,
            "label_column": spec.label_column,
            "kind": "setfit",
        },
    )
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


class SetFitPredictor:
    """``predict_proba(texts) -> (n, K)`` in ``labels`` order for a SetFit model."""

    def __init__(self, model, labels: list[str], max_length: int | None = None):
        self.model = model
        self.labels = list(labels)
        if max_length:
            _set_max_length(self.model, max_length)
        self._lock = threading.Lock()

    def predict_proba(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        if not texts:
            return out
        with self._lock:
            probs = self.model.predict_proba(
                texts, batch_size=batch_size, as_numpy=True, show_progress_bar=False
            )
        probs = np.asarray(probs, dtype=np.float64).reshape(len(texts), -1)
        classes = getattr(self.model.model_head, "classes_", None)
        if classes is None:  # a differentiable head: columns are the ids 0..K-1
            out[:, : probs.shape[1]] = probs
            return out
        for col, cls in enumerate(classes):
            out[:, self._column(cls)] = probs[:, col]
        return out

    def _column(self, cls) -> int:
        """Head class -> column: an integer id (how train_setfit fits the head) or, for a model
        fitted on label strings elsewhere, the label's position."""
        if isinstance(cls, (np.integer, int)) and not isinstance(cls, bool):
            return int(cls)
        return self.labels.index(str(cls))

    def predict(self, texts: list[str]) -> list[dict]:
        probs = self.predict_proba(texts)
        return [
            {
                "label": self.labels[int(p.argmax())],
                "probabilities": {l: float(v) for l, v in zip(self.labels, p)},
            }
            for p in probs
        ]


def is_setfit_model(model_dir: str | Path) -> bool:
    meta = read_json(Path(model_dir) / "labels.json", {}) or {}
    return meta.get("kind") == "setfit" or (Path(model_dir) / "model_head.pkl").exists()


def load_setfit(model_dir: str | Path, max_length: int | None = None) -> SetFitPredictor:
    """Load a model saved by ``train_setfit`` (labels from labels.json, in training order)."""
    from setfit import SetFitModel

    _quiet_setfit()
    model_dir = Path(model_dir)
    meta = read_json(model_dir / "labels.json", {}) or {}
    labels = meta.get("labels")
    if not labels:
        config = read_json(model_dir / "config_setfit.json", {}) or {}
        labels = config.get("labels")
    if not labels:
        raise ValueError(f"{model_dir} has no labels.json: it is not a finished SetFit run.")
    model = SetFitModel.from_pretrained(str(model_dir), local_files_only=True)
    model.model_body.eval()
    return SetFitPredictor(model, labels, max_length)


__all__ = [
    "train_setfit",
    "load_setfit",
    "SetFitPredictor",
    "is_setfit_model",
    "setfit_pairs",
]
