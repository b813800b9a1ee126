"""Serving benchmark: the run's PyTorch model vs its int8 artefact, offline and over HTTP.

    .venv/bin/python bench/bench_serve.py                 # ~6 min on 2 CPU cores
    .venv/bin/python bench/bench_serve.py --clients 20 --requests 400 --rounds 2
    make bench-serve

1. Trains MiniLM (full fine-tuning, --steps steps) on ../shared/data/uci_sentiment_sentences.csv
   (skipped when absent) with `python -m engine train`, or reuses --run DIR.
2. `python -m engine export --format int8` (and onnx, for reference): accuracy / macro-F1 on the
   run's test split, CPU latency per example batched (32) and one text at a time, size — the
   original model measured in the same call, side by side.
3. Load over loopback: `python -m engine serve` for each artefact in turn (pytorch, int8,
   repeated --rounds times in alternating order), and a second process (this script with
   --client) sending --requests single-text POST /predict requests from --clients concurrent
   keep-alive connections. Prints throughput, p50/p95/p99 latency and the error count per side,
   and the ratios. Writes bench/results/serve.json.

Targets (issue 8): int8 >= 1.5x faster per example on CPU with <= 1 point accuracy loss; zero
errors under the load.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
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
        [sys.executable, "-m", "engine", *args], cwd=REPO, env=ENV, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"engine {args[0]} failed: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the load generator (runs as its own process) ---------------------------------------------------
def client_main(port: int, requests: int, clients: int, texts_file: str) -> None:
    texts = json.loads(Path(texts_file).read_text())
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = json.dumps({"text": texts[i % len(texts)]})
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/predict", body, {"content-type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                ok = resp.status == 200 and json.loads(data)["predictions"]
            except Exception as exc:  # noqa: BLE001 - counted, the load goes on
                ok = False
                data = repr(exc).encode()
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            took = time.perf_counter() - t0
            with lock:
                if ok:
                    latencies.append(took)
                else:
                    errors.append(data[:200].decode(errors="replace"))
        conn.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    print(
        json.dumps(
            {
                "requests": requests,
                "clients": clients,
                "ok": len(latencies),
                "errors": len(errors),
                "error_samples": errors[:3],
                "seconds": round(wall, 2),
                "throughput_rps": round(len(latencies) / wall, 2),
                "p50_ms": round(q[49] * 1000, 1),
                "p95_ms": round(q[94] * 1000, 1),
                "p99_ms": round(q[98] * 1000, 1),
            }
        )
    )


def load_test(run: str, artefact: str, args, texts_file: Path) -> dict:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "serve",
            "--run",
            run,
            "--artefact",
            artefact,
            "--port",
            str(port),
        ],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.3)
            if server.poll() is not None:
                raise SystemExit(f"serve {artefact} failed: {server.stderr.read()[-800:]}")
        warm = subprocess.run(
            [
                sys.executable,
                __file__,
                "--client",
                str(port),
                "--requests",
                "40",
                "--clients",
                "4",
                "--texts",
                str(texts_file),
            ],
            capture_output=True,
            text=True,
            env=ENV,
        )
        assert warm.returncode == 0, warm.stderr
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--client",
                str(port),
                "--requests",
                str(args.requests),
                "--clients",
                str(args.clients),
                "--texts",
                str(texts_file),
            ],
            capture_output=True,
            text=True,
            env=ENV,
        )
        if out.returncode != 0:
            raise SystemExit(f"load generator failed: {out.stderr[-800:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--texts", default="", help=argparse.SUPPRESS)
    ap.add_argument("--data", default=str(SHARED / "uci_sentiment_sentences.csv"))
    ap.add_argument("--run", default="", help="Reuse this finished run instead of training one.")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--output-dir", default=str(REPO / "runs-bench"))
    args = ap.parse_args()
    if args.client:
        client_main(args.client, args.requests, args.clients, args.texts)
        return 0
    if not args.run and not Path(args.data).exists():
        print(f"skipped: {args.data} is not on this machine")
        return 0
    run = args.run
    if not run:
        print(
            f"training MiniLM (full, {args.steps} steps) on {Path(args.data).name} ...", flush=True
        )
        trained = engine(
            "train",
            "--data",
            args.data,
            "--backbone",
            "minilm-l6",
            "--strategy",
            "full",
            "--max-steps",
            str(args.steps),
            "--max-length",
            "64",
            "--output-dir",
            args.output_dir,
            "--run-name",
            "bench-serve",
            "--quiet",
        )
        run = trained["run_dir"]
    print(f"run: {run}", flush=True)

    offline = {}
    for fmt in ("int8", "onnx"):
        offline[fmt] = engine("export", "--run", run, "--format", fmt)
    orig = offline["int8"]["original"]
    print("\nOffline, the run's test split (one process, side by side):")
    print(
        f"{'model':10} {'accuracy':>9} {'macro-F1':>9} {'ms/ex batched':>14} "
        f"{'ms one text':>12} {'weights MB':>11}"
    )
    print(
        f"{'pytorch':10} {orig['accuracy']:9.4f} {orig['macro_f1']:9.4f} "
        f"{orig['latency_ms_per_example']:14.2f} {orig['latency_ms_single']:12.2f} "
        f"{orig['size_bytes'] / 1e6:11.1f}"
    )
    for fmt, r in offline.items():
        print(
            f"{fmt:10} {r['accuracy']:9.4f} {r['macro_f1']:9.4f} "
            f"{r['latency_ms_per_example']:14.2f} {r['latency_ms_single']:12.2f} "
            f"{r['model_bytes'] / 1e6:11.1f}   speed-up x{r['comparison']['speedup']:.2f}, "
            f"agreement {r['comparison']['agreement']:.3f}"
        )

    import pandas as pd

    texts_file = Path(args.output_dir) / "serve_texts.json"
    table = pd.read_csv(args.data) if Path(args.data).exists() else None
    texts = (
        table.iloc[:, 0].astype(str).tolist()[:500]
        if table is not None
        else ["a short example text"]
    )
    texts_file.write_text(json.dumps(texts))
    load: dict[str, list[dict]] = {"pytorch": [], "int8": []}
    for r in range(args.rounds):
        order = ("pytorch", "int8") if r % 2 == 0 else ("int8", "pytorch")
        for artefact in order:
            result = load_test(run, artefact, args, texts_file)
            load[artefact].append(result)
            print(
                f"round {r + 1} {artefact:8}: {result['throughput_rps']:7.1f} req/s  p50 "
                f"{result['p50_ms']:7.1f} ms  p95 {result['p95_ms']:7.1f}  p99 "
                f"{result['p99_ms']:7.1f}  errors {result['errors']}",
                flush=True,
            )

    def med(side: str, key: str) -> float:
        return statistics.median(x[key] for x in load[side])

    print(
        f"\nHTTP load: {args.clients} concurrent clients x {args.requests} requests, one text "
        f"each, median of {args.rounds} rounds"
    )
    print(f"{'side':8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for side in load:
        print(
            f"{side:8} {med(side, 'throughput_rps'):8.1f} {med(side, 'p50_ms'):8.1f} "
            f"{med(side, 'p95_ms'):8.1f} {med(side, 'p99_ms'):8.1f} "
            f"{sum(x['errors'] for x in load[side]):7d}"
        )
    int8 = offline["int8"]
    ratios = {
        "offline_speedup_batched": int8["comparison"]["speedup"],
        "offline_speedup_single": round(
            orig["latency_ms_single"] / max(1e-9, int8["latency_ms_single"]), 3
        ),
        "http_throughput_ratio": round(
            med("int8", "throughput_rps") / max(1e-9, med("pytorch", "throughput_rps")), 3
        ),
        "http_p50_ratio": round(med("pytorch", "p50_ms") / max(1e-9, med("int8", "p50_ms")), 3),
        "accuracy_change_points": round(100 * int8["comparison"]["accuracy_change"], 2),
        "errors": sum(x["errors"] for side in load for x in load[side]),
    }
    print("\nint8 vs pytorch: " + ", ".join(f"{k} {v}" for k, v in ratios.items()))
    ok = (
        ratios["offline_speedup_batched"] >= 1.5
        and ratios["accuracy_change_points"] >= -1
        and ratios["errors"] == 0
    )
    print(
        "targets (>= 1.5x faster per example, <= 1 point accuracy loss, zero errors): "
        + ("met" if ok else "NOT met")
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve.json").write_text(
        json.dumps(
            {
                "run": run,
                "offline": offline,
                "load": load,
                "ratios": ratios,
                "clients": args.clients,
                "requests": args.requests,
                "rounds": args.rounds,
                "time": time.strftime("%Y-%m-%d %H:%M"),
            },
            indent=2,
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
