"""Zero- and few-shot prompting measured on real labelled data: does calibration raise zero-shot
accuracy, and does choosing the examples by similarity beat choosing them at random?

    .venv/bin/python bench/bench_prompting.py                  # ~30 min on 2 CPU cores
    .venv/bin/python bench/bench_prompting.py --rows 100 --seeds 0 1
    make bench-prompting

Data (../shared/data, skipped when absent): UCI sentiment sentences (2 labels) and TREC question
types (6 labels). For each set the rows measured are the head of the test split a fine-tuning
run with seed 42 is tested on (the studio's Measure rows); few-shot examples come from the
training split only.

Settings, all with the bundled SmolLM2-135M-Instruct scoring each label's verbalizer words after
the preset prompt (plain completion, no chat template), same rows:
  zero-shot; zero-shot + contextual calibration (content-free "N/A", "", "[MASK]"); zero-shot +
  domain calibration (mean prediction over 32 training texts, labels unused);
  4- and 8-shot with random examples (one draw per seed; --seeds), the same calibrated both
  ways, and with the examples most similar to each input (MiniLM embeddings; deterministic, so
  one run);
  encoder zero-shot: MiniLM embedding similarity to the verbalizer words (raw and domain-calibrated).

Prints one markdown table per data set (accuracy, macro-F1 as mean +- std over seeds, seconds per
example) and the two target checks; writes bench/results/prompting.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "bench" / "results"
SETS = {
    "uci-sentiment": ("uci_sentiment_sentences.csv", "sentiment"),
    "trec-6": ("trec6_questions.csv", "question-type"),
}


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> int:
    from engine import prompting as P
    from engine.config import PromptConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200, help="test rows per data set")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--backbone", default="smollm2-135m-instruct")
    args = ap.parse_args()

    report: dict = {"rows": args.rows, "seeds": args.seeds, "backbone": args.backbone, "sets": {}}
    for name in args.sets:
        file, preset = SETS[name]
        path = SHARED / file
        if not path.exists():
            print(f"skipped {name}: {path} is not on this machine")
            continue
        data = P.measure_data(PromptConfig(data=str(path), limit=args.rows))
        print(
            f"\n## {name}: {len(data.rows)} test rows, {len(data.pool)} training rows, "
            f"labels {data.labels}",
            flush=True,
        )
        results: dict[str, list[dict]] = {}

        def run(
            label: str,
            backbone: str = args.backbone,
            seeds=(42,),
            path=path,
            preset=preset,
            data=data,
            results=results,
            **kw,
        ) -> None:
            for seed in seeds:
                cfg = PromptConfig(
                    data=str(path),
                    preset=preset,
                    backbone=backbone,
                    seed=seed,
                    limit=args.rows,
                    **kw,
                )
                t0 = time.perf_counter()
                r = P.PromptClassifier(cfg, data.labels, data.pool).measure(data.rows)
                results.setdefault(label, []).append(
                    {
                        "seed": seed,
                        "accuracy": r["accuracy"],
                        "macro_f1": r["macro_f1"],
                        "seconds_per_example": r["seconds_per_example"],
                        "wall_seconds": round(time.perf_counter() - t0, 1),
                    }
                )
                print(
                    f"  {label:42} seed {seed}: accuracy {r['accuracy']:.3f}  macro-F1 "
                    f"{r['macro_f1']:.3f}  {r['seconds_per_example']:.3f} s/example",
                    flush=True,
                )

        run("zero-shot")
        run("zero-shot + contextual calibration", calibrate=True, calibration="content-free")
        run("zero-shot + domain calibration", calibrate=True, calibration="domain")
        for k in (4, 8):
            run(f"{k}-shot random", seeds=args.seeds, shots=k, shot_selection="random")
            run(
                f"{k}-shot random + contextual calibration",
                seeds=args.seeds,
                shots=k,
                shot_selection="random",
                calibrate=True,
                calibration="content-free",
            )
            run(
                f"{k}-shot random + domain calibration",
                seeds=args.seeds,
                shots=k,
                shot_selection="random",
                calibrate=True,
                calibration="domain",
            )
            run(f"{k}-shot similar", shots=k, shot_selection="similar")
        run("encoder zero-shot (MiniLM)", backbone="minilm-l6")
        run(
            "encoder zero-shot + domain calibration",
            backbone="minilm-l6",
            calibrate=True,
            calibration="domain",
        )

        print(f"\n| {name} | accuracy | macro-F1 | s/example |\n|---|---|---|---|")
        for label, rs in results.items():
            print(
                f"| {label} | {mean_std([r['accuracy'] for r in rs])} | "
                f"{mean_std([r['macro_f1'] for r in rs])} | "
                f"{statistics.mean(r['seconds_per_example'] for r in rs):.3f} |"
            )
        acc = {label: statistics.mean(r["accuracy"] for r in rs) for label, rs in results.items()}
        checks = {
            "contextual calibration raises zero-shot accuracy": acc[
                "zero-shot + contextual calibration"
            ]
            > acc["zero-shot"],
            "domain calibration raises zero-shot accuracy": acc["zero-shot + domain calibration"]
            > acc["zero-shot"],
            "4-shot similar beats 4-shot random": acc["4-shot similar"] > acc["4-shot random"],
            "8-shot similar beats 8-shot random": acc["8-shot similar"] > acc["8-shot random"],
        }
        for text, ok in checks.items():
            print(f"- {text}: {'yes' if ok else 'NO'}")
        report["sets"][name] = {
            "file": file,
            "rows": len(data.rows),
            "labels": data.labels,
            "results": results,
            "checks": checks,
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "prompting.json").write_text(json.dumps(report, indent=2))
    print(f"\nwrote {RESULTS / 'prompting.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
