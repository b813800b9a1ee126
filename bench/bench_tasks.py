"""Every task once, through the CLI, on the shared data where it exists: before vs after.

Each row is one `python -m engine train --task ...` subprocess (the same path the UI uses); the
last stdout line's JSON gives the test metrics of the fine-tuned model and, for the tasks that
measure it, of the model before fine-tuning on the same test rows ("before": the untrained head
or the base decoder; for classification-like tasks without one, the majority baseline).

    .venv/bin/python bench/bench_tasks.py            # all rows (~15-25 min on 2 CPU cores)
    .venv/bin/python bench/bench_tasks.py ner qa     # only these tasks (or data file names)
    make bench-tasks

Rows whose data is missing are reported as skipped. Prints one markdown table; also writes
bench/results/tasks.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SAMPLES = REPO / "sample_data"
RESULTS = REPO / "bench" / "results"

# (task, data file, main metric, extra CLI flags)
ROWS = [
    (
        "ner",
        SHARED / "wnut16_train.jsonl",
        "f1",
        ["--backbone", "minilm-l6", "--max-rows", "1200", "--epochs", "3", "--max-length", "64"],
    ),
    (
        "ner",
        SAMPLES / "ner_chinese_demo.jsonl",
        "f1",
        ["--backbone", "e5-small-multilingual", "--epochs", "4", "--max-length", "64"],
    ),
    (
        "multilabel",
        SAMPLES / "multilabel_support_tickets.csv",
        "micro_f1",
        ["--backbone", "minilm-l6", "--epochs", "4"],
    ),
    (
        "relation",
        SAMPLES / "relation_sample.csv",
        "macro_f1",
        ["--backbone", "minilm-l6", "--epochs", "4"],
    ),
    (
        "qa",
        SAMPLES / "qa_sample.jsonl",
        "f1",
        ["--backbone", "minilm-l6", "--epochs", "4", "--batch-size", "8", "--max-length", "192"],
    ),
    (
        "translation",
        SHARED / "bible_en_web__es_rv1909.csv",
        "chrf",
        [
            "--backbone",
            "smollm2-135m-instruct",
            "--text-column",
            "en",
            "--label-column",
            "es",
            "--target-language",
            "Spanish",
            "--max-rows",
            "600",
            "--max-steps",
            "60",
            "--max-length",
            "96",
            "--max-new-tokens",
            "48",
            "--generation-eval-rows",
            "40",
        ],
    ),
]


def run_row(task: str, data: Path, flags: list[str], out_dir: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "train",
        "--task",
        task,
        "--data",
        str(data),
        "--output-dir",
        out_dir,
        "--quiet",
        *flags,
    ]
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        GRADIO_ANALYTICS_ENABLED="False",
    )
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1], "wall": wall}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "wall": wall}


def fmt(value) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value:.3f}" if abs(value) <= 1 else f"{value:.1f}"


def main(only: list[str]) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    print(
        "| task | data | backbone · strategy | train rows | steps | wall s | metric | before "
        "| after |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-tasks-") as out_dir:
        for task, data, metric, flags in ROWS:
            if only and task not in only and data.name not in only:
                continue
            backbone = flags[flags.index("--backbone") + 1]
            if not data.exists():
                print(f"| {task} | {data.name} | {backbone} | skipped: data not found |")
                continue
            out = run_row(task, data, flags, out_dir)
            results.append({"task": task, "data": data.name, "flags": flags, **out})
            if "error" in out:
                print(f"| {task} | {data.name} | {backbone} | failed: {out['error']} |")
                continue
            cfg = json.loads((Path(out["run_dir"]) / "config.json").read_text())
            data_json = json.loads((Path(out["run_dir"]) / "data.json").read_text())
            rows = (data_json.get("rows") or data_json.get("splits") or {}).get("train", "?")
            before = (out.get("before") or {}).get(metric, out.get("majority_baseline"))
            print(
                f"| {task} | {data.name} | {backbone} · {cfg['strategy']} | {rows} | "
                f"{out.get('global_step')} | {out['wall']:.0f} | {metric} | {fmt(before)} | "
                f"{fmt(out['test'].get(metric))} |",
                flush=True,
            )
    (RESULTS / "tasks.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
