"""Fine-tuning strategies: which parameters train, through peft where it applies.

Each strategy is honest about what it trains: ``parameter_counts`` reports trainable / total.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

# Head modules of *ForSequenceClassification models across families.
HEAD_NAMES = ("classifier", "score", "pre_classifier")
# Pooler on top of [CLS]: sentence-transformer checkpoints (MiniLM) never trained it for
# classification, so LoRA with a frozen pooler collapses to the majority class (measured).
POOLER_NAMES = ("pooler",)


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    default_lr: float
    saves: str  # "adapter" | "model"


STRATEGIES: dict[str, Strategy] = {s.name: s for s in [
    Strategy("lora", "LoRA: small low-rank updates on the attention projections plus the new head; "
             "fast, little memory, saves a small adapter.", 1e-3, "adapter"),
    Strategy("full", "Full fine-tuning: every weight trains; most capacity, slowest, saves the "
             "whole model.", 5e-5, "model"),
    Strategy("head", "Head only: the backbone is frozen and only the new classification head "
             "trains; fastest, weakest.", 5e-3, "model"),
]}

# LoRA targets per model type; peft's own mapping is used for anything not listed.
LORA_TARGETS = {
    "bert": ["query", "value"], "roberta": ["query", "value"], "xlm-roberta": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"], "deberta-v2": ["query_proj", "value_proj"],
    "llama": ["q_proj", "v_proj"], "qwen2": ["q_proj", "v_proj"], "mistral": ["q_proj", "v_proj"],
    "gpt2": ["c_attn"],
}


def default_learning_rate(strategy: str) -> float:
    return STRATEGIES[strategy].default_lr


def _module_names(model: torch.nn.Module, wanted: tuple[str, ...]) -> list[str]:
    """Top-level-ish child module names (last path component) present in the model."""
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    return [w for w in wanted if w in present]


def apply_strategy(model: torch.nn.Module, config) -> torch.nn.Module:
    """Return the model prepared for ``config.strategy`` (may wrap it in a PeftModel)."""
    strategy = config.strategy
    if strategy == "full":
        for p in model.parameters():
            p.requires_grad = True
        if config.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad = False
        return model
    if strategy == "head":
        heads = _module_names(model, HEAD_NAMES)
        for name, p in model.named_parameters():
            p.requires_grad = any(part in heads for part in name.split("."))
        return model
    if strategy == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        targets = _lora_targets(model, config.lora_target_modules)
        lora = LoraConfig(
            task_type=TaskType.SEQ_CLS, r=config.lora_r, lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout, target_modules=targets,
            modules_to_save=_module_names(model, HEAD_NAMES + POOLER_NAMES) or None,
        )
        return get_peft_model(model, lora)
    raise ValueError(f"Unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")


def _lora_targets(model: torch.nn.Module, setting: str) -> list[str] | None:
    setting = (setting or "auto").strip()
    if setting and setting != "auto":
        wanted = [t.strip() for t in setting.split(",") if t.strip()]
        present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        missing = [t for t in wanted if t not in present]
        if missing:
            linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                             if isinstance(m, torch.nn.Linear)})
            raise ValueError(f"LoRA target module(s) {', '.join(missing)} do not exist in this "
                             f"backbone; its linear layers are: {', '.join(linear)}.")
        return wanted
    return LORA_TARGETS.get(getattr(model.config, "model_type", ""))  # None: peft's default


def parameter_counts(model: torch.nn.Module) -> dict:
    """Trainable and total parameters; peft's frozen copies of the modules it trains
    (``original_module``) are not counted twice."""
    trainable = total = 0
    for name, p in model.named_parameters():
        if ".original_module." in name:
            continue
        n = p.numel()
        total += n
        if p.requires_grad:
            trainable += n
    return {"trainable": trainable, "total": total,
            "percent": round(100.0 * trainable / total, 4) if total else 0.0}
