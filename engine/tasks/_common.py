"""Plumbing shared by the multilabel, relation and qa task modules (private).

Column look-up with human errors, row-list formatting, splitting (stratified or by group),
loading a backbone with a given head, and saving / reloading ``model/`` (adapter or full model + tokenizer + task.json).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from engine.data import DataError, _resolve_column
from engine.runs import Run, read_json, write_json_atomic

TASK_FILE = "task.json"


# ---- columns and rows ------------------------------------------------------------------------


def _norm(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def find_column(
    df: pd.DataFrame, wanted: str, names: Iterable[str], source: str, exclude: Iterable[str] = ()
) -> str:
    """The user's column (exact, case-insensitive, or a DataError with a hint) when ``wanted``,
    else the first column whose normalised name is in ``names``; "" when none matches."""
    if wanted:
        return _resolve_column(df, wanted, source)
    skip = set(exclude)
    lowered = {_norm(c): str(c) for c in reversed(list(df.columns)) if str(c) not in skip}
    return next((lowered[n] for n in names if n in lowered), "")


def check_roles(
    roles: dict[str, str], hints: dict[str, str], source: str, columns: Iterable[str]
) -> None:
    """DataError when a role found no column (naming the setting to fill in) or when two roles
    share one column."""
    missing = [r for r, c in roles.items() if not c]
    if missing:
        raise DataError(
            f"Could not tell which column of {source} holds the "
            f"{' and '.join(missing)} (columns: {', '.join(map(str, columns))}); "
            f"set {', '.join(hints[m] for m in missing)}."
        )
    if len(set(roles.values())) < len(roles):
        names = ", ".join(roles)
        raise DataError(
            f"The {names} columns of {source} must be {len(roles)} different "
            f"columns (got {', '.join(f'{r}={c!r}' for r, c in roles.items())})."
        )


def rows_text(rows: list[int], limit: int = 5) -> str:
    """ "rows 3, 7 and 9" / "rows 3, 7, 9, 10, 12 and 4 more" (1-based data rows)."""
    shown = [str(r) for r in rows[:limit]]
    more = len(rows) - len(shown)
    if more:
        return f"rows {', '.join(shown)} and {more} more"
    if len(shown) == 1:
        return f"row {shown[0]}"
    return f"rows {', '.join(shown[:-1])} and {shown[-1]}"


def cell_text(value: Any) -> str | None:
    """A cell as stripped text; None for a missing or blank cell."""
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return None
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    text = str(value).strip()
    return text or None


# ---- splitting ---------------------------------------------------------------------------------


def holdout(
    frame: pd.DataFrame,
    fraction: float,
    seed: int,
    strata: pd.Series | None = None,
    groups: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split off ``fraction`` of the rows: by whole groups when ``groups`` is given (rows that
    share a group, e.g. a QA context, stay on one side), else stratified by ``strata`` where every
    stratum has two rows or more (the others stay in the rest), else at random."""
    from sklearn.model_selection import train_test_split

    frame = frame.reset_index(drop=True)
    if fraction <= 0 or len(frame) < 2:
        return frame, frame.iloc[:0].copy()
    size = max(1, round(fraction * len(frame)))
    if groups is not None:
        groups = groups.reset_index(drop=True)
        unique = pd.unique(groups)
        if len(unique) >= 4:
            rng = np.random.default_rng(seed)
            order = list(unique)
            rng.shuffle(order)
            held_groups, count = set(), 0
            counts = groups.value_counts()
            for g in order:
                if count >= size or len(held_groups) >= len(unique) - 1:
                    break
                held_groups.add(g)
                count += int(counts[g])
            held = groups.isin(held_groups)
            return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)
    if strata is not None:
        strata = strata.reset_index(drop=True).astype(str)
        counts = strata.value_counts()
        lonely = strata.isin(counts[counts < 2].index)
        pool = frame[~lonely]
        if len(pool) - size >= 1:
            try:
                rest, held = train_test_split(
                    pool, test_size=size, random_state=seed, stratify=strata[~lonely]
                )
                rest = pd.concat([rest, frame[lonely]])
                return rest.reset_index(drop=True), held.reset_index(drop=True)
            except ValueError:
                pass
    if len(frame) - size < 1:
        return frame, frame.iloc[:0].copy()
    rest, held = train_test_split(frame, test_size=size, random_state=seed)
    return rest.reset_index(drop=True), held.reset_index(drop=True)


def split(
    frame: pd.DataFrame,
    config,
    has_test_file: bool,
    warnings: list[str],
    strata: Callable[[pd.DataFrame], pd.Series] | None = None,
    groups: Callable[[pd.DataFrame], pd.Series] | None = None,
):
    """(train, validation, test) as the configuration's fractions say; test is empty when the
    user gave a test file (the caller loads it)."""

    def cut(part: pd.DataFrame, fraction: float):
        return holdout(
            part,
            fraction,
            config.seed,
            strata(part) if strata else None,
            groups(part) if groups else None,
        )

    if has_test_file:
        rest, test = frame.reset_index(drop=True), frame.iloc[:0].copy()
        train, validation = cut(rest, config.validation_fraction)
    else:
        rest, test = cut(frame, config.test_fraction)
        share = config.validation_fraction / max(1e-9, 1 - config.test_fraction)
        train, validation = cut(rest, share)
    if len(validation) == 0:
        raise DataError(
            f"There are too few rows ({len(frame)}) to hold out validation rows; "
            "add more rows (a few hundred work much better)."
        )
    if len(test) == 0 and not has_test_file:
        raise DataError(
            f"There are too few rows ({len(frame)}) to hold out test rows; add more "
            "rows or give a separate test file."
        )
    if len(train) < 2:
        raise DataError(f"Only {len(train)} rows are left to train on; add more rows.")
    return train, validation, test


def sample(frame: pd.DataFrame, max_rows: int, seed: int, warnings: list[str]) -> pd.DataFrame:
    if max_rows <= 0 or len(frame) <= max_rows:
        return frame
    warnings.append(
        f"Using a sample of {max_rows} of the {len(frame)} rows (the max rows setting)."
    )
    return frame.sample(n=max_rows, random_state=seed).reset_index(drop=True)


# ---- model loading -----------------------------------------------------------------------------


def load_tokenizer(path):
    from transformers import AutoTokenizer

    from engine.backbones import pretrained_kwargs

    tokenizer = AutoTokenizer.from_pretrained(path, **pretrained_kwargs())
    if tokenizer.pad_token is None:  # decoders (GPT-2, Llama) often have none
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def load_model(auto_class, path, tokenizer, quantization=None, **kwargs):
    """``auto_class.from_pretrained(path, **kwargs)`` with the library's "newly initialised
    head" notices silenced. When the head class names its backbone differently from the saved
    checkpoint (LlamaForQuestionAnswering's ``transformer`` vs LlamaForCausalLM's ``model``, so
    the body would silently stay random), the body is loaded with ``AutoModel`` and put in."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    from engine.backbones import pretrained_kwargs

    try:
        extra = {"quantization_config": quantization} if quantization is not None else {}
        extra.update(pretrained_kwargs())  # trust_remote_code only when the user ticked it
        model, info = auto_class.from_pretrained(path, output_loading_info=True, **extra, **kwargs)
        missing = [
            k
            for k in info.get("missing_keys", [])
            if not any(h in k for h in ("qa_outputs", "classifier", "score", "pooler"))
        ]
        prefix = getattr(model, "base_model_prefix", "")
        if missing and prefix and hasattr(model, prefix):
            from transformers import AutoModel

            body = AutoModel.from_pretrained(
                path,
                **extra,
                **{
                    k: v
                    for k, v in kwargs.items()
                    if k not in ("num_labels", "id2label", "label2id", "problem_type")
                },
            )
            if quantization is None:
                body = body.to(next(model.parameters()).dtype)
            setattr(model, prefix, body)
    finally:
        hf_logging.set_verbosity(verbosity)
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


def backbone(config, auto_class, **kwargs):
    """(model, tokenizer, family, backbone path) for a run: the dropout override and, for QLoRA,
    the 4-bit load applied; the tokenizer pads as the strategy needs."""
    from engine import regularization
    from engine.backbones import family_of, resolve_backbone
    from engine.strategies import padding_side, quantization_config

    path = resolve_backbone(config.backbone)
    family = family_of(config.backbone)
    tokenizer = load_tokenizer(path)
    tokenizer.padding_side = padding_side(config.strategy, family)
    dropout = regularization.dropout_overrides(path, config.dropout)
    model = load_model(
        auto_class, path, tokenizer, quantization_config(config.strategy), **dropout, **kwargs
    )
    return model, tokenizer, family, path


# ---- training ----------------------------------------------------------------------------------


def unused_options(config, run: Run, task: str, keep: tuple[str, ...] = ()) -> None:
    """A message for run options this task does not use (augmentation, loss options)."""
    ignored = []
    if config.augment != "none":
        ignored.append(f"augment={config.augment}")
    if "loss" not in keep and config.label_smoothing:
        ignored.append(f"label_smoothing={config.label_smoothing}")
    if "loss" not in keep and config.class_weights != "none":
        ignored.append(f"class_weights={config.class_weights}")
    if ignored:
        run.append_event(
            "message",
            level="warning",
            text=f"The {task} task does not use {', '.join(ignored)}; trained without.",
        )


# ---- saving and reloading ----------------------------------------------------------------------


def save(model, tokenizer, run: Run, info: dict) -> None:
    """model/ = the adapter (or full model) + tokenizer + task.json, replaced atomically (by
    the process that writes the run: rank 0 of a distributed run)."""
    from engine.strategies import save_model

    if not run.writer:
        return
    out = run.model_dir
    tmp = out.with_name("model.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(model, tmp)
    tokenizer.save_pretrained(tmp)
    write_json_atomic(tmp / TASK_FILE, info)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def load_saved(run_dir: str | Path, auto_class, head_kwargs: Callable[[dict], dict]):
    """(model in eval mode, tokenizer, task.json, RunConfig) of a finished run.

    An adapter is put on a fresh base of the original backbone with the same head
    (``head_kwargs(task_info)``), a full model is loaded as saved."""
    from engine.backbones import resolve_backbone
    from engine.errors import PredictError
    from engine.strategies import load_adapter

    run = Run(Path(run_dir))
    model_dir = run.model_dir
    info = read_json(model_dir / TASK_FILE, None)
    if info is None:
        raise PredictError(
            f"{run.path} has no trained model yet (status: {run.status}). Pick a finished run."
        )
    config = run.config()
    from engine.backbones import remote_code

    with remote_code(bool(getattr(config, "trust_remote_code", False))):
        tokenizer = load_tokenizer(model_dir)
        if (model_dir / "adapter_config.json").exists():
            base = load_model(
                auto_class, resolve_backbone(config.backbone), tokenizer, **head_kwargs(info)
            )
            model = load_adapter(base, model_dir)
        else:
            model = load_model(auto_class, model_dir, tokenizer)
    model.eval()
    tokenizer.padding_side = info.get("padding_side", tokenizer.padding_side)
    return model, tokenizer, info, config


def input_dicts(inputs: Any, fields: list[str], first: str) -> list[dict]:
    """Inputs as a list of dicts with ``fields``: a single dict or text becomes a list of one;
    a bare text fills field ``first``. DataError names a missing field."""
    if isinstance(inputs, (str, dict)):
        inputs = [inputs]
    out = []
    for i, item in enumerate(inputs, start=1):
        if isinstance(item, str):
            item = {first: item}
        if not isinstance(item, dict):
            raise DataError(
                f"Input {i} must be a text or an object with the fields {', '.join(fields)}."
            )
        missing = [f for f in fields if cell_text(item.get(f)) is None]
        if missing:
            raise DataError(
                f"Input {i} lacks {', '.join(map(repr, missing))}; give {', '.join(fields)}."
            )
        out.append({f: str(item[f]) for f in fields})
    return out


def table_column(df: pd.DataFrame, wanted: str, names: Iterable[str], role: str) -> str:
    """The column of a table to predict on for ``role``: the run's own column name when the
    table has it, else a conventional name; DataError otherwise."""
    if wanted and wanted in df.columns:
        return wanted
    col = find_column(df, "", [n for n in [_norm(wanted)] if n] + list(names), "the table")
    if not col:
        raise DataError(
            f"The table has no {role} column (looked for {wanted or 'a usual name'}; "
            f"its columns are: {', '.join(map(str, df.columns))})."
        )
    return col


def batched_logits(
    model, tokenizer, texts: list[str], max_length: int, batch_size: int = 32
) -> np.ndarray:
    """Sequence-classification logits for ``texts`` (batched by similar length), float64."""
    import torch

    out: list[tuple[np.ndarray, np.ndarray]] = []
    order = np.argsort([len(t) for t in texts], kind="stable")
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [texts[i] for i in idx],
                truncation=True,
                padding=True,
                max_length=max_length,
                return_tensors="pt",
            )
            enc = {k: v.to(model.device) for k, v in enc.items()}
            logits = model(**enc).logits.float().cpu().numpy().astype(np.float64)
            out.append((idx, logits))
    width = out[0][1].shape[-1] if out else 0
    result = np.zeros((len(texts), width))
    for idx, logits in out:
        result[idx] = logits
    return result
