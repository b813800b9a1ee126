"""Several users, the visible queue, resume, delete and the privacy preview, as the studio's
callbacks see them (no browser, no model training): a JobManager with a fake training function
that waits on an Event, and fake gradio requests that carry ``.username``."""
from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from engine.config import RunConfig
from engine.jobs import JobManager
from engine.runs import RunStore
from ui import data_tab, runs_tab, train_tab
from ui.app import build_app, signed_in_line
from ui.form import config_to_form
from ui.i18n import TEXT, t

CJK = re.compile(r"[\u4e00-\u9fff]")
CSV = "text,label\n" + "\n".join(
    f"{'great fun and loved it' if i % 2 else 'dull and far too long'} #{i},"
    f"{'pos' if i % 2 else 'neg'}" for i in range(40)) + "\n"
ALICE, BOB = SimpleNamespace(username="alice"), SimpleNamespace(username="bob")
NOBODY = SimpleNamespace(username=None)  # a studio started without --auth

GATE = threading.Event()   # a running fake job trains until this is set
SEEN: dict[str, dict] = {}  # run id -> the keyword arguments its training got (resume_from)


def gated_train(config, run, stop, **kwargs):
    """Stands in for engine.training.train_run: 'trains' until GATE is set or Stop is pressed."""
    SEEN[run.id] = kwargs
    run.set_status("running")
    run.append_event("log", step=1, max_steps=10, loss=0.7)
    while not GATE.is_set() and not stop.is_set():
        time.sleep(0.02)
    status = "stopped" if stop.is_set() else "completed"
    run.append_event("end", status=status)
    run.set_status(status)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("studio")
    store = RunStore(root / "runs")
    demo = build_app(root / "runs", jobs=JobManager(store, train_fn=gated_train))
    return demo, demo.adaptune, root


@pytest.fixture(autouse=True)
def released_jobs(app):
    """Every test starts with an idle queue and leaves one behind."""
    GATE.clear()
    yield
    GATE.set()
    jobs = app[1].jobs
    for entry in jobs.queue_view():
        jobs.wait(entry["run_id"], timeout=10)
    GATE.clear()


@pytest.fixture()
def csv_file(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def form_args(ctx, **values):
    base = config_to_form(RunConfig())
    base.update(values)
    return [base.get(name) for name in ctx.field_names()]


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def submit(ctx, name: str, owner: str):
    run = ctx.jobs.submit(RunConfig(data="x.csv", run_name=name,
                                    output_dir=str(ctx.store.root)), owner=owner)
    return run


def with_checkpoint(run, step: int = 5) -> Path:
    ckpt = run.path / "checkpoints" / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (ckpt / "optimizer.pt").write_bytes(b"\0")
    return ckpt


# ---- who am I ---------------------------------------------------------------------------------

def test_header_names_the_signed_in_user():
    assert signed_in_line("en", ALICE) == "Signed in as **alice**"
    assert CJK.search(signed_in_line("zh", ALICE)) and "alice" in signed_in_line("zh", ALICE)
    assert signed_in_line("en", NOBODY) == "" and signed_in_line("en", None) == ""


def test_started_runs_belong_to_the_signed_in_user(app, csv_file):
    _, ctx, _ = app
    message, run_id, *_ = ctx.fn["start_run"](
        "en", *form_args(ctx, data=str(csv_file), run_name="mine"), user="alice")
    assert "msg-ok" in message and ctx.store.get(run_id).owner == "alice"
    wait_until(lambda: ctx.jobs.active == run_id)
    # a second run while the first trains: the message says where it waits
    message, second, *_ = ctx.fn["start_run"](
        "en", *form_args(ctx, data=str(csv_file), run_name="later"), user="bob")
    assert "Queued: position 1" in message, message
    assert ctx.store.get(second).owner == "bob"
    zh, third, *_ = ctx.fn["start_run"](
        "zh", *form_args(ctx, data=str(csv_file), run_name="third"), user="bob")
    assert "第 2 位" in zh
    # without --auth: no owner
    GATE.set()
    assert ctx.jobs.wait(third, timeout=10)
    GATE.clear()
    message, free, *_ = ctx.fn["start_run"]("en", *form_args(ctx, data=str(csv_file)))
    assert ctx.store.get(free).owner == ""


# ---- the visible queue ------------------------------------------------------------------------

def test_queue_table_positions_owners_and_cancel(app):
    _, ctx, _ = app
    jobs, store = ctx.jobs, ctx.store
    a = submit(ctx, "a-run", "alice")
    wait_until(lambda: jobs.active == a.id)
    b = submit(ctx, "b-run", "bob")
    c = submit(ctx, "c-run", "alice")

    table = train_tab.queue_html(jobs, "bob", "en")
    rows = re.findall(r"<tr class=\"queue-(\w+)\"[^>]*>(.*?)</tr>", table)
    cells = [(kind, re.findall(r"<td>(.*?)</td>", row)) for kind, row in rows]
    assert cells == [("other", ["training now", "a-run", "alice", "running"]),
                     ("mine", ["1", "b-run", "you", "queued"]),
                     ("other", ["2", "c-run", "alice", "queued"])]
    assert "你" in train_tab.queue_html(jobs, "bob", "zh")
    choices = train_tab.queue_choices(jobs, "alice", "en")
    assert [v for _, v in choices] == [a.id, b.id, c.id]
    assert choices[0][0] == "a-run · training now · you"
    assert choices[1][0] == "b-run · position 1 · bob"
    assert train_tab.queue_position(jobs, c.id) == 2 and train_tab.queue_position(jobs, a.id) \
        is None

    # the timer's refresh: skipped while nothing changes
    html_, pick, row, sig = ctx.fn["train_queue"]("en", b.id, "", BOB)
    assert "b-run" in html_ and pick["value"] == b.id and row["visible"]
    skipped = ctx.fn["train_queue"]("en", b.id, sig, BOB)
    assert skipped[0] is not None and not isinstance(skipped[0], str)  # gr.skip()

    # alice may not cancel bob's job: a warning with the engine's message, the job stays
    refused = ctx.fn["train_cancel"](b.id, "en", ALICE)
    assert "msg-warning" in refused and "msg-error" not in refused
    assert "belongs to bob" in refused and store.get(b.id).status == "queued"
    done = ctx.fn["train_cancel"](b.id, "en", BOB)
    assert "msg-ok" in done and "Cancelled b-run" in done
    assert store.get(b.id).status == "stopped"
    assert [e["name"] for e in jobs.queue_view()] == ["a-run", "c-run"]
    assert [e["position"] for e in jobs.queue_view()] == [0, 1]
    html_, pick, row, sig2 = ctx.fn["train_queue"]("en", b.id, sig, BOB)
    assert "b-run" not in html_ and pick["value"] is None
    assert "msg-warning" in ctx.fn["train_cancel"](None, "en", BOB)
    assert "msg-warning" in ctx.fn["train_cancel"](b.id, "en", BOB)  # not active any more


def test_stop_refused_for_another_users_run(app):
    _, ctx, _ = app
    a = submit(ctx, "alices", "alice")
    wait_until(lambda: ctx.jobs.active == a.id)
    refused = ctx.fn["stop_run"](a.id, "en", BOB)
    assert "msg-warning" in refused and "msg-error" not in refused
    assert "This run belongs to alice; only they can stop it." in refused
    assert "Not your run" in refused and a.status == "running"
    assert "不是你的运行" in ctx.fn["stop_run"](a.id, "zh", BOB)
    assert "msg-ok" in ctx.fn["stop_run"](a.id, "en", ALICE)
    assert ctx.jobs.wait(a.id, timeout=10) and a.status == "stopped"
    # no --auth (user None): anyone may stop any run
    b = submit(ctx, "bobs", "bob")
    wait_until(lambda: ctx.jobs.active == b.id)
    assert "msg-ok" in ctx.fn["stop_run"](b.id, "en", NOBODY)
    assert ctx.jobs.wait(b.id, timeout=10)
    html_, pick, row, _ = ctx.fn["train_queue"]("en", None, "", NOBODY)
    assert "Nothing is training or waiting" in html_ and row["visible"] is False


def test_attach_prefers_the_users_own_live_run(app):
    _, ctx, _ = app
    a = submit(ctx, "first", "alice")
    wait_until(lambda: ctx.jobs.active == a.id)
    b = submit(ctx, "second", "bob")
    assert train_tab.pick_run_to_show(ctx.store, ctx.jobs, user="bob") == b.id
    assert train_tab.pick_run_to_show(ctx.store, ctx.jobs, user="carol") == a.id
    assert train_tab.pick_run_to_show(ctx.store, ctx.jobs) == a.id
    attached = ctx.fn["train_attach"]("en", ALICE)
    assert attached[0] == a.id
    assert len(attached) == len(ctx.c["train_attach_outputs"])


# ---- resume -----------------------------------------------------------------------------------

def test_resume_button_and_resume_from_the_checkpoint(app):
    _, ctx, _ = app
    store, jobs = ctx.store, ctx.jobs
    run = store.create(RunConfig(data="x.csv", run_name="crashed"), owner="alice")
    run.set_status("interrupted", error="The server stopped while this run was active.")
    run.append_event("log", step=8, loss=0.5)
    assert train_tab.resume_button(store, jobs, run.id, "alice", "en")["visible"] is False
    ckpt = with_checkpoint(run, 5)

    button = train_tab.resume_button(store, jobs, run.id, "alice", "en")
    assert button["visible"] and button["value"] == "↻ Resume from step 5"
    assert "5" in train_tab.resume_button(store, jobs, run.id, "alice", "zh")["value"]
    assert train_tab.resume_button(store, jobs, run.id, "bob", "en")["visible"] is False
    assert train_tab.resume_button(store, jobs, run.id, None, "en")["visible"]  # no --auth
    assert train_tab.resume_button(store, jobs, None, "alice", "en")["visible"] is False
    status = train_tab.status_html(run, run.events(), "interrupted", "en")
    assert "resume it from its last checkpoint" in status
    # the Runs tab shows the same button for the selected run
    assert ctx.fn["runs_resume_state"]([run.id], "en", ALICE)["visible"]
    assert ctx.fn["runs_resume_state"]([], "en", ALICE)["visible"] is False

    refused, *_ = ctx.fn["train_resume"](run.id, "en", BOB)
    assert "msg-warning" in refused and "belongs to alice" in refused
    message, run_id, timer = ctx.fn["train_resume"](run.id, "en", ALICE)
    assert "msg-ok" in message and "step 5" in message and run_id == run.id
    wait_until(lambda: run.id in SEEN)
    assert SEEN[run.id]["resume_from"] == ckpt  # the same folder continues
    assert train_tab.resume_button(store, jobs, run.id, "alice", "en")["visible"] is False
    again, *_ = ctx.fn["train_resume"](run.id, "en", ALICE)  # already queued / running
    assert "msg-warning" in again and "Cannot resume" in again
    GATE.set()
    assert jobs.wait(run.id, timeout=10) and run.status == "completed"
    assert [e["from_step"] for e in run.events("resume")] == [5]
    # the Train tab's panel: shown, then skipped while nothing changes
    *panel, resume, sig = ctx.fn["train_show"](run.id, "en", ALICE)
    assert resume["visible"] is False and sig.endswith(":completed")
    ticked = ctx.fn["train_tick"](run.id, "en", sig, ALICE)
    assert len(ticked) == len(panel) + 3


def test_resume_from_the_runs_tab_and_what_cannot_resume(app):
    _, ctx, _ = app
    store = ctx.store
    run = store.create(RunConfig(data="x.csv", run_name="failed-one"), owner="")
    run.set_status("failed", error="boom")
    with_checkpoint(run, 12)
    text, train_msg, button, tabs, run_id, timer = ctx.fn["runs_resume"]([run.id], "en", BOB)
    assert "msg-ok" in text and text == train_msg and run_id == run.id
    assert button["visible"] is False and timer.active
    bare = store.create(RunConfig(data="x.csv", run_name="bare"))
    bare.set_status("stopped")
    text, *rest = ctx.fn["runs_resume"]([bare.id], "en", BOB)
    assert "no checkpoint to resume from" in text and "msg-warning" in text
    assert "msg-warning" in ctx.fn["runs_resume"]([], "en", BOB)[0]


# ---- delete -----------------------------------------------------------------------------------

def _uploaded(ctx, name: str, digest: str) -> Path:
    path = ctx.uploads_dir / digest / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CSV)
    return path.resolve()


def test_delete_with_and_without_its_data_file(app):
    _, ctx, _ = app
    store = ctx.store
    mine = _uploaded(ctx, "mine.csv", "aaa111")
    kept = _uploaded(ctx, "kept.csv", "bbb222")
    one = store.create(RunConfig(data=str(mine), run_name="one"), owner="alice")
    two = store.create(RunConfig(data=str(kept), run_name="two"), owner="alice")
    for run in (one, two):
        run.set_status("completed")

    visible, question, message, pending = ctx.fn["runs_ask_delete"]([one.id, two.id], "en")
    assert visible["visible"] and "Delete 2 run(s): one, two?" in question
    assert pending == [one.id, two.id]
    assert ctx.fn["runs_ask_delete"]([], "en")[0]["visible"] is False

    text, confirm, pending = ctx.fn["runs_delete"]([one.id], True, "en", ALICE)
    assert pending == []
    assert "msg-ok" in text and "Deleted: one" in text and "data files removed: 1" in text
    assert not one.path.exists() and not mine.exists() and confirm["visible"] is False
    text, *_ = ctx.fn["runs_delete"]([two.id], False, "en", ALICE)
    assert "Deleted: two" in text and "data files" not in text
    assert not two.path.exists() and kept.exists()
    assert one.id not in set(runs_tab.runs_table(store, "en")["Name"])


def test_delete_refused_for_another_user_and_a_running_run(app):
    _, ctx, _ = app
    store = ctx.store
    hers = store.create(RunConfig(data="x.csv", run_name="hers"), owner="alice")
    hers.set_status("completed")
    text = runs_tab.delete_runs(store, [hers.id], "bob", ctx.uploads_dir, "en")
    assert "msg-warning" in text and "belongs to alice" in text and "Not deleted" in text
    assert hers.path.exists()
    live = submit(ctx, "live", "bob")
    wait_until(lambda: ctx.jobs.active == live.id)
    text, *_ = ctx.fn["runs_delete"]([live.id, hers.id], True, "en", BOB)
    assert "stop it first" in text and "belongs to alice" in text and "msg-ok" not in text
    assert live.path.exists()
    zh = runs_tab.delete_runs(store, [hers.id], "bob", None, "zh")
    assert "未删除" in zh
    GATE.set()
    assert ctx.jobs.wait(live.id, timeout=10)
    text, *_ = ctx.fn["runs_delete"]([live.id, "no-such-run"], True, "en", BOB)
    assert "Deleted: live" in text and "no-such-run" in text
    assert not live.path.exists()


# ---- privacy ----------------------------------------------------------------------------------

def test_privacy_preview_counts_and_before_after(tmp_path):
    rows = [("Write to ann.lee@example.org about it", "pos"),
            ("See https://shop.example.com/item?id=7 now", "neg"),
            ("Call me on +44 20 7946 0958 please", "pos"),
            ("Account 12345678 was charged twice", "neg"),
            ("Plain text with a year 2024 and 3 stars", "pos"),
            ("nothing here at all", "neg")] * 3
    path = tmp_path / "pii.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    summary, table = data_tab.privacy_preview(str(path), "text", "en")
    assert "msg-info" in summary
    assert "Masking changes 12 of 18 texts: 3 e-mail address(es), 3 URL(s), " \
           "3 phone number(s), 3 long number(s)" in summary
    frame = table["value"]
    assert table["visible"] and list(frame.columns) == ["Before", "After masking"]
    assert len(frame) == 12 and frame.iloc[0, 1] == "Write to [EMAIL] about it"
    assert "[NUMBER]" in frame.iloc[3, 1] and "[PHONE]" in frame.iloc[2, 1]
    zh_summary, zh_table = data_tab.privacy_preview(str(path), "", "zh")  # column inferred
    assert CJK.search(zh_summary) and list(zh_table["value"].columns) == ["遮盖前", "遮盖后"]

    clean = tmp_path / "clean.csv"
    clean.write_text(CSV)
    summary, table = data_tab.privacy_preview(str(clean), "text", "en")
    assert "msg-ok" in summary and "Nothing to mask" in summary and "40 texts" in summary
    assert table["visible"] is False
    assert "msg-info" in data_tab.privacy_preview("", "", "en")[0]
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\x00\x01")
    assert "msg-error" in data_tab.privacy_preview(str(broken), "", "en")[0]
    assert data_tab.privacy_if_ticked(False, str(path), "text", "en")[0] == ""
    ticked = data_tab.privacy_if_ticked(True, str(path), "text", "en")[0]
    assert "12 of 18" in ticked and "Training will use the masked texts" in ticked


def test_mask_pii_and_trust_remote_code_are_in_the_form(app):
    demo, ctx, _ = app
    assert {"mask_pii", "trust_remote_code"} <= set(ctx.fields)
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    for elem in ("cfg-mask-pii", "cfg-trust-remote-code", "data-privacy-preview",
                 "data-privacy-table", "train-queue", "train-queue-pick", "train-queue-cancel",
                 "train-resume", "train-remote-code-warning", "runs-resume", "runs-delete",
                 "runs-delete-data", "runs-delete-yes", "runs-delete-no", "user-line"):
        assert elem in ids, elem
    assert data_tab._privacy_visible("classification")
    assert not data_tab._privacy_visible("ner")
    warning = ctx.fn["remote_code_warning"](True, "en")
    assert "msg-warning" in warning and "run that code on this machine" in warning
    assert ctx.fn["remote_code_warning"](False, "en") == ""
    assert CJK.search(ctx.fn["remote_code_warning"](True, "zh"))


# ---- uploads ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../x.csv", "..\\..\\x.csv", "/etc/passwd", "..", ".",
                                  "a\x00b.csv", "sub/dir/../../../evil.csv", "", " .hidden.csv",
                                  "x" * 300 + ".csv"])
def test_upload_names_stay_inside_the_uploads_folder(tmp_path, csv_file, name):
    uploads = tmp_path / "runs" / "_uploads"
    dest = Path(data_tab.copy_upload(str(csv_file), uploads, name=name))
    assert uploads.resolve() in dest.resolve().parents
    assert dest.parent.parent == uploads.resolve()
    assert dest.read_text() == CSV and "/" not in dest.name and "\x00" not in dest.name
    assert len(dest.name) <= 120 and not dest.name.startswith(".")
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "evil.csv").exists()


def test_upload_file_with_a_hostile_name_on_disk(tmp_path):
    src = tmp_path / "in" / "..\\..\\evil\x01.csv"
    src.parent.mkdir()
    src.write_text(CSV)
    uploads = tmp_path / "uploads"
    dest = Path(data_tab.copy_upload(str(src), uploads))
    assert dest.parent.parent == uploads.resolve() and dest.name == "evil_.csv"
    assert data_tab.copy_upload("", uploads) == ""


# ---- texts ------------------------------------------------------------------------------------

NEW_KEYS = ["app.signed_in", "mask_pii", "mask_pii.help", "trust_remote_code",
            "trust_remote_code.help", "train.remote_code_warning", "queue.title", "queue.empty",
            "queue.col.position", "queue.col.name", "queue.col.owner", "queue.col.status",
            "queue.now", "queue.position", "queue.you", "queue.pick", "queue.pick.help",
            "queue.cancel", "queue.pick_none", "queue.cancelled", "train.not_yours",
            "train.resume", "train.resuming", "train.cannot_resume", "train.interrupted_resume",
            "train.queued_msg", "runs.delete", "runs.delete_confirm", "runs.delete_data",
            "runs.delete_yes", "runs.delete_no", "runs.deleted", "runs.deleted_files",
            "runs.delete_refused", "data.privacy_preview", "data.privacy_need_data",
            "data.privacy_counts", "data.privacy_nothing", "data.privacy_before",
            "data.privacy_after", "data.privacy_on"]


def test_every_new_text_has_english_and_chinese():
    for key in NEW_KEYS:
        assert key in TEXT, key
        assert CJK.search(TEXT[key]["zh"]), key
        assert t(key, "en") and not CJK.search(t(key, "en")), key
    assert t("mask_pii", "en") == "Mask personal data"
    assert t("trust_remote_code.help", "en").startswith("Allow a backbone")  # the field's help
