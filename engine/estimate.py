"""Estimates shown before Start: memory, time per epoch (measured), size of the saved model.

``estimate_memory(config, family, counts, model_config)``  bytes by part (formula below)
``calibrate_time(config, spec_or_texts, n_steps=3)``       a few real training steps, timed
``saved_size(config, counts, model_config)``               bytes of the saved weights
``estimate_before_start(config, num_labels, train_rows)``  the three together, for the UI

Memory model. e = bytes per activation element (4 in fp32, the engine's dtype on a CPU; 2 under
mixed precision on a GPU), m = bytes per dropout-mask element (4 on a CPU, where torch's unfused
dropout keeps a float mask; 1 on CUDA, whose fused dropout keeps a bool mask):

  weights      = total parameters x 4 bytes (QLoRA: the transformer matrices at 0.5 byte)
  gradients    = trainable parameters x 4
  optimizer    = trainable parameters x 8          (AdamW: two fp32 moments per parameter)
  activations  = batch x (layers x per_layer + (2e + m)·s·h)     (+ embeddings and their LayerNorm)

  per_layer, one example of s tokens (hidden h, heads a, feed-forward f): the tensors autograd keeps
  for the backward pass of a BERT-style block (the count of Korthikanti et al., 2022, "Reducing
  Activation Recomputation in Large Transformer Models", redone for these dtypes):
    attention  (5e + m)·s·h + (2e + m)·a·s²   QKV input, Q, K, V, projection input, output-dropout
                                              mask; softmax output, its dropout mask and output
    MLP        2e·s·f + (e + m)·s·h           up-projection output and its activation; input mask
               gated (Llama, Qwen: silu)  4e·s·f + e·s·h
    LayerNorms 2e·s·h
    (without dropout the m terms and the attention-dropout output disappear)
  Frozen backbone (LoRA and the other low-rank adapters, BitFit, prompt methods): the inputs of
  frozen linear layers are not kept: minus e·s·f + 2.5e·s·h; LoRA-style dropout on the adapter
  input adds (e + m)·s·h per wrapped module (2 per layer: query and value). IA3 scales
  activations and keeps about what full fine-tuning keeps. Head only: no backward pass through
  the backbone, so no layer activations.
  s is ``config.max_length`` (+ virtual tokens for prompt methods): an upper bound, because the
  engine pads each batch only to its longest text.

  Checked on MiniLM-L6 (fp32, CPU, batch 16 x 128 tokens) against the bytes a saved-tensor hook
  sees: full 576 MB measured vs 576 MB by the formula; LoRA 504 vs 529 (without adapter dropout
  454 vs 453); BitFit 444 vs 453; IA3 567 vs 576; head 3 vs 0; s=64: 231 vs 231; batch 8: 288
  vs 288.

  total = the four parts. ``peak`` is what the process will show: on a CPU, glibc's allocator keeps
  much of the memory freed by the forward pass's temporaries, measured on MiniLM as 0.4-1.15 x the
  full-fine-tuning activation size above the total, so peak = total + 0.75 x that (head only:
  + two layers' worth, as no graph is kept); on a GPU (the caching allocator; not measured here)
  peak = total x 1.1. Peak RSS measured over 6 steps vs this peak, MiniLM, CPU (MB): full 16x128
  1312 vs 1371, LoRA 16x128 1131 vs 1054, full 32x64 1199 vs 1173, LoRA 32x64 1024 vs 856, full
  8x256 1507 vs 1767, LoRA 8x256 1387 vs 1450, BitFit 923 vs 978, head 258 vs 285.

Time: ``calibrate_time`` loads the backbone, applies the strategy, builds AdamW over the
trainable parameters and times ``n_steps`` optimisation steps (forward, backward, step) on
batches of real training texts, sorted by length and chunked as the engine's length-grouped
sampler does, after one untimed warm-up step. seconds_per_epoch = seconds_per_step x steps per
epoch. SetFit is timed as full fine-tuning of the body on 2 x batch sentences (one pair batch).
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

LINEAR_ADAPTERS = (
    "lora",
    "rslora",
    "dora",
    "pissa",
    "adalora",
    "qlora",
    "ia3",
    "loha",
    "lokr",
    "vera",
)
PROMPT_METHODS = ("prefix", "prompt", "ptuning")
FROZEN_BACKBONE = LINEAR_ADAPTERS + PROMPT_METHODS + ("bitfit",)
LORA_STYLE = ("lora", "rslora", "dora", "pissa", "adalora", "qlora", "loha", "lokr", "vera")
ADAPTER_SAVES = LINEAR_ADAPTERS + PROMPT_METHODS
GATED_TYPES = {"llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "phi3", "smollm3"}
CPU_RETENTION = 0.75  # x full-fine-tuning activations (measured 0.4-1.15 on MiniLM, CPU)
GPU_OVERHEAD = 0.10


def human_bytes(n: float) -> str:
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") or n >= 100 else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_seconds(s: float) -> str:
    s = float(s)
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _get(cfg: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        value = cfg.get(name) if isinstance(cfg, dict) else getattr(cfg, name, None)
        if value is not None:
            return value
    return default


def shape_of(model_config: Any) -> dict:
    """hidden, layers, heads, ffn, vocab, model_type, gated from a transformers config (or dict);
    covers BERT/RoBERTa/DeBERTa/Llama/Qwen (hidden_size...), GPT-2 (n_embd...) and DistilBERT
    (dim, n_layers, hidden_dim)."""
    hidden = int(_get(model_config, "hidden_size", "n_embd", "d_model", "dim", default=768))
    layers = int(
        _get(model_config, "num_hidden_layers", "n_layer", "n_layers", "num_layers", default=12)
    )
    heads = int(_get(model_config, "num_attention_heads", "n_head", "n_heads", default=12))
    ffn = int(
        _get(
            model_config,
            "intermediate_size",
            "n_inner",
            "hidden_dim",
            "ffn_dim",
            default=4 * hidden,
        )
        or 4 * hidden
    )
    model_type = str(_get(model_config, "model_type", default="") or "")
    act = str(_get(model_config, "hidden_act", "activation_function", default="") or "")
    gated = model_type in GATED_TYPES or act in ("silu", "swiglu")
    vocab = int(_get(model_config, "vocab_size", default=30522))
    return {
        "hidden": hidden,
        "layers": layers,
        "heads": heads,
        "ffn": ffn,
        "vocab": vocab,
        "model_type": model_type,
        "gated": gated,
    }


def activation_bytes(
    strategy: str,
    shape: dict,
    batch: int,
    seq: int,
    *,
    elem: int = 4,
    mask: int = 4,
    dropout: bool = True,
    wrapped: int = 2,
    adapter_dropout: bool = True,
) -> int:
    """Activation memory of one training step (see the module docstring for the formula)."""
    if strategy == "head":
        return 0
    s, h, a, f = seq, shape["hidden"], shape["heads"], shape["ffn"]
    e, m = elem, (mask if dropout else 0)
    attention = (5 * e + m) * s * h + ((2 * e + m) if dropout else e) * a * s * s
    mlp = (4 * e * s * f + e * s * h) if shape["gated"] else (2 * e * s * f + (e + m) * s * h)
    norms = 2 * e * s * h
    per_layer = attention + mlp + norms
    if strategy in FROZEN_BACKBONE and strategy != "ia3":
        per_layer -= int(e * s * f + 2.5 * e * s * h)
        if strategy in LORA_STYLE and adapter_dropout:
            per_layer += wrapped * (e + mask) * s * h
    embeddings = (2 * e + m) * s * h
    return int(batch * (shape["layers"] * per_layer + embeddings))


def _has_dropout(model_config: Any, config) -> bool:
    if getattr(config, "dropout", -1.0) >= 0:
        return config.dropout > 0
    probs = [
        _get(model_config, name)
        for name in (
            "hidden_dropout_prob",
            "attention_probs_dropout_prob",
            "attention_dropout",
            "dropout",
            "resid_pdrop",
            "attn_pdrop",
            "hidden_dropout",
        )
    ]
    return any(isinstance(p, (int, float)) and p > 0 for p in probs)


def _wrapped_modules(config) -> int:
    setting = (getattr(config, "lora_target_modules", "auto") or "auto").strip()
    if setting == "auto":
        return 2
    return max(1, len([t for t in setting.split(",") if t.strip()]))


def _linear_params(shape: dict) -> int:
    h, f, layers = shape["hidden"], shape["ffn"], shape["layers"]
    return layers * (4 * h * h + (3 if shape["gated"] else 2) * h * f)


def estimate_memory(
    config,
    family: str,
    counts: dict,
    model_config: Any,
    *,
    seq_len: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
) -> dict:
    """Training memory in bytes by part, plus human strings (formula in the module docstring).

    ``counts``: {"trainable", "total"} from ``parameter_counts`` / ``parameter_preview`` for the
    chosen strategy. ``seq_len`` (default ``config.max_length``) and ``batch_size`` (default
    ``config.batch_size``) override the shape of a step; SetFit steps see 2 x batch sentences.
    ``device``: "cpu" | "cuda" | "mps" (default: the run's device setting, "auto" -> whether a
    CUDA GPU is visible); CUDA means mixed precision, as the engine trains there.
    """
    shape = shape_of(model_config)
    strategy = "full" if config.strategy in ("setfit", "auto") else config.strategy
    device = device or _device(config.device)
    gpu = device == "cuda"
    total, trainable = int(counts["total"]), int(counts["trainable"])
    seq = int(seq_len or config.max_length)
    if strategy in PROMPT_METHODS:
        seq += int(getattr(config, "num_virtual_tokens", 0) or 0)
    batch = int(batch_size or config.batch_size) * (2 if config.strategy == "setfit" else 1)
    if strategy == "qlora":
        quantised = min(total, _linear_params(shape))
        weights = (total - quantised) * 4 + quantised // 2
    else:
        weights = total * 4
    gradients = trainable * 4
    optimizer = trainable * 8
    kw = dict(
        elem=2 if gpu else 4,
        mask=1 if gpu else 4,
        dropout=_has_dropout(model_config, config),
        wrapped=_wrapped_modules(config),
        adapter_dropout=getattr(config, "lora_dropout", 0.0) > 0,
    )
    activations = activation_bytes(strategy, shape, batch, seq, **kw)
    total_bytes = weights + gradients + optimizer + activations
    if gpu or device == "mps":
        peak = int(total_bytes * (1 + GPU_OVERHEAD))
    else:
        full_acts = activation_bytes("full", shape, batch, seq, **kw)
        if strategy == "head":  # no graph is kept: about two layers' temporaries at a time
            retained = 2 * full_acts / max(1, shape["layers"])
        else:
            retained = CPU_RETENTION * full_acts
        peak = int(total_bytes + retained)
    parts = {
        "weights": weights,
        "gradients": gradients,
        "optimizer": optimizer,
        "activations": activations,
        "total": total_bytes,
        "peak": peak,
    }
    return {
        **parts,
        "human": {k: human_bytes(v) for k, v in parts.items()},
        "batch_size": batch,
        "seq_len": seq,
        "family": family,
        "strategy": config.strategy,
        "device": device,
        "shape": shape,
        "note": (
            f"Upper bound at {seq} tokens per text; batches are padded only to their "
            "longest text, so typical steps need less activation memory."
        ),
    }


def _device(setting: str) -> str:
    if setting in ("cpu", "cuda", "mps"):
        return setting
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:  # noqa: BLE001
        return "cpu"


def saved_size(config, counts: dict, model_config: Any = None) -> int:
    """Bytes of the weights a finished run saves in model/ (fp32): the trainable parameters for
    adapter strategies (peft saves the adapter and the head/pooler it trains), the whole model
    otherwise (full, head, BitFit; SetFit saves its body plus a small head). Tokenizer files
    (about 1 MB for BERT-style vocabularies, a few MB for decoders) are not included."""
    if config.strategy in ADAPTER_SAVES:
        return int(counts["trainable"]) * 4
    total = int(counts["total"])
    if config.strategy == "setfit" and model_config is not None:
        total += shape_of(model_config)["hidden"] * 8  # logistic-regression head, float64
    return total * 4


# ---- measured time --------------------------------------------------------------------------


def _sample_texts(spec_or_texts, k: int, seed: int) -> tuple[list[str], list[str], list[str], int]:
    """(texts, labels of those texts, label names, train rows)."""
    rng = random.Random(seed)
    if hasattr(spec_or_texts, "train"):
        frame = spec_or_texts.train
        idx = rng.sample(range(len(frame)), min(k, len(frame)))
        texts = frame["text"].astype(str).iloc[idx].tolist()
        labels = frame["label"].astype(str).iloc[idx].tolist()
        return texts, labels, list(spec_or_texts.labels), len(frame)
    texts = [str(t) for t in spec_or_texts]
    if not texts:
        raise ValueError("calibrate_time needs at least one text.")
    pick = (
        [texts[rng.randrange(len(texts))] for _ in range(k)]
        if len(texts) < k
        else rng.sample(texts, k)
    )
    names = ["a", "b"]
    return pick, [names[i % 2] for i in range(len(pick))], names, len(texts)


def calibrate_time(
    config, spec_or_sample_texts, n_steps: int = 3, *, train_rows: int | None = None
) -> dict:
    """Time ``n_steps`` real training steps of the chosen backbone + strategy (see module doc).

    ``spec_or_sample_texts``: a DataSpec (its training rows are sampled and counted) or a list
    of texts (then ``train_rows`` defaults to their number). ``config.strategy`` must be a
    concrete strategy (resolve ``auto`` with engine.planner.resolve_auto first).
    """
    import torch

    from engine.backbones import family_of, resolve_backbone
    from engine.strategies import (
        after_optimizer_step,
        apply_strategy,
        default_learning_rate,
        padding_side,
        parameter_counts,
    )
    from engine.tasks import classification as task
    from engine.training.loop import pick_device, quiet_libraries

    if config.strategy == "auto":
        raise ValueError(
            "Resolve the 'auto' strategy (engine.planner.resolve_auto) before timing it."
        )
    quiet_libraries()
    n_steps = max(1, int(n_steps))
    setfit = config.strategy == "setfit"
    batch = config.batch_size * (2 if setfit else 1)
    texts, labels, names, rows = _sample_texts(
        spec_or_sample_texts, batch * (n_steps + 1), config.seed
    )
    rows = int(train_rows or rows)
    dev = pick_device(config.device)
    t0 = time.time()
    family = family_of(config.backbone)
    model, tokenizer = task.load_model(resolve_backbone(config.backbone), names, family)
    model_cfg = config if not setfit else _as_full(config)
    tokenizer.padding_side = padding_side(model_cfg.strategy, family)
    model = apply_strategy(model, model_cfg, total_steps=max(n_steps + 1, 10))
    model.to(dev["device"]).train()
    load_seconds = time.time() - t0
    params = [p for p in model.parameters() if p.requires_grad]
    lr = config.learning_rate or default_learning_rate(config.strategy, family, config.task)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)
    label2id = {n: i for i, n in enumerate(names)}

    # length-grouped batches, as the engine's sampler makes them; the first one warms up
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    chunks = [order[i : i + batch] for i in range(0, len(order), batch)]
    random.Random(config.seed).shuffle(chunks)
    dtype = torch.bfloat16 if dev["bf16"] else (torch.float16 if dev["fp16"] else None)
    times, tokens = [], []
    for step, chunk in enumerate(chunks[: n_steps + 1]):
        enc = tokenizer(
            [texts[i] for i in chunk],
            truncation=True,
            padding=True,
            max_length=config.max_length,
            return_tensors="pt",
        )
        enc = {k: v.to(dev["device"]) for k, v in enc.items()}
        y = torch.tensor([label2id[labels[i]] for i in chunk], device=dev["device"])
        _sync(dev)
        start = time.perf_counter()
        with torch.autocast(dev["device"], dtype=dtype, enabled=dtype is not None):
            loss = model(**enc, labels=y).loss
        loss.backward()
        optimizer.step()
        after_optimizer_step(model, step)  # AdaLoRA's rank budget, as in a real run
        optimizer.zero_grad(set_to_none=True)
        _sync(dev)
        if step:  # step 0 is the warm-up
            times.append(time.perf_counter() - start)
            tokens.append(int(enc["input_ids"].numel()))
    if not times:
        raise ValueError("Too few texts to time a training step.")
    per_step = sum(times) / len(times)
    if setfit:
        pairs = 2 * max(1, config.setfit_iterations) * rows
        steps_per_epoch = max(1, math.ceil(pairs / config.batch_size))
        epochs = max(1, math.ceil(config.epochs))
    else:
        steps_per_epoch = max(1, math.ceil(rows / config.batch_size))
        epochs = config.epochs
    total_steps = config.max_steps or max(1, math.ceil(steps_per_epoch * epochs))
    counts = parameter_counts(model)
    del model, optimizer
    return {
        "seconds_per_step": round(per_step, 4),
        "samples_per_second": round(config.batch_size / per_step, 2),
        "steps_per_epoch": steps_per_epoch,
        "seconds_per_epoch": round(per_step * steps_per_epoch, 1),
        "total_steps": total_steps,
        "estimated_train_seconds": round(per_step * total_steps, 1),
        "human": {
            "per_epoch": human_seconds(per_step * steps_per_epoch),
            "training": human_seconds(per_step * total_steps),
        },
        "train_rows": rows,
        "batch_size": config.batch_size,
        "n_steps": len(times),
        "mean_tokens_per_step": round(sum(tokens) / len(tokens), 1),
        "load_seconds": round(load_seconds, 2),
        "device": dev["label"],
        "parameters": counts,
        "note": "Training steps only; validation passes and loading add to the wall time.",
    }


def _as_full(config):
    from dataclasses import replace

    return replace(config, strategy="full")


def _sync(dev: dict) -> None:
    if dev["device"] == "cuda":
        import torch

        torch.cuda.synchronize()


# ---- everything the form shows before Start ---------------------------------------------------


def estimate_before_start(
    config, num_labels: int = 2, train_rows: int | None = None, spec=None
) -> dict:
    """Parameters, memory and saved size for the form, from the backbone's config only (no
    weights read; a hub model must already be downloaded). ``auto`` is resolved with the planner
    when ``spec`` (the DataSpec) is given, and counted as LoRA otherwise; ``setfit`` is counted
    as full fine-tuning of the encoder (SetFit trains the whole body)."""
    from dataclasses import replace

    from transformers import AutoConfig

    from engine.backbones import family_of, resolve_backbone
    from engine.training.pipeline import parameter_preview

    if config.strategy == "auto":
        if spec is not None:
            from engine.planner import resolve_auto

            config = resolve_auto(config, spec)[0]
            num_labels, train_rows = len(spec.labels), train_rows or len(spec.train)
        else:
            config = replace(config, strategy="lora")
    concrete = (
        config if config.strategy not in ("auto", "setfit") else replace(config, strategy="full")
    )
    counts = parameter_preview(concrete, num_labels)
    model_config = AutoConfig.from_pretrained(resolve_backbone(config.backbone, download=False))
    family = family_of(config.backbone)
    memory = estimate_memory(config, family, counts, model_config)
    size = saved_size(config, counts, model_config)
    out = {
        "parameters": counts,
        "memory": memory,
        "saved_bytes": size,
        "saved_human": human_bytes(size),
    }
    if train_rows:
        out["steps_per_epoch"] = max(1, math.ceil(train_rows / config.batch_size))
    return out
