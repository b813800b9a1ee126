"""Task-adaptive pre-training (TAPT): does continued masked-LM training on the task's own
unlabelled texts help fine-tuning with little labelled data? Measured side by side, same seeds.

    .venv/bin/python bench/bench_adaptive.py                 # ~15 min on 2 CPU cores
    .venv/bin/python bench/bench_adaptive.py --steps 300 --seeds 0 1 2 3 4
    make bench-adaptive

Data: ../shared/data/uci_sentiment_sentences.csv (3,000 labelled review sentences) by default,
or --data FILE (text,label columns). A fixed test split (600 rows, seed 0) is set aside first;
the pre-training sees only the other rows' texts, never the test texts and never a label.

1. One CLI `python -m engine pretrain` run (MiniLM, masked-LM, full) on those texts: prints the
   held-out domain pseudo-perplexity before/after and the everyday-English control.
2. For each regime (few-shot: 16 labelled rows per class; low-data: 100 per class) and seed, the
   same fine-tuning (`python -m engine train`, full, same rows, same seed) from the base MiniLM
   and from the adapted backbone; test accuracy / macro-F1 on the same 600 test rows.

Prints a markdown table per seed and the mean +- standard deviation of the difference; writes
bench/results/adaptive.json.
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

import pandas as pd

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
REGIMES = {
    "few-shot (16/class)": (16, ["--epochs", "10"]),
    "low-data (100/class)": (100, ["--epochs", "4"]),
}


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
    ap.add_argument("--steps", type=int, default=150, help="pre-training steps")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--test-rows", type=int, default=600)
    args = ap.parse_args()
    if not Path(args.data).exists():
        print(f"skipped: {args.data} is not on this machine")
        return 0
    df = pd.read_csv(args.data)[["text", "label"]].dropna()
    df["label"] = df["label"].astype(str)
    test = df.sample(n=args.test_rows, random_state=0)
    pool = df.drop(test.index)
    work = Path(tempfile.mkdtemp(prefix="bench-adaptive-"))
    test_csv, domain_csv = work / "test.csv", work / "domain.csv"
    test.to_csv(test_csv, index=False)
    pool[["text"]].to_csv(domain_csv, index=False)  # unlabelled: texts only
    runs = str(work / "runs")

    t0 = time.time()
    pt = engine(
        "pretrain",
        "--data",
        str(domain_csv),
        "--backbone",
        "minilm-l6",
        "--max-steps",
        str(args.steps),
        "--max-length",
        "64",
        "--batch-size",
        "32",
        "--output-dir",
        runs,
    )
    pt_seconds = time.time() - t0
    metrics = json.loads((Path(pt["run_dir"]) / "metrics.json").read_text())
    print(
        f"pre-training: {len(pool)} unlabelled texts, {pt['global_step']} steps, {pt_seconds:.0f} s"
    )
    print(f"  {metrics['summary']}")

    rows = []
    for regime, (per_class, flags) in REGIMES.items():
        for seed in args.seeds:
            train = pool.groupby("label", group_keys=False).sample(n=per_class, random_state=seed)
            train_csv = work / f"train-{per_class}-{seed}.csv"
            train.to_csv(train_csv, index=False)
            scores = {}
            for arm, backbone in (("base", "minilm-l6"), ("tapt", pt["adapted_backbone"])):
                out = engine(
                    "train",
                    "--data",
                    str(train_csv),
                    "--test-data",
                    str(test_csv),
                    "--backbone",
                    backbone,
                    "--strategy",
                    "full",
                    "--seed",
                    str(seed),
                    "--max-length",
                    "64",
                    "--batch-size",
                    "16",
                    "--validation-fraction",
                    "0.15",
                    "--output-dir",
                    runs,
                    *flags,
                )
                scores[arm] = out["test"]
            rows.append(
                {
                    "regime": regime,
                    "seed": seed,
                    "train_rows": len(train),
                    "base_accuracy": scores["base"]["accuracy"],
                    "tapt_accuracy": scores["tapt"]["accuracy"],
                    "base_macro_f1": scores["base"]["macro_f1"],
                    "tapt_macro_f1": scores["tapt"]["macro_f1"],
                }
            )
            r = rows[-1]
            print(
                f"  {regime} seed {seed}: base acc {r['base_accuracy']:.3f} / TAPT acc "
                f"{r['tapt_accuracy']:.3f}",
                flush=True,
            )

    print(
        f"\n### TAPT on {Path(args.data).name}: {len(test)} test rows, MiniLM, full "
        "fine-tuning, same rows and seeds\n"
    )
    print("| regime | seed | base acc | TAPT acc | base macro-F1 | TAPT macro-F1 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['regime']} | {r['seed']} | {r['base_accuracy']:.3f} | "
            f"{r['tapt_accuracy']:.3f} | {r['base_macro_f1']:.3f} | {r['tapt_macro_f1']:.3f} |"
        )
    summary = {}
    print("\n| regime | base acc (mean +- sd) | TAPT acc (mean +- sd) | difference (mean +- sd) |")
    print("|---|---|---|---|")
    for regime in REGIMES:
        rs = [r for r in rows if r["regime"] == regime]
        base = [r["base_accuracy"] for r in rs]
        tapt = [r["tapt_accuracy"] for r in rs]
        diff = [t - b for t, b in zip(tapt, base)]
        sd = statistics.stdev(diff) if len(diff) > 1 else 0.0
        summary[regime] = {
            "base_mean": statistics.mean(base),
            "tapt_mean": statistics.mean(tapt),
            "diff_mean": statistics.mean(diff),
            "diff_sd": sd,
        }
        print(
            f"| {regime} | {statistics.mean(base):.3f} +- {sd(base):.3f} | "
            f"{statistics.mean(tapt):.3f} +- {sd(tapt):.3f} | "
            f"{statistics.mean(diff):+.3f} +- {sd(diff):.3f} |"
        )
    print(
        f"\nperplexity ({metrics['perplexity_kind']}, held-out domain texts): "
        f"{metrics['perplexity_before']:.1f} -> {metrics['perplexity_after']:.1f} "
        f"({-metrics['perplexity_drop_pct']:+.1f}%); everyday-English control "
        f"{metrics['control_perplexity_before']} -> {metrics['control_perplexity_after']}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "adaptive.json").write_text(
        json.dumps(
            {
                "data": Path(args.data).name,
                "pretrain": {
                    k: metrics.get(k)
                    for k in (
                        "perplexity_before",
                        "perplexity_after",
                        "perplexity_drop_pct",
                        "control_perplexity_before",
                        "control_perplexity_after",
                        "global_step",
                        "train_seconds",
                        "summary",
                    )
                },
                "pretrain_wall_seconds": pt_seconds,
                "rows": rows,
                "summary": summary,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
