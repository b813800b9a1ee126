"""Text classification: model head, tokenised datasets, metrics and the evaluation report."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def load_model(backbone_path: Path, labels: list[str], family: str,
               config_overrides: dict | None = None):
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
            backbone_path, num_labels=len(labels),
            id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
            **pretrained_kwargs(), **(config_overrides or {}))
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
    return {"accuracy": float(accuracy_score(labels, preds)),
            "macro_f1": float(f1_score(labels, preds, average="macro", zero_division=0))}


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
        "weighted_f1": float(f1_score(y_true, y_pred, labels=ids, average="weighted",
                                      zero_division=0)),
        "n": len(y_true),
        "per_class": {labels[i]: {"precision": float(p[i]), "recall": float(r[i]),
                                  "f1": float(f[i]), "support": int(s[i])} for i in ids},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        "labels": labels,
    }


def majority_baseline(train_labels: list[str], test_labels: list[str]) -> float:
    if not test_labels:
        return 0.0
    majority = pd.Series(train_labels).value_counts().idxmax()
    return float(np.mean([l == majority for l in test_labels]))
