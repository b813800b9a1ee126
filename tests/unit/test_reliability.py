"""Crashes and faults: SIGKILL mid-training -> interrupted -> resume continues the curves with
no event lost; NaN loss; out of memory and a full disk fail the run cleanly while the job queue
lives on; queue positions, cancelling, ownership, deleting runs."""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from engine.config import RunConfig
from engine.errors import human_error
from engine.jobs import JobManager
from engine.runs import RunBusyError, RunStore, safe_filename, superseded_removed

from tests.conftest import write_two_class_csv

REPO = Path(__file__).resolve().parents[2]


def _table(path: Path, n: int = 40) -> Path:
    return write_two_class_csv(path, n)


SERVER = textwrap.dedent("""
    import sys, time, json
    from engine.config import RunConfig
    from engine.jobs import JobManager
    from engine.runs import RunStore
    cfg = RunConfig.from_dict(json.loads(sys.argv[1]))
    jobs = JobManager(RunStore(cfg.output_dir))
    run = jobs.submit(cfg)
    print(run.path, flush=True)
    jobs.wait(run.id)
""")


# task, steps, the checkpoint step after which the server is killed
SIGKILL_CASES = [("classification", 120, 30), ("ner", 60, 10), ("translation", 40, 8)]


@pytest.mark.parametrize("task,total,kill_after", SIGKILL_CASES)
def test_sigkill_mid_training_then_resume_continues_the_curves(
    task, total, kill_after, request, tmp_path
):
    from tests.conftest import write_task_table

    if task == "classification":
        data, backbone, extra = _table(tmp_path / "data.csv", n=80), "tiny_encoder", {}
    else:
        data = write_task_table(task, tmp_path)
        backbone = "tiny_decoder" if task == "translation" else "tiny_encoder"
        extra = {"max_new_tokens": 3, "generation_eval_rows": 2} if task == "translation" else {}
    cfg = RunConfig(
        task=task,
        data=str(data),
        backbone=str(request.getfixturevalue(backbone)),
        output_dir=str(tmp_path / "runs"),
        strategy="full",
        max_steps=total,
        batch_size=4,
        evaluations_per_epoch=8,
        max_length=32,
        learning_rate=1e-3,
        early_stopping_patience=0,
        **extra,
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, json.dumps(cfg.to_dict())],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    run_path = Path(proc.stdout.readline().strip())
    store = RunStore(cfg.output_dir)
    run = store.get(run_path.name)
    deadline = time.time() + 240
    while time.time() < deadline:  # kill after a second checkpoint, mid-way
        ckpt = run.last_checkpoint()
        logs = run.events("log")
        if (
            ckpt is not None
            and int(ckpt.name.split("-")[1]) >= kill_after
            and logs
            and logs[-1]["step"] > int(ckpt.name.split("-")[1])
        ):
            break
        assert proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = run.events()
    killed_at = max(e["step"] for e in before if e["event"] == "log")
    assert run.recorded_status()["status"] == "running"  # what the dead process left
    assert run.status == "interrupted"  # ... read as what is true: its process is gone

    jobs = JobManager(store)  # a restart: the run is marked interrupted on disk
    assert run.status == "interrupted"
    assert "server stopped" in run.status_info()["error"]
    checkpoint = run.last_checkpoint()
    step = int(checkpoint.name.split("-")[1])
    assert step < killed_at < total
    jobs.resume(run.id)
    assert jobs.wait(run.id, timeout=300)
    assert run.status == "completed", run.status_info()
    after = run.events()
    assert after[: len(before)] == before  # append-only: nothing lost or rewritten
    resume = [e for e in after if e["event"] == "resume"]
    assert len(resume) == 1 and resume[0]["from_step"] == step
    starts = [e for e in after if e["event"] == "start"]
    assert len(starts) == 2 and starts[1]["resumed_from"] == checkpoint.name
    new_logs = [e["step"] for e in after[len(before) :] if e["event"] == "log"]
    assert new_logs and min(new_logs) > step and max(new_logs) == total
    curve = [e["step"] for e in superseded_removed(after) if e["event"] == "log"]
    assert curve == sorted(curve) and len(curve) == len(set(curve))  # one continuous curve
    assert curve[-1] == total and any(s <= step for s in curve)
    m = run.metrics()
    assert m["global_step"] == total and m["status"] == "completed"
    assert run.has_model


def test_resume_refuses_what_it_cannot_continue(tmp_path):
    store = RunStore(tmp_path)
    jobs = JobManager(store, train_fn=lambda c, r, s: r.set_status("completed"))
    run = jobs.submit(RunConfig(data="x.csv"))
    jobs.wait(run.id, timeout=10)
    with pytest.raises(ValueError, match="only an interrupted, failed or stopped"):
        jobs.resume(run.id)
    run.set_status("interrupted")
    with pytest.raises(ValueError, match="no checkpoint"):
        jobs.resume(run.id)


def test_nan_loss_stops_the_run_with_an_explanation(tmp_path, tiny_encoder, monkeypatch):
    from engine.training import loop as training

    data = _table(tmp_path / "data.csv")
    cfg = RunConfig(
        data=str(data),
        backbone=str(tiny_encoder),
        output_dir=str(tmp_path / "runs"),
        strategy="full",
        max_steps=30,
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=32,
    )
    original = training.EventsCallback.on_log

    def poisoned(self, args, state, control, logs=None, **kw):  # the loss explodes at step 5
        if logs and "loss" in logs and state.global_step >= 5:
            logs = {**logs, "loss": float("nan")}
        return original(self, args, state, control, logs=logs, **kw)

    monkeypatch.setattr(training.EventsCallback, "on_log", poisoned)
    store = RunStore(cfg.output_dir)
    jobs = JobManager(store)
    run = jobs.submit(cfg)
    assert jobs.wait(run.id, timeout=120)
    assert run.status == "failed"
    error = run.status_info()["error"]
    assert "loss became nan" in error and "Lower the learning rate" in error
    assert "Traceback" not in error
    end = run.events("end")[-1]
    assert end["status"] == "failed" and end["error"] == error
    assert any(e.get("diverged") == "nan" for e in run.events("log"))
    # the queue lives on: the next job runs
    monkeypatch.setattr(training.EventsCallback, "on_log", original)
    nxt = jobs.submit(cfg)
    assert jobs.wait(nxt.id, timeout=120) and nxt.status == "completed"


def test_out_of_memory_and_full_disk_fail_cleanly_and_the_worker_lives(tmp_path):
    def oom(config, run, stop):
        run.set_status("running")
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def disk_full(config, run, stop):
        run.set_status("running")
        raise OSError(errno.ENOSPC, "No space left on device", str(run.path / "checkpoints"))

    calls = []

    def dispatch(config, run, stop):
        calls.append(config.run_name)
        {"oom": oom, "disk": disk_full}.get(
            config.run_name, lambda *a: run.set_status("completed")
        )(config, run, stop)

    store = RunStore(tmp_path)
    jobs = JobManager(store, train_fn=dispatch)
    a = jobs.submit(RunConfig(data="x.csv", run_name="oom"))
    b = jobs.submit(RunConfig(data="x.csv", run_name="disk"))
    c = jobs.submit(RunConfig(data="x.csv", run_name="fine"))
    assert jobs.wait(c.id, timeout=30)
    assert a.status == "failed" and "Out of memory" in a.status_info()["error"]
    assert "batch size" in a.status_info()["error"] and "LoRA" in a.status_info()["error"]
    assert b.status == "failed" and "disk is full" in b.status_info()["error"]
    assert c.status == "completed" and calls == ["oom", "disk", "fine"]
    assert "disk is full" in human_error(OSError(errno.ENOSPC, "No space left on device"))


def test_a_failure_that_cannot_even_be_recorded_does_not_kill_the_worker(tmp_path, monkeypatch):
    from engine import runs as runs_module

    def boom(config, run, stop):
        real = runs_module.write_json_atomic

        def full(path, data):  # from now on every status write fails: the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(runs_module, "write_json_atomic", full)
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        finally:
            threading.Timer(
                0.5, lambda: monkeypatch.setattr(runs_module, "write_json_atomic", real)
            ).start()

    store = RunStore(tmp_path)
    jobs = JobManager(store, train_fn=boom)
    first = jobs.submit(RunConfig(data="x.csv"))
    assert jobs.wait(first.id, timeout=10)
    time.sleep(0.8)
    jobs._train = lambda c, r, s: r.set_status("completed")
    second = jobs.submit(RunConfig(data="x.csv"))
    assert jobs.wait(second.id, timeout=10) and second.status == "completed"


def test_queue_positions_cancel_and_ownership(tmp_path):
    gate = threading.Event()

    def slow(config, run, stop):
        run.set_status("running")
        gate.wait(10)
        run.set_status("completed")

    store = RunStore(tmp_path)
    jobs = JobManager(store, train_fn=slow)
    a = jobs.submit(RunConfig(data="x.csv", run_name="a"), owner="alice")
    time.sleep(0.3)
    b = jobs.submit(RunConfig(data="x.csv", run_name="b"), owner="bob")
    c = jobs.submit(RunConfig(data="x.csv", run_name="c"), owner="alice")
    view = jobs.queue_view()
    assert [(v["name"], v["position"], v["status"], v["owner"]) for v in view] == [
        ("a", 0, "running", "alice"),
        ("b", 1, "queued", "bob"),
        ("c", 2, "queued", "alice"),
    ]
    assert "1 job(s) ahead" in [e["text"] for e in b.events("message")][0]
    with pytest.raises(KeyError, match="No run called"):  # to alice, bob's run does not exist
        jobs.stop(b.id, user="alice")
    with pytest.raises(PermissionError, match="belongs to bob"):  # shared: seen, not changed
        b.set_shared(True)
        jobs.stop(b.id, user="alice")
    b.set_shared(False)
    assert b.status == "queued"
    assert jobs.stop(b.id, user="bob")  # cancelled while queued: never starts
    assert b.status == "stopped" and "Cancelled" in b.status_info()["error"]
    assert [v["name"] for v in jobs.queue_view()] == ["a", "c"]
    assert [v["position"] for v in jobs.queue_view()] == [0, 1]
    with pytest.raises(RunBusyError, match="stop it first"):
        store.delete(a.id, user="alice")
    gate.set()
    assert jobs.wait(c.id, timeout=10)
    assert c.status == "completed" and b.status == "stopped"
    assert jobs.stop(a.id) is False  # finished: nothing to stop
    with pytest.raises(KeyError):
        store.delete(a.id, user="bob")
    with pytest.raises(PermissionError):
        a.set_shared(True)
        store.delete(a.id, user="bob")


def test_delete_removes_the_run_and_its_unshared_uploads(tmp_path):
    uploads = tmp_path / "runs" / "_uploads"
    (uploads / "abc").mkdir(parents=True)
    (uploads / "def").mkdir(parents=True)
    mine = uploads / "abc" / "mine.csv"
    shared = uploads / "def" / "shared.csv"
    outside = tmp_path / "elsewhere.csv"
    for f in (mine, shared, outside):
        f.write_text("text,label\na,b\n")
    store = RunStore(tmp_path / "runs")
    one = store.create(RunConfig(data=str(mine), test_data=str(outside)))
    two = store.create(RunConfig(data=str(shared)))
    three = store.create(RunConfig(data=str(shared)))
    for r in (one, two, three):
        r.set_status("completed")
    removed = store.delete(one.id, with_data=True)
    assert not one.path.exists() and not mine.exists() and not (uploads / "abc").exists()
    assert outside.exists()  # never outside the uploads folder
    assert str(mine.resolve()) in removed
    store.delete(two.id, with_data=True)
    assert shared.exists()  # still used by run three
    store.delete(three.id, with_data=True)
    assert not shared.exists()
    with pytest.raises(KeyError):
        store.delete("../..")


def test_safe_filename_keeps_names_in_their_folder():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("..\\..\\win.ini") == "win.ini"
    assert safe_filename("a\x00b.csv") == "a_b.csv"
    assert safe_filename("..") == "data" and safe_filename("") == "data"
    assert safe_filename(".bashrc") == "data.bashrc" and safe_filename(".csv") == "data.csv"
    assert safe_filename("a\u2028b.csv") == "a_b.csv"  # no line separators in messages
    assert safe_filename("評論 2024.csv") == "評論 2024.csv"
    long = safe_filename("x" * 500 + ".csv")
    assert len(long) <= 120 and long.endswith(".csv")


def test_superseded_points_leave_the_curve_not_the_file():
    events = [{"event": "log", "step": s, "loss": 1.0} for s in (10, 20, 30, 40)]
    events += [{"event": "eval", "step": 40}, {"event": "resume", "from_step": 20}]
    events += [{"event": "log", "step": s, "loss": 0.5} for s in (30, 40, 50)]
    kept = superseded_removed(events)
    assert [e["step"] for e in kept if e["event"] == "log"] == [10, 20, 30, 40, 50]
    assert [e["loss"] for e in kept if e["event"] == "log"][2:] == [0.5, 0.5, 0.5]
    assert not [e for e in kept if e["event"] == "eval"]
    assert len(events) == 9 and math.isclose(events[2]["loss"], 1.0)  # the input is untouched


# ---- security and privacy ------------------------------------------------------------------------
def test_pickle_weights_and_custom_code_are_refused_unless_allowed(tmp_path, tiny_encoder):
    import shutil

    from engine.backbones import BackboneError, remote_code, resolve_backbone
    from engine.config import ConfigError  # noqa: F401 - the same family of human errors
    from engine.training.pipeline import preflight

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_encoder, pickled)
    for f in pickled.glob("*.safetensors"):
        f.unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(BackboneError, match="pickle files.*safetensors only"):
        resolve_backbone(str(pickled))
    custom = tmp_path / "custom"
    shutil.copytree(tiny_encoder, custom)
    cfg = json.loads((custom / "config.json").read_text())
    cfg["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (custom / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BackboneError, match="ships its own Python code.*Trust remote code"):
        resolve_backbone(str(custom))
    with remote_code(True):
        assert resolve_backbone(str(custom)) == custom  # allowed for this block only
    with pytest.raises(BackboneError):
        resolve_backbone(str(custom))
    data = _table(tmp_path / "d.csv")
    with pytest.raises(BackboneError, match="Trust remote code"):
        preflight(RunConfig(data=str(data), backbone=str(custom)))
    assert resolve_backbone(str(tiny_encoder)) == tiny_encoder  # safetensors: fine


def test_masking_personal_data_before_training(tmp_path, tiny_encoder):
    from engine.privacy import mask_text, preview
    from engine.training.pipeline import data_spec, train_run

    text, counts = mask_text(
        "Write to ann.lee+x@mail.example.org, call +44 20 7946 0958 or "
        "(555) 123-4567, see https://shop.example.com/a?b=1 - card "
        "4111111111111111. Rated 5 stars in 2024, $25.99, on 2024-05-01."
    )
    assert counts == {"email": 1, "phone": 2, "url": 1, "digits": 1}
    assert "[EMAIL]" in text and "[URL]" in text and "[NUMBER]" in text
    assert "2024-05-01" in text and "$25.99" in text and "5 stars in 2024" in text
    rows = [
        {"review": f"great film, mail me at fan{i}@example.com", "sentiment": "pos"}
        for i in range(30)
    ]
    rows += [{"review": f"awful, call 555-123-{4000 + i}", "sentiment": "neg"} for i in range(30)]
    path = tmp_path / "pii.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    shown = preview([r["review"] for r in rows], limit=3)
    assert shown["texts_changed"] == 60 and shown["counts"]["email"] == 30
    assert shown["counts"]["phone"] == 30 and len(shown["examples"]) == 3
    cfg = RunConfig(
        data=str(path),
        backbone=str(tiny_encoder),
        mask_pii=True,
        max_steps=2,
        batch_size=8,
        max_length=32,
        strategy="full",
        output_dir=str(tmp_path / "runs"),
    )
    spec = data_spec(cfg)
    every = pd.concat([spec.train, spec.validation, spec.test])["text"]
    assert not every.str.contains("@").any() and not every.str.contains("555").any()
    assert every.str.contains(r"\[EMAIL\]").sum() == 30
    assert spec.stats["masked"] == {"email": 30, "phone": 30}
    run = RunStore(cfg.output_dir).create(cfg)
    train_run(cfg, run)
    warnings = [e["text"] for e in run.events("message")]
    assert any("Personal data masked before training: 30 email, 30 phone" in w for w in warnings)
    assert "@" not in json.dumps(run.metrics().get("worst_errors", []))


def test_cli_resume_and_delete(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create(RunConfig(data="x.csv"))
    run.set_status("interrupted")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "engine", "resume", "--run", str(run.path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2 and "no checkpoint" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "engine", "delete", "--run", str(run.path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0 and not run.path.exists()
    assert json.loads(out.stdout.strip().splitlines()[-1])["removed"] == [str(run.path)]


def test_app_auth_parsing():
    sys.path.insert(0, str(REPO))
    from app import parse_auth

    assert parse_auth("") is None
    assert parse_auth("alice:pw1, bob:p:w2") == [("alice", "pw1"), ("bob", "p:w2")]
    for bad in ("alice", "alice:", ":pw", "a:1,a:2"):
        with pytest.raises(ValueError):
            parse_auth(bad)
