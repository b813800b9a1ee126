"""Relation classification: which relation holds between two marked entities of a sentence.

Data: a table with the text, the head (first) entity, the tail (second) entity and the relation
(``config.text_column`` / ``head_column`` / ``tail_column`` / ``label_column``, else inferred
from conventional names: head/subject/e1/entity1, tail/object/e2/entity2, relation/label).

Entity markers: the entities are found in their text (case-insensitive; a whole-word match is
preferred; when an entity occurs several times, the occurrence closest to the other entity) and
wrapped in plain-text punctuation markers, ``@ head @`` and ``# tail #`` ("typed entity marker
(punct)" of Zhou & Chen 2021, which matched or beat new special tokens on TACRED). They were
chosen over new tokens such as ``[E1]`` because new tokens need a resized embedding table, and
with LoRA or any adapter those new rows would stay at their initial value (transformers 5 starts
all new rows at the mean embedding, so ``[E1]`` and ``[E2]`` would even look the same) unless the
whole embedding matrix were saved with the adapter. Punctuation markers are ordinary tokens of
every tokenizer: every strategy and both backbone families train them, and adapters reload on a
fresh base unchanged. When the marked text is longer than ``max_length``, a token window around
the two entities is kept, so the markers are never cut off.

Model: ``AutoModelForSequenceClassification`` over the relations (peft SEQ_CLS), trained with
the classification regulariser (class weights, label smoothing and FGM apply). Metrics: accuracy,
macro-F1 and, when there is a "no relation" label, the micro-F1 over the other relations (the
TACRED-style score), with the classification report and its confusion matrix.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from engine.data import DataError, load_table, natural_key
from engine.tasks import TaskData
from engine.tasks import _common as common
from engine.training import loop
from engine.tasks import classification

DEFAULT_METRIC = "macro_f1"
MODEL_CLASS = ("AutoModelForSequenceClassification", "SEQ_CLS")
DISTRIBUTED = True  # trains under torchrun (rank 0 writes the run folder)
INPUT_FIELDS = ["text", "head", "tail"]
REPORTED = ("accuracy", "macro_f1", "loss")
HEAD_MARK = ("@", "@")
TAIL_MARK = ("#", "#")
TEXT_NAMES = ("text", "sentence", "context", "content", "document", "passage", "input")
HEAD_NAMES = (
    "head",
    "subject",
    "subj",
    "e1",
    "entity1",
    "entity_1",
    "head_entity",
    "subject_entity",
    "arg1",
    "h",
)
TAIL_NAMES = (
    "tail",
    "object",
    "obj",
    "e2",
    "entity2",
    "entity_2",
    "tail_entity",
    "object_entity",
    "arg2",
    "t",
)
RELATION_NAMES = (
    "relation",
    "relation_type",
    "rel",
    "label",
    "relation_label",
    "predicate",
    "class",
    "type",
)
NEGATIVE_LABELS = (
    "no_relation",
    "no relation",
    "no-relation",
    "norel",
    "none",
    "other",
    "na",
    "n/a",
    "unrelated",
    "nota",
)


def DEFAULT_STRATEGY(family: str) -> str:  # noqa: N802 - the contract's name
    return "lora"


def unsupported(strategy: str, family: str) -> str | None:
    if strategy == "setfit":
        return (
            "SetFit trains plain sentence classifiers without entity markers; for relations "
            "pick LoRA or full fine-tuning."
        )
    return None


# ---- entities and markers ------------------------------------------------------------------------


def _occurrences(text: str, entity: str) -> list[int]:
    """Start offsets of ``entity`` in ``text`` (case-insensitive): whole-word matches when there
    are any, else any substring match."""
    pattern = re.escape(entity)
    words = [m.start() for m in re.finditer(r"(?<!\w)" + pattern + r"(?!\w)", text, re.I)]
    return words or [m.start() for m in re.finditer(pattern, text, re.I)]


def locate(text: str, head: str, tail: str) -> tuple[int, int, int, int] | str:
    """(head start, head end, tail start, tail end) in ``text``, or the reason they cannot be
    marked ("head" / "tail" not found, "overlap")."""
    hs, ts = _occurrences(text, head), _occurrences(text, tail)
    if not hs:
        return "head"
    if not ts:
        return "tail"
    best, best_key = None, None
    for h in hs:
        for t in ts:
            he, te = h + len(head), t + len(tail)
            if h < te and t < he:  # overlapping spans cannot both be wrapped
                continue
            key = (abs((h + he) - (t + te)), min(h, t))
            if best_key is None or key < best_key:
                best, best_key = (h, he, t, te), key
    return best if best is not None else "overlap"


def mark(text: str, span: tuple[int, int, int, int]) -> str:
    """The text with ``@ head @`` and ``# tail #`` around the two entities."""
    return _mark(text, span)[0]


def _mark(text: str, span: tuple[int, int, int, int]) -> tuple[str, tuple[int, int]]:
    """The marked text and the characters from the first marker to the end of the last one."""
    hs, he, ts, te = span
    pieces = sorted([(hs, he, HEAD_MARK), (ts, te, TAIL_MARK)])
    out, pos, length, first = [], 0, 0, 0
    for k, (s, e, (left, right)) in enumerate(pieces):
        chunk = [text[pos:s], f"{left} ", text[s:e], f" {right}"]
        if k == 0:
            first = length + len(chunk[0])
        out += chunk
        length += sum(map(len, chunk))
        pos = e
    out.append(text[pos:])
    return "".join(out), (first, length)


def fit_window(marked: str, span: tuple[int, int], tokenizer, max_length: int) -> str:
    """``marked`` unchanged when it fits in ``max_length`` tokens, else a window of tokens
    around ``span`` (the two marked entities), as text."""
    room = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    try:
        enc = tokenizer(marked, add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, ValueError, TypeError):  # slow tokenizer: no offsets
        return marked
    offsets = enc["offset_mapping"]
    if len(offsets) <= room:
        return marked
    first = next((i for i, (s, e) in enumerate(offsets) if e > span[0]), 0)
    last = max((i for i, (s, e) in enumerate(offsets) if s < span[1]), default=len(offsets) - 1)
    need = last - first + 1
    if need >= room:
        lo, hi = first, first + room
    else:
        extra = room - need
        lo = max(0, first - extra // 2)
        hi = min(len(offsets), lo + room)
        lo = max(0, hi - room)
    return marked[offsets[lo][0] : offsets[hi - 1][1]]


def mark_rows(frame: pd.DataFrame, tokenizer=None, max_length: int = 0) -> list[str]:
    out = []
    for text, span in zip(frame["text"], frame["span"]):
        marked, region = _mark(text, tuple(span))
        if tokenizer is not None and max_length:
            marked = fit_window(marked, region, tokenizer, max_length)
        out.append(marked)
    return out


# ---- data ----------------------------------------------------------------------------------------


def _columns(df: pd.DataFrame, config, name: str) -> dict[str, str]:
    head = common.find_column(df, config.head_column, HEAD_NAMES, name)
    tail = common.find_column(df, config.tail_column, TAIL_NAMES, name, exclude={head})
    relation = common.find_column(
        df, config.label_column, RELATION_NAMES, name, exclude={head, tail}
    )
    text = common.find_column(
        df, config.text_column, TEXT_NAMES, name, exclude={head, tail, relation}
    )
    roles = {"text": text, "head": head, "tail": tail, "relation": relation}
    common.check_roles(
        roles,
        {
            "head": "head_column",
            "tail": "tail_column",
            "relation": "label_column",
            "text": "text_column",
        },
        name,
        df.columns,
    )
    return roles


def _parse(
    df: pd.DataFrame,
    roles: dict[str, str],
    name: str,
    warnings: list[str],
    need_relation: bool = True,
) -> pd.DataFrame:
    """Frame with text, head, tail, relation and span (head start/end, tail start/end)."""
    values = {
        r: [common.cell_text(v) for v in df[c]]
        for r, c in roles.items()
        if r != "relation" or need_relation
    }
    keep = [i for i in range(len(df)) if all(values[r][i] is not None for r in values)]
    dropped = len(df) - len(keep)
    if dropped:
        warnings.append(
            f"{dropped} of {len(df)} rows in {name} were dropped because a text, head, "
            "tail or relation cell is empty."
        )
    frame = pd.DataFrame({r: [values[r][i] for i in keep] for r in values})
    frame["row"] = [i + 1 for i in keep]
    problems: dict[str, list[int]] = {"head": [], "tail": [], "overlap": []}
    spans = []
    for text, head, tail, row in zip(frame["text"], frame["head"], frame["tail"], frame["row"]):
        found = locate(text, head, tail)
        if isinstance(found, str):
            problems[found].append(int(row))
            spans.append(None)
        else:
            spans.append(list(found))
    for role in ("head", "tail"):
        rows = problems[role]
        if rows:
            first = frame.loc[frame["row"] == rows[0]].iloc[0]
            raise DataError(
                f"The {role} entity is not in its text in {common.rows_text(rows)} of "
                f"{name} (e.g. row {rows[0]}: {first[role]!r} not in "
                f"{first['text'][:80]!r}); write the entity exactly as it appears in "
                "the text (upper/lower case may differ) or fix those rows."
            )
    if problems["overlap"]:
        rows = problems["overlap"]
        raise DataError(
            f"The head and tail entities overlap in the text in "
            f"{common.rows_text(rows)} of {name}; they must be two separate "
            "mentions, so fix or remove those rows."
        )
    frame["span"] = spans
    return frame


def prepare(config) -> TaskData:
    name = Path(config.data).name
    warnings: list[str] = []
    df = load_table(config.data)
    roles = _columns(df, config, name)
    frame = _parse(df, roles, name, warnings)
    if len(frame) < 4:
        raise DataError(
            f"{name} has only {len(frame)} usable rows; at least 4 are needed, and "
            "a few hundred work much better."
        )
    counts = frame["relation"].value_counts()
    labels = sorted(map(str, counts.index), key=natural_key)
    if len(labels) < 2:
        raise DataError(
            f"Column {roles['relation']!r} of {name} has only one relation "
            f"({labels[0]!r}); add examples of other relations (a 'no_relation' "
            "class is common)."
        )
    if len(labels) > 50 and len(labels) > 0.5 * len(frame):
        raise DataError(
            f"Column {roles['relation']!r} of {name} has {len(labels)} different "
            f"values in {len(frame)} rows, so it looks like free text; pick the "
            "column that holds the relation."
        )
    single = [l for l in labels if counts[l] == 1]
    if single:
        warnings.append(
            f"{len(single)} relation(s) appear in only one row "
            f"({', '.join(single[:10])}); the model can hardly learn them."
        )
    if counts.iloc[0] >= 5 * counts.iloc[-1]:
        warnings.append(
            f"The relations are imbalanced: {counts.index[0]!r} has {counts.iloc[0]} "
            f"rows but {counts.index[-1]!r} only {counts.iloc[-1]}."
        )
    frame = common.sample(frame, config.max_rows, config.seed, warnings)
    train, validation, test = common.split(
        frame, config, bool(config.test_data), warnings, strata=lambda f: f["relation"]
    )
    if config.test_data:
        test = _load_test(config, roles, labels, name, warnings)
    negative = next((l for l in labels if l.strip().lower() in NEGATIVE_LABELS), None)
    info = {
        "relation_counts": {l: int(counts[l]) for l in labels},
        "negative_label": negative,
        "markers": {"head": list(HEAD_MARK), "tail": list(TAIL_MARK)},
    }
    return TaskData("relation", train, validation, test, labels, warnings, dict(roles), info)


def _load_test(config, roles, labels, train_name, warnings) -> pd.DataFrame:
    name = Path(config.test_data).name
    df = load_table(config.test_data)
    missing = [c for c in roles.values() if c not in df.columns]
    if missing:
        raise DataError(
            f"The test file {name} lacks the column(s) "
            f"{', '.join(map(repr, missing))} that {train_name} has; give both files "
            "the same column names."
        )
    test = _parse(df, roles, name, warnings)
    unseen = sorted(set(test["relation"]) - set(labels), key=natural_key)
    if unseen:
        warnings.append(
            f"{int((~test['relation'].isin(labels)).sum())} rows of {name} have "
            f"relations never seen in {train_name} ({', '.join(unseen[:10])}) and "
            "were left out of the test set."
        )
        test = test[test["relation"].isin(labels)].reset_index(drop=True)
    return test


# ---- metrics -------------------------------------------------------------------------------------


def positive_micro_f1(gold: list[int], pred: list[int], negative: int | None) -> float:
    """Micro-F1 over the relations other than the "no relation" class (TACRED's score): a
    prediction counts when it is not the negative class, a gold pair when it is not either."""
    if negative is None:
        return float(np.mean(np.asarray(gold) == np.asarray(pred))) if gold else 0.0
    g, p = np.asarray(gold), np.asarray(pred)
    correct = int(((g == p) & (p != negative)).sum())
    predicted, relevant = int((p != negative).sum()), int((g != negative).sum())
    if predicted == 0 or relevant == 0:
        return 0.0
    prec, rec = correct / predicted, correct / relevant
    return 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)


def _summary(report: dict, gold, pred, negative: int | None, loss: float) -> dict:
    out = {
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "loss": loss,
        "n": report["n"],
    }
    if negative is not None:
        out["micro_f1_without_negative"] = positive_micro_f1(gold, pred, negative)
    return out


# ---- training ------------------------------------------------------------------------------------


def _dataset(frame: pd.DataFrame, tokenizer, max_length: int, label2id: dict):
    from datasets import Dataset

    ds = Dataset.from_dict(
        {
            "text": mark_rows(frame, tokenizer, max_length),
            "labels": [label2id[r] for r in frame["relation"]],
        }
    )

    def encode(batch):
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
        enc["length"] = [len(ids) for ids in enc["input_ids"]]
        return enc

    return ds.map(encode, batched=True, remove_columns=["text"])


def _evaluate(trainer, ds, frame, labels, negative) -> dict:
    preds, loss = loop.predict_logits(trainer, ds)
    logits = preds[0] if isinstance(preds, tuple) else preds
    probs = classification.softmax(np.asarray(logits, dtype=np.float64))
    pred = probs.argmax(-1).tolist()
    label2id = {l: i for i, l in enumerate(labels)}
    gold = [label2id[r] for r in frame["relation"]]
    report = classification.report(gold, pred, labels)
    return {
        "summary": _summary(report, gold, pred, negative, loss),
        "report": report,
        "gold": gold,
        "pred": pred,
        "probs": probs,
    }


def _examples(frame, labels, ev, limit: int = 25) -> list[dict]:
    gold, pred, probs = ev["gold"], ev["pred"], ev["probs"]
    order = sorted(range(len(frame)), key=lambda i: (gold[i] == pred[i], -probs[i, pred[i]]))
    marked = mark_rows(frame)
    return [
        {
            "text": frame["text"].iloc[i],
            "head": frame["head"].iloc[i],
            "tail": frame["tail"].iloc[i],
            "marked_text": marked[i],
            "gold": labels[gold[i]],
            "predicted": labels[pred[i]],
            "confidence": round(float(probs[i, pred[i]]), 4),
            "correct": gold[i] == pred[i],
        }
        for i in order[:limit]
    ]


def _head_kwargs(labels: list[str]) -> dict:
    return dict(
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={l: i for i, l in enumerate(labels)},
    )


def train(
    config, run, stop_event: threading.Event, data: TaskData, *, resume_from=None, callbacks=()
) -> dict:
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding

    from engine import regularization
    from engine.training.loop import best_metric

    started = time.time()
    labels = data.labels
    label2id = {l: i for i, l in enumerate(labels)}
    negative_label = data.info.get("negative_label")
    negative = label2id.get(negative_label) if negative_label else None
    common.unused_options(config, run, "relation", keep=("loss",))
    model, tokenizer, family, _ = common.backbone(
        config, AutoModelForSequenceClassification, **_head_kwargs(labels)
    )
    train_ds = _dataset(data.train, tokenizer, config.max_length, label2id)
    val_ds = _dataset(data.validation, tokenizer, config.max_length, label2id)
    test_ds = _dataset(data.test, tokenizer, config.max_length, label2id)
    reg = regularization.Regularization.from_config(config, data.train["relation"], labels)
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
        task="relation",
        task_type="SEQ_CLS",
        metric=best_metric(config, REPORTED, DEFAULT_METRIC),
        compute_metrics=classification.compute_metrics,
        data_collator=DataCollatorWithPadding(tokenizer),
        regularization=reg,
        before=lambda tr: _evaluate(tr, test_ds, data.test, labels, negative),
        start_info={"labels": labels, "test_rows": len(test_ds)},
    )
    trainer = result.trainer
    validation = _evaluate(trainer, val_ds, data.validation, labels, negative)
    test = _evaluate(trainer, test_ds, data.test, labels, negative)
    common.save(
        trainer.model,
        tokenizer,
        run,
        {
            "task": "relation",
            "labels": labels,
            "columns": data.columns,
            "negative_label": negative_label,
            "max_length": config.max_length,
            "markers": {"head": list(HEAD_MARK), "tail": list(TAIL_MARK)},
            "padding_side": tokenizer.padding_side,
        },
    )
    metrics = loop.base_metrics(config, stop_event, result, "relation", started)
    metrics.update(
        {
            "test": test["summary"],
            "validation": validation["summary"],
            "before": result.before["summary"] if result.before else None,
            "majority_baseline": classification.majority_baseline(
                data.train["relation"].tolist(), data.test["relation"].tolist()
            ),
            "report": test["report"],
            "validation_report": validation["report"],
            "examples": _examples(data.test, labels, test),
            "labels": labels,
            "negative_label": negative_label,
            "regularization": {
                **reg.describe(),
                "adversarial_steps": getattr(trainer, "adversarial_steps", 0),
            },
        }
    )
    return loop.finish(run, metrics, result.dev["device"])


# ---- prediction ----------------------------------------------------------------------------------


class Predictor:
    """The relation between the head and tail entity of a text, with every relation's
    probability."""

    def __init__(self, run_dir: str | Path):
        from transformers import AutoModelForSequenceClassification

        self.model, self.tokenizer, info, config = common.load_saved(
            run_dir, AutoModelForSequenceClassification, lambda i: _head_kwargs(i["labels"])
        )
        self.labels: list[str] = info["labels"]
        self.columns: dict = info.get("columns", {})
        self.max_length = int(info.get("max_length", config.max_length))
        self._lock = threading.Lock()

    def _marked(self, rows: list[dict], source: str = "input") -> list[str]:
        frame = pd.DataFrame(rows, columns=INPUT_FIELDS)
        bad: dict[str, list[int]] = {"head": [], "tail": [], "overlap": []}
        spans = []
        for i, row in enumerate(rows, start=1):
            found = locate(row["text"], row["head"], row["tail"])
            if isinstance(found, str):
                bad[found].append(i)
                spans.append(None)
            else:
                spans.append(list(found))
        for role, rows_bad in bad.items():
            if rows_bad:
                what = (
                    "the head and tail overlap"
                    if role == "overlap"
                    else f"the {role} entity is not in the text"
                )
                raise DataError(
                    f"In {source} {common.rows_text(rows_bad)}, {what}; write each "
                    "entity exactly as it appears in its text."
                )
        frame["span"] = spans
        return mark_rows(frame, self.tokenizer, self.max_length)

    def predict_proba(self, rows: list[dict], source: str = "input") -> tuple[np.ndarray, list]:
        marked = self._marked(rows, source)
        with self._lock:
            logits = common.batched_logits(self.model, self.tokenizer, marked, self.max_length)
        return classification.softmax(logits), marked

    def predict(self, inputs) -> list[dict]:
        rows = common.input_dicts(inputs, INPUT_FIELDS, "text")
        probs, marked = self.predict_proba(rows)
        return [
            {
                "relation": self.labels[int(p.argmax())],
                "probabilities": {l: round(float(v), 6) for l, v in zip(self.labels, p)},
                "marked_text": m,
            }
            for p, m in zip(probs, marked)
        ]

    def predict_table(self, df: pd.DataFrame) -> pd.DataFrame:
        names = {"text": TEXT_NAMES, "head": HEAD_NAMES, "tail": TAIL_NAMES}
        cols = {
            role: common.table_column(df, self.columns.get(role, role), names[role], role)
            for role in INPUT_FIELDS
        }
        rows = [
            {role: common.cell_text(df[col].iloc[i]) or "" for role, col in cols.items()}
            for i in range(len(df))
        ]
        probs, _ = self.predict_proba(rows, "the table")
        result = df.copy()
        result["prediction"] = [self.labels[int(i)] for i in probs.argmax(-1)]
        for j, label in enumerate(self.labels):
            result[f"prob_{label}"] = probs[:, j].round(6)
        return result
