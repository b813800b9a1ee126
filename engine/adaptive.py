"""Adaptive (continued) pre-training: adapt a general backbone to the user's domain text.

    domain text ─► load_domain_texts (a .txt, a table column, or a labelled table's training rows)
                ─► held-out slice (never trained on) ─► domain report (fragmentation, unknown
                   tokens, most fragmented words, base perplexity, a verdict in plain words)
                ─► masked-LM (encoders) or causal LM (decoders), full or LoRA, with a curriculum
                   (length / base-model loss / shuffled) and optionally growing sequence lengths
                ─► held-out perplexity measured during training: early stop and LR halving on a
                   plateau ─► runs/<id>/model/ (an adapted backbone, adapted.json)

Honest "before" numbers. The bundled encoders are sentence-embedding checkpoints shipped without
their masked-LM head. A pseudo-perplexity through a random head is meaningless (and any training
would look like a huge gain), so the head is initialised tied to the word embeddings and its new
parts (transform and bias) are fitted with the body frozen, on the domain's *training* documents,
before "before" is measured; "after" is measured by the same procedure on the adapted model.
Decoders ship their LM head: their causal-LM perplexity is meaningful as is.

Perplexity for encoders is the pseudo-perplexity of Salazar et al. (2020): every scored token is
masked in turn and its log-probability read at that position. For decoders it is the causal-LM
perplexity of each held-out document's first ``max_length`` tokens.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from engine.config import ConfigError, PretrainConfig
from engine.data import DataError
from engine.runs import Run, write_json_atomic

MIN_DOCUMENTS = 4  # at least one held out and a few to train on
MAX_EVAL_DOCUMENTS = 400  # the held-out slice never needs more documents than this
TRACKED_KIND = {"mlm": "masked-LM perplexity (fixed 15% mask)", "clm": "perplexity"}
HEAD_LR = 1e-2
# A control text that is nobody's domain: everyday English sentences written for Adaptune
# (CC0, assets/README.md). Its perplexity is measured before and after next to the domain's: a
# gain on the domain that the control shares is the model learning the objective itself, not
# the domain (see "Honest before numbers" above).
CONTROL_TEXT = Path(__file__).resolve().parents[1] / "assets" / "general_text_en.txt"
CONTROL_TOKENS = 512
# letter runs only: "don't" and "prudential-bache" count as their parts, so the punctuation a
# tokenizer always splits off does not pass for domain fragmentation
_WORD = re.compile(r"[^\W\d_]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


# ---- domain text -------------------------------------------------------------------------------


def split_documents(text: str) -> list[str]:
    """A .txt file's documents: blank-line separated paragraphs when the file is written that
    way (most blocks span several lines, a few dozen at most; lines inside a paragraph are
    joined), else one document per line (a stray blank line does not merge hundreds of lines)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    lines = [ln for ln in text.split("\n") if ln.strip()]
    sizes = [sum(1 for ln in b.split("\n") if ln.strip()) for b in blocks]
    if (
        len(blocks) >= 2
        and sum(n > 1 for n in sizes) >= 0.5 * len(blocks)
        and len(lines) <= 40 * len(blocks)
    ):
        return [" ".join(ln.strip() for ln in b.split("\n") if ln.strip()) for b in blocks]
    return [ln.strip() for ln in lines]


def load_domain_texts(config: PretrainConfig) -> tuple[list[str], dict]:
    """(documents, info) for the configuration's source; DataError with a human message."""
    from engine import data as data_mod

    path = Path(config.data or "")
    if not config.data:
        raise DataError(
            "No domain text chosen: upload a .txt file or a table with a text "
            "column, or use the texts of your labelled training set."
        )
    if not path.is_file():
        raise DataError(f"File not found: {config.data}. Check the path or upload the file again.")
    info: dict[str, Any] = {"source": path.name, "mode": config.source, "warnings": []}
    if config.source == "labelled-train":
        spec = data_mod.prepare_data(
            path, config.text_column, config.label_column, seed=config.seed
        )
        texts = [str(t) for t in spec.train["text"].tolist()]
        info.update(
            text_column=spec.text_column,
            held_out_rows=len(spec.validation) + len(spec.test),
            note="Only the training rows of the labelled table (split "
            "as a fine-tuning run with the same seed splits it); its validation and test "
            "rows are left out.",
        )
    elif path.suffix.lower() == ".txt" and not config.text_column:
        if path.stat().st_size == 0:
            raise DataError(f"{path.name} is empty; it needs some domain text.")
        raw, encoding = data_mod.read_text_file(path)  # size-checked before it is read
        texts = split_documents(raw)
        info.update(encoding=encoding, text_column="")
    else:
        df = data_mod.load_table(path, min_columns=1)
        if config.text_column:
            column = data_mod._resolve_column(df, config.text_column, path.name, "text")
        else:
            columns = [str(c) for c in df.columns]
            column = (
                data_mod._by_name(columns, data_mod.TEXT_NAMES, exclude="")
                or data_mod._guess_text(df, exclude="")
                or (columns[0] if len(columns) == 1 else "")
            )
            if not column:
                raise DataError(
                    f"Could not tell which column of {path.name} holds the text "
                    f"(columns: {', '.join(columns)}); pick the text column."
                )
        texts = [
            str(v).strip() for v in df[column].tolist() if isinstance(v, str) and str(v).strip()
        ]
        info.update(text_column=column, rows=len(df))
    texts = [re.sub(r"\s+", " ", t).strip() for t in texts]
    texts = [t for t in texts if t]
    if not texts:
        raise DataError(f"{path.name} has no text to pre-train on (every document is empty).")
    if len(texts) < MIN_DOCUMENTS:
        raise DataError(
            f"{path.name} has only {len(texts)} document(s); pre-training needs at "
            f"least {MIN_DOCUMENTS} (some are held out to measure the perplexity)."
        )
    if config.max_documents and len(texts) > config.max_documents:
        texts = random.Random(config.seed).sample(texts, config.max_documents)
        info["warnings"].append(f"Using a random sample of {config.max_documents} documents.")
    dupes = len(texts) - len(set(texts))
    if dupes:
        info["warnings"].append(
            f"{dupes} duplicate document(s); duplicates are trained on more than once."
        )
    info["documents"] = len(texts)
    info["words"] = sum(len(t.split()) for t in texts)
    return texts, info


def split_held_out(texts: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, held-out): a seeded random slice; a held-out document never appears in train
    (exact duplicates of a held-out document are removed from train too)."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    n_eval = min(MAX_EVAL_DOCUMENTS, max(1, round(fraction * len(texts))))
    held = [texts[i] for i in order[:n_eval]]
    held_set = set(held)
    train = [texts[i] for i in sorted(order[n_eval:]) if texts[i] not in held_set]
    if not train:
        raise DataError(
            "Every training document is a copy of a held-out one; add more distinct documents."
        )
    return train, held


# ---- models ------------------------------------------------------------------------------------


def resolve_objective(config: PretrainConfig) -> tuple[str, str]:
    """(objective, family); ConfigError when the objective does not fit the backbone."""
    from engine.backbones import family_of

    family = family_of(config.backbone)
    objective = config.objective
    if objective == "auto":
        objective = "clm" if family == "decoder" else "mlm"
    if objective == "mlm" and family == "decoder":
        raise ConfigError(
            f"{config.backbone} is a decoder: it cannot be trained with masked-LM; "
            "use the causal-LM objective (clm)."
        )
    if objective == "clm" and family == "encoder":
        raise ConfigError(
            f"{config.backbone} is an encoder: it cannot be trained as a causal LM; "
            "use the masked-LM objective (mlm)."
        )
    return objective, family


def load_lm(path: Path, objective: str):
    """(model, tokenizer, fresh_head): the backbone with its LM head; ``fresh_head`` lists the
    head weights the checkpoint did not have (newly initialised)."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    from engine.tasks._common import load_tokenizer

    tokenizer = load_tokenizer(path)
    auto = AutoModelForMaskedLM if objective == "mlm" else AutoModelForCausalLM
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = auto.from_pretrained(path, output_loading_info=True)
    except ValueError as e:
        raise ConfigError(
            f"This backbone has no {'masked' if objective == 'mlm' else 'causal'}"
            f"-LM form in transformers ({str(e).splitlines()[0][:160]})."
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    prefix = getattr(model, "base_model_prefix", "")
    fresh = sorted(k for k in info.get("missing_keys", []) if not k.startswith(prefix + "."))
    if fresh and objective == "mlm":
        out, inp = model.get_output_embeddings(), model.get_input_embeddings()
        if out is not None and out.weight is not inp.weight:
            model.config.tie_word_embeddings = True
            model.tie_weights()
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer, fresh


def _mlm_parts(model):
    """(body, head) of a masked-LM so that only masked positions go through the vocabulary
    projection (8x less work than full logits); (None, None) when the layout is unknown."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = getattr(base, getattr(base, "base_model_prefix", ""), None)
    head = getattr(base, "cls", None) or getattr(base, "lm_head", None)
    return (body, head) if body is not None and head is not None else (None, None)


def _masked_logits(model, batch: dict, positions):
    """Logits at ``positions`` (a boolean mask over the batch) only."""
    body, head = _mlm_parts(model)
    if body is None:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return out.logits[positions]
    hidden = body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
    return head(hidden[positions])


def pseudo_perplexity(
    model, tokenizer, texts: list[str], max_length: int, max_tokens: int, batch_size: int = 64
) -> dict:
    """Pseudo-perplexity (Salazar et al., 2020) over at most ``max_tokens`` tokens of ``texts``:
    each token masked in turn, exp of the mean negative log-probability of the true token."""
    rows: list[tuple[list[int], list[int]]] = []
    for text in texts:
        enc = tokenizer(
            text, truncation=True, max_length=max_length, return_special_tokens_mask=True
        )
        ids, special = enc["input_ids"], enc["special_tokens_mask"]
        rows += [(ids, [i]) for i, s in enumerate(special) if not s][: max_tokens - len(rows)]
        if len(rows) >= max_tokens:
            break
    return _score_masked(model, tokenizer, rows, batch_size)


def _score_masked(
    model, tokenizer, rows: list[tuple[list[int], list[int]]], batch_size: int
) -> dict:
    """exp(mean NLL) of the true tokens at the given positions, all masked at once per row."""
    import torch

    count = sum(len(chosen) for _, chosen in rows)
    if not count:
        raise DataError("The held-out domain text has no tokens to score.")
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        with torch.no_grad():
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                width = max(len(ids) for ids, _ in chunk)
                input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id)
                attention = torch.zeros((len(chunk), width), dtype=torch.long)
                positions = torch.zeros((len(chunk), width), dtype=torch.bool)
                targets = []
                for row, (ids, chosen) in enumerate(chunk):
                    input_ids[row, : len(ids)] = torch.tensor(ids)
                    attention[row, : len(ids)] = 1
                    for i in chosen:  # row-major order, as boolean indexing returns them
                        positions[row, i] = True
                        targets.append(ids[i])
                        input_ids[row, i] = tokenizer.mask_token_id
                device = next(model.parameters()).device
                batch = {"input_ids": input_ids.to(device), "attention_mask": attention.to(device)}
                logits = _masked_logits(model, batch, positions.to(device)).float()
                total += torch.nn.functional.cross_entropy(
                    logits, torch.tensor(targets, device=device), reduction="sum"
                ).item()
    finally:
        model.train(was_training)
    nll = total / count
    return {"perplexity": math.exp(nll), "tokens": count, "nll": nll}


def causal_perplexity(
    model, tokenizer, texts: list[str], max_length: int, max_tokens: int, batch_size: int = 8
) -> dict:
    """Causal-LM perplexity of the first ``max_length`` tokens of each text (at most
    ``max_tokens`` predicted tokens in all)."""
    import torch

    seqs, count = [], 0
    for text in texts:
        ids = tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
        if len(ids) < 2:
            continue
        room = max_tokens - count
        ids = ids[: room + 1]
        seqs.append(ids)
        count += len(ids) - 1
        if count >= max_tokens:
            break
    if not seqs:
        raise DataError("The held-out domain text has no tokens to score.")
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(seqs), batch_size):
                chunk = seqs[start : start + batch_size]
                width = max(len(s) for s in chunk)
                ids = torch.full((len(chunk), width), tokenizer.pad_token_id)
                attention = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, s in enumerate(chunk):
                    ids[row, : len(s)] = torch.tensor(s)
                    attention[row, : len(s)] = 1
                device = next(model.parameters()).device
                logits = model(
                    input_ids=ids.to(device), attention_mask=attention.to(device)
                ).logits.float()
                shift = logits[:, :-1]
                target = ids[:, 1:].to(device)
                keep = attention[:, 1:].bool().to(device)
                total += torch.nn.functional.cross_entropy(
                    shift[keep], target[keep], reduction="sum"
                ).item()
                n += int(keep.sum())
    finally:
        model.train(was_training)
    nll = total / max(n, 1)
    return {"perplexity": math.exp(nll), "tokens": n, "nll": nll}


def masked_perplexity(
    model,
    tokenizer,
    texts: list[str],
    max_length: int,
    max_tokens: int,
    mask_probability: float = 0.15,
    seed: int = 0,
    batch_size: int = 32,
) -> dict:
    """Masked-LM perplexity with one fixed, seeded mask: ``mask_probability`` of each held-out
    document's tokens masked at once, exp of the mean loss on them. ~7x cheaper than the
    pseudo-perplexity (one pass per document, not per token), so it is what training tracks
    for early stopping and the plateau; the same mask every time makes the curve comparable."""
    rng = random.Random(seed)
    rows: list[tuple[list[int], list[int]]] = []
    count = 0
    for text in texts:
        enc = tokenizer(
            text, truncation=True, max_length=max_length, return_special_tokens_mask=True
        )
        ids, special = enc["input_ids"], enc["special_tokens_mask"]
        candidates = [i for i, s in enumerate(special) if not s]
        if not candidates:
            continue
        k = max(1, round(mask_probability * len(candidates)))
        chosen = sorted(rng.sample(candidates, min(k, len(candidates))))[: max_tokens - count]
        rows.append((ids, chosen))
        count += len(chosen)
        if count >= max_tokens:
            break
    return _score_masked(model, tokenizer, rows, batch_size)


def measure(
    model,
    tokenizer,
    texts: list[str],
    objective: str,
    max_length: int,
    max_tokens: int,
    tracking: bool = False,
) -> dict:
    """The held-out perplexity: pseudo-perplexity (encoders) or causal-LM perplexity (decoders);
    ``tracking``: the cheaper fixed-mask masked-LM perplexity for encoders (training curve)."""
    if objective == "clm":
        return causal_perplexity(model, tokenizer, texts, max_length, max_tokens)
    if tracking:
        return masked_perplexity(model, tokenizer, texts, max_length, max_tokens)
    return pseudo_perplexity(model, tokenizer, texts, max_length, max_tokens)


# ---- masked-LM head warm-up --------------------------------------------------------------------


def mlm_collator(tokenizer, config: PretrainConfig, seed: int | None = None):
    from transformers import DataCollatorForLanguageModeling

    extra = (
        {"mask_replace_prob": 1.0, "random_replace_prob": 0.0} if config.whole_word_mask else {}
    )  # whole-word masking always uses [MASK] (transformers would warn and do so)
    return DataCollatorForLanguageModeling(
        tokenizer,
        mlm=True,
        mlm_probability=config.mask_probability,
        whole_word_mask=config.whole_word_mask,
        seed=seed,
        **extra,
    )


def _unigram_bias(model, features: list[dict]) -> None:
    """Start the new output bias at the log unigram frequencies of the training tokens (add-one
    smoothed): the head then starts from the best context-free guess, not from uniform."""
    import torch

    bias = getattr(model.get_output_embeddings(), "bias", None)
    if bias is None:
        return
    size = bias.shape[0]
    counts = torch.ones(size)
    for f in features:
        ids = torch.tensor([i for i in f["input_ids"] if i < size])
        counts += torch.bincount(ids, minlength=size).float()
    with torch.no_grad():
        bias.copy_(torch.log(counts / counts.sum()))


def fit_mlm_head(
    model,
    tokenizer,
    features: list[dict],
    collator,
    steps: int,
    batch_size: int,
    seed: int,
    stop: threading.Event | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> dict:
    """Fit the new parts of a masked-LM head (transform, bias) with the body and the tied word
    embeddings frozen. Returns {"steps", "loss_start", "loss_end", "seconds"}."""
    import torch

    out_weight = model.get_output_embeddings().weight
    _unigram_bias(model, features)
    head_params = []
    for name, p in model.named_parameters():
        is_head = not name.startswith(model.base_model_prefix + ".") and p is not out_weight
        p.requires_grad = is_head
        if is_head:
            head_params.append(p)
    optimizer = torch.optim.AdamW(head_params, lr=HEAD_LR, weight_decay=0.0)
    rng = random.Random(seed)
    losses: list[float] = []
    t0 = time.time()
    model.eval()  # the frozen body without dropout: steady features for the head
    for step in range(steps):
        if stop is not None and stop.is_set():
            break
        batch = collator([features[rng.randrange(len(features))] for _ in range(batch_size)])
        labels = batch.pop("labels")
        positions = labels != -100
        if not positions.any():
            continue
        logits = _masked_logits(model, batch, positions)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels[positions])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if progress and (step + 1) % 10 == 0:
            progress(step + 1, sum(losses[-10:]) / len(losses[-10:]))
    for p in model.parameters():
        p.requires_grad = True
    model.train()
    k = max(1, min(10, len(losses) // 4))
    return {
        "steps": len(losses),
        "seconds": round(time.time() - t0, 2),
        "loss_start": round(sum(losses[:k]) / k, 4) if losses else None,
        "loss_end": round(sum(losses[-k:]) / k, 4) if losses else None,
    }


# ---- training examples -------------------------------------------------------------------------


def mlm_features(tokenizer, texts: list[str], max_length: int, with_offsets: bool) -> list[dict]:
    """Each document cut into windows of ``max_length`` tokens (special tokens added to each),
    so long documents are trained on whole instead of truncated."""
    features = []
    for start in range(0, len(texts), 256):
        enc = tokenizer(
            texts[start : start + 256],
            truncation=True,
            max_length=max_length,
            return_overflowing_tokens=True,
            return_special_tokens_mask=True,
            return_offsets_mapping=with_offsets,
        )
        for i, ids in enumerate(enc["input_ids"]):
            feat = {
                "input_ids": ids,
                "attention_mask": [1] * len(ids),
                "special_tokens_mask": enc["special_tokens_mask"][i],
                "doc": start + enc["overflow_to_sample_mapping"][i],
            }
            if with_offsets:
                feat["offset_mapping"] = [tuple(o) for o in enc["offset_mapping"][i]]
            features.append(feat)
    return features


def clm_features(tokenizer, texts: list[str], max_length: int, packing: bool) -> list[dict]:
    """Causal-LM windows: with packing, the documents (each ended by EOS) concatenated in order
    and cut into full ``max_length`` windows; without, each document cut on its own."""
    eos = tokenizer.eos_token_id
    features: list[dict] = []
    if packing:
        stream: list[int] = []
        docs: list[int] = []
        for doc, text in enumerate(texts):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"] + (
                [eos] if eos is not None else []
            )
            stream += ids
            docs += [doc] * len(ids)
        for start in range(0, len(stream), max_length):
            piece = stream[start : start + max_length]
            if len(piece) < 2:
                continue
            features.append(
                {"input_ids": piece, "attention_mask": [1] * len(piece), "doc": docs[start]}
            )
        return features
    for doc, text in enumerate(texts):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids), max_length):
            piece = ids[start : start + max_length]
            if len(piece) >= 2:
                features.append(
                    {"input_ids": piece, "attention_mask": [1] * len(piece), "doc": doc}
                )
    return features


class LengthSchedule:
    """Sequence length that grows from a quarter of ``max_length`` to all of it over the first
    half of training (``progress`` is set by a TrainerCallback each step)."""

    def __init__(self, max_length: int, enabled: bool):
        self.max_length, self.enabled, self.progress = max_length, enabled, 0.0

    @property
    def length(self) -> int:
        if not self.enabled:
            return self.max_length
        share = 0.25 + 0.75 * min(1.0, self.progress / 0.5)
        return max(16, int(self.max_length * share))


class Collator:
    """Wraps the MLM / CLM collator: drops the bookkeeping keys and cuts every example to the
    schedule's current length."""

    def __init__(self, inner, schedule: LengthSchedule):
        self.inner, self.schedule = inner, schedule

    def __call__(self, examples: list[dict]) -> dict:
        n = self.schedule.length
        cut = [
            {
                k: (v[:n] if isinstance(v, list) else v)
                for k, v in ex.items()
                if k not in ("doc", "length")
            }
            for ex in examples
        ]
        if cut and "offset_mapping" in cut[0]:  # the tokenizer's pad() does not pad offsets
            width = max(len(ex["input_ids"]) for ex in cut)
            for ex in cut:
                ex["offset_mapping"] = list(ex["offset_mapping"]) + [(0, 0)] * (
                    width - len(ex["offset_mapping"])
                )
        return self.inner(cut)


def curriculum_order(
    config: PretrainConfig,
    features: list[dict],
    doc_loss: Callable[[list[dict]], list[float]] | None = None,
) -> list[int]:
    """Indices of ``features`` in curriculum order: 'length' shortest first, 'loss' lowest
    base-model loss first (easy to hard), 'none' as given (the Trainer shuffles)."""
    if config.curriculum == "length":
        return sorted(range(len(features)), key=lambda i: (len(features[i]["input_ids"]), i))
    if config.curriculum == "loss":
        losses = doc_loss(features) if doc_loss else [0.0] * len(features)
        return sorted(range(len(features)), key=lambda i: (losses[i], i))
    return list(range(len(features)))


def example_losses(
    model,
    tokenizer,
    features: list[dict],
    objective: str,
    config: PretrainConfig,
    batch_size: int = 32,
) -> list[float]:
    """The base model's loss on each training window (masked-LM with a fixed seeded mask)."""
    import torch

    collate = Collator(
        mlm_collator(tokenizer, config, seed=config.seed)
        if objective == "mlm"
        else clm_collator(tokenizer),
        LengthSchedule(config.max_length, False),
    )
    out: list[float] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(features), batch_size):
                batch = collate(features[start : start + batch_size])
                labels = batch.pop("labels")
                logits = model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).logits.float()
                if objective == "clm":
                    logits, labels = logits[:, :-1], labels[:, 1:]
                per_tok = torch.nn.functional.cross_entropy(
                    logits.transpose(1, 2), labels, reduction="none", ignore_index=-100
                )
                keep = (labels != -100).float()
                out += (per_tok.sum(1) / keep.sum(1).clamp(min=1)).tolist()
    finally:
        model.train(was_training)
    return out


def clm_collator(tokenizer):
    from transformers import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(tokenizer, mlm=False)


# ---- domain report -----------------------------------------------------------------------------


def words_of(text: str) -> list[str]:
    """Words for the fragmentation statistics: letter runs; each CJK character is one word."""
    out = []
    for w in _WORD.findall(text):
        if _CJK.search(w):
            out += [ch for ch in w if not ch.isspace()]
        else:
            out.append(w)
    return out


def vocabulary_stats(tokenizer, texts: list[str], max_documents: int = 3000, top: int = 12) -> dict:
    """Sub-words per word, unknown-token rate and the most fragmented frequent words."""
    sample = texts[:max_documents]
    counts = Counter(w for t in sample for w in words_of(t))
    pieces: dict[str, list[str]] = {}
    for word in counts:
        ids = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        toks = tokenizer.convert_ids_to_tokens(ids)
        while (
            toks and tokenizer.convert_tokens_to_string([toks[0]]).strip() == "" and len(toks) > 1
        ):
            toks = toks[1:]  # a lone leading-space piece (sentencepiece "▁", byte-level "Ġ")
        pieces[word] = toks
    n_words = sum(counts.values())
    frag = sum(len(pieces[w]) * c for w, c in counts.items()) / max(n_words, 1)
    unk_id = tokenizer.unk_token_id
    total = unk = 0
    for t in sample:
        ids = tokenizer(t, add_special_tokens=False)["input_ids"]
        total += len(ids)
        if unk_id is not None:
            unk += sum(1 for i in ids if i == unk_id)
    cjk = sum(c for w, c in counts.items() if _CJK.match(w))
    frequent = [w for w, c in counts.most_common() if c >= 3] or list(counts)
    worst = sorted(frequent, key=lambda w: (-len(pieces[w]), -counts[w], w))[:top]
    return {
        "documents_sampled": len(sample),
        "words": n_words,
        "distinct_words": len(counts),
        "tokens": total,
        "subwords_per_word": round(frag, 3),
        "unknown_token_rate": round(unk / max(total, 1), 5),
        "unknown_tokens": unk,
        "byte_level": unk_id is None or _byte_level(tokenizer),
        "mostly_cjk": cjk >= 0.3 * max(n_words, 1),
        "most_fragmented": [{"word": w, "count": counts[w], "pieces": pieces[w]} for w in worst],
    }


def _byte_level(tokenizer) -> bool:
    """Byte-level BPE tokenizers (GPT-2, Llama 3, SmolLM2) never produce an unknown token."""
    try:
        return "Ġ" in tokenizer.convert_ids_to_tokens(tokenizer(" a")["input_ids"])[0]
    except Exception:  # noqa: BLE001 - a tokenizer we cannot probe: assume not
        return False


# Thresholds for the verdict. Sub-words per word: ~1.1-1.3 for general English news/reviews on
# the bundled tokenizers (measured); perplexity bands per objective from the bundled backbones on
# reviews (close), newswire (moderate) and tweets / scripture (far) — see bench/README.md.
VERDICT_BANDS = {"mlm": (12.0, 40.0), "clm": (25.0, 80.0)}


def control_texts() -> list[str]:
    try:
        return split_documents(CONTROL_TEXT.read_text(encoding="utf-8"))
    except OSError:
        return []


def verdict(
    stats: dict, perplexity: float | None, objective: str, control: float | None = None
) -> dict:
    """A plain-words judgement of how far the domain is from the backbone: tokenizer fit, and
    the domain's perplexity against the same model's on everyday English (``control``; used
    only for a mostly non-CJK domain) or, without a control, fixed bands per objective."""
    frag, unk = stats["subwords_per_word"], stats["unknown_token_rate"]
    low, high = VERDICT_BANDS[objective]
    signals = 0
    reasons = []
    kind = "pseudo-perplexity" if objective == "mlm" else "perplexity"
    if perplexity is not None and control and not stats.get("mostly_cjk"):
        ratio = perplexity / control
        if ratio >= 2.0:
            signals += 2
            reasons.append(
                f"a {kind} of {perplexity:.1f}, {ratio:.1f}x the model's "
                f"{control:.1f} on everyday English"
            )
        elif ratio >= 1.25:
            signals += 1
            reasons.append(
                f"a {kind} of {perplexity:.1f}, {ratio:.1f}x the model's "
                f"{control:.1f} on everyday English"
            )
        perplexity = None  # judged relative to the control, not by the fixed bands
    if frag >= 1.6:
        signals += 2
        reasons.append(f"{frag:.2f} sub-words per word (general text: about 1.1-1.3)")
    elif frag >= 1.35:
        signals += 1
        reasons.append(f"{frag:.2f} sub-words per word, more than general text (about 1.1-1.3)")
    if unk >= 0.01:
        signals += 2
        reasons.append(f"{unk:.1%} of tokens are unknown to the tokenizer")
    elif unk >= 0.001:
        signals += 1
        reasons.append(f"{unk:.2%} of tokens are unknown to the tokenizer")
    if perplexity is not None:
        if perplexity >= high:
            signals += 2
            reasons.append(f"a high {kind} of {perplexity:.1f}")
        elif perplexity >= low:
            signals += 1
            reasons.append(f"a {kind} of {perplexity:.1f}")
    if signals >= 3:
        level, text = "far", "Far from what the backbone was trained on"
        advice = "Continued pre-training on this text is likely to help."
    elif signals >= 1:
        level, text = "moderate", "Somewhat different from what the backbone was trained on"
        advice = "Continued pre-training may help, mostly for the domain's own words."
    else:
        level, text = "close", "Close to what the backbone was trained on"
        advice = "Continued pre-training is unlikely to change much; fine-tune directly."
    detail = (
        "; ".join(reasons)
        if reasons
        else (
            f"{frag:.2f} sub-words per word, few unknown tokens"
            + (f", a {kind} of {perplexity:.1f}" if perplexity is not None else "")
            + (f", near its {control:.1f} on everyday English" if control else "")
        )
    )
    return {"level": level, "text": f"{text}: {detail}. {advice}"}


# ---- the run -----------------------------------------------------------------------------------


def preflight(config: PretrainConfig) -> tuple[list[str], dict, str, str]:
    """Check data, backbone and objective before a run folder is made; returns
    (documents, info, objective, family). Raises DataError / BackboneError / ConfigError."""
    from engine.backbones import resolve_backbone

    config.validate()
    texts, info = load_domain_texts(config)
    resolve_backbone(config.backbone)
    objective, family = resolve_objective(config)
    return texts, info, objective, family


class _Prepared:
    """Everything a report or a run needs: texts, split, model with a usable LM head."""

    def __init__(self, **values):
        self.__dict__.update(values)


def prepare(
    config: PretrainConfig,
    stop: threading.Event | None = None,
    say: Callable[[str], None] | None = None,
) -> _Prepared:
    from transformers import set_seed

    from engine.backbones import resolve_backbone

    say = say or (lambda text: None)
    texts, info, objective, family = preflight(config)
    train_texts, held = split_held_out(texts, config.eval_fraction, config.seed)
    set_seed(config.seed)
    path = resolve_backbone(config.backbone)
    model, tokenizer, fresh = load_lm(path, objective)
    if objective == "mlm" and tokenizer.mask_token_id is None:
        raise ConfigError(
            f"{config.backbone}'s tokenizer has no mask token: it cannot be trained with masked-LM."
        )
    features = (
        mlm_features(tokenizer, train_texts, config.max_length, config.whole_word_mask)
        if objective == "mlm"
        else clm_features(tokenizer, train_texts, config.max_length, config.packing)
    )
    head: dict[str, Any] = {"fresh_weights": fresh}
    if fresh and objective == "mlm":
        if config.head_warmup_steps:
            say(
                f"The checkpoint has no masked-LM head: fitting a new one (tied to the word "
                f"embeddings) for {config.head_warmup_steps} steps with the body frozen."
            )
            head.update(
                fit_mlm_head(
                    model,
                    tokenizer,
                    features,
                    Collator(
                        mlm_collator(tokenizer, config, seed=config.seed),
                        LengthSchedule(config.max_length, False),
                    ),
                    config.head_warmup_steps,
                    config.batch_size,
                    config.seed,
                    stop,
                )
            )
            head["text"] = (
                f"The checkpoint ships without a masked-LM head. A head tied to the "
                f"word embeddings was fitted for {head['steps']} steps on the "
                "training documents with the body frozen (masked-LM loss "
                f"{head['loss_start']} -> {head['loss_end']}); the held-out slice "
                "was not used. 'Before' and 'after' are both measured through it."
            )
        else:
            head["text"] = (
                "The checkpoint ships without a masked-LM head and no head warm-up "
                "was asked for: the 'before' perplexity goes through a random head "
                "and means little."
            )
    elif objective == "clm":
        head["text"] = "Causal-LM perplexity through the model's own LM head."
    else:
        head["text"] = "Pseudo-perplexity through the checkpoint's own masked-LM head."
    return _Prepared(
        texts=texts,
        info=info,
        objective=objective,
        family=family,
        path=path,
        model=model,
        tokenizer=tokenizer,
        train_texts=train_texts,
        held=held,
        features=features,
        head=head,
    )


def domain_report(
    config: PretrainConfig,
    prepared: _Prepared | None = None,
    stop: threading.Event | None = None,
    say: Callable[[str], None] | None = None,
) -> dict:
    """The report shown before training: vocabulary statistics, the base perplexity on the
    held-out slice, and the verdict."""
    p = prepared or prepare(config, stop, say)
    stats = vocabulary_stats(p.tokenizer, p.train_texts + p.held)
    t0 = time.time()
    ppl = measure(p.model, p.tokenizer, p.held, p.objective, config.max_length, config.eval_tokens)
    control = measure_control(p.model, p.tokenizer, p.objective, config)
    kind = "pseudo-perplexity" if p.objective == "mlm" else "perplexity"
    # a head fitted on this domain's text favours it: neither its perplexity bands nor the
    # comparison with the control say how far the domain is; the tokenizer statistics do
    fitted = bool(p.head.get("fresh_weights")) and p.objective == "mlm"
    return {
        "backbone": config.backbone,
        "objective": p.objective,
        "family": p.family,
        "data": p.info,
        "documents": {"train": len(p.train_texts), "held_out": len(p.held)},
        "training_windows": len(p.features),
        "vocabulary": stats,
        "perplexity": round(ppl["perplexity"], 3),
        "perplexity_kind": kind,
        "perplexity_tokens": ppl["tokens"],
        "perplexity_seconds": round(time.time() - t0, 2),
        "control_perplexity": control,
        "control_text": CONTROL_TEXT.name,
        "head": p.head,
        "verdict": _fitted_note(
            verdict(
                stats,
                None if fitted else ppl["perplexity"],
                p.objective,
                None if fitted else control,
            ),
            fitted,
        ),
    }


def _fitted_note(v: dict, fitted: bool) -> dict:
    if fitted:
        v["text"] += (
            " (Judged from the tokenizer only: the masked-LM head was fitted on this "
            "text, so its perplexity is not compared with other text.)"
        )
    return v


def measure_control(model, tokenizer, objective: str, config: PretrainConfig) -> float | None:
    texts = control_texts()
    if not texts:
        return None
    m = measure(
        model,
        tokenizer,
        texts,
        objective,
        config.max_length,
        min(config.eval_tokens, CONTROL_TOKENS),
    )
    return round(m["perplexity"], 3)


def _apply_lora(model, config: PretrainConfig):
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.05,
        target_modules="all-linear",
    )
    return get_peft_model(model, cfg)


def pretrain_run(
    config: PretrainConfig,
    run: Run,
    stop_event: threading.Event | None = None,
    resume_from=None,
    callbacks=(),
) -> dict:
    """Run continued pre-training through the one fit; returns the metrics written to
    metrics.json. ``resume_from``: a checkpoint of this run to continue from."""
    import torch
    from torch.utils.data import SequentialSampler
    from transformers import TrainerCallback

    from engine.regularization import AdaptuneTrainer
    from engine.training import loop

    stop_event = stop_event or threading.Event()
    loop.quiet_libraries()
    run.set_status("running")
    started = time.time()

    def say(text: str, **extra):
        run.append_event("message", text=text, **extra)

    say("Reading the domain text and loading the backbone.")
    p = prepare(config, stop_event, say)
    write_json_atomic(
        run.path / "data.json",
        {**p.info, "documents_train": len(p.train_texts), "documents_held_out": len(p.held)},
    )
    for w in p.info.get("warnings", []):
        say(f"Data warning: {w}", level="warning")
    report = domain_report(config, p)
    write_json_atomic(run.path / "report.json", report)
    before = report["perplexity"]
    say(f"Domain report: {report['verdict']['text']}", report=True)

    model, tokenizer, objective = p.model, p.tokenizer, p.objective
    features = p.features
    if config.curriculum != "none":
        losses = None
        if config.curriculum == "loss":
            say("Curriculum: scoring every training window with the base model (easy to hard).")
            losses = example_losses(model, tokenizer, features, objective, config)
        order = curriculum_order(config, features, (lambda f: losses) if losses else None)
        features = [features[i] for i in order]
    if config.strategy == "lora":
        model = _apply_lora(model, config)
    schedule = LengthSchedule(config.max_length, config.grow_length)
    inner = mlm_collator(tokenizer, config) if objective == "mlm" else clm_collator(tokenizer)
    held = p.held

    class GrowCallback(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            schedule.progress = state.global_step / max(state.max_steps, 1)

    class PretrainTrainer(AdaptuneTrainer):
        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
            t0 = time.time()
            m = measure(
                self.model,
                tokenizer,
                held,
                objective,
                config.max_length,
                config.eval_tokens,
                tracking=True,
            )
            metrics = {
                f"{metric_key_prefix}_perplexity": round(m["perplexity"], 4),
                f"{metric_key_prefix}_loss": round(m["nll"], 5),
                f"{metric_key_prefix}_runtime": round(time.time() - t0, 3),
            }
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(
                self.args, self.state, self.control, metrics
            )
            return metrics

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if objective != "mlm" or return_outputs or _mlm_parts(model)[0] is None:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            labels = inputs["labels"]
            positions = labels != -100
            logits = _masked_logits(model, inputs, positions)
            return torch.nn.functional.cross_entropy(logits.float(), labels[positions])

        def _get_train_sampler(self, train_dataset=None):
            if config.curriculum != "none":
                return SequentialSampler(train_dataset or self.train_dataset)
            return super()._get_train_sampler(train_dataset)

    plateau = config.plateau_lr
    track = {}

    def step_zero(trainer):
        """The tracked perplexity before any step: the curve's first point."""
        track["before"] = (
            measure(
                model,
                tokenizer,
                held,
                objective,
                config.max_length,
                config.eval_tokens,
                tracking=True,
            )["perplexity"]
            if objective == "mlm"
            else before
        )
        run.append_event(
            "eval",
            step=0,
            epoch=0.0,
            eval_perplexity=round(track["before"], 4),
            eval_loss=round(math.log(track["before"]), 5),
        )

    result = loop.fit(
        config,
        run,
        stop_event,
        model=model,
        tokenizer=tokenizer,
        family=p.family,
        train_ds=_ListDataset(features),
        val_ds=_ListDataset(features[:1]),
        task="pretrain",
        metric="perplexity",
        strategy=False,
        trainer_class=PretrainTrainer,
        data_collator=Collator(inner, schedule),
        callbacks=[GrowCallback(), *callbacks],
        evaluations=config.evaluations,
        before=step_zero,
        resume_from=resume_from,
        args_overrides=dict(
            lr_scheduler_type="reduce_lr_on_plateau" if plateau else "linear",
            lr_scheduler_kwargs={"factor": 0.5, "patience": 0} if plateau else {},
            remove_unused_columns=False,
            train_sampling_strategy="random",
            **({"warmup_steps": 0} if plateau else {}),
        ),
        start_info={
            "objective": objective,
            "kind": "pretrain",
            "curriculum": config.curriculum,
            "validation_rows": len(held),
        },
    )
    trainer = result.trainer
    model = trainer.model
    after_m = measure(model, tokenizer, held, objective, config.max_length, config.eval_tokens)
    after = round(after_m["perplexity"], 3)
    control_before = report.get("control_perplexity")
    control_after = measure_control(model, tokenizer, objective, config)
    if config.strategy == "lora":
        model = model.merge_and_unload()
    if run.writer:
        _save_adapted(model, tokenizer, run, config, p, before, after)
    metrics = loop.base_metrics(config, stop_event, result, "pretrain", started)
    for key in ("best_checkpoint_metric", "task"):
        metrics.pop(key)
    metrics.update(
        {
            "kind": "pretrain",
            "objective": objective,
            "perplexity_kind": report["perplexity_kind"],
            "perplexity_before": before,
            "perplexity_after": after,
            "perplexity_drop_pct": round(100 * (before - after) / before, 2),
            "control_perplexity_before": control_before,
            "control_perplexity_after": control_after,
            "control_drop_pct": (
                round(100 * (control_before - control_after) / control_before, 2)
                if control_before and control_after
                else None
            ),
            "summary": result_summary(
                report["perplexity_kind"], before, after, control_before, control_after
            ),
            "gain_shared_with_control": gain_shared(before, after, control_before, control_after),
            "worse_than_before": after >= before,
            "verdict": report["verdict"],
            "head": p.head,
            "tracked_perplexity": {
                "kind": TRACKED_KIND[objective],
                "before": round(track["before"], 3),
                "best": trainer.state.best_metric,
            },
            "best_step": _best_step(trainer),
            "train_windows": len(features),
            "held_out_documents": len(held),
            "adapted_backbone": f"run:{run.path.resolve()}",
        }
    )
    if metrics["worse_than_before"]:
        say(
            f"The adapted backbone scores worse than the base on the held-out text ({before:.1f} "
            f"-> {after:.1f}): too few steps or too high a learning rate; fine-tune from the "
            "base backbone instead, or pre-train longer.",
            level="warning",
        )
    del trainer
    return loop.finish(
        run, metrics, result.dev["device"], perplexity_before=before, perplexity_after=after
    )


def gain_shared(
    before: float, after: float, control_before: float | None, control_after: float | None
) -> bool:
    """True when the control text gained at least half as much as the domain: the model is
    learning the objective itself, not only the domain."""
    if not (control_before and control_after) or before <= after:
        return False
    drop = (before - after) / before
    cdrop = (control_before - control_after) / control_before
    return cdrop > 0 and cdrop >= 0.5 * drop


def result_summary(
    kind: str,
    before: float,
    after: float,
    control_before: float | None,
    control_after: float | None,
) -> str:
    """One honest paragraph: the domain gain, and how much of it the everyday-English control
    shares (the model getting better at the objective itself rather than at the domain)."""
    drop = 100 * (before - after) / before
    text = f"Held-out domain {kind}: {before:.1f} -> {after:.1f} ({-drop:+.0f}%)."
    if control_before and control_after:
        cdrop = 100 * (control_before - control_after) / control_before
        text += (
            f" Everyday-English control: {control_before:.1f} -> {control_after:.1f} "
            f"({-cdrop:+.0f}%)."
        )
        if gain_shared(before, after, control_before, control_after):
            text += (
                " Much of the gain is shared by the control: the model is also learning "
                "the objective itself (its checkpoint was not trained with this head), not "
                "only the domain."
            )
        elif drop > 0:
            text += " The gain is specific to the domain."
    return text


def _best_step(trainer) -> int | None:
    ckpt = trainer.state.best_model_checkpoint
    if not ckpt:
        return None
    try:
        return int(str(ckpt).rsplit("-", 1)[-1])
    except ValueError:
        return None


class _ListDataset:
    """A list of feature dicts as a map-style dataset (the Trainer only needs len/getitem)."""

    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def _save_adapted(
    model, tokenizer, run: Run, config: PretrainConfig, p: _Prepared, before: float, after: float
) -> None:
    """model/: the adapted backbone with its LM head (loads with AutoModel*.from_pretrained for
    any task) + tokenizer + adapted.json. An encoder's pooler (which the masked-LM class does
    not hold) is copied from the base checkpoint so classification starts from it, as it would
    from the base."""
    from engine.backbones import backbone_info

    target = run.model_dir
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    pooler = _copy_pooler(p.path, target, getattr(model, "base_model_prefix", ""))
    params = sum(t.numel() for t in model.parameters())
    info = backbone_info(config.backbone)
    write_json_atomic(
        target / "adapted.json",
        {
            "base_backbone": config.backbone,
            "base_description": info.description,
            "family": p.family,
            "objective": p.objective,
            "strategy": config.strategy,
            "perplexity_before": before,
            "perplexity_after": after,
            "perplexity_kind": "pseudo-perplexity" if p.objective == "mlm" else "perplexity",
            "documents": len(p.texts),
            "data": Path(config.data).name,
            "run_name": config.run_name,
            "params_m": round(params / 1e6, 1),
            "pooler_copied": pooler,
            "created": time.time(),
        },
    )


def _copy_pooler(base: Path, target: Path, prefix: str) -> bool:
    from safetensors.torch import load_file, save_file

    src, dst = base / "model.safetensors", target / "model.safetensors"
    if not (src.exists() and dst.exists() and prefix):
        return False
    base_sd = load_file(str(src))
    pooler = {k: v for k, v in base_sd.items() if "pooler." in k}
    if not pooler:
        return False
    sd = load_file(str(dst))
    for k, v in pooler.items():
        sd[f"{prefix}.{k[k.index('pooler.') :]}"] = v.contiguous()
    save_file(sd, str(dst), metadata={"format": "pt"})
    return True


def adapted_runs(root) -> list[tuple[str, str]]:
    """(label, value) picker entries for every finished pre-training run under ``root`` (a
    runs folder, or a store view: the runs its user may see); the value is
    ``run:<absolute folder>`` (what --backbone takes)."""
    from engine.runs import read_json, runs_of

    out = []
    for run in runs_of(root):
        meta = read_json(run.model_dir / "adapted.json")
        if not meta:
            continue
        name = meta.get("run_name") or run.id
        before, after = meta.get("perplexity_before"), meta.get("perplexity_after")
        shown = (
            f", perplexity {before:.1f} -> {after:.1f}"
            if isinstance(before, (int, float)) and isinstance(after, (int, float))
            else ""
        )
        label = f"{name} (adapted {meta.get('base_backbone')}{shown})"
        out.append((label, f"run:{run.path.resolve()}"))
    return out
