"""End to end in headless Chromium: domain-adaptive pre-training in the Adapt tab, as a user
drives it.

Data (bundled reviews sample) -> Adapt: "Use the texts of my labelled training set" -> a few
steps (max steps, head warm-up and eval tokens set small; the last two in Advanced) -> Domain
report (verdict, fragmentation, base pseudo-perplexity) -> Start -> live status and chart ->
result "before -> after" -> "Fine-tune from this backbone" puts the adapted backbone ("run:...")
into the Train tab's backbone box -> a reload re-attaches the Adapt tab to the finished run ->
the Chinese interface.

Same real ``app.py`` subprocess and Chromium as test_studio_browser.py (see conftest.py);
screenshots land in test-artifacts/e2e/ (adapt-report, adapt-result, adapt-train-backbone,
adapt-zh).
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

pytestmark = pytest.mark.timeout(600)

SAMPLE = "reviews_sentiment.csv"
RUN_NAME = "e2e-adapt"
REPORT_TIMEOUT_MS = 150_000
RUN_TIMEOUT_MS = 240_000
VERDICTS = re.compile(
    "|".join(re.escape(t(f"adapt.verdict.{v}", "en")) for v in ("close", "moderate", "far"))
)
DONE: set[str] = set()


def needs(*steps: str) -> None:
    missing = [s for s in steps if s not in DONE]
    if missing:
        pytest.skip(f"needs the earlier step(s) {', '.join(missing)}")


def test_1_labelled_texts_as_domain_text(page: Page):
    expect(page.locator("#data-sample")).to_be_visible(timeout=60_000)
    pick_option(page, "data-sample", SAMPLE)
    page.locator("#data-use-sample").click()
    expect(page.locator("#data-summary")).to_contain_text(SAMPLE, timeout=UI_TIMEOUT_MS)
    expect(page.locator("#text-column input")).to_have_value("text")

    open_tab(page, "adapt")
    # nothing chosen yet: Start explains it in the status panel, no run is made
    page.locator("#adapt-start").click()
    status = page.locator("#adapt-status")
    expect(status.locator(".msg-error")).to_contain_text(
        t("adapt.need_data", "en"), timeout=UI_TIMEOUT_MS
    )
    page.locator("#adapt-use-labelled").click()
    data = page.locator("#adapt-data")
    expect(data).to_contain_text(SAMPLE, timeout=UI_TIMEOUT_MS)
    expect(data).to_contain_text("left out")  # only the training rows
    expect(data).to_contain_text(re.compile(r"\d+ documents"))
    expect(data.locator(".msg-error")).to_have_count(0)
    expect(page.locator("#adapt-cfg-text-column input")).to_have_value("text")

    set_number(page, "adapt-cfg-max-steps", "8")
    name = page.locator("#adapt-cfg-run-name textarea")
    name.fill(RUN_NAME)
    expect(name).to_have_value(RUN_NAME)
    page.locator("#adapt-advanced").get_by_role("button").first.click()
    expect(page.locator("#adapt-cfg-head-warmup-steps input")).to_be_visible()
    # the source field followed the button (a dropdown with translated choices)
    expect(page.locator("#adapt-cfg-source input")).to_have_value(
        t("pretrain.source.choice.labelled-train", "en")
    )
    set_number(page, "adapt-cfg-head-warmup-steps", "5")
    set_number(page, "adapt-cfg-eval-tokens", "128")
    expect_no_error_toast(page)
    DONE.add("data")


def test_2_domain_report(page: Page, artifacts_dir):
    needs("data")
    page.locator("#adapt-report-btn").click()
    report = page.locator("#adapt-report")
    expect(report).to_contain_text(VERDICTS, timeout=REPORT_TIMEOUT_MS)
    for text in (
        t("adapt.r.subwords", "en"),
        t("adapt.r.unknown", "en"),
        "Base pseudo-perplexity",
        t("adapt.frag.title", "en"),
        "fitted for 5 steps",
    ):
        expect(report).to_contain_text(text)
    expect(report.locator(".msg-error")).to_have_count(0)
    expect(report.locator("table.adapt-fragments tbody tr").first).to_be_visible()
    expect_no_error_toast(page)
    report.scroll_into_view_if_needed()
    shot(page, artifacts_dir, "adapt-report")
    DONE.add("report")


def test_3_adapt_and_see_before_after(page: Page, artifacts_dir):
    needs("data")
    page.locator("#adapt-start").click()
    status = page.locator("#adapt-status")
    expect(status).to_contain_text(RUN_NAME, timeout=UI_TIMEOUT_MS)
    expect(status.locator(".msg-ok")).to_contain_text("started")
    result = page.locator("#adapt-result")
    expect(result).to_contain_text(
        re.compile(r"pseudo-perplexity: \d+(\.\d+)? → \d+(\.\d+)? \([−+]\d+\.\d%"),
        timeout=RUN_TIMEOUT_MS,
    )
    expect(status).to_contain_text(t("status.completed", "en"))
    expect(status).to_contain_text(re.compile(r"Step \d+ / 8"))  # fewer when it stopped early
    expect(result).to_contain_text(re.compile(r"Trained all 8 steps|Stopped early at step \d+"))
    expect(status.locator(".msg-error")).to_have_count(0)
    expect(result).to_contain_text(VERDICTS)
    chart = plot_info(page, "adapt-chart")
    assert chart and [tr["name"] for tr in chart["traces"]] == [
        t("chart.train_loss"),
        t("chart.held_loss"),
        t("chart.held_ppl"),
    ], chart
    assert chart["traces"][0]["n"] >= 1 and chart["traces"][2]["n"] >= 2, chart
    expect(page.locator("#adapt-use-in-train")).to_be_visible()
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "adapt-result")
    DONE.add("run")


def test_4_fine_tune_from_the_adapted_backbone(page: Page, artifacts_dir):
    needs("run")
    page.locator("#adapt-use-in-train").click()
    expect(page.locator("#tab-train-button")).to_have_attribute(
        "aria-selected", "true", timeout=UI_TIMEOUT_MS
    )
    backbone = page.locator("#train-backbone input")
    expect(backbone).to_have_value(re.compile(r"^run:\S*" + RUN_NAME), timeout=UI_TIMEOUT_MS)
    expect(page.locator("#train-backbone-info")).to_contain_text(
        "Adapted from minilm-l6", timeout=UI_TIMEOUT_MS
    )
    # the list holds it after the bundled backbones
    page.locator("#train-backbone input").click()
    options = page.locator("#train-backbone [role=listbox]").get_by_role("option")
    expect(options.last).to_contain_text("run:")
    expect(options.first).to_contain_text("minilm-l6")
    page.keyboard.press("Escape")
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "adapt-train-backbone")
    DONE.add("use")


def test_5_reload_reattaches_and_runs_tab_lists_it(page: Page):
    needs("run")
    page.reload(wait_until="domcontentloaded")
    expect(page.locator("#data-sample")).to_be_visible(timeout=60_000)
    open_tab(page, "adapt")
    expect(page.locator("#adapt-status")).to_contain_text(RUN_NAME, timeout=UI_TIMEOUT_MS)
    expect(page.locator("#adapt-result")).to_contain_text("→")
    expect(page.locator("#adapt-report")).to_contain_text(VERDICTS)
    # the Train tab is not taken over by the adaptation run
    open_tab(page, "train")
    expect(page.locator("#train-status")).not_to_contain_text(RUN_NAME)
    open_tab(page, "runs")
    row = (
        page.locator("#runs-table")
        .get_by_role("row")
        .filter(has=page.get_by_role("gridcell", name=RUN_NAME, exact=True))
    )
    expect(row).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(row.get_by_role("gridcell", name=t("task.pretrain", "en"), exact=True)).to_have_count(1)
    expect(row).to_contain_text("perplexity")
    expect_no_error_toast(page)


def test_6_chinese(page: Page, artifacts_dir):
    needs("run")
    page.locator("#lang-switch").get_by_text("简体中文", exact=True).click()
    expect(page.locator("#tab-adapt-button")).to_have_text(
        t("tab.adapt", "zh"), timeout=UI_TIMEOUT_MS
    )
    open_tab(page, "adapt")
    expect(page.locator("#adapt-start")).to_contain_text(t("adapt.start", "zh"))
    expect(page.locator("#adapt-cfg-curriculum")).to_contain_text(CJK)
    expect(page.locator("#adapt-result")).to_contain_text(
        t("adapt.kind.pseudo-perplexity", "zh"), timeout=UI_TIMEOUT_MS
    )
    expect(page.locator("#adapt-report")).to_contain_text(t("adapt.frag.title", "zh"))
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "adapt-zh")


def test_7_no_untranslated_keys_and_local_only(page_log):
    if not DONE:
        pytest.skip("no step ran")
    assert not {k: v for k, v in RAW_KEYS.items() if k.startswith("adapt")}, RAW_KEYS
    assert page_log.external_requests() == [], page_log.external_requests()
    assert page_log.page_errors == [], page_log.page_errors
