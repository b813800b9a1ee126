"""Speed benchmark: the reference fine-tuning loop vs Adaptune's default recipe, side by side.

Both sides train the bundled MiniLM-L6 encoder on THE SAME fixed-seed stratified split of
``../shared/data/uci_sentiment_sentences.csv`` (3,000 labelled sentences, binary) and are scored
on the same held-out test rows:

  (a) reference  ``bench/reference.py``: padding to 128, batch 16, plain PyTorch, AdamW 2e-5,
                 full fine-tuning, 1 epoch (or --epochs), torch threads = usable cores;
  (b) adaptune   ``python -m engine train ...`` in a subprocess, default strategy (no --strategy),
                 its own default epochs unless --epochs is given, same environment.

Samples/s is per training sample (rows x epochs / training wall time), so the number of epochs
does not distort it. Target: speedup >= 3 and accuracy_delta (adaptune - reference) >= 0.

    make bench                      # or: .venv/bin/python bench/bench_speed.py
    .venv/bin/python bench/bench_speed.py --dry-run     # reference half only, 64 rows: self-check

The last stdout line is one JSON object; it is also written to bench/results/speed-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _k, _v in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "GRADIO_ANALYTICS_ENABLED": "False",
}.items():
    os.environ.setdefault(_k, _v)

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import reference  # noqa: E402  (bench/reference.py)

DEFAULT_DATA = REPO.parent / "shared" / "data" / "uci_sentiment_sentences.csv"
TARGET = "speedup >= 3 and accuracy_delta >= 0"


def split_data(data: Path, train_rows: int, test_rows: int, seed: int, out_dir: Path):
    import pandas as pd
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(data)
    missing = {"text", "label"} - set(df.columns)
    if missing:
        raise SystemExit(f"{data}: missing column(s) {', '.join(sorted(missing))}")
    df = df[["text", "label"]].dropna()
    df["text"] = df["text"].astype(str)
    if train_rows + test_rows > len(df):
        raise SystemExit(
            f"--train-rows {train_rows} + --test-rows {test_rows} exceed the "
            f"{len(df)} rows of {data}"
        )
    train, rest = train_test_split(
        df, train_size=train_rows, stratify=df["label"], random_state=seed
    )
    if test_rows < len(rest):
        test, _ = train_test_split(
            rest, train_size=test_rows, stratify=rest["label"], random_state=seed
        )
    else:
        test = rest
    train = train.reset_index(drop=True)
    test = test.reset_index(drop=True)
    train_csv, test_csv = out_dir / "train.csv", out_dir / "test.csv"
    train.to_csv(train_csv, index=False)
    test.to_csv(test_csv, index=False)
    return train, test, train_csv, test_csv


def _dig(obj: dict, *paths: str):
    """First present value among dotted paths (``"test.accuracy"``)."""
    for path in paths:
        cur = obj
        for part in path.split("."):
            if isinstance(cur, dict) and part in cur:
                cur = cur[part]
            else:
                cur = None
                break
        if cur is not None:
            return cur
    return None


def run_adaptune(
    train_csv: Path, test_csv: Path, out_dir: Path, seed: int, epochs: int | None, timeout: float
) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "train",
        "--data",
        str(train_csv),
        "--test-data",
        str(test_csv),
        "--text-column",
        "text",
        "--label-column",
        "label",
        "--backbone",
        "minilm-l6",
        "--output-dir",
        str(out_dir),
        "--seed",
        str(seed),
    ]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    print("  $ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    last = ""
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=os.environ.copy(), stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.strip():
                last = line
                print(f"  [adaptune] {line[:300]}", flush=True)
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                break
        rc = proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - t0)))
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    wall = time.perf_counter() - t0
    if rc != 0:
        return {"error": f"engine exited with status {rc}", "wall_seconds": wall}
    try:
        res = json.loads(last)
        assert isinstance(res, dict)
    except (ValueError, AssertionError):
        return {
            "error": f"last stdout line is not a JSON object: {last[:200]!r}",
            "wall_seconds": wall,
        }

    run_dir = res.get("run_dir")
    saved: dict = {}
    if run_dir:  # the run folder's config.json holds the settings the engine actually used
        try:
            saved = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
    strategy = _dig(res, "strategy", "config.strategy") or saved.get("strategy")
    run_epochs = _dig(res, "epochs", "config.epochs") or saved.get("epochs")
    sps = _dig(res, "train_samples_per_second")
    seconds = _dig(res, "train_seconds", "train_runtime", "training_seconds", "seconds")
    return {
        "samples_per_second": float(sps) if sps is not None else None,
        "test_accuracy": _as_float(_dig(res, "test.accuracy", "test_accuracy")),
        "test_macro_f1": _as_float(_dig(res, "test.macro_f1", "test_macro_f1")),
        "seconds": _as_float(seconds),
        "wall_seconds": wall,
        "strategy": strategy,
        "epochs": run_epochs,
        "run_dir": run_dir,
    }


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _as_float(v):
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def _fmt(v, spec: str = ".1f") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def print_table(ref: dict | None, ada: dict | None, speedup, delta) -> None:
    rows = [
        ("training samples/s", "samples_per_second", ".1f"),
        ("test accuracy", "test_accuracy", ".4f"),
        ("test macro-F1", "test_macro_f1", ".4f"),
        ("training seconds", "seconds", ".1f"),
        ("wall seconds (whole run)", "wall_seconds", ".1f"),
        ("epochs", "epochs", ""),
        ("strategy", "strategy", ""),
    ]
    ref, ada = ref or {}, ada or {}
    ref = {**ref, "strategy": "full (reference)"} if ref else ref
    w0, w = 26, 18
    print()
    print(f"{'':<{w0}}{'reference':>{w}}{'adaptune':>{w}}")
    print("-" * (w0 + 2 * w))
    for label, key, spec in rows:
        print(f"{label:<{w0}}{_fmt(ref.get(key), spec):>{w}}{_fmt(ada.get(key), spec):>{w}}")
    print("-" * (w0 + 2 * w))
    print(
        f"{'speedup (samples/s)':<{w0}}{'':>{w}}{(_fmt(speedup, '.2f') + 'x') if speedup is not None else '-':>{w}}"
    )
    print(f"{'accuracy delta':<{w0}}{'':>{w}}{_fmt(delta, '+.4f'):>{w}}")
    if ada.get("error"):
        print(f"adaptune: {ada['error']}")
    print(f"target: {TARGET}")
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CSV with text,label columns")
    ap.add_argument("--train-rows", type=int, default=None, help="default 2000 (64 with --dry-run)")
    ap.add_argument("--test-rows", type=int, default=None, help="default 1000 (64 with --dry-run)")
    ap.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs for BOTH sides (default: reference 1, adaptune its own default)",
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads for the reference (0 = all usable cores)",
    )
    ap.add_argument(
        "--only", choices=["reference", "adaptune"], default=None, help="run one side only"
    )
    ap.add_argument(
        "--dry-run", action="store_true", help="self-check: the reference side only, on 64 rows"
    )
    ap.add_argument("--engine-timeout", type=float, default=3600.0, help="seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (split + run)")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    a = ap.parse_args(argv)

    if a.dry_run:
        a.only = "reference"
    train_rows = a.train_rows or (64 if a.dry_run else 2000)
    test_rows = a.test_rows or (64 if a.dry_run else 1000)
    threads = a.threads or reference.usable_cores()

    data = a.data.resolve() if a.data.exists() else a.data
    if not data.exists():
        print(f"skipped: data not found ({data})")
        return 0

    import torch

    tmp = Path(tempfile.mkdtemp(prefix="adaptune-bench-"))
    started = _dt.datetime.now()
    print(
        f"Adaptune speed bench — {started:%Y-%m-%d %H:%M}, torch {torch.__version__}, "
        f"{threads} thread(s), data {data.name}: train {train_rows} / test {test_rows} rows, "
        f"seed {a.seed}{' (dry run)' if a.dry_run else ''}",
        flush=True,
    )
    load_before = _loadavg()
    if load_before is not None and load_before > 0.5 * threads:
        print(
            f"WARNING: load average {load_before:.2f} on {threads} core(s): other processes are "
            f"using the CPU, so the timings will be low and noisy. Run on an idle machine.",
            flush=True,
        )
    train, test, train_csv, test_csv = split_data(data, train_rows, test_rows, a.seed, tmp)

    ref = ada = None
    if a.only in (None, "reference"):
        print("(a) reference loop ...", flush=True)
        t0 = time.perf_counter()
        ref = reference.train_reference(
            train["text"].tolist(),
            train["label"].tolist(),
            test["text"].tolist(),
            test["label"].tolist(),
            epochs=a.epochs or 1,
            seed=a.seed,
            threads=threads,
        )
        ref["wall_seconds"] = time.perf_counter() - t0
    if a.only in (None, "adaptune"):
        print("(b) adaptune engine (default strategy) ...", flush=True)
        ada = run_adaptune(train_csv, test_csv, tmp / "runs", a.seed, a.epochs, a.engine_timeout)

    speedup = delta = None
    if ref and ada and ref.get("samples_per_second") and ada.get("samples_per_second"):
        speedup = ada["samples_per_second"] / ref["samples_per_second"]
    if (
        ref
        and ada
        and ref.get("test_accuracy") is not None
        and ada.get("test_accuracy") is not None
    ):
        delta = ada["test_accuracy"] - ref["test_accuracy"]
    met = bool(speedup is not None and delta is not None and speedup >= 3 and delta >= 0)

    print_table(ref, ada, speedup, delta)

    result = {
        "reference": ref,
        "adaptune": ada,
        "speedup": speedup,
        "accuracy_delta": delta,
        "target": TARGET,
        "met": met,
        "setup": {
            "date": started.isoformat(timespec="seconds"),
            "dry_run": a.dry_run,
            "data": data.name,
            "train_rows": len(train),
            "test_rows": len(test),
            "seed": a.seed,
            "epochs_arg": a.epochs,
            "threads": threads,
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "processor": platform.processor() or None,
            "load_average_before": load_before,
            "load_average_after": _loadavg(),
        },
    }
    if not a.no_save:
        out_dir = BENCH_DIR / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        suffix = "-dryrun" if a.dry_run else ""
        out = out_dir / f"speed-{started:%Y%m%d-%H%M%S}{suffix}.json"
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"written: {out.relative_to(REPO)}")
    if a.keep:
        print(f"kept: {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)

    print(json.dumps(result, separators=(",", ":")))
    return 1 if (ada and ada.get("error")) else 0


if __name__ == "__main__":
    raise SystemExit(main())
