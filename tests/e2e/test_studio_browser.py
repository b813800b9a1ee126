"""End to end in headless Chromium: the whole studio, as a user drives it.

Data (bundled sample) -> Train (MiniLM-L6 + Auto strategy, 1 epoch, live loss curve) -> Evaluate
(metrics, confusion matrix, a prediction) -> Runs -> the Chinese interface -> a bad upload,
all on one page against a real ``app.py`` subprocess (see conftest.py). The steps are ordered
test functions sharing that page; a step whose prerequisite failed is skipped.

Full-page screenshots land in test-artifacts/e2e/ (data, train-running, train-done, evaluate,
runs, train-zh, data-bad-upload). The page must talk to nothing but the local server.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from tests.e2e.conftest import CHROMIUM

if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"{CHROMIUM} not found; the browser tests need Chromium "
        "(apt-get install chromium fonts-noto-cjk)",
        allow_module_level=True,
    )
pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright")

from playwright.sync_api import Page, expect

from engine.config import RunConfig
from ui.i18n import TEXT, t

pytestmark = pytest.mark.timeout(600)

SAMPLE = "reviews_sentiment.csv"
RUN_NAME = "e2e-studio"  # not a prefix of the other browser tests' run names
TRAIN_TIMEOUT_MS = 150_000
UI_TIMEOUT_MS = 30_000
POSITIVE_TEXT = "What a wonderful, heart-warming film. I loved it!"
CJK = re.compile(r"[\u4e00-\u9fff]")

# first parts of the i18n keys and config field names: a visible text made of those is a
# translation key the page failed to translate (the translator falls back to the key itself)
KEY_PREFIXES = sorted({k.split(".")[0] for k in TEXT} | set(RunConfig.__dataclass_fields__))
FILE_SUFFIX = re.compile(r"\.(csv|tsv|txt|jsonl?|parquet|xlsx|png|py)$")

# steps that passed, so a later step can skip (not fail confusingly) when its input is missing
DONE: set[str] = set()
# raw translation keys seen on screen, per screenshot
RAW_KEYS: dict[str, list[str]] = {}


def needs(*steps: str) -> None:
    missing = [s for s in steps if s not in DONE]
    if missing:
        pytest.skip(f"needs the earlier step(s) {', '.join(missing)}")


# ---- helpers ------------------------------------------------------------------------------


def set_number(page: Page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input")
    box.fill(value)
    box.press("Tab")
    expect(box).to_have_value(value)


def open_tab(page: Page, key: str) -> None:
    """Click a tab by its elem_id (gradio mounts a tab's content on its first click)."""
    button = page.locator(f"#tab-{key}-button")
    button.click()
    expect(button).to_have_attribute("aria-selected", "true")
    expect(page.locator(f"#tab-{key}")).to_be_visible()


def pick_option(page: Page, elem_id: str, name: str | None = None) -> str:
    """Open a gradio dropdown and click the option called ``name`` (or the first one)."""
    page.locator(f"#{elem_id} input").click()
    listbox = page.locator(f"#{elem_id} [role=listbox]")
    options = (
        page.get_by_role("option", name=name, exact=True) if name else listbox.get_by_role("option")
    )
    option = options.first
    expect(option).to_be_visible()
    label = option.get_attribute("aria-label") or option.inner_text()
    option.click()
    return label


def plot_info(page: Page, elem_id: str) -> dict | None:
    """The plotly figure that gr.Plot rendered inside ``#elem_id`` (None: not rendered yet)."""
    return page.evaluate(
        """(id) => {
            const root = document.getElementById(id);
            const el = root && root.querySelector('.js-plotly-plot');
            if (!el || !el.data) return null;
            return {
                traces: el.data.map(d => ({type: d.type || 'scatter', name: d.name || '',
                                           n: d.x ? d.x.length : (d.z ? d.z.length : 0)})),
                svg: root.querySelectorAll('.main-svg').length,
            };
        }""",
        elem_id,
    )


def loss_points_and_status(page: Page) -> tuple[int, str]:
    """(points of the training-loss trace, status text) read in one go."""
    return page.evaluate(
        """() => {
            const el = document.querySelector('#train-chart .js-plotly-plot');
            const n = el && el.data && el.data.length ? (el.data[0].x || []).length : 0;
            const status = document.getElementById('train-status');
            return [n, status ? status.innerText : ''];
        }"""
    )


def raw_keys(page: Page) -> list[str]:
    """Visible texts that look like untranslated i18n keys ("strategy.foo.name", "lora_r")."""
    return page.evaluate(
        """(prefixes) => {
            const dotted = /^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)+$/;
            const snake = /^[a-z][a-z0-9]*(_[a-z0-9]+)+$/;
            const out = new Set();
            const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const text = node.textContent.trim();
                const el = node.parentElement;
                // .sr-only: gradio's own status live region says "common.complete" (upstream)
                if (!text || !el) continue;
                if (el.closest('script, style, textarea, table, .sr-only')) continue;
                if (el.checkVisibility && !el.checkVisibility()) continue;
                const label = el.closest('[data-testid=block-info], [data-testid=block-label], '
                                         + 'label, button, .info-text');
                if (dotted.test(text) && prefixes.includes(text.split('.')[0])) out.add(text);
                else if (label && snake.test(text) && prefixes.includes(text)) out.add(text);
            }
            return [...out];
        }""",
        KEY_PREFIXES,
    )


def shot(page: Page, artifacts_dir, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=True)
    keys = [k for k in raw_keys(page) if not FILE_SUFFIX.search(k)]
    if keys:
        RAW_KEYS[name] = keys


def expect_no_error_toast(page: Page) -> None:
    expect(page.locator(".toast-body")).to_have_count(0)


# ---- the steps ----------------------------------------------------------------------------


def test_1_data_tab_sample(page: Page, artifacts_dir):
    expect(page.locator("#data-sample")).to_be_visible(timeout=60_000)
    pick_option(page, "data-sample", SAMPLE)
    expect(page.locator("#data-sample input")).to_have_value(SAMPLE)
    page.locator("#data-use-sample").click()

    expect(page.locator("#data-summary")).to_contain_text("600 rows", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#data-summary")).to_contain_text(SAMPLE)
    expect(page.locator("#text-column input")).to_have_value("text")
    expect(page.locator("#label-column input")).to_have_value("label")
    messages = page.locator("#data-messages")
    expect(messages).to_contain_text(t("data.ready", "en"))
    expect(messages.locator(".msg-error")).to_have_count(0)
    expect(page.locator("#data-label-chart .main-svg").first).to_be_visible()
    chart = plot_info(page, "data-label-chart")
    assert chart and chart["traces"] and chart["traces"][0]["type"] == "bar", chart
    assert chart["traces"][0]["n"] == 2, chart  # negative, positive
    expect(page.locator("#data-label-chart .bars path").first).to_be_visible()
    expect(page.locator("#data-preview")).to_be_visible()
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "data")
    DONE.add("data")


def test_2_train_tab_live_run(page: Page, artifacts_dir):
    needs("data")
    open_tab(page, "train")
    expect(page.locator("#train-data")).to_contain_text(SAMPLE)
    expect(page.locator("#train-backbone input")).to_have_value(re.compile(r"^minilm-l6\b"))
    expect(page.locator("#train-strategy input")).to_have_value(re.compile(r"^Automatic"))

    epochs = page.locator("#cfg-epochs input")
    epochs.fill("1")
    epochs.press("Tab")
    expect(epochs).to_have_value("1")
    name = page.locator("#cfg-run-name textarea")
    name.fill(RUN_NAME)
    expect(name).to_have_value(RUN_NAME)

    page.locator("#train-start").click()
    expect(page.locator("#train-message")).to_contain_text("started", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#train-message .msg-error")).to_have_count(0)
    status = page.locator("#train-status")
    expect(status).to_contain_text(RUN_NAME, timeout=UI_TIMEOUT_MS)
    expect(page.locator("#train-params")).to_contain_text(
        re.compile(r"of \d+(\.\d+)?M parameters"), timeout=90_000
    )

    # the loss curve must grow while the run is still running
    deadline = time.monotonic() + TRAIN_TIMEOUT_MS / 1000
    first = None
    while time.monotonic() < deadline:
        n, text = loss_points_and_status(page)
        assert "failed" not in text, f"the run failed: {text}"
        assert "completed" not in text, (
            f"the run completed before the loss chart showed a point ({n} points): {text}"
        )
        if n >= 1 and "running" in text:
            first = n
            break
        time.sleep(0.5)
    assert first is not None, "the loss chart never showed a point while the run was running"
    expect(page.locator("#train-progress")).to_contain_text(re.compile(r"Step \d+ / \d+"))
    shot(page, artifacts_dir, "train-running")

    second = first
    while time.monotonic() < deadline:
        time.sleep(1.0)
        second, text = loss_points_and_status(page)
        if second > first:
            assert "running" in text, (
                f"the loss chart only grew once the run had ended ({first} -> {second}): {text}"
            )
            break
        assert "running" in text, (
            f"the run left 'running' while the loss chart still had {second} point(s): {text}"
        )
    assert second > first, f"the loss chart did not gain points while training ({first})"

    expect(status).to_contain_text(t("status.completed", "en"), timeout=TRAIN_TIMEOUT_MS)
    expect(status.locator(".msg-error")).to_have_count(0)
    expect(status).to_contain_text(re.compile(r"Test accuracy \d\.\d{3}"))
    expect(page.locator("#train-progress")).to_contain_text(re.compile(r"Step (\d+) / \1"))
    final, _ = loss_points_and_status(page)
    assert final >= second, (first, second, final)
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "train-done")
    DONE.add("train")


def test_3_evaluate_tab(page: Page, artifacts_dir):
    needs("train")
    open_tab(page, "evaluate")
    run_input = page.locator("#eval-run input")
    try:  # the tab preselects the newest finished run
        expect(run_input).to_have_value(re.compile(RUN_NAME), timeout=10_000)
    except AssertionError:
        pick_option(page, "eval-run")
        expect(run_input).to_have_value(re.compile(RUN_NAME))

    metrics = page.locator("#eval-metrics")
    accuracy_row = metrics.get_by_role("row", name=re.compile(r"^Accuracy [01]\.\d{3}$"))
    expect(accuracy_row).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(page.locator("#eval-note .msg-error")).to_have_count(0)
    expect(page.locator("#eval-confusion .main-svg").first).to_be_visible()
    cm = plot_info(page, "eval-confusion")
    assert cm and cm["traces"] and cm["traces"][0]["type"] == "heatmap", cm

    page.locator("#predict-text textarea").fill(POSITIVE_TEXT)
    page.locator("#predict-button").click()
    label = page.locator("#predict-label")
    expect(label).to_contain_text(re.compile(r"positive|negative"), timeout=UI_TIMEOUT_MS)
    expect(label).to_contain_text(re.compile(r"\d+(\.\d+)?%"))
    text = label.inner_text()
    assert "positive" in text and "negative" in text, text  # both classes with a confidence
    expect(page.locator("#predict-message .msg-error")).to_have_count(0)
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "evaluate")
    DONE.add("evaluate")


def test_4_runs_tab(page: Page, artifacts_dir):
    needs("train")
    open_tab(page, "runs")
    table = page.locator("#runs-table")
    # the grid's row whose first cell (Name) is the run name
    row = table.get_by_role("row").filter(
        has=page.get_by_role("gridcell", name=RUN_NAME, exact=True)
    )
    expect(row).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(row).to_be_visible()
    expect(row.get_by_role("gridcell", name=t("status.completed", "en"), exact=True)).to_have_count(
        1
    )
    expect(row.get_by_role("gridcell", name="minilm-l6", exact=True)).to_have_count(1)
    expect(row.get_by_role("gridcell", name=SAMPLE, exact=True)).to_have_count(1)
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "runs")
    DONE.add("runs")


def test_5_switch_to_chinese(page: Page, artifacts_dir):
    page.locator("#lang-switch").get_by_text("简体中文", exact=True).click()
    expect(page.locator("#lang-switch input[value=zh]")).to_be_checked()
    expect(page.locator("#tab-train-button")).to_have_text(
        t("tab.train", "zh"), timeout=UI_TIMEOUT_MS
    )
    open_tab(page, "train")
    expect(page.locator("#train-start")).to_contain_text(t("train.start", "zh"))
    expect(page.locator("#tab-data-button")).to_have_text(t("tab.data", "zh"))
    for elem in ("#train-backbone", "#cfg-epochs", "#cfg-run-name"):
        expect(page.locator(elem)).to_contain_text(CJK)
    if "train" in DONE:  # the run panel is re-rendered in Chinese too
        expect(page.locator("#train-status")).to_contain_text(t("status.completed", "zh"))
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "train-zh")
    DONE.add("zh")


def test_6_header_only_upload(page: Page, artifacts_dir, tmp_path):
    bad = tmp_path / "header_only.csv"
    bad.write_text("text,label\n", encoding="utf-8")
    open_tab(page, "data")
    page.locator("#data-upload input[type=file]").set_input_files(str(bad))
    messages = page.locator("#data-messages")
    expect(messages).to_contain_text(bad.name, timeout=UI_TIMEOUT_MS)
    expect(messages.locator(".msg-error")).to_have_count(1)
    text = messages.inner_text()
    assert "Traceback" not in text and 'File "' not in text, text
    expect(page.locator("#data-summary")).to_contain_text(bad.name)
    expect(page.locator("#data-preview")).to_be_hidden()
    expect_no_error_toast(page)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    shot(page, artifacts_dir, "data-bad-upload")


def test_7_page_stayed_local(page: Page, page_log):
    assert page_log.requests, "no request was recorded at all"
    assert page_log.external_requests() == [], page_log.external_requests()
    assert page_log.page_errors == [], page_log.page_errors
    print("console errors:", page_log.console_errors)


def test_8_no_untranslated_keys():
    """Every screen showed translated text, never a raw i18n key such as strategy.foo.name."""
    if not DONE:
        pytest.skip("no step ran")
    assert RAW_KEYS == {}, f"raw i18n keys on screen (screenshot: keys): {RAW_KEYS}"
