"""Multi-label text classification: every text gets any number of labels (or none).

Data: one label column whose cells list the labels separated by ``;`` or ``|`` (``,`` only when
it cannot be part of a label, see ``detect_separator``), or one 0/1 column per label
(``config.label_columns``; found by themselves when no label column is named and there is no
conventional one). A row with no label is kept: it teaches the model that no label applies.

Model: ``AutoModelForSequenceClassification`` with ``problem_type="multi_label_classification"``
(one sigmoid per label, binary cross-entropy on float 0/1 targets); the strategy is applied with
peft's SEQ_CLS task type, so adapters save the head with them.

Decision threshold: ONE global threshold for all labels, the value of a 0.05..0.95 grid that
maximises micro-F1 on the validation rows (ties: the value closest to 0.5), then used unchanged
on the test rows and by the Predictor. Per-label thresholds were not chosen: with the few
validation positives most labels have in small data sets, a per-label threshold fits the noise
of a handful of rows (a label with 2 validation positives can only be at F1 0, 0.67 or 1), while
one threshold pools every label's rows.

Metrics (``scores``): micro-F1, macro-F1 (over the labels that occur in the gold rows or the
predictions of the evaluated set, so a label absent from a small test set neither helps nor
hurts), samples-F1 (per row 2TP / (2TP + FP + FN); a row with no gold and no predicted label
scores 1), subset accuracy (exact match of the label set) and Hamming loss (share of wrong
label decisions), plus micro precision / recall.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from engine.data import DataError, _guess_text, load_table, natural_key
from engine.tasks import TaskData
from engine.tasks import _common as common
from engine.training import loop

DEFAULT_METRIC = "micro_f1"
MODEL_CLASS = ("AutoModelForSequenceClassification", "SEQ_CLS")
DISTRIBUTED = True  # trains under torchrun (rank 0 writes the run folder)
INPUT_FIELDS = ["text"]
REPORTED = (
    "micro_f1",
    "macro_f1",
    "samples_f1",
    "subset_accuracy",
    "hamming_loss",
    "micro_precision",
    "micro_recall",
    "threshold",
    "loss",
)
THRESHOLDS = tuple(round(x, 2) for x in np.arange(0.05, 0.951, 0.05))
SEPARATORS = (";", "|")
TEXT_NAMES = (
    "text",
    "sentence",
    "review",
    "content",
    "message",
    "body",
    "document",
    "title",
    "headline",
    "abstract",
    "input",
    "question",
)
LABEL_NAMES = (
    "labels",
    "label",
    "tags",
    "tag",
    "topics",
    "topic",
    "categories",
    "category",
    "classes",
    "class",
    "target",
    "targets",
    "genres",
    "genre",
    "keywords",
)
_TRUE = {"1", "1.0", "true", "yes", "y"}
_FALSE = {"0", "0.0", "false", "no", "n"}


def DEFAULT_STRATEGY(family: str) -> str:  # noqa: N802 - the contract's name
    return "lora"


def unsupported(strategy: str, family: str) -> str | None:
    if strategy == "setfit":
        return (
            "SetFit trains single-label classifiers; for multi-label pick LoRA or full fine-tuning."
        )
    return None


# ---- data ----------------------------------------------------------------------------------------


def detect_separator(cells: list[str]) -> str | None:
    """The separator of a label column: ``;`` or ``|`` (the one in more cells), else ``,`` when
    it is unambiguous, else None (one label per row). A comma separates labels only when no
    piece is empty or longer than four words and at least half of the pieces of the cells with
    commas also stand alone as a whole cell ("sports,politics" next to rows labelled "sports"
    and "politics"); "Paris, France" next to "Lyon, France" stays one label."""
    counts = {s: sum(s in c for c in cells) for s in SEPARATORS}
    best = max(counts, key=lambda s: counts[s])
    if counts[best]:
        return best
    with_comma = [c for c in cells if "," in c]
    if not with_comma:
        return None
    pieces = [p.strip() for c in with_comma for p in c.split(",")]
    if any(not p or len(p.split()) > 4 for p in pieces):
        return None
    alone = {c.strip() for c in cells if "," not in c}
    return "," if sum(p in alone for p in pieces) >= 0.5 * len(pieces) else None


def split_labels(cell: str | None, separator: str | None) -> list[str]:
    if cell is None:
        return []
    parts = cell.split(separator) if separator else [cell]
    out: list[str] = []
    for p in parts:
        p = p.strip()
        if p and p not in out:
            out.append(p)
    return out


def _binary_value(value) -> int | None:
    """1 / 0 for a 0/1 cell (also true/false, yes/no, 1.0/0.0); -1 for blank; None otherwise."""
    text = common.cell_text(value)
    if text is None:
        return -1
    low = text.lower()
    if low in _TRUE:
        return 1
    if low in _FALSE:
        return 0
    return None


def _binary_columns(df: pd.DataFrame, exclude: set[str]) -> list[str]:
    cols = []
    for col in df.columns:
        if col in exclude:
            continue
        values = df[col].map(_binary_value)
        if values.notna().all() and (values >= 0).any() and (values == 1).any():
            cols.append(str(col))
    return cols


def _columns(df: pd.DataFrame, config, name: str) -> tuple[str, str, list[str]]:
    """(text column, label column or "", 0/1 label columns or [])."""
    label_columns: list[str] = []
    label = ""
    if config.label_columns.strip():
        wanted = [c.strip() for c in config.label_columns.split(",") if c.strip()]
        label_columns = [common.find_column(df, c, (), name) for c in wanted]
        if len(set(label_columns)) < 2:
            raise DataError(
                f"label-columns names {len(set(label_columns))} column of {name}; "
                "a multi-label task needs at least two 0/1 label columns."
            )
    elif config.label_column:
        label = common.find_column(df, config.label_column, (), name)
    text = common.find_column(
        df, config.text_column, TEXT_NAMES, name, exclude=set(label_columns) | {label}
    )
    if not label and not label_columns:
        label = common.find_column(df, "", LABEL_NAMES, name, exclude={text})
        if not label:
            label_columns = _binary_columns(df, {text})
            if len(label_columns) < 2:
                raise DataError(
                    f"Could not tell which column of {name} holds the labels (columns: "
                    f"{', '.join(map(str, df.columns))}); name the label column (labels "
                    "separated by ; or |) or list the 0/1 label columns in label-columns."
                )
    if not text:
        text = _guess_text(df, exclude=label)
        if text in label_columns:
            text = ""
    if not text:
        raise DataError(
            f"Could not tell which column of {name} holds the text (columns: "
            f"{', '.join(map(str, df.columns))}); pick the text column."
        )
    if text == label or text in label_columns:
        raise DataError(
            f"The text column {text!r} of {name} is also a label column; pick two "
            "different columns."
        )
    return text, label, label_columns


def _parse(
    df: pd.DataFrame,
    name: str,
    text_col: str,
    label_col: str,
    label_cols: list[str],
    separator: str | None,
    warnings: list[str],
) -> pd.DataFrame:
    """Frame with "text" and "labels" (a list of label names per row)."""
    texts = df[text_col].map(common.cell_text)
    if label_col:
        labels = df[label_col].map(lambda v: split_labels(common.cell_text(v), separator))
    else:
        blanks = 0
        values = {}
        for col in label_cols:
            parsed = df[col].map(_binary_value)
            wrong = parsed.isna()
            if wrong.any():
                rows = [int(i) + 1 for i in np.flatnonzero(wrong.to_numpy())]
                shown = ", ".join(repr(str(df[col].iloc[r - 1])) for r in rows[:3])
                raise DataError(
                    f"Column {col!r} of {name} must hold only 0 or 1, but "
                    f"{common.rows_text(rows)} hold other values ({shown}); fix "
                    "those cells or leave the column out of label-columns."
                )
            blanks += int((parsed == -1).sum())
            values[col] = parsed.clip(lower=0).astype(int)
        if blanks:
            warnings.append(
                f"{blanks} blank cells in the 0/1 label columns of {name} were read as 0."
            )
        labels = pd.Series(
            [[c for c in label_cols if values[c].iloc[i] == 1] for i in range(len(df))],
            index=df.index,
        )
    keep = texts.notna()
    if (~keep).any():
        warnings.append(
            f"{int((~keep).sum())} of {len(df)} rows in {name} were dropped because "
            f"they have no text in {text_col!r}."
        )
    frame = pd.DataFrame({"text": texts[keep].astype(str), "labels": labels[keep]})
    return frame.reset_index(drop=True)


def prepare(config) -> TaskData:
    name = Path(config.data).name
    warnings: list[str] = []
    df = load_table(config.data)
    text_col, label_col, label_cols = _columns(df, config, name)
    separator = None
    if label_col:
        cells = [c for c in map(common.cell_text, df[label_col]) if c is not None]
        if not cells:
            raise DataError(
                f"Column {label_col!r} of {name} is empty; it must list each row's "
                "labels separated by ; or |."
            )
        separator = detect_separator(cells)
    frame = _parse(df, name, text_col, label_col, label_cols, separator, warnings)
    if len(frame) < 4:
        raise DataError(
            f"{name} has only {len(frame)} usable rows; at least 4 are needed, and "
            "a few hundred work much better."
        )
    counts = pd.Series([l for ls in frame["labels"] for l in ls], dtype=object).value_counts()
    labels = sorted(map(str, counts.index), key=natural_key) if len(counts) else []
    where = f"column {label_col!r}" if label_col else "the 0/1 label columns"
    if len(labels) < 2:
        raise DataError(
            f"{where.capitalize()} of {name} has {len(labels)} label"
            f"{'' if len(labels) == 1 else 's'} ({', '.join(labels) or 'none'}); a "
            "multi-label task needs at least two (separate several labels in a cell "
            "with ; or |). For a single yes/no label use classification."
        )
    if len(labels) > 50 and len(labels) > 0.5 * len(frame):
        raise DataError(
            f"{where.capitalize()} of {name} has {len(labels)} different labels in "
            f"{len(frame)} rows, so it looks like free text, not labels; pick the "
            "column that holds the labels (separated by ; or |)."
        )
    if label_col and separator is None:
        warnings.append(
            f"No row of {name} has more than one label in {label_col!r} (no ; or | "
            "found); multi-label training works, but the classification task fits "
            "one label per row better."
        )
    empty = int(frame["labels"].map(len).eq(0).sum())
    if empty:
        warnings.append(
            f"{empty} of {len(frame)} rows in {name} have no label; they are kept as "
            "examples where no label applies."
        )
    single = [l for l in labels if counts[l] == 1]
    if single:
        warnings.append(
            f"{len(single)} label(s) appear in only one row ({', '.join(single[:10])}"
            f"{', ...' if len(single) > 10 else ''}); the model can hardly learn "
            "them, so add examples or merge labels."
        )
    everywhere = [l for l in labels if counts[l] == len(frame)]
    if everywhere:
        warnings.append(
            f"Label(s) {', '.join(everywhere)} are on every row, so they tell the model nothing."
        )
    frame = common.sample(frame, config.max_rows, config.seed, warnings)
    train, validation, test = common.split(
        frame, config, bool(config.test_data), warnings, strata=lambda f: _strata(f, counts)
    )
    if config.test_data:
        test = _load_test(
            config, text_col, label_col, label_cols, separator, labels, name, warnings
        )
    columns = {"text": text_col}
    if label_col:
        columns["labels"] = label_col
    else:
        columns["label_columns"] = ",".join(label_cols)
    info = {
        "format": "separated" if label_col else "columns",
        "separator": separator,
        "label_counts": {l: int(counts[l]) for l in labels},
        "rows_without_labels": empty,
        "labels_per_row": round(float(frame["labels"].map(len).mean()), 3),
    }
    return TaskData("multilabel", train, validation, test, labels, warnings, columns, info)


def _strata(frame: pd.DataFrame, counts: pd.Series) -> pd.Series:
    """Each row's rarest label ("(none)" for no label): the split keeps rare labels spread."""
    return frame["labels"].map(
        lambda ls: min(ls, key=lambda l: counts.get(l, 0)) if ls else "(none)"
    )


def _load_test(
    config, text_col, label_col, label_cols, separator, labels, train_name, warnings
) -> pd.DataFrame:
    name = Path(config.test_data).name
    df = load_table(config.test_data)
    missing = [c for c in [text_col, label_col, *label_cols] if c and c not in df.columns]
    if missing:
        raise DataError(
            f"The test file {name} lacks the column(s) "
            f"{', '.join(map(repr, missing))} that {train_name} has; give both files "
            "the same column names."
        )
    test = _parse(df, name, text_col, label_col, label_cols, separator, warnings)
    known = set(labels)
    unseen = sorted({l for ls in test["labels"] for l in ls} - known, key=natural_key)
    if unseen:
        warnings.append(
            f"Label(s) {', '.join(unseen[:10])} of {name} never occur in "
            f"{train_name}; the model cannot predict them, so they were removed from "
            "the test rows."
        )
        test["labels"] = test["labels"].map(lambda ls: [l for l in ls if l in known])
    return test


# ---- metrics -------------------------------------------------------------------------------------


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def to_matrix(label_lists, labels: list[str]) -> np.ndarray:
    index = {l: i for i, l in enumerate(labels)}
    out = np.zeros((len(label_lists), len(labels)), dtype=np.int64)
    for r, ls in enumerate(label_lists):
        for l in ls:
            if l in index:
                out[r, index[l]] = 1
    return out


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Micro/macro/samples F1, subset accuracy, Hamming loss, micro P/R (see the module doc)."""
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    n = len(t)
    if n == 0:
        return {
            "micro_f1": 0.0,
            "macro_f1": 0.0,
            "samples_f1": 0.0,
            "subset_accuracy": 0.0,
            "hamming_loss": 0.0,
            "micro_precision": 0.0,
            "micro_recall": 0.0,
            "n": 0,
        }
    tp = (t & p).sum(0)
    fp = (~t & p).sum(0)
    fn = (t & ~p).sum(0)
    all_tp, all_fp, all_fn = int(tp.sum()), int(fp.sum()), int(fn.sum())
    micro = 2 * all_tp / (2 * all_tp + all_fp + all_fn) if all_tp + all_fp + all_fn else 1.0
    present = (tp + fp + fn) > 0
    per_label = np.where(present, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    macro = float(per_label[present].mean()) if present.any() else 1.0
    rtp, rfp, rfn = (t & p).sum(1), (~t & p).sum(1), (t & ~p).sum(1)
    denom = 2 * rtp + rfp + rfn
    samples = np.where(denom > 0, 2 * rtp / np.maximum(denom, 1), 1.0)
    return {
        "micro_f1": float(micro),
        "macro_f1": macro,
        "samples_f1": float(samples.mean()),
        "subset_accuracy": float((t == p).all(1).mean()),
        "hamming_loss": float((t != p).mean()),
        "micro_precision": float(all_tp / (all_tp + all_fp)) if all_tp + all_fp else 0.0,
        "micro_recall": float(all_tp / (all_tp + all_fn)) if all_tp + all_fn else 0.0,
        "n": int(n),
    }


def best_threshold(y_true: np.ndarray, probs: np.ndarray) -> float:
    """The grid threshold with the highest micro-F1 (ties: closest to 0.5)."""
    best, best_key = 0.5, (-1.0, 0.0)
    for th in THRESHOLDS:
        f = scores(y_true, probs >= th)["micro_f1"]
        key = (round(f, 12), -abs(th - 0.5))
        if key > best_key:
            best, best_key = th, key
    return float(best)


def per_label_report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    rows = {}
    for j, label in enumerate(labels):
        tp = int((t[:, j] & p[:, j]).sum())
        fp = int((~t[:, j] & p[:, j]).sum())
        fn = int((t[:, j] & ~p[:, j]).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        rows[label] = {
            "precision": round(prec, 6),
            "recall": round(rec, 6),
            "f1": round(f1, 6),
            "support": tp + fn,
            "predicted": tp + fp,
        }
    return {"per_label": rows, "labels": labels}


def frequent_set_baseline(train_labels, test_true: np.ndarray, labels: list[str]) -> dict:
    """Scores of always predicting the most common label set of the training rows."""
    sets = pd.Series([tuple(sorted(ls)) for ls in train_labels]).value_counts()
    common_set = list(sets.index[0]) if len(sets) else []
    pred = np.tile(to_matrix([common_set], labels), (len(test_true), 1))
    return {**scores(test_true, pred), "label_set": common_set}


# ---- training ------------------------------------------------------------------------------------


def _dataset(frame: pd.DataFrame, tokenizer, max_length: int, labels: list[str]):
    from datasets import Dataset

    matrix = to_matrix(frame["labels"].tolist(), labels).astype(np.float32)
    ds = Dataset.from_dict({"text": frame["text"].astype(str).tolist(), "labels": matrix.tolist()})

    def encode(batch):
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
        enc["length"] = [len(ids) for ids in enc["input_ids"]]
        return enc

    return ds.map(encode, batched=True, remove_columns=["text"])


def _logits(predictions) -> np.ndarray:
    if isinstance(predictions, tuple):
        predictions = predictions[0]
    return np.asarray(predictions, dtype=np.float64)


def compute_metrics(eval_pred) -> dict:
    """Validation scores at the threshold tuned on these very rows (the one test will use)."""
    probs = sigmoid(_logits(eval_pred.predictions))
    gold = np.asarray(eval_pred.label_ids) > 0.5
    th = best_threshold(gold, probs)
    out = scores(gold, probs >= th)
    out.pop("n")
    return {**out, "threshold": th}


def _evaluate(trainer, ds, frame, labels, threshold: float | None = None) -> dict:
    preds, loss = loop.predict_logits(trainer, ds)
    probs = sigmoid(_logits(preds))
    gold = to_matrix(frame["labels"].tolist(), labels)
    th = best_threshold(gold, probs) if threshold is None else threshold
    pred = probs >= th
    return {
        "summary": {**scores(gold, pred), "threshold": th, "loss": loss},
        "gold": gold,
        "pred": pred,
        "probs": probs,
    }


def _examples(frame: pd.DataFrame, labels: list[str], ev: dict, limit: int = 25) -> list[dict]:
    gold, pred, probs = ev["gold"], ev["pred"], ev["probs"]
    wrong = [i for i in range(len(frame)) if (gold[i] != pred[i]).any()]
    right = [i for i in range(len(frame)) if i not in set(wrong)]
    out = []
    for i in (wrong + right)[:limit]:
        top = np.argsort(-probs[i])[:10]
        out.append(
            {
                "text": frame["text"].iloc[i],
                "gold": [labels[j] for j in np.flatnonzero(gold[i])],
                "predicted": [labels[j] for j in np.flatnonzero(pred[i])],
                "probabilities": {labels[j]: round(float(probs[i, j]), 4) for j in top},
                "correct": bool((gold[i] == pred[i]).all()),
            }
        )
    return out


def _head_kwargs(labels: list[str]) -> dict:
    return dict(
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={l: i for i, l in enumerate(labels)},
        problem_type="multi_label_classification",
    )


def train(
    config, run, stop_event: threading.Event, data: TaskData, *, resume_from=None, callbacks=()
) -> dict:
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding

    from engine.training.loop import best_metric

    started = time.time()
    labels = data.labels
    common.unused_options(config, run, "multilabel")
    model, tokenizer, family, _ = common.backbone(
        config, AutoModelForSequenceClassification, **_head_kwargs(labels)
    )
    train_ds = _dataset(data.train, tokenizer, config.max_length, labels)
    val_ds = _dataset(data.validation, tokenizer, config.max_length, labels)
    test_ds = _dataset(data.test, tokenizer, config.max_length, labels)
    metric = best_metric(config, REPORTED, DEFAULT_METRIC)

    def before(trainer):
        val = _evaluate(trainer, val_ds, data.validation, labels)
        return _evaluate(trainer, test_ds, data.test, labels, val["summary"]["threshold"])

    result = loop.fit(
        config,
        run,
        stop_event,
        resume_from=resume_from,
        callbacks=callbacks,
        model=model,
        tokenizer=tokenizer,
        family=family,
        train_ds=train_ds,
        val_ds=val_ds,
        task="multilabel",
        task_type="SEQ_CLS",
        metric=metric,
        compute_metrics=compute_metrics,
        data_collator=DataCollatorWithPadding(tokenizer),
        before=before,
        start_info={"labels": labels, "test_rows": len(test_ds)},
    )
    trainer = result.trainer
    validation = _evaluate(trainer, val_ds, data.validation, labels)
    threshold = validation["summary"]["threshold"]
    test = _evaluate(trainer, test_ds, data.test, labels, threshold)
    common.save(
        trainer.model,
        tokenizer,
        run,
        {
            "task": "multilabel",
            "labels": labels,
            "threshold": threshold,
            "text_column": data.columns.get("text", "text"),
            "separator": data.info.get("separator") or ";",
            "max_length": config.max_length,
            "padding_side": tokenizer.padding_side,
        },
    )
    metrics = loop.base_metrics(config, stop_event, result, "multilabel", started)
    metrics.update(
        {
            "test": test["summary"],
            "validation": validation["summary"],
            "before": result.before["summary"] if result.before else None,
            "majority_baseline": frequent_set_baseline(data.train["labels"], test["gold"], labels),
            "threshold": threshold,
            "threshold_method": "global, max micro-F1 on validation",
            "report": per_label_report(test["gold"], test["pred"], labels),
            "validation_report": per_label_report(validation["gold"], validation["pred"], labels),
            "examples": _examples(data.test, labels, test),
            "labels": labels,
        }
    )
    return loop.finish(run, metrics, result.dev["device"])


# ---- prediction ----------------------------------------------------------------------------------


class Predictor:
    """Labels above the run's threshold, with every label's probability."""

    def __init__(self, run_dir: str | Path):
        from transformers import AutoModelForSequenceClassification

        self.model, self.tokenizer, info, config = common.load_saved(
            run_dir, AutoModelForSequenceClassification, lambda i: _head_kwargs(i["labels"])
        )
        self.labels: list[str] = info["labels"]
        self.threshold = float(info.get("threshold", 0.5))
        self.text_column = info.get("text_column", "text")
        self.separator = info.get("separator") or ";"
        self.max_length = int(info.get("max_length", config.max_length))
        self._lock = threading.Lock()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            logits = common.batched_logits(self.model, self.tokenizer, list(texts), self.max_length)
        return sigmoid(logits)

    def predict(self, inputs) -> list[dict]:
        texts = [d["text"] for d in common.input_dicts(inputs, INPUT_FIELDS, "text")]
        probs = self.predict_proba(texts)
        return [
            {
                "labels": [l for l, v in zip(self.labels, p) if v >= self.threshold],
                "probabilities": {l: round(float(v), 6) for l, v in zip(self.labels, p)},
                "threshold": self.threshold,
            }
            for p in probs
        ]

    def predict_table(self, df: pd.DataFrame, text_column: str = "") -> pd.DataFrame:
        col = text_column or common.table_column(df, self.text_column, TEXT_NAMES, "text")
        if col not in df.columns:
            raise DataError(
                f"Column {col!r} is not in the table; its columns are: "
                f"{', '.join(map(str, df.columns))}."
            )
        texts = df[col].map(lambda v: common.cell_text(v) or "").tolist()
        probs = self.predict_proba(texts)
        result = df.copy()
        sep = self.separator if self.separator != "," else ", "
        result["prediction"] = [
            sep.join(l for l, v in zip(self.labels, p) if v >= self.threshold) for p in probs
        ]
        for j, label in enumerate(self.labels):
            result[f"prob_{label}"] = probs[:, j].round(6)
        return result
