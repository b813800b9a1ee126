"""Generation tasks: summarization, translation and dialogue by instruction fine-tuning of a
causal language model (one module serves the three task names; ``config.task`` says which).

Data
    Any table ``engine.data.load_table`` reads, with a source and a target column
    (``config.text_column`` / ``config.label_column``, else inferred from conventional names:
    source/target, text/summary, article/highlights, document/summary, input/output,
    prompt/response, question/answer, or the two language columns of a parallel corpus such as
    en/es). Frames in ``TaskData`` have the columns "source" and "target".

Prompting
    An instruction template per task (``DEFAULT_TEMPLATES``; ``config.prompt_template`` replaces
    it, ``{source}`` marks the input). With a tokenizer that has a chat template the instruction
    is the user turn and the target the assistant turn (ended by the template's end-of-turn
    token, e.g. SmolLM2's ``<|im_end|>``); without one the text is
    ``instruction + "\\n\\nResponse: " + target + eos``. The prompt and the target are tokenised
    separately and concatenated, so training sees exactly the prompt ids that generation later
    continues from. The loss covers the target (and its end-of-turn token) only: every prompt
    position is labelled -100.

Packing (``config.packing``)
    Training examples (shuffled with the run's seed) are packed greedily, in order, into rows of
    at most ``max_length`` tokens; no example is split. Position ids restart at 0 for every
    example and the rows carry no attention mask, so transformers (>= 4.53, masking_utils)
    detects the packed format from the position ids and gives every example its own causal
    block: an example never attends to its neighbours and its logits equal those of the example
    alone (tests/unit/test_generation.py checks this). The collator pads a row's tail as one more
    segment with labels -100, and passes ``use_cache=False``: with a cache (which a model with
    ``use_cache`` makes even while training) transformers ignores the packed format and the
    examples would attend to each other. Validation and test rows are never packed, so their
    losses compare across runs. Prompt-learning strategies train unpacked (their virtual tokens
    would be shared by a row's examples).

Evaluation
    Validation loss during training picks the best checkpoint (DEFAULT_METRIC "loss").
    Generation is slow on a CPU, so it happens only at the end: the first
    ``config.generation_eval_rows`` test rows are generated greedily (batched, left padded,
    stopped at eos / end of turn) by the untrained backbone ("before") and the fine-tuned model
    ("after") from the same prompts, and scored with ``score``: ROUGE-1/2/L, BLEU, chrF and exact
    match, all on a 0-100 scale; "loss" is the loss per target token on those same rows.

Reusable pieces (e.g. for generative QA): ``Formatter`` (prompt rendering, response-only label
masking), ``CausalCollator``, ``generate`` and ``score``.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from engine.data import DataError, load_table
from engine.tasks import TaskData

DEFAULT_METRIC = "loss"
MODEL_CLASS = ("AutoModelForCausalLM", "CAUSAL_LM")
DISTRIBUTED = True  # trains under torchrun (rank 0 writes the run folder)
INPUT_FIELDS = ["text"]
MIN_ROWS = 8  # fewer usable rows cannot give train / validation / test rows
MAX_EXAMPLES = 50  # generated examples kept in metrics.json
PROGRESS_SECONDS = 30.0  # a progress message at most this often while generating
CPU_GENERATION_BATCH = 16  # prompts generated together on a CPU (more only adds padding work)

DEFAULT_TEMPLATES = {
    "summarization": "Summarize the following text.\n\n{source}",
    "translation": "Translate the following text into {target_language}:\n{source}",
    "dialogue": "{source}",
}
_TRANSLATE_ANY = "Translate the following text:\n{source}"
PLAIN_RESPONSE = "\n\nResponse: "  # between instruction and target without a chat template

# Pairs of (source, target) column names, in order of preference (case-insensitive).
COLUMN_PAIRS = [
    ("source", "target"),
    ("src", "tgt"),
    ("text", "summary"),
    ("article", "highlights"),
    ("document", "summary"),
    ("article", "summary"),
    ("dialogue", "summary"),
    ("input", "output"),
    ("prompt", "response"),
    ("prompt", "completion"),
    ("instruction", "response"),
    ("instruction", "output"),
    ("question", "answer"),
    ("query", "response"),
    ("context", "response"),
    ("text", "target"),
    ("input", "target"),
]
SOURCE_NAMES = (
    "source",
    "src",
    "text",
    "article",
    "document",
    "dialogue",
    "input",
    "prompt",
    "instruction",
    "question",
    "query",
    "context",
)
TARGET_NAMES = (
    "target",
    "tgt",
    "summary",
    "highlights",
    "output",
    "response",
    "completion",
    "answer",
    "reference",
    "translation",
)
LANGUAGES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ru": "Russian",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "ar": "Arabic",
    "hi": "Hindi",
    "tr": "Turkish",
    "pl": "Polish",
    "sv": "Swedish",
    "da": "Danish",
    "fi": "Finnish",
    "no": "Norwegian",
    "cs": "Czech",
    "el": "Greek",
    "he": "Hebrew",
    "uk": "Ukrainian",
    "vi": "Vietnamese",
    "id": "Indonesian",
    "ca": "Catalan",
    "ro": "Romanian",
    "hu": "Hungarian",
    "th": "Thai",
}
_LANG_ALIASES = {
    **{k: k for k in LANGUAGES},
    **{v.lower(): k for k, v in LANGUAGES.items()},
    "eng": "en",
    "spa": "es",
    "fra": "fr",
    "fre": "fr",
    "deu": "de",
    "ger": "de",
    "ita": "it",
    "por": "pt",
    "zho": "zh",
    "chi": "zh",
    "jpn": "ja",
    "kor": "ko",
    "rus": "ru",
    "nld": "nl",
    "cn": "zh",
    "jp": "ja",
}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")


def DEFAULT_STRATEGY(family: str) -> str:  # noqa: N802 - the contract's name
    return "lora"


_ENCODER = "Generation needs a decoder backbone such as smollm2-135m-instruct; {b} is an encoder."
# Found by training every strategy for 30 steps on a tiny Llama (SmolLM2's shape: grouped-query
# attention, tied embeddings) as a causal LM, saving, reloading, and checking that greedy
# ``generate`` gives the tokens a step-by-step forward pass gives, batched (left padded) as alone.
# Every LoRA variant, AdaLoRA, IA3, LoHa, LoKr, VeRA, full, prompt and p-tuning pass (the last two
# once ``drop_position_compat`` removes the classification-only wrapper); BitFit is refused by
# engine.strategies.support on Llama (no biases).
_UNSUPPORTED = {
    "setfit": "SetFit trains sentence-embedding classifiers; it cannot generate text.",
    "head": "Head only trains a new classification head, and a generation model has none (it "
    "writes text with its pretrained language-model layer); pick LoRA.",
    "prefix": "Prefix tuning cannot generate correctly with transformers 5 and peft 0.21 (the "
    "prefix and the generation cache disagree after the first token); pick LoRA or "
    "prompt tuning.",
}


def unsupported(strategy: str, family: str, backbone: str = "this backbone") -> str | None:
    """None when ``strategy`` trains generation on a ``family`` backbone, else why not."""
    if family != "decoder":
        return _ENCODER.format(b=backbone)
    return _UNSUPPORTED.get(strategy)


# ---------------------------------------------------------------------------------------------
# data


def language_code(name: str) -> str:
    """ "es" for "es", "ES", "spa", "Spanish", "es_rv1909"-style names; "" when not a language."""
    key = (name or "").strip().lower()
    if key in _LANG_ALIASES:
        return _LANG_ALIASES[key]
    head = re.split(r"[_\-\s.]", key)[0]
    return _LANG_ALIASES.get(head, "") if head and len(head) <= 3 else ""


def language_name(name: str) -> str:
    code = language_code(name)
    return LANGUAGES.get(code, "")


def _resolve(df: pd.DataFrame, wanted: str, name: str, role: str) -> str:
    from engine.data import _resolve_column

    return _resolve_column(df, wanted, name, role)


def _textual(df: pd.DataFrame, col: str) -> bool:
    values = df[col].dropna()
    if values.empty:
        return False
    strings = values[values.map(lambda v: isinstance(v, str))]
    if len(strings) < 0.5 * len(values):
        return False
    return not strings.str.fullmatch(r"[\d\s.,:;/+\-#()%$€£]*").mean() > 0.5


def infer_columns(
    df: pd.DataFrame,
    name: str = "the file",
    source: str = "",
    target: str = "",
    task: str = "",
    target_language: str = "",
) -> tuple[str, str]:
    """(source column, target column): the ones given (matched case-insensitively, DataError
    with a "did you mean" otherwise), the rest inferred from conventional names, language
    columns of a parallel corpus, or the only two text columns."""
    columns = [str(c) for c in df.columns]
    source = _resolve(df, source, name, "source") if source else ""
    target = _resolve(df, target, name, "target") if target else ""
    lowered = {c.strip().lower(): c for c in reversed(columns)}
    if not (source and target):
        for s, t in COLUMN_PAIRS:
            if s in lowered and t in lowered and lowered[s] != lowered[t]:
                if (not source or source == lowered[s]) and (not target or target == lowered[t]):
                    source, target = lowered[s], lowered[t]
                    break
    if not (source and target):  # a parallel corpus: two language columns
        langs = [
            c for c in columns if language_code(c) and _textual(df, c) and c not in (source, target)
        ]
        wanted = language_code(target_language) if target_language else ""
        if not target and not source and len(langs) >= 2:
            if wanted and any(language_code(c) == wanted for c in langs):
                target = next(c for c in langs if language_code(c) == wanted)
                source = next(c for c in langs if c != target)
            else:
                source, target = langs[0], langs[1]
        elif not target and source and language_code(source) and langs:
            target = next((c for c in langs if language_code(c) == wanted), langs[0])
        elif not source and target and language_code(target) and langs:
            source = langs[0]
    if not target and source:
        target = next(
            (lowered[n] for n in TARGET_NAMES if n in lowered and lowered[n] != source), ""
        )
    if not source and target:
        source = next(
            (lowered[n] for n in SOURCE_NAMES if n in lowered and lowered[n] != target), ""
        )
    if not (source and target):
        texts = [c for c in columns if c not in (source, target) and _textual(df, c)]
        if not source and not target and len(texts) == 2:
            source, target = texts
        elif bool(source) != bool(target) and len(texts) == 1:
            source, target = source or texts[0], target or texts[0]
    if not (source and target):
        missing = (
            "source and target columns"
            if not (source or target)
            else ("target column" if source else "source column")
        )
        raise DataError(
            f"Could not tell which {missing} of {name} to use (columns: "
            f"{', '.join(columns)}); pick the source as the text column and the "
            "target as the label column."
        )
    if source == target:
        raise DataError(
            f"The source and target columns of {name} are both {source!r}; pick two "
            "different columns."
        )
    return source, target


def _cell(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if not isinstance(value, str) and pd.isna(value) is True:
        return None
    text = str(value).strip()
    return text or None


def _rows(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def clean_pairs(
    df: pd.DataFrame, source: str, target: str, name: str, warnings: list[str]
) -> pd.DataFrame:
    """The "source"/"target" frame; DataError for empty targets or no source at all."""
    src = df[source].map(_cell)
    tgt = df[target].map(_cell)
    if src.isna().all():
        raise DataError(
            f"The source column {source!r} in {name} is empty in every row; pick the "
            "column that holds the input text."
        )
    if tgt.isna().all():
        raise DataError(
            f"The target column {target!r} in {name} is empty in every row; pick the "
            "column that holds the expected output."
        )
    blank = src.isna() & tgt.isna()
    bad = [i + 1 for i in np.flatnonzero((tgt.isna() & ~blank).to_numpy())]
    if bad:
        raise DataError(
            f"{len(bad)} row(s) of {name} have a source but an empty target in "
            f"{target!r} (data rows {_rows(bad)}, counting the first row under the "
            "header as 1); fill the targets in or delete those rows."
        )
    no_source = int((src.isna() & ~blank).sum())
    if no_source:
        warnings.append(
            f"{no_source} row(s) of {name} have a target but no source in "
            f"{source!r}; they were dropped."
        )
    keep = src.notna() & tgt.notna()
    if int(blank.sum()):
        warnings.append(f"{int(blank.sum())} empty row(s) of {name} were dropped.")
    return pd.DataFrame(
        {"source": src[keep].astype(str), "target": tgt[keep].astype(str)}
    ).reset_index(drop=True)


def resolve_template(config, target_column: str = "", source_column: str = "") -> str:
    """The instruction template the run uses ({source} marks the input)."""
    template = (getattr(config, "prompt_template", "") or "").strip("\n")
    if not template.strip():
        template = DEFAULT_TEMPLATES.get(config.task, "{source}")
    lang = target_language(config, target_column)
    if "{target_language}" in template:
        if lang:
            template = template.replace("{target_language}", lang)
        elif template == DEFAULT_TEMPLATES["translation"]:
            template = _TRANSLATE_ANY
        else:
            template = template.replace("{target_language}", "the target language")
    if "{source}" not in template:
        template = template.rstrip() + "\n\n{source}"
    return template


def target_language(config, target_column: str = "") -> str:
    """The language translated into: config.target_language, else the target column's name when
    it names a language (es -> Spanish), else ""."""
    named = (getattr(config, "target_language", "") or "").strip()
    if named:
        return language_name(named) or named
    if config.task == "translation" and target_column:
        return language_name(target_column)
    return ""


def render(template: str, source: str) -> str:
    """The instruction for one source (plain replacement: other braces stay as they are)."""
    return template.replace("{source}", source)


def split_frame(
    frame: pd.DataFrame, validation_fraction: float, test_fraction: float, seed: int, has_test: bool
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Shuffled train / validation / test with at least one row in each held-out part."""
    order = np.random.default_rng(seed).permutation(len(frame))
    shuffled = frame.iloc[order].reset_index(drop=True)
    n = len(shuffled)
    n_test = 0 if has_test else max(1, round(n * test_fraction))
    n_val = max(1, round(n * validation_fraction))
    if n - n_test - n_val < 1:
        raise DataError(
            f"Only {n} usable rows: too few to hold out validation and test rows and "
            "still train; add rows (a few hundred work much better)."
        )
    test = shuffled.iloc[:n_test].reset_index(drop=True)
    validation = shuffled.iloc[n_test : n_test + n_val].reset_index(drop=True)
    train = shuffled.iloc[n_test + n_val :].reset_index(drop=True)
    return train, validation, test


def _stats(lengths: list[int]) -> dict:
    if not lengths:
        return {"mean": 0, "p95": 0, "max": 0}
    a = np.asarray(lengths)
    return {
        "mean": round(float(a.mean()), 1),
        "p95": int(np.percentile(a, 95)),
        "max": int(a.max()),
    }


def _tokenizer_for(config):
    """The backbone's tokenizer when it is available locally (None otherwise: no download)."""
    try:
        from engine.backbones import resolve_backbone

        path = resolve_backbone(config.backbone, download=False)
        return load_tokenizer(path)
    except Exception:  # noqa: BLE001 - length checks fall back to a word-count estimate
        return None


def prepare(config) -> TaskData:
    """Load, check and split the source/target table the configuration names."""
    name = Path(config.data).name if config.data else "the data"
    if not config.data:
        raise DataError("No data file chosen: upload a table with a source and a target column.")
    warnings: list[str] = []
    df = load_table(config.data)
    source, target = infer_columns(
        df,
        name,
        config.text_column,
        config.label_column,
        config.task,
        getattr(config, "target_language", ""),
    )
    frame = clean_pairs(df, source, target, name, warnings)
    if len(frame) < MIN_ROWS:
        raise DataError(
            f"{name} has only {len(frame)} usable rows (a source in {source!r} and a "
            f"target in {target!r}); at least {MIN_ROWS} are needed, and a few "
            "hundred work much better."
        )
    rows_total = len(frame)
    if config.max_rows and len(frame) > config.max_rows:
        frame = frame.sample(n=config.max_rows, random_state=config.seed).reset_index(drop=True)
        warnings.append(
            f"Using a sample of {config.max_rows} of the {rows_total} rows (the max rows setting)."
        )
    test_source = ""
    if config.test_data:
        test_name = Path(config.test_data).name
        tdf = load_table(config.test_data)
        ts = _resolve(tdf, source, test_name, "source")
        tt = _resolve(tdf, target, test_name, "target")
        test = clean_pairs(tdf, ts, tt, test_name, warnings)
        train, validation, _ = split_frame(
            frame, config.validation_fraction, 0.0, config.seed, has_test=True
        )
        test_source = str(config.test_data)
    else:
        train, validation, test = split_frame(
            frame, config.validation_fraction, config.test_fraction, config.seed, has_test=False
        )
    template = resolve_template(config, target, source)
    if (config.prompt_template or "").strip() and "{source}" not in config.prompt_template:
        warnings.append("The prompt template has no {source}; the source text is added after it.")
    info = {
        "template": template,
        "target_language": target_language(config, target),
        "rows_total": rows_total,
        "test_source": test_source,
    }
    info.update(_length_checks(config, template, frame, warnings))
    return TaskData(
        task=config.task,
        train=train,
        validation=validation,
        test=test,
        labels=[],
        warnings=warnings,
        columns={"source": source, "target": target},
        info=info,
    )


def _length_checks(config, template: str, frame: pd.DataFrame, warnings: list[str]) -> dict:
    tokenizer = _tokenizer_for(config)
    sources, targets = frame["source"].tolist(), frame["target"].tolist()
    if tokenizer is None:  # about 1.3 tokens per word
        count = lambda texts: [max(1, round(1.3 * len(t.split()))) for t in texts]  # noqa: E731
        overhead = count([render(template, "")])[0] + 4
        estimated = True
    else:

        def count(texts):
            return [
                len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]
            ]

        fmt = Formatter(tokenizer, template)
        overhead = len(fmt.prompt_ids("")) + len(fmt.end_ids)
        estimated = False
    src_len, tgt_len = count(sources), count(targets)
    n = len(frame)
    long_targets = [t for t in tgt_len if t > config.max_new_tokens]
    if long_targets:
        warnings.append(
            f"{len(long_targets)} of {n} targets are longer than max new tokens "
            f"({config.max_new_tokens}; longest {max(tgt_len)} tokens), so generated "
            "outputs will be cut there; raise max new tokens to about "
            f"{int(np.percentile(tgt_len, 95)) + 8}."
        )
    total = [s + t + overhead for s, t in zip(src_len, tgt_len)]
    cut = [x for x in total if x > config.max_length]
    if cut:
        warnings.append(
            f"{len(cut)} of {n} examples are longer than max length "
            f"({config.max_length} tokens with the instruction and the target; "
            f"longest {max(total)}), so their sources will be truncated; raise max "
            f"length to about {int(np.percentile(total, 95))} to keep them whole."
        )
    return {
        "source_tokens": _stats(src_len),
        "target_tokens": _stats(tgt_len),
        "prompt_overhead_tokens": overhead,
        "token_counts_estimated": estimated,
    }


# ---------------------------------------------------------------------------------------------
# prompts, labels and batches


def load_tokenizer(path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.sep_token or tokenizer.unk_token
    tokenizer.padding_side = "left"  # for generation; training pads in CausalCollator
    return tokenizer


class Formatter:
    """Turns (instruction, target) pairs into token ids with response-only labels.

    ``template``: the instruction template with {source}. With a chat template the prompt is
    ``apply_chat_template([user: instruction], add_generation_prompt=True)`` and the target ends
    with what the template writes after an assistant message (its end-of-turn token); without
    one the prompt is ``[bos] instruction + PLAIN_RESPONSE`` and the target ends with eos (or the
    separator token of BERT-style tokenizers)."""

    def __init__(self, tokenizer, template: str = "{source}"):
        self.tokenizer = tokenizer
        self.template = template
        self.chat = bool(getattr(tokenizer, "chat_template", None))
        end = ""
        if self.chat:
            end = self._turn_end()
        eos = tokenizer.eos_token or (tokenizer.sep_token if not self.chat else None)
        if end:
            self.end_ids = tokenizer(end, add_special_tokens=False)["input_ids"]
        elif eos:
            self.end_ids = [tokenizer.convert_tokens_to_ids(eos)]
        else:
            self.end_ids = []
        special = set(tokenizer.all_special_ids) | set(
            getattr(tokenizer, "added_tokens_decoder", {}) or {}
        )
        # the end of a turn stops generation when it is one token or starts with a special one
        # (a template that ends turns with plain text relies on eos alone)
        stops = (
            set(self.end_ids[:1])
            if len(self.end_ids) == 1 or (self.end_ids and self.end_ids[0] in special)
            else set()
        )
        if tokenizer.eos_token_id is not None:
            stops.add(tokenizer.eos_token_id)
        if not self.chat and tokenizer.sep_token_id is not None and tokenizer.eos_token is None:
            stops.add(tokenizer.sep_token_id)
        self.stop_ids = sorted(stops)
        bos = tokenizer.bos_token_id
        self._bos = [bos] if (bos is not None and not self.chat) else []

    def _turn_end(self) -> str:
        """What the chat template writes after an assistant message, without trailing
        whitespace (e.g. "<|im_end|>"); "" when the template does not render a plain
        user/assistant turn."""
        tok, marker = self.tokenizer, "XqZ7 answer"
        try:
            prompt = tok.apply_chat_template(
                [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
            )
            full = tok.apply_chat_template(
                [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": marker}],
                tokenize=False,
            )
        except Exception:  # noqa: BLE001 - templates that demand other roles
            return ""
        if not full.startswith(prompt) or marker not in full[len(prompt) :]:
            return ""
        rest = full[len(prompt) :].split(marker, 1)[1]
        return rest.rstrip()

    def prompt_text(self, instruction: str) -> str:
        if self.chat:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": instruction}],
                tokenize=False,
                add_generation_prompt=True,
            )
        return instruction + PLAIN_RESPONSE

    def prompt_ids(self, source: str, max_length: int | None = None) -> list[int]:
        """Token ids of the prompt for ``source``; the source is cut (from its end) so that the
        prompt has at most ``max_length`` tokens."""
        ids = self._ids(source)
        if max_length is None or len(ids) <= max_length:
            return ids
        src = self.tokenizer(source, add_special_tokens=False)["input_ids"]
        keep = len(src) - (len(ids) - max_length)
        for _ in range(8):  # re-tokenising the cut text can differ by a token or two
            if keep <= 0:
                break
            ids = self._ids(self.tokenizer.decode(src[:keep], skip_special_tokens=True))
            if len(ids) <= max_length:
                return ids
            keep -= len(ids) - max_length
        return self._ids("")[:max_length]

    def _ids(self, source: str) -> list[int]:
        return (
            self._bos
            + self.tokenizer(
                self.prompt_text(render(self.template, source)), add_special_tokens=False
            )["input_ids"]
        )

    def encode(self, source: str, target: str, max_length: int) -> dict:
        """input_ids and labels (-100 on the prompt) of one example, at most max_length tokens.

        Too long: the source is cut first, keeping at least half of the room for it (or all of
        it when shorter); then the target is cut (losing its end-of-turn token)."""
        prompt = self.prompt_ids(source)
        answer = self.tokenizer(target, add_special_tokens=False)["input_ids"] + self.end_ids
        if len(prompt) + len(answer) > max_length:
            overhead = len(self.prompt_ids(""))
            src_len = len(prompt) - overhead
            room = max_length - overhead
            src_keep = max(min(src_len, room // 2), room - len(answer))
            src_keep = max(0, min(src_keep, src_len))
            if src_keep < src_len:
                prompt = self.prompt_ids(source, overhead + src_keep)
            answer = answer[: max(0, max_length - len(prompt))]
            prompt = prompt[:max_length]
        return {"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer}


def tokenize_pairs(fmt: Formatter, frame: pd.DataFrame, max_length: int):
    """A datasets.Dataset of input_ids / labels / length for the frame's source/target rows."""
    from datasets import Dataset

    rows = [fmt.encode(s, t, max_length) for s, t in zip(frame["source"], frame["target"])]
    return Dataset.from_dict(
        {
            "input_ids": [r["input_ids"] for r in rows],
            "labels": [r["labels"] for r in rows],
            "length": [len(r["input_ids"]) for r in rows],
        }
    )


def pack(examples: list[dict], max_length: int) -> list[dict]:
    """Greedy, order-keeping packing of encoded examples into rows of <= max_length tokens;
    position ids restart at 0 for every example (see the module docstring)."""
    rows: list[dict] = []
    cur: dict = {"input_ids": [], "labels": [], "position_ids": []}
    for ex in examples:
        n = len(ex["input_ids"])
        if cur["input_ids"] and len(cur["input_ids"]) + n > max_length:
            rows.append(cur)
            cur = {"input_ids": [], "labels": [], "position_ids": []}
        cur["input_ids"] += list(ex["input_ids"])
        cur["labels"] += list(ex["labels"])
        cur["position_ids"] += list(range(n))
    if cur["input_ids"]:
        rows.append(cur)
    return rows


def packed_dataset(dataset, max_length: int, seed: int):
    from datasets import Dataset

    order = np.random.default_rng(seed).permutation(len(dataset))
    examples = [dataset[int(i)] for i in order]
    rows = pack(examples, max_length)
    return Dataset.from_dict(
        {k: [r[k] for r in rows] for k in ("input_ids", "labels", "position_ids")}
        | {"length": [len(r["input_ids"]) for r in rows]}
    )


class CausalCollator:
    """Pads a batch on the right: input_ids with the pad id, labels with -100. Packed rows (with
    position_ids) get no attention mask and a tail that is its own position segment; plain rows
    get an attention mask."""

    def __init__(self, pad_token_id: int):
        self.pad = int(pad_token_id)

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        packed = "position_ids" in features[0]
        ids, labels, extra = [], [], []
        for f in features:
            n = len(f["input_ids"])
            gap = width - n
            ids.append(list(f["input_ids"]) + [self.pad] * gap)
            labels.append(list(f["labels"]) + [-100] * gap)
            if packed:
                extra.append(list(f["position_ids"]) + list(range(gap)))
            else:
                extra.append([1] * n + [0] * gap)
        batch = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}
        batch["position_ids" if packed else "attention_mask"] = torch.tensor(extra)
        if packed:
            # transformers only reads packed rows from the position ids when there is no
            # attention mask and no cache (a model with use_cache makes one even in training)
            batch["use_cache"] = False
        return batch


# ---------------------------------------------------------------------------------------------
# generation and scores


def generate(
    model,
    tokenizer,
    prompts: list,
    max_new_tokens: int = 64,
    batch_size: int = 8,
    stop_ids: Iterable[int] | None = None,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[str | None]:
    """Generate a continuation of every prompt (token id lists, or strings tokenised without
    special tokens); returns the decoded new text, stripped, per prompt (None for prompts not
    reached when ``should_stop`` turned true).

    Batched by prompt length with left padding; greedy unless ``do_sample``; each answer stops
    at any of ``stop_ids`` (default: the tokenizer's eos) or after ``max_new_tokens``.
    ``progress(done, total)`` is called after every batch."""
    import torch

    encoded = [
        p if isinstance(p, (list, tuple)) else tokenizer(p, add_special_tokens=False)["input_ids"]
        for p in prompts
    ]
    stops = (
        list(stop_ids)
        if stop_ids is not None
        else ([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])
    )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (stops or [0])[0]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out: list[str | None] = [None] * len(encoded)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    done = 0
    try:
        for start in range(0, len(order), max(1, batch_size)):
            if should_stop is not None and should_stop():
                break
            idx = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in idx)
            ids = torch.tensor(
                [[pad] * (width - len(encoded[i])) + list(encoded[i]) for i in idx], device=device
            )
            mask = torch.tensor(
                [[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in idx],
                device=device,
            )
            kwargs = dict(
                max_new_tokens=max_new_tokens,
                pad_token_id=pad,
                eos_token_id=stops or None,
                do_sample=do_sample,
            )
            if do_sample:
                kwargs.update(temperature=max(temperature, 1e-5), top_p=top_p)
            else:
                kwargs.update(temperature=None, top_p=None, top_k=None)
            with torch.random.fork_rng(devices=[]), torch.inference_mode():
                torch.manual_seed(seed + start)
                result = model.generate(input_ids=ids, attention_mask=mask, **kwargs)
            for row, i in enumerate(idx):
                new = result[row, width:].tolist()
                cut = next((k for k, t in enumerate(new) if t in stops), len(new))
                out[i] = tokenizer.decode(new[:cut], skip_special_tokens=True).strip()
            done += len(idx)
            if progress is not None:
                progress(done, len(encoded))
    finally:
        model.train(was_training)
    return out


def is_cjk(texts: Iterable[str]) -> bool:
    """True when most letters of the texts are Chinese / Japanese / Korean characters."""
    sample = "".join(list(texts)[:200])
    letters = [c for c in sample if c.isalpha()]
    return bool(letters) and sum(bool(_CJK.match(c)) for c in letters) > 0.3 * len(letters)


class _WordTokenizer:
    """ROUGE tokenizer for any script: lower-cased unicode words (rouge-score's own keeps only
    a-z0-9, so "vió" would become "vi"), every CJK character a token of its own."""

    _pattern = re.compile(
        r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]"
        r"|[^\W_]+",
        re.UNICODE,
    )

    def tokenize(self, text: str) -> list[str]:
        return self._pattern.findall(str(text).lower())


def normalize_answer(text: str) -> str:
    """Lower case, punctuation removed, whitespace collapsed (for exact match)."""
    text = re.sub(r"[^\w\s]", " ", str(text).lower(), flags=re.UNICODE)
    return " ".join(text.split())


def score(outputs: list[str], references: list[str], lang: str = "") -> dict:
    """Corpus scores of generated ``outputs`` against ``references`` (same order), all 0-100:
    ROUGE-1/2/L F1 (mean over rows; unicode words, CJK per character, no stemming), BLEU and
    chrF (sacrebleu, corpus level; BLEU tokenised per CJK character for Chinese/Japanese/Korean)
    and exact match (after ``normalize_answer``); plus "n".

    ``lang``: the target language code or name when known ("zh", "Japanese"...); else CJK is
    detected from the references."""
    import sacrebleu
    from rouge_score import rouge_scorer

    outputs = ["" if o is None else str(o) for o in outputs]
    references = [str(r) for r in references]
    n = len(outputs)
    if n == 0:
        return {
            "rouge1": 0.0,
            "rouge2": 0.0,
            "rougeL": 0.0,
            "bleu": 0.0,
            "chrf": 0.0,
            "exact_match": 0.0,
            "n": 0,
        }
    code = language_code(lang) if lang else ""
    cjk = code in ("zh", "ja", "ko") or (not code and is_cjk(references))
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=_WordTokenizer())
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for out, ref in zip(outputs, references):
        s = scorer.score(ref, out)
        for k in totals:
            totals[k] += s[k].fmeasure
    if cjk:
        kana = code in ("ja", "ko") or any(_KANA_HANGUL.search(r) for r in references[:200])
        bleu_tok = "char" if kana else "zh"
    else:
        bleu_tok = "13a"
    bleu = sacrebleu.corpus_bleu(outputs, [references], tokenize=bleu_tok).score
    chrf = sacrebleu.corpus_chrf(outputs, [references]).score
    em = sum(normalize_answer(o) == normalize_answer(r) for o, r in zip(outputs, references))
    out = {k: round(100.0 * v / n, 2) for k, v in totals.items()}
    out.update(
        bleu=round(float(bleu), 2),
        chrf=round(float(chrf), 2),
        exact_match=round(100.0 * em / n, 2),
        n=n,
    )
    return out


# ---------------------------------------------------------------------------------------------
# training


def load_causal_lm(path, strategy: str = "lora", config_overrides: dict | None = None):
    """(model, tokenizer) of a causal LM backbone in float32 (4-bit for QLoRA)."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from engine.strategies import quantization_config

    tokenizer = load_tokenizer(path)
    kwargs = dict(config_overrides or {})
    quant = quantization_config(strategy)
    if quant is not None:
        kwargs["quantization_config"] = quant
    else:
        kwargs["dtype"] = torch.float32
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def drop_position_compat(model) -> None:
    """Undo engine.strategies._position_compat on a causal LM (prompt / p-tuning).

    That wrapper counts position ids over the attention mask for sequence classification; in
    ``generate`` of a peft causal LM it meets a mask that already includes the virtual tokens
    while the cached step has one token, and fails (measured: RuntimeError in rotary
    embeddings). peft's own causal-LM path needs no help: its greedy generation equals the
    step-by-step forward, batched with left padding as alone (measured)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    wrapped = vars(inner).get("forward")
    if wrapped is not None and getattr(wrapped, "__name__", "") == "forward_with_positions":
        del inner.forward


def sequence_loss(model, dataset, collator, batch_size: int = 8) -> float:
    """Mean loss per target token of ``dataset`` (unpacked rows), as the Trainer would report
    it for one batch holding everything."""
    import torch

    if len(dataset) == 0:
        return float("nan")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    try:
        with torch.inference_mode():
            for start in range(0, len(dataset), batch_size):
                feats = [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
                batch = collator([{k: f[k] for k in ("input_ids", "labels")} for f in feats])
                batch = {k: v.to(device) for k, v in batch.items()}
                labels = batch.pop("labels")
                logits = model(**batch).logits.float()
                logits = logits[:, -labels.shape[1] :]  # prompt tuning puts virtual tokens first
                shift = logits[:, :-1].reshape(-1, logits.shape[-1])
                target = labels[:, 1:].reshape(-1)
                loss = torch.nn.functional.cross_entropy(
                    shift, target, ignore_index=-100, reduction="sum"
                )
                total += float(loss)
                tokens += int((target != -100).sum())
    finally:
        model.train(was_training)
    return total / max(tokens, 1)


def _progress_reporter(run, what: str):
    last = [time.time()]

    def progress(done: int, total: int) -> None:
        if time.time() - last[0] >= PROGRESS_SECONDS or done == total:
            last[0] = time.time()
            run.append_event(
                "message",
                text=f"{what}: {done} of {total} test rows generated.",
                done=done,
                total=total,
            )

    return progress


def _generation_batch(config, dev: dict) -> int:
    return (
        max(1, min(config.eval_batch_size, CPU_GENERATION_BATCH))
        if dev["device"] == "cpu"
        else max(1, config.eval_batch_size)
    )


def train(
    config, run, stop_event: threading.Event, data: TaskData, *, resume_from=None, callbacks=()
) -> dict:
    """Fine-tune through the one fit, generate before/after on the test rows, score, save (see
    the module doc)."""
    from engine.backbones import family_of, resolve_backbone
    from engine.regularization import Regularization, dropout_overrides
    from engine.training import loop

    started = time.time()
    family = family_of(config.backbone)
    reason = unsupported(config.strategy, family, config.backbone)
    if reason:
        from engine.config import ConfigError

        raise ConfigError(reason)
    path = resolve_backbone(config.backbone)
    dev = loop.pick_device(config.device)
    model, tokenizer = load_causal_lm(
        path, config.strategy, dropout_overrides(path, getattr(config, "dropout", -1.0))
    )
    template = data.info.get("template") or resolve_template(config, data.columns.get("target", ""))
    lang = data.info.get("target_language", "")
    fmt = Formatter(tokenizer, template)
    collator = CausalCollator(tokenizer.pad_token_id)
    train_ds = tokenize_pairs(fmt, data.train, config.max_length)
    val_ds = tokenize_pairs(fmt, data.validation, config.max_length)
    n_gen = (
        len(data.test)
        if not config.generation_eval_rows
        else min(len(data.test), config.generation_eval_rows)
    )
    gen_rows = data.test.iloc[:n_gen]  # generated, scored and their loss measured, both times
    test_ds = tokenize_pairs(fmt, gen_rows, config.max_length)
    gen_batch = _generation_batch(config, dev)
    # a vocabulary of ~50k makes the logits of a 64-row evaluation batch gigabytes on a CPU
    overrides = {
        "prediction_loss_only": True,
        "remove_unused_columns": False,
        "per_device_eval_batch_size": gen_batch,
    }
    packing = bool(config.packing)
    if packing and config.strategy in ("prompt", "ptuning", "prefix"):
        packing = False
        run.append_event(
            "message",
            level="warning",
            text="Packing is off for prompt-learning strategies (their virtual "
            "tokens would be shared by the packed examples).",
        )
    if packing:
        train_rows = packed_dataset(train_ds, config.max_length, config.seed)
        run.append_event(
            "message",
            text=f"Packing: {len(train_ds)} training examples in "
            f"{len(train_rows)} rows of up to {config.max_length} "
            "tokens.",
        )
        overrides["train_sampling_strategy"] = "random"
    else:
        train_rows = train_ds
    metric = loop.best_metric(config, {"loss"}, DEFAULT_METRIC)
    prompts = [fmt.prompt_ids(s, config.max_length) for s in gen_rows["source"]]
    if dev["device"] != "cpu":
        model.to(dev["device"])

    # the untrained backbone on the held-out rows, from the same prompts
    run.append_event(
        "message",
        text=f"Generating {len(prompts)} test rows with the untrained "
        f"{config.backbone} (the 'before' scores).",
    )
    before_out = generate(
        model,
        tokenizer,
        prompts,
        config.max_new_tokens,
        gen_batch,
        fmt.stop_ids,
        progress=_progress_reporter(run, "Before training"),
        should_stop=stop_event.is_set,
    )
    before_loss = sequence_loss(model, test_ds, collator, gen_batch)
    use_cache = getattr(model.config, "use_cache", None)

    def for_training(prepared):
        drop_position_compat(prepared)
        prepared.config.use_cache = False  # no key/value cache while training
        return prepared

    result = loop.fit(
        config,
        run,
        stop_event,
        model=model,
        tokenizer=tokenizer,
        family=family,
        train_ds=train_rows,
        val_ds=val_ds,
        task=config.task,
        task_type="CAUSAL_LM",
        metric=metric,
        data_collator=collator,
        args_overrides=overrides,
        regularization=Regularization(),  # classification loss options: not for generation
        prepare_model=for_training,
        callbacks=callbacks,
        resume_from=resume_from,
        start_info={"test_rows": len(data.test), "labels": [], "template": template},
    )
    trainer = result.trainer
    model = trainer.model
    if use_cache is not None:
        model.config.use_cache = use_cache
    val_loss = trainer.state.best_metric if metric == "loss" else None
    if val_loss is None:
        val_loss = sequence_loss(model, val_ds, collator, gen_batch)
    test_loss = sequence_loss(model, test_ds, collator, gen_batch)

    run.append_event(
        "message",
        text=f"Generating {len(prompts)} test rows with the fine-tuned model (the 'after' scores).",
    )
    t0 = time.time()
    after_out = generate(
        model,
        tokenizer,
        prompts,
        config.max_new_tokens,
        gen_batch,
        fmt.stop_ids,
        progress=_progress_reporter(run, "After training"),
        should_stop=stop_event.is_set,
    )
    gen_seconds = time.time() - t0
    done = [
        i for i in range(len(prompts)) if after_out[i] is not None and before_out[i] is not None
    ]
    refs = [gen_rows["target"].iloc[i] for i in done]
    test = score([after_out[i] for i in done], refs, lang)
    test["loss"] = round(test_loss, 4)
    before = score([before_out[i] for i in done], refs, lang)
    before["loss"] = round(before_loss, 4)
    examples = [
        {
            "source": gen_rows["source"].iloc[i],
            "reference": gen_rows["target"].iloc[i],
            "before": before_out[i],
            "after": after_out[i],
        }
        for i in done[:MAX_EXAMPLES]
    ]

    if run.writer:
        _save(model, tokenizer, run, config, data, template, fmt)
    metrics = loop.base_metrics(config, stop_event, result, config.task, started)
    metrics.update(
        {
            "validation": {"loss": round(float(val_loss), 4), "n": len(val_ds)},
            "test": test,
            "before": before,
            "examples": examples,
            "template": template,
            "target_language": lang,
            "generation_rows_per_second": round(len(done) / max(gen_seconds, 1e-9), 3),
            "packing": packing,
            "train_rows": len(train_rows),
        }
    )
    del trainer, model
    return loop.finish(run, metrics, result.dev["device"], test=test, before=before)


def _save(model, tokenizer, run, config, data: TaskData, template: str, fmt: Formatter) -> None:
    """model/: the adapter (or full model) + tokenizer + task.json."""
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
            "task": config.task,
            "template": template,
            "max_new_tokens": config.max_new_tokens,
            "max_length": config.max_length,
            "columns": dict(data.columns),
            "target_language": data.info.get("target_language", ""),
            "backbone": config.backbone,
            "chat_template": fmt.chat,
            "stop_ids": fmt.stop_ids,
        },
    )
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


# ---------------------------------------------------------------------------------------------
# prediction


class Predictor:
    """Generate with a finished generation run: ``predict``, ``predict_table`` and ``stream``."""

    def __init__(self, run_dir: str | Path):
        from engine.runs import Run, read_json

        run = Run(Path(run_dir))
        model_dir = run.model_dir
        if not (model_dir / "task.json").exists():
            from engine.predict import PredictError

            raise PredictError(
                f"{run.path} has no trained generation model yet (status: "
                f"{run.status}). Pick a finished run."
            )
        self.run = run
        self.meta = read_json(model_dir / "task.json", {})
        self.task = self.meta.get("task", "")
        self.template = self.meta.get("template", "{source}")
        self.max_new_tokens = int(self.meta.get("max_new_tokens", 64))
        self.max_length = int(self.meta.get("max_length", 128))
        self.source_column = self.meta.get("columns", {}).get("source", "source")
        self._lock = threading.Lock()
        self.model, self.tokenizer = _load(
            model_dir, self.meta.get("backbone") or run.config().backbone
        )
        self.formatter = Formatter(self.tokenizer, self.template)

    def _source(self, item) -> str:
        if isinstance(item, dict):
            for key in ("text", "source", self.source_column):
                if key in item:
                    return str(item[key])
            raise ValueError(f"An input needs a 'text' field; got {sorted(item)}.")
        return str(item)

    def predict(
        self, inputs: list, batch_size: int = 8, max_new_tokens: int | None = None
    ) -> list[dict]:
        """[{"output": generated text}] for every input (a text or {"text": ...}); greedy."""
        if isinstance(inputs, (str, dict)):
            inputs = [inputs]
        prompts = [self.formatter.prompt_ids(self._source(x), self.max_length) for x in inputs]
        with self._lock:
            outs = generate(
                self.model,
                self.tokenizer,
                prompts,
                max_new_tokens or self.max_new_tokens,
                batch_size,
                self.formatter.stop_ids,
            )
        return [{"output": o or ""} for o in outs]

    def predict_table(self, df: pd.DataFrame, text_column: str = "") -> pd.DataFrame:
        col = text_column or next(
            (c for c in (self.source_column, "source", "text") if c in df.columns), ""
        )
        if not col:
            guesses = [c for c in df.columns if df[c].dtype == object]
            if not guesses:
                raise DataError("The table has no text column to generate from.")
            col = max(guesses, key=lambda c: df[c].astype(str).str.len().mean())
        if col not in df.columns:
            raise DataError(
                f"Column {col!r} is not in the table; its columns are: "
                f"{', '.join(map(str, df.columns))}."
            )
        result = df.copy()
        result["output"] = [
            p["output"] for p in self.predict(df[col].fillna("").astype(str).tolist())
        ]
        return result

    def stream(
        self,
        text: str,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Yield the output generated so far (the whole text each time) as tokens arrive
        (see ``stream_generate``)."""
        ids = self.formatter.prompt_ids(self._source(text), self.max_length)
        yield from stream_generate(
            self.model,
            self.tokenizer,
            ids,
            self.formatter.stop_ids,
            self._lock,
            temperature,
            top_p,
            int(max_new_tokens or self.max_new_tokens),
            stop,
        )


def stream_generate(
    model,
    tokenizer,
    ids: list[int],
    stop_ids: list[int],
    lock: threading.Lock | None = None,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_new_tokens: int = 64,
    stop: list[str] | None = None,
) -> Iterator[str]:
    """Generate after the prompt ``ids``, yielding the output so far (the whole text each time)
    as tokens arrive.

    ``temperature`` 0: greedy; above: sampling with ``top_p``. ``stop``: strings that end the
    output (not included); ``stop_ids``: tokens that end it. Closing the generator early stops
    the generation. ``lock`` serialises users of one model."""
    import contextlib

    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    device = next(model.parameters()).device
    streamer = TextIteratorStreamer(
        tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
    )
    halt = threading.Event()

    class Halt(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full(
                (input_ids.shape[0],), halt.is_set(), dtype=torch.bool, device=input_ids.device
            )

    kwargs = dict(
        input_ids=torch.tensor([ids], device=device),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=device),
        max_new_tokens=int(max_new_tokens),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=list(stop_ids) or None,
        streamer=streamer,
        stopping_criteria=StoppingCriteriaList([Halt()]),
    )
    if temperature and temperature > 0:
        kwargs.update(do_sample=True, temperature=float(temperature), top_p=float(top_p))
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    stops = [s for s in (stop or []) if s]
    errors: list[BaseException] = []

    def work():
        try:
            with torch.inference_mode():
                model.generate(**kwargs)
        except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
            errors.append(e)
            streamer.on_finalized_text("", stream_end=True)

    with lock or contextlib.nullcontext():
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        text_so_far, finished = "", False
        try:
            for piece in streamer:
                text_so_far += piece
                hit = min((text_so_far.find(s) for s in stops if s in text_so_far), default=-1)
                if hit >= 0:
                    yield text_so_far[:hit].rstrip()
                    break
                yield text_so_far
            else:
                finished = True
        finally:
            halt.set()  # the worker stops after its current token
            if not finished:
                for _ in streamer:  # until the worker's end-of-stream signal
                    pass
            thread.join()
    if errors:
        raise errors[0]


def _load(model_dir: Path, backbone: str):
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    import torch

    tokenizer = load_tokenizer(model_dir)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        if (model_dir / "adapter_config.json").exists():
            from engine.backbones import resolve_backbone
            from engine.strategies import load_adapter

            base = AutoModelForCausalLM.from_pretrained(
                resolve_backbone(backbone), dtype=torch.float32
            )
            if base.config.pad_token_id is None:
                base.config.pad_token_id = tokenizer.pad_token_id
            model = load_adapter(base, model_dir)
            drop_position_compat(model)
        else:
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    finally:
        hf_logging.set_verbosity(verbosity)
    if torch.cuda.is_available():
        model.to("cuda")
    model.eval()
    return model, tokenizer
