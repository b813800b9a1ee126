"""Predict with a finished run: one text, a list, or a whole table."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from engine.errors import PredictError
from engine.runs import Run, read_json
from engine.tasks.classification import Predictor

__all__ = ["PredictError", "Predictor", "get_predictor", "load_predictor", "run_task"]


def run_task(run_dir: str | Path) -> str:
    """The task a run folder was trained for ("classification" for runs older than tasks)."""
    cfg = read_json(Path(run_dir) / "config.json", {}) or {}
    return cfg.get("task") or "classification"


def load_predictor(run_dir: str | Path):
    """The predictor of a finished run, whatever its task (each task module has its own)."""
    from engine.tasks import get_task

    task = run_task(run_dir)
    run = Run(Path(run_dir))
    if not run.has_model:
        raise PredictError(
            f"{run.path} has no trained model yet (status: {run.status}). Pick a finished run."
        )
    return get_task(task).Predictor(run_dir)


@lru_cache(maxsize=4)
def cached_predictor(run_dir: str, model_mtime: float):
    """Predictor cached per run folder (the mtime makes a re-trained run reload)."""
    return load_predictor(run_dir)


def get_predictor(run_dir: str | Path):
    model_dir = Path(run_dir) / "model"
    mtime = model_dir.stat().st_mtime if model_dir.exists() else 0.0
    return cached_predictor(str(Path(run_dir).resolve()), mtime)
