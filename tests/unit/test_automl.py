"""Hyper-parameter search (engine/automl.py) on tiny random models: spaces, pruning, studies
that persist and are shared by workers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from engine import automl as A
from engine.config import HpoConfig, RunConfig
from engine.runs import Run, RunStore
from engine.training.pipeline import train_run

from tests.conftest import REPO


def _config(data, backbone, tmp_path, **kw) -> HpoConfig:
    base = dict(
        data=str(data),
        backbone=str(backbone),
        output_dir=str(tmp_path / "runs"),
        strategy="full",
        max_steps=8,
        batch_size=8,
        evaluations_per_epoch=4,
        max_length=16,
        trials=3,
    )
    return HpoConfig(**{**base, **kw})


@pytest.mark.parametrize(
    "space, words",
    [
        ("{", "not valid JSON"),
        ("{}", "at least one setting"),
        ('{"speed": {"type": "float", "low": 0, "high": 1}}', "not a training setting"),
        ('{"learning_rate": {"low": 0, "high": 1}}', "give a type"),
        ('{"learning_rate": {"type": "float", "low": 1, "high": 0.1}}', "must be below"),
        ('{"learning_rate": {"type": "float", "low": 0, "high": 0.1, "log": true}}', "low > 0"),
        (
            '{"strategy": {"type": "categorical", "choices": ["lora", "magic"]}}',
            "magic not allowed",
        ),
        ('{"batch_size": {"type": "int", "low": 0, "high": 8}}', "within 1"),
    ],
)
def test_space_errors(space, words):
    with pytest.raises(A.SearchError, match=words):
        A.parse_space(space)


def test_default_space_is_centred_on_the_auto_plan(small_csv, tiny_encoder):
    cfg = RunConfig(data=str(small_csv), backbone=str(tiny_encoder))  # strategy auto
    space, first = A.default_space(cfg)
    assert first["strategy"] == space["strategy"]["choices"][0]
    lr = space["learning_rate"]
    assert lr["log"] and lr["low"] < first["learning_rate"] < lr["high"]
    assert set(space) >= {"batch_size", "warmup_ratio", "weight_decay", "lora_r", "epochs"}
    assert first["batch_size"] in space["batch_size"]["choices"]
    A.parse_space(space)  # the default space passes its own validation


def test_lora_settings_only_for_lora_trials():
    space = A.parse_space(
        {
            "strategy": {"type": "categorical", "choices": ["full", "lora"]},
            "lora_r": {"type": "categorical", "choices": [4, 8]},
            "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
        }
    )
    full = A.sample(optuna.trial.FixedTrial({"strategy": "full", "learning_rate": 1e-4}), space)
    assert full == {"strategy": "full", "learning_rate": 1e-4}
    lora = A.sample(
        optuna.trial.FixedTrial({"strategy": "lora", "lora_r": 8, "learning_rate": 1e-4}), space
    )
    assert lora["lora_r"] == 8


def test_search_runs_trials_promotes_the_best_and_continues(small_csv, tiny_encoder, tmp_path):
    space = json.dumps(
        {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
        }
    )
    cfg = _config(small_csv, tiny_encoder, tmp_path, search_space=space, study_name="s1")
    store = RunStore(cfg.output_dir)
    run = store.create(cfg)
    metrics = A.hpo_run(cfg, run)
    assert metrics["n_trials"] == 3 and metrics["complete"] + metrics["pruned"] == 3
    assert 0 <= metrics["best_value"] <= 1 and set(metrics["best_params"]) == {
        "learning_rate",
        "warmup_ratio",
    }
    best = Run(Path(metrics["best_run_dir"]))
    assert best.has_model and best.path.parent == run.path.parent  # a normal run in runs/
    assert best.path.name in [r.id for r in store.list()]
    trials = sorted((run.path / "trials").iterdir())
    assert [p.name for p in trials] == ["trial-000", "trial-001", "trial-002"]
    assert sum((p / "model").exists() for p in trials) == 1  # only the best keeps its model
    assert all(Run(p).events("eval") for p in trials)  # every trial's curves stay
    assert [e["number"] for e in run.events("trial")] == [0, 1, 2]
    assert run.status == "completed" and Run(run.path).kind == "hpo"
    summary = run.summary()
    assert summary["task"] == "hpo" and summary["main_value"] == metrics["best_value"]
    table = A.trials_table(A.load_study(A.storage_url(cfg), "s1"))
    assert list(table.trial) == [0, 1, 2] and "learning_rate" in table.columns
    assert "history" in A.figures(A.load_study(A.storage_url(cfg), "s1"))

    # the same study continues in a new search (a restart): trial numbers go on
    again = A.hpo_run(replace_trials(cfg, 1), store.create(cfg))
    assert again["n_trials"] == 4 and again["best_value"] >= metrics["best_value"]

    # the best trial's configuration, trained again as a normal run, gives its value
    rc = RunConfig.load(best.path / "config.json")
    rerun = train_run(
        replace_out(rc, tmp_path / "again"),
        RunStore(tmp_path / "again").create(replace_out(rc, tmp_path / "again")),
    )
    assert rerun["validation"]["macro_f1"] == pytest.approx(again["best_value"], abs=0.05)


def replace_trials(cfg, n):
    from dataclasses import replace

    return replace(cfg, trials=n)


def replace_out(cfg, out):
    from dataclasses import replace

    return replace(cfg, output_dir=str(out))


def test_median_pruner_stops_a_hopeless_trial(small_csv, tiny_encoder, tmp_path):
    """lr 0.02 learns the easy set by step ~14 (measured: macro-F1 0.33 -> 1.0); lr 1e-9 never
    does, and the median pruner stops it once it falls below the good trials."""
    space = json.dumps({"learning_rate": {"type": "categorical", "choices": [0.02, 1e-9]}})
    cfg = _config(
        small_csv,
        tiny_encoder,
        tmp_path,
        search_space=space,
        study_name="p",
        trials=4,
        max_steps=24,
        evaluations_per_epoch=4,
        early_stopping_patience=0,
    )
    study = A.open_study(cfg, "p")
    for lr in (0.02, 0.02, 1e-9, 1e-9):  # two good trials first, then two hopeless ones
        study.enqueue_trial({"learning_rate": lr})
    search = RunStore(cfg.output_dir).create(cfg)
    metrics = A.hpo_run(cfg, search)
    events = search.events("trial")
    states = [e["state"] for e in events]
    assert states == ["complete", "complete", "pruned", "pruned"], events
    assert metrics["pruned"] == 2 and metrics["best_value"] == pytest.approx(1.0)
    steps = [e["step"] for e in Run(Path(events[2]["run_dir"])).events("eval")]
    assert max(steps) < 24  # stopped before its last step


def test_cli_hpo_json_and_bad_input(small_csv, tiny_encoder, tmp_path):
    args = [
        sys.executable,
        "-m",
        "engine",
        "hpo",
        "--data",
        str(small_csv),
        "--backbone",
        str(tiny_encoder),
        "--strategy",
        "full",
        "--max-steps",
        "4",
        "--batch-size",
        "8",
        "--max-length",
        "16",
        "--output-dir",
        str(tmp_path),
        "--quiet",
    ]
    res = subprocess.run(
        args + ["--trials", "2"], capture_output=True, text=True, cwd=REPO, timeout=600
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"best_value", "best_params", "n_trials", "best_run_dir"} <= set(out)
    assert out["n_trials"] == 2 and Run(Path(out["best_run_dir"])).has_model
    bad = subprocess.run(
        args + ["--search-space", '{"lr": {}}'],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert bad.returncode == 2 and "not a training setting" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_two_workers_share_one_sqlite_study(small_csv, tiny_encoder, tmp_path):
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    args = [
        sys.executable,
        "-m",
        "engine",
        "hpo",
        "--data",
        str(small_csv),
        "--backbone",
        str(tiny_encoder),
        "--strategy",
        "full",
        "--max-steps",
        "4",
        "--batch-size",
        "8",
        "--max-length",
        "16",
        "--trials",
        "2",
        "--storage",
        db,
        "--study-name",
        "team",
        "--search-space",
        '{"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": true}}',
        "--quiet",
    ]
    workers = [
        subprocess.Popen(
            args + ["--output-dir", str(tmp_path / f"w{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for i in range(2)
    ]
    outs = []
    for w in workers:
        stdout, stderr = w.communicate(timeout=600)
        assert w.returncode == 0, stderr
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    study = A.load_study(db, "team")
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == [0, 1, 2, 3]  # four trials, none duplicated
    folders = [p.name for i in range(2) for p in (tmp_path / f"w{i}").glob("*/trials/*")]
    assert sorted(folders) == ["trial-000", "trial-001", "trial-002", "trial-003"]
    best = study.best_value
    # each worker saw the study's trials: the one that finished last reports the global best
    assert max(o["best_value"] for o in outs) == pytest.approx(best)
    assert max(o["n_trials"] for o in outs) == 4


def test_a_trial_whose_worker_died_is_failed_when_the_study_continues(
    small_csv, tiny_encoder, tmp_path, monkeypatch
):
    monkeypatch.setattr(A, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(A, "GRACE_SECONDS", 1)
    space = json.dumps({"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2}})
    cfg = _config(
        small_csv,
        tiny_encoder,
        tmp_path,
        search_space=space,
        study_name="crash",
        trials=1,
        max_steps=2,
    )
    study = A.open_study(cfg, "crash")
    orphan = study.ask()  # a worker starts a trial, then is killed
    study._storage.record_heartbeat(orphan._trial_id)
    time.sleep(2.5)
    metrics = A.hpo_run(cfg, RunStore(cfg.output_dir).create(cfg))
    states = {t.number: t.state.name for t in A.load_study(A.storage_url(cfg), "crash").trials}
    assert states[0] == "FAIL" and states[1] == "COMPLETE" and metrics["failed"] == 1


def test_custom_space_starts_from_the_plan_values_inside_it_and_bad_metric_fails_clearly(
    small_csv, tiny_encoder, tmp_path
):
    plan = {"strategy": "lora", "learning_rate": 1e-3, "batch_size": 16, "lora_r": 8}
    space = A.parse_space(
        {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "batch_size": {"type": "categorical", "choices": [8, 32]},
        }
    )
    assert A.plan_inside(space, plan) == {"learning_rate": 1e-3}
    # no strategy in the space: LoRA settings follow the base's strategy
    lora_space = A.parse_space({"lora_r": {"type": "categorical", "choices": [4, 8]}})
    assert A.sample(optuna.trial.FixedTrial({"lora_r": 4}), lora_space, "full") == {}

    cfg = _config(
        small_csv,
        tiny_encoder,
        tmp_path,
        study_name="bad",
        trials=3,
        objective_metric="f1_of_dreams",
        max_steps=2,
        search_space='{"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2}}',
    )
    run = RunStore(cfg.output_dir).create(cfg)
    with pytest.raises(A.SearchError, match="no validation 'f1_of_dreams'"):
        A.hpo_run(cfg, run)
    assert [e["state"] for e in run.events("trial")] == ["fail", "fail"]  # stopped after two
    assert "f1_of_dreams" in run.events("trial")[0]["error"]


def test_a_three_trial_ner_search_prunes_and_keeps_the_best(tiny_encoder, tmp_path):
    """HPO over another task: the trials are NER runs through the same fit; their entity F1
    (the task's main metric) reaches the study through the pruning callback at every
    evaluation."""
    from tests.conftest import write_task_table

    space = json.dumps({"learning_rate": {"type": "categorical", "choices": [0.02, 1e-9]}})
    cfg = _config(
        write_task_table("ner", tmp_path),
        tiny_encoder,
        tmp_path,
        task="ner",
        search_space=space,
        study_name="ner",
        trials=3,
        max_steps=6,
        batch_size=4,
        evaluations_per_epoch=4,
        early_stopping_patience=0,
    )
    search = RunStore(cfg.output_dir).create(cfg)
    metrics = A.hpo_run(cfg, search)
    assert metrics["n_trials"] == 3 and metrics["complete"] + metrics["pruned"] == 3
    assert A.objective_of(cfg.base())[0] == "f1"
    best = Run(Path(metrics["best_run_dir"]))
    assert best.has_model and best.metrics()["task"] == "ner"
    assert best.metrics()["validation"]["f1"] == pytest.approx(metrics["best_value"])
    study = A.load_study(A.storage_url(cfg), "ner")
    for trial in study.trials:  # every evaluation of every trial was reported to the study
        run = Run(Path(trial.user_attrs["run_dir"]))
        assert len(trial.intermediate_values) == len(run.events("eval")) > 0
