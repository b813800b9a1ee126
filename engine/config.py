"""RunConfig: the one description of a run.

The UI form, the CLI flags and the ``config.json`` saved in every run folder are all views of
this dataclass. A new knob is one field here with its metadata; the UI widget and the CLI flag
follow from it.

Field metadata keys:
  help      one line shown as the widget's info text and the CLI flag's help
  choices   allowed values (a dropdown in the UI, ``choices=`` on the CLI)
  group     "data" | "model" | "training" (where the widget lives)
  advanced  True: shown inside the "Advanced" accordion
  cli       False: not exposed as a CLI flag (set by the engine itself)
  minimum / maximum / step   numeric widget bounds
  path      what the value may point at on the server: "file" (a data file), "model" (a
            backbone: a name, or a folder / run:FOLDER), "run" (a run id or folder), "storage" (a
            search's database); engine.runs.RunView.check_config checks these for a signed-in
            user
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.catalogue import STRATEGIES as STRATEGY_CATALOGUE
from engine.catalogue import TASKS as TASK_CATALOGUE
from engine.errors import ConfigError
from engine.jsonio import write_json_atomic

# The CLI --task / --strategy values and the UI choices: views of the catalogue's registries.
TASKS = list(TASK_CATALOGUE)
GENERATION_TASKS = [name for name, task in TASK_CATALOGUE.items() if task.generation]
STRATEGIES = list(STRATEGY_CATALOGUE)
DEFAULT_STRATEGY = "auto"


def _f(default: Any, help: str, group: str, advanced: bool = False, **extra: Any) -> Any:
    meta = {"help": help, "group": group, "advanced": advanced, **extra}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


class ConfigBase:
    """What every configuration dataclass shares: dict / JSON round trips with type coercion,
    loading from a file or run folder, and validation against the field metadata."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, values: dict[str, Any], strict: bool = False):
        """Build from a dict, coercing types; unknown keys are an error only when ``strict``."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown and strict:
            raise ConfigError(f"Unknown setting(s): {', '.join(unknown)}.")
        kwargs = {}
        for name, value in values.items():
            if name in known and value is not None:
                kwargs[name] = coerce(known[name], value)
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: str | Path):
        p = Path(path)
        if p.is_dir():
            p = p / "config.json"
        try:
            values = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"No configuration file at {p}.") from None
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"{p} is not a readable configuration file ({e}).") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{p} does not hold a configuration object.")
        return cls.from_dict(values)

    def save(self, path: str | Path) -> None:
        write_json_atomic(Path(path), self.to_dict())

    def validate(self) -> None:
        for f in fields(self):
            meta = f.metadata
            value = getattr(self, f.name)
            if "choices" in meta and value not in meta["choices"]:
                raise ConfigError(
                    f"{f.name.replace('_', '-')} must be one of "
                    f"{', '.join(meta['choices'])} (got {value!r})."
                )
            if "minimum" in meta and isinstance(value, (int, float)) and value < meta["minimum"]:
                raise ConfigError(
                    f"{f.name.replace('_', '-')} must be at least {meta['minimum']} (got {value})."
                )
            if "maximum" in meta and isinstance(value, (int, float)) and value > meta["maximum"]:
                raise ConfigError(
                    f"{f.name.replace('_', '-')} must be at most {meta['maximum']} (got {value})."
                )


@dataclass
class RunConfig(ConfigBase):
    # ---- data -------------------------------------------------------------------------------
    data: str = _f(
        "", "Labelled table to train on (CSV, TSV, JSONL, Parquet or Excel).", "data", path="file"
    )
    text_column: str = _f(
        "",
        "Column with the input text (NER: the tokens or text; QA: the "
        "context; generation: the source). Empty: inferred.",
        "data",
    )
    label_column: str = _f(
        "",
        "Column with the label (multi-label: labels separated by ; or |; "
        "NER: the tags or entity spans; relation: the relation; QA: the "
        "answer; generation: the target). Empty: inferred.",
        "data",
    )
    test_data: str = _f(
        "",
        "Optional separate test file with the same columns (empty: split off from the data).",
        "data",
        advanced=True,
        path="file",
    )
    validation_fraction: float = _f(
        0.1,
        "Share of rows held out to evaluate during training.",
        "data",
        advanced=True,
        minimum=0.02,
        maximum=0.5,
        step=0.01,
    )
    test_fraction: float = _f(
        0.1,
        "Share of rows held out for the final test report (ignored when a test file is given).",
        "data",
        advanced=True,
        minimum=0.02,
        maximum=0.5,
        step=0.01,
    )
    max_rows: int = _f(
        0,
        "Use at most this many rows (a stratified sample; 0 = all).",
        "data",
        advanced=True,
        minimum=0,
        step=100,
    )
    mask_pii: bool = _f(
        False,
        "Mask e-mail addresses, URLs, phone numbers and long digit runs "
        "in the texts before training ([EMAIL], [URL], [PHONE], "
        "[NUMBER]); the Data tab previews what changes.",
        "data",
        advanced=True,
        tasks=["classification"],
    )
    task: str = _f("classification", "What the model learns to do.", "data", choices=TASKS)
    label_columns: str = _f(
        "",
        "Multi-label with one 0/1 column per label: those columns, "
        "comma-separated (empty: one label column with labels separated "
        "by ; or |).",
        "data",
        advanced=True,
        tasks=["multilabel"],
    )
    head_column: str = _f(
        "",
        "Column with the head (first) entity of the relation (empty: inferred).",
        "data",
        tasks=["relation"],
    )
    tail_column: str = _f(
        "",
        "Column with the tail (second) entity of the relation (empty: inferred).",
        "data",
        tasks=["relation"],
    )
    question_column: str = _f(
        "", "Column with the question (empty: inferred).", "data", tasks=["qa"]
    )
    answer_start_column: str = _f(
        "",
        "Optional column with the answer's character offset in the "
        "context (empty: the answer text is searched for).",
        "data",
        advanced=True,
        tasks=["qa"],
    )
    prompt_template: str = _f(
        "",
        "Instruction template; {source} is the input text (empty: the task's default template).",
        "model",
        advanced=True,
        tasks=GENERATION_TASKS + ["qa"],
    )
    target_language: str = _f(
        "",
        "Translation: the language to translate into, named in the "
        "default template (e.g. Spanish).",
        "data",
        tasks=["translation"],
    )
    max_new_tokens: int = _f(
        64,
        "Longest generated answer, in tokens.",
        "model",
        advanced=True,
        minimum=1,
        maximum=1024,
        step=8,
        tasks=GENERATION_TASKS + ["qa"],
    )
    packing: bool = _f(
        False,
        "Pack several short examples into one sequence (faster on short texts).",
        "model",
        advanced=True,
        tasks=GENERATION_TASKS,
    )
    generation_eval_rows: int = _f(
        100,
        "Test rows generated for the final scores (generation is slow on a CPU; 0 = all).",
        "training",
        advanced=True,
        minimum=0,
        step=10,
        tasks=GENERATION_TASKS + ["qa"],
    )

    # ---- model ------------------------------------------------------------------------------
    backbone: str = _f(
        "minilm-l6",
        "Pretrained model to adapt: a bundled name, a Hugging Face hub id or a local folder.",
        "model",
        path="model",
    )
    strategy: str = _f(
        DEFAULT_STRATEGY, "How much of the model is trained.", "model", choices=STRATEGIES
    )
    trust_remote_code: bool = _f(
        False,
        "Allow a backbone that ships its own Python code to run "
        "it on this machine (off: such models are refused). "
        "Only for models whose code you have read.",
        "model",
        advanced=True,
    )
    warm_start: str = _f(
        "",
        "Retrain: start from a finished text-classification run's fine-tuned "
        "model (its folder or id) instead of the bare backbone, e.g. with "
        "newly labelled rows; old and new are then compared on the same "
        "test split.",
        "model",
        advanced=True,
        tasks=["classification"],
        path="run",
    )
    max_length: int = _f(
        128,
        "Longest input in tokens; longer texts are truncated.",
        "model",
        advanced=True,
        minimum=8,
        maximum=2048,
        step=8,
    )
    lora_r: int = _f(
        8,
        "Rank of the low-rank update (higher = more capacity, more parameters).",
        "model",
        advanced=True,
        minimum=1,
        maximum=256,
        step=1,
    )
    lora_alpha: int = _f(
        16,
        "Scale of the low-rank update (often 2 x rank).",
        "model",
        advanced=True,
        minimum=1,
        maximum=512,
        step=1,
    )
    lora_dropout: float = _f(
        0.1,
        "Dropout on the adapter path.",
        "model",
        advanced=True,
        minimum=0.0,
        maximum=0.5,
        step=0.05,
    )
    lora_target_modules: str = _f(
        "auto",
        "Comma-separated module names the adapter wraps ('auto': "
        "the attention projections of the backbone family).",
        "model",
        advanced=True,
    )
    num_virtual_tokens: int = _f(
        20,
        "Number of trainable virtual tokens put before the text.",
        "model",
        advanced=True,
        minimum=1,
        maximum=200,
        step=1,
    )
    setfit_iterations: int = _f(
        10,
        "SetFit: sentence pairs drawn per labelled example for the "
        "contrastive phase (more = slower, sometimes better).",
        "model",
        advanced=True,
        minimum=1,
        maximum=100,
        step=1,
    )
    freeze_embeddings: bool = _f(
        False,
        "Freeze the word-embedding table during full fine-tuning (faster, less memory).",
        "model",
        advanced=True,
    )

    # ---- training ---------------------------------------------------------------------------
    epochs: float = _f(
        3.0, "Passes over the training rows.", "training", minimum=0.1, maximum=100, step=0.5
    )
    max_steps: int = _f(
        0,
        "Stop after this many optimisation steps (0 = use epochs).",
        "training",
        advanced=True,
        minimum=0,
        step=10,
    )
    learning_rate: float = _f(
        0.0,
        "Peak learning rate (0 = the strategy's recommended value).",
        "training",
        minimum=0.0,
        maximum=0.1,
        step=1e-5,
    )
    batch_size: int = _f(
        16, "Training examples per step.", "training", minimum=1, maximum=512, step=1
    )
    eval_batch_size: int = _f(
        64,
        "Examples per step when evaluating.",
        "training",
        advanced=True,
        minimum=1,
        maximum=1024,
        step=1,
    )
    warmup_ratio: float = _f(
        0.1,
        "Share of steps spent warming the learning rate up.",
        "training",
        advanced=True,
        minimum=0.0,
        maximum=0.5,
        step=0.01,
    )
    weight_decay: float = _f(
        0.01, "AdamW weight decay.", "training", advanced=True, minimum=0.0, maximum=0.5, step=0.01
    )
    lr_scheduler: str = _f(
        "linear",
        "How the learning rate decays after warm-up.",
        "training",
        advanced=True,
        choices=["linear", "cosine", "constant_with_warmup"],
    )
    evaluations_per_epoch: int = _f(
        4,
        "How often the validation rows are scored per epoch.",
        "training",
        advanced=True,
        minimum=1,
        maximum=50,
        step=1,
    )
    early_stopping_patience: int = _f(
        4,
        "Stop when the validation metric has not improved for this many evaluations (0 = never).",
        "training",
        advanced=True,
        minimum=0,
        maximum=50,
        step=1,
    )
    metric_for_best_model: str = _f(
        "macro_f1",
        "Validation metric that picks the best checkpoint "
        "(a task without it uses its own main metric).",
        "training",
        advanced=True,
        choices=["macro_f1", "accuracy", "loss", "micro_f1", "f1", "exact_match"],
    )
    time_budget_seconds: int = _f(
        0,
        "Stop training when this many seconds are spent and keep "
        "the best checkpoint (0 = no limit).",
        "training",
        advanced=True,
        minimum=0,
        step=30,
    )
    # ---- regularisation and low-data options ------------------------------------------------
    dropout: float = _f(
        -1.0,
        "Dropout inside the backbone (-1 = keep the backbone's own).",
        "training",
        advanced=True,
        minimum=-1.0,
        maximum=0.5,
        step=0.05,
    )
    label_smoothing: float = _f(
        0.0,
        "Label smoothing: soften the targets (0 = off; 0.1 is typical).",
        "training",
        advanced=True,
        minimum=0.0,
        maximum=0.5,
        step=0.05,
    )
    class_weights: str = _f(
        "none",
        "Weight the loss by inverse class frequency ('balanced') to help rare classes.",
        "training",
        advanced=True,
        choices=["none", "balanced"],
    )
    adversarial: str = _f(
        "none",
        "Adversarial training on the embeddings (FGM): more robust, ~2x slower per step.",
        "training",
        advanced=True,
        choices=["none", "fgm"],
    )
    adversarial_epsilon: float = _f(
        1.0,
        "Size of the FGM perturbation.",
        "training",
        advanced=True,
        minimum=0.01,
        maximum=10.0,
        step=0.1,
    )
    augment: str = _f(
        "none",
        "Add generated training examples: token edits (swap, delete, "
        "insert), paraphrases by the bundled decoder, or both.",
        "training",
        advanced=True,
        choices=["none", "tokens", "paraphrase", "both"],
    )
    augment_per_example: int = _f(
        1,
        "New examples generated per training example when augmenting.",
        "training",
        advanced=True,
        minimum=1,
        maximum=8,
        step=1,
    )
    seed: int = _f(
        42,
        "Random seed for the split, the head and the data order.",
        "training",
        advanced=True,
        minimum=0,
        step=1,
    )
    device: str = _f(
        "auto",
        "Where to train ('auto': the GPU when there is one).",
        "training",
        advanced=True,
        choices=["auto", "cpu", "cuda", "mps"],
    )
    processes: int = _f(
        1,
        "Training processes. Above 1 the run is launched with torchrun "
        "(DDP through the Trainer): one process per GPU, or CPU processes "
        "talking through gloo. Text classification, not SetFit.",
        "training",
        advanced=True,
        minimum=1,
        maximum=64,
        step=1,
    )

    # ---- bookkeeping ------------------------------------------------------------------------
    run_name: str = _f("", "A name for the run (empty: backbone-strategy-time).", "training")
    output_dir: str = _f("runs", "Folder that holds the run folders.", "training", advanced=True)

    # ------------------------------------------------------------------------------------------
    def validate(self) -> None:
        super().validate()
        if self.validation_fraction + (0 if self.test_data else self.test_fraction) >= 0.9:
            raise ConfigError("validation-fraction and test-fraction leave too few training rows.")


# ---- adaptive pre-training ---------------------------------------------------------------------
OBJECTIVES = ["auto", "mlm", "clm"]
CURRICULA = ["none", "length", "loss"]
PRETRAIN_SOURCES = ["text", "labelled-train"]


@dataclass
class PretrainConfig(ConfigBase):
    """One continued pre-training run (engine/adaptive.py): unlabelled domain text in, an adapted
    backbone out. Same metadata conventions as RunConfig; the Adapt tab and ``python -m engine
    pretrain`` are generated from it."""

    kind: str = _f("pretrain", "What the run folder holds.", "training", cli=False)
    # ---- data -------------------------------------------------------------------------------
    data: str = _f(
        "",
        "Unlabelled domain text: a .txt file (one document per line, or "
        "documents separated by blank lines) or a CSV / TSV / JSONL / Parquet / "
        "Excel table with a text column.",
        "data",
        path="file",
    )
    text_column: str = _f(
        "", "Column with the text when the data is a table (empty: inferred).", "data"
    )
    source: str = _f(
        "text",
        "'text': every document of the file; 'labelled-train': the file is "
        "a labelled table and only the rows a fine-tuning run with the same "
        "seed trains on are used (its validation and test rows are left "
        "out): task-adaptive pre-training.",
        "data",
        advanced=True,
        choices=PRETRAIN_SOURCES,
    )
    label_column: str = _f(
        "",
        "labelled-train: the label column (to split the table the way "
        "fine-tuning does; empty: inferred).",
        "data",
        advanced=True,
    )
    eval_fraction: float = _f(
        0.1,
        "Share of the documents held out to measure the domain perplexity (never trained on).",
        "data",
        advanced=True,
        minimum=0.02,
        maximum=0.5,
        step=0.01,
    )
    max_documents: int = _f(
        0,
        "Use at most this many documents (a random sample; 0 = all).",
        "data",
        advanced=True,
        minimum=0,
        step=100,
    )
    # ---- model ------------------------------------------------------------------------------
    backbone: str = _f(
        "minilm-l6",
        "Backbone to adapt: a bundled name, a hub id, a local folder "
        "or an adapted run (run:FOLDER).",
        "model",
        path="model",
    )
    objective: str = _f(
        "auto",
        "Masked-LM (encoders) or causal LM (decoders); 'auto' picks by the backbone.",
        "model",
        choices=OBJECTIVES,
    )
    strategy: str = _f(
        "full",
        "Train every weight ('full') or low-rank adapters merged into "
        "the backbone at the end ('lora').",
        "model",
        choices=["full", "lora"],
    )
    max_length: int = _f(
        128,
        "Tokens per training sequence (causal LM: the packed context length).",
        "model",
        advanced=True,
        minimum=16,
        maximum=2048,
        step=8,
    )
    mask_probability: float = _f(
        0.15,
        "Masked-LM: share of tokens masked.",
        "model",
        advanced=True,
        minimum=0.05,
        maximum=0.5,
        step=0.01,
    )
    whole_word_mask: bool = _f(
        False,
        "Masked-LM: mask every piece of a word together (harder; "
        "better for domain words split into many pieces).",
        "model",
        advanced=True,
    )
    packing: bool = _f(
        True,
        "Causal LM: pack documents end to end into full-length sequences (no padding).",
        "model",
        advanced=True,
    )
    lora_r: int = _f(16, "LoRA rank.", "model", advanced=True, minimum=1, maximum=256, step=1)
    lora_alpha: int = _f(
        32, "LoRA scale (often 2 x rank).", "model", advanced=True, minimum=1, maximum=512, step=1
    )
    head_warmup_steps: int = _f(
        100,
        "Masked-LM on a checkpoint shipped without its LM head: "
        "steps fitting the new head (tied to the word embeddings) "
        "with the body frozen before the 'before' perplexity.",
        "model",
        advanced=True,
        minimum=0,
        maximum=5000,
        step=10,
    )
    # ---- training ---------------------------------------------------------------------------
    curriculum: str = _f(
        "none",
        "Order of the training documents: 'length' (short first), "
        "'loss' (lowest base-model loss first: easy to hard) or 'none' "
        "(shuffled).",
        "training",
        choices=CURRICULA,
    )
    grow_length: bool = _f(
        False,
        "Start with short sequences and grow to the full length over the first half of training.",
        "training",
        advanced=True,
    )
    max_steps: int = _f(200, "Optimisation steps (0 = use epochs).", "training", minimum=0, step=10)
    epochs: float = _f(
        1.0,
        "Passes over the documents when max steps is 0.",
        "training",
        advanced=True,
        minimum=0.1,
        maximum=100,
        step=0.5,
    )
    learning_rate: float = _f(
        0.0,
        "Peak learning rate (0 = recommended: 1e-4 full, 1e-3 LoRA).",
        "training",
        minimum=0.0,
        maximum=0.1,
        step=1e-5,
    )
    batch_size: int = _f(16, "Sequences per step.", "training", minimum=1, maximum=512, step=1)
    warmup_ratio: float = _f(
        0.06,
        "Share of steps warming the learning rate up.",
        "training",
        advanced=True,
        minimum=0.0,
        maximum=0.5,
        step=0.01,
    )
    weight_decay: float = _f(
        0.01, "AdamW weight decay.", "training", advanced=True, minimum=0.0, maximum=0.5, step=0.01
    )
    evaluations: int = _f(
        5,
        "How many times the held-out domain perplexity is measured during training.",
        "training",
        advanced=True,
        minimum=1,
        maximum=100,
        step=1,
    )
    eval_tokens: int = _f(
        1024,
        "Tokens scored per perplexity measurement (more = steadier, "
        "slower; masked-LM scores each token with it masked).",
        "training",
        advanced=True,
        minimum=64,
        maximum=100000,
        step=64,
    )
    early_stopping_patience: int = _f(
        2,
        "Stop when the domain perplexity has not improved for this many measurements (0 = never).",
        "training",
        advanced=True,
        minimum=0,
        maximum=50,
        step=1,
    )
    plateau_lr: bool = _f(
        True,
        "Halve the learning rate when the domain perplexity stops "
        "improving (instead of a fixed decay).",
        "training",
        advanced=True,
    )
    time_budget_seconds: int = _f(
        0,
        "Stop after this many seconds and keep the best checkpoint (0 = no limit).",
        "training",
        advanced=True,
        minimum=0,
        step=30,
    )
    seed: int = _f(
        42,
        "Random seed for the held-out slice, masking and order.",
        "training",
        advanced=True,
        minimum=0,
        step=1,
    )
    device: str = _f(
        "auto",
        "Where to train ('auto': the GPU when there is one).",
        "training",
        advanced=True,
        choices=["auto", "cpu", "cuda", "mps"],
    )
    run_name: str = _f(
        "", "A name for the adapted backbone (empty: adapt-backbone-time).", "training"
    )
    output_dir: str = _f("runs", "Folder that holds the run folders.", "training", advanced=True)

    def validate(self) -> None:
        super().validate()
        if self.kind != "pretrain":
            raise ConfigError("kind must be 'pretrain' for a pre-training configuration.")


# ---- hyper-parameter search -------------------------------------------------------------------
PRUNERS = ["median", "hyperband", "none"]
DIRECTIONS = ["auto", "maximize", "minimize"]


@dataclass
class HpoConfig(RunConfig):
    """A hyper-parameter search (engine/automl.py): every RunConfig field is the base of each
    trial (the data, task, backbone ... and the values the search space leaves alone), plus how
    the search runs. The AutoML tab and ``python -m engine hpo`` are generated from it."""

    kind: str = _f("hpo", "What the run folder holds.", "search", cli=False)
    trials: int = _f(
        10,
        "Trials to run in this search (each trains one configuration).",
        "search",
        minimum=1,
        maximum=1000,
        step=1,
    )
    timeout_minutes: float = _f(
        0.0,
        "Stop starting new trials after this many minutes "
        "(0 = no limit; the running trial finishes).",
        "search",
        minimum=0.0,
        step=5,
    )
    objective_metric: str = _f(
        "",
        "Validation metric to optimise (empty: the task's main metric, e.g. macro_f1).",
        "search",
    )
    direction: str = _f(
        "auto",
        "maximize or minimize the metric ('auto': minimize a loss or "
        "perplexity, maximize anything else).",
        "search",
        choices=DIRECTIONS,
    )
    pruner: str = _f(
        "median",
        "Stop weak trials early from their intermediate validation "
        "scores: 'median' (below the median of earlier trials at the "
        "same step), 'hyperband' or 'none'.",
        "search",
        choices=PRUNERS,
    )
    search_space: str = _f(
        "",
        'JSON {setting: {"type": "float"|"int"|'
        '"categorical", "low", "high", "log", '
        '"choices"}} (empty: the default space around the Auto '
        "plan).",
        "search",
        advanced=True,
    )
    storage: str = _f(
        "",
        "Optuna storage URL shared by every worker of the study (empty: "
        "sqlite:///<output-dir>/hpo.db; PostgreSQL: postgresql://...).",
        "search",
        advanced=True,
        path="storage",
    )
    study_name: str = _f(
        "",
        "Study to create or continue (empty: a new one named after the search's run folder).",
        "search",
        advanced=True,
        path="storage",
    )
    keep_trial_models: bool = _f(
        False,
        "Keep every trial's model (default: only the best trial's, to save disk).",
        "search",
        advanced=True,
    )

    def validate(self) -> None:
        super().validate()
        if self.kind != "hpo":
            raise ConfigError("kind must be 'hpo' for a search configuration.")

    def base(self) -> RunConfig:
        """The RunConfig part: what every trial starts from."""
        return RunConfig(**{f.name: getattr(self, f.name) for f in fields(RunConfig)})


# ---- zero- and few-shot prompting ----------------------------------------------------------
PROMPT_PRESETS = ["general", "sentiment", "topic", "intent", "spam", "question-type"]
SHOT_SELECTIONS = ["random", "balanced", "similar"]
CALIBRATIONS = ["content-free", "domain"]


@dataclass
class PromptConfig(ConfigBase):
    """One zero- / few-shot classification setting (engine/prompting.py): a prompt, verbalizers,
    shots and calibration, measured on labelled rows. The Playground tab and ``python -m engine
    zeroshot`` are generated from it; every measurement saves it."""

    # ---- data -------------------------------------------------------------------------------
    data: str = _f(
        "", "Labelled table to measure on (CSV, TSV, JSONL, Parquet or Excel).", "data", path="file"
    )
    text_column: str = _f("", "Column with the text (empty: inferred).", "data")
    label_column: str = _f("", "Column with the label (empty: inferred).", "data")
    limit: int = _f(
        100,
        "Measure on at most this many rows of the test split (the rows a "
        "fine-tuning run with the same seed is tested on).",
        "data",
        minimum=1,
        maximum=100000,
        step=10,
    )
    # ---- model ------------------------------------------------------------------------------
    backbone: str = _f(
        "smollm2-135m-instruct",
        "A decoder (scores each label's verbalizer after "
        "the prompt), an encoder (zero-shot by embedding "
        "similarity to the verbalizers), a hub id, a "
        "folder or a finished generation run "
        "(run:FOLDER).",
        "model",
        path="model",
    )
    use_chat_template: bool = _f(
        False,
        "Wrap the prompt in the model's chat template when it "
        "has one (the verbalizer is then the start of the "
        "assistant's answer). Off by default: SmolLM2 scores "
        "labels better as a plain completion (measured: 0.91 "
        "vs 0.69 zero-shot on UCI sentiment).",
        "model",
        advanced=True,
    )
    # ---- prompt -----------------------------------------------------------------------------
    preset: str = _f(
        "general",
        "Starting template for the task (used when the template is empty).",
        "prompt",
        choices=PROMPT_PRESETS,
    )
    template: str = _f(
        "",
        "The prompt with {text} (the input), {labels} (the label words) and "
        "{examples} (the few-shot examples). Empty: the preset's.",
        "prompt",
    )
    example_template: str = _f(
        "",
        "How each few-shot example is written, with {text} and {label}. Empty: the preset's.",
        "prompt",
        advanced=True,
    )
    labels: str = _f(
        "", "Labels to predict, comma-separated (empty: every label of the data).", "prompt"
    )
    verbalizers: str = _f(
        "",
        'Words for each label, as JSON {"label": ["word", ...]} or '
        "lines 'label: word, word'. A label's score is the likelihood of "
        "any of its words. Empty: the label itself.",
        "prompt",
    )
    shots: int = _f(
        0,
        "Examples from the training split put into the prompt (0 = zero-shot).",
        "prompt",
        minimum=0,
        maximum=64,
        step=1,
    )
    shot_selection: str = _f(
        "random",
        "How the examples are chosen: 'random' (one draw per "
        "seed), 'balanced' (the same number per label) or "
        "'similar' (nearest to each input by MiniLM "
        "embeddings).",
        "prompt",
        choices=SHOT_SELECTIONS,
    )
    calibrate: bool = _f(
        False,
        "Calibration: estimate the prompt's bias towards each label and divide it out.",
        "prompt",
    )
    calibration: str = _f(
        "content-free",
        "Where the bias is measured: 'content-free' inputs in "
        "place of the text (contextual calibration, Zhao et al. "
        "2021) or 'domain': the mean prediction over 32 random "
        "training texts, labels unused (Fei et al. 2023).",
        "prompt",
        advanced=True,
        choices=CALIBRATIONS,
    )
    content_free: str = _f(
        "N/A;;[MASK]",
        "Calibration inputs, separated by ';' (an empty one between two ';' is the empty text).",
        "prompt",
        advanced=True,
    )
    embedder: str = _f(
        "minilm-l6",
        "Encoder whose embeddings pick 'similar' examples.",
        "prompt",
        advanced=True,
        path="model",
    )
    seed: int = _f(
        42,
        "Random seed for the split and the example draw.",
        "prompt",
        advanced=True,
        minimum=0,
        step=1,
    )
    output_dir: str = _f(
        "runs",
        "Folder of the runs; measurements are kept in <folder>/playground/measurements.jsonl.",
        "prompt",
        advanced=True,
    )


def coerce(f, value: Any) -> Any:
    """Convert a UI / CLI / JSON value to the field's type, with a human error."""
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    name = f.name.replace("_", "-")
    try:
        if kind == "bool":
            if isinstance(value, str):
                v = value.strip().lower()
                if v in ("1", "true", "yes", "on"):
                    return True
                if v in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if kind == "float":
            return float(value)
        return "" if value is None else str(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{name} expects {'a whole number' if kind == 'int' else 'a number' if kind == 'float' else kind} "
            f"(got {value!r})."
        ) from None


def config_fields(group: str | None = None, advanced: bool | None = None, cls: type | None = None):
    """The dataclass fields with their metadata, optionally filtered (used by the UI and CLI).

    ``cls``: the configuration dataclass (default RunConfig; PretrainConfig for pre-training)."""
    out = []
    for f in fields(cls or RunConfig):
        if group is not None and f.metadata.get("group") != group:
            continue
        if advanced is not None and bool(f.metadata.get("advanced")) != advanced:
            continue
        out.append(f)
    return out


def default_of(f) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]
