"""Multi-process training with the existing engines: ``python -m engine train`` runs unchanged
under ``torchrun`` / ``accelerate launch`` (DDP through transformers' Trainer; gloo on CPUs,
NCCL on GPUs; FSDP / DeepSpeed configs pass through accelerate's own flags).

One run folder for all processes: rank 0 writes it (config, events, metrics, model), the other
ranks train on their shard and write nothing. The folder is either given by the launcher
(``ADAPTUNE_RUN_DIR``: the job queue creates the run first and starts ``torchrun`` on it) or
created by rank 0 and broadcast to the others.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUN_DIR_ENV = "ADAPTUNE_RUN_DIR"


def world() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment; (0, 1) when run alone."""
    return int(os.environ.get("RANK", "0") or 0), int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_distributed() -> bool:
    return world()[1] > 1


def is_main() -> bool:
    return world()[0] == 0


def setup() -> None:
    """Join the process group (gloo on CPU, NCCL on CUDA) before the run folder is shared."""
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def shared_run(config):
    """The run folder every process uses; only rank 0's Run writes."""
    import torch.distributed as dist

    from engine.runs import Run, RunStore

    given = os.environ.get(RUN_DIR_ENV, "")
    if given:
        path = Path(given)
    else:
        box = [str(RunStore(config.output_dir).create(config).path) if is_main() else ""]
        dist.broadcast_object_list(box, src=0)
        path = Path(box[0])
    return Run(path, writer=is_main())


def device_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001
        return 0


def launch_command(args: list[str], processes: int) -> list[str]:
    """``torchrun`` for ``python -m engine train <args>`` on this machine."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        "-m",
        "engine",
        "train",
        *args,
    ]


STOP_FILE = "STOP"  # written into the run folder to stop every process of a launched run


def absolute(config):
    """The config with absolute paths (the launched processes may start elsewhere)."""
    from dataclasses import replace

    paths = {
        k: str(Path(getattr(config, k)).resolve())
        for k in ("data", "test_data", "output_dir")
        if getattr(config, k)
    }
    if Path(config.backbone).expanduser().is_dir():
        paths["backbone"] = str(Path(config.backbone).expanduser().resolve())
    return replace(config, **paths)


def launch(config, run, processes: int) -> subprocess.Popen:
    """Start the distributed training of ``run`` (already created) as a subprocess; progress
    arrives through the run folder like any run; ``request_stop(run)`` stops it gracefully."""
    from engine.cli import config_to_args

    config = absolute(config)
    env = dict(os.environ, **{RUN_DIR_ENV: str(run.path)})
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // processes)))
    log = open(run.path / "distributed.log", "w", encoding="utf-8")  # noqa: SIM115
    repo = Path(__file__).resolve().parents[1]
    return subprocess.Popen(
        launch_command(config_to_args(config) + ["--quiet"], processes),
        cwd=repo,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def request_stop(run) -> None:
    (run.path / STOP_FILE).touch()


def watch_stop_file(run, stop, interval: float = 0.5) -> None:
    """Set ``stop`` when the run folder gets a STOP file (a daemon thread)."""
    import threading
    import time

    def loop():
        while not stop.is_set():
            if (run.path / STOP_FILE).exists():
                stop.set()
                return
            time.sleep(interval)

    threading.Thread(target=loop, name="adaptune-stop-file", daemon=True).start()
