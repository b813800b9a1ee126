"""Text classification, a task like the others: data, plan, training through the one fit,
report, saved model. Its extras: the Auto planner (engine/planner.py), augmentation, the
run's regularisation options, warm start from an earlier run, and SetFit (its own trainer,
engine/fewshot.py)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from engine.config import ConfigError
from engine.errors import PredictError
from engine.runs import Run, read_json, write_json_atomic

DEFAULT_METRIC = "macro_f1"
INPUT_FIELDS = ["text"]
MODEL_CLASS = ("AutoModelForSequenceClassification", "SEQ_CLS")
DISTRIBUTED = True  # trains under torchrun (rank 0 writes the run folder)
AUGMENTS = True  # config.augment applies to this task


def DEFAULT_STRATEGY(family: str) -> str:  # noqa: N802 - the contract's name
    """Without data (previews): LoRA, what the Auto planner picks on a CPU; a run plans from
    its data with ``plan``."""
    return "lora"


def unsupported(strategy: str, family: str) -> str | None:
    return None  # engine.strategies.support already says what a backbone cannot do


def load_model(
    backbone_path: Path, labels: list[str], family: str, config_overrides: dict | None = None
):
    """A *ForSequenceClassification model with a fresh head for ``labels``, and its tokenizer.

    ``config_overrides``: backbone-config fields to set before the model is built (e.g. the
    dropout probabilities from engine.regularization.dropout_overrides)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from engine.backbones import pretrained_kwargs

    tokenizer = AutoTokenizer.from_pretrained(backbone_path, **pretrained_kwargs())
    if tokenizer.pad_token is None:  # decoders (GPT-2, Llama) often have none
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized head" is expected here
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            backbone_path,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={l: i for i, l in enumerate(labels)},
            **pretrained_kwargs(),
            **(config_overrides or {}),
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if family == "decoder":
        tokenizer.padding_side = "right"  # the head reads the last non-pad token
    return model, tokenizer


def tokenize_frame(frame: pd.DataFrame, tokenizer, max_length: int, label2id: dict | None):
    """A datasets.Dataset with input_ids/attention_mask/labels/length; no padding (the collator
    pads each batch to its longest row)."""
    from datasets import Dataset

    data = {"text": frame["text"].astype(str).tolist()}
    if label2id is not None:
        data["labels"] = [label2id[l] for l in frame["label"]]
    ds = Dataset.from_dict(data)

    def encode(batch):
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
        enc["length"] = [len(ids) for ids in enc["input_ids"]]
        return enc

    return ds.map(encode, batched=True, remove_columns=["text"])


def compute_metrics(eval_pred) -> dict:
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    preds = np.asarray(logits).argmax(-1)
    return {
        "accuracy": float(accuracy_score(labels, preds)),
        "macro_f1": float(f1_score(labels, preds, average="macro", zero_division=0)),
    }


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def report(y_true: list[int], y_pred: list[int], labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    ids = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "weighted_f1": float(
            f1_score(y_true, y_pred, labels=ids, average="weighted", zero_division=0)
        ),
        "n": len(y_true),
        "per_class": {
            labels[i]: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(s[i]),
            }
            for i in ids
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        "labels": labels,
    }


def majority_baseline(train_labels: list[str], test_labels: list[str]) -> float:
    if not test_labels:
        return 0.0
    majority = pd.Series(train_labels).value_counts().idxmax()
    return float(np.mean([l == majority for l in test_labels]))


# ---- data and plan ---------------------------------------------------------------------------


def prepare(config):
    """The run's data, loaded, checked and split as the configuration says (texts masked when
    ``config.mask_pii``: every split, so evaluation and export see what training saw)."""
    from engine.data import prepare_data

    spec = prepare_data(
        config.data,
        config.text_column,
        config.label_column,
        config.test_data,
        config.validation_fraction,
        config.test_fraction,
        config.seed,
        config.max_rows,
        config.max_length,
    )
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
        spec.warnings.append(
            "Personal data masked before training: "
            + (", ".join(f"{v} {k}" for k, v in total.items() if v) or "nothing found")
            + "."
        )
    return spec


def plan(config, spec):
    """``strategy=auto`` resolved by the Auto planner from the data; returns (config, plan)."""
    from engine.planner import resolve_auto

    return resolve_auto(config, spec)


def preflight(config) -> None:
    """What a classification run needs besides data and backbone (checked before it starts)."""
    from engine.backbones import resolve_backbone

    if config.warm_start:
        from engine.export import warm_start_run

        warm_start_run(config.warm_start, config.output_dir)
        if config.strategy == "setfit":
            raise ConfigError(
                "SetFit trains its own sentence encoder; warm-start with LoRA, full "
                "or head-only fine-tuning."
            )
    if config.augment in ("paraphrase", "both"):
        resolve_backbone("smollm2-135m-instruct")  # the paraphrasing model must be there


# ---- training --------------------------------------------------------------------------------


def train(
    config, run: Run, stop_event: threading.Event, spec, *, resume_from=None, callbacks=()
) -> dict:
    """Fine-tune a classifier on ``spec`` through the one fit, report, save."""
    from transformers import DataCollatorWithPadding

    from engine import regularization
    from engine.backbones import family_of, resolve_backbone
    from engine.strategies import STRATEGIES, padding_side
    from engine.training.loop import base_metrics, fit, finish

    if STRATEGIES[config.strategy].trainer == "fewshot":
        from engine.distributed import is_distributed

        if is_distributed():
            raise ConfigError(
                "SetFit trains in one process; pick another strategy for distributed training."
            )
        from engine.fewshot import train_setfit

        return train_setfit(config, run, spec, stop_event)

    started = time.time()
    train_frame, augment_info = _augmented_train(config, spec, run, stop_event)
    family = family_of(config.backbone)
    path = resolve_backbone(config.backbone)
    dropout = regularization.dropout_overrides(path, config.dropout)
    warm = None
    if config.warm_start:
        model, tokenizer, warm = _warm_start(config, spec, family, dropout, run)
    else:
        model, tokenizer = load_model(path, spec.labels, family, config_overrides=dropout)
    tokenizer.padding_side = padding_side(config.strategy, family)
    train_ds = tokenize_frame(train_frame, tokenizer, config.max_length, spec.label2id)
    val_ds = tokenize_frame(spec.validation, tokenizer, config.max_length, spec.label2id)
    test_ds = tokenize_frame(spec.test, tokenizer, config.max_length, spec.label2id)
    reg = regularization.Regularization.from_config(config, train_frame["label"], spec.labels)
    result = fit(
        config,
        run,
        stop_event,
        model=model,
        tokenizer=tokenizer,
        family=family,
        train_ds=train_ds,
        val_ds=val_ds,
        task="classification",
        task_type="SEQ_CLS",
        metric=config.metric_for_best_model,
        compute_metrics=compute_metrics,
        data_collator=DataCollatorWithPadding(tokenizer),
        regularization=reg,
        callbacks=callbacks,
        resume_from=resume_from,
        start_info={"test_rows": len(test_ds), "labels": spec.labels},
    )
    trainer = result.trainer

    # final reports, with the best checkpoint loaded
    validation = _evaluate(trainer, val_ds, spec.validation, spec.labels)
    test_t0 = time.time()
    test = _evaluate(trainer, test_ds, spec.test, spec.labels)
    test_seconds = time.time() - test_t0
    if run.writer:
        _save_model(trainer, tokenizer, run, spec, merge=warm is not None)
    warm_report = None
    if warm is not None and run.writer:
        from engine.export import warm_start_comparison

        warm_report = warm_start_comparison(warm, run.path, spec.test[["text", "label"]])
        run.append_event("message", text=warm_report["summary"])
    metrics = base_metrics(config, stop_event, result, "classification", started)
    metrics.update(
        {
            "validation": validation["summary"],
            "test": test["summary"],
            "test_report": test["report"],
            "validation_report": validation["report"],
            "worst_errors": test["errors"],
            "majority_baseline": majority_baseline(
                spec.train["label"].tolist(), spec.test["label"].tolist()
            ),
            "eval_samples_per_second": round(len(test_ds) / max(test_seconds, 1e-9), 2),
            "labels": spec.labels,
            "regularization": _regularization_summary(config, reg, dropout, augment_info, trainer),
        }
    )
    if warm_report:
        metrics["warm_start"] = warm_report
    del trainer, model
    return finish(run, metrics, result.dev["device"])


def _evaluate(trainer, dataset, frame, labels: list[str]) -> dict:
    out = trainer.predict(dataset)
    logits = out.predictions[0] if isinstance(out.predictions, tuple) else out.predictions
    probs = softmax(np.asarray(logits, dtype=np.float64))
    preds = probs.argmax(-1).tolist()
    gold = out.label_ids.tolist()
    rep = report(gold, preds, labels)
    summary = {
        "accuracy": rep["accuracy"],
        "macro_f1": rep["macro_f1"],
        "loss": float(out.metrics.get("test_loss", float("nan"))),
        "n": rep["n"],
    }
    wrong = [(float(probs[i, preds[i]]), i) for i in range(len(preds)) if preds[i] != gold[i]]
    wrong.sort(reverse=True)
    errors = [
        {
            "text": frame["text"].iloc[i],
            "gold": labels[gold[i]],
            "predicted": labels[preds[i]],
            "confidence": round(c, 4),
        }
        for c, i in wrong[:25]
    ]
    return {"summary": summary, "report": rep, "errors": errors}


def _save_model(trainer, tokenizer, run: Run, spec, merge: bool = False) -> None:
    """model/ holds an adapter (LoRA) or a full model, the tokenizer and labels.json.
    ``merge``: an adapter is merged first (a warm-started run's adapter belongs to the earlier
    run's model, not to the backbone that config.json names)."""
    from engine.strategies import save_model

    out = run.model_dir
    tmp = out.with_name("model.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model = trainer.model
    if merge and hasattr(model, "merge_and_unload"):
        try:
            model = model.merge_and_unload()
        except (AttributeError, ValueError, TypeError, NotImplementedError):
            raise ConfigError(
                "This strategy's adapter cannot be merged into a warm-started "
                "model; retrain with LoRA, full or head-only."
            ) from None
    save_model(model, tmp)  # PiSSA becomes a plain LoRA adapter for the original base
    tokenizer.save_pretrained(tmp)
    write_json_atomic(
        tmp / "labels.json",
        {"labels": spec.labels, "text_column": spec.text_column, "label_column": spec.label_column},
    )
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def _warm_start(config, spec, family: str, dropout: dict, run: Run):
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
    model, tokenizer = load_model(folder, spec.labels, family, config_overrides=overrides)
    if not same:
        for name in ("classifier", "score"):
            head = getattr(model, name, None)
            for module in head.modules() if head is not None else []:
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
    run.append_event(
        "message",
        text=f"Warm start from {old.id}: its fine-tuned model"
        + (
            " and classification head"
            if same
            else f" with a new head (labels {', '.join(old_labels)} -> {', '.join(spec.labels)})"
        )
        + ".",
    )
    return model, tokenizer, old


# ---- regularisation and augmentation (engine/regularization.py, engine/augment.py) ----------


def _augmented_train(
    config, spec, run: Run, stop_event: threading.Event
) -> tuple[pd.DataFrame, dict]:
    """The rows to train on: the train split plus, when ``config.augment`` asks, generated rows.

    Only the train split is augmented (validation and test stay as they are). The new rows are
    saved to ``<run>/augmented.csv`` so the user can see exactly what was trained on."""
    from engine import augment as augmentation

    info = {
        "augment": config.augment,
        "augment_per_example": config.augment_per_example,
        "train_rows_original": len(spec.train),
        "augmented_rows": 0,
    }
    if config.augment == "none":
        return spec.train, info
    if config.augment in ("paraphrase", "both"):
        seconds = augmentation.paraphrase_seconds(
            spec.train["text"].tolist(), config.augment_per_example
        )
        large = len(spec.train) > augmentation.LARGE_TRAIN_ROWS
        took = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
        run.append_event(
            "message",
            level="warning" if large else "info",
            text=f"Paraphrasing {len(spec.train)} training rows with SmolLM2 "
            f"(x{config.augment_per_example}): about {took} on a CPU"
            + (" (a large set: token edits are instant)." if large else "."),
        )
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.time() - last[0] >= 30 or done == total:
            last[0] = time.time()
            run.append_event("message", text=f"Paraphrased {done} of {total} texts.")

    t0 = time.time()
    new = augmentation.augment_frame(
        spec.train,
        config.augment,
        config.augment_per_example,
        config.seed,
        progress=progress,
        should_stop=stop_event.is_set,
    )
    augmentation.release_paraphraser()
    new.to_csv(run.path / "augmented.csv", index=False)
    counts = new["method"].value_counts().to_dict() if len(new) else {}
    info.update(
        augmented_rows=len(new),
        augment_seconds=round(time.time() - t0, 2),
        augmented_by_method={str(k): int(v) for k, v in counts.items()},
    )
    run.append_event(
        "message",
        text=f"Augmentation ({config.augment}): {len(new)} new training "
        f"rows added to {len(spec.train)} (saved to augmented.csv).",
    )
    frame = pd.concat([spec.train[["text", "label"]], new[["text", "label"]]], ignore_index=True)
    return frame, info


def _regularization_summary(config, reg, dropout: dict, augment_info: dict, trainer) -> dict:
    """What metrics.json records under "regularization" (all options, on or off)."""
    out = {
        "dropout": config.dropout if config.dropout >= 0 else None,
        "dropout_fields": sorted(dropout),
        "label_smoothing": reg.label_smoothing,
        "class_weights": config.class_weights,
        "class_weight_values": reg.describe()["class_weights"],
        "adversarial": reg.adversarial,
        "adversarial_epsilon": reg.adversarial_epsilon,
        "adversarial_steps": getattr(trainer, "adversarial_steps", 0),
    }
    out.update(augment_info)
    return out


# ---- prediction ------------------------------------------------------------------------------


class Predictor:
    def __init__(self, run_dir: str | Path):
        run = Run(Path(run_dir))
        model_dir = run.model_dir
        if not (model_dir / "labels.json").exists():
            raise PredictError(
                f"{run.path} has no trained model yet (status: {run.status}). Pick a finished run."
            )
        meta = read_json(model_dir / "labels.json", {})
        self.labels: list[str] = meta["labels"]
        self.text_column: str = meta.get("text_column", "text")
        self.run = run
        self.max_length = run.config().max_length
        self._lock = threading.Lock()
        from engine.fewshot import is_setfit_model, load_setfit

        self._setfit = (
            load_setfit(model_dir, self.max_length) if is_setfit_model(model_dir) else None
        )
        if self._setfit is None:
            from engine.backbones import remote_code

            with remote_code(bool(getattr(run.config(), "trust_remote_code", False))):
                self.model, self.tokenizer = _load(model_dir, run.config().backbone)

    def predict_proba(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        import torch

        if self._setfit is not None:
            with self._lock:
                return self._setfit.predict_proba(list(texts), batch_size=batch_size)
        out = []
        with self._lock, torch.inference_mode():
            order = np.argsort([len(t) for t in texts])  # similar lengths batch together
            for start in range(0, len(texts), batch_size):
                idx = order[start : start + batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    truncation=True,
                    padding=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                enc = {k: v.to(self.model.device) for k, v in enc.items()}
                logits = self.model(**enc).logits.float().cpu().numpy()
                out.append((idx, softmax(logits.astype(np.float64))))
        probs = np.zeros((len(texts), len(self.labels)))
        for idx, p in out:
            probs[idx] = p
        return probs

    def predict(self, texts: list[str]) -> list[dict]:
        probs = self.predict_proba([str(t) for t in texts])
        return [
            {
                "label": self.labels[int(p.argmax())],
                "probabilities": {l: float(v) for l, v in zip(self.labels, p)},
            }
            for p in probs
        ]

    def predict_table(self, df: pd.DataFrame, text_column: str = "") -> pd.DataFrame:
        from engine.data import DataError

        col = text_column or (self.text_column if self.text_column in df.columns else "")
        if not col:
            guesses = [
                c
                for c in df.columns
                if pd.api.types.is_string_dtype(df[c]) or df[c].dtype == object
            ]
            if not guesses:
                raise DataError("The table has no text column to predict on.")
            col = max(guesses, key=lambda c: df[c].astype(str).str.len().mean())
        if col not in df.columns:
            raise DataError(
                f"Column {col!r} is not in the table; its columns are: "
                f"{', '.join(map(str, df.columns))}."
            )
        texts = df[col].fillna("").astype(str).tolist()
        probs = self.predict_proba(texts)
        result = df.copy()
        result["prediction"] = [self.labels[int(i)] for i in probs.argmax(-1)]
        for j, label in enumerate(self.labels):
            result[f"prob_{label}"] = probs[:, j].round(6)
        return result


def _load(model_dir: Path, backbone: str):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from transformers.utils import logging as hf_logging

    from engine.backbones import pretrained_kwargs

    tokenizer = AutoTokenizer.from_pretrained(model_dir, **pretrained_kwargs())
    if (model_dir / "adapter_config.json").exists():
        from engine.backbones import resolve_backbone
        from engine.strategies import load_adapter

        labels = read_json(model_dir / "labels.json", {})["labels"]
        hf_logging.set_verbosity_error()  # the base's fresh head is replaced by the adapter's
        base = AutoModelForSequenceClassification.from_pretrained(
            resolve_backbone(backbone),
            num_labels=len(labels),
            **pretrained_kwargs(),
            id2label=dict(enumerate(labels)),
            label2id={l: i for i, l in enumerate(labels)},
        )
        if base.config.pad_token_id is None:
            base.config.pad_token_id = tokenizer.pad_token_id
        model = load_adapter(base, model_dir)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, **pretrained_kwargs())
    model.eval()
    return model, tokenizer
