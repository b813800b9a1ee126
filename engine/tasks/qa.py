"""Extractive question answering: the answer is a span of the context.

Data: a table (CSV, JSONL...) with the context (``config.text_column``), the question
(``question_column``) and the answer (``label_column``), optionally the answer's character offset
(``answer_start_column``); conventional names are found by themselves. The SQuAD layout works too:
an ``answers`` cell such as ``{"text": ["Paris"], "answer_start": [31]}`` (or a list of answers).
Every answer must occur in its context (exactly; upper/lower case may differ): a DataError lists
the rows where it does not. With a start offset that points elsewhere, the occurrence closest to
it is used. Rows without an answer (SQuAD 2.0's unanswerable questions) are left out with a
warning: the model always answers.

Model: ``AutoModelForQuestionAnswering`` (a start and an end score per token; BERT's
``qa_outputs``). Decoders work through ``LlamaForQuestionAnswering`` & co.: transformers names
their body ``transformer`` while the causal-LM checkpoints call it ``model``, so
``_common.load_model`` puts the pretrained body in (else it would silently stay random). The
question comes first, so every context token of a decoder sees the question.

Long contexts: windows of ``max_length`` tokens (question + a piece of the context) that overlap
by ``doc_stride = max_length // 4`` tokens (offset mapping from the fast tokenizer); a window
without the answer is trained to point at its first token. Answers: per window the ``N_BEST``
best start and end tokens, pairs inside the context with end >= start and at most
``max_answer_tokens`` long, scored start logit + end logit; the best pair over all windows wins.
``score`` is the softmax probability of its start times that of its end within its window.

Metrics (``squad_scores``): exact match and token F1 as in the official SQuAD v1.1 script
(lower case, punctuation and the articles a/an/the removed, whitespace collapsed; best over the
gold answers), on a 0..1 scale like the other tasks. Punctuation is every Unicode punctuation
character (as MLQA's script does), and a text with CJK characters is compared character by
character for F1.
"""

from __future__ import annotations

import json
import re
import string
import threading
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.data import DataError, _CJK, load_table
from engine.tasks import TaskData
from engine.tasks import _common as common
from engine.training import loop

DEFAULT_METRIC = "f1"
MODEL_CLASS = ("AutoModelForQuestionAnswering", "QUESTION_ANS")
DISTRIBUTED = True  # trains under torchrun (rank 0 writes the run folder)
INPUT_FIELDS = ["context", "question"]
REPORTED = ("exact_match", "f1", "loss")
N_BEST = 20
# LoRA at its 1e-3 reached only 0.27 / 0.27 EM / F1 in 99 steps (batch 16) where full
# fine-tuning at 1e-4 reached 0.91 / 0.94 (engine/strategies.py TASK_RATES), hence full as the
# encoders' default.
CONTEXT_NAMES = (
    "context",
    "passage",
    "paragraph",
    "document",
    "text",
    "story",
    "article",
    "content",
)
QUESTION_NAMES = ("question", "query", "q", "questions", "prompt")
ANSWER_NAMES = ("answer", "answers", "answer_text", "label", "target", "output", "response")
START_NAMES = (
    "answer_start",
    "answer_start_char",
    "start",
    "start_char",
    "answer_offset",
    "offset",
)


def DEFAULT_STRATEGY(family: str) -> str:  # noqa: N802 - the contract's name
    return "full" if family == "encoder" else "lora"


def unsupported(strategy: str, family: str) -> str | None:
    if strategy == "setfit":
        return "SetFit trains sentence classifiers, not answer spans; pick full or LoRA."
    if strategy in ("prompt", "ptuning"):
        return (
            "peft's prompt and p-tuning put virtual tokens in front of the text but do not "
            "move the answer positions of a span head, so they train the wrong tokens; "
            "pick LoRA or full fine-tuning."
        )
    return None


# ---- SQuAD metrics -------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def _is_punct(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def normalize_answer(text: str) -> str:
    """Lower case, punctuation removed, articles a/an/the removed, whitespace collapsed."""
    text = "".join(ch for ch in str(text).lower() if not _is_punct(ch))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    """The normalised answer's tokens: words, and each CJK character on its own."""
    norm = normalize_answer(text)
    if not _CJK.search(norm):
        return norm.split()
    out: list[str] = []
    for piece in norm.split():
        buf = ""
        for ch in piece:
            if _CJK.match(ch):
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(ch)
            else:
                buf += ch
        if buf:
            out.append(buf)
    return out


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    if not pred or not ref:
        return float(pred == ref)
    common_tokens = Counter(pred) & Counter(ref)
    same = sum(common_tokens.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: list[str], golds: list[list[str]]) -> dict:
    """Mean exact match and F1 (each the best over a row's gold answers), 0..1."""
    if not predictions:
        return {"exact_match": 0.0, "f1": 0.0, "n": 0}
    em = [max(exact_match(p, g) for g in gs) for p, gs in zip(predictions, golds)]
    f1 = [max(f1_score(p, g) for g in gs) for p, gs in zip(predictions, golds)]
    return {"exact_match": float(np.mean(em)), "f1": float(np.mean(f1)), "n": len(predictions)}


# ---- data ----------------------------------------------------------------------------------------


def _columns(df: pd.DataFrame, config, name: str) -> dict[str, str]:
    question = common.find_column(df, config.question_column, QUESTION_NAMES, name)
    answer = common.find_column(df, config.label_column, ANSWER_NAMES, name, exclude={question})
    context = common.find_column(
        df, config.text_column, CONTEXT_NAMES, name, exclude={question, answer}
    )
    start = common.find_column(
        df, config.answer_start_column, START_NAMES, name, exclude={question, answer, context}
    )
    roles = {"context": context, "question": question, "answer": answer}
    common.check_roles(
        roles,
        {"context": "text_column", "question": "question_column", "answer": "label_column"},
        name,
        df.columns,
    )
    if start:
        roles["answer_start"] = start
    return roles


def _as_int(value: Any) -> int | None:
    text = common.cell_text(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() and number >= 0 else None


def _answers(cell: Any, start_cell: Any) -> tuple[list[str], list[int | None]]:
    """Answer texts and their offsets (None: unknown) from a plain cell, a SQuAD ``answers``
    dict, a list, or their JSON text."""
    value = cell
    if isinstance(value, str) and value.strip()[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError:
            value = cell
    texts: list[str] = []
    starts: list[int | None] = []
    if isinstance(value, dict):
        t, s = value.get("text", value.get("answer")), value.get("answer_start", value.get("start"))
        t = t if isinstance(t, (list, tuple, np.ndarray)) else [t]
        s = s if isinstance(s, (list, tuple, np.ndarray)) else [s] * len(t)
        for i, x in enumerate(t):
            if common.cell_text(x) is not None:
                texts.append(str(x))
                starts.append(_as_int(s[i]) if i < len(s) else None)
    elif isinstance(value, (list, tuple, np.ndarray)):
        for x in value:
            sub_t, sub_s = _answers(x, None)
            texts += sub_t
            starts += sub_s
    elif common.cell_text(value) is not None:
        texts, starts = [str(value)], [None]
    if start_cell is not None and texts and starts[0] is None:
        starts[0] = _as_int(start_cell)
    return texts, starts


def find_answer(context: str, answer: str, start: int | None = None) -> tuple[int, str] | None:
    """(offset, the answer as written in the context) or None when it is not there. A given
    ``start`` that matches is kept; otherwise the occurrence closest to it (or the first)."""
    if start is not None and context[start : start + len(answer)] == answer:
        return start, answer
    hits = [m.start() for m in re.finditer(re.escape(answer), context)]
    if not hits:
        hits = [m.start() for m in re.finditer(re.escape(answer), context, re.I)]
    if not hits:
        stripped = answer.strip()
        if stripped and stripped != answer:
            return find_answer(context, stripped, start)
        return None
    best = min(hits, key=lambda h: abs(h - start)) if start is not None else hits[0]
    return best, context[best : best + len(answer)]


def _parse(df: pd.DataFrame, roles: dict[str, str], name: str, warnings: list[str]) -> pd.DataFrame:
    contexts = [common.cell_text(v) for v in df[roles["context"]]]
    questions = [common.cell_text(v) for v in df[roles["question"]]]
    starts_col = df[roles["answer_start"]].tolist() if "answer_start" in roles else [None] * len(df)
    rows, blank, unanswerable, moved = [], 0, 0, 0
    missing: list[int] = []
    for i, (context, question, cell, start_cell) in enumerate(
        zip(contexts, questions, df[roles["answer"]], starts_col)
    ):
        if context is None or question is None:
            blank += 1
            continue
        context = str(df[roles["context"]].iloc[i])  # offsets count in the cell as written
        texts, starts = _answers(cell, start_cell)
        if not texts:
            unanswerable += 1
            continue
        found = find_answer(context, texts[0], starts[0])
        if found is None:
            missing.append(i + 1)
            continue
        offset, span = found
        if starts[0] is not None and offset != starts[0]:
            moved += 1
        rows.append(
            {
                "context": context,
                "question": question,
                "answer": span,
                "answer_start": offset,
                "answers": texts,
                "row": i + 1,
            }
        )
    if missing:
        r = missing[0]
        texts, _ = _answers(df[roles["answer"]].iloc[r - 1], None)
        raise DataError(
            f"The answer is not in its context in {common.rows_text(missing)} of "
            f"{name} (e.g. row {r}: {texts[0][:60]!r}); extractive QA needs each "
            "answer copied exactly from its context (upper/lower case may differ), "
            "so fix those answers or remove the rows."
        )
    if blank:
        warnings.append(
            f"{blank} of {len(df)} rows in {name} were dropped because the context "
            "or the question is empty."
        )
    if unanswerable:
        warnings.append(
            f"{unanswerable} of {len(df)} rows in {name} have no answer and were "
            "left out: unanswerable questions are not supported (the model always "
            "picks a span)."
        )
    if moved:
        warnings.append(
            f"In {moved} rows of {name} the answer start did not point at the "
            "answer; the occurrence closest to it was used."
        )
    return pd.DataFrame(
        rows, columns=["context", "question", "answer", "answer_start", "answers", "row"]
    )


def prepare(config) -> TaskData:
    name = Path(config.data).name
    warnings: list[str] = []
    df = load_table(config.data)
    roles = _columns(df, config, name)
    frame = _parse(df, roles, name, warnings)
    if len(frame) < 4:
        raise DataError(
            f"{name} has only {len(frame)} usable rows (a context, a question and an "
            "answer found in the context); at least 4 are needed, and a few hundred "
            "work much better."
        )
    frame = common.sample(frame, config.max_rows, config.seed, warnings)
    contexts = frame["context"].nunique()
    by_context = contexts >= 10
    train, validation, test = common.split(
        frame,
        config,
        bool(config.test_data),
        warnings,
        groups=(lambda f: f["context"]) if by_context else None,
    )
    if not by_context:
        warnings.append(
            f"Only {contexts} different contexts: the splits share contexts, so the "
            "test scores may look better than on new texts."
        )
    if config.test_data:
        tname = Path(config.test_data).name
        tdf = load_table(config.test_data)
        test_roles = {
            r: c for r, c in roles.items() if r != "answer_start" or c in tdf.columns
        }  # offsets are optional
        absent = [c for c in test_roles.values() if c not in tdf.columns]
        if absent:
            raise DataError(
                f"The test file {tname} lacks the column(s) "
                f"{', '.join(map(repr, absent))} that {name} has; give both files "
                "the same column names."
            )
        test = _parse(tdf, test_roles, tname, warnings)
        if len(test) == 0:
            raise DataError(f"The test file {tname} has no usable rows.")
    words = frame["answer"].map(lambda a: len(a.split()))
    info = {
        "contexts": int(contexts),
        "split_by_context": by_context,
        "answer_words": {"mean": round(float(words.mean()), 2), "max": int(words.max())},
        "context_chars": {
            "mean": round(float(frame["context"].str.len().mean()), 1),
            "max": int(frame["context"].str.len().max()),
        },
    }
    return TaskData("qa", train, validation, test, [], warnings, dict(roles), info)


# ---- features (question + a window of the context) -----------------------------------------------


def doc_stride(max_length: int) -> int:
    return max(1, max_length // 4)


def _short_questions(questions: list[str], tokenizer, limit: int) -> list[str]:
    """Questions cut to ``limit`` tokens, so that a window always has room for context."""
    out = []
    for q in questions:
        enc = tokenizer(q, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        out.append(q if len(offsets) <= limit else q[: offsets[limit - 1][1]])
    return out


def features(frame: pd.DataFrame, tokenizer, max_length: int, train: bool = True) -> dict:
    """Tokenised windows: input ids etc., ``length``, the start/end token labels (``train``:
    the answer's tokens, or 0 when the window misses it), and for decoding ``example`` (the
    frame row of each window) and ``offsets`` (character span per token; None outside the
    context)."""
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(
            "Extractive QA needs a fast tokenizer (with offset mapping); this "
            "backbone has only a slow one, so pick another backbone."
        )
    questions = _short_questions(
        frame["question"].astype(str).tolist(), tokenizer, max(4, max_length // 2)
    )
    contexts = frame["context"].astype(str).tolist()
    enc = tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride(max_length),
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    sample = enc.pop("overflow_to_sample_mapping")
    offsets_all = enc.pop("offset_mapping")
    starts, ends, offsets_out = [], [], []
    for i, offsets in enumerate(offsets_all):
        seq = enc.sequence_ids(i)
        ex = sample[i]
        offsets_out.append([o if seq[k] == 1 else None for k, o in enumerate(offsets)])
        if not train:
            continue
        a_start = int(frame["answer_start"].iloc[ex])
        a_end = a_start + len(frame["answer"].iloc[ex])
        ctx = [k for k, s in enumerate(seq) if s == 1]
        if not ctx or offsets[ctx[0]][0] > a_start or offsets[ctx[-1]][1] < a_end:
            starts.append(0)
            ends.append(0)
            continue
        s_tok = next(k for k in ctx if offsets[k][1] > a_start)
        e_tok = max(k for k in ctx if offsets[k][0] < a_end)
        starts.append(s_tok)
        ends.append(max(e_tok, s_tok))
    data = {k: list(v) for k, v in enc.items()}
    data["length"] = [len(ids) for ids in data["input_ids"]]
    if train:
        data["start_positions"], data["end_positions"] = starts, ends
    return {"data": data, "example": list(sample), "offsets": offsets_out}


def _dataset(feats: dict):
    from datasets import Dataset

    return Dataset.from_dict(feats["data"])


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max()
    e = np.exp(z)
    return e / e.sum()


def decode(
    start_logits, end_logits, feats: dict, contexts: list[str], max_answer_tokens: int
) -> list[dict]:
    """The best answer per example over its windows: {"answer", "score", "start", "end"}."""
    best: dict[int, dict] = {}
    for i, ex in enumerate(feats["example"]):
        offsets = feats["offsets"][i]
        n = len(offsets)
        s_log = np.asarray(start_logits[i][:n], dtype=np.float64)
        e_log = np.asarray(end_logits[i][:n], dtype=np.float64)
        s_prob, e_prob = _softmax(s_log), _softmax(e_log)
        top_s = np.argsort(-s_log)[:N_BEST]
        top_e = np.argsort(-e_log)[:N_BEST]
        for s in top_s:
            if offsets[s] is None:
                continue
            for e in top_e:
                if offsets[e] is None or e < s or e - s + 1 > max_answer_tokens:
                    continue
                score = float(s_log[s] + e_log[e])
                if ex not in best or score > best[ex]["logit"]:
                    a, b = offsets[s][0], offsets[e][1]
                    best[ex] = {
                        "logit": score,
                        "answer": contexts[ex][a:b],
                        "start": int(a),
                        "end": int(b),
                        "score": float(s_prob[s] * e_prob[e]),
                    }
    out = []
    for ex in range(len(contexts)):
        item = best.get(ex, {"answer": "", "score": 0.0, "start": -1, "end": -1})
        item.pop("logit", None)
        out.append(
            {
                "answer": item["answer"],
                "score": round(item["score"], 6),
                "start": item["start"],
                "end": item["end"],
            }
        )
    return out


def _max_answer_tokens(frame: pd.DataFrame, tokenizer, max_length: int) -> int:
    lengths = [
        len(tokenizer(a, add_special_tokens=False)["input_ids"])
        for a in frame["answer"].astype(str)
    ]
    return int(min(max_length, max(30, (max(lengths) if lengths else 0) + 5)))


def _split_logits(predictions) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(predictions, tuple) and len(predictions) >= 2:
        return np.asarray(predictions[0]), np.asarray(predictions[1])
    raise ValueError("The model did not return start and end logits.")


# ---- training ------------------------------------------------------------------------------------


def _evaluate(trainer, ds, feats, frame, max_answer_tokens) -> dict:
    preds, loss = loop.predict_logits(trainer, ds)
    start, end = _split_logits(preds)
    answers = decode(start, end, feats, frame["context"].tolist(), max_answer_tokens)
    predicted = [a["answer"] for a in answers]
    summary = {**squad_scores(predicted, frame["answers"].tolist()), "loss": loss}
    return {"summary": summary, "answers": answers}


def _examples(frame: pd.DataFrame, ev: dict, limit: int = 25) -> list[dict]:
    rows = []
    for i, ans in enumerate(ev["answers"]):
        golds = frame["answers"].iloc[i]
        f1 = max(f1_score(ans["answer"], g) for g in golds)
        em = max(exact_match(ans["answer"], g) for g in golds)
        rows.append(
            {
                "context": frame["context"].iloc[i][:2000],
                "question": frame["question"].iloc[i],
                "gold": frame["answer"].iloc[i],
                "predicted": ans["answer"],
                "score": ans["score"],
                "exact_match": em,
                "f1": round(f1, 4),
            }
        )
    rows.sort(key=lambda r: (r["exact_match"], r["f1"]))
    return rows[:limit]


def train(
    config, run, stop_event: threading.Event, data: TaskData, *, resume_from=None, callbacks=()
) -> dict:
    from transformers import AutoModelForQuestionAnswering, DataCollatorWithPadding

    from engine.training.loop import best_metric

    started = time.time()
    common.unused_options(config, run, "qa")
    model, tokenizer, family, _ = common.backbone(config, AutoModelForQuestionAnswering)
    max_len = config.max_length
    train_f = features(data.train, tokenizer, max_len, train=True)
    val_f = features(data.validation, tokenizer, max_len, train=True)
    test_f = features(data.test, tokenizer, max_len, train=True)
    train_ds, val_ds, test_ds = _dataset(train_f), _dataset(val_f), _dataset(test_f)
    max_answer = _max_answer_tokens(data.train, tokenizer, max_len)
    val_contexts = data.validation["context"].tolist()
    val_golds = data.validation["answers"].tolist()

    def compute_metrics(eval_pred) -> dict:
        start, end = _split_logits(eval_pred.predictions)
        answers = decode(start, end, val_f, val_contexts, max_answer)
        scores = squad_scores([a["answer"] for a in answers], val_golds)
        scores.pop("n")
        return scores

    labels = ["start_positions", "end_positions"]
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
        task="qa",
        task_type="QUESTION_ANS",
        metric=best_metric(config, REPORTED, DEFAULT_METRIC),
        compute_metrics=compute_metrics,
        data_collator=DataCollatorWithPadding(tokenizer),
        label_names=labels,
        before=lambda tr: _evaluate(tr, test_ds, test_f, data.test, max_answer),
        start_info={
            "test_rows": len(data.test),
            "train_windows": len(train_ds),
            "doc_stride": doc_stride(max_len),
        },
    )
    trainer = result.trainer
    validation = _evaluate(trainer, val_ds, val_f, data.validation, max_answer)
    test = _evaluate(trainer, test_ds, test_f, data.test, max_answer)
    common.save(
        trainer.model,
        tokenizer,
        run,
        {
            "task": "qa",
            "columns": data.columns,
            "max_length": max_len,
            "doc_stride": doc_stride(max_len),
            "max_answer_tokens": max_answer,
            "padding_side": tokenizer.padding_side,
        },
    )
    metrics = loop.base_metrics(config, stop_event, result, "qa", started)
    metrics.update(
        {
            "test": test["summary"],
            "validation": validation["summary"],
            "before": result.before["summary"] if result.before else None,
            "examples": _examples(data.test, test),
            "max_answer_tokens": max_answer,
            "doc_stride": doc_stride(max_len),
            "windows": {"train": len(train_ds), "validation": len(val_ds), "test": len(test_ds)},
        }
    )
    return loop.finish(run, metrics, result.dev["device"])


# ---- prediction ----------------------------------------------------------------------------------


class Predictor:
    """The answer span of a question in its context, with its score and character offsets."""

    def __init__(self, run_dir: str | Path):
        from transformers import AutoModelForQuestionAnswering

        self.model, self.tokenizer, info, config = common.load_saved(
            run_dir, AutoModelForQuestionAnswering, lambda i: {}
        )
        self.columns: dict = info.get("columns", {})
        self.max_length = int(info.get("max_length", config.max_length))
        self.max_answer_tokens = int(info.get("max_answer_tokens", 30))
        self._lock = threading.Lock()

    def _answer(self, rows: list[dict], batch_size: int = 32) -> list[dict]:
        import torch

        frame = pd.DataFrame(rows, columns=INPUT_FIELDS)
        feats = features(frame, self.tokenizer, self.max_length, train=False)
        data = feats["data"]
        keys = [k for k in data if k != "length"]
        starts, ends = [], []
        with self._lock, torch.inference_mode():
            for b in range(0, len(data["input_ids"]), batch_size):
                batch = [
                    {k: data[k][i] for k in keys}
                    for i in range(b, min(b + batch_size, len(data["input_ids"])))
                ]
                enc = self.tokenizer.pad(batch, return_tensors="pt")
                enc = {k: v.to(self.model.device) for k, v in enc.items()}
                out = self.model(**enc)
                starts += list(out.start_logits.float().cpu().numpy())
                ends += list(out.end_logits.float().cpu().numpy())
        return decode(starts, ends, feats, frame["context"].tolist(), self.max_answer_tokens)

    def predict(self, inputs) -> list[dict]:
        rows = common.input_dicts(inputs, INPUT_FIELDS, "context")
        return self._answer(rows)

    def predict_table(self, df: pd.DataFrame) -> pd.DataFrame:
        cols = {
            "context": common.table_column(
                df, self.columns.get("context", "context"), CONTEXT_NAMES, "context"
            ),
            "question": common.table_column(
                df, self.columns.get("question", "question"), QUESTION_NAMES, "question"
            ),
        }
        rows = [
            {role: common.cell_text(df[col].iloc[i]) or "" for role, col in cols.items()}
            for i in range(len(df))
        ]
        answers = self._answer(rows)
        result = df.copy()
        result["prediction"] = [a["answer"] for a in answers]
        result["score"] = [a["score"] for a in answers]
        return result
