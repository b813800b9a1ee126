"""The on-disk run store: everything the UI shows is read from here.

    runs/<id>/config.json    the RunConfig the run was started from
              data.json      the data summary (labels, columns, split sizes, warnings)
              events.jsonl   append-only: one JSON object per line (see EVENT KINDS below)
              status.json    {"status": ..., "pid": ..., "owner": ..., "shared": ..., "updated": ...}
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
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from engine.errors import AccessError
from engine.jsonio import read_json, write_json_atomic

STATUSES = ("queued", "running", "stopping", "completed", "stopped", "failed", "interrupted")
FINAL_STATUSES = ("completed", "stopped", "failed", "interrupted")
LIVE = ("queued", "running", "stopping")
GONE = (
    "The process that ran this run has gone (it was killed or crashed); resume or start it again."
)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_id(text: str) -> str:
    """A run id made only of safe characters (no path traversal)."""
    s = _SAFE.sub("-", text).strip(".-")
    return s[:80] or "run"


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029/\\:*?\"<>|]+")


def safe_filename(name: str, default: str = "data") -> str:
    """A file name that stays where it is put: no folders, no ``..``, no control characters or
    NUL, no bidi or other format characters, no leading dots; the extension is kept
    (``../../etc/passwd`` -> ``passwd``, ``a\x00b.csv`` -> ``a_b.csv``)."""
    base = re.split(r"[/\\]", str(name or ""))[-1]
    base = _UNSAFE_NAME.sub("_", base)
    # format characters (bidi overrides such as U+202E, zero-width marks) make a name read as
    # something else: "report\u202efdp.csv" shows as "reportvsc.pdf"
    base = "".join("_" if unicodedata.category(ch) == "Cf" else ch for ch in base).strip(" ")
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
        return (self.model_dir / "labels.json").exists() or (self.model_dir / "task.json").exists()

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
            if (
                step.isdigit()
                and (p / "trainer_state.json").exists()
                and (p / "optimizer.pt").exists()
            ):
                found.append((int(step), p))
        return max(found)[1] if found else None

    @property
    def owner(self) -> str:
        """Who started the run (the signed-in user with --auth; "" otherwise)."""
        return self.status_info().get("owner", "") or ""

    @property
    def kind(self) -> str:
        """ "train" (a fine-tuning run) or "pretrain" (continued pre-training, engine/adaptive)."""
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

    @property
    def shared(self) -> bool:
        """The owner shared the run with every signed-in user (read-only for them)."""
        return bool(self.status_info().get("shared"))

    def set_shared(self, shared: bool) -> None:
        info = {**self.recorded_status(), "shared": bool(shared), "updated": time.time()}
        write_json_atomic(self.path / "status.json", info)

    # ---- status --------------------------------------------------------------------------
    def recorded_status(self) -> dict:
        """status.json exactly as the last writer left it."""
        return read_json(self.path / "status.json", {}) or {}

    def status_info(self) -> dict:
        """status.json as written, except that a queued / running / stopping run whose process
        is gone (killed with SIGKILL, crashed, the machine rebooted) reads as ``interrupted``:
        the file says what the dead process last wrote, not what is true now."""
        info = self.recorded_status()
        if info.get("status") in LIVE and not process_alive(info.get("pid"), info.get("pid_start")):
            info = {**info, "status": "interrupted", "error": GONE}
        return info

    @property
    def status(self) -> str:
        return self.status_info().get("status", "unknown")

    def set_status(self, status: str, **extra: Any) -> None:
        if not self.writer:
            return
        info = {**self.recorded_status(), "status": status, "updated": time.time(), **extra}
        if status == "running":
            info.update(pid=os.getpid(), pid_start=process_start(os.getpid()))
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
        duration = (
            (finished or (time.time() if st.get("status") == "running" else started or 0)) - started
            if started
            else None
        )
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
            "main_metric": main,
            "main_value": main_value,
            "duration_s": round(duration, 1) if duration is not None else None,
            "created": st.get("created") or self.path.stat().st_mtime,
            "error": st.get("error", ""),
            "owner": st.get("owner", "") or "",
            "shared": bool(st.get("shared")),
        }


class RunStore:
    """All runs under one folder (unchecked: the studio reads it through a RunView)."""

    def __init__(self, root: str | Path = "runs", upload_quota: int | None = None):
        self.root = Path(root)
        self.upload_quota = upload_quota  # bytes per user (None: no limit)

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
        # the submitting process (a studio, the CLI) holds the queued run: if it dies before the
        # run starts, the run reads as interrupted (Run.status_info)
        write_json_atomic(
            path / "status.json",
            {
                "status": "queued",
                "created": time.time(),
                "updated": time.time(),
                "owner": owner or "",
                "pid": os.getpid(),
                "pid_start": process_start(os.getpid()),
            },
        )
        (path / "events.jsonl").touch()
        return run

    def get(self, run_id: str, write: bool = False) -> Run:
        """The run ``run_id`` (KeyError when there is none); unchecked (``write`` is for the
        same call on a RunView)."""
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

    @property
    def uploads(self):
        """The uploaded files kept for these runs (``<root>/_uploads``)."""
        from engine.uploads import Uploads

        return Uploads(self.root / "_uploads", quota_bytes=self.upload_quota)

    def view(self, viewer: "Viewer | str | None", public: tuple = ()) -> "RunView":
        return RunView(self, viewer, public)

    # the unchecked store answers what a view answers, for a viewer who may do everything
    def may_read_path(self, path: str | Path) -> bool:
        return True

    def may_use(self, kind: str, value: str) -> bool:
        return True

    def check_config(self, config) -> None:
        return None

    def sanitized(self, config):
        return config, []

    def set_shared(self, run_id: str, shared: bool) -> Run:
        run = self.get(run_id)
        run.set_shared(shared)
        return run

    def delete(
        self, run_id: str, user: "Viewer | str | None" = None, with_data: bool = False
    ) -> list[str]:
        """Delete a finished run folder as ``user`` (and, ``with_data``, the uploaded files it
        used that no other run uses, with the web server's temporary copies of them and of the
        files handed out from the run). Returns the paths removed. AccessError for a run the
        user may not change, KeyError for one they may not see, RunBusyError while it is queued
        or training."""
        import shutil

        run = check_run(self.get(run_id), user, write=True)
        if run.status in LIVE:  # (a dead process's run reads as interrupted)
            raise RunBusyError(f"{run.id} is {run.status}: stop it first, then delete it.")
        removed: list[str] = []
        uploads = self.uploads
        handed_out = [
            p for p in run.path.rglob("*") if p.suffix in (".zip", ".csv", ".json") and p.is_file()
        ]
        data: list[Path] = []
        if with_data:
            others: set[Path] = set()
            for other in self.list():
                if other.id != run.id:
                    others |= _data_files(other)
            root = uploads.root.resolve()
            data = [f for f in _data_files(run) - others if root in f.parents and f.exists()]
            removed += uploads.remove_copies(data + handed_out)
            removed += uploads.remove(data)
        else:
            removed += uploads.remove_copies(handed_out)
        shutil.rmtree(run.path)
        removed.append(str(run.path))
        return removed

    def mark_interrupted(self, live_ids: set[str] = frozenset()) -> list[str]:
        """Runs left 'running'/'queued' by a process that is gone become 'interrupted' on disk
        (a studio starting: its own earlier jobs are gone with the old process)."""
        changed = []
        for run in self.list():
            info = run.recorded_status()
            if info.get("status") not in LIVE or run.id in live_ids:
                continue
            pid = info.get("pid")
            if pid and pid != os.getpid() and process_alive(pid, info.get("pid_start")):
                continue  # trained by another live process (e.g. the CLI)
            run.set_status("interrupted", error="The server stopped while this run was active.")
            run.append_event("end", status="interrupted")
            changed.append(run.id)
        return changed


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (Linux: field 22 of /proc/PID/stat, in clock ticks since
    boot), so that a pid the system has reused since is not taken for the old process."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    return stat.rpartition(")")[2].split()[19] if ")" in stat else None


def process_alive(pid: Any, started: str | None = None) -> bool:
    """Is process ``pid`` (started at ``started``, when known) still there? Unknown pid: yes."""
    if not pid:
        return True
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        pass  # alive, owned by another user
    except (OSError, ValueError, OverflowError):
        return False
    if started is not None:
        now = process_start(int(pid))
        return now is None or now == started
    return True


class RunBusyError(ValueError):
    """The run is queued or training; the message says what to do."""


# ---- who may see and change what ---------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """Who is asking. ``user`` None: a studio without sign-in (or the command line), where
    everyone may see and do everything; a name: a signed-in user (``--auth``); "" (NOBODY): a
    signed-in studio outside any request (building the page), which sees no run at all.
    ``admin``: a user named by ``--admin``, who sees and controls every run."""

    user: str | None = None
    admin: bool = False

    @property
    def unrestricted(self) -> bool:
        return self.user is None or self.admin


EVERYONE = Viewer()
NOBODY = Viewer(user="")


def as_viewer(who: "Viewer | str | None") -> Viewer:
    """A Viewer from a Viewer, a user name, or None (no sign-in)."""
    return who if isinstance(who, Viewer) else Viewer(user=who)


def may_read(run: Run, who: "Viewer | str | None") -> bool:
    """May this viewer see ``run`` (list, open, compare, predict with, download, measure)?
    Everyone without sign-in; with it, the owner, an admin, and every signed-in user once the
    owner shared it. A run without an owner in a signed-in studio is the admins' only."""
    viewer = as_viewer(who)
    if viewer.unrestricted:
        return True
    info = run.recorded_status()
    return bool(viewer.user) and (info.get("owner") == viewer.user or bool(info.get("shared")))


def may_write(run: Run, who: "Viewer | str | None") -> bool:
    """May this viewer change ``run`` (stop, cancel, resume, delete, share, export into it)?
    Everyone without sign-in; with it, the owner and the admins."""
    viewer = as_viewer(who)
    return viewer.unrestricted or (bool(viewer.user) and run.owner == viewer.user)


def check_run(run: Run, who: "Viewer | str | None", write: bool = False) -> Run:
    """The one check every read and write of a run goes through: ``run`` itself, or
    KeyError (the viewer may not see it: to them it does not exist) or AccessError (they see a
    shared run, but only its owner may change it)."""
    if not may_read(run, who):
        raise KeyError(f"No run called {run.id!r}.")
    if write and not may_write(run, who):
        raise AccessError(
            f"{run.id} belongs to {run.owner or 'nobody'}; only they (or an admin) can change it.",
            key="access.not_yours",
            id=run.id,
            owner=run.owner or "–",
        )
    return run


class RunView:
    """The run store as one viewer sees it: ``get`` and ``list`` show only the runs the viewer
    may read, writes are checked, and the files and settings a viewer hands in (a data file, a
    backbone folder, a warm start) must be theirs to read. Everything the studio does for a
    signed-in user goes through one of these."""

    def __init__(
        self, store: "RunStore", viewer: "Viewer | str | None" = None, public: tuple[Path, ...] = ()
    ):
        self.store = store
        self.viewer = as_viewer(viewer)
        self.public = tuple(Path(p).resolve() for p in public)  # e.g. the bundled samples

    @property
    def root(self) -> Path:
        return self.store.root

    @property
    def uploads(self):
        return self.store.uploads

    def get(self, run_id: str, write: bool = False) -> Run:
        return check_run(self.store.get(run_id), self.viewer, write=write)

    def list(self) -> list[Run]:
        return [r for r in self.store.list() if may_read(r, self.viewer)]

    def create(self, config, run_id: str | None = None, owner: str | None = None) -> Run:
        return self.store.create(
            config, run_id, owner=self.viewer.user or "" if owner is None else owner
        )

    def delete(self, run_id: str, with_data: bool = False) -> list[str]:
        return self.store.delete(run_id, self.viewer, with_data=with_data)

    def set_shared(self, run_id: str, shared: bool) -> Run:
        run = self.get(run_id, write=True)
        run.set_shared(shared)
        return run

    # ---- files and settings handed in ------------------------------------------------------
    def may_read_path(self, path: str | Path) -> bool:
        """May the viewer read this file or folder? The bundled samples and their own uploads
        always; inside the runs folder, what belongs to a run they may read; anything else on
        the server only without sign-in or as an admin."""
        if self.viewer.unrestricted:
            return True
        try:
            p = Path(path).expanduser().resolve()
        except (OSError, ValueError, RuntimeError):
            return False
        if any(p == d or d in p.parents for d in self.public):
            return True
        if self.store.uploads.owns(p, self.viewer.user):
            return True
        root = self.store.root.resolve()
        if root in p.parents:
            first = root / p.relative_to(root).parts[0]
            if (first / "config.json").exists():
                return may_read(Run(first), self.viewer)
        return False

    def may_use(self, kind: str, value: str) -> bool:
        """May the viewer use this value of a setting of ``kind`` (config metadata ``path``)?
        A name that is no file or folder on the server (a catalogue backbone, a hub id) may
        always be used; a search database only without sign-in or as an admin."""
        value = str(value or "").strip()
        if self.viewer.unrestricted or not value:
            return True
        if kind == "storage":
            return False
        raw = value[4:].strip() if value.startswith("run:") else value
        candidates = [Path(raw).expanduser()]
        if kind in ("model", "run") and not Path(raw).is_absolute():
            candidates.append(self.store.root / raw)
        return not any(c.exists() and not self.may_read_path(c) for c in candidates)

    def refused_settings(self, config) -> list[tuple[str, str]]:
        """(field, why) for every setting of ``config`` that reaches something the viewer may
        not use: a data file, backbone or warm-start folder that is not theirs, a search
        database of their own choosing, "trust remote code" (admins only, with sign-in)."""
        from dataclasses import fields

        if self.viewer.unrestricted:
            return []
        out = []
        for f in fields(config):
            kind = f.metadata.get("path")
            value = str(getattr(config, f.name, "") or "").strip()
            if not kind or not value:
                continue
            if not self.may_use(kind, value):
                out.append((f.name, "storage" if kind == "storage" else "path"))
        if getattr(config, "trust_remote_code", False):
            out.append(("trust_remote_code", "remote_code"))
        return out

    def check_config(self, config) -> None:
        """AccessError naming the first setting of ``config`` the viewer may not use."""
        for name, why in self.refused_settings(config):
            value = getattr(config, name, "")
            message = {
                "storage": f"{name}: only an admin may choose where a search is kept.",
                "remote_code": "Only an admin may let a model run its own code on this machine.",
            }.get(why, f"{name}: {value} is not yours to use.")
            raise AccessError(message, key=f"access.{why}", field=name, value=value)

    def sanitized(self, config):
        """(a copy of ``config`` with the settings the viewer may not use set back to their
        defaults, the names of those settings): a loaded configuration never hands a user
        another user's file."""
        from dataclasses import MISSING, fields, replace

        refused = [name for name, _ in self.refused_settings(config)]
        if not refused:
            return config, []
        defaults = {
            f.name: f.default
            for f in fields(config)
            if f.name in refused and f.default is not MISSING
        }
        return replace(config, **defaults), refused


def runs_of(source) -> list[Run]:
    """The runs of ``source``: a runs folder (every run in it), or a RunStore / RunView (what its
    viewer may see), newest first."""
    return source.list() if hasattr(source, "list") else RunStore(source).list()


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
            out = [
                x for x in out if x.get("event") not in ("log", "eval") or (x.get("step") or 0) <= n
            ]
        out.append(e)
    return out
