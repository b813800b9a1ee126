"""Fine-tuning strategies: which parameters train, through peft wherever peft has the method.

The catalogue (``STRATEGIES``) describes every strategy the product offers; ``support`` says
whether one works for a backbone family (and why not when it does not); ``apply_strategy``
prepares a loaded ``*ForSequenceClassification`` model; ``strategy_callbacks`` /
``after_optimizer_step`` are the per-step work some methods need while training; ``save_model``
writes the result in the form ``load_adapter`` (``PeftModel.from_pretrained`` on the original
base) or ``from_pretrained`` reloads; ``parameter_counts`` reports trainable / total honestly.
``padding_side`` and ``quantization_config`` say how to load the tokenizer and the backbone.

Nothing here re-implements a peft method: LoRA and its variants, AdaLoRA, IA3, LoHa, LoKr, VeRA
and the prompt-learning methods are peft's own configs with task_type SEQ_CLS.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import torch

from engine.catalogue import (  # noqa: F401 - the registry's names, re-exported
    ADAPTER_KIND,
    FAMILIES,
    LORA_KIND,
    PROMPT_KIND,
    STRATEGIES,
    TASK_RATES,
    Strategy,
    default_learning_rate,
)

# Head modules of *ForSequenceClassification models across families.
HEAD_NAMES = ("classifier", "score", "pre_classifier", "qa_outputs")
# Pooler on top of [CLS]: sentence-transformer checkpoints (MiniLM) never trained it for
# classification, so LoRA with a frozen pooler collapses to the majority class (measured).
# It feeds only the classifier, so every strategy trains it together with the head.
POOLER_NAMES = ("pooler",)


# Default targets of the low-rank methods per model type: the query and value projections.
LORA_TARGETS = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "camembert": ["query", "value"],
    "electra": ["query", "value"],
    "mpnet": ["q", "v"],
    "distilbert": ["q_lin", "v_lin"],
    "deberta-v2": ["query_proj", "value_proj"],
    "llama": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "qwen3": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "gemma": ["q_proj", "v_proj"],
    "gemma2": ["q_proj", "v_proj"],
    "gpt2": ["c_attn"],
}
# IA3: keys, values and the second feed-forward layer (the latter scaled on its input).
IA3_TARGETS = {
    "bert": ["key", "value", "output.dense"],
    "roberta": ["key", "value", "output.dense"],
    "xlm-roberta": ["key", "value", "output.dense"],
    "camembert": ["key", "value", "output.dense"],
    "electra": ["key", "value", "output.dense"],
    "mpnet": ["k", "v", "output.dense"],
    "distilbert": ["k_lin", "v_lin", "lin2"],
    "deberta-v2": ["key_proj", "value_proj", "output.dense"],
    "llama": ["k_proj", "v_proj", "down_proj"],
    "qwen2": ["k_proj", "v_proj", "down_proj"],
    "qwen3": ["k_proj", "v_proj", "down_proj"],
    "mistral": ["k_proj", "v_proj", "down_proj"],
    "gemma": ["k_proj", "v_proj", "down_proj"],
    "gemma2": ["k_proj", "v_proj", "down_proj"],
    "gpt2": ["c_attn", "mlp.c_proj"],
}
IA3_FEEDFORWARD = ("output.dense", "lin2", "down_proj", "mlp.c_proj", "fc2", "w2", "dense_4h_to_h")
# For a model type not listed: the first pair of these present in the model.
_GENERIC_TARGETS = (
    ["query", "value"],
    ["q_proj", "v_proj"],
    ["q_lin", "v_lin"],
    ["query_proj", "value_proj"],
    ["c_attn"],
    ["q", "v"],
    ["Wqkv"],
    ["qkv_proj"],
    ["query_key_value"],
)
_GENERIC_IA3 = (
    ["key", "value", "output.dense"],
    ["k_proj", "v_proj", "down_proj"],
    ["k_lin", "v_lin", "lin2"],
    ["c_attn", "mlp.c_proj"],
)

DECODER_TYPES = {
    "llama",
    "gpt2",
    "qwen2",
    "qwen3",
    "mistral",
    "phi",
    "phi3",
    "gemma",
    "gemma2",
    "gpt_neox",
    "opt",
    "falcon",
    "smollm3",
    "gptj",
    "bloom",
}


# ---------------------------------------------------------------------------------------------
# support


def _cuda_available() -> bool:
    try:
        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001 - a broken driver means "no GPU" here
        return False


def support(strategy: str, family: str, model_type: str = "", device: str = "cpu") -> str | None:
    """None when ``strategy`` trains on a backbone of ``family`` ("encoder" | "decoder") and
    ``model_type`` (its config's model_type; "" when unknown), otherwise one human line saying
    why not. ``device`` is the run's device setting ("auto" | "cpu" | "cuda" | "mps").

    The pairs below were found by trying every strategy on tiny bert, roberta, xlm-roberta,
    distilbert, deberta-v2, llama, qwen2, mistral and gpt2 models (a few optimiser steps, save,
    reload, same logits; the padded batch scored like each text alone)."""
    s = STRATEGIES.get(strategy)
    if s is None:
        return f"Unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}."
    if family not in s.families:
        if strategy == "setfit":
            return "SetFit fine-tunes sentence-embedding encoders; pick an encoder backbone."
        return f"{s.title} does not support {family} backbones."
    if strategy == "qlora":
        gpu = device in ("auto", "cuda") and _cuda_available()
        bnb = importlib.util.find_spec("bitsandbytes") is not None
        if not gpu and not bnb:
            return "QLoRA needs a CUDA GPU and the bitsandbytes package; this machine has neither."
        if not gpu:
            return "QLoRA needs a CUDA GPU (4-bit weights only run there); " + (
                "this run is set to another device."
                if _cuda_available()
                else "this machine has none."
            )
        if not bnb:
            return "QLoRA needs the bitsandbytes package; install it with pip install bitsandbytes."
    return _UNSUPPORTED.get((strategy, model_type))


_NO_CACHE = (
    "Prefix tuning needs a backbone that can take extra keys and values in every "
    "attention layer; {m} cannot. Pick prompt tuning or LoRA."
)
_CONV1D = (
    "{s} cannot wrap GPT-2-style Conv1D layers (peft supports it on Linear layers only); "
    "pick LoRA or IA3."
)
_NO_BIAS = (
    "BitFit trains bias terms and {m} models have none, so it would train the head only; "
    "pick head only or LoRA."
)
_UNSUPPORTED: dict[tuple[str, str], str] = {
    **{
        ("prefix", m): _NO_CACHE.format(m=n)
        for m, n in [
            ("distilbert", "DistilBERT"),
            ("deberta-v2", "DeBERTa-v2/v3"),
            ("deberta", "DeBERTa"),
        ]
    },
    **{(st, "gpt2"): _CONV1D.format(s=STRATEGIES[st].title) for st in ("loha", "lokr")},
    **{
        ("bitfit", m): _NO_BIAS.format(m=n)
        for m, n in [
            ("llama", "Llama"),
            ("mistral", "Mistral"),
            ("gemma", "Gemma"),
            ("gemma2", "Gemma 2"),
            ("smollm3", "SmolLM3"),
        ]
    },
}


def _model_reason(strategy: str, model: torch.nn.Module) -> str | None:
    """``support``'s answer from the model itself, for model types the table does not list."""
    name = getattr(model.config, "model_type", "") or "this backbone"
    if strategy == "prefix":
        import inspect

        backbone = getattr(model, "base_model", model)
        params = inspect.signature(backbone.forward).parameters
        if "cache" not in params and "past_key_values" not in params:
            return _NO_CACHE.format(m=name)
    if strategy == "bitfit":
        heads = head_modules(model)
        if not any(
            n.endswith(".bias") and not _is_head_param(n, heads)
            for n, _ in model.named_parameters()
        ):
            return _NO_BIAS.format(m=name)
    return None


def support_table(family: str, model_type: str = "", device: str = "cpu") -> dict[str, str | None]:
    """``support`` for every strategy, in catalogue order (for the UI)."""
    return {name: support(name, family, model_type, device) for name in STRATEGIES}


# ---------------------------------------------------------------------------------------------
# applying a strategy


def model_family(model: torch.nn.Module) -> str:
    cfg = getattr(model, "config", None)
    mt = getattr(cfg, "model_type", "")
    if mt in DECODER_TYPES or getattr(cfg, "is_decoder", False) or hasattr(model, "score"):
        return "decoder"
    return "encoder"


def _module_names(model: torch.nn.Module, wanted: tuple[str, ...]) -> list[str]:
    """The names in ``wanted`` that are the last path component of a module of the model."""
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    return [w for w in wanted if w in present]


def head_modules(model: torch.nn.Module) -> list[str]:
    """The classification head and, where there is one, the pooler that feeds it."""
    return _module_names(model, HEAD_NAMES + POOLER_NAMES)


def _is_head_param(name: str, heads: list[str]) -> bool:
    return any(part in heads for part in name.split("."))


def _linear_names(model: torch.nn.Module) -> list[str]:
    from transformers.pytorch_utils import Conv1D

    heads = head_modules(model)
    return sorted(
        {
            n.rsplit(".", 1)[-1]
            for n, m in model.named_modules()
            if isinstance(m, (torch.nn.Linear, Conv1D)) and not _is_head_param(n, heads)
        }
    )


def _has_module(model: torch.nn.Module, target: str) -> bool:
    return any(n == target or n.endswith("." + target) for n, _ in model.named_modules())


def _targets(
    model: torch.nn.Module, setting: str, table: dict, generic: tuple, method: str
) -> list[str]:
    """The module names an adapter wraps: the user's list (checked) or the family default."""
    setting = (setting or "auto").strip()
    if setting and setting != "auto":
        wanted = [t.strip() for t in setting.split(",") if t.strip()]
        missing = [t for t in wanted if not _has_module(model, t)]
        if missing:
            raise ValueError(
                f"{method} target module(s) {', '.join(missing)} do not exist in "
                f"this backbone; its linear layers are: "
                f"{', '.join(_linear_names(model))}."
            )
        return wanted
    model_type = getattr(model.config, "model_type", "")
    if model_type in table:
        return list(table[model_type])
    for names in generic:
        if all(_has_module(model, n) for n in names):
            return list(names)
    raise ValueError(
        f"{method} does not know which layers to adapt in a {model_type or 'this'} "
        f"model; set lora-target-modules to some of its linear layers: "
        f"{', '.join(_linear_names(model))}."
    )


def _on_meta(model: torch.nn.Module) -> bool:
    return any(p.is_meta for p in model.parameters())


def apply_strategy(
    model: torch.nn.Module, config, total_steps: int | None = None, task_type: str = "SEQ_CLS"
) -> torch.nn.Module:
    """Return the model prepared for ``config.strategy`` (may wrap it in a PeftModel).

    ``total_steps``: the run's number of optimisation steps (AdaLoRA schedules its rank budget
    over it; without it ``config.max_steps`` or a placeholder is used, fine for a preview).
    ``task_type``: peft's TaskType name for the model's head: "SEQ_CLS" (classification,
    multi-label, relation), "TOKEN_CLS" (NER), "QUESTION_ANS" (extractive QA) or "CAUSAL_LM"
    (generation; no new head, so nothing extra is saved with the adapter).
    Raises ValueError with a human message when the strategy cannot train this model.
    """
    strategy = config.strategy
    s = STRATEGIES.get(strategy)
    if s is None:
        raise ValueError(f"Unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    if s.trainer == "planner":
        raise ValueError("The 'auto' strategy must be resolved to a concrete strategy first.")
    if s.trainer == "fewshot":
        raise ValueError("SetFit runs are trained by engine.fewshot, not by apply_strategy.")
    family = model_family(model)
    model_type = getattr(model.config, "model_type", "")
    reason = support(strategy, family, model_type, getattr(config, "device", "cpu"))
    if strategy == "qlora" and _is_quantized(model):
        reason = None  # loaded in 4-bit: the GPU and bitsandbytes are evidently there
    reason = reason or _model_reason(strategy, model)
    if reason:
        raise ValueError(reason)

    build = BUILDERS.get(strategy)
    if build is None:
        raise ValueError(f"Unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    return build(model, config, Build.of(model, config, total_steps, task_type))


def _is_quantized(model: torch.nn.Module) -> bool:
    return bool(
        getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False)
    )


# ---------------------------------------------------------------------------------------------
# how each strategy builds itself: one registered function per method (peft's own configs)

BUILDERS: dict[str, Callable] = {}


def builds(*names: str):
    """Register the decorated function as the way strategies ``names`` prepare a model:
    ``fn(model, config, build: Build) -> model`` (peft's ``register_peft_method`` idea). A
    strategy of the catalogue with trainer "engine" and no builder fails at import."""

    def register(fn):
        for name in names:
            if name not in STRATEGIES:
                raise KeyError(f"builder for {name!r}, which is not in STRATEGIES")
            BUILDERS[name] = fn
        return fn

    return register


@dataclass(frozen=True)
class Build:
    """What every builder reads besides the model and the config."""

    task_type: Any  # peft.TaskType of the model's head
    save: list[str] | None  # head (and pooler) modules trained and saved with the adapter
    total_steps: int | None
    meta: bool  # a preview on the meta device (no weights)

    @classmethod
    def of(cls, model, config, total_steps, task_type: str) -> Build:
        from peft import TaskType

        return cls(TaskType[task_type], head_modules(model) or None, total_steps, _on_meta(model))

    @staticmethod
    def targets(model, config, table=None, generic=None, what: str = "LoRA") -> list[str]:
        setting = getattr(config, "lora_target_modules", "auto")
        return _targets(model, setting, table or LORA_TARGETS, generic or _GENERIC_TARGETS, what)


@builds("full")
def _full(model, config, build: Build):
    for p in model.parameters():
        p.requires_grad = True
    if getattr(config, "freeze_embeddings", False):
        model.get_input_embeddings().weight.requires_grad = False
    return model


@builds("head", "bitfit")
def _head_or_bias(model, config, build: Build):
    heads = head_modules(model)
    for name, p in model.named_parameters():
        p.requires_grad = _is_head_param(name, heads) or (
            config.strategy == "bitfit" and name.endswith(".bias")
        )
    return model


@builds("lora", "rslora", "dora", "pissa", "qlora")
def _lora(model, config, build: Build):
    import peft

    strategy = config.strategy
    if strategy == "qlora":
        if not _is_quantized(model):
            raise ValueError(
                "QLoRA needs the backbone loaded in 4-bit: load it with "
                "engine.strategies.quantization_config('qlora')."
            )
        model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    init = True
    if strategy == "pissa" and not build.meta:  # SVD of meta weights is meaningless (preview)
        # fast randomised SVD: 8x faster than the full one (1.1 s vs 8.6 s on SmolLM2-135M,
        # one CPU thread); the residual weights stay exact, only the start is approximate
        init = "pissa_niter_4"
    cfg = peft.LoraConfig(
        task_type=build.task_type,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=build.targets(model, config),
        modules_to_save=build.save,
        use_rslora=strategy == "rslora",
        use_dora=strategy == "dora",
        init_lora_weights=init,
    )
    pm = peft.get_peft_model(model, cfg)
    if strategy == "pissa" and not build.meta:
        _keep_initial_adapter(pm)
    return pm


@builds("adalora")
def _adalora(model, config, build: Build):
    import peft

    r = config.lora_r
    steps = int(build.total_steps or getattr(config, "max_steps", 0) or 1000)
    # warm up on the full rank for 10% of the steps, fix the final budget for the last 20%
    tinit, tfinal = int(0.1 * steps), int(0.2 * steps)
    if tinit >= steps - tfinal:
        tinit, tfinal = 0, 0
    cfg = peft.AdaLoraConfig(
        task_type=build.task_type,
        init_r=max(r + 1, round(1.5 * r)),
        target_r=r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=build.targets(model, config, what="AdaLoRA"),
        modules_to_save=build.save,
        total_step=steps,
        tinit=tinit,
        tfinal=tfinal,
        deltaT=max(1, steps // 100),
    )
    pm = peft.get_peft_model(model, cfg)
    for name, p in pm.named_parameters():  # a constant; peft leaves it trainable on meta
        if ".ranknum." in name:
            p.requires_grad_(False)
    _adalora_reload_compat(pm)
    return pm


@builds("ia3")
def _ia3(model, config, build: Build):
    import peft

    targets = build.targets(model, config, IA3_TARGETS, _GENERIC_IA3, "IA3")
    ff = [t for t in targets if any(t == f or t.endswith("." + f) for f in IA3_FEEDFORWARD)]
    cfg = peft.IA3Config(
        task_type=build.task_type,
        target_modules=targets,
        feedforward_modules=ff,
        modules_to_save=build.save,
    )
    return peft.get_peft_model(model, cfg)


@builds("loha", "lokr")
def _loha_lokr(model, config, build: Build):
    import peft

    strategy = config.strategy
    targets = build.targets(model, config, what=STRATEGIES[strategy].title)
    _no_conv1d(model, targets, strategy)
    config_class = peft.LoHaConfig if strategy == "loha" else peft.LoKrConfig
    cfg = config_class(
        task_type=build.task_type,
        r=config.lora_r,
        alpha=config.lora_alpha,
        rank_dropout=config.lora_dropout,
        target_modules=targets,
        modules_to_save=build.save,
    )
    return peft.get_peft_model(model, cfg)


@builds("vera")
def _vera(model, config, build: Build):
    import peft

    cfg = peft.VeraConfig(
        task_type=build.task_type,
        r=config.lora_r,
        vera_dropout=config.lora_dropout,
        target_modules=build.targets(model, config, what="VeRA"),
        modules_to_save=build.save,
    )
    return peft.get_peft_model(model, cfg)


@builds("prefix", "prompt", "ptuning")
def _prompt_learning(model, config, build: Build):
    import peft

    strategy = config.strategy
    # Sizes from the config's attribute map (DistilBERT's dim / n_layers, GPT-2's n_embd...),
    # which peft's own lookup of the plain names misses.
    mc = model.config
    dims = dict(
        task_type=build.task_type,
        num_virtual_tokens=config.num_virtual_tokens,
        modules_to_save=build.save,
        token_dim=model.get_input_embeddings().embedding_dim,
        num_layers=getattr(mc, "num_hidden_layers", None),
        num_attention_heads=getattr(mc, "num_attention_heads", None),
    )
    if strategy == "prefix":
        _prefix_compat(model)
        cfg = peft.PrefixTuningConfig(**dims)
    else:
        if model_family(model) == "decoder":
            _position_compat(model)
        if strategy == "prompt":
            # started from the embeddings of random vocabulary words: on MiniLM, 30 steps at
            # 1e-2 reached 72% accuracy against 46% from peft's default random init (measured)
            cfg = peft.PromptTuningConfig(**dims, prompt_tuning_init="SAMPLE_VOCAB")
        else:
            cfg = peft.PromptEncoderConfig(**dims)
    return peft.get_peft_model(model, cfg)


_MISSING = [n for n, st in STRATEGIES.items() if st.trainer == "engine" and n not in BUILDERS]
if _MISSING:  # a strategy in the catalogue that nothing can build
    raise ImportError(f"strategies without a builder: {', '.join(_MISSING)}")


def _adalora_reload_compat(pm) -> None:
    """Let a checkpoint saved earlier in the run be loaded back into the trained AdaLoRA model
    (what the Trainer's load_best_model_at_end does).

    A saved AdaLoRA adapter is cut to the rank pattern of the moment it was saved; peft 0.21's
    ``load_adapter`` cuts the live modules to the model's *current* pattern instead, so a best
    checkpoint from before the final budget fails with a size mismatch (measured). The live
    modules keep their full initial rank during training, so taking the checkpoint's pattern
    first makes the shapes agree."""
    from peft import PeftConfig

    load = pm.load_adapter

    def load_adapter(model_id, adapter_name="default", *args, **kwargs):
        if adapter_name in pm.peft_config:
            saved = PeftConfig.from_pretrained(str(model_id), subfolder=kwargs.get("subfolder"))
            pm.peft_config[adapter_name].rank_pattern = getattr(saved, "rank_pattern", None)
        return load(model_id, adapter_name, *args, **kwargs)

    pm.load_adapter = load_adapter


def _no_conv1d(model: torch.nn.Module, targets: list[str], strategy: str) -> None:
    from transformers.pytorch_utils import Conv1D

    for name, module in model.named_modules():
        if isinstance(module, Conv1D) and any(name == t or name.endswith("." + t) for t in targets):
            raise ValueError(_CONV1D.format(s=STRATEGIES[strategy].title))


def _keep_initial_adapter(pm) -> None:
    """PiSSA rewrites the base weights; peft turns the trained adapter back into a plain LoRA
    adapter for the *original* base when it is given the adapter as it was before training."""
    folder = tempfile.mkdtemp(prefix="adaptune-pissa-init-")
    pm.save_pretrained(folder)
    pm._adaptune_initial_adapter = folder
    weakref.finalize(pm, shutil.rmtree, folder, True)


def save_model(model: torch.nn.Module, folder) -> None:
    """Write the trained model where ``engine.predict`` reloads it: an adapter folder that
    ``load_adapter(original_base, folder)`` (``PeftModel.from_pretrained``) loads, or a full
    model folder."""
    initial = getattr(model, "_adaptune_initial_adapter", None)
    if not initial:
        model.save_pretrained(str(folder))
        return
    # PiSSA: saved as the equivalent plain LoRA adapter (rank 2r) for the original base.
    from pathlib import Path

    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    model.save_pretrained(str(folder), path_initial_model_for_weight_conversion=initial)
    # peft 0.21's conversion keeps only the lora_A/lora_B tensors and drops the head
    # (modules_to_save), without which the adapter does not load: put it back.
    path = Path(folder) / "adapter_model.safetensors"
    saved = load_file(str(path))
    extra = {
        k: v.detach().cpu().contiguous()
        for k, v in get_peft_model_state_dict(model).items()
        if k not in saved and "lora_" not in k
    }
    if extra:
        save_file({**saved, **extra}, str(path), metadata={"format": "pt"})


def _prefix_compat(model: torch.nn.Module) -> None:
    """Let peft hand prefix tuning's prefix to a transformers 5 model.

    peft 0.21 passes the prefix as ``past_key_values`` only when the model's forward signature
    names that argument; transformers 5 renamed it ``cache`` (the models still read the prefix
    from it). The model's forward gains a ``past_key_values`` argument that is passed on as
    ``cache``; nothing else changes. A no-op where the signature already has it.
    """
    import inspect

    forward = model.forward
    sig = inspect.signature(forward)
    if "past_key_values" in sig.parameters:
        return

    def forward_with_prefix(*args, past_key_values=None, **kwargs):
        if past_key_values is not None:
            kwargs["cache"] = past_key_values
        return forward(*args, **kwargs)

    params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    var_kw = [p for p in sig.parameters.values() if p.kind is p.VAR_KEYWORD]
    extra = inspect.Parameter("past_key_values", inspect.Parameter.KEYWORD_ONLY, default=None)
    forward_with_prefix.__signature__ = sig.replace(parameters=params + [extra] + var_kw)
    model.forward = forward_with_prefix


def _position_compat(model: torch.nn.Module) -> None:
    """Position ids for prompt / p-tuning on a decoder, so that padding does not move the text.

    peft puts the virtual tokens in front of the (left-)padded text and drops any position ids,
    so the distance between the prompt and the text grows with the padding of the batch: on
    SmolLM2-135M a trained prompt scored 4 of 40 texts differently in a batch than alone
    (measured). Counting positions over the attention mask, as generation does for left padding,
    gives every text the same positions whatever the batch."""
    import inspect

    forward = model.forward

    def forward_with_positions(*args, **kwargs):
        mask = kwargs.get("attention_mask")
        if (
            kwargs.get("position_ids") is None
            and mask is not None
            and kwargs.get("inputs_embeds") is not None
        ):
            kwargs["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)
        return forward(*args, **kwargs)

    forward_with_positions.__signature__ = inspect.signature(forward)
    model.forward = forward_with_positions


def load_adapter(base: torch.nn.Module, folder):
    """The trained adapter in ``folder`` on ``base`` (a fresh *ForSequenceClassification of the
    original backbone with the same labels), ready for inference: ``PeftModel.from_pretrained``
    plus what a method needs around the model (prefix tuning: ``_prefix_compat``; prompt and
    p-tuning on a decoder: ``_position_compat``)."""
    from peft import PeftConfig, PeftModel

    kind = PeftConfig.from_pretrained(str(folder)).peft_type
    kind = str(getattr(kind, "value", kind))
    if kind == "PREFIX_TUNING":
        _prefix_compat(base)
    elif kind in ("PROMPT_TUNING", "P_TUNING") and model_family(base) == "decoder":
        _position_compat(base)
    return PeftModel.from_pretrained(base, str(folder))


def _peft_type(model: torch.nn.Module) -> str | None:
    config = getattr(model, "peft_config", None)
    if not isinstance(config, dict) or "default" not in config:
        return None
    kind = config["default"].peft_type
    return str(getattr(kind, "value", kind))


def after_optimizer_step(model: torch.nn.Module, step: int) -> None:
    """Per-step work some methods need after ``optimizer.step()`` and before the gradients are
    zeroed (``step``: 0 for the first step): AdaLoRA reallocates its rank budget here from the
    gradients (peft's ``update_and_allocate``)."""
    if _peft_type(model) == "ADALORA":
        model.base_model.update_and_allocate(step)


def strategy_callbacks(model: torch.nn.Module) -> list:
    """transformers TrainerCallbacks the prepared model needs (AdaLoRA: ``after_optimizer_step``
    from ``on_optimizer_step``, the one hook that runs while the gradients still exist)."""
    if _peft_type(model) != "ADALORA":
        return []
    from transformers import TrainerCallback

    class AdaLoraBudget(TrainerCallback):
        def on_optimizer_step(self, args, state, control, model=None, **kwargs):
            after_optimizer_step(model, state.global_step)

    return [AdaLoraBudget()]


def padding_side(strategy: str, family: str) -> str:
    """Which side the tokenizer pads for this strategy and family.

    Decoders classify from the last real token, found from the input ids with right padding;
    prompt and p-tuning hand the model embeddings instead of ids, so the model takes the last
    position: with left padding that is the last real token."""
    if family == "decoder" and strategy in ("prompt", "ptuning"):
        return "left"
    return "right"


def quantization_config(strategy: str):
    """The ``quantization_config`` to load the backbone with (QLoRA), else None."""
    if strategy != "qlora":
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
        llm_int8_skip_modules=list(HEAD_NAMES + POOLER_NAMES),
    )


# ---------------------------------------------------------------------------------------------


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
    return {
        "trainable": trainable,
        "total": total,
        "percent": round(100.0 * trainable / total, 4) if total else 0.0,
    }
