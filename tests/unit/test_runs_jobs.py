"""Run store and job queue, with a fake training function (no model)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from engine.config import RunConfig
from engine.data import DataError
from engine.jobs import JobManager
from engine.runs import RunStore, safe_id, write_json_atomic


def test_safe_id_blocks_traversal():
    assert "/" not in safe_id("../../etc/passwd")
    assert safe_id("..") == "run"


def test_store_create_list_get(tmp_path):
    store = RunStore(tmp_path)
    a = store.create(RunConfig(run_name="first"))
    b = store.create(RunConfig(run_name="first"))
    assert a.id != b.id
    assert {r.id for r in store.list()} == {a.id, b.id}
    assert store.get(a.id).config().run_name == "first"
    with pytest.raises(KeyError):
        store.get("../nope")


def test_events_skip_partial_last_line(tmp_path):
    run = RunStore(tmp_path).create(RunConfig())
    run.append_event("log", step=1, loss=0.5)
    with open(run.path / "events.jsonl", "a") as fh:
        fh.write('{"event": "log", "st')  # a writer mid-line
    assert [e["step"] for e in run.events("log")] == [1]


def test_atomic_write_leaves_no_temp(tmp_path):
    write_json_atomic(tmp_path / "m.json", {"a": 1})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_server_restart_marks_dead_runs_interrupted(tmp_path):
    store = RunStore(tmp_path)
    run = store.create(RunConfig())
    run.set_status("running")
    info = run.status_info()
    info["pid"] = 999999  # a process that no longer exists
    write_json_atomic(run.path / "status.json", info)
    assert store.mark_interrupted() == [run.id]
    assert run.status == "interrupted"


class FakeTrainer:
    """Stands in for train_run: steps until told to stop or done."""

    def __init__(self, steps=50, fail=None):
        self.steps, self.fail, self.started = steps, fail, []
        self.release = threading.Event()

    def __call__(self, config, run, stop):
        run.set_status("running")
        self.started.append(run.id)
        if self.fail:
            raise self.fail
        for step in range(self.steps):
            if stop.is_set():
                break
            run.append_event("log", step=step, loss=1.0 / (step + 1))
            self.release.wait(0.02)
        status = "stopped" if stop.is_set() else "completed"
        run.write_metrics({"status": status, "test": {"accuracy": 1.0, "macro_f1": 1.0}})
        run.set_status(status)


def test_queue_runs_one_at_a_time_in_order(tmp_path):
    fake = FakeTrainer(steps=20)
    jobs = JobManager(RunStore(tmp_path), train_fn=fake)
    a = jobs.submit(RunConfig(run_name="a"))
    b = jobs.submit(RunConfig(run_name="b"))
    deadline = time.time() + 5
    while jobs.active != a.id and time.time() < deadline:
        time.sleep(0.01)
    assert b.status == "queued" and b.id in jobs.queued()
    assert jobs.wait(b.id, timeout=10)
    assert fake.started == [a.id, b.id]
    assert a.status == b.status == "completed"


def test_stop_running_and_queued(tmp_path):
    fake = FakeTrainer(steps=10_000)
    jobs = JobManager(RunStore(tmp_path), train_fn=fake)
    a = jobs.submit(RunConfig())
    b = jobs.submit(RunConfig())
    while jobs.active != a.id:
        time.sleep(0.01)
    assert jobs.stop(b.id)
    assert b.status == "stopped"
    assert jobs.stop(a.id)
    assert jobs.wait(a.id, timeout=10)
    assert a.status == "stopped" and a.metrics()["status"] == "stopped"
    assert fake.started == [a.id]  # the stopped queued run never started
    assert not jobs.stop(a.id)  # no longer active


def test_failed_job_records_human_message_and_worker_lives_on(tmp_path):
    jobs = JobManager(
        RunStore(tmp_path), train_fn=FakeTrainer(fail=DataError("Column 'x' is missing in a.csv."))
    )
    a = jobs.submit(RunConfig())
    jobs.wait(a.id, timeout=10)
    assert a.status == "failed"
    assert a.status_info()["error"] == "Column 'x' is missing in a.csv."
    assert a.events("end")[-1]["error"].startswith("Column")
    assert (a.path / "error.log").exists()
    jobs._train = FakeTrainer(steps=2)
    b = jobs.submit(RunConfig())
    jobs.wait(b.id, timeout=10)
    assert b.status == "completed"
