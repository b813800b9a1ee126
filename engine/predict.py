"""Predict with a finished run: one text, a list, or a whole table."""
from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from engine.runs import Run, read_json
from engine.tasks.classification import softmax


class PredictError(ValueError):
    """The run cannot predict (not finished, no model); the message says why."""


class Predictor:
    def __init__(self, run_dir: str | Path):
        run = Run(Path(run_dir))
        model_dir = run.model_dir
        if not (model_dir / "labels.json").exists():
            raise PredictError(f"{run.path} has no trained model yet (status: {run.status}). "
                               "Pick a finished run.")
        meta = read_json(model_dir / "labels.json", {})
        self.labels: list[str] = meta["labels"]
        self.text_column: str = meta.get("text_column", "text")
        self.run = run
        self.max_length = run.config().max_length
        self._lock = threading.Lock()
        from engine.fewshot import is_setfit_model, load_setfit

        self._setfit = load_setfit(model_dir, self.max_length) if is_setfit_model(model_dir) \
            else None
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
                idx = order[start:start + batch_size]
                enc = self.tokenizer([texts[i] for i in idx], truncation=True, padding=True,
                                     max_length=self.max_length, return_tensors="pt")
                enc = {k: v.to(self.model.device) for k, v in enc.items()}
                logits = self.model(**enc).logits.float().cpu().numpy()
                out.append((idx, softmax(logits.astype(np.float64))))
        probs = np.zeros((len(texts), len(self.labels)))
        for idx, p in out:
            probs[idx] = p
        return probs

    def predict(self, texts: list[str]) -> list[dict]:
        probs = self.predict_proba([str(t) for t in texts])
        return [{"label": self.labels[int(p.argmax())],
                 "probabilities": {l: float(v) for l, v in zip(self.labels, p)}} for p in probs]

    def predict_table(self, df: pd.DataFrame, text_column: str = "") -> pd.DataFrame:
        from engine.data import DataError

        col = text_column or (self.text_column if self.text_column in df.columns else "")
        if not col:
            guesses = [c for c in df.columns
                       if pd.api.types.is_string_dtype(df[c]) or df[c].dtype == object]
            if not guesses:
                raise DataError("The table has no text column to predict on.")
            col = max(guesses, key=lambda c: df[c].astype(str).str.len().mean())
        if col not in df.columns:
            raise DataError(f"Column {col!r} is not in the table; its columns are: "
                            f"{', '.join(map(str, df.columns))}.")
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
            resolve_backbone(backbone), num_labels=len(labels), **pretrained_kwargs(),
            id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
        if base.config.pad_token_id is None:
            base.config.pad_token_id = tokenizer.pad_token_id
        model = load_adapter(base, model_dir)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir,
                                                                   **pretrained_kwargs())
    model.eval()
    return model, tokenizer


def run_task(run_dir: str | Path) -> str:
    """The task a run folder was trained for ("classification" for runs older than tasks)."""
    cfg = read_json(Path(run_dir) / "config.json", {}) or {}
    return cfg.get("task") or "classification"


def load_predictor(run_dir: str | Path):
    """The predictor of a finished run, whatever its task (each task module has its own)."""
    task = run_task(run_dir)
    if task == "classification":
        return Predictor(run_dir)
    from engine.tasks import get_task

    run = Run(Path(run_dir))
    if not run.has_model:
        raise PredictError(f"{run.path} has no trained model yet (status: {run.status}). "
                           "Pick a finished run.")
    return get_task(task).Predictor(run_dir)


@lru_cache(maxsize=4)
def cached_predictor(run_dir: str, model_mtime: float):
    """Predictor cached per run folder (the mtime makes a re-trained run reload)."""
    return load_predictor(run_dir)


def get_predictor(run_dir: str | Path):
    model_dir = Path(run_dir) / "model"
    mtime = model_dir.stat().st_mtime if model_dir.exists() else 0.0
    return cached_predictor(str(Path(run_dir).resolve()), mtime)
