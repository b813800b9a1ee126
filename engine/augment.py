"""Training-data augmentation for small data sets: token edits and paraphrases.

Methods (RunConfig.augment):
  tokens      EDA-style edits of the words of a text (Wei & Zou 2019): random swap, random
              deletion, random insertion of a word from the same text; one operation per new
              row, about ``rate`` (0.1) of the words touched, at least one. Instant.
  paraphrase  the bundled SmolLM2-135M-Instruct rewrites the text ("Rewrite this sentence with
              different words, keeping its meaning"), batched; the first copy is greedy, further
              copies are sampled. Empty, unchanged, truncated, runaway or echoing outputs are
              rejected. A 135M model is fast but not always faithful: look at ``preview`` first.
  both        both of the above (``per_example`` rows of each).

Everything is deterministic for a given seed. Token edits are also per text (the new rows of a
text do not depend on the other rows), so ``preview(texts)`` shows exactly what ``augment_frame``
will add for them; the greedy paraphrase of a text is the same in any batch (up to float noise
from the batch's padding), the sampled copies depend on the batch. Only the training split is
ever augmented (engine/training.py does that).
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from typing import Callable

import pandas as pd

METHODS = ("none", "tokens", "paraphrase", "both")
COLUMNS = ["text", "label", "source_text", "method"]
TOKEN_RATE = 0.1
# Measured on a 2-core CPU with batches of 16 (greedy, fp32): ~40 new tokens/s over the whole
# batch; one sequence alone runs at ~15 tokens/s. Used only for the "this will take" estimate.
PARAPHRASE_TOKENS_PER_SECOND = 15.0
PARAPHRASE_MAX_SOURCE_TOKENS = 160  # longer texts are not paraphrased (slow and unfaithful)
PARAPHRASE_BATCH_SIZE = 16
SAMPLING_TEMPERATURE = 0.5  # copies after the first (greedy) one; 0.7+ flips meanings
LARGE_TRAIN_ROWS = 2000

SYSTEM_PROMPT = (
    "You paraphrase text. Use different words and a different sentence structure, "
    "keep the meaning and the tone. Reply with the rewritten text only."
)
USER_PROMPT = "Rewrite this sentence with different words, keeping its meaning: {text}"
# One worked example makes the 135M model answer with a rewrite instead of a comment.
SHOT = (
    "The hotel room was small but very clean.",
    "Although the room at the hotel was tiny, it was spotless.",
)
_SHOT_WORDS = {"hotel", "spotless", "tiny", "although"}

Progress = Callable[[int, int], None]


# ---- helpers ---------------------------------------------------------------------------------
def _rng(seed: int, text: str, copy: int, method: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x1f{method}\x1f{copy}\x1f{text}".encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def _norm(text: str) -> str:
    return re.sub(r"[^\w]+", " ", str(text).lower()).strip()


# ---- token edits (EDA) -----------------------------------------------------------------------
def _swap(words: list[str], n: int, rng: random.Random) -> list[str]:
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(n):
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
    return out


def _delete(words: list[str], rate: float, rng: random.Random) -> list[str]:
    if len(words) < 2:
        return list(words)
    out = [w for w in words if rng.random() > rate]
    if len(out) == len(words):  # nothing deleted: delete one word
        k = rng.randrange(len(words))
        out = words[:k] + words[k + 1 :]
    return out or [rng.choice(words)]


def _insert(words: list[str], n: int, rng: random.Random) -> list[str]:
    out = list(words)
    for _ in range(n):
        out.insert(rng.randrange(len(out) + 1), rng.choice(words))
    return out


def token_edit(text: str, seed: int = 0, copy: int = 0, rate: float = TOKEN_RATE) -> str | None:
    """One EDA-style variant of ``text`` (swap / delete / insert), or None when no different,
    non-empty variant exists (e.g. a one-word text)."""
    words = str(text).split()
    if not words:
        return None
    rng = _rng(seed, text, copy, "tokens")
    n = max(1, round(rate * len(words)))
    ops = ["swap", "delete", "insert"] if len(words) >= 2 else ["insert"]
    for _attempt in range(6):
        op = rng.choice(ops)
        if op == "swap":
            new = _swap(words, n, rng)
        elif op == "delete":
            new = _delete(words, rate, rng)
        else:
            new = _insert(words, n, rng)
        out = " ".join(new).strip()
        if out and out != " ".join(words):
            return out
    return None


def _token_rows(items: list[tuple[str, str]], per_example: int, seed: int) -> list[dict]:
    rows = []
    for text, label in items:
        seen, made = {" ".join(str(text).split())}, 0
        for copy in range(per_example * 3):  # a few spare tries for duplicates
            if made >= per_example:
                break
            new = token_edit(text, seed, copy)
            if new is None:
                break
            if new in seen:
                continue
            seen.add(new)
            made += 1
            rows.append({"text": new, "label": label, "source_text": text, "method": "tokens"})
    return rows


# ---- paraphrases (SmolLM2) -------------------------------------------------------------------
_GENERATOR: dict = {}
_GENERATOR_LOCK = threading.Lock()


def load_paraphraser():
    """(model, tokenizer) of the bundled SmolLM2-135M-Instruct, loaded once and kept until
    ``release_paraphraser()``."""
    with _GENERATOR_LOCK:
        return _load_paraphraser()


def release_paraphraser() -> None:
    """Drop the cached paraphrasing model (~0.5 GB) once a run has its rows."""
    with _GENERATOR_LOCK:
        _GENERATOR.clear()


def _load_paraphraser():
    if "model" not in _GENERATOR:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from engine.backbones import resolve_backbone

        path = resolve_backbone("smollm2-135m-instruct")
        tokenizer = AutoTokenizer.from_pretrained(path)
        tokenizer.padding_side = "left"  # generation continues after the prompt
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            model = AutoModelForCausalLM.from_pretrained(path)
        finally:
            hf_logging.set_verbosity(verbosity)
        model.eval()
        _GENERATOR.update(model=model, tokenizer=tokenizer)
    return _GENERATOR["model"], _GENERATOR["tokenizer"]


def _prompt(tokenizer, text: str) -> str:
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_PROMPT.format(text=SHOT[0])},
        {"role": "assistant", "content": SHOT[1]},
        {"role": "user", "content": USER_PROMPT.format(text=text)},
    ]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


_PREFACE = re.compile(
    r"^\s*(sure[!,.]?\s*)?(here('s| is)|rewritten|paraphrase[d]?|rewrite)"
    r"[^:\n]{0,60}:\s*",
    re.I,
)


def clean_paraphrase(output: str, source: str, hit_limit: bool = False) -> str | None:
    """The usable paraphrase in a raw model answer, or None when it is degenerate: empty,
    identical to the source (ignoring case and punctuation), cut off by the token cap (a
    runaway answer), far shorter/longer than the source, repeating itself, or echoing the
    prompt / worked example."""
    text = _PREFACE.sub("", str(output or "")).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    text = lines[0].strip().strip('"').strip("“”'").strip()
    norm, src = _norm(text), _norm(source)
    if hit_limit or not norm or norm.replace(" ", "") == src.replace(" ", ""):
        return None
    words, src_words = norm.split(), src.split()
    if len(words) < max(1, 0.4 * len(src_words)) or len(words) > 2.5 * len(src_words) + 4:
        return None
    if len(words) >= 6 and len(set(words)) < 0.5 * len(words):  # "the the the ..." loops
        return None
    lowered = text.lower()
    if "rewrite" in lowered or "paraphrase" in lowered or "original text" in lowered:
        return None
    if (_SHOT_WORDS & set(words)) - set(src_words):  # copied from the worked example
        return None
    return text


def paraphrase_texts(
    texts: list[str],
    copies: int = 1,
    seed: int = 0,
    batch_size: int = PARAPHRASE_BATCH_SIZE,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[list[str]]:
    """Up to ``copies`` distinct paraphrases of each text (fewer when outputs are rejected).

    Copy 0 is greedy; copies 1.. are sampled (temperature 0.5, top-p 0.95) with a seed derived
    from ``seed`` and the copy number. Texts are batched by length; new tokens are capped at
    1.5x the source length (+8)."""
    import torch

    model, tokenizer = load_paraphraser()
    results: list[list[str]] = [[] for _ in texts]
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    usable = [i for i, n in enumerate(lengths) if 0 < n <= PARAPHRASE_MAX_SOURCE_TOKENS]
    order = sorted(usable, key=lambda i: lengths[i])
    total, done = len(order) * copies, 0
    for copy in range(copies):
        for start in range(0, len(order), batch_size):
            if should_stop is not None and should_stop():
                return results
            batch = order[start : start + batch_size]
            prompts = [_prompt(tokenizer, texts[i]) for i in batch]
            enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            cap = int(1.5 * max(lengths[i] for i in batch)) + 8
            kwargs = dict(
                max_new_tokens=cap,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            if copy == 0:
                kwargs.update(do_sample=False)
            else:
                kwargs.update(do_sample=True, temperature=SAMPLING_TEMPERATURE, top_p=0.95)
            # fork: sampling must not move the global RNG that seeds the run's head and order
            with torch.random.fork_rng(devices=[]), torch.inference_mode():
                torch.manual_seed(seed * 1000 + copy * 97 + start)
                out = model.generate(**enc, **kwargs)
            new = out[:, enc["input_ids"].shape[1] :]
            for row, i in enumerate(batch):
                ids = new[row]
                n_new = int((ids != tokenizer.pad_token_id).sum())
                answer = tokenizer.decode(ids, skip_special_tokens=True)
                cleaned = clean_paraphrase(answer, texts[i], hit_limit=n_new >= cap)
                if cleaned and _norm(cleaned) not in {_norm(p) for p in results[i]}:
                    results[i].append(cleaned)
            done += len(batch)
            if progress is not None:
                progress(done, total)
    return results


def paraphrase_seconds(texts: list[str], per_example: int = 1) -> float:
    """Rough time to paraphrase ``texts`` on a CPU (~1.5 new tokens per source token)."""
    n_tokens = sum(max(1, round(len(str(t).split()) * 1.3)) for t in texts)
    return 1.5 * n_tokens * per_example / PARAPHRASE_TOKENS_PER_SECOND


# ---- public API ------------------------------------------------------------------------------
def augment_frame(
    train_df: pd.DataFrame,
    method: str,
    per_example: int = 1,
    seed: int = 42,
    max_new_rows: int | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """New training rows (only the new ones) with columns text, label, source_text, method.

    ``train_df`` has columns text and label. ``per_example`` rows per source row and method
    (fewer when a variant is rejected). ``max_new_rows`` caps the total: the source rows are
    then a seeded sample. ``progress(done, total)`` is called as paraphrase batches finish;
    ``should_stop()`` returning True ends paraphrasing early (what is done so far is kept)."""
    if method not in METHODS:
        raise ValueError(f"Unknown augmentation {method!r}; choose one of {', '.join(METHODS)}.")
    per_example = max(1, int(per_example))
    if method == "none" or train_df is None or len(train_df) == 0:
        return pd.DataFrame(columns=COLUMNS)
    items = list(zip(train_df["text"].astype(str).tolist(), train_df["label"].tolist()))
    methods = ["tokens", "paraphrase"] if method == "both" else [method]
    if max_new_rows is not None and max_new_rows >= 0:
        keep = max(0, max_new_rows // (per_example * len(methods)))
        if keep < len(items):
            rng = random.Random(seed)
            picked = sorted(rng.sample(range(len(items)), keep))
            items = [items[i] for i in picked]
    rows: list[dict] = []
    if "tokens" in methods:
        rows += _token_rows(items, per_example, seed)
    if "paraphrase" in methods and items:
        unique = list(dict.fromkeys(t for t, _ in items))  # a repeated text is generated once
        outs = dict(
            zip(
                unique,
                paraphrase_texts(
                    unique, per_example, seed, progress=progress, should_stop=should_stop
                ),
            )
        )
        for text, label in items:
            paraphrases = outs[text]
            rows += [
                {"text": p, "label": label, "source_text": text, "method": "paraphrase"}
                for p in paraphrases
            ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if max_new_rows is not None and len(frame) > max_new_rows:
        frame = frame.iloc[:max_new_rows]
    return frame.reset_index(drop=True)


def preview(texts: list[str], method: str, seed: int = 42) -> list[dict]:
    """What augmentation makes of a few texts, to show before training:
    ``[{"original": ..., "augmented": ..., "method": ...}]`` (one row per new text; a text with
    no usable variant gets ``augmented=None``)."""
    if method not in METHODS:
        raise ValueError(f"Unknown augmentation {method!r}; choose one of {', '.join(METHODS)}.")
    if method == "none":
        return []
    texts = [str(t) for t in texts]
    frame = augment_frame(
        pd.DataFrame({"text": texts, "label": [""] * len(texts)}), method, 1, seed
    )
    out = []
    for text in texts:
        new = frame[frame["source_text"] == text]
        if len(new) == 0:
            out.append({"original": text, "augmented": None, "method": method})
        out += [
            {"original": text, "augmented": r.text, "method": r.method} for r in new.itertuples()
        ]
    return out
