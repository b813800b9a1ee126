"""Hyper-parameter search vs the default configuration under the same compute budget.

    .venv/bin/python bench/bench_hpo.py                     # ~20 min on 2 CPU cores
    .venv/bin/python bench/bench_hpo.py --steps 300 --trials 6 --seeds 0 1 2
    make bench-hpo

Data: ../shared/data/uci_sentiment_sentences.csv (skipped when absent), --max-rows rows (a
stratified sample; 80/10/10 train/validation/test split by the seed). Backbone: the bundled
MiniLM. For each seed:

  default  one `python -m engine train` with the Auto plan (strategy auto) and --steps
           optimisation steps;
  search   one `python -m engine hpo` with --trials trials of --steps / --trials steps each
           (the same total number of optimisation steps), TPE + median pruning, the default
           search space around the Auto plan (trial 0 is the Auto plan itself), selected on the
           validation macro-F1; the best trial's model is scored on the test split.

  best x full  (more compute, for reference) the search's best settings trained for --steps,
           like the default: did the search find better settings, or only better short runs?

All are scored on the same test rows (macro-F1). Prints a table per seed and the mean +- sd of
the differences; writes bench/results/hpo.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "bench" / "results"
ENV = dict(
    os.environ,
    HF_HUB_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
    TOKENIZERS_PARALLELISM="false",
    GRADIO_ANALYTICS_ENABLED="False",
)


def engine(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "engine", *args, "--quiet"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"engine {args[0]} failed: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(SHARED / "uci_sentiment_sentences.csv"))
    ap.add_argument("--max-rows", type=int, default=1200)
    ap.add_argument("--steps", type=int, default=240, help="total optimisation steps per arm")
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    if not Path(args.data).exists():
        print(f"skipped: {args.data} is not on this machine")
        return 0
    per_trial = max(1, args.steps // args.trials)
    common = [
        "--data",
        args.data,
        "--backbone",
        "minilm-l6",
        "--max-rows",
        str(args.max_rows),
        "--evaluations-per-epoch",
        "4",
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            out = str(Path(tmp) / f"seed{seed}")
            t0 = time.time()
            default = engine(
                "train",
                *common,
                "--seed",
                str(seed),
                "--max-steps",
                str(args.steps),
                "--output-dir",
                out,
            )
            t1 = time.time()
            search = engine(
                "hpo",
                *common,
                "--seed",
                str(seed),
                "--max-steps",
                str(per_trial),
                "--trials",
                str(args.trials),
                "--output-dir",
                out,
            )
            t2 = time.time()
            # not the same budget: the search's best settings trained as long as the default
            best_flags = [
                x
                for k, v in search["best_params"].items()
                for x in ("--" + k.replace("_", "-"), str(v))
            ]
            longer = engine(
                "train",
                *common,
                "--seed",
                str(seed),
                "--max-steps",
                str(args.steps),
                *best_flags,
                "--output-dir",
                out,
            )
            row = {
                "seed": seed,
                "best_full_f1": longer["test"]["macro_f1"],
                "default_f1": default["test"]["macro_f1"],
                "default_acc": default["test"]["accuracy"],
                "search_f1": search["best_test"].get("macro_f1"),
                "search_acc": search["best_test"].get("accuracy"),
                "best_params": search["best_params"],
                "best_trial": search["best_number"],
                "pruned": search["pruned"],
                "complete": search["complete"],
                "default_seconds": round(t1 - t0, 1),
                "search_seconds": round(t2 - t1, 1),
            }
            rows.append(row)
            print(
                f"seed {seed}: default macro-F1 {row['default_f1']:.3f} ({row['default_seconds']}"
                f" s) | search best (trial {row['best_trial']}, {row['pruned']} pruned) "
                f"{row['search_f1']:.3f} ({row['search_seconds']} s) {row['best_params']}",
                flush=True,
            )
    diff = [r["search_f1"] - r["default_f1"] for r in rows]
    diff_full = [r["best_full_f1"] - r["default_f1"] for r in rows]
    print(
        "\n| seed | default (budget) | search best (same budget) | difference | best settings "
        "x full budget | difference | pruned / trials |\n|---|---|---|---|---|---|---|"
    )
    for r, d, f in zip(rows, diff, diff_full):
        print(
            f"| {r['seed']} | {r['default_f1']:.3f} | {r['search_f1']:.3f} | {d:+.3f} | "
            f"{r['best_full_f1']:.3f} | {f:+.3f} | {r['pruned']} / "
            f"{r['pruned'] + r['complete']} |"
        )
    sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0  # noqa: E731
    mean = lambda k: statistics.mean(r[k] for r in rows)  # noqa: E731
    print(
        f"| mean | {mean('default_f1'):.3f} | {mean('search_f1'):.3f} | "
        f"{statistics.mean(diff):+.3f} ± {sd(diff):.3f} | {mean('best_full_f1'):.3f} | "
        f"{statistics.mean(diff_full):+.3f} ± {sd(diff_full):.3f} | |"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hpo.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
