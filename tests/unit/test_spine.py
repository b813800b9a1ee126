"""The one spine: every Trainer of the engine is built in engine/training/loop.py, and every task
of the registry trains, is interrupted, resumes from its checkpoint, stops and predicts through
the same path (JobManager -> train_run -> task.train -> loop.fit)."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
from transformers import TrainerCallback

from engine.config import RunConfig
from engine.jobs import JobManager
from engine.predict import load_predictor
from engine.runs import RunStore
from engine.tasks import TASK_MODULES, get_task

from tests.conftest import REPO, write_task_table

LOOP = "engine/training/loop.py"
# SetFit keeps its own trainer (sentence-transformers' pairs, then a logistic head)
OWN_TRAINER = {"engine/fewshot.py"}


def _constructions(names: tuple[str, ...]) -> dict[str, list[int]]:
    """Files of engine/ (and the lines) that call a class whose name ends with one of
    ``names`` (``Trainer(...)``, ``PretrainTrainer(...)``, ``TrainingArguments(...)``)."""
    found: dict[str, list[int]] = {}
    for path in sorted((REPO / "engine").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name.endswith(names) and not name.endswith("Callback"):
                found.setdefault(str(path.relative_to(REPO)), []).append(node.lineno)
    return found


def test_trainers_and_their_arguments_are_built_in_the_loop_only():
    trainers = _constructions(("Trainer",))
    assert set(trainers) <= OWN_TRAINER, (
        f"a Trainer is built outside {LOOP}: {trainers}; train through loop.fit instead"
    )
    arguments = _constructions(("TrainingArguments",))
    assert set(arguments) <= {LOOP} | OWN_TRAINER, arguments
    assert LOOP in arguments
    # and the loop really builds one: the call is (trainer_class or AdaptuneTrainer)(...)
    assert "(trainer_class or reg_module.AdaptuneTrainer)(" in (REPO / LOOP).read_text()


def test_the_task_registry_is_the_contract():
    for name in TASK_MODULES:
        module = get_task(name)
        for attr in (
            "DEFAULT_METRIC",
            "DEFAULT_STRATEGY",
            "INPUT_FIELDS",
            "MODEL_CLASS",
            "unsupported",
            "prepare",
            "train",
            "Predictor",
        ):
            assert hasattr(module, attr), f"{name} lacks {attr}"


class _CrashAt(TrainerCallback):
    """A power cut at ``step`` (after the checkpoint of the step before)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kw):
        if state.global_step >= self.step:
            raise RuntimeError("power cut")


class _StopAt(TrainerCallback):
    """The user presses Stop during ``step``."""

    def __init__(self, step: int, stop: threading.Event):
        self.step, self.stop = step, stop

    def on_step_begin(self, args, state, control, **kw):
        if state.global_step + 1 >= self.step:  # the step now starting
            self.stop.set()


def _config(task: str, data: Path, backbone: Path, out: Path) -> RunConfig:
    extra = (
        dict(max_new_tokens=3, generation_eval_rows=2, packing=False)
        if task in ("summarization", "translation", "dialogue")
        else {}
    )
    return RunConfig(
        task=task,
        data=str(data),
        backbone=str(backbone),
        output_dir=str(out),
        strategy="lora",
        max_steps=6,
        batch_size=4,
        evaluations_per_epoch=20,
        max_length=32,
        learning_rate=5e-3,
        early_stopping_patience=0,
        **extra,
    )


# every task module once (translation and dialogue share summarization's module)
TASKS = ["classification", "multilabel", "ner", "relation", "qa", "summarization"]


def test_tasks_walked_cover_the_registry():
    assert {TASK_MODULES[t] for t in TASKS} == set(TASK_MODULES.values())


@pytest.mark.parametrize("task", TASKS)
def test_every_task_trains_is_interrupted_resumes_stops_and_predicts(task, request, tmp_path):
    from engine.training.pipeline import train_run

    backbone = request.getfixturevalue(
        "tiny_decoder" if task == "summarization" else "tiny_encoder"
    )
    cfg = _config(task, write_task_table(task, tmp_path), backbone, tmp_path / "runs")

    def train(config, run, stop, resume_from=None):
        # the first start dies at step 3; the resumed one is stopped by the user at step 5
        extra = [_StopAt(5, stop)] if resume_from else [_CrashAt(3)]
        return train_run(config, run, stop, resume_from=resume_from, callbacks=extra)

    store = RunStore(cfg.output_dir)
    jobs = JobManager(store, train_fn=train)
    run = jobs.submit(cfg)
    assert jobs.wait(run.id, timeout=300)
    assert run.status == "failed" and "power cut" in run.status_info()["error"]
    checkpoint = run.last_checkpoint()
    assert checkpoint is not None and checkpoint.name == "checkpoint-2"

    jobs.resume(run.id)
    assert jobs.wait(run.id, timeout=300)
    assert run.status == "stopped", run.status_info()
    starts = run.events("start")
    assert len(starts) == 2 and starts[1]["resumed_from"] == "checkpoint-2"
    assert starts[0]["task"] == starts[1]["task"] == task
    metrics = run.metrics()
    assert metrics["global_step"] == 5 and metrics["stop_reason"] == "stopped by the user"
    assert metrics["train_samples_per_second"] > 0 and metrics["processes"] == 1
    logs = [e["step"] for e in run.events("log")]
    assert max(logs) == 5 and not run.checkpoints_dir.exists()

    fields = get_task(task).INPUT_FIELDS
    sample = {
        "text": "Ann3 was born in Oslo3.",
        "head": "Ann3",
        "tail": "Oslo3",
        "context": "Person3 was born in City3.",
        "question": "Where was Person3 born?",
    }
    one = sample["text"] if fields == ["text"] else {f: sample[f] for f in fields}
    answers = load_predictor(run.path).predict([one])
    assert len(answers) == 1 and isinstance(answers[0], dict)
