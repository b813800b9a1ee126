"""Strategy and few-shot benchmark: every fine-tuning strategy of the engine, measured the same way.

Two tables, printed as markdown and saved (with every raw figure) to
``bench/results/strategies-<date>.json``:

1. **Strategies.** A fixed-seed stratified split of ``../shared/data/uci_sentiment_sentences.csv``
   (600 train / 300 test rows by default). Every strategy trains MiniLM-L6 (``minilm-l6``), and a
   few train SmolLM2-135M (``smollm2-135m-instruct``), each as its own subprocess::

       python -m engine train --data TRAIN.csv --test-data TEST.csv --text-column text
           --label-column label --strategy S --backbone B --output-dir TMP --seed 42 --epochs E

   with the strategy's default learning rate (the engine picks it: --learning-rate is left at 0).
   MiniLM: 2 epochs, the engine's other defaults; SetFit capped at --setfit-max-steps 150 body
   steps (uncapped, 540 rows give 1,350 steps of 16 sentence pairs: hours on a CPU). SmolLM2 (135M parameters on a CPU):
   ``--max-steps 30 --batch-size 8 --max-length 64``. Peak RSS is the training subprocess's own
   maximum resident set size, from ``os.wait4`` on its pid (the kernel's figure for that one
   child; ``RUSAGE_CHILDREN`` would be the maximum over all children so far). Samples/s is the
   CLI's ``train_samples_per_second`` (SetFit: sentence pairs per second of its body phase).
   A strategy that ``engine.strategies.support`` rules out (QLoRA without a CUDA GPU) is listed
   with the reason instead of numbers.
   Target: lora on SmolLM2 peak RSS / full on SmolLM2 peak RSS <= 0.6.

2. **Few-shot.** 8 and 16 labelled rows per class drawn from the train split (seeds 0, 1, 2; the
   same test rows), trained through the CLI with ``--strategy setfit | lora | head`` and
   ``--validation-fraction`` = 2 rows per class (the engine always holds a validation set out of
   ``--data``), plus a frozen-embedding baseline computed here: mean-pooled, L2-normalised MiniLM
   embeddings (transformers ``AutoModel`` from ``resolve_backbone("minilm-l6")``) and a
   scikit-learn ``LogisticRegression`` fitted on exactly the rows the engine trained on (and, as a
   second line, on all the sampled rows). Mean +- std over the seeds.
   Targets: setfit@8 beats the frozen-embedding LR; setfit@8 beats lora@8.

    .venv/bin/python bench/bench_strategies.py --quick          # smoke check, a few minutes
    .venv/bin/python bench/bench_strategies.py                  # the real thing (30-60 min, CPU)
    .venv/bin/python bench/bench_strategies.py --only lora,full --skip-fewshot
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
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
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_speed import split_data  # noqa: E402  (one fixed-seed split for every bench)

DEFAULT_DATA = REPO.parent / "shared" / "data" / "uci_sentiment_sentences.csv"
MINILM, SMOLLM2 = "minilm-l6", "smollm2-135m-instruct"
MINILM_STRATEGIES = [
    "full",
    "head",
    "bitfit",
    "lora",
    "rslora",
    "dora",
    "pissa",
    "adalora",
    "ia3",
    "loha",
    "lokr",
    "vera",
    "prefix",
    "prompt",
    "ptuning",
    "qlora",
    "setfit",
]
SMOLLM2_STRATEGIES = ["full", "lora", "ia3", "prompt"]
FEWSHOT_METHODS = ["setfit", "lora", "head"]
RSS_TARGET = 0.6


# ---------------------------------------------------------------------------------------------
# data


def fewshot_sample(train, per_class: int, seed: int):
    """``per_class`` rows of every label, drawn with ``seed`` from the train split."""
    parts = [g.sample(n=per_class, random_state=seed) for _, g in train.groupby("label")]
    import pandas as pd

    return pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# one engine run in a subprocess


def _reader(stream, sink: list, echo_prefix: str | None, log_fh) -> None:
    for line in stream:
        sink.append(line)
        if log_fh is not None:
            log_fh.write(line)
            log_fh.flush()
        if echo_prefix is not None and line.strip():
            print(f"{echo_prefix}{line.rstrip()[:240]}", flush=True)


def run_engine(args: list[str], log_path: Path, timeout: float, echo: bool = False) -> dict:
    """``python -m engine train ARGS`` in a subprocess: its last stdout JSON line, wall time, and
    the subprocess's own peak RSS and CPU time (``os.wait4`` on its pid)."""
    cmd = [sys.executable, "-m", "engine", "train", *args]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out_lines: list[str] = []
    err_lines: list[str] = []
    with open(log_path, "w", encoding="utf-8") as log_fh:
        log_fh.write("$ " + " ".join(cmd) + "\n")
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        readers = [
            threading.Thread(
                target=_reader, args=(proc.stdout, out_lines, None, None), daemon=True
            ),
            threading.Thread(
                target=_reader,
                args=(proc.stderr, err_lines, "    | " if echo else None, log_fh),
                daemon=True,
            ),
        ]
        for r in readers:
            r.start()
        timed_out = threading.Event()

        def _kill():
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, _kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        for r in readers:
            r.join(timeout=10)
        log_fh.write("".join(out_lines))
    res: dict = {
        "wall_seconds": round(wall, 2),
        # Linux reports ru_maxrss in KiB (macOS in bytes)
        "peak_rss_mb": round(
            usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024), 1
        ),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "returncode": proc.returncode,
        "log": str(log_path),
    }
    if timed_out.is_set():
        res["error"] = f"timed out after {timeout:.0f} s"
        return res
    if proc.returncode != 0:
        errs = [l.strip() for l in err_lines if l.strip().startswith("error:")]
        tail = [l.strip() for l in err_lines if l.strip()]
        res["error"] = (
            errs[-1]
            if errs
            else (tail[-1] if tail else f"engine exited with status {proc.returncode}")
        )
        return res
    last = next((l for l in reversed(out_lines) if l.strip()), "")
    try:
        out = json.loads(last)
        assert isinstance(out, dict)
    except (ValueError, AssertionError):
        res["error"] = f"last stdout line is not a JSON object: {last[:200]!r}"
        return res
    test = out.get("test") or {}
    params = out.get("parameters") or {}
    res.update(
        {
            "test_accuracy": test.get("accuracy"),
            "test_macro_f1": test.get("macro_f1"),
            "train_samples_per_second": out.get("train_samples_per_second"),
            "train_seconds": out.get("train_seconds"),
            "global_step": out.get("global_step"),
            "trainable": params.get("trainable"),
            "total": params.get("total"),
            "percent": params.get("percent"),
            "status": out.get("status"),
            "majority_baseline": out.get("majority_baseline"),
            "run_dir": out.get("run_dir"),
        }
    )
    start = _start_event(out.get("run_dir"))
    if start:
        res.update(
            {
                k: start.get(k)
                for k in (
                    "learning_rate",
                    "max_steps",
                    "train_rows",
                    "validation_rows",
                    "test_rows",
                )
            }
        )
    return res


def _start_event(run_dir: str | None) -> dict:
    if not run_dir:
        return {}
    try:
        with open(Path(run_dir) / "events.jsonl", encoding="utf-8") as fh:
            for line in fh:
                ev = json.loads(line)
                if ev.get("event") == "start":
                    return ev
    except (OSError, ValueError):
        pass
    return {}


def _model_type(backbone: str) -> str:
    from transformers import AutoConfig

    from engine.backbones import resolve_backbone

    return getattr(AutoConfig.from_pretrained(resolve_backbone(backbone)), "model_type", "")


# ---------------------------------------------------------------------------------------------
# table 1: strategies


def strategy_jobs(a) -> list[dict]:
    """The (backbone, strategy, flags) runs of the strategies table, in table order."""
    jobs = []
    for s in a.minilm_strategies:
        flags = ["--epochs", str(a.epochs)]
        if s == "setfit" and a.setfit_max_steps:
            flags += ["--max-steps", str(a.setfit_max_steps)]
        jobs.append({"backbone": MINILM, "strategy": s, "flags": flags})
    for s in a.smollm2_strategies:
        jobs.append(
            {
                "backbone": SMOLLM2,
                "strategy": s,
                "flags": [
                    "--epochs",
                    "1",
                    "--max-steps",
                    str(a.smollm2_max_steps),
                    "--batch-size",
                    str(a.smollm2_batch_size),
                    "--max-length",
                    str(a.smollm2_max_length),
                ],
            }
        )
    if a.only:
        jobs = [j for j in jobs if j["strategy"] in a.only]
    return jobs


def run_strategy(job: dict, train_csv: Path, test_csv: Path, tmp: Path, a, support_reason) -> dict:
    row = {"backbone": job["backbone"], "strategy": job["strategy"], "flags": job["flags"]}
    if support_reason:
        row["unsupported"] = support_reason
        print(f"  {job['backbone']:>22} {job['strategy']:<8} not run: {support_reason}", flush=True)
        return row
    out_dir = tmp / "runs"
    cli = [
        "--data",
        str(train_csv),
        "--test-data",
        str(test_csv),
        "--text-column",
        "text",
        "--label-column",
        "label",
        "--strategy",
        job["strategy"],
        "--backbone",
        job["backbone"],
        "--output-dir",
        str(out_dir),
        "--seed",
        str(a.seed),
        *job["flags"],
    ]
    log = a.log_dir / f"{job['backbone']}-{job['strategy']}.log"
    print(f"  {job['backbone']:>22} {job['strategy']:<8} ...", end="", flush=True)
    res = run_engine(cli, log, a.timeout, echo=a.verbose)
    row.update(res)
    if res.get("error"):
        print(f" FAILED after {res['wall_seconds']:.0f} s: {res['error']}", flush=True)
    else:
        print(
            f" acc {res['test_accuracy']:.3f}  F1 {res['test_macro_f1']:.3f}  "
            f"{res['train_samples_per_second']} samples/s  RSS {res['peak_rss_mb']:.0f} MB  "
            f"{res['wall_seconds']:.0f} s wall",
            flush=True,
        )
    if res.get("run_dir") and not a.keep:
        shutil.rmtree(res["run_dir"], ignore_errors=True)
    return row


def _f(v, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def strategies_markdown(rows: list[dict]) -> str:
    head = (
        "| backbone | strategy | trainable params | % trainable | peak RSS (MB) | samples/s "
        "| steps | wall (s) | CPU (s) | test accuracy | macro-F1 |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        b, s = r["backbone"], r["strategy"]
        if r.get("unsupported"):
            lines.append(f"| {b} | {s} | not run: {r['unsupported']} | | | | | | | | |")
            continue
        if r.get("error"):
            lines.append(
                f"| {b} | {s} | FAILED: {r['error']} | "
                f"| {_f(r.get('peak_rss_mb'), '.0f')} "
                f"| | | {_f(r.get('wall_seconds'), '.0f')} "
                f"| {_f(r.get('cpu_seconds'), '.0f')} | | |"
            )
            continue
        sps = _f(r.get("train_samples_per_second"), ".1f") + (" (pairs)" if s == "setfit" else "")
        lines.append(
            f"| {b} | {s} | {r['trainable']:,} | {_f(r.get('percent'), '.3f')} "
            f"| {_f(r.get('peak_rss_mb'), '.0f')} | {sps} | {r.get('global_step', '-')} "
            f"| {_f(r.get('wall_seconds'), '.0f')} | {_f(r.get('cpu_seconds'), '.0f')} "
            f"| {_f(r.get('test_accuracy'), '.3f')} "
            f"| {_f(r.get('test_macro_f1'), '.3f')} |"
        )
    return "\n".join(lines)


def rss_target_line(rows: list[dict]) -> tuple[str, float | None]:
    def rss(s):
        for r in rows:
            if (
                r["backbone"] == SMOLLM2
                and r["strategy"] == s
                and not r.get("error")
                and not r.get("unsupported")
            ):
                return r.get("peak_rss_mb")
        return None

    lora, full = rss("lora"), rss("full")
    if lora and full:
        ratio = lora / full
        return (
            f"lora on SmolLM2 peak RSS / full on SmolLM2 peak RSS = {ratio:.2f} "
            f"({lora:.0f} MB / {full:.0f} MB) (target <= {RSS_TARGET}): "
            f"{'met' if ratio <= RSS_TARGET else 'NOT met'}"
        ), ratio
    return (
        f"lora on SmolLM2 peak RSS / full on SmolLM2 peak RSS = n/a (not measured) "
        f"(target <= {RSS_TARGET})"
    ), None


# ---------------------------------------------------------------------------------------------
# table 2: few-shot


class FrozenEmbedder:
    """Mean-pooled, L2-normalised MiniLM sentence embeddings (the sentence-transformers recipe),
    computed in this process with transformers' AutoModel; cached per text."""

    def __init__(self, max_length: int = 128):
        import torch
        from transformers import AutoModel, AutoTokenizer

        from engine.backbones import resolve_backbone

        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        path = resolve_backbone(MINILM)
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.max_length = max_length
        self.cache: dict[str, object] = {}

    def __call__(self, texts: list[str]):
        import numpy as np

        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        torch = self.torch
        with torch.inference_mode():
            for i in range(0, len(todo), 64):
                batch = todo[i : i + 64]
                enc = self.tok(
                    batch,
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                emb = torch.nn.functional.normalize(emb, dim=-1)
                for t, e in zip(batch, emb.numpy()):
                    self.cache[t] = e
        return np.stack([self.cache[t] for t in texts])


def frozen_lr(embed: FrozenEmbedder, train, test, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    x_tr = embed(train["text"].astype(str).tolist())
    x_te = embed(test["text"].astype(str).tolist())
    y_tr = train["label"].astype(str).tolist()
    y_te = test["label"].astype(str).tolist()
    clf = LogisticRegression(max_iter=1000, random_state=seed).fit(x_tr, y_tr)
    pred = clf.predict(x_te)
    return {
        "test_accuracy": float(accuracy_score(y_te, pred)),
        "test_macro_f1": float(f1_score(y_te, pred, average="macro", zero_division=0)),
        "train_rows": len(train),
    }


def engine_train_rows(few_csv: Path, test_csv: Path, validation_fraction: float, seed: int):
    """The rows the engine trains on for this few-shot file (its own split code, same settings)."""
    from engine.config import RunConfig
    from engine.training.pipeline import data_spec

    cfg = RunConfig(
        data=str(few_csv),
        text_column="text",
        label_column="label",
        test_data=str(test_csv),
        validation_fraction=validation_fraction,
        seed=seed,
    )
    return data_spec(cfg).train


def run_fewshot(train, test, test_csv: Path, tmp: Path, a, record, previous=()) -> list[dict]:
    rows: list[dict] = []
    embed = None
    done = {(r["method"], r["k"], r["seed"]): r for r in previous if not r.get("error")}
    for k in a.fewshot_sizes:
        vf = round(a.fewshot_val_per_class / k, 4)
        for seed in a.fewshot_seeds:
            few = fewshot_sample(train, k, seed)
            few_csv = tmp / f"few-{k}-seed{seed}.csv"
            few.to_csv(few_csv, index=False)
            for m in a.fewshot_methods:
                if (m, k, seed) in done:
                    rows.append(done[(m, k, seed)])
                    print(
                        f"  few-shot {m:<7} k={k:<3} seed {seed}: kept from the resumed file",
                        flush=True,
                    )
                    continue
                flags = ["--validation-fraction", str(vf)]
                if m != "setfit":
                    flags += [
                        "--epochs",
                        str(a.fewshot_epochs),
                        "--batch-size",
                        str(a.fewshot_batch_size),
                        "--evaluations-per-epoch",
                        "1",
                        "--early-stopping-patience",
                        "0",
                        "--metric-for-best-model",
                        "loss",
                    ]
                cli = [
                    "--data",
                    str(few_csv),
                    "--test-data",
                    str(test_csv),
                    "--text-column",
                    "text",
                    "--label-column",
                    "label",
                    "--strategy",
                    m,
                    "--backbone",
                    MINILM,
                    "--output-dir",
                    str(tmp / "runs"),
                    "--seed",
                    str(seed),
                    *flags,
                ]
                log = a.log_dir / f"fewshot-{m}-{k}-seed{seed}.log"
                print(f"  few-shot {m:<7} k={k:<3} seed {seed} ...", end="", flush=True)
                res = run_engine(cli, log, a.timeout, echo=a.verbose)
                row = {"method": m, "k": k, "seed": seed, "flags": flags, **res}
                if res.get("error"):
                    print(f" FAILED: {res['error']}", flush=True)
                else:
                    print(
                        f" acc {res['test_accuracy']:.3f}  F1 {res['test_macro_f1']:.3f}  "
                        f"(trained on {res.get('train_rows')} rows, "
                        f"{res.get('validation_rows')} validation; {res['wall_seconds']:.0f} s)",
                        flush=True,
                    )
                if res.get("run_dir") and not a.keep:
                    shutil.rmtree(res["run_dir"], ignore_errors=True)
                rows.append(row)
                record(rows)
            lr_names = ("frozen-LR", "frozen-LR (all rows)")
            if a.fewshot_lr and all((n, k, seed) in done for n in lr_names):
                rows += [done[(n, k, seed)] for n in lr_names]
            elif a.fewshot_lr:
                if embed is None:
                    print("  loading MiniLM for the frozen-embedding baseline ...", flush=True)
                    embed = FrozenEmbedder()
                same = engine_train_rows(few_csv, test_csv, vf, seed)
                for name, frame in (("frozen-LR", same), ("frozen-LR (all rows)", few)):
                    t0 = time.perf_counter()
                    res = frozen_lr(embed, frame, test, seed)
                    res["wall_seconds"] = round(time.perf_counter() - t0, 2)
                    rows.append({"method": name, "k": k, "seed": seed, **res})
                    print(
                        f"  few-shot {name:<20} k={k:<3} seed {seed}: acc "
                        f"{res['test_accuracy']:.3f}  F1 {res['test_macro_f1']:.3f} "
                        f"({res['train_rows']} rows)",
                        flush=True,
                    )
                record(rows)
    return rows


def _agg(rows: list[dict], method: str, k: int, key: str):
    vals = [
        r[key]
        for r in rows
        if r["method"] == method and r["k"] == k and not r.get("error") and r.get(key) is not None
    ]
    if not vals:
        return None, None, 0
    mean = statistics.fmean(vals)
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return mean, std, len(vals)


def fewshot_markdown(rows: list[dict], methods: list[str], sizes: list[int]) -> str:
    lines = [
        "| method | rows/class | train rows used | runs | test accuracy (mean ± std) "
        "| macro-F1 (mean ± std) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in methods:
        for k in sizes:
            sel = [r for r in rows if r["method"] == m and r["k"] == k]
            if not sel:
                continue
            acc, acc_sd, n = _agg(rows, m, k, "test_accuracy")
            f1, f1_sd, _ = _agg(rows, m, k, "test_macro_f1")
            used = sorted({r.get("train_rows") for r in sel if r.get("train_rows") is not None})
            failed = [r for r in sel if r.get("error")]
            runs = f"{n}/{len(sel)}" + (f" (failed: {failed[0]['error']})" if failed else "")
            lines.append(
                f"| {m} | {k} | {','.join(map(str, used)) or '-'} | {runs} "
                f"| {_f(acc, '.3f')} ± {_f(acc_sd, '.3f')} "
                f"| {_f(f1, '.3f')} ± {_f(f1_sd, '.3f')} |"
            )
    return "\n".join(lines)


def fewshot_target_lines(rows: list[dict]) -> list[str]:
    out = []
    s_acc, _, _ = _agg(rows, "setfit", 8, "test_accuracy")
    s_f1, _, _ = _agg(rows, "setfit", 8, "test_macro_f1")
    for other, label in (("frozen-LR", "frozen-embedding LR"), ("lora", "lora@8")):
        o_acc, _, _ = _agg(rows, other, 8, "test_accuracy")
        o_f1, _, _ = _agg(rows, other, 8, "test_macro_f1")
        if s_acc is None or o_acc is None:
            out.append(f"setfit@8 beats {label}: n/a (not measured)")
            continue
        yes = s_acc > o_acc
        out.append(
            f"setfit@8 beats {label}: {'yes' if yes else 'no'} "
            f"(accuracy {s_acc:.3f} vs {o_acc:.3f}; macro-F1 {s_f1:.3f} vs {o_f1:.3f})"
        )
    return out


def render(result: dict) -> str:
    """Both markdown tables, the target lines and the failures of a (possibly partial) result."""
    st = result.get("setup", {})
    rows, few = result.get("strategies") or [], result.get("fewshot") or []
    out: list[str] = []
    if not st.get("finished"):
        out.append(
            f"(partial: the run has not finished; {st.get('elapsed_seconds', 0) / 60:.0f} "
            "min so far)\n"
        )
    if rows:
        sm = st.get("smollm2", {})
        out.append(
            f"### Strategies ({st.get('train_rows')} train / {st.get('test_rows')} test "
            f"rows; MiniLM {st.get('minilm_epochs', 0):g} epochs, SetFit capped at "
            f"{st.get('setfit_max_steps') or 'no'} steps; SmolLM2 {sm.get('max_steps')} "
            f"steps x batch {sm.get('batch_size')}, max length {sm.get('max_length')})\n"
        )
        out += [strategies_markdown(rows), "", rss_target_line(rows)[0], ""]
    if few or not st.get("skip_fewshot", True):
        fs = st.get("fewshot", {})
        methods = list(fs.get("methods", FEWSHOT_METHODS)) + (
            ["frozen-LR", "frozen-LR (all rows)"] if st.get("fewshot_lr", True) else []
        )
        out.append(
            f"### Few-shot (MiniLM; seeds {','.join(map(str, fs.get('seeds', [])))}; "
            f"same {st.get('test_rows')} test rows; lora/head {fs.get('lora_head_epochs')} "
            f"epochs x batch {fs.get('lora_head_batch_size')}; "
            f"{fs.get('validation_rows_per_class')} validation rows per class held out)\n"
        )
        out += [fewshot_markdown(few, methods, fs.get("sizes", [])), ""]
        out += fewshot_target_lines(few) + [""]
    for r in [r for r in rows + few if r.get("error")]:
        what = (
            f"{r['backbone']}/{r['strategy']}"
            if "backbone" in r
            else f"few-shot {r['method']} k={r['k']} seed {r['seed']}"
        )
        out.append(f"FAILED {what}: {r['error']} (log: {r.get('log')})")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------


def _loadavg():
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CSV with text,label columns")
    ap.add_argument("--train-rows", type=int, default=None, help="default 600 (--quick: 64)")
    ap.add_argument("--test-rows", type=int, default=None, help="default 300 (--quick: 64)")
    ap.add_argument("--seed", type=int, default=42, help="split and training seed (table 1)")
    ap.add_argument(
        "--epochs", type=float, default=None, help="MiniLM epochs (default 2; --quick: 1)"
    )
    ap.add_argument("--only", default="", help="comma-separated strategies (table 1 only)")
    ap.add_argument("--minilm-strategies", default=",".join(MINILM_STRATEGIES))
    ap.add_argument(
        "--setfit-max-steps",
        type=int,
        default=None,
        help="cap on SetFit's body steps in table 1 (default 150 x batch 16 pairs; "
        "0 = no cap: 2 x 10 iterations x rows pairs per epoch, ~1,350 steps for "
        "540 rows x 2 epochs; --quick: 20)",
    )
    ap.add_argument(
        "--smollm2-strategies",
        default=",".join(SMOLLM2_STRATEGIES),
        help="comma-separated; empty: no SmolLM2 runs",
    )
    ap.add_argument("--smollm2-max-steps", type=int, default=None, help="default 30 (--quick: 3)")
    ap.add_argument("--smollm2-batch-size", type=int, default=8)
    ap.add_argument("--smollm2-max-length", type=int, default=64)
    ap.add_argument(
        "--fewshot-sizes", default=None, help="rows per class (default 8,16; --quick: 8)"
    )
    ap.add_argument("--fewshot-seeds", default=None, help="default 0,1,2 (--quick: 0)")
    ap.add_argument("--fewshot-methods", default=",".join(FEWSHOT_METHODS))
    ap.add_argument(
        "--fewshot-epochs",
        type=float,
        default=None,
        help="epochs for lora/head in the few-shot table (default 20; --quick: 2); "
        "setfit keeps the engine's defaults",
    )
    ap.add_argument("--fewshot-batch-size", type=int, default=8)
    ap.add_argument(
        "--fewshot-val-per-class",
        type=int,
        default=2,
        help="validation rows per class the engine holds out of the few-shot rows",
    )
    ap.add_argument(
        "--no-fewshot-lr",
        dest="fewshot_lr",
        action="store_false",
        help="skip the frozen-embedding logistic-regression baseline",
    )
    ap.add_argument("--skip-strategies", action="store_true")
    ap.add_argument("--skip-fewshot", action="store_true")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke check")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per engine run")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder and run folders")
    ap.add_argument("--verbose", action="store_true", help="echo the engine's progress")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    ap.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="JSON",
        help="continue a cut-short run: keep the runs of this result file that "
        "finished without error, run the rest, write back to the same file",
    )
    ap.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="only print the tables of a saved (possibly partial) result file",
    )
    a = ap.parse_args(argv)
    if a.render:
        print(render(json.loads(a.render.read_text(encoding="utf-8"))))
        return 0

    q = a.quick
    a.train_rows = a.train_rows or (64 if q else 600)
    a.test_rows = a.test_rows or (64 if q else 300)
    a.epochs = a.epochs or (1 if q else 2)
    a.smollm2_max_steps = a.smollm2_max_steps or (3 if q else 30)
    if a.setfit_max_steps is None:
        a.setfit_max_steps = 20 if q else 150
    a.fewshot_epochs = a.fewshot_epochs or (2 if q else 20)
    a.fewshot_sizes = [int(x) for x in _csv(a.fewshot_sizes or ("8" if q else "8,16"))]
    a.fewshot_seeds = [int(x) for x in _csv(a.fewshot_seeds or ("0" if q else "0,1,2"))]
    a.fewshot_methods = _csv(a.fewshot_methods)
    a.minilm_strategies = _csv(a.minilm_strategies)
    a.smollm2_strategies = _csv(a.smollm2_strategies)
    a.only = set(_csv(a.only))

    data = a.data.resolve() if a.data.exists() else a.data
    if not data.exists():
        print(f"skipped: data not found ({data})")
        return 0

    import torch

    from engine.backbones import family_of
    from engine.strategies import support

    started = _dt.datetime.now()
    stamp = f"{started:%Y%m%d-%H%M%S}" + ("-quick" if q else "")
    out_dir = BENCH_DIR / "results"
    out_json = out_dir / f"strategies-{stamp}.json"
    previous: dict = {}
    if a.resume:
        previous = json.loads(a.resume.read_text(encoding="utf-8"))
        ps = previous.get("setup", {})
        if (ps.get("train_rows"), ps.get("test_rows"), ps.get("seed"), ps.get("data")) != (
            a.train_rows,
            a.test_rows,
            a.seed,
            data.name,
        ):
            raise SystemExit(
                f"--resume {a.resume}: it was made with other data / rows / seed "
                f"({ps.get('data')}, {ps.get('train_rows')}/{ps.get('test_rows')} "
                f"rows, seed {ps.get('seed')})"
            )
        out_json = a.resume.resolve()
        out_dir = out_json.parent
        stamp = out_json.stem.removeprefix("strategies-")
    a.log_dir = out_dir / f"strategies-{stamp}-logs"
    tmp = Path(tempfile.mkdtemp(prefix="adaptune-strategies-"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load_before = _loadavg()
    print(
        f"Adaptune strategies bench — {started:%Y-%m-%d %H:%M}, torch {torch.__version__}, "
        f"{cores} core(s), load average {load_before}, data {data.name}: train {a.train_rows} / "
        f"test {a.test_rows} rows, seed {a.seed}{' (quick)' if q else ''}",
        flush=True,
    )
    if load_before is not None and load_before > 0.5 * (cores or 1):
        print(
            f"WARNING: load average {load_before} on {cores} core(s): other processes use the "
            "CPU, so wall times and samples/s are low and noisy (CPU seconds and RSS are not).",
            flush=True,
        )
    train, test, train_csv, test_csv = split_data(data, a.train_rows, a.test_rows, a.seed, tmp)

    result = {
        "setup": {
            "date": started.isoformat(timespec="seconds"),
            "quick": q,
            "data": data.name,
            "train_rows": len(train),
            "test_rows": len(test),
            "seed": a.seed,
            "minilm_epochs": a.epochs,
            "setfit_max_steps": a.setfit_max_steps,
            "smollm2": {
                "max_steps": a.smollm2_max_steps,
                "batch_size": a.smollm2_batch_size,
                "max_length": a.smollm2_max_length,
            },
            "fewshot": {
                "sizes": a.fewshot_sizes,
                "seeds": a.fewshot_seeds,
                "methods": a.fewshot_methods,
                "lora_head_epochs": a.fewshot_epochs,
                "lora_head_batch_size": a.fewshot_batch_size,
                "validation_rows_per_class": a.fewshot_val_per_class,
            },
            "skip_fewshot": a.skip_fewshot,
            "fewshot_lr": a.fewshot_lr,
            "cores": cores,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "load_average_before": load_before,
            "peak_rss": "os.wait4 ru_maxrss of each training subprocess",
        },
        "strategies": [],
        "fewshot": [],
    }

    def save() -> None:
        if a.no_save:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        result["setup"]["load_average_now"] = _loadavg()
        result["setup"]["elapsed_seconds"] = round(time.time() - started.timestamp(), 1)
        out_json.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")

    # Run order (the table keeps its own order): SmolLM2 first (the peak-RSS target; RSS does not
    # depend on the CPU load), then the few-shot table (its targets), then the MiniLM strategies,
    # MiniLM SetFit last (the slowest: 2 x iterations x rows sentence pairs per epoch) - so a run
    # cut short has the targets.
    jobs = [] if a.skip_strategies else strategy_jobs(a)
    order = sorted(
        range(len(jobs)),
        key=lambda i: (
            0 if jobs[i]["backbone"] == SMOLLM2 else 2 if jobs[i]["strategy"] == "setfit" else 1,
            i,
        ),
    )
    slots: list[dict | None] = [None] * len(jobs)
    model_types = {}
    t_all = time.perf_counter()

    kept = {
        (r["backbone"], r["strategy"]): r
        for r in previous.get("strategies", [])
        if not r.get("error")
    }
    if previous:
        result["setup"]["resumed_from_elapsed_seconds"] = previous.get("setup", {}).get(
            "elapsed_seconds"
        )
        for i, job in enumerate(jobs):  # in the file from the start, whatever happens next
            slots[i] = kept.get((job["backbone"], job["strategy"]))
        result["strategies"] = [s for s in slots if s is not None]
        result["fewshot"] = [r for r in previous.get("fewshot", []) if not r.get("error")]

    def run_job(i: int) -> None:
        job = jobs[i]
        b = job["backbone"]
        if (b, job["strategy"]) in kept:
            slots[i] = kept[(b, job["strategy"])]
            print(f"  {b:>22} {job['strategy']:<8} kept from the resumed file", flush=True)
            result["strategies"] = [s for s in slots if s is not None]
            return
        if b not in model_types:
            model_types[b] = _model_type(b)
        reason = support(job["strategy"], family_of(b), model_types[b], "auto")
        slots[i] = run_strategy(job, train_csv, test_csv, tmp, a, reason)
        result["strategies"] = [s for s in slots if s is not None]
        save()

    def fewshot() -> None:
        print("Table 2: few-shot", flush=True)
        kept_few = [r for r in previous.get("fewshot", []) if not r.get("error")]

        def record(rows: list[dict]) -> None:  # resumed rows not reached yet stay in the file
            keys = {(r["method"], r["k"], r["seed"]) for r in rows}
            result["fewshot"] = rows + [
                r for r in kept_few if (r["method"], r["k"], r["seed"]) not in keys
            ]
            save()

        result["fewshot"] = run_fewshot(train, test, test_csv, tmp, a, record, kept_few)

    fewshot_done = a.skip_fewshot
    if jobs:
        print("Table 1: strategies", flush=True)
    for i in order:
        if jobs[i]["backbone"] == MINILM and not fewshot_done:
            fewshot()
            fewshot_done = True
            print("Table 1 (continued): MiniLM", flush=True)
        run_job(i)
    if not fewshot_done:
        fewshot()

    elapsed = time.perf_counter() - t_all
    rows = [s for s in slots if s is not None]
    rss_line, ratio = rss_target_line(rows)
    few_lines = fewshot_target_lines(result["fewshot"]) if not a.skip_fewshot else []
    result["targets"] = {"rss_ratio": ratio, "rss_line": rss_line, "fewshot_lines": few_lines}
    result["setup"]["finished"] = True
    result["setup"]["total_seconds"] = round(elapsed, 1)
    save()

    print()
    print(render(result))
    print(f"total time {elapsed / 60:.1f} min; load average now {_loadavg()}")
    if not a.no_save:
        print(f"written: {out_json.relative_to(REPO)}")
    if a.keep:
        print(f"kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
