"""The product's lists, each declared once (a leaf module: plain data, no engine import).

``TASKS``: every task, with the module that implements it (engine/tasks/), its main metric and
what its two columns mean. ``STRATEGIES``: every fine-tuning strategy, with what it trains, its
knobs (the RunConfig fields it reads), its default learning rates and the peft method behind it;
how each one builds a model is registered in engine/strategies.py (``builds``). Config choices,
CLI flags, UI hints and the engine's own tables are derived from these two.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Task:
    name: str
    module: str  # the module implementing the task contract (engine/tasks/__init__.py)
    main_metric: str  # the one number that sums a run up (Runs table, CLI, comparisons)
    columns: tuple[str, str]  # what the text / label columns mean (the Data tab relabels them)
    generation: bool = False  # the model writes text (summarization, translation, dialogue)


TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task("classification", "engine.tasks.classification", "macro_f1", ("text", "label")),
        Task("multilabel", "engine.tasks.multilabel", "micro_f1", ("text", "labels")),
        Task("ner", "engine.tasks.ner", "f1", ("tokens", "tags")),
        Task("relation", "engine.tasks.relation", "macro_f1", ("text", "relation")),
        Task("qa", "engine.tasks.qa", "f1", ("context", "answer")),
        Task("summarization", "engine.tasks.generation", "rougeL", ("source", "target"), True),
        Task("translation", "engine.tasks.generation", "chrf", ("source", "target"), True),
        Task("dialogue", "engine.tasks.generation", "rougeL", ("source", "target"), True),
    ]
}


FAMILIES = ("encoder", "decoder")
_BOTH = ("encoder", "decoder")
_LOW_RANK_KNOBS = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules")
_PROMPT_KNOBS = ("num_virtual_tokens",)


@dataclass(frozen=True)
class Strategy:
    name: str
    title: str  # short display name
    description: str  # one line a non-expert understands
    default_lr: float  # AdamW peak learning rate when the run leaves it at 0
    saves: str  # "adapter" (peft folder) | "model" (full model folder)
    families: tuple[str, ...] = _BOTH  # backbone families it supports
    knobs: tuple[str, ...] = ()  # RunConfig fields it reads
    peft_method: str = ""  # peft's PeftType name; "" when peft is not used
    trainer: str = "engine"  # "engine" (training/loop.py's fit) | "fewshot" | "planner"
    decoder_lr: float = 0.0  # learning rate on decoders when it differs (0: same)
    # where a task wants another rate: (("ner", lr), ("qa/encoder", lr), ...): "task/family"
    # is looked up first, then "task" (the measurements are with NER_RATES / TASK_RATES below)
    task_lr: tuple[tuple[str, float], ...] = ()


# Learning rates: checked on MiniLM-L6 (bundled) with reviews_sentiment.csv, AdamW, batch 16,
# 10% warm-up then linear decay, 30-40 steps: the loss goes down for every method at its rate
# (and at the next rate tried where that learned worse: LoHa / LoKr / AdaLoRA / IA3 learned more
# at 3e-3 / 3e-3 / 3e-3 / 1e-2 than at 1e-3 / 1e-3 / 1e-3 / 5e-3). Over 90 steps LoRA ended
# level at 1e-3 and 2e-3, AdaLoRA at 2e-3 and 3e-3. On SmolLM2-135M (batch 8) P-tuning learned
# at 3e-3 but not at 1e-2 in 30 steps, the reverse of MiniLM, and prefix tuning went down at
# 3e-3 over 90 steps but not at 1e-2 in 30: hence their decoder_lr. Prompt tuning learned at
# 1e-2 on both. QLoRA (no GPU here) and SetFit (its own trainer's default) are unmeasured.
STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in [
        Strategy(
            "auto",
            "Automatic",
            "Automatic: picks a strategy for you from the backbone, the "
            "amount of data and the hardware.",
            1e-3,
            "adapter",
            trainer="planner",
        ),
        Strategy(
            "full",
            "Full fine-tuning",
            "Full fine-tuning: every weight trains; most capacity, "
            "slowest, needs the most memory, saves the whole model.",
            5e-5,
            "model",
            knobs=("freeze_embeddings",),
        ),
        Strategy(
            "head",
            "Head only",
            "Head only: the backbone is frozen and only the new "
            "classification layers on top of it train; fastest, weakest.",
            5e-3,
            "model",
        ),
        Strategy(
            "bitfit",
            "BitFit",
            "BitFit: only the bias terms of the backbone and the new head "
            "train; tiny and fast, a step up from head only.",
            1e-3,
            "model",
        ),
        Strategy(
            "lora",
            "LoRA",
            "LoRA: small low-rank updates on the attention projections plus the "
            "new head; fast, little memory, saves a small adapter.",
            1e-3,
            "adapter",
            knobs=_LOW_RANK_KNOBS,
            peft_method="LORA",
        ),
        Strategy(
            "rslora",
            "rsLoRA",
            "rsLoRA: LoRA with a rank-stabilised scale, so higher ranks keep "
            "learning well; saves a small adapter.",
            1e-3,
            "adapter",
            knobs=_LOW_RANK_KNOBS,
            peft_method="LORA",
        ),
        Strategy(
            "dora",
            "DoRA",
            "DoRA: LoRA that learns the size and the direction of each weight "
            "separately; often a little better, a little slower.",
            1e-3,
            "adapter",
            knobs=_LOW_RANK_KNOBS,
            peft_method="LORA",
        ),
        Strategy(
            "pissa",
            "PiSSA",
            "PiSSA: LoRA started from the most important directions of the "
            "pretrained weights; tends to learn faster than LoRA.",
            1e-3,
            "adapter",
            knobs=_LOW_RANK_KNOBS,
            peft_method="LORA",
        ),
        Strategy(
            "adalora",
            "AdaLoRA",
            "AdaLoRA: LoRA that moves its rank budget to the layers that "
            "need it most during training.",
            3e-3,
            "adapter",
            knobs=_LOW_RANK_KNOBS,
            peft_method="ADALORA",
        ),
        Strategy(
            "ia3",
            "IA3",
            "IA3: learns one scaling number per channel in attention and "
            "feed-forward layers; very few trainable weights.",
            1e-2,
            "adapter",
            knobs=("lora_target_modules",),
            peft_method="IA3",
        ),
        Strategy(
            "loha",
            "LoHa",
            "LoHa: a low-rank update built from a Hadamard product; can "
            "express more than LoRA at a similar size.",
            3e-3,
            "adapter",
            knobs=_LOW_RANK_KNOBS,
            peft_method="LOHA",
        ),
        Strategy(
            "lokr",
            "LoKr",
            "LoKr: a low-rank update built from a Kronecker product; very few trainable weights.",
            3e-3,
            "adapter",
            knobs=_LOW_RANK_KNOBS,
            peft_method="LOKR",
        ),
        Strategy(
            "vera",
            "VeRA",
            "VeRA: one shared frozen random projection, only small scaling "
            "vectors train; even smaller than LoRA.",
            5e-3,
            "adapter",
            knobs=("lora_r", "lora_dropout", "lora_target_modules"),
            peft_method="VERA",
        ),
        Strategy(
            "prefix",
            "Prefix tuning",
            "Prefix tuning: learns a few virtual tokens added inside "
            "every attention layer; the backbone stays frozen.",
            1e-2,
            "adapter",
            knobs=_PROMPT_KNOBS,
            peft_method="PREFIX_TUNING",
            decoder_lr=3e-3,
        ),
        Strategy(
            "prompt",
            "Prompt tuning",
            "Prompt tuning: learns a few virtual words put before "
            "the text; the backbone stays frozen.",
            1e-2,
            "adapter",
            knobs=_PROMPT_KNOBS,
            peft_method="PROMPT_TUNING",
        ),
        Strategy(
            "ptuning",
            "P-tuning",
            "P-tuning: virtual words produced by a small trained "
            "network, put before the text; the backbone stays frozen.",
            1e-2,
            "adapter",
            knobs=_PROMPT_KNOBS,
            peft_method="P_TUNING",
            decoder_lr=3e-3,
        ),
        Strategy(
            "qlora",
            "QLoRA",
            "QLoRA: LoRA on a 4-bit copy of the backbone; fits large models on a small GPU.",
            5e-4,
            "adapter",
            knobs=_LOW_RANK_KNOBS,
            peft_method="LORA",
        ),
        Strategy(
            "setfit",
            "SetFit",
            "SetFit: few-shot learning for sentence encoders; works with "
            "as few as 8 examples per label.",
            2e-5,
            "model",
            families=("encoder",),
            knobs=("setfit_iterations",),
            trainer="fewshot",
        ),
    ]
}

# Peak learning rates when the run leaves it at 0, where a task needs another rate than the
# classification default above.
# NER (a fresh per-token head over mostly "O" tags). Measured with batch 16: MiniLM-L6, 40 steps
# on sample_data/ner_english_demo.jsonl, test entity F1: full 5e-5 0.24, 1e-4 0.49, 2e-4 0.83;
# LoRA 1e-3 0.07, 3e-3 0.79, 6e-3 0.83. MiniLM-L6, 120 steps on 800 WNUT-16 tweets, validation
# F1: full 5e-5 0.00, 2e-4 0.21; LoRA 1e-3 0.00, 3e-3 0.07, 6e-3 and 1.2e-2 0.00 (everything
# "O"). SmolLM2-135M LoRA (batch 8, 30 steps, English demo): 1e-3 0.42, 3e-3 0.53.
# (e5-small-multilingual LoRA on the Chinese demo wanted more: 1.2e-2 0.93 vs 6e-3 0.60 in 60
# steps; not the default, since the same rate collapsed on WNUT.)
# QA: full fine-tuning of an encoder at the default 5e-5 learned too slowly: on MiniLM-L6 with
# qa_sample.jsonl (272 training questions, 64-token windows, batch 8, 130 steps) test EM / F1
# were 0.71 / 0.77 at 5e-5 and 0.91 / 0.94 at 1e-4 (measured). Adaptive pre-training
# ("pretrain"): full 1e-4, LoRA at its default 1e-3.
TASK_RATES: dict[str, tuple[tuple[str, float], ...]] = {
    "full": (("ner/encoder", 2e-4), ("qa/encoder", 1e-4), ("pretrain", 1e-4)),
    **{name: (("ner", 3e-3),) for name in ("lora", "rslora", "dora", "pissa")},
}
STRATEGIES.update(
    {name: replace(STRATEGIES[name], task_lr=rates) for name, rates in TASK_RATES.items()}
)

# Families of methods, from the catalogue: peft's LoraConfig / AdaLoraConfig methods, the
# prompt-learning methods, and every peft adapter that is not prompt learning.
LORA_KIND = tuple(n for n, s in STRATEGIES.items() if s.peft_method in ("LORA", "ADALORA"))
PROMPT_KIND = tuple(n for n, s in STRATEGIES.items() if "num_virtual_tokens" in s.knobs)
ADAPTER_KIND = tuple(n for n, s in STRATEGIES.items() if s.peft_method and n not in PROMPT_KIND)


def default_learning_rate(
    strategy: str, family: str = "encoder", task: str = "classification"
) -> float:
    """The peak learning rate a run of ``strategy`` on a ``family`` backbone for ``task``
    starts from (the one place every default rate comes from)."""
    s = STRATEGIES[strategy]
    rates = dict(s.task_lr)
    rate = rates.get(f"{task}/{family}") or rates.get(task)
    if rate:
        return rate
    return s.decoder_lr if family == "decoder" and s.decoder_lr else s.default_lr
