"""Tasks: one module per task, all behind the same small contract.

``RunConfig.task`` names the task; ``get_task(name)`` returns its module. The spine
(engine/training/pipeline.py: ``train_run``; engine/cli.py; the UI) only talks to a task through
this contract, so a new task is a new module plus one line in engine/catalogue.py's ``TASKS``.
Every task trains through the one loop, ``engine.training.loop.fit``.

Contract of a task module (every task, classification included, implements all of these;
tests/unit/test_spine.py walks the registry):

``DEFAULT_METRIC: str``
    The validation metric that picks the best checkpoint when ``config.metric_for_best_model`` is
    not one the task reports (e.g. "f1" for NER, "chrf" for translation). Direction: higher is
    better except "loss".
``DEFAULT_STRATEGY(family: str) -> str``  (a function)
    What ``strategy=auto`` becomes for this task on an "encoder" or "decoder" backbone when no
    data is read (classification's ``plan(config, data)`` plans from the data instead).
``MODEL_CLASS: (str, str)``
    The transformers auto class and the peft task type of the task's model (previews).
``DISTRIBUTED: bool``
    The task trains under torchrun (rank 0 writes the run folder).
``unsupported(strategy: str, family: str) -> str | None``
    None when the strategy trains this task on a backbone of that family ("encoder"|"decoder"),
    else one human line why not (e.g. generation on an encoder, SetFit outside classification).
    engine.training.pipeline.check_support asks it after the generic
    engine.strategies.support, so the CLI refuses and the Train tab disables the pair.
``prepare(config) -> TaskData``
    Load, check and split the data the configuration names. Every user mistake raises
    ``engine.data.DataError`` with one or two human sentences naming the file, the column, the
    row when useful, and the fix. Never writes anything. (Classification returns the
    ``engine.data.DataSpec`` with the same ``to_dict()`` and ``warnings``.)
``train(config, run, stop_event, data, *, resume_from=None, callbacks=()) -> dict``
    Load the model, train it through ``engine.training.loop.fit`` (which applies the strategy,
    writes the "start"/"log"/"eval" events, honours Stop, the time budget and early stopping,
    resumes from ``resume_from`` and runs the extra ``callbacks``), evaluate, save the model
    under ``run.model_dir`` when ``run.writer`` (``engine.strategies.save_model`` + tokenizer +
    ``task.json`` with what ``Predictor`` needs), then ``loop.finish`` (metrics.json, "end"
    event, status). ``metrics`` = ``loop.base_metrics(...)`` ("status", "task",
    "train_samples_per_second", "train_seconds", "global_step", "max_steps", "parameters",
    "device", "processes", ...) plus "test" (a flat dict of the task's metrics: floats plus
    "n"), "validation", "examples" (what the Evaluate tab shows) and, where the task has them,
    "before" (the untrained model's test metrics) and "report".
``Predictor(run_dir)``
    ``.predict(inputs: list) -> list[dict]`` for one or more inputs (a text, or a dict with the
    task's fields, e.g. {"context": ..., "question": ...}); each answer is JSON-serialisable.
    ``.predict_table(df) -> df`` adds the prediction columns to a table.
``INPUT_FIELDS: list[str]``
    The fields one prediction needs ("text"; relation: "text", "head", "tail"; qa: "context",
    "question"), used by the Evaluate tab's "try it" box and the HTTP API.

``TaskData`` (below) is what ``prepare`` returns: three pandas frames in the task's own column
layout, the label set (classes, entity types or relations; empty for generation), warnings, and a
JSON summary saved as the run's data.json.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pandas as pd

from engine.catalogue import TASKS
from engine.errors import ConfigError

# Views of the one task list (engine/catalogue.py): the module of each task, the one number
# that sums a run up (Runs table, the CLI's `runs`, comparisons), what its two columns mean.
TASK_MODULES = {name: task.module for name, task in TASKS.items()}
MAIN_METRIC = {name: task.main_metric for name, task in TASKS.items()}
COLUMN_ROLES = {name: task.columns for name, task in TASKS.items()}
_NAME_HINTS = [
    ("ner", ("ner", "conll", "wnut", "entities", "entity")),
    ("multilabel", ("multilabel", "multi_label", "multi-label")),
    ("relation", ("relation",)),
    ("qa", ("qa", "squad", "question_answer")),
    ("translation", ("translation", "parallel", "bible")),
    ("summarization", ("summar",)),
    ("dialogue", ("dialog", "chat")),
]


def guess_task(name: str, columns: list[str] | None = None) -> str | None:
    """The task a file most likely holds, from its name and columns; None when nothing says.

    Used by the Data tab to pre-select the task when a sample or an upload makes it obvious
    (a .conll file, tokens/tags columns, head/tail columns, context/question columns...)."""
    import re

    stem = name.lower().rsplit("/", 1)[-1]
    if stem.endswith((".conll", ".bio", ".iob", ".iob2", ".bioes")):
        return "ner"
    cols = {c.lower() for c in (columns or [])}
    if (
        {"tokens", "tags"} <= cols
        or {"tokens", "ner_tags"} <= cols
        or "entities" in cols
        or "spans" in cols
    ):
        return "ner"
    if (
        {"head", "tail"} <= cols or {"subject", "object"} <= cols or {"e1", "e2"} <= cols
    ) and cols & {"relation", "label"}:
        return "relation"
    if "question" in cols and "context" in cols:
        return "qa"
    words = re.split(r"[^a-z]+", stem)
    for task, hints in _NAME_HINTS:
        if any(h in words or (len(h) > 4 and h in stem) for h in hints):
            return task
    return None


def get_task(name: str) -> ModuleType:
    """The module implementing task ``name``; ConfigError for an unknown name."""
    if name not in TASK_MODULES:
        raise ConfigError(f"Unknown task {name!r}; choose one of: {', '.join(TASK_MODULES)}.")
    return importlib.import_module(TASK_MODULES[name])


@dataclass
class TaskData:
    task: str
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    labels: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # role -> the user's column name
    info: dict[str, Any] = field(default_factory=dict)  # task-specific facts (tag scheme, ...)

    def to_dict(self) -> dict:
        """The run's data.json."""
        return {
            "task": self.task,
            "labels": list(self.labels),
            "warnings": list(self.warnings),
            "columns": dict(self.columns),
            "info": _plain(self.info),
            "rows": {
                "train": len(self.train),
                "validation": len(self.validation),
                "test": len(self.test),
            },
        }


def _plain(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))
