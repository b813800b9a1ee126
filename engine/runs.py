"""The on-disk run store: everything the UI shows is read from here.

    runs/<id>/config.json    the RunConfig the run was started from
              data.json      the data summary (labels, columns, split sizes, warnings)
              events.jsonl   append-only: one JSON object per line (see EVENT KINDS below)
              status.json    {"status": ..., "pid": ..., "updated": ...}
              metrics.json   final metrics (validation + test) when the run finished
              model/         the trained model (adapter or full) + tokenizer + labels.json
              checkpoints/   Trainer checkpoints while training

Event kinds (``"event"`` key): ``start``, ``log`` (step, loss, learning_rate, epoch,
samples_per_second, eta_seconds, progress), ``eval`` (step, eval_loss, eval_accuracy, ...),
``message`` (text), ``end`` (status, error).
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

STATUSES = ("queued", "running", "stopping", "completed", "stopped", "failed", "interrupted")
FINAL_STATUSES = ("completed", "stopped", "failed", "interrupted")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file in the same folder, then rename (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def safe_id(text: str) -> str:
    """A run id made only of safe characters (no path traversal)."""
    s = _SAFE.sub("-", text).strip(".-")
    return s[:80] or "run"


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029/\\:*?\"<>|]+")


def safe_filename(name: str, default: str = "data") -> str:
    """A file name that stays where it is put: no folders, no ``..``, no control characters or
    NUL, no leading dots; the extension is kept (``../../etc/passwd`` -> ``passwd``,
    ``a\x00b.csv`` -> ``a_b.csv``)."""
    base = re.split(r"[/\\]", str(name or ""))[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" ")
    if base.strip(".") and "." not in base.strip(".") and base.startswith("."):
        base = default + "." + base.strip(".")  # ".csv" -> "data.csv": the extension stays
    base = base.strip(" .")
    if not base or base in (".", ".."):
        return default
    stem, dot, ext = base.rpartition(".")
    if dot and len(base) > 120:
        return stem[:110] + "." + ext[:9]
    return base[:120]


@dataclass
class Run:
    path: Path
    echo: Callable[[dict], None] | None = None  # e.g. the CLI prints progress to stderr
    writer: bool = True  # False on the non-zero ranks of a distributed run: rank 0 writes

    @property
    def id(self) -> str:
        return self.path.name

    # ---- files ---------------------------------------------------------------------------
    @property
    def has_model(self) -> bool:
        """A trained model is saved (classification: labels.json; other tasks: task.json)."""
        return (self.model_dir / "labels.json").exists() or \
            (self.model_dir / "task.json").exists()

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    def last_checkpoint(self) -> Path | None:
        """The newest complete Trainer checkpoint (one a resume can continue from), or None."""
        if not self.checkpoints_dir.is_dir():
            return None
        found = []
        for p in self.checkpoints_dir.glob("checkpoint-*"):
            step = p.name.rpartition("-")[2]
            if step.isdigit() and (p / "trainer_state.json").exists() and \
                    (p / "optimizer.pt").exists():
                found.append((int(step), p))
        return max(found)[1] if found else None

    @property
    def owner(self) -> str:
        """Who started the run (the signed-in user with --auth; "" otherwise)."""
        return self.status_info().get("owner", "") or ""

    @property
    def kind(self) -> str:
        """"train" (a fine-tuning run) or "pretrain" (continued pre-training, engine/adaptive)."""
        return self.config_dict().get("kind", "train") or "train"

    def config(self):
        """The run's configuration: a RunConfig, or a PretrainConfig for a pre-training run."""
        from engine.config import HpoConfig, PretrainConfig, RunConfig

        cls = {"pretrain": PretrainConfig, "hpo": HpoConfig}.get(self.kind, RunConfig)
        return cls.load(self.path / "config.json")

    def config_dict(self) -> dict:
        return read_json(self.path / "config.json", {}) or {}

    def data_summary(self) -> dict:
        return read_json(self.path / "data.json", {}) or {}

    def metrics(self) -> dict:
        return read_json(self.path / "metrics.json", {}) or {}

    def write_metrics(self, metrics: dict) -> None:
        if not self.writer:
            return
        write_json_atomic(self.path / "metrics.json", metrics)

    # ---- status --------------------------------------------------------------------------
    def status_info(self) -> dict:
        return read_json(self.path / "status.json", {}) or {}

    @property
    def status(self) -> str:
        return self.status_info().get("status", "unknown")

    def set_status(self, status: str, **extra: Any) -> None:
        if not self.writer:
            return
        info = {**self.status_info(), "status": status, "updated": time.time(), **extra}
        if status == "running":
            info["pid"] = os.getpid()
            info.setdefault("started", time.time())
        if status in FINAL_STATUSES:
            info["finished"] = time.time()
        write_json_atomic(self.path / "status.json", info)

    # ---- events --------------------------------------------------------------------------
    def append_event(self, event: str, **values: Any) -> dict:
        record = {"event": event, "time": round(time.time(), 3), **values}
        if not self.writer:
            return record
        line = json.dumps(record, ensure_ascii=False, default=str)
        with open(self.path / "events.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
        if self.echo is not None:
            self.echo(record)
        return record

    def events(self, kind: str | None = None) -> list[dict]:
        return list(self.iter_events(kind))

    def iter_events(self, kind: str | None = None) -> Iterator[dict]:
        try:
            with open(self.path / "events.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    if not line.endswith("\n"):
                        break  # a line still being written
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if kind is None or record.get("event") == kind:
                        yield record
        except FileNotFoundError:
            return

    def summary(self) -> dict:
        cfg = self.config_dict()
        st = self.status_info()
        m = self.metrics()
        started, finished = st.get("started"), st.get("finished")
        duration = (finished or (time.time() if st.get("status") == "running" else started or 0)) \
            - started if started else None
        test = m.get("test", {})
        from engine.tasks import MAIN_METRIC

        task = cfg.get("task", "") or "classification"
        main = MAIN_METRIC.get(task, "macro_f1")
        main_value = test.get(main)
        if cfg.get("kind") == "pretrain":
            task, main, main_value = "pretrain", "perplexity", m.get("perplexity_after")
        elif cfg.get("kind") == "hpo":  # a search: its best trial's validation score
            task, main, main_value = "hpo", m.get("metric", main), m.get("best_value")
        return {
            "id": self.id,
            "name": cfg.get("run_name") or self.id,
            "status": st.get("status", "unknown"),
            "task": task if cfg.get("kind") in ("pretrain", "hpo") else cfg.get("task", ""),
            "kind": cfg.get("kind", "train") or "train",
            "backbone": cfg.get("backbone", ""),
            "strategy": cfg.get("strategy", ""),
            "data": Path(cfg.get("data", "")).name,
            "accuracy": test.get("accuracy"),
            "macro_f1": test.get("macro_f1"),
            "main_metric": main, "main_value": main_value,
            "duration_s": round(duration, 1) if duration is not None else None,
            "created": st.get("created") or self.path.stat().st_mtime,
            "error": st.get("error", ""),
        }


class RunStore:
    """All runs under one folder."""

    def __init__(self, root: str | Path = "runs"):
        self.root = Path(root)

    def create(self, config, run_id: str | None = None, owner: str = "") -> Run:
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        backbone = config.backbone
        if backbone.startswith("run:"):
            backbone = Path(backbone[4:]).name
        what = f"{config.run_name or backbone}-{config.strategy}"
        if getattr(config, "kind", "") == "pretrain":
            what = "adapt-" + what
        elif getattr(config, "kind", "") == "hpo":
            what = "hpo-" + what
        base = safe_id(run_id or f"{stamp}-{what}")
        path = self.root / base
        n = 1
        while True:
            try:
                path.mkdir(parents=True)
                break
            except FileExistsError:
                n += 1
                path = self.root / f"{base}-{n}"
        run = Run(path)
        config.save(path / "config.json")
        write_json_atomic(path / "status.json", {"status": "queued", "created": time.time(),
                                                 "updated": time.time(), "owner": owner or ""})
        (path / "events.jsonl").touch()
        return run

    def get(self, run_id: str) -> Run:
        rid = safe_id(Path(str(run_id)).name)
        path = self.root / rid
        if not (path / "config.json").exists():
            raise KeyError(f"No run called {run_id!r} in {self.root}.")
        return Run(path)

    def list(self) -> list[Run]:
        if not self.root.is_dir():
            return []
        runs = [Run(p) for p in self.root.iterdir() if (p / "config.json").exists()]
        return sorted(runs, key=lambda r: r.status_info().get("created", 0), reverse=True)

    def delete(self, run_id: str, user: str | None = None, uploads_dir: str | Path | None = None
               ) -> list[str]:
        """Delete a finished run folder (and, when ``uploads_dir`` is given, the uploaded data
        files it used that no other run uses). Returns the paths removed. Raises PermissionError
        for another user's run and RunBusyError for a queued or running one."""
        import shutil

        run = self.get(run_id)
        if not can_control(run, user):
            raise PermissionError(f"{run.id} belongs to {run.owner}; only they can delete it.")
        if run.status in ("queued", "running", "stopping") and _pid_alive_or_self(run):
            raise RunBusyError(f"{run.id} is {run.status}: stop it first, then delete it.")
        removed = []
        if uploads_dir is not None:
            uploads = Path(uploads_dir).resolve()
            mine = _data_files(run)
            others = set()
            for other in self.list():
                if other.id != run.id:
                    others |= _data_files(other)
            for f in mine - others:
                if uploads in f.parents and f.exists():
                    f.unlink()
                    removed.append(str(f))
                    if f.parent != uploads and not any(f.parent.iterdir()):
                        f.parent.rmdir()
        shutil.rmtree(run.path)
        removed.append(str(run.path))
        return removed

    def mark_interrupted(self, live_ids: set[str] = frozenset()) -> list[str]:
        """Runs left 'running'/'queued' by a process that is gone become 'interrupted'."""
        changed = []
        for run in self.list():
            info = run.status_info()
            if info.get("status") not in ("running", "queued", "stopping") or run.id in live_ids:
                continue
            pid = info.get("pid")
            if pid and pid != os.getpid() and _pid_alive(pid):
                continue  # trained by another live process (e.g. the CLI)
            run.set_status("interrupted", error="The server stopped while this run was active.")
            run.append_event("end", status="interrupted")
            changed.append(run.id)
        return changed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True


class RunBusyError(ValueError):
    """The run is queued or training; the message says what to do."""


def can_control(run: Run, user: str | None) -> bool:
    """May ``user`` stop / resume / delete ``run``? Without sign-in (user None) everyone may;
    with it, the run's owner may (runs started without an owner are everyone's)."""
    return user is None or not run.owner or run.owner == user


def _pid_alive_or_self(run: Run) -> bool:
    pid = run.status_info().get("pid")
    return not pid or pid == os.getpid() or _pid_alive(pid)


def _data_files(run: Run) -> set[Path]:
    cfg = run.config_dict()
    out = set()
    for key in ("data", "test_data", "text_file"):
        value = cfg.get(key)
        if value:
            out.add(Path(value).resolve())
    return out


def superseded_removed(events: list[dict]) -> list[dict]:
    """Events with the curve points a resume replaced taken out: after a ``resume`` event that
    continues from step N, the earlier log/eval points past step N (trained after the checkpoint,
    before the crash) are not part of the run any more. Nothing is deleted from the file."""
    out: list[dict] = []
    for e in events:
        if e.get("event") == "resume" and isinstance(e.get("from_step"), int):
            n = e["from_step"]
            out = [x for x in out if x.get("event") not in ("log", "eval")
                   or (x.get("step") or 0) <= n]
        out.append(e)
    return out
