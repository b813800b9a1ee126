"""Multi-process training for real: DDP with the gloo backend on 2 CPU processes (torchrun),
one coherent run folder, a graceful stop that reaches every process."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from engine.config import ConfigError, RunConfig
from engine.jobs import JobManager
from engine.runs import Run, RunStore

from tests.conftest import REPO


def _events(run: Run) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in run.events():
        counts[e["event"]] = counts.get(e["event"], 0) + 1
    return counts


def test_cli_train_on_two_gloo_processes_writes_one_run(small_csv, tiny_encoder, tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "train",
            "--data",
            str(small_csv),
            "--backbone",
            str(tiny_encoder),
            "--strategy",
            "full",
            "--max-steps",
            "6",
            "--batch-size",
            "8",
            "--max-length",
            "16",
            "--learning-rate",
            "0.02",
            "--processes",
            "2",
            "--output-dir",
            str(tmp_path / "runs"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [l for l in res.stdout.splitlines() if l.startswith("{")]
    assert len(lines) == 1  # rank 0 reports, once
    out = json.loads(lines[0])
    folders = list((tmp_path / "runs").iterdir())
    assert [str(f) for f in folders] == [out["run_dir"]]  # one folder for both processes
    run = Run(folders[0])
    assert run.status == "completed" and run.has_model
    assert run.metrics()["processes"] == 2
    counts = _events(run)
    assert counts["start"] == 1 and counts["end"] == 1 and counts["log"] == 6
    steps = [e["step"] for e in run.events("eval")]
    assert steps == sorted(set(steps)) and steps[-1] == 6  # no rank wrote twice
    assert out["test"]["n"] == 8  # gathered over both shards


def test_job_queue_launches_and_stops_a_distributed_run(small_csv, tiny_encoder, tmp_path):
    store = RunStore(tmp_path / "runs")
    jobs = JobManager(store)
    cfg = RunConfig(
        data=str(small_csv),
        backbone=str(tiny_encoder),
        strategy="full",
        max_steps=3000,
        batch_size=8,
        max_length=16,
        evaluations_per_epoch=1,
        early_stopping_patience=0,
        processes=2,
        output_dir=str(store.root),
    )
    run = jobs.submit(cfg)
    deadline = time.time() + 300
    while not run.events("log") and time.time() < deadline:
        time.sleep(0.5)
    assert run.events("log"), (run.path / "distributed.log").read_text()[-2000:]
    assert jobs.stop(run.id)
    assert jobs.wait(run.id, timeout=300)
    assert run.status == "stopped", (run.path / "distributed.log").read_text()[-2000:]
    assert run.has_model and run.metrics()["global_step"] < 3000
    assert _events(run)["end"] == 1


@pytest.mark.parametrize("task", ["ner", "translation"])
def test_other_tasks_train_on_two_gloo_processes(task, request, tmp_path):
    """NER and a generation task through the same one fit under torchrun: one run folder,
    rank 0 reports once, samples/s over both processes."""
    from tests.conftest import write_task_table

    backbone = request.getfixturevalue("tiny_decoder" if task == "translation" else "tiny_encoder")
    extra = (
        ["--max-new-tokens", "3", "--generation-eval-rows", "2", "--strategy", "lora"]
        if task == "translation"
        else ["--strategy", "full"]
    )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "train",
            "--task",
            task,
            "--data",
            str(write_task_table(task, tmp_path)),
            "--backbone",
            str(backbone),
            "--max-steps",
            "4",
            "--batch-size",
            "4",
            "--max-length",
            "24",
            "--learning-rate",
            "0.01",
            "--processes",
            "2",
            *extra,
            "--output-dir",
            str(tmp_path / "runs"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [l for l in res.stdout.splitlines() if l.startswith("{")]
    assert len(lines) == 1 and json.loads(lines[0])["task"] == task
    (folder,) = list((tmp_path / "runs").iterdir())
    run = Run(folder)
    assert run.status == "completed" and run.has_model
    metrics = run.metrics()
    assert metrics["processes"] == 2 and metrics["global_step"] == 4
    counts = _events(run)
    assert counts["start"] == 1 and counts["end"] == 1 and counts["log"] == 4
    assert run.events("start")[0]["processes"] == 2


def test_setfit_refuses_distributed_training(monkeypatch, small_csv, tmp_path):
    from engine.training.pipeline import train_run

    monkeypatch.setenv("WORLD_SIZE", "2")
    cfg = RunConfig(data=str(small_csv), strategy="setfit", output_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="SetFit trains in one process"):
        train_run(cfg, RunStore(tmp_path).create(cfg))
