"""Two users on one studio, in headless Chromium: ``app.py --auth alice:pw-a,bob:pw-b``.

Alice and Bob sign in through the studio's sign-in page in two browser contexts. Alice starts a
long run on the bundled sample; Bob sees a job in the Train tab's queue but neither its name nor
its owner, and no tab of his lists her run (Train, Evaluate, Export, Playground, Runs); his own
run waits at position 1 and he cancels it; an HTML file he uploads is never rendered by the
studio, for him or for her; Alice reloads her page, the Train tab re-attaches to her live chart,
and she stops her run; once she shares it, Bob sees it (read-only: his Delete is refused).
Screenshots: test-artifacts/e2e/multiuser-*.png.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from tests.e2e.conftest import AUTH_USERS, CHROMIUM, VIEWPORT

if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"{CHROMIUM} not found; the browser tests need Chromium "
        "(apt-get install chromium fonts-noto-cjk)",
        allow_module_level=True,
    )
pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright")

from playwright.sync_api import Page, expect

from tests.e2e.test_studio_browser import (
    SAMPLE,
    UI_TIMEOUT_MS,
    expect_no_error_toast,
    loss_points_and_status,
    open_tab,
    pick_option,
    set_number,
)
from ui.i18n import t

pytestmark = pytest.mark.timeout(300)

ALICE_RUN, BOB_RUN = "alice-long", "bob-waits"
START_TIMEOUT_MS = 120_000  # loading the model and the first logged step on a small CPU


def login(browser, url: str, user: str) -> Page:
    """A fresh browser context signed in as ``user`` through the studio's sign-in page."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url, wait_until="domcontentloaded")
    expect(page.locator("#login-form")).to_be_visible()
    assert "gradio_api_info" not in page.content()  # nothing of the studio before sign-in
    page.get_by_label(t("login.user", "en")).fill(user)
    page.get_by_label(t("login.password", "en")).fill(AUTH_USERS[user])
    page.get_by_role("button", name=t("login.button", "en")).click()
    expect(page.locator("#user-line")).to_contain_text(f"Signed in as {user}", timeout=60_000)
    return page


def use_sample(page: Page) -> None:
    open_tab(page, "data")
    expect(page.locator("#data-sample")).to_be_visible(timeout=60_000)
    pick_option(page, "data-sample", SAMPLE)
    page.locator("#data-use-sample").click()
    expect(page.locator("#data-summary")).to_contain_text(SAMPLE, timeout=UI_TIMEOUT_MS)
    expect(page.locator("#label-column input")).to_have_value("label")


def set_number_again(page: Page, elem_id: str, value: str, tries: int = 3) -> None:
    """set_number, again if a box that has just been mounted (an opened accordion) took its
    value back."""
    for attempt in range(tries):
        try:
            set_number(page, elem_id, value)
            return
        except AssertionError:
            if attempt == tries - 1:
                raise
            page.wait_for_timeout(500)


def name_run(page: Page, name: str) -> None:
    box = page.locator("#cfg-run-name textarea")
    box.fill(name)
    expect(box).to_have_value(name)


def queue_row(page: Page, name: str):
    return page.locator("#train-queue tr").filter(has_text=name)


def shot(page: Page, artifacts_dir, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"multiuser-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def pages(browser, auth_studio_url):
    alice = login(browser, auth_studio_url, "alice")
    bob = login(browser, auth_studio_url, "bob")
    try:
        yield alice, bob
    finally:
        for page in (alice, bob):
            page.context.close()


def options_of(page: Page, elem_id: str) -> list[str]:
    """The options a gradio dropdown offers (opened, read, closed again)."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    listbox = page.locator(f"#{elem_id} [role=listbox]")
    try:
        listbox.wait_for(state="visible", timeout=1500)
        labels = listbox.get_by_role("option").all_inner_texts()
    except Exception:  # noqa: BLE001 - an empty dropdown opens no list
        labels = []
    box.blur()
    expect(listbox).to_be_hidden()
    return labels


def sees_nothing_of(page: Page, name: str) -> None:
    """No list on this user's page names the run ``name``: every tab's run pickers and the
    Runs table."""
    for tab, pickers in (
        ("train", ["train-past-run"]),
        ("evaluate", ["eval-run"]),
        ("playground", ["play-run", "play-explain-run", "play-model"]),
        ("export", ["export-run"]),
        ("runs", ["runs-select"]),
    ):
        open_tab(page, tab)
        if tab == "train":
            page.locator("#train-saveload").get_by_role("button").first.click()
        for elem in pickers:
            found = [o for o in options_of(page, elem) if name in o]
            assert not found, (tab, elem, found)
    expect(page.locator("#runs-table")).not_to_contain_text(name)


def test_two_users_share_one_queue(pages, artifacts_dir):
    alice, bob = pages
    began = time.monotonic()

    # -- alice starts a long run (it is stopped below): many epochs, no early stopping
    use_sample(alice)
    open_tab(alice, "train")
    set_number(alice, "cfg-epochs", "30")
    alice.locator("#train-advanced").get_by_role("button").first.click()
    expect(alice.locator("#cfg-early-stopping-patience input")).to_be_visible()
    set_number_again(alice, "cfg-early-stopping-patience", "0")
    name_run(alice, ALICE_RUN)
    alice.locator("#train-start").click()
    expect(alice.locator("#train-message")).to_contain_text("started", timeout=UI_TIMEOUT_MS)
    status = alice.locator("#train-status")
    expect(status).to_contain_text(ALICE_RUN, timeout=UI_TIMEOUT_MS)
    mine = queue_row(alice, ALICE_RUN)
    expect(mine).to_contain_text("you", timeout=UI_TIMEOUT_MS)
    expect(mine).to_contain_text(t("queue.now", "en"))

    # -- bob sees that a job trains, not whose or which; a reload shows him nothing of hers
    open_tab(bob, "train")
    hers = bob.locator("#train-queue tr.queue-other")
    expect(hers).to_contain_text(t("queue.hidden", "en"), timeout=UI_TIMEOUT_MS)
    expect(hers).to_contain_text(t("queue.now", "en"))
    expect(bob.locator("#train-queue")).not_to_contain_text(ALICE_RUN)
    expect(bob.locator("#train-queue")).not_to_contain_text("alice")
    bob.reload(wait_until="domcontentloaded")
    open_tab(bob, "train")
    expect(bob.locator("#train-status")).to_contain_text(
        t("train.no_run", "en"), timeout=UI_TIMEOUT_MS
    )

    # -- bob's own run waits at position 1; alice sees its place, not its name
    use_sample(bob)
    open_tab(bob, "train")
    name_run(bob, BOB_RUN)
    bob.locator("#train-start").click()
    expect(bob.locator("#train-message")).to_contain_text(
        "Queued: position 1", timeout=UI_TIMEOUT_MS
    )
    his = queue_row(bob, BOB_RUN)
    expect(his).to_contain_text("you", timeout=UI_TIMEOUT_MS)
    expect(his.locator("td").first).to_have_text("1")
    expect(alice.locator("#train-queue tr.queue-other")).to_contain_text(
        t("queue.hidden", "en"), timeout=UI_TIMEOUT_MS
    )
    expect(alice.locator("#train-queue")).not_to_contain_text(BOB_RUN)
    shot(bob, artifacts_dir, "bob-queued")

    # -- bob's queue picker offers his own job only; he cancels it
    expect(bob.locator("#train-queue-pick")).to_be_visible()
    assert [o for o in options_of(bob, "train-queue-pick") if ALICE_RUN in o] == []
    pick_option(bob, "train-queue-pick", re.compile(BOB_RUN))
    bob.locator("#train-queue-cancel").click()
    expect(bob.locator("#train-message .msg-ok")).to_contain_text(
        f"Cancelled {BOB_RUN}", timeout=UI_TIMEOUT_MS
    )
    expect(queue_row(bob, BOB_RUN)).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(bob.locator("#train-status")).to_contain_text(
        t("status.stopped", "en"), timeout=UI_TIMEOUT_MS
    )
    expect_no_error_toast(bob)

    # -- alice reloads: the Train tab re-attaches to her live run and its chart keeps growing
    deadline = time.monotonic() + START_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:  # wait for the first logged step before reloading
        n, text = loss_points_and_status(alice)
        assert "failed" not in text and "completed" not in text, text
        if n >= 1:
            break
        time.sleep(0.5)
    alice.reload(wait_until="domcontentloaded")
    open_tab(alice, "train")
    status = alice.locator("#train-status")
    expect(status).to_contain_text(ALICE_RUN, timeout=UI_TIMEOUT_MS)
    expect(status).to_contain_text(t("status.running", "en"))
    first = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first < 1:
        first, _ = loss_points_and_status(alice)
        time.sleep(0.5)
    assert first >= 1, "the re-attached chart shows no point"
    grown = first
    while time.monotonic() < deadline and grown <= first:
        grown, text = loss_points_and_status(alice)
        assert "running" in text, text
        time.sleep(0.5)
    assert grown > first, f"the re-attached chart did not grow ({first} points)"
    expect(alice.locator("#train-progress")).to_contain_text(re.compile(r"Step \d+ / \d+"))
    shot(alice, artifacts_dir, "alice-reattached")

    # -- alice stops her own run
    alice.locator("#train-stop").click()
    expect(alice.locator("#train-message .msg-ok")).to_contain_text(
        t("train.stopping", "en"), timeout=UI_TIMEOUT_MS
    )
    expect(status).to_contain_text(t("status.stopped", "en"), timeout=90_000)
    expect(alice.locator("#train-queue")).to_contain_text(
        t("queue.empty", "en"), timeout=UI_TIMEOUT_MS
    )
    expect(bob.locator("#train-queue")).to_contain_text(
        t("queue.empty", "en"), timeout=UI_TIMEOUT_MS
    )
    for page in (alice, bob):
        expect_no_error_toast(page)
    shot(alice, artifacts_dir, "alice-stopped")
    print(f"multi-user flow: {time.monotonic() - began:.0f} s")


def test_no_tab_of_bob_lists_alices_run_and_his_html_never_renders(pages, artifacts_dir):
    alice, bob = pages
    bob.reload(wait_until="domcontentloaded")
    expect(bob.locator("#user-line")).to_contain_text("bob", timeout=60_000)
    sees_nothing_of(bob, ALICE_RUN)
    assert ALICE_RUN not in bob.content()
    shot(bob, artifacts_dir, "bob-sees-nothing-of-hers")

    # -- an HTML file bob uploads is never rendered by the studio: alice gets nothing, bob a
    # download, and its script never runs
    page_text = "<html><head><title>x</title><script>document.title='pwned'</script></head></html>"
    uploaded = bob.request.post(
        auth_url(bob) + "gradio_api/upload",
        multipart={
            "files": {"name": "report.html", "mimeType": "text/html", "buffer": page_text.encode()}
        },
    )
    assert uploaded.ok, uploaded.text()
    file_url = auth_url(bob) + "gradio_api/file=" + uploaded.json()[0]
    assert alice.request.get(file_url).status == 404
    answer = bob.request.get(file_url)
    assert answer.ok and answer.headers["content-disposition"].startswith("attachment")
    assert answer.headers["x-content-type-options"] == "nosniff"
    viewer = bob.context.new_page()
    with viewer.expect_download() as download:
        try:
            viewer.goto(file_url)
        except Exception:  # noqa: BLE001 - "Download is starting": it is not rendered
            pass
    assert download.value.suggested_filename == "report.html"
    assert viewer.title() != "pwned"
    viewer.close()


def auth_url(page: Page) -> str:
    return page.url.split("?")[0].split("#")[0].rstrip("/") + "/"


def test_shared_runs_are_read_only_and_delete_is_for_the_owner(pages, artifacts_dir):
    alice, bob = pages
    # alice shares her run with everyone signed in
    open_tab(alice, "runs")
    alice.locator("#runs-refresh").click()
    pick_option(alice, "runs-select", re.compile(ALICE_RUN))
    share = alice.locator("#runs-share input")
    expect(share).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(share).not_to_be_checked()
    share.click()  # (not check(): the box is re-read from the run folder after the change)
    expect(alice.locator("#runs-action-message .msg-ok")).to_contain_text(
        t("runs.shared_on", "en", names="").rstrip(": ."), timeout=UI_TIMEOUT_MS
    )
    expect(share).to_be_checked()

    # bob now sees it, marked as alice's, but his Delete is refused
    open_tab(bob, "runs")
    bob.locator("#runs-refresh").click()
    table = bob.locator("#runs-table")
    expect(table).to_contain_text(f"{ALICE_RUN} · shared by alice", timeout=UI_TIMEOUT_MS)
    pick_option(bob, "runs-select", re.compile(ALICE_RUN))
    expect(bob.locator("#runs-share")).to_be_hidden()  # not his to share
    bob.locator("#runs-delete").click()
    confirm = bob.locator("#runs-delete-confirm")
    expect(confirm).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(bob.locator("#runs-delete-question")).to_contain_text(f"Delete 1 run(s): {ALICE_RUN}?")
    expect(bob.locator("#runs-delete-data input")).to_be_checked()
    shot(bob, artifacts_dir, "bob-delete-confirm")
    bob.locator("#runs-delete-yes").click()
    refused = bob.locator("#runs-action-message .msg-warning")
    expect(refused).to_contain_text(
        "belongs to alice; only they (or an admin) can change it.", timeout=UI_TIMEOUT_MS
    )
    expect(confirm).to_be_hidden()

    # his own cancelled run (its data is the bundled sample: never deleted) goes; hers stays
    pick_option(bob, "runs-select", re.compile(BOB_RUN))
    bob.locator("#runs-delete").click()
    expect(bob.locator("#runs-delete-question")).to_contain_text(
        f"Delete 2 run(s): {ALICE_RUN}, {BOB_RUN}?", timeout=UI_TIMEOUT_MS
    )
    bob.locator("#runs-delete-yes").click()
    expect(bob.locator("#runs-action-message .msg-ok")).to_contain_text(
        f"Deleted: {BOB_RUN}", timeout=UI_TIMEOUT_MS
    )
    expect(bob.locator("#runs-action-message .msg-warning")).to_contain_text("belongs to alice")
    expect(table).not_to_contain_text(BOB_RUN, timeout=UI_TIMEOUT_MS)
    expect(table).to_contain_text(ALICE_RUN)
    expect_no_error_toast(bob)
    shot(bob, artifacts_dir, "bob-deleted")
