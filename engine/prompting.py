"""Zero- and few-shot learning: prompt templates, label verbalizers, contextual calibration,
few-shot example selection, generation, and measurement on labelled rows.

A decoder classifies by scoring, for every label, the log-likelihood of each of its verbalizer
words right after the prompt (the label's score is the log of the summed probability of its
words); the label probabilities are the softmax of those scores over the labels. An encoder
classifies zero-shot by the cosine similarity between the text's sentence embedding and each
verbalizer's. Contextual calibration (Zhao et al., 2021) estimates the prompt's prior over the
labels from content-free inputs ("N/A", "", "[MASK]") put in place of the text, and divides it
out: q = normalise(p / p_cf); 'domain' calibration takes the prior from the mean prediction over
random training texts instead (their labels unused; Fei et al., 2023).

Everything here is plain Python driven by ``PromptConfig``; the Playground tab and ``python -m
engine zeroshot`` are views of it. Measurements are appended to
``<output_dir>/playground/measurements.jsonl`` so the comparison table survives a restart.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from engine.config import PromptConfig, RunConfig
from engine.data import DataError

PLACEHOLDERS = ("text", "labels", "examples")
EXAMPLE_CHARS = 400  # a few-shot example's text is cut to this many characters
ENCODER_TEMPERATURE = 0.05  # cosine similarities -> probabilities (does not change the argmax)
REUSE_MIN = 16  # shared prompt tokens worth reusing the kept key/value cache for
DOMAIN_TEXTS = 32  # training texts whose mean prediction is the 'domain' prior


class PromptError(ValueError):
    """A prompt setting the engine cannot use; the message says which and why."""


# ---- presets -----------------------------------------------------------------------------------
# mode "classify": template + example template + suggested verbalizers (label -> words, used when
# the data's labels match); mode "generate": a template for free generation.
PRESETS: dict[str, dict] = {
    "general": {
        "mode": "classify",
        "template": "Classify the text into one of these categories: {labels}.\n\n"
        "{examples}Text: {text}\nCategory:",
        "example_template": "Text: {text}\nCategory: {label}\n\n",
    },
    "sentiment": {
        "mode": "classify",
        "template": "Is the sentiment of this review {labels}?\n\n{examples}"
        "Review: {text}\nSentiment:",
        "example_template": "Review: {text}\nSentiment: {label}\n\n",
        "verbalizers": {
            "0": ["negative"],
            "1": ["positive"],
            "negative": ["negative"],
            "positive": ["positive"],
            "neg": ["negative"],
            "pos": ["positive"],
        },
    },
    "topic": {
        "mode": "classify",
        "template": "What is this article about? Choose from: {labels}.\n\n{examples}"
        "Article: {text}\nTopic:",
        "example_template": "Article: {text}\nTopic: {label}\n\n",
    },
    "intent": {
        "mode": "classify",
        "template": "What does the user want? Choose from: {labels}.\n\n{examples}"
        "Message: {text}\nIntent:",
        "example_template": "Message: {text}\nIntent: {label}\n\n",
    },
    "spam": {
        "mode": "classify",
        "template": "Is this SMS message {labels}?\n\n{examples}Message: {text}\nAnswer:",
        "example_template": "Message: {text}\nAnswer: {label}\n\n",
        "verbalizers": {"0": ["normal"], "1": ["spam"], "ham": ["normal"], "spam": ["spam"]},
    },
    "question-type": {
        "mode": "classify",
        "template": "What kind of answer does the question ask for? Choose from: "
        "{labels}.\n\n{examples}Question: {text}\nAnswer type:",
        "example_template": "Question: {text}\nAnswer type: {label}\n\n",
        "verbalizers": {
            "ABBR": ["abbreviation"],
            "DESC": ["description"],
            "ENTY": ["entity", "thing"],
            "HUM": ["person"],
            "LOC": ["location", "place"],
            "NUM": ["number"],
        },
    },
    "ner-extraction": {
        "mode": "generate",
        "template": "List the names of people, organisations and places in this "
        "text, one per line as 'type: name'.\n\nText: {text}",
    },
    "summarization": {
        "mode": "generate",
        "template": "Summarize the following text in one sentence.\n\n{text}",
    },
    "translation": {
        "mode": "generate",
        "template": "Translate the following text into Spanish.\n\n{text}",
    },
    "qa": {
        "mode": "generate",
        "template": "Answer the question from the context in a few words.\n\n{text}",
    },
}


def preset_names(mode: str | None = None) -> list[str]:
    return [n for n, p in PRESETS.items() if mode is None or p["mode"] == mode]


# ---- templates ---------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def check_template(
    template: str, allowed: tuple[str, ...] = PLACEHOLDERS, required: str = "text"
) -> None:
    """PromptError when the template lacks ``{required}`` or uses an unknown placeholder.
    Other braces ({"json": ...}) are left alone."""
    names = set(_PLACEHOLDER.findall(template))
    if required and required not in names:
        raise PromptError(f"The template needs {{{required}}} where the input goes.")
    unknown = sorted(n for n in names if n not in allowed)
    if unknown:
        raise PromptError(
            f"Unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)} "
            f"in the template; use {', '.join('{' + a + '}' for a in allowed)}."
        )


def fill(template: str, **values: str) -> str:
    """Replace {name} for the given names only (one pass: inserted text is never re-read)."""
    return _PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template
    )


def format_examples(examples: list[tuple[str, str]], example_template: str) -> str:
    """The few-shot block: each (text, label word) written with the example template."""
    check_template(example_template, ("text", "label"))
    out = []
    for text, label in examples:
        text = text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS].rstrip() + "…"
        block = fill(example_template, text=text, label=label)
        out.append(block if block.endswith(("\n", " ")) else block + "\n\n")
    return "".join(out)


def build_prompt(
    template: str,
    text: str,
    label_words: list[str],
    examples: list[tuple[str, str]] | None = None,
    example_template: str = "Text: {text}\nAnswer: {label}\n\n",
) -> str:
    """The filled prompt: {labels} = the label words joined with ', ' (last with 'or')."""
    check_template(template)
    words = list(label_words)
    joined = ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)
    block = format_examples(examples or [], example_template) if examples else ""
    return fill(template, text=text, labels=joined, examples=block)


# ---- verbalizers -------------------------------------------------------------------------------
def parse_verbalizers(
    spec: str | dict | None, labels: list[str], preset: str = "general"
) -> dict[str, list[str]]:
    """label -> words. ``spec``: JSON {"label": ["w", ...]} (or "w"), or lines "label: w, w";
    labels it does not name get the preset's words for them, else the label itself."""
    given: dict[str, list[str]] = {}
    if isinstance(spec, dict):
        raw = spec
    elif spec and spec.strip():
        text = spec.strip()
        if text.startswith(("{", "[")):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as e:
                raise PromptError(
                    f"The verbalizers are not valid JSON ({e.msg} at character {e.pos})."
                ) from None
            if not isinstance(raw, dict):
                raise PromptError('The verbalizers must be a JSON object {"label": ["word"]}.')
        else:
            raw = {}
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                if ":" not in line:
                    raise PromptError(
                        f"Verbalizer line {n} ({line.strip()!r}) needs the form "
                        "'label: word, word'."
                    )
                label, words = line.split(":", 1)
                raw[label.strip()] = [w.strip() for w in words.split(",")]
    else:
        raw = {}
    for label, words in raw.items():
        label = str(label).strip()
        if label not in labels:
            raise PromptError(
                f"The verbalizers name the label {label!r}, which is not one of "
                f"the labels ({', '.join(labels)})."
            )
        words = [words] if isinstance(words, str) else list(words or [])
        words = [str(w).strip() for w in words if str(w).strip()]
        if not words:
            raise PromptError(f"The label {label!r} has no verbalizer words.")
        given[label] = words
    suggested = PRESETS.get(preset, {}).get("verbalizers", {})
    out = {}
    for label in labels:
        out[label] = given.get(label) or list(suggested.get(label, [])) or [label]
    return out


def verbalizer_text(verbalizers: dict[str, list[str]]) -> str:
    """The 'label: word, word' lines the UI shows for a verbalizer mapping."""
    return "\n".join(f"{label}: {', '.join(words)}" for label, words in verbalizers.items())


# ---- calibration -------------------------------------------------------------------------------
def softmax(scores: np.ndarray) -> np.ndarray:
    z = np.asarray(scores, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def calibrate(probs: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Contextual calibration: divide the probabilities by the content-free prior and
    renormalise (W = diag(prior)^-1, b = 0 in Zhao et al.)."""
    q = np.asarray(probs, dtype=np.float64) / np.clip(np.asarray(prior, np.float64), 1e-12, None)
    return q / q.sum(axis=-1, keepdims=True)


calibrate_fn = calibrate  # (classify() has an argument named calibrate)


def content_free_inputs(spec: str) -> list[str]:
    """'N/A;;[MASK]' -> ["N/A", "", "[MASK]"]."""
    return [s.strip() for s in (spec or "").split(";")]


# ---- models ------------------------------------------------------------------------------------
def _run_model_folder(name: str) -> Path | None:
    """A finished generation run named by ``run:FOLDER``/``run:ID`` or its folder path."""
    from engine.runs import read_json

    text = name.strip()
    candidates = []
    if text.startswith("run:"):
        ref = text[4:].strip()
        candidates = [Path(ref), Path("runs") / ref]
    else:
        candidates = [Path(text).expanduser()]
    for folder in candidates:
        if (folder / "model" / "task.json").exists() and (folder / "config.json").exists():
            return folder
        if text.startswith("run:") and folder.is_dir():
            kind = (read_json(folder / "config.json", {}) or {}).get("task", "classification")
            raise PromptError(
                f"The run {folder} is not a finished generation run (task: {kind}); "
                "the playground prompts decoders. Fine-tuned classifiers are "
                "compared in Measure and explained in Explain."
            )
    return None


class DecoderLM:
    """A causal LM to prompt: verbalizer scoring and streamed generation."""

    kind = "decoder"

    def __init__(self, name: str):
        import torch

        from engine.backbones import BackboneError, family_of, resolve_backbone
        from engine.tasks.generation import Formatter, _load, load_causal_lm

        self.name = name
        run = _run_model_folder(name)
        if run is not None:
            from engine.runs import read_json

            meta = read_json(run / "model" / "task.json", {})
            self.model, self.tokenizer = _load(run / "model", meta.get("backbone", ""))
            self.description = f"fine-tuned run {run.name} ({meta.get('task', '')})"
        else:
            try:
                if family_of(name) != "decoder":
                    raise PromptError(
                        f"{name} is an encoder; it classifies by embedding "
                        "similarity, not by a prompt."
                    )
                path = resolve_backbone(name)
            except BackboneError as e:
                raise PromptError(str(e)) from None
            self.model, self.tokenizer = load_causal_lm(path, "full")
            self.model.eval()
            if torch.cuda.is_available():
                self.model.to("cuda")
            self.description = name
        self.formatter = Formatter(self.tokenizer)
        self.stop_ids = self.formatter.stop_ids
        self.has_chat = self.formatter.chat
        cfg = getattr(self.model, "config", None)
        self.max_positions = int(getattr(cfg, "max_position_embeddings", 2048) or 2048)
        self.lock = threading.Lock()

    @property
    def device(self):
        return next(self.model.parameters()).device

    def prompt_text(self, filled: str, use_chat: bool = True) -> str:
        """With a chat template: a user turn + the assistant header; else the text as is."""
        if use_chat and self.has_chat:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": filled}], tokenize=False, add_generation_prompt=True
            )
        return filled

    def prompt_ids(self, prompt_text: str, use_chat: bool = True) -> list[int]:
        bos = self.tokenizer.bos_token_id
        lead = [bos] if bos is not None and not (use_chat and self.has_chat) else []
        ids = lead + self.tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        if len(ids) >= self.max_positions:
            raise PromptError(
                f"The prompt has {len(ids)} tokens; {self.name} reads at most "
                f"{self.max_positions}. Use fewer or shorter examples."
            )
        return ids

    def continuation_ids(self, prompt_text: str, word: str, use_chat: bool = True) -> list[int]:
        """Token ids of ``word`` written right after the prompt: after a chat template's
        assistant header as is, otherwise after a space (unless the prompt ends with one).
        Tokenised together with the prompt so merges at the boundary are the model's own."""
        tok = self.tokenizer
        chat = use_chat and self.has_chat
        lead = "" if chat or prompt_text.endswith((" ", "\n")) else " "
        prefix = tok(prompt_text, add_special_tokens=False)["input_ids"]
        full = tok(prompt_text + lead + word, add_special_tokens=False)["input_ids"]
        if full[: len(prefix)] == prefix and len(full) > len(prefix):
            return full[len(prefix) :]
        return tok(lead + word, add_special_tokens=False)["input_ids"]

    def continuation_logprobs(
        self, prompt_ids: list[int], continuations: list[list[int]]
    ) -> np.ndarray:
        """log P(continuation | prompt), summed over its tokens, for each continuation.

        One forward pass over the prompt, then one batched pass over every multi-token
        continuation on the prompt's key/value cache, however many labels there are. The
        cache of the last prompt is kept: a prompt sharing a long prefix with it (the same
        instruction and few-shot examples before a new input) only runs its new tokens."""
        import copy

        import torch

        with self.lock, torch.inference_mode():
            dev = self.device
            cache, start = self._reuse(prompt_ids)
            out = self.model(
                input_ids=torch.tensor([prompt_ids[start:]], device=dev),
                cache=cache,
                use_cache=True,
            )
            cache = getattr(out, "cache", None) or out.past_key_values
            self._kept = (list(prompt_ids), cache)
            first = torch.log_softmax(out.logits[0, -1].float(), -1)
            scores = np.array([float(first[c[0]]) for c in continuations])
            multi = [i for i, c in enumerate(continuations) if len(c) > 1]
            if multi:
                cache = copy.deepcopy(cache)  # the kept one stays the prompt's
                cache.batch_repeat_interleave(len(multi))
                width = max(len(continuations[i]) - 1 for i in multi)
                pad = self.tokenizer.pad_token_id or 0
                rows = [
                    continuations[i][:-1] + [pad] * (width - len(continuations[i]) + 1)
                    for i in multi
                ]
                # right padding: a real token never attends to a pad after it
                logits = self.model(
                    input_ids=torch.tensor(rows, device=dev), cache=cache, use_cache=True
                ).logits
                logp = torch.log_softmax(logits.float(), -1)
                for r, i in enumerate(multi):
                    cont = continuations[i]
                    scores[i] += sum(float(logp[r, j - 1, cont[j]]) for j in range(1, len(cont)))
        return scores

    def _reuse(self, prompt_ids: list[int]):
        """(cache cropped to the prefix shared with the last prompt, its length), or (None, 0)
        when less than REUSE_MIN tokens are shared. At least one token is always run."""
        kept_ids, cache = getattr(self, "_kept", (None, None))
        if not kept_ids or not getattr(cache, "is_croppable", True):
            return None, 0
        n = 0
        limit = min(len(kept_ids), len(prompt_ids) - 1)
        while n < limit and kept_ids[n] == prompt_ids[n]:
            n += 1
        if n < REUSE_MIN:
            return None, 0
        try:
            extra = cache.get_seq_length() - n
            if extra > 0:
                cache.crop(-extra)  # transformers 5: a negative count of tokens to remove
        except Exception:  # noqa: BLE001 - a cache type that cannot be cut: start afresh
            self._kept = (None, None)
            return None, 0
        return cache, n

    def label_scores(
        self, filled: str, verbalizers: list[list[str]], use_chat: bool = True
    ) -> np.ndarray:
        """Per label: log sum over its words of P(word | prompt)."""
        text = self.prompt_text(filled, use_chat)
        ids = self.prompt_ids(text, use_chat)
        conts, owner = [], []
        for j, words in enumerate(verbalizers):
            for w in words:
                conts.append(self.continuation_ids(text, w, use_chat))
                owner.append(j)
        logps = self.continuation_logprobs(ids, conts)
        out = np.full(len(verbalizers), -np.inf)
        for j, lp in zip(owner, logps):
            out[j] = np.logaddexp(out[j], lp)
        return out

    def stream(
        self,
        filled: str,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 64,
        stop: list[str] | None = None,
        use_chat: bool = True,
    ) -> Iterator[str]:
        from engine.tasks.generation import stream_generate

        ids = self.prompt_ids(self.prompt_text(filled, use_chat), use_chat)
        room = self.max_positions - len(ids)
        yield from stream_generate(
            self.model,
            self.tokenizer,
            ids,
            self.stop_ids,
            self.lock,
            temperature,
            top_p,
            max(1, min(int(max_new_tokens), room)),
            stop,
        )


class Embedder:
    """Sentence embeddings (sentence-transformers; mean pooling for a plain encoder folder)."""

    def __init__(self, name: str = "minilm-l6"):
        from engine.backbones import BackboneError, resolve_backbone

        try:
            path = resolve_backbone(name)
        except BackboneError as e:
            raise PromptError(str(e)) from None
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        with self.lock:
            return np.asarray(
                self.model.encode(
                    list(texts),
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ),
                dtype=np.float32,
            )


class EncoderZeroShot:
    """Zero-shot classification by embedding similarity between the text and each label's
    verbalizer words (label descriptions); the template is not used."""

    kind = "encoder"
    has_chat = False

    def __init__(self, name: str):
        self.name = name
        self.embedder = get_embedder(name)
        self.description = name
        self._cache: dict[str, np.ndarray] = {}

    def _word_vectors(self, words: list[str]) -> np.ndarray:
        missing = [w for w in words if w not in self._cache]
        if missing:
            for w, v in zip(missing, self.embedder.encode(missing)):
                self._cache[w] = v
        return np.stack([self._cache[w] for w in words])

    def label_scores_many(self, texts: list[str], verbalizers: list[list[str]]) -> np.ndarray:
        """(n_texts, n_labels): the best cosine over each label's words / temperature."""
        vecs = self.embedder.encode(texts)
        out = np.empty((len(texts), len(verbalizers)))
        for j, words in enumerate(verbalizers):
            out[:, j] = (vecs @ self._word_vectors(words).T).max(axis=1)
        return out / ENCODER_TEMPERATURE

    def label_scores(
        self, text: str, verbalizers: list[list[str]], use_chat: bool = True
    ) -> np.ndarray:
        return self.label_scores_many([text], verbalizers)[0]


def finished_runs(
    runs_dir="runs", tasks: tuple[str, ...] = ("classification",)
) -> list[tuple[str, str]]:
    """(label, run folder) of the completed runs of these tasks with a saved model, newest
    first (the Measure / Explain pickers; generation tasks for the model picker). ``runs_dir``:
    a runs folder, or a store view (the runs its user may see)."""
    from engine.runs import runs_of

    out = []
    for run in runs_of(runs_dir):
        s = run.summary()
        if (
            s["kind"] != "train"
            or (s["task"] or "classification") not in tasks
            or s["status"] != "completed"
            or not run.has_model
        ):
            continue
        score = s.get("main_value")
        shown = f", {s['main_metric']} {score:.3f}" if isinstance(score, (int, float)) else ""
        out.append(
            (
                f"{s['name']} ({s['task'] or 'classification'}, {s['strategy']}{shown})",
                str(run.path),
            )
        )
    return out


def model_choices(runs_dir="runs") -> list[tuple[str, str]]:
    """(label, name) of what the playground can prompt: bundled and hub decoders, encoders
    (embedding zero-shot) and finished generation runs (run:FOLDER)."""
    from engine.backbones import CATALOGUE
    from engine.config import GENERATION_TASKS

    decoders = [
        (f"{b.name} (decoder{', bundled' if b.bundled else ', hub'})", b.name)
        for b in CATALOGUE.values()
        if b.family == "decoder"
    ]
    encoders = [
        (
            f"{b.name} (encoder: zero-shot by similarity{', bundled' if b.bundled else ', hub'})",
            b.name,
        )
        for b in CATALOGUE.values()
        if b.family == "encoder"
    ]
    runs = [
        (f"run {label}", "run:" + folder)
        for label, folder in finished_runs(runs_dir, tuple(GENERATION_TASKS))
    ]
    return decoders + runs + encoders


_MODELS_LOCK = threading.Lock()


@lru_cache(maxsize=3)
def _cached_model(name: str, stamp: float):
    from engine.backbones import BackboneError, family_of

    if _run_model_folder(name) is not None:
        return DecoderLM(name)
    try:
        family = family_of(name)
    except BackboneError as e:
        raise PromptError(str(e)) from None
    return DecoderLM(name) if family == "decoder" else EncoderZeroShot(name)


def get_model(name: str):
    """The decoder or encoder behind ``name``, loaded once (a re-trained run reloads)."""
    name = (name or "").strip()
    if not name:
        raise PromptError("Pick a model (a bundled backbone, a hub id or a generation run).")
    run = _run_model_folder(name)
    stamp = (run / "model").stat().st_mtime if run is not None else 0.0
    with _MODELS_LOCK:
        return _cached_model(name, stamp)


@lru_cache(maxsize=2)
def get_embedder(name: str = "minilm-l6") -> Embedder:
    return Embedder(name)


# ---- few-shot selection ------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _pool_vectors(embedder: str, texts: tuple[str, ...]) -> np.ndarray:
    """The example pool's embeddings, computed once per pool (a Measure after a Classify on the
    same data does not embed the training split again)."""
    return get_embedder(embedder).encode(list(texts))


class ShotSelector:
    """Picks k labelled examples from a pool: 'random' and 'balanced' draw one fixed set per
    seed (the same for every input, as in the few-shot literature); 'similar' takes, for each
    input, the k nearest pool texts by embedding cosine, the nearest placed last (next to the
    input)."""

    def __init__(
        self,
        pool: pd.DataFrame,
        k: int,
        method: str = "random",
        seed: int = 42,
        embedder: str = "minilm-l6",
    ):
        self.pool = pool.reset_index(drop=True)
        self.k = min(int(k), len(self.pool))
        self.method = method
        self.seed = seed
        self._fixed: list[int] | None = None
        self._vectors = None
        self._embedder_name = embedder
        if method not in ("random", "balanced", "similar"):
            raise PromptError(
                f"Unknown example selection {method!r}; use random, balanced or similar."
            )
        if k and self.pool.empty:
            raise PromptError("There are no training rows to take few-shot examples from.")

    def _fixed_set(self) -> list[int]:
        if self._fixed is None:
            rng = np.random.default_rng(self.seed)
            if self.method == "balanced":
                groups = {
                    label: list(rng.permutation(idx))
                    for label, idx in self.pool.groupby("label", sort=True).indices.items()
                }
                order = sorted(groups)
                picked: list[int] = []
                while len(picked) < self.k and any(groups.values()):
                    for label in order:
                        if groups[label] and len(picked) < self.k:
                            picked.append(int(groups[label].pop(0)))
                self._fixed = [int(i) for i in rng.permutation(picked)]
            else:
                self._fixed = [int(i) for i in rng.choice(len(self.pool), self.k, replace=False)]
        return self._fixed

    def prepare(self, texts: list[str]) -> None:
        """Embed the pool (and nothing else) once before a batch of 'similar' selections."""
        if self.method == "similar" and self.k and self._vectors is None:
            self._vectors = _pool_vectors(self._embedder_name, tuple(self.pool["text"].astype(str)))

    def select(self, text: str, query_vector: np.ndarray | None = None) -> list[int]:
        if not self.k:
            return []
        if self.method != "similar":
            return self._fixed_set()
        self.prepare([])
        q = (
            query_vector
            if query_vector is not None
            else get_embedder(self._embedder_name).encode([text])[0]
        )
        sims = self._vectors @ q
        same = np.array([t == text for t in self.pool["text"]])  # never the input itself
        sims = np.where(same, -np.inf, sims)
        top = np.argsort(-sims, kind="stable")[: self.k]
        return [int(i) for i in top[::-1]]

    def examples(self, indices: list[int]) -> list[tuple[str, str]]:
        return [(str(self.pool.at[i, "text"]), str(self.pool.at[i, "label"])) for i in indices]


# ---- the classifier ----------------------------------------------------------------------------
@dataclass
class PromptSetting:
    """A PromptConfig resolved against the data's labels."""

    config: PromptConfig
    labels: list[str]
    verbalizers: dict[str, list[str]]
    template: str
    example_template: str

    @property
    def words(self) -> list[list[str]]:
        return [self.verbalizers[label] for label in self.labels]

    @property
    def first_words(self) -> list[str]:
        return [self.verbalizers[label][0] for label in self.labels]

    def summary(self) -> str:
        c = self.config
        parts = [
            Path(c.backbone).name or c.backbone,
            "zero-shot" if not c.shots else f"{c.shots}-shot {c.shot_selection}",
        ]
        if c.calibrate:
            parts.append(f"calibrated ({c.calibration})")
        if c.use_chat_template:
            parts.append("chat template")
        if c.preset != "general" or c.template:
            parts.append(f"template {c.preset if not c.template else 'custom'}")
        return ", ".join(parts)


def resolve_setting(config: PromptConfig, data_labels: list[str]) -> PromptSetting:
    """Labels (all of the data's, or the subset asked for), verbalizers and templates."""
    labels = list(data_labels)
    if config.labels.strip():
        asked = [l.strip() for l in config.labels.split(",") if l.strip()]
        unknown = [l for l in asked if l not in data_labels] if data_labels else []
        if unknown:
            raise PromptError(
                f"Label(s) {', '.join(map(repr, unknown))} are not in the data "
                f"(its labels: {', '.join(data_labels)})."
            )
        labels = asked
    if len(labels) < 2:
        raise PromptError("Classification needs at least two labels.")
    preset = PRESETS.get(config.preset) or PRESETS["general"]
    template = config.template.strip() or preset["template"]
    example_template = config.example_template or preset.get(
        "example_template", "Text: {text}\nAnswer: {label}\n\n"
    )
    example_template = example_template.replace("\\n", "\n")
    template = template.replace("\\n", "\n")
    check_template(template)
    check_template(example_template, ("text", "label"))
    if config.shots and "{examples}" not in template:
        template = "{examples}" + template  # examples go first when the template forgot them
    verbalizers = parse_verbalizers(config.verbalizers, labels, config.preset)
    return PromptSetting(config, labels, verbalizers, template, example_template)


class PromptClassifier:
    """Classifies texts with one prompt setting; ``classify`` for one text (with the prompt and
    the chosen examples, for the playground), ``measure`` over labelled rows."""

    def __init__(
        self, config: PromptConfig, labels: list[str], pool: pd.DataFrame | None = None, model=None
    ):
        self.setting = resolve_setting(config, labels)
        self.config = config
        self.model = model or get_model(config.backbone)
        pool = pool if pool is not None else pd.DataFrame({"text": [], "label": []})
        pool = pool[pool["label"].isin(self.setting.labels)]
        self.selector = ShotSelector(
            pool,
            config.shots if self.model.kind == "decoder" else 0,
            config.shot_selection,
            config.seed,
            config.embedder,
        )
        self.content_free = content_free_inputs(config.content_free)
        self._priors: dict[tuple, np.ndarray] = {}

    # the prompt for one input with given examples
    def prompt(self, text: str, example_idx: list[int]) -> str:
        s = self.setting
        examples = [(t, s.verbalizers[l][0]) for t, l in self.selector.examples(example_idx)]
        return build_prompt(s.template, text, s.first_words, examples, s.example_template)

    def _scores(self, text: str, example_idx: list[int]) -> np.ndarray:
        if self.model.kind == "encoder":
            return self.model.label_scores(text, self.setting.words)
        return self.model.label_scores(
            self.prompt(text, example_idx), self.setting.words, self.config.use_chat_template
        )

    def prior(self, example_idx: list[int]) -> np.ndarray:
        """The label prior divided out by calibration: the mean label distribution over the
        content-free inputs with these examples, or ('domain') over DOMAIN_TEXTS random
        training texts, each prompted as an input would be (computed once)."""
        if self.config.calibration == "domain":
            return self._domain_prior()
        key = tuple(example_idx)
        if key not in self._priors:
            if not self.content_free:
                raise PromptError("Calibration needs at least one content-free input.")
            self._priors[key] = np.mean(
                [softmax(self._scores(cf, example_idx)) for cf in self.content_free], axis=0
            )
        return self._priors[key]

    def _domain_prior(self) -> np.ndarray:
        if "domain" not in self._priors:
            pool = self.selector.pool
            if pool.empty:
                raise PromptError("Domain calibration needs training texts; none are loaded.")
            rng = np.random.default_rng(self.config.seed + 1)
            pick = rng.choice(len(pool), min(DOMAIN_TEXTS, len(pool)), replace=False)
            texts = [str(pool.at[int(i), "text"]) for i in pick]
            if self.model.kind == "encoder":
                probs = softmax(self.model.label_scores_many(texts, self.setting.words))
            else:
                probs = [softmax(self._scores(t, self.selector.select(t))) for t in texts]
            self._priors["domain"] = np.mean(probs, axis=0)
        return self._priors["domain"]

    def classify(self, text: str, calibrate: bool | None = None) -> dict:
        calibrate = self.config.calibrate if calibrate is None else calibrate
        idx = self.selector.select(text)
        raw = softmax(self._scores(text, idx))
        probs = calibrate_fn(raw, self.prior(idx)) if calibrate else raw
        labels = self.setting.labels
        out = {
            "label": labels[int(np.argmax(probs))],
            "probabilities": {l: float(p) for l, p in zip(labels, probs)},
            "uncalibrated": {l: float(p) for l, p in zip(labels, raw)},
            "examples": [{"text": t, "label": l} for t, l in self.selector.examples(idx)],
            "prompt": ""
            if self.model.kind == "encoder"
            else self.model.prompt_text(self.prompt(text, idx), self.config.use_chat_template),
        }
        if calibrate:
            out["prior"] = {l: float(p) for l, p in zip(labels, self.prior(idx))}
        return out

    def measure(
        self,
        rows: pd.DataFrame,
        progress: Callable[[int, int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> dict:
        """Accuracy, macro-F1, confusion matrix and seconds per example over ``rows`` (columns
        text, label); rows whose label is not among the setting's labels are left out."""
        from sklearn.metrics import accuracy_score

        labels = self.setting.labels
        rows = rows[rows["label"].isin(labels)].reset_index(drop=True)
        if rows.empty:
            raise PromptError("None of the rows has one of the chosen labels.")
        texts, gold = rows["text"].astype(str).tolist(), rows["label"].astype(str).tolist()
        start = time.perf_counter()
        self.selector.prepare(texts)
        qvecs = (
            get_embedder(self.config.embedder).encode(texts)
            if self.selector.method == "similar" and self.selector.k
            else None
        )
        raw = np.zeros((len(texts), len(labels)))
        calibrated = np.zeros_like(raw)
        done = 0
        if self.model.kind == "encoder":
            prior = self.prior([]) if self.config.calibrate else None
            for at in range(0, len(texts), 64):
                if stop is not None and stop.is_set():
                    break
                chunk = softmax(
                    self.model.label_scores_many(texts[at : at + 64], self.setting.words)
                )
                raw[at : at + len(chunk)] = chunk
                calibrated[at : at + len(chunk)] = (
                    chunk if prior is None else calibrate_fn(chunk, prior)
                )
                done = at + len(chunk)
                if progress is not None:
                    progress(done, len(texts))
        else:
            for i, text in enumerate(texts):
                if stop is not None and stop.is_set():
                    break
                idx = self.selector.select(text, None if qvecs is None else qvecs[i])
                raw[i] = softmax(self._scores(text, idx))
                calibrated[i] = (
                    calibrate_fn(raw[i], self.prior(idx)) if self.config.calibrate else raw[i]
                )
                done = i + 1
                if progress is not None:
                    progress(done, len(texts))
        seconds = time.perf_counter() - start
        if done == 0:
            raise PromptError("Stopped before any row was scored.")
        pred = [labels[int(j)] for j in calibrated[:done].argmax(-1)]
        gold = gold[:done]
        result = scores(gold, pred, labels)
        result.update(
            {
                "n": done,
                "stopped_early": done < len(texts),
                "seconds": round(seconds, 3),
                "seconds_per_example": round(seconds / done, 4),
                "setting": self.setting.summary(),
                "backbone": self.config.backbone,
                "model_kind": self.model.kind,
                "shots": self.selector.k,
                "shot_selection": self.config.shot_selection if self.selector.k else "",
                "calibrated": bool(self.config.calibrate),
                "calibration": self.config.calibration if self.config.calibrate else "",
                "verbalizers": self.setting.verbalizers,
                "predictions": pred,
            }
        )
        if not self.config.calibrate:
            result["uncalibrated_accuracy"] = result["accuracy"]
        else:
            raw_pred = [labels[int(j)] for j in raw[:done].argmax(-1)]
            result["uncalibrated_accuracy"] = float(accuracy_score(gold, raw_pred))
        return result


def scores(gold: list[str], pred: list[str], labels: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    return {
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)),
        "labels": labels,
        "confusion": confusion_matrix(gold, pred, labels=labels).tolist(),
    }


# ---- data --------------------------------------------------------------------------------------
@dataclass
class MeasureData:
    rows: pd.DataFrame  # the rows measured (text, label): the head of the test split
    pool: pd.DataFrame  # where few-shot examples come from: the training split
    labels: list[str]
    source: str
    warnings: list[str] = field(default_factory=list)


def measure_data(config: PromptConfig) -> MeasureData:
    """The data's test split (as a fine-tuning run with the same seed and default fractions
    splits it) cut to ``limit`` rows, and its training split as the example pool."""
    from engine.data import prepare_data

    if not config.data:
        raise DataError("Choose a labelled data file to measure on.")
    defaults = RunConfig()
    spec = prepare_data(
        config.data,
        config.text_column,
        config.label_column,
        validation_fraction=defaults.validation_fraction,
        test_fraction=defaults.test_fraction,
        seed=config.seed,
    )
    rows = spec.test.head(int(config.limit)).reset_index(drop=True)
    warnings = list(spec.warnings)
    if len(spec.test) < config.limit:
        warnings.append(f"The test split has {len(spec.test)} rows; all are measured.")
    return MeasureData(rows, spec.train, spec.labels, str(config.data), warnings)


# ---- measurements on disk -------------------------------------------------------------------------
def measurements_path(output_dir: str | Path = "runs") -> Path:
    return Path(output_dir) / "playground" / "measurements.jsonl"


def record_measurement(
    result: dict,
    config: PromptConfig | None = None,
    *,
    output_dir: str | Path = "runs",
    kind: str = "prompt",
    name: str = "",
    owner: str | None = None,
) -> dict:
    """Append one line to the comparison table (without the per-row predictions); ``owner``:
    the signed-in user it belongs to (the studio with --auth shows each user their own)."""
    entry = {k: v for k, v in result.items() if k not in ("predictions",)}
    entry.update(
        {
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
            "kind": kind,
            "name": name or result.get("setting", ""),
        }
    )
    if owner:
        entry["owner"] = owner
    if config is not None:
        entry["config"] = config.to_dict()
        entry["data"] = config.data or entry.get("data", "")
    path = measurements_path(output_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        fh.flush()
    return entry


def load_measurements(
    output_dir: str | Path = "runs", data: str = "", owner: str | None = None
) -> list[dict]:
    """Every recorded measurement (of ``data`` only, when given; ``owner``'s only, when
    given); broken lines are skipped."""
    path = measurements_path(output_dir)
    out = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(entry, dict) or (owner and entry.get("owner") != owner):
                continue
            if not data or _same_file(entry.get("data", ""), data):
                out.append(entry)
    return out


def _same_file(a: str, b: str) -> bool:
    """The same path, or two files with the same content (an upload copied into the app's
    folder and the original on disk); two different files that share a name are not."""
    if not a or not b:
        return False
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
        return _digest(str(Path(a).resolve())) == _digest(str(Path(b).resolve())) is not None
    except OSError:
        return a == b


def _digest(path: str) -> str | None:
    p = Path(path)
    if not p.is_file():
        return None
    st = p.stat()
    return _digest_of(path, st.st_size, st.st_mtime)


@lru_cache(maxsize=64)
def _digest_of(path: str, size: int, mtime: float) -> str:
    import hashlib

    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def comparison_table(entries: list[dict]) -> pd.DataFrame:
    """One row per measurement, best accuracy first."""
    cols = ["name", "kind", "accuracy", "macro_f1", "n", "seconds_per_example", "time"]
    if not entries:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame([{c: e.get(c) for c in cols} for e in entries])
    for c in ("accuracy", "macro_f1"):
        frame[c] = frame[c].astype(float).round(4)
    return frame.sort_values(["accuracy", "time"], ascending=[False, True]).reset_index(drop=True)


def measure_run(run_dir: str | Path, data: MeasureData, config: PromptConfig | None = None) -> dict:
    """A fine-tuned classification run on the same rows, scored like a prompt."""
    from engine.predict import PredictError, get_predictor, run_task

    run_dir = Path(run_dir)
    if run_task(run_dir) != "classification":
        raise PromptError(
            f"{run_dir.name} is a {run_task(run_dir)} run; only text-"
            "classification runs can be measured on these rows."
        )
    try:
        predictor = get_predictor(run_dir)
    except PredictError as e:
        raise PromptError(str(e)) from None
    missing = sorted(set(data.labels) - set(predictor.labels))
    rows = data.rows
    start = time.perf_counter()
    probs = predictor.predict_proba(rows["text"].astype(str).tolist())
    seconds = time.perf_counter() - start
    pred = [predictor.labels[int(i)] for i in probs.argmax(-1)]
    result = scores(rows["label"].astype(str).tolist(), pred, data.labels)
    result.update(
        {
            "n": len(rows),
            "seconds": round(seconds, 3),
            "seconds_per_example": round(seconds / max(1, len(rows)), 4),
            "setting": f"fine-tuned run {run_dir.name}",
            "run_dir": str(run_dir),
            "data": data.source,
        }
    )
    notes = []
    if missing:
        notes.append(f"the run never learned label(s) {', '.join(missing)}")
    cfg = (
        json.loads((run_dir / "config.json").read_text())
        if (run_dir / "config.json").exists()
        else {}
    )
    defaults = RunConfig()
    same_split = (
        _same_file(cfg.get("data", ""), data.source)
        and not cfg.get("test_data")
        and cfg.get("seed", 42) == (config.seed if config else 42)
        and cfg.get("test_fraction", defaults.test_fraction) == defaults.test_fraction
        and cfg.get("validation_fraction", defaults.validation_fraction)
        == defaults.validation_fraction
        and not cfg.get("max_rows")
    )
    if not same_split:
        notes.append(
            "the run was trained on another file or split, so some of these rows may "
            "have been in its training data"
        )
    result["note"] = "; ".join(notes)
    return result


# ---- explanations --------------------------------------------------------------------------------
_WORD = re.compile(r"\S+")


def _segments(text: str, spans: list[tuple[int, int]], values: list[float]) -> list[dict]:
    """The text cut into scored word segments and unscored gaps (for highlighted text)."""
    out, pos = [], 0
    for (s, e), v in zip(spans, values):
        if s > pos:
            out.append({"text": text[pos:s], "score": None})
        out.append({"text": text[s:e], "score": float(v)})
        pos = e
    if pos < len(text):
        out.append({"text": text[pos:], "score": None})
    return out


def explain(
    run_dir: str | Path,
    text: str,
    method: str = "occlusion",
    target: str = "",
    steps: int = 32,
    max_words: int = 200,
) -> dict:
    """Word attributions of a fine-tuned classifier's prediction.

    occlusion: a word's score is how much the probability of the explained label drops when
    the word is removed (any classifier, SetFit included). integrated-gradients: captum's
    LayerIntegratedGradients over the input embeddings from an all-padding baseline, summed
    per token and per word. Scores are scaled so the largest magnitude is 1 (positive: for the
    label; negative: against)."""
    from engine.predict import PredictError, get_predictor, run_task

    text = str(text or "").strip()
    if not text:
        raise PromptError("Type a text to explain.")
    if run_task(run_dir) != "classification":
        raise PromptError("Explanations are for text-classification runs.")
    try:
        predictor = get_predictor(run_dir)
    except PredictError as e:
        raise PromptError(str(e)) from None
    probs = predictor.predict_proba([text])[0]
    labels = predictor.labels
    t = labels.index(target) if target in labels else int(np.argmax(probs))
    spans = [m.span() for m in _WORD.finditer(text)][:max_words]
    if method == "occlusion":
        variants = [text[:s] + text[e:] for s, e in spans]
        drop = probs[t] - predictor.predict_proba(variants)[:, t] if variants else np.zeros(0)
        values, extra = list(drop), {}
    elif method in ("integrated-gradients", "ig"):
        values, extra = _integrated_gradients(predictor, text, spans, t, steps)
    else:
        raise PromptError(
            f"Unknown explanation method {method!r}; use occlusion or integrated-gradients."
        )
    peak = max((abs(v) for v in values), default=0.0) or 1.0
    scaled = [v / peak for v in values]
    return {
        "label": labels[t],
        "probability": float(probs[t]),
        "method": method,
        "probabilities": {l: float(p) for l, p in zip(labels, probs)},
        "segments": _segments(text, spans, scaled),
        "words": [
            {"word": text[s:e], "score": float(v), "raw": float(r)}
            for (s, e), v, r in zip(spans, scaled, values)
        ],
        **extra,
    }


def _integrated_gradients(
    predictor, text: str, spans: list[tuple[int, int]], target: int, steps: int
) -> tuple[list[float], dict]:
    import torch
    from captum.attr import LayerIntegratedGradients

    if getattr(predictor, "_setfit", None) is not None or not hasattr(predictor, "model"):
        raise PromptError(
            "Integrated gradients needs a transformers classifier; this run is a "
            "SetFit model. Use occlusion."
        )
    model, tok = predictor.model, predictor.tokenizer
    enc = tok(
        [text],
        truncation=True,
        max_length=predictor.max_length,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    offsets = enc.pop("offset_mapping")[0].tolist()
    enc = {k: v.to(model.device) for k, v in enc.items()}
    ids, mask = enc["input_ids"], enc["attention_mask"]
    special = set(tok.all_special_ids)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    baseline = torch.tensor(
        [[i if i in special else pad for i in ids[0].tolist()]], device=ids.device
    )
    extra_inputs = {k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask")}

    def forward(input_ids, attention_mask):
        out = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            **{k: v.expand(input_ids.shape[0], -1) for k, v in extra_inputs.items()},
        )
        return torch.softmax(out.logits.float(), -1)[:, target]

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    with predictor._lock:
        attributions, delta = lig.attribute(
            ids,
            baselines=baseline,
            additional_forward_args=(mask,),
            n_steps=steps,
            internal_batch_size=steps,
            return_convergence_delta=True,
        )
    per_token = attributions.sum(-1)[0].detach().float().cpu().numpy()
    values = [0.0] * len(spans)
    for tok_i, (s, e) in enumerate(offsets):
        if e <= s:
            continue  # special tokens
        for w, (ws, we) in enumerate(spans):
            if s < we and e > ws:
                values[w] += float(per_token[tok_i])
                break
    return values, {"convergence_delta": float(delta.abs().max())}


# ---- the CLI entry ------------------------------------------------------------------------------
def zeroshot(
    config: PromptConfig,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
    record: bool = True,
) -> dict:
    """Measure one setting on the data (what ``python -m engine zeroshot`` prints)."""
    data = measure_data(config)
    clf = PromptClassifier(config, data.labels, data.pool)
    result = clf.measure(data.rows, progress, stop)
    result["warnings"] = data.warnings
    result["data"] = data.source
    if record:
        record_measurement(result, config, output_dir=config.output_dir)
    return result
