"""End to end in headless Chromium: the Export tab, as a user drives it.

Data (bundled reviews sample, at most 200 rows) -> Train (MiniLM-L6, head strategy, 5 steps) ->
Export: int8 and merged exported in turn, the comparison table (sizes, latencies, accuracy,
agreement, speed-up) and the plain-words verdicts -> the int8 model card and its zip -> batch
prediction of a small CSV (a formula cell comes back escaped) with its download link, preview
and label counts -> the serve command -> the Chinese interface -> the app's own Gradio API
through gradio_client (the named endpoints ``/export_summary`` and ``/batch_predict``).

Same real ``app.py`` subprocess and Chromium as test_studio_browser.py (see conftest.py);
screenshots land in test-artifacts/e2e/ (export-table, export-batch, export-zh).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

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
    RAW_KEYS,
    UI_TIMEOUT_MS,
    expect_no_error_toast,
    open_tab,
    pick_option,
    set_number,
    shot,
)
from ui.i18n import t

CJK = re.compile(r"[\u4e00-\u9fff]")

pytestmark = pytest.mark.timeout(300)

SAMPLE = "reviews_sentiment.csv"
RUN_NAME = "e2e-export"
TRAIN_TIMEOUT_MS = 150_000
EXPORT_TIMEOUT_MS = 150_000  # merged + int8 of MiniLM-L6, each measured, on two busy cores
DONE: set[str] = set()
FOUND: dict[str, str] = {}  # the run id read from the page, for the API step


def needs(*steps: str) -> None:
    missing = [s for s in steps if s not in DONE]
    if missing:
        pytest.skip(f"needs the earlier step(s) {', '.join(missing)}")


def open_accordion(page: Page, accordion_id: str, inner_id: str) -> None:
    if not page.locator(f"#{inner_id} input").is_visible():
        page.locator(f"#{accordion_id}").get_by_role("button").first.click()
    expect(page.locator(f"#{inner_id} input")).to_be_visible()


@pytest.fixture(scope="module")
def texts_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("export-e2e") / "to_label.csv"
    path.write_text(
        'id,text\n1,"What a wonderful, heart-warming film."\n'
        '2,"Dull, slow and far too long."\n'
        '3,"=HYPERLINK(""http://example.com"",""click"")"\n'
        '4,"I would watch it again tomorrow."\n',
        encoding="utf-8",
    )
    return path


def test_1_a_quick_run_to_export(page: Page):
    expect(page.locator("#data-sample")).to_be_visible(timeout=60_000)
    pick_option(page, "data-sample", SAMPLE)
    page.locator("#data-use-sample").click()
    expect(page.locator("#data-summary")).to_contain_text(SAMPLE, timeout=UI_TIMEOUT_MS)
    open_accordion(page, "data-split", "cfg-max-rows")
    set_number(page, "cfg-max-rows", "200")

    open_tab(page, "train")
    pick_option(page, "train-strategy", t("strategy.head.name", "en"))
    open_accordion(page, "train-advanced", "cfg-max-steps")
    set_number(page, "cfg-max-steps", "5")
    set_number(page, "cfg-max-length", "64")
    name = page.locator("#cfg-run-name textarea")
    name.fill(RUN_NAME)
    expect(name).to_have_value(RUN_NAME)
    page.locator("#train-start").click()
    expect(page.locator("#train-message")).to_contain_text("started", timeout=UI_TIMEOUT_MS)
    status = page.locator("#train-status")
    expect(status).to_contain_text(RUN_NAME, timeout=UI_TIMEOUT_MS)
    expect(status).to_contain_text(t("status.completed", "en"), timeout=TRAIN_TIMEOUT_MS)
    expect(status.locator(".msg-error")).to_have_count(0)
    DONE.add("run")


def test_2_export_int8_and_merged(page: Page, artifacts_dir):
    needs("run")
    open_tab(page, "export")
    run_input = page.locator("#export-run input")
    # other runs may exist on this studio (the browser tests share one): pick ours
    page.locator("#export-refresh").click()
    run_input.click()
    option = page.get_by_role("option", name=re.compile(re.escape(RUN_NAME))).first
    expect(option).to_be_visible(timeout=UI_TIMEOUT_MS)
    option.click()
    expect(run_input).to_have_value(re.compile(RUN_NAME), timeout=UI_TIMEOUT_MS)
    note = page.locator("#export-note")
    expect(note).to_contain_text("test accuracy", timeout=UI_TIMEOUT_MS)
    # no export yet: the run's own row alone, and the serve command for it
    table = page.locator("#export-table")
    expect(table).to_contain_text(t("export.fmt.pytorch", "en"), timeout=UI_TIMEOUT_MS)
    expect(page.locator("#export-verdicts")).to_contain_text(t("export.none_yet", "en"))
    cmd = page.locator("#export-serve-cmd")
    expect(cmd).to_contain_text("-m engine serve --run", timeout=UI_TIMEOUT_MS)
    match = re.search(r"--run \S*?([^/\s']+-e2e-export-head[^/\s']*)", cmd.inner_text())
    assert match, cmd.inner_text()
    FOUND["run_id"] = match.group(1)

    formats = page.locator("#export-formats")
    expect(formats.get_by_label("int8", exact=True)).to_be_checked()
    formats.get_by_label("merged", exact=True).check()
    expect(formats.get_by_label("merged", exact=True)).to_be_checked()
    page.locator("#export-button").click()
    status = page.locator("#export-status")
    expect(status).to_contain_text("merged: exported", timeout=EXPORT_TIMEOUT_MS)
    expect(status).to_contain_text("int8: exported", timeout=EXPORT_TIMEOUT_MS)
    expect(status.locator(".msg-error")).to_have_count(0)

    # the comparison table: the run's model + two artefacts, every figure filled in
    for fmt in (t("export.fmt.pytorch", "en"), "merged", "int8"):
        row = table.get_by_role("row").filter(
            has=page.get_by_role("gridcell", name=fmt, exact=True)
        )
        expect(row).to_have_count(1, timeout=UI_TIMEOUT_MS)
        cells = row.get_by_role("gridcell")
        expect(cells).to_have_count(9)
        values = [c.strip() for c in cells.all_inner_texts()]
        assert re.fullmatch(r"\d+(\.\d+)?", values[1]), values  # size (MB)
        assert float(values[1]) > 1, values  # MiniLM-L6 weighs tens of MB
        assert re.fullmatch(r"\d+(\.\d+)?", values[3]), values  # ms / example, batched
        assert re.fullmatch(r"\d+(\.\d+)?", values[4]), values  # ms, one text
        assert re.fullmatch(r"[01]\.\d{3}", values[5]), values  # accuracy
        assert re.fullmatch(r"\d+\.\d", values[7]), values  # agreement (%)
        assert re.fullmatch(r"\d+\.\d\d×", values[8]), values  # speed-up
    for header in ("size (MB)", "ms / example (batched)", "accuracy", "agreement (%)", "speed-up"):
        expect(table).to_contain_text(header)
    verdicts = page.locator("#export-verdicts")
    expect(verdicts).to_contain_text("In plain words (measured on 20 test texts)")
    expect(verdicts).to_contain_text(re.compile(r"int8: .*(faster|slower|about as fast)"))
    expect(verdicts).to_contain_text(
        re.compile(
            r"merged: .*agrees with the run's model on "
            r"\d+% of the test texts"
        )
    )
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "export-table")
    DONE.add("export")


def test_3_model_card_and_zip(page: Page):
    needs("export")
    expect(page.locator("#export-artefact input")).to_have_value("int8")
    card = page.locator("#export-card")
    expect(card).to_contain_text("Task and labels", timeout=UI_TIMEOUT_MS)
    expect(card).to_contain_text("exports/int8")
    expect(card).to_contain_text("How to use")
    page.locator("#export-zip-button").click()
    expect(page.locator("#export-artefact-message")).to_contain_text(
        "int8.zip is ready", timeout=UI_TIMEOUT_MS
    )
    expect(page.locator("#export-zip")).to_contain_text(re.compile(r"int8\s*\.zip"))
    expect(page.locator("#export-zip a").first).to_have_attribute("href", re.compile(r"int8\.zip"))
    expect_no_error_toast(page)
    DONE.add("card")


def test_4_batch_prediction(page: Page, artifacts_dir, texts_csv):
    needs("export")
    page.locator("#export-batch-file input[type=file]").set_input_files(str(texts_csv))
    expect(page.locator("#export-batch-file")).to_contain_text(
        texts_csv.name, timeout=UI_TIMEOUT_MS
    )
    pick_option(page, "export-batch-source", "int8")
    expect(page.locator("#export-batch-source input")).to_have_value("int8")
    page.locator("#export-batch-button").click()
    message = page.locator("#export-batch-message")
    expect(message).to_contain_text(
        "Predicted 4 rows of to_label.csv with int8", timeout=UI_TIMEOUT_MS
    )
    expect(message.locator(".msg-error")).to_have_count(0)
    download = page.locator("#export-batch-download")
    expect(download).to_be_visible()
    expect(download).to_contain_text(re.compile(r"to_label-int8\s*\.csv"))
    expect(download.locator("a").first).to_have_attribute("href", re.compile(r"\.csv"))
    preview = page.locator("#export-batch-preview")
    expect(preview).to_contain_text("'=HYPERLINK")
    expect(preview).to_contain_text("prediction")
    counts = page.locator("#export-batch-counts")
    expect(counts).to_contain_text(re.compile(r"positive|negative"))
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "export-batch")
    DONE.add("batch")


def test_5_chinese(page: Page, artifacts_dir):
    needs("run")
    open_tab(page, "export")
    page.locator("#lang-switch").get_by_text("简体中文", exact=True).click()
    expect(page.locator("#tab-export-button")).to_have_text(
        t("tab.export", "zh"), timeout=UI_TIMEOUT_MS
    )
    expect(page.locator("#export-button")).to_have_text(t("export.button", "zh"))
    expect(page.locator("#export-formats")).to_contain_text(t("export.formats", "zh"))
    expect(page.locator("#export-hub-token")).to_contain_text(t("export.hub_token", "zh"))
    expect(page.locator("#export-retrain-button")).to_have_text(t("export.retrain_button", "zh"))
    expect(page.locator("#export-note")).to_contain_text(CJK, timeout=UI_TIMEOUT_MS)
    if "export" in DONE:
        expect(page.locator("#export-table")).to_contain_text(
            t("export.col.size", "zh"), timeout=UI_TIMEOUT_MS
        )
        expect(page.locator("#export-verdicts")).to_contain_text(
            "简单来说（在 20 条测试文本上测量）"
        )
        expect(page.locator("#export-card")).to_contain_text("模型卡", timeout=UI_TIMEOUT_MS)
        expect(page.locator("#export-status")).to_contain_text("已导出")
    if "batch" in DONE:  # the result's message and counts follow the switch
        expect(page.locator("#export-batch-message")).to_contain_text("已用 int8 量化 预测")
        expect(page.locator("#export-batch-counts")).to_contain_text("占比")
    expect_no_error_toast(page)
    shot(page, artifacts_dir, "export-zh")


def test_6_the_named_api_through_gradio_client(studio_url, texts_csv):
    needs("export")
    client_mod = pytest.importorskip("gradio_client")
    client = client_mod.Client(studio_url, verbose=False)
    run_id = FOUND["run_id"]
    summary = client.predict(
        run_id, "en", "int8", "run", "pytorch", False, api_name="/export_summary"
    )
    note, table = summary[0], summary[1]
    assert "test accuracy" in note and "msg-ok" in note, note
    formats = [row[0] for row in table["data"]]
    assert formats == [t("export.fmt.pytorch", "en"), "merged", "int8"], table
    result = client.predict(
        run_id,
        "merged",
        client_mod.handle_file(str(texts_csv)),
        "text",
        "en",
        api_name="/batch_predict",
    )
    message, csv_path, preview, counts = result
    assert "Predicted 4 rows" in message and "msg-ok" in message, message
    assert isinstance(csv_path, str) and csv_path.endswith("to_label-merged.csv"), csv_path
    written = Path(csv_path).read_text(encoding="utf-8")
    assert "prediction" in written.splitlines()[0] and "'=HYPERLINK" in written
    assert sum(int(row[1]) for row in counts["data"]) == 4, counts
    bad = client.predict(
        run_id,
        "merged",
        client_mod.handle_file(str(texts_csv)),
        "comment",
        "en",
        api_name="/batch_predict",
    )
    assert "msg-error" in bad[0] and "is not in the table" in bad[0], bad[0]
    assert bad[1] is None
    assert preview["headers"][-3:] == ["prediction", "prob_negative", "prob_positive"], preview


def test_7_no_untranslated_keys_and_local_only(page_log):
    if not DONE:
        pytest.skip("no step ran")
    assert not {k: v for k, v in RAW_KEYS.items() if k.startswith("export")}, RAW_KEYS
    assert page_log.external_requests() == [], page_log.external_requests()
    assert page_log.page_errors == [], page_log.page_errors
