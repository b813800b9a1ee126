"""Background jobs: a queue, one training job at a time per device, graceful stop.

The JobManager owns a single worker thread. ``submit`` creates the run folder at once (status
``queued``) so the UI can show it; the worker trains runs in order. Everything a caller needs to
show progress is in the run folder, so the UI never holds job state of its own.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import traceback

from engine.config import PretrainConfig, RunConfig
from engine.errors import human_error
from engine.runs import FINAL_STATUSES, Run, RunStore, Viewer, check_run, may_read

log = logging.getLogger("adaptune.jobs")


class JobManager:
    def __init__(self, store: RunStore, train_fn=None):
        self.store = store
        self._train = train_fn
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stops: dict[str, threading.Event] = {}
        self._active: str | None = None
        self._order: list[str] = []  # submission order of live jobs (the visible queue)
        self._resume: dict = {}  # run id -> checkpoint to continue from
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._loop, name="adaptune-worker", daemon=True)
        self._worker.start()
        store.mark_interrupted()

    # ---- public API ------------------------------------------------------------------------
    def submit(self, config: RunConfig | PretrainConfig, owner: str = "") -> Run:
        config.validate()
        run = self.store.create(config, owner=owner)
        with self._lock:
            self._stops[run.id] = threading.Event()
            ahead = len(self._order)
            self._order.append(run.id)
        run.append_event("message", text=f"Queued: {ahead} job(s) ahead." if ahead else "Starting.")
        self._queue.put(run.id)
        return run

    def stop(self, run_id: str, user: Viewer | str | None = None) -> bool:
        """Ask a queued or running job to stop (a queued one is cancelled: it never starts);
        True if it was still active. AccessError (a PermissionError) when ``user`` may not
        change it, KeyError when they may not even see it (engine.runs.check_run)."""
        run = check_run(self.store.get(run_id), user, write=True)
        with self._lock:
            event = self._stops.get(run_id)
        if event is None:
            return False
        if run.status == "running":
            run.set_status("stopping")  # before the event: the job's final status comes after
        event.set()
        if run.status == "queued":
            run.set_status("stopped", error="Cancelled before it started.")
            run.append_event("end", status="stopped", reason="cancelled while queued")
            with self._lock:  # no longer live: the worker skips it when it comes up
                self._stops.pop(run_id, None)
                self._resume.pop(run_id, None)
                if run_id in self._order:
                    self._order.remove(run_id)
        return True

    def resume(self, run_id: str, user: Viewer | str | None = None) -> Run:
        """Queue an interrupted (or failed / stopped) run again, continuing from its last
        checkpoint: same folder, same curves (the points trained after that checkpoint are
        replaced). ValueError with the reason when it cannot resume."""
        run = check_run(self.store.get(run_id), user, write=True)
        checkpoint = self.resume_point(run)
        step = int(checkpoint.name.rpartition("-")[2])
        run.set_status("queued", error="")
        run.append_event(
            "resume",
            from_step=step,
            checkpoint=checkpoint.name,
            text=f"Resuming from the checkpoint at step {step}.",
        )
        with self._lock:
            self._stops[run.id] = threading.Event()
            self._resume[run.id] = checkpoint
            self._order.append(run.id)
        self._queue.put(run.id)
        return run

    def resume_point(self, run: Run):
        """The checkpoint ``run`` would continue from; ValueError with the reason when it
        cannot resume (live, completed, a search, no checkpoint). Any task's training run and
        adaptive pre-training resume: they all train through the one loop."""
        if self.is_live(run.id):
            raise ValueError(f"{run.id} is already {run.status}.")
        if run.status not in FINAL_STATUSES or run.status == "completed":
            raise ValueError(
                f"{run.id} is {run.status}; only an interrupted, failed or stopped "
                "run can be resumed."
            )
        if run.kind not in ("train", "pretrain"):
            raise ValueError(
                "Resuming from a checkpoint is for training and adaptation runs; start this "
                "search again instead (its study keeps the finished trials)."
            )
        checkpoint = run.last_checkpoint()
        if checkpoint is None:
            raise ValueError(
                f"{run.id} has no checkpoint to resume from (none was saved before "
                "it ended); start it again instead."
            )
        return checkpoint

    def queue_view(self, viewer: Viewer | str | None = None) -> list[dict]:
        """The running job and the waiting ones in order: id, position (0 = running), owner,
        status, name. A job the ``viewer`` may not see keeps its place in the queue but not its
        id, name or owner (``hidden``: True)."""
        with self._lock:
            order = [
                rid
                for rid in self._order
                if rid in self._stops and not self._stops[rid].is_set() or rid == self._active
            ]
        out = []
        waiting = 0
        for rid in order:
            try:
                run = self.store.get(rid)
            except KeyError:
                continue
            running = rid == self._active
            if not running:
                waiting += 1
            entry = {
                "run_id": rid,
                "position": 0 if running else waiting,
                "status": "running" if running else "queued",
                "owner": run.owner,
                "name": run.config_dict().get("run_name") or rid,
                "hidden": False,
            }
            if not may_read(run, viewer):
                entry.update(run_id="", owner="", name="", hidden=True)
            out.append(entry)
        return sorted(out, key=lambda x: x["position"])

    @property
    def active(self) -> str | None:
        return self._active

    def queued(self) -> list[str]:
        with self._lock:
            return [
                rid for rid, ev in self._stops.items() if rid != self._active and not ev.is_set()
            ]

    def is_live(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._stops

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        """Block until the run has left the queue and finished (tests, CLI)."""
        import time

        deadline = None if timeout is None else time.time() + timeout
        while self.is_live(run_id):
            if deadline is not None and time.time() > deadline:
                return False
            time.sleep(0.2)
        return True

    # ---- worker ----------------------------------------------------------------------------
    def _loop(self) -> None:
        _lower_priority()  # training yields the CPU to the web server's clicks
        while True:
            run_id = self._queue.get()
            if run_id is None:
                return
            with self._lock:
                stop = self._stops.get(run_id)
            if stop is None or stop.is_set():
                with self._lock:
                    self._stops.pop(run_id, None)
                    self._resume.pop(run_id, None)
                    if run_id in self._order:
                        self._order.remove(run_id)
                continue
            self._active = run_id
            try:
                self._execute(run_id, stop)
                self._settle(run_id)
            finally:
                self._active = None
                with self._lock:
                    self._stops.pop(run_id, None)
                    self._resume.pop(run_id, None)
                    if run_id in self._order:
                        self._order.remove(run_id)

    def _settle(self, run_id: str) -> None:
        """A job that has returned is not running: a "stopping" (or "running") status left by a
        Stop racing the job's own last write becomes the status of its last end event."""
        try:
            run = self.store.get(run_id)
            if run.status in ("running", "stopping"):
                ends = run.events("end")
                run.set_status(ends[-1].get("status", "stopped") if ends else "stopped")
        except (KeyError, OSError) as exc:
            log.error("run %s: could not settle its status: %s", run_id, exc)

    def _execute(self, run_id: str, stop: threading.Event) -> None:
        run = self.store.get(run_id)
        train = self._train
        if run.kind == "pretrain":
            from engine.adaptive import pretrain_run as train
        elif run.kind == "hpo":
            from engine.automl import hpo_run as train
        elif getattr(run.config(), "processes", 1) > 1:
            train = _launched
        elif train is None:
            from engine.training.pipeline import train_run as train
        with self._lock:
            checkpoint = self._resume.get(run_id)
        if checkpoint is not None:
            if train is _launched:
                from engine.training.pipeline import train_run as train
            train = functools.partial(train, resume_from=checkpoint)
        try:
            train(run.config(), run, stop)
        except BaseException as exc:  # noqa: BLE001 - a job must never kill the worker
            message = human_error(exc)
            log.error("run %s failed: %s\n%s", run_id, message, traceback.format_exc())
            try:  # recording the failure can fail too (a full disk): the worker lives on
                (run.path / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
                run.set_status("failed", error=message)
                run.append_event("end", status="failed", error=message)
            except OSError as again:
                log.error("run %s: could not record the failure: %s", run_id, again)


JOB_NICENESS = int(os.environ.get("ADAPTUNE_JOB_NICENESS", "10"))


def _lower_priority() -> None:
    """Lower the scheduling priority of this (the worker) thread — on Linux a thread has its own
    nice value, inherited by the threads it starts (PyTorch's CPU thread pool, a torchrun
    subprocess) — so the web server's threads win the CPU when someone clicks while a job
    trains. Training loses little: it still gets every idle cycle."""
    if not JOB_NICENESS or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), JOB_NICENESS)
    except OSError as exc:
        log.info("could not lower the job thread's priority: %s", exc)


def _launched(config, run: Run, stop: threading.Event) -> None:
    """A multi-process run: torchrun as a subprocess on the run's folder (engine/distributed);
    Stop reaches every process through the folder's STOP file."""
    import time

    from engine import distributed

    run.set_status("running")
    run.append_event("message", text=f"Launching {config.processes} training processes (torchrun).")
    proc = distributed.launch(config, run, config.processes)
    asked = False
    while proc.poll() is None:
        if stop.is_set() and not asked:
            distributed.request_stop(run)
            asked = True
        time.sleep(0.5)
    if proc.returncode != 0 and run.status not in ("completed", "stopped", "failed"):
        log_file = run.path / "distributed.log"
        tail = (
            log_file.read_text(encoding="utf-8", errors="replace")[-800:]
            if log_file.exists()
            else ""
        )
        message = (
            f"The distributed training exited with status {proc.returncode}. "
            f"Last lines of distributed.log: {tail.strip()[-400:]}"
        )
        run.set_status("failed", error=message)
        run.append_event("end", status="failed", error=message)
