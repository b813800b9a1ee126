"""End to end in headless Chromium: the Playground tab, as a user drives it.

Data (bundled reviews sample) -> Playground: the data line and the label words prefilled ->
the Sentiment preset -> Classify a sentence with the bundled SmolLM2 (probability chart, the
exact prompt) -> Measure on 8 test rows (accuracy, confusion matrix, a comparison-table row) ->
Generate: streamed text -> the Chinese interface.

Same real ``app.py`` subprocess and Chromium as test_studio_browser.py (see conftest.py);
screenshots land in test-artifacts/e2e/ (play-classify, play-measure, play-generate, play-zh).
"""

from __future__ import annotations

import os
import re

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

from tests.e2e.test_studio_browser import (
    set_number,
    RAW_KEYS,
    UI_TIMEOUT_MS,
    expect_no_error_toast,
    open_tab,
    pick_option,
    plot_info,
    shot,
)
from ui.i18n import t

CJK = re.compile(r"[\u4e00-\u9fff]")

pytestmark = pytest.mark.timeout(300)

SAMPLE = "reviews_sentiment.csv"
POSITIVE = "What a wonderful, heart-warming film. I loved it!"
MODEL_TIMEOUT_MS = 90_000  # the first classification loads SmolLM2
MEASURE_TIMEOUT_MS = 120_000  # 8 rows; slow when the two cores are busy
DONE: set[str] = set()


def needs(*steps: str) -> None:
    missing = [s for s in steps if s not in DONE]
    if missing:
        pytest.skip(f"needs the earlier step(s) {', '.join(missing)}")


def test_1_data_then_the_playground(page: Page):
    expect(page.locator("#data-sample")).to_be_visible(timeout=60_000)
    pick_option(page, "data-sample", SAMPLE)
    page.locator("#data-use-sample").click()
    expect(page.locator("#data-summary")).to_contain_text(SAMPLE, timeout=UI_TIMEOUT_MS)
    expect(page.locator("#label-column input")).to_have_value("label")

    open_tab(page, "playground")
    data = page.locator("#play-data")
    expect(data).to_contain_text(SAMPLE, timeout=UI_TIMEOUT_MS)
    expect(data).to_contain_text("negative, positive")
    expect(page.locator("#play-model input")).to_have_value(re.compile(r"^smollm2-135m-instruct"))
    # the label words follow the data's labels, then the preset
    words = page.locator("#play-verbalizers textarea")
    expect(words).to_have_value("negative: negative\npositive: positive", timeout=UI_TIMEOUT_MS)
    pick_option(page, "play-preset", t("prompt.preset.choice.sentiment", "en"))
    expect(page.locator("#play-template textarea")).to_have_value(
        re.compile(r"^Is the sentiment of this review \{labels\}\?"), timeout=UI_TIMEOUT_MS
    )
    expect(page.locator("#play-generate")).to_be_hidden()
    expect_no_error_toast(page)
    DONE.add("data")


def test_2_classify_with_smollm2(page: Page, artifacts_dir):
    needs("data")
    page.locator("#play-input textarea").fill(POSITIVE)
    page.locator("#play-classify").click()
    label = page.locator("#play-label")
    expect(label).to_contain_text(re.compile(r"positive\s+\d+\.\d%"), timeout=MODEL_TIMEOUT_MS)
    expect(page.locator("#play-message .msg-error")).to_have_count(0)
    chart = plot_info(page, "play-probs")
    assert chart and [tr["type"] for tr in chart["traces"]] == ["bar"], chart
    assert chart["traces"][0]["n"] == 2 and chart["svg"] >= 1, chart
    # the exact prompt, in the collapsed box
    page.locator("#play-prompt-box").get_by_role("button").first.click()
    prompt = page.locator("#play-prompt")
    expect(prompt).to_contain_text("Review: " + POSITIVE, timeout=UI_TIMEOUT_MS)
    expect(prompt).to_contain_text("Is the sentiment of this review negative or positive?")
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "play-classify")
    DONE.add("classify")


def test_3_measure_on_eight_rows(page: Page, artifacts_dir):
    needs("data")
    set_number(page, "play-limit", "8")
    expect(page.locator("#play-data")).to_contain_text("first 8 of its", timeout=UI_TIMEOUT_MS)
    page.locator("#play-measure").click()
    result = page.locator("#play-measure-result")
    expect(result).to_contain_text(t("play.m.accuracy", "en"), timeout=MEASURE_TIMEOUT_MS)
    expect(result).to_contain_text(re.compile(r"Accuracy\s*[01]\.\d{3}"))
    expect(result).to_contain_text(re.compile(r"Rows scored\s*8"))
    expect(page.locator("#play-measure-status")).to_contain_text("Done: 8 rows")
    table = page.locator("#play-compare-table")
    row = table.get_by_role("row").filter(
        has=page.get_by_role("gridcell", name=t("play.kind.prompt", "en"), exact=True)
    )
    expect(row).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(row).to_contain_text("smollm2-135m-instruct, zero-shot")
    chart = plot_info(page, "play-confusion")
    assert chart and chart["traces"][0]["type"] == "heatmap", chart
    expect_no_error_toast(page)
    result.scroll_into_view_if_needed()
    shot(page, artifacts_dir, "play-measure")
    DONE.add("measure")


def test_4_generate_streams(page: Page, artifacts_dir):
    needs("data")
    page.locator("#play-mode").get_by_text(t("play.mode.generate", "en"), exact=True).click()
    expect(page.locator("#play-generate")).to_be_visible()
    expect(page.locator("#play-classify")).to_be_hidden()
    expect(page.locator("#play-gen-template textarea")).to_have_value("{text}")
    page.locator("#play-input textarea").fill("Write a short poem about the sea.")
    set_number(page, "play-max-new-tokens", "48")
    # record every value the output box shows while the tokens arrive
    page.evaluate("""() => {
        window.__seen = [];
        window.__watch = setInterval(() => {
            const box = document.querySelector('#play-output textarea');
            const v = box ? box.value : '';
            if (v && window.__seen[window.__seen.length - 1] !== v) window.__seen.push(v);
        }, 15);
    }""")
    page.locator("#play-generate").click()
    expect(page.locator("#play-gen-message")).to_contain_text("Done in", timeout=MODEL_TIMEOUT_MS)
    seen = page.evaluate("() => { clearInterval(window.__watch); return window.__seen; }")
    final = page.locator("#play-output textarea").input_value()
    assert len(final.split()) >= 5, final
    assert len(seen) >= 2 and all(b.startswith(a.rstrip()) for a, b in zip(seen, seen[1:])), seen
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "play-generate")
    DONE.add("generate")


def test_5_chinese(page: Page, artifacts_dir):
    needs("data")
    page.locator("#lang-switch").get_by_text("简体中文", exact=True).click()
    expect(page.locator("#tab-playground-button")).to_have_text(
        t("tab.playground", "zh"), timeout=UI_TIMEOUT_MS
    )
    expect(page.locator("#play-generate")).to_contain_text(t("play.generate", "zh"))
    # back to Classify: its widgets, the last prediction and measurement in Chinese
    page.locator("#play-mode").get_by_text(t("play.mode.classify", "zh"), exact=True).click()
    expect(page.locator("#play-measure")).to_contain_text(t("play.measure", "zh"))
    expect(page.locator("#play-classify")).to_contain_text(t("play.classify", "zh"))
    expect(page.locator("#play-verbalizers")).to_contain_text(t("prompt.verbalizers", "zh"))
    if "classify" in DONE:
        expect(page.locator("#play-label")).to_contain_text(
            t("play.predicted", "zh"), timeout=UI_TIMEOUT_MS
        )
    expect(page.locator("#play-data")).to_contain_text(CJK)
    if "measure" in DONE:
        expect(page.locator("#play-compare-table")).to_contain_text(
            t("play.kind.prompt", "zh"), timeout=UI_TIMEOUT_MS
        )
        expect(page.locator("#play-measure-result")).to_contain_text(
            t("play.m.accuracy", "zh"), timeout=UI_TIMEOUT_MS
        )
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "play-zh")


def test_6_no_untranslated_keys_and_local_only(page_log):
    if not DONE:
        pytest.skip("no step ran")
    assert not {k: v for k, v in RAW_KEYS.items() if k.startswith("play")}, RAW_KEYS
    assert page_log.external_requests() == [], page_log.external_requests()
    assert page_log.page_errors == [], page_log.page_errors
