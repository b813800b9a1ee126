"""Named-entity recognition (token classification): one tag per word, entity-level scores.

Data (engine/tasks/ner_data.py): JSONL tokens + tags, CoNLL, or text + character spans, in any
BIO-family scheme, normalised to IOB2. The model is ``AutoModelForTokenClassification`` (BERT-like
encoders and Llama-like decoders alike) prepared by ``apply_strategy(..., task_type="TOKEN_CLS")``.

Word-level labels: the first sub-word of each word carries the word's tag (skipping a bare "▁"
word-start piece), every other sub-word and the special tokens carry -100 (ignored by the loss and
the scores). A sentence longer than ``max_length`` sub-words is cut into pieces at word boundaries
that fit (for training and for prediction alike), so no word is ever dropped; the pieces of a test
sentence are put back together before scoring. Scores are seqeval's entity-level precision / recall
/ F1 (an entity counts only when its type and both ends are right) and the word-level tag accuracy.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.data import DataError, estimate_tokens
from engine.tasks import TaskData
from engine.tasks.ner_data import (
    MIN_SENTENCES,
    RARE_TYPE,
    entity_dicts,
    entity_types,
    highlighted,
    join_tokens,
    load_ner,
    split_words,
    tag_names,
    to_iob2,
)

DEFAULT_METRIC = "f1"
MODEL_CLASS = ("AutoModelForTokenClassification", "TOKEN_CLS")
DISTRIBUTED = True  # trains under torchrun (rank 0 writes the run folder)
INPUT_FIELDS = ["text"]
REPORTED = {"f1", "precision", "recall", "accuracy"}
MAX_EXAMPLES = 50


def DEFAULT_STRATEGY(family: str) -> str:  # noqa: N802 - the contract's name
    """Full fine-tuning on encoders: on MiniLM it learned NER better than LoRA in the same steps
    (WNUT-16, 120 steps at their NER rates: validation F1 0.21 vs 0.07); LoRA on decoders."""
    return "full" if family == "encoder" else "lora"


def unsupported(strategy: str, family: str) -> str | None:
    if strategy == "setfit":
        return (
            "SetFit is for sentence classification; NER tags every word, so pick full "
            "fine-tuning or LoRA."
        )
    if strategy in ("prompt", "ptuning"):
        return (
            "Prompt and P-tuning put virtual tokens before the words, which peft does not "
            "line up with per-token tags (its token-classification model fails); pick LoRA "
            "or prefix tuning."
        )
    return None


# ---- data -------------------------------------------------------------------------------------


def prepare(config) -> TaskData:
    """Read, check and split the NER data of ``config`` (tags normalised to IOB2)."""
    if not config.data:
        raise DataError(
            "No data file chosen: pick a file of tagged sentences (JSONL tokens + "
            "tags, CoNLL, or a table of texts with entity spans)."
        )
    table = load_ner(config.data, config.text_column, config.label_column)
    warnings = list(table.warnings)
    frame = table.frame
    if config.max_rows and len(frame) > config.max_rows:
        frame = frame.sample(n=config.max_rows, random_state=config.seed).reset_index(drop=True)
        warnings.append(
            f"Using a sample of {config.max_rows} of the {len(table.frame)} sentences "
            "(the max rows setting)."
        )
    info: dict[str, Any] = {
        "scheme": table.scheme,
        "format": table.source_format,
        "char_level": table.char_level,
    }
    if config.test_data:
        test_table = load_ner(config.test_data, config.text_column, config.label_column)
        warnings += test_table.warnings
        info["test_scheme"] = test_table.scheme
        train, validation = _split(
            frame, [config.validation_fraction], config.seed, Path(config.data).name
        )
        test = test_table.frame
    else:
        train, validation, test = _split(
            frame,
            [config.validation_fraction, config.test_fraction],
            config.seed,
            Path(config.data).name,
        )
    everything = pd.concat([train, validation, test], ignore_index=True)
    types = entity_types(everything["tags"])
    counts = _mentions(everything["tags"])
    train_counts = _mentions(train["tags"])
    rare = {t: n for t, n in counts.items() if n < RARE_TYPE}
    if rare:
        listed = ", ".join(f"{t} ({n})" for t, n in rare.items())
        warnings.append(
            f"{len(rare)} entity type(s) have fewer than {RARE_TYPE} mentions: "
            f"{listed}; the model can hardly learn them, so tag more or merge types."
        )
    missing = [t for t in types if not train_counts.get(t)]
    if missing:
        warnings.append(
            f"Entity type(s) {', '.join(missing)} never occur in the training split, "
            "so the model cannot learn them."
        )
    seen = set(map(tuple, train["tokens"]))
    repeated = sum(tuple(t) in seen for t in test["tokens"])
    if repeated:
        warnings.append(
            f"{repeated} of {len(test)} test sentences also occur in the training "
            "split, so the test scores flatter the model on new text."
        )
    lengths = _subword_lengths(config, everything["tokens"])
    long = int((lengths > config.max_length).sum())
    if long:
        warnings.append(
            f"{long} of {len(everything)} sentences are longer than max length "
            f"({config.max_length} tokens); each is cut into pieces that fit at word "
            "boundaries, so words near a cut see less context (raise max length to "
            "keep them whole)."
        )
    n_tokens = everything["tokens"].map(len)
    info.update(
        tags=tag_names(types),
        entity_counts=counts,
        train_entity_counts=train_counts,
        sentences=len(everything),
        tokens=int(n_tokens.sum()),
        tokens_per_sentence={"mean": round(float(n_tokens.mean()), 1), "max": int(n_tokens.max())},
        subwords_per_sentence={"mean": round(float(lengths.mean()), 1), "max": int(lengths.max())},
        long_sentences=long,
        converted_to="IOB2",
    )
    return TaskData(
        "ner",
        train,
        validation,
        test,
        labels=types,
        warnings=warnings,
        columns=dict(table.columns),
        info=info,
    )


def _split(frame: pd.DataFrame, fractions: list[float], seed: int, name: str):
    """Random sentence-level split: train plus one frame per fraction (each at least 1 row)."""
    n = len(frame)
    sizes = [max(1, round(n * f)) for f in fractions]
    if n < MIN_SENTENCES or n - sum(sizes) < 2:
        raise DataError(
            f"{name} has only {n} sentences; NER needs at least "
            f"{max(MIN_SENTENCES, sum(sizes) + 2)} to hold some out for validation "
            "and testing. Add more tagged sentences."
        )
    order = np.random.RandomState(seed).permutation(n)
    parts, start = [], 0
    for size in sizes:
        parts.append(frame.iloc[order[start : start + size]].reset_index(drop=True))
        start += size
    train = frame.iloc[order[start:]].reset_index(drop=True)
    return (train, *parts)


def _mentions(tag_lists) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tags in tag_lists:
        for tag in tags:
            if tag.startswith("B-"):
                counts[tag[2:]] = counts.get(tag[2:], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _subword_lengths(config, token_lists) -> pd.Series:
    """Sub-words per sentence with the backbone's tokenizer when it is on this machine, else
    an estimate (never downloads)."""
    try:
        from transformers import AutoTokenizer

        from engine.backbones import resolve_backbone

        tokenizer = AutoTokenizer.from_pretrained(resolve_backbone(config.backbone, download=False))
        if not tokenizer.is_fast:
            raise ValueError("slow tokenizer")
        encoder = WordEncoder(tokenizer, config.max_length)
        return pd.Series([sum(c) + encoder.specials for c in encoder.word_counts(token_lists)])
    except Exception:  # noqa: BLE001 - no tokenizer here: estimate
        return pd.Series([estimate_tokens(join_tokens(t)[0]) + 2 for t in token_lists])


# ---- sub-word encoding --------------------------------------------------------------------------


class WordEncoder:
    """Words -> model inputs: first-sub-word labels, sentences cut into pieces that fit.

    Byte-level BPE tokenizers (GPT-2, Llama 3, SmolLM2) read a word without its leading space as
    a different token than in running text; where a tokenizer does, each word that follows a
    space in the sentence is given that space, so training and raw-text prediction agree."""

    def __init__(self, tokenizer, max_length: int):
        if not getattr(tokenizer, "is_fast", False):
            raise DataError(
                "NER needs a backbone with a fast tokenizer (to map sub-words back to "
                "words); this backbone has only a slow one."
            )
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.specials = tokenizer.num_special_tokens_to_add(pair=False)
        self.budget = max(1, max_length - self.specials)
        self.space_prefix = _needs_space_prefix(tokenizer)
        self.bare_space = _bare_space_ids(tokenizer)

    def words(self, tokens: list[str]) -> list[str]:
        """The words as the tokenizer is given them."""
        if not self.space_prefix:
            return list(tokens)
        text, offsets = join_tokens(tokens)
        return [
            (" " if a and text[a - 1] == " " else "") + tok for tok, (a, _) in zip(tokens, offsets)
        ]

    def word_counts(self, token_lists) -> list[list[int]]:
        """Sub-words of every word of every sentence."""
        out = []
        sentences = [self.words(t) for t in token_lists]
        for start in range(0, len(sentences), 512):
            batch = sentences[start : start + 512]
            enc = self.tokenizer(batch, is_split_into_words=True, add_special_tokens=False)
            for i, words in enumerate(batch):
                counts = [0] * len(words)
                for w in enc.word_ids(i):
                    if w is not None:
                        counts[w] += 1
                out.append(counts)
        return out

    def pieces(self, token_lists) -> list[tuple[int, int, int]]:
        """(sentence, first word, end word) of every piece that fits ``max_length``."""
        out = []
        for s, counts in enumerate(self.word_counts(token_lists)):
            start, used = 0, 0
            for w, c in enumerate(counts):
                if used + c > self.budget and w > start:
                    out.append((s, start, w))
                    start, used = w, 0
                used += c
            out.append((s, start, len(counts)))
        return out

    def encode(self, token_lists, tag_lists=None, label2id: dict | None = None):
        """Features (input_ids, attention_mask, ..., labels when tags are given, length), the
        pieces, and for every piece the (word index, token position) of each word's first
        sub-word."""
        pieces = self.pieces(token_lists)
        words = [self.words(token_lists[s])[a:b] for s, a, b in pieces]
        features, firsts = [], []
        for start in range(0, len(pieces), 512):
            enc = self.tokenizer(
                words[start : start + 512],
                is_split_into_words=True,
                truncation=True,
                max_length=self.max_length,
            )
            for i in range(len(enc["input_ids"])):
                s, a, _ = pieces[start + i]
                row = {k: enc[k][i] for k in enc.keys()}
                first: list[tuple[int, int]] = []
                for pos, w in enumerate(enc.word_ids(i)):
                    if w is None:
                        continue
                    if not first or first[-1][0] != a + w:
                        first.append((a + w, pos))
                    elif row["input_ids"][first[-1][1]] in self.bare_space:
                        first[-1] = (a + w, pos)  # "▁" alone says nothing: use the next piece
                if tag_lists is not None:
                    labels = [-100] * len(row["input_ids"])
                    for w, pos in first:
                        labels[pos] = label2id[tag_lists[s][w]]
                    row["labels"] = labels
                row["length"] = len(row["input_ids"])
                features.append(row)
                firsts.append(first)
        return features, pieces, firsts

    def dataset(self, frame: pd.DataFrame, label2id: dict):
        from datasets import Dataset

        features, _, _ = self.encode(frame["tokens"].tolist(), frame["tags"].tolist(), label2id)
        return Dataset.from_list(features)


def _bare_space_ids(tokenizer) -> set[int]:
    """Ids of a word-start marker alone ("▁" in SentencePiece, "Ġ" in byte-level BPE). XLM-R
    style tokenizers split a Chinese character given as a word into "▁" + the character; the
    label then goes on the character, the piece that carries it."""
    unk = tokenizer.unk_token_id
    ids = set()
    for marker in ("\u2581", "\u0120"):
        i = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(i, int) and i != unk and i is not None:
            ids.add(i)
    return ids


def _needs_space_prefix(tokenizer) -> bool:
    """True for tokenizers that read " word" and "word" differently (byte-level BPE)."""
    try:
        plain = tokenizer("x world", add_special_tokens=False)["input_ids"]
        split = tokenizer(["x", "world"], is_split_into_words=True, add_special_tokens=False)[
            "input_ids"
        ]
        spaced = tokenizer(["x", " world"], is_split_into_words=True, add_special_tokens=False)[
            "input_ids"
        ]
    except Exception:  # noqa: BLE001 - an unusual tokenizer: feed the words as they are
        return False
    return split != plain and spaced == plain


def tag_sentences(
    model,
    encoder: WordEncoder,
    token_lists: list[list[str]],
    id2tag: dict[int, str],
    batch_size: int = 32,
) -> list[list[str]]:
    """Predicted IOB2 tags for every word of every sentence (words with no sub-word: O)."""
    import torch

    features, pieces, firsts = encoder.encode(token_lists)
    out = [["O"] * len(t) for t in token_lists]
    order = np.argsort([f["length"] for f in features], kind="stable")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    keys = [k for k in features[0] if k != "length"] if features else []
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = encoder.tokenizer.pad(
                [{k: features[i][k] for k in keys} for i in idx], return_tensors="pt"
            )
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = model(**batch).logits
            preds = logits.argmax(-1).cpu().numpy()
            for row, i in enumerate(idx):
                s = pieces[i][0]
                for w, pos in firsts[i]:
                    out[s][w] = id2tag[int(preds[row, pos])]
    if was_training:
        model.train()
    return [to_iob2(tags) for tags in out]


# ---- scores -------------------------------------------------------------------------------------


def scores(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """Entity-level micro precision / recall / F1, macro F1 and word-level tag accuracy."""
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    pred = [to_iob2(p) for p in pred]
    return {
        "f1": float(f1_score(gold, pred, zero_division=0)),
        "precision": float(precision_score(gold, pred, zero_division=0)),
        "recall": float(recall_score(gold, pred, zero_division=0)),
        "accuracy": float(accuracy_score(gold, pred)) if any(gold) else 0.0,
        "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
    }


def report(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """seqeval's per-type table: {"per_type": {type: {precision, recall, f1, support}},
    "micro": ..., "macro": ..., "weighted": ...}."""
    from seqeval.metrics import classification_report

    pred = [to_iob2(p) for p in pred]
    raw = classification_report(gold, pred, output_dict=True, zero_division=0)

    def row(values: dict) -> dict:
        return {
            "precision": round(float(values["precision"]), 4),
            "recall": round(float(values["recall"]), 4),
            "f1": round(float(values["f1-score"]), 4),
            "support": int(values["support"]),
        }

    averages = {"micro avg": "micro", "macro avg": "macro", "weighted avg": "weighted"}
    out = {"per_type": {k: row(v) for k, v in raw.items() if k not in averages}}
    out.update({name: row(raw[key]) for key, name in averages.items() if key in raw})
    return out


def _metrics_function(id2tag: dict[int, str]):
    """compute_metrics for the Trainer: entity scores on the pieces of the validation split
    (the predictions are arg-maxed first, see ``_argmax``)."""

    def compute(eval_pred) -> dict:
        preds, labels = eval_pred.predictions, eval_pred.label_ids
        gold, pred = [], []
        for p_row, l_row in zip(preds, labels):
            keep = l_row != -100
            gold.append([id2tag[int(i)] for i in l_row[keep]])
            pred.append([id2tag[int(i)] for i in p_row[keep]])
        values = scores(gold, pred)
        return {k: values[k] for k in ("f1", "precision", "recall", "accuracy")}

    return compute


def _argmax(logits, labels):
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(-1)


# ---- training -----------------------------------------------------------------------------------


def load_model(backbone_path, tags: list[str], config_overrides: dict | None = None):
    """A fresh ``*ForTokenClassification`` for ``tags`` and its (fast) tokenizer."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    tokenizer = AutoTokenizer.from_pretrained(backbone_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized head" is expected
    try:
        model = AutoModelForTokenClassification.from_pretrained(
            backbone_path,
            num_labels=len(tags),
            id2label=dict(enumerate(tags)),
            label2id={t: i for i, t in enumerate(tags)},
            **(config_overrides or {}),
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def train(
    config, run, stop_event: threading.Event, data: TaskData, *, resume_from=None, callbacks=()
) -> dict:
    """Fine-tune a token classifier on ``data`` through the one fit, score it on the test
    split, save it."""
    from transformers import DataCollatorForTokenClassification

    from engine import regularization
    from engine.backbones import family_of, resolve_backbone
    from engine.training import loop

    started = time.time()
    family = family_of(config.backbone)
    path = resolve_backbone(config.backbone)
    tags = tag_names(data.labels)
    label2id = {t: i for i, t in enumerate(tags)}
    id2tag = dict(enumerate(tags))
    _note_ignored_options(config, run)
    model, tokenizer = load_model(
        path, tags, regularization.dropout_overrides(path, config.dropout)
    )
    encoder = WordEncoder(tokenizer, config.max_length)
    train_ds = encoder.dataset(data.train, label2id)
    val_ds = encoder.dataset(data.validation, label2id)
    metric = loop.best_metric(config, REPORTED, DEFAULT_METRIC)
    # the untrained head on the same test sentences: the "before" of the Evaluate tab
    before = evaluate(model, encoder, data.test, id2tag, config.eval_batch_size)["summary"]
    result = loop.fit(
        config,
        run,
        stop_event,
        model=model,
        tokenizer=tokenizer,
        family=family,
        train_ds=train_ds,
        val_ds=val_ds,
        task="ner",
        task_type="TOKEN_CLS",
        metric=metric,
        compute_metrics=_metrics_function(id2tag),
        data_collator=DataCollatorForTokenClassification(tokenizer),
        args_overrides={"label_smoothing_factor": config.label_smoothing},
        regularization=regularization.Regularization(),  # sentence-level options: not for NER
        preprocess_logits_for_metrics=_argmax,
        callbacks=callbacks,
        resume_from=resume_from,
        start_info={
            "test_rows": len(data.test),
            "labels": data.labels,
            "scheme": data.info.get("scheme"),
        },
    )

    # final scores with the best checkpoint, on whole sentences
    model = result.model
    validation = evaluate(model, encoder, data.validation, id2tag, config.eval_batch_size)
    t0 = time.time()
    test = evaluate(model, encoder, data.test, id2tag, config.eval_batch_size)
    test_seconds = time.time() - t0
    if run.writer:
        _save(model, tokenizer, run, config, data, tags, encoder)
    metrics = loop.base_metrics(config, stop_event, result, "ner", started)
    metrics.update(
        {
            "test": test["summary"],
            "validation": validation["summary"],
            "before": before,
            "report": test["report"],
            "validation_report": validation["report"],
            "examples": test["examples"],
            "eval_samples_per_second": round(len(data.test) / max(test_seconds, 1e-9), 2),
            "best_metric_name": metric,
            "labels": data.labels,
            "tags": tags,
            "scheme": data.info.get("scheme"),
        }
    )
    del model
    return loop.finish(run, metrics, result.dev["device"])


def evaluate(
    model, encoder: WordEncoder, frame: pd.DataFrame, id2tag: dict[int, str], batch_size: int = 64
) -> dict:
    """Scores, per-type report and examples of ``model`` on the sentences of ``frame``."""
    tokens = frame["tokens"].tolist()
    gold = frame["tags"].tolist()
    pred = tag_sentences(model, encoder, tokens, id2tag, batch_size) if tokens else []
    summary = {k: round(v, 4) for k, v in scores(gold, pred).items()} if tokens else {}
    summary["n"] = len(tokens)
    return {
        "summary": summary,
        "report": report(gold, pred) if tokens else {},
        "examples": examples(tokens, gold, pred),
    }


def examples(token_lists, gold_lists, pred_lists, limit: int = MAX_EXAMPLES) -> list[dict]:
    """Test sentences for the Evaluate tab, those with a mistake first: the joined text, gold and
    predicted entities as a readable string ("gold", "predicted") and as lists with token and
    character positions ("gold_entities", "predicted_entities"; end_token / end exclusive), the
    tokens, and (substring, label or None) pairs for gradio's HighlightedText."""
    rows = []
    for tokens, gold, pred in zip(token_lists, gold_lists, pred_lists):
        text, offsets = join_tokens(tokens)
        g = entity_dicts(tokens, gold, text, offsets)
        p = entity_dicts(tokens, pred, text, offsets)
        if not g and not p:
            continue
        key = lambda e: (e["start_token"], e["end_token"], e["label"])  # noqa: E731
        rows.append(
            {
                "text": text,
                "gold": _listed(g),
                "predicted": _listed(p),
                "correct": sorted(map(key, g)) == sorted(map(key, p)),
                "tokens": list(tokens),
                "gold_entities": g,
                "predicted_entities": p,
                "gold_highlighted": highlighted(text, g),
                "predicted_highlighted": highlighted(text, p),
            }
        )
    rows.sort(key=lambda r: r["correct"])  # stable: mistakes first, each group in test order
    return rows[:limit]


def _listed(entities: list[dict]) -> str:
    """ "Ada Lovelace [PER], London [LOC]" (the examples table shows plain strings)."""
    return ", ".join(f"{e['text']} [{e['label']}]" for e in entities) or "—"


def _note_ignored_options(config, run) -> None:
    ignored = [
        name
        for name, on in (
            ("class weights", config.class_weights != "none"),
            ("adversarial training", config.adversarial != "none"),
            ("augmentation", config.augment != "none"),
        )
        if on
    ]
    if ignored:
        run.append_event(
            "message",
            level="warning",
            text=f"NER does not use {', '.join(ignored)} (sentence-classification "
            "options); training without.",
        )


def _save(
    model, tokenizer, run, config, data: TaskData, tags: list[str], encoder: WordEncoder
) -> None:
    """model/: the adapter or full model, the tokenizer and task.json (what Predictor needs)."""
    from engine.runs import write_json_atomic
    from engine.strategies import save_model

    out = run.model_dir
    tmp = out.with_name("model.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(model, tmp)
    tokenizer.save_pretrained(tmp)
    write_json_atomic(
        tmp / "task.json",
        {
            "task": "ner",
            "labels": list(data.labels),
            "tags": tags,
            "scheme": data.info.get("scheme"),
            "max_length": config.max_length,
            "text_column": data.columns.get("tokens", ""),
            "label_column": data.columns.get("tags", ""),
            "char_level": bool(data.info.get("char_level")),
            "backbone": config.backbone,
            "space_prefix": encoder.space_prefix,
        },
    )
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


# ---- prediction ---------------------------------------------------------------------------------


class Predictor:
    """Tag new text with a finished NER run.

    ``predict(["Ada Lovelace lives in London", ["Ada", "Lovelace"], "张三在北京工作"])``: raw text
    is split into words (one per character for Chinese / Japanese), a list is taken as the
    words. Each answer: text, tokens, tags, entities [{text, label, start, end}] with character
    offsets into the text, and (substring, label or None) pairs for gradio's HighlightedText."""

    def __init__(self, run_dir: str | Path):
        from engine.predict import PredictError
        from engine.runs import Run, read_json

        run = Run(Path(run_dir))
        meta = read_json(run.model_dir / "task.json", None)
        if not meta:
            raise PredictError(
                f"{run.path} has no trained NER model yet (status: {run.status}). "
                "Pick a finished run."
            )
        self.run = run
        self.tags: list[str] = meta["tags"]
        self.labels: list[str] = meta["labels"]
        self.text_column: str = meta.get("text_column") or "text"
        self.char_level = bool(meta.get("char_level"))
        self.id2tag = dict(enumerate(self.tags))
        self._lock = threading.Lock()
        self.model, tokenizer = _load(
            run.model_dir, self.tags, meta.get("backbone") or run.config().backbone
        )
        self.encoder = WordEncoder(tokenizer, int(meta.get("max_length") or 128))

    def predict(self, inputs: list, batch_size: int = 32) -> list[dict]:
        parsed = [_words(x) for x in inputs]
        with self._lock:
            tag_lists = (
                tag_sentences(
                    self.model, self.encoder, [p[0] for p in parsed], self.id2tag, batch_size
                )
                if parsed
                else []
            )
        out = []
        for (tokens, text, offsets), tags in zip(parsed, tag_lists):
            entities = [
                {k: e[k] for k in ("text", "label", "start", "end")}
                for e in entity_dicts(tokens, tags, text, offsets)
            ]
            out.append(
                {
                    "text": text,
                    "tokens": tokens,
                    "tags": tags,
                    "entities": entities,
                    "highlighted": highlighted(text, entities),
                }
            )
        return out

    def predict_table(self, df: pd.DataFrame, text_column: str = "") -> pd.DataFrame:
        """``df`` with "tags" and "entities" columns (JSON lists) added."""
        col = text_column or next(
            (c for c in (self.text_column, "text", "tokens", "sentence") if c in df.columns), ""
        )
        if not col:
            strings = [c for c in df.columns if df[c].dtype == object]
            if not strings:
                raise DataError("The table has no text column to tag.")
            col = max(strings, key=lambda c: df[c].astype(str).str.len().mean())
        if col not in df.columns:
            raise DataError(
                f"Column {col!r} is not in the table; its columns are: "
                f"{', '.join(map(str, df.columns))}."
            )
        values = [_cell(v) for v in df[col].tolist()]
        answers = self.predict(values)
        result = df.copy()
        result["tags"] = [json.dumps(a["tags"], ensure_ascii=False) for a in answers]
        result["entities"] = [json.dumps(a["entities"], ensure_ascii=False) for a in answers]
        return result


def _cell(value: Any):
    """A table cell as a text or a list of words (a JSON list of strings)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _words(value: Any) -> tuple[list[str], str, list[tuple[int, int]]]:
    """(tokens, text, character offsets of the tokens) for one input."""
    if isinstance(value, dict):
        value = value.get("tokens") or value.get("text") or ""
    if isinstance(value, str) and value.lstrip().startswith("[") and value.rstrip().endswith("]"):
        try:
            listed = json.loads(value)
            if isinstance(listed, list) and all(isinstance(t, str) for t in listed):
                value = listed
        except ValueError:
            pass
    if isinstance(value, (list, tuple)):
        tokens = [str(t) for t in value]
        text, offsets = join_tokens(tokens)
        return tokens, text, offsets
    text = str(value)
    offsets = split_words(text)
    return [text[a:b] for a, b in offsets], text, offsets


def _load(model_dir: Path, tags: list[str], backbone: str):
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if (model_dir / "adapter_config.json").exists():
        from engine.backbones import resolve_backbone
        from engine.strategies import load_adapter

        hf_logging.set_verbosity_error()  # the base's fresh head is replaced by the adapter's
        base = AutoModelForTokenClassification.from_pretrained(
            resolve_backbone(backbone),
            num_labels=len(tags),
            id2label=dict(enumerate(tags)),
            label2id={t: i for i, t in enumerate(tags)},
        )
        if base.config.pad_token_id is None:
            base.config.pad_token_id = tokenizer.pad_token_id
        model = load_adapter(base, model_dir)
    else:
        model = AutoModelForTokenClassification.from_pretrained(model_dir)
    model.eval()
    return model, tokenizer
