"""End to end in headless Chromium: two tasks beyond classification, as a user drives them.

NER: the English NER sample -> the task is recognised from the file -> MiniLM trains -> the
Evaluate tab shows true vs predicted entities highlighted, and a typed sentence comes back with
its entities highlighted.
Translation: the English->Spanish sample -> the task is recognised -> SmolLM2 + LoRA for a few
steps -> the Evaluate tab shows outputs before and after fine-tuning side by side, and a typed
sentence is translated.

Same real ``app.py`` subprocess and Chromium as test_studio_browser.py (see conftest.py);
screenshots land in test-artifacts/e2e/ (ner-data, ner-evaluate, translation-evaluate).
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
    UI_TIMEOUT_MS,
    expect_no_error_toast,
    open_tab,
    pick_option,
    shot,
)
from ui.i18n import t

pytestmark = pytest.mark.timeout(900)

RUN_TIMEOUT_MS = 420_000
DONE: set[str] = set()


def needs(*steps: str) -> None:
    missing = [s for s in steps if s not in DONE]
    if missing:
        pytest.skip(f"needs the earlier step(s) {', '.join(missing)}")


def use_sample(page: Page, name: str) -> None:
    open_tab(page, "data")
    pick_option(page, "data-sample", name)
    expect(page.locator("#data-sample input")).to_have_value(name)
    page.locator("#data-use-sample").click()
    expect(page.locator("#data-summary")).to_contain_text(name, timeout=UI_TIMEOUT_MS)


def open_advanced(page: Page) -> None:
    accordion = page.locator("#train-advanced")
    if not page.locator("#cfg-max-steps input").is_visible():
        accordion.get_by_role("button").first.click()
    expect(page.locator("#cfg-max-steps input")).to_be_visible()


def start_and_finish(page: Page, run_name: str) -> None:
    name = page.locator("#cfg-run-name textarea")
    name.fill(run_name)
    expect(name).to_have_value(run_name)
    page.locator("#train-start").click()
    expect(page.locator("#train-message")).to_contain_text("started", timeout=UI_TIMEOUT_MS)
    status = page.locator("#train-status")
    expect(status).to_contain_text(run_name, timeout=UI_TIMEOUT_MS)
    expect(status).to_contain_text(t("status.completed", "en"), timeout=RUN_TIMEOUT_MS)
    expect(status.locator(".msg-error")).to_have_count(0)


def pick_run(page: Page, run_name: str) -> None:
    open_tab(page, "evaluate")
    run_input = page.locator("#eval-run input")
    try:  # the tab preselects the newest finished run
        expect(run_input).to_have_value(re.compile(run_name), timeout=10_000)
    except AssertionError:
        page.locator("#eval-refresh").click()
        pick_option(page, "eval-run", None)
        expect(run_input).to_have_value(re.compile(run_name))


# ---- NER ----------------------------------------------------------------------------------


def test_1_ner_sample_is_recognised(page: Page, artifacts_dir):
    expect(page.locator("#data-sample")).to_be_visible(timeout=60_000)
    use_sample(page, "ner_english_demo.jsonl")
    expect(page.locator("#cfg-task input")).to_have_value(t("task.ner", "en"))
    expect(page.locator("#data-summary")).to_contain_text(t("task.ner", "en"))
    messages = page.locator("#data-messages")
    expect(messages).to_contain_text(t("data.ready", "en"), timeout=UI_TIMEOUT_MS)
    expect(messages.locator(".msg-error")).to_have_count(0)
    expect(page.locator("#text-column")).to_contain_text(t("role.tokens", "en"))
    expect(page.locator("#label-column")).to_contain_text(t("role.tags", "en"))
    expect(page.locator("#data-preview")).to_be_visible()
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "ner-data")
    DONE.add("ner-data")


def test_2_ner_trains(page: Page):
    needs("ner-data")
    open_tab(page, "train")
    expect(page.locator("#train-data")).to_contain_text("ner_english_demo.jsonl")
    expect(page.locator("#train-plan")).to_contain_text(t("task.ner", "en"), timeout=UI_TIMEOUT_MS)
    set_number(page, "cfg-epochs", "4")
    start_and_finish(page, "e2e-ner")
    expect(page.locator("#train-status")).to_contain_text(re.compile(r"Test F1 \d\.\d{3}"))
    DONE.add("ner-train")


def test_3_ner_evaluate_highlights_entities(page: Page, artifacts_dir):
    needs("ner-train")
    pick_run(page, "e2e-ner")
    expect(page.locator("#eval-ner")).to_be_visible(timeout=UI_TIMEOUT_MS)
    metrics = page.locator("#eval-metrics")
    expect(metrics.get_by_role("row", name=re.compile(r"^F1 [01]\.\d{3}"))).to_have_count(1)
    gold = page.locator("#eval-ner-gold")
    # the legend lists the entity types present, one button each
    expect(gold.get_by_role("button", name=re.compile(r"^(PER|LOC|ORG)$")).first).to_be_visible()
    expect(page.locator("#eval-ner-predicted")).to_contain_text(re.compile(r"\w"))
    page.locator("#predict-text textarea").fill("Maria Garcia flew from Madrid to Berlin.")
    page.locator("#predict-button").click()
    entities = page.locator("#predict-entities")
    expect(entities).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(entities).to_contain_text("Berlin", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#predict-message .msg-error")).to_have_count(0)
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "ner-evaluate")


# ---- translation --------------------------------------------------------------------------


def test_4_translation_trains(page: Page):
    use_sample(page, "translation_bible_en_es.csv")
    expect(page.locator("#cfg-task input")).to_have_value(t("task.translation", "en"))
    expect(page.locator("#data-messages")).to_contain_text(
        t("data.ready", "en"), timeout=UI_TIMEOUT_MS
    )
    language = page.locator("#cfg-target-language textarea")
    expect(language).to_be_visible()
    language.fill("Spanish")
    language.press("Tab")
    open_tab(page, "train")
    pick_option(page, "train-backbone", f"smollm2-135m-instruct · {t('train.bundled', 'en')}")
    expect(page.locator("#train-backbone input")).to_have_value(
        re.compile(r"^smollm2-135m-instruct")
    )
    open_advanced(page)
    set_number(page, "cfg-max-steps", "8")
    set_number(page, "cfg-batch-size", "4")  # 8 quick steps: the test is the path, not BLEU
    set_number(page, "cfg-generation-eval-rows", "4")
    set_number(page, "cfg-max-new-tokens", "24")
    set_number(page, "cfg-max-length", "96")
    start_and_finish(page, "e2e-translation")
    expect(page.locator("#train-status")).to_contain_text(re.compile(r"Test chrF \d"))
    DONE.add("translation-train")


def test_5_translation_evaluate_before_and_after(page: Page, artifacts_dir):
    needs("translation-train")
    pick_run(page, "e2e-translation")
    examples = page.locator("#eval-errors")
    for column in ("eval.ex.source", "eval.ex.reference", "eval.ex.before", "eval.ex.after"):
        expect(examples).to_contain_text(t(column, "en"), timeout=UI_TIMEOUT_MS)
    expect(page.locator("#eval-metrics")).to_contain_text(t("eval.col.before", "en"))
    expect(page.locator("#eval-ner")).to_be_hidden()
    page.locator("#predict-text textarea").fill("In the beginning God created the heavens.")
    page.locator("#predict-button").click()
    answer = page.locator("#predict-answer textarea")
    expect(answer).to_have_value(re.compile(r"\w"), timeout=UI_TIMEOUT_MS * 2)
    expect(page.locator("#predict-message .msg-error")).to_have_count(0)
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "translation-evaluate")
