"""End to end in headless Chromium: the AutoML tab, as a user drives it.

Data (bundled reviews sample, at most 200 rows) -> Train (MiniLM-L6, head strategy, 5 steps
that the default space keeps fixed: a trial takes seconds) -> AutoML: the base line and the
space suggested from the Auto plan, trial 0 = the plan -> a 2-trial search: the status, two
trials in the table, the best value, the optimization history and the trial curves -> the best
run opened in Evaluate -> the Chinese interface -> a page reload finds the search again.

Same real ``app.py`` subprocess and Chromium as test_studio_browser.py (see conftest.py);
screenshots land in test-artifacts/e2e/ (automl-space, automl-done, automl-zh).
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
SEARCH_TIMEOUT_MS = 150_000  # two trials of MiniLM-L6, 5 steps each, on two busy cores
DONE: set[str] = set()


def needs(*steps: str) -> None:
    missing = [s for s in steps if s not in DONE]
    if missing:
        pytest.skip(f"needs the earlier step(s) {', '.join(missing)}")


def open_accordion(page: Page, accordion_id: str, inner_id: str) -> None:
    if not page.locator(f"#{inner_id} input").is_visible():
        page.locator(f"#{accordion_id}").get_by_role("button").first.click()
    expect(page.locator(f"#{inner_id} input")).to_be_visible()


def test_1_data_and_a_fast_train_setup(page: Page):
    expect(page.locator("#data-sample")).to_be_visible(timeout=60_000)
    pick_option(page, "data-sample", SAMPLE)
    page.locator("#data-use-sample").click()
    expect(page.locator("#data-summary")).to_contain_text(SAMPLE, timeout=UI_TIMEOUT_MS)
    expect(page.locator("#label-column input")).to_have_value("label")
    open_accordion(page, "data-split", "cfg-max-rows")
    set_number(page, "cfg-max-rows", "200")

    open_tab(page, "train")
    pick_option(page, "train-strategy", t("strategy.head.name", "en"))
    expect(page.locator("#train-strategy input")).to_have_value(t("strategy.head.name", "en"))
    open_accordion(page, "train-advanced", "cfg-max-steps")
    set_number(page, "cfg-max-steps", "5")
    set_number(page, "cfg-max-length", "64")
    expect_no_error_toast(page)
    DONE.add("setup")


def test_2_the_space_suggested_from_the_auto_plan(page: Page, artifacts_dir):
    needs("setup")
    open_tab(page, "automl")
    base = page.locator("#automl-base")
    expect(base).to_contain_text(SAMPLE, timeout=UI_TIMEOUT_MS)
    expect(base).to_contain_text(t("strategy.head.name", "en"))
    expect(base).to_contain_text("at most 5 steps")
    expect(base).to_contain_text("at most 200 rows")
    space = page.locator("#automl-space")
    # filled on the first visit; the button suggests it again
    expect(space).to_contain_text("learning_rate", timeout=UI_TIMEOUT_MS)
    page.locator("#automl-suggest").click()
    for setting in ("strategy", "learning_rate", "batch_size", "warmup_ratio"):
        expect(space.get_by_role("gridcell", name=setting, exact=True)).to_have_count(1)
    expect(space).to_contain_text("head, lora, full")
    first = page.locator("#automl-first")
    expect(first).to_contain_text("Trial 0 trains the Auto plan", timeout=UI_TIMEOUT_MS)
    expect(first).to_contain_text(re.compile(r"strategy\s+head"))
    expect(first).to_contain_text(re.compile(r"learning_rate\s+\d"))
    expect(page.locator("#automl-message .msg-error")).to_have_count(0)
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "automl-space")
    DONE.add("space")


def test_3_a_two_trial_search(page: Page, artifacts_dir):
    needs("space")
    set_number(page, "automl-trials", "2")
    page.locator("#automl-start").click()
    message = page.locator("#automl-message")
    expect(message).to_contain_text(re.compile(r"Search \S+ started"), timeout=UI_TIMEOUT_MS)
    expect(message).to_contain_text(t("automl.origin.plan", "en"))
    status = page.locator("#automl-status")
    expect(status).to_contain_text(re.compile(r"trial [12] of 2"), timeout=UI_TIMEOUT_MS)
    expect(status).to_contain_text("2 trials: ", timeout=SEARCH_TIMEOUT_MS)
    expect(status).to_contain_text(t("status.completed", "en"))
    expect(status.locator(".msg-error")).to_have_count(0)
    # two trials in the table, trial 0 being the Auto plan (strategy head, 5 steps)
    table = page.locator("#automl-table")
    rows = table.get_by_role("row").filter(
        has=page.get_by_role("gridcell", name=re.compile(r"^(complete|pruned)$"))
    )
    expect(rows).to_have_count(2, timeout=UI_TIMEOUT_MS)
    expect(rows.first).to_contain_text("head")
    # the best value and the best run
    best = page.locator("#automl-best")
    expect(best).to_contain_text(
        re.compile(r"Best: trial [01] · validation macro_f1 [01]\.\d{4}"), timeout=UI_TIMEOUT_MS
    )
    expect(best).to_contain_text(re.compile(r"Test: Accuracy [01]\.\d{3}"))
    expect(best).to_contain_text("-best")
    # the optimization history: one point per trial
    history = page.locator("#automl-history")
    history.scroll_into_view_if_needed()
    expect(history.locator(".js-plotly-plot")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    chart = plot_info(page, "automl-history")
    assert chart and chart["svg"] >= 1, chart
    assert any(tr["n"] == 2 and tr["name"] == "validation macro_f1" for tr in chart["traces"]), (
        chart
    )
    expect(history).to_contain_text(t("automl.fig.history", "en"))
    # the picked trial's curves
    curves = plot_info(page, "automl-trial-curves")
    assert curves and curves["traces"][0]["name"] == t("chart.train_loss", "en"), curves
    expect(page.locator("#automl-trial-pick input")).to_have_value(re.compile(r"^Trial [01] · "))
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "automl-done")
    DONE.add("search")


def test_4_open_the_best_run_in_evaluate(page: Page):
    needs("search")
    open_tab(page, "automl")
    button = page.locator("#automl-open-best")
    expect(button).to_be_visible()
    button.click()
    expect(page.locator("#tab-evaluate-button")).to_have_attribute(
        "aria-selected", "true", timeout=UI_TIMEOUT_MS
    )
    expect(page.locator("#eval-run input")).to_have_value(
        re.compile(r"best \(trial [01]\)"), timeout=UI_TIMEOUT_MS
    )
    metrics = page.locator("#eval-metrics")
    expect(metrics.get_by_role("row", name=re.compile(r"^Accuracy [01]\.\d{3}$"))).to_have_count(
        1, timeout=UI_TIMEOUT_MS
    )
    DONE.add("evaluate")


def test_5_chinese(page: Page, artifacts_dir):
    needs("setup")
    open_tab(page, "automl")
    page.locator("#lang-switch").get_by_text("简体中文", exact=True).click()
    expect(page.locator("#tab-automl-button")).to_have_text(
        t("tab.automl", "zh"), timeout=UI_TIMEOUT_MS
    )
    expect(page.locator("#automl-start")).to_have_text(t("automl.start", "zh"))
    expect(page.locator("#automl-trials")).to_contain_text(t("hpo.trials", "zh"))
    expect(page.locator("#automl-base")).to_contain_text(CJK, timeout=UI_TIMEOUT_MS)
    if "space" in DONE:
        expect(page.locator("#automl-space")).to_contain_text(
            t("automl.col.setting", "zh"), timeout=UI_TIMEOUT_MS
        )
        expect(page.locator("#automl-first")).to_contain_text(CJK)
    if "search" in DONE:
        expect(page.locator("#automl-status")).to_contain_text(
            re.compile(r"共 2 次试验"), timeout=UI_TIMEOUT_MS
        )
        expect(page.locator("#automl-best")).to_contain_text(re.compile(r"最佳：第 [01] 次试验"))
        expect(page.locator("#automl-table")).to_contain_text(t("automl.state.complete", "zh"))
        expect(page.locator("#automl-history")).to_contain_text(
            t("automl.fig.history", "zh"), timeout=UI_TIMEOUT_MS
        )
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "automl-zh")


def test_6_a_reload_reattaches_to_the_search(page: Page):
    needs("search")
    page.reload(wait_until="domcontentloaded")
    expect(page.locator("#tab-automl-button")).to_be_visible(timeout=60_000)
    open_tab(page, "automl")
    status = page.locator("#automl-status")
    # a reload runs every tab's on-load step: allow for a busy 2-core machine
    expect(status).to_contain_text("2 trials: ", timeout=3 * UI_TIMEOUT_MS)
    rows = (
        page.locator("#automl-table")
        .get_by_role("row")
        .filter(has=page.get_by_role("gridcell", name=re.compile(r"^(complete|pruned)$")))
    )
    expect(rows).to_have_count(2, timeout=3 * UI_TIMEOUT_MS)
    expect(page.locator("#automl-best")).to_contain_text("Best: trial")
    expect(page.locator("#automl-open-best")).to_be_visible()
    assert plot_info(page, "automl-history"), "no history plot after the reload"


def test_7_no_untranslated_keys_and_local_only(page_log):
    if not DONE:
        pytest.skip("no step ran")
    assert not {k: v for k, v in RAW_KEYS.items() if k.startswith("automl")}, RAW_KEYS
    assert page_log.external_requests() == [], page_log.external_requests()
    assert page_log.page_errors == [], page_log.page_errors
