"""UI latency: how long a click takes to show its answer, idle vs while a training job runs.

    .venv/bin/python bench/bench_ui_latency.py            # ~4 min on 2 CPU cores
    .venv/bin/python bench/bench_ui_latency.py --clicks 30
    make bench-ui-latency

Starts the studio (`python app.py`, a fresh runs folder) and drives it in headless Chromium
(/usr/bin/chromium through Playwright). The measured interaction is a real one with server work:
in the Data tab, "Use this sample" on one of two bundled sample tables, alternating, timed from
the click until the data summary names the new file (the table is read, checked and summarised
on the server, the preview and label chart re-rendered). --clicks clicks idle, then a training
job is started from the Train tab (MiniLM, full fine-tuning, --epochs epochs: both CPU cores busy)
and the same clicks are timed while it trains; then the job is stopped. Prints p50 / p95 / max
for each phase and the ratios; writes bench/results/ui_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CHROMIUM = os.environ.get("ADAPTUNE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SAMPLES = ("reviews_sentiment.csv", "sms_spam_sample.csv")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick(page, elem_id: str, name) -> None:
    page.locator(f"#{elem_id} input").click()
    option = (
        page.get_by_role("option", name=name, exact=True)
        if isinstance(name, str)
        else page.get_by_role("option", name=name)
    ).first
    option.wait_for(state="visible", timeout=30_000)
    option.click()


def click_sample(page, name: str, expect) -> float:
    pick(page, "data-sample", name)
    start = time.perf_counter()
    page.locator("#data-use-sample").click()
    expect(page.locator("#data-summary")).to_contain_text(name, timeout=120_000)
    return time.perf_counter() - start


def phase(page, clicks: int, expect) -> list[float]:
    out = []
    for i in range(clicks):
        out.append(click_sample(page, SAMPLES[i % 2], expect))
    return out


def stats(values: list[float]) -> dict:
    q = statistics.quantiles(values, n=20) if len(values) > 1 else values * 19
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(q[18] * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clicks", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    if not os.path.exists(CHROMIUM):
        print(f"skipped: {CHROMIUM} not found")
        return 0
    from playwright.sync_api import expect, sync_playwright

    runs = Path(tempfile.mkdtemp(prefix="adaptune-ui-latency-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = dict(
        os.environ,
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    server = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--runs-dir", str(runs)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.locator("#data-sample").wait_for(timeout=60_000)
            click_sample(page, SAMPLES[0], expect)  # warm-up (first load of the libraries)
            click_sample(page, SAMPLES[1], expect)
            idle = phase(page, args.clicks, expect)
            print(f"idle:     {stats(idle)}", flush=True)

            # a training job on both cores: the reviews sample, MiniLM, full fine-tuning
            click_sample(page, SAMPLES[0], expect)
            page.locator("#tab-train-button").click()
            pick(page, "train-strategy", re.compile(r"^Full fine-tuning"))
            box = page.locator("#cfg-epochs input")  # long enough to outlast the clicks
            box.fill(str(args.epochs))
            box.press("Tab")
            page.locator("#train-start").click()
            expect(page.locator("#train-progress")).to_contain_text("Step", timeout=180_000)
            page.locator("#tab-data-button").click()
            busy = phase(page, args.clicks, expect)
            print(f"training: {stats(busy)}", flush=True)
            page.locator("#tab-train-button").click()
            page.locator("#train-stop").click()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    a, b = stats(idle), stats(busy)
    ratios = {k: round(b[k] / max(a[k], 1e-9), 2) for k in ("p50_ms", "p95_ms", "max_ms")}
    print(f"\n{'phase':10} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, s in (("idle", a), ("training", b)):
        print(f"{name:10} {s['p50_ms']:8.0f} {s['p95_ms']:8.0f} {s['max_ms']:8.0f}")
    print("training / idle: " + ", ".join(f"{k} x{v}" for k, v in ratios.items()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ui_latency.json").write_text(
        json.dumps(
            {
                "idle": a,
                "training": b,
                "ratios": ratios,
                "clicks": args.clicks,
                "interaction": "Data tab: use a bundled sample (alternating two), click -> summary",
                "time": time.strftime("%Y-%m-%d %H:%M"),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
