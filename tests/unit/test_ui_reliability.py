"""Several users, the visible queue, resume, delete and the privacy preview, as the studio's
callbacks see them (no browser, no model training): a studio built with sign-in (``auth``), a
JobManager with a fake training function that waits on an Event, and fake gradio requests that
carry ``.username`` (``as_user`` makes one the current request, as gradio does for a callback)."""

from __future__ import annotations

import contextlib
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
from engine.runs import RunStore, Viewer
from ui import data_tab, runs_tab, train_tab
from ui.app import build_app, signed_in_line
from ui.form import config_to_form
from ui.i18n import TEXT, t

CJK = re.compile(r"[\u4e00-\u9fff]")
CSV = (
    "text,label\n"
    + "\n".join(
        f"{'great fun and loved it' if i % 2 else 'dull and far too long'} #{i},"
        f"{'pos' if i % 2 else 'neg'}"
        for i in range(40)
    )
    + "\n"
)
ALICE, BOB = SimpleNamespace(username="alice"), SimpleNamespace(username="bob")
CAROL, ROOT = SimpleNamespace(username="carol"), SimpleNamespace(username="root")
NOBODY = SimpleNamespace(username=None)  # a studio started without --auth

GATE = threading.Event()  # a running fake job trains until this is set
SEEN: dict[str, dict] = {}  # run id -> the keyword arguments its training got (resume_from)


def gated_train(config, run, stop, **kwargs):
    """Stands in for engine.training.pipeline.train_run: 'trains' until GATE is set or Stop is pressed."""
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
    """A studio with sign-in (alice, bob, carol; root is the admin)."""
    root = tmp_path_factory.mktemp("studio")
    store = RunStore(root / "runs")
    demo = build_app(
        root / "runs", jobs=JobManager(store, train_fn=gated_train), auth=True, admins=("root",)
    )
    return demo, demo.adaptune, root


@pytest.fixture(scope="module")
def open_app(tmp_path_factory):
    """A studio without sign-in: everyone may see and do everything."""
    root = tmp_path_factory.mktemp("open-studio")
    demo = build_app(root / "runs", jobs=JobManager(RunStore(root / "runs"), train_fn=gated_train))
    return demo, demo.adaptune, root


@contextlib.contextmanager
def as_user(request):
    """``request`` as the current gradio request (what gradio sets around a callback)."""
    from gradio.context import LocalContext

    token = LocalContext.request.set(request)
    try:
        yield
    finally:
        LocalContext.request.reset(token)


def call(request, fn, *args, **kwargs):
    """A callback as ``request``'s user calls it (the request also passed when it takes one)."""
    import inspect

    with as_user(request):
        if "request" in inspect.signature(fn).parameters:
            kwargs.setdefault("request", request)
        return fn(*args, **kwargs)


@pytest.fixture(autouse=True)
def released_jobs(app, open_app):
    """Every test starts with an idle queue and leaves one behind."""
    GATE.clear()
    yield
    GATE.set()
    for studio in (app, open_app):
        jobs = studio[1].jobs
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
    run = ctx.jobs.submit(
        RunConfig(data="x.csv", run_name=name, output_dir=str(ctx.store.root)), owner=owner
    )
    return run


def create(ctx, owner: str, **values):
    """A run folder of ``owner`` (not queued)."""
    return ctx.store.store.create(RunConfig(data="x.csv", **values), owner=owner)


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


def test_started_runs_belong_to_the_signed_in_user(app, open_app, csv_file):
    _, ctx, _ = app
    start = ctx.fn["start_run"]
    hers, his = (str(ctx.store.uploads.keep(csv_file, user)) for user in ("alice", "bob"))
    refused, *_ = call(ALICE, start, "en", *form_args(ctx, data=his, run_name="x"), user="alice")
    assert "is not yours to use" in refused  # bob's upload (or any file outside hers)
    message, run_id, *_ = call(
        ALICE, start, "en", *form_args(ctx, data=hers, run_name="mine"), user="alice"
    )
    assert "msg-ok" in message and ctx.store.store.get(run_id).owner == "alice"
    wait_until(lambda: ctx.jobs.active == run_id)
    # a second run while the first trains: the message says where it waits
    message, second, *_ = call(
        BOB, start, "en", *form_args(ctx, data=his, run_name="later"), user="bob"
    )
    assert "Queued: position 1" in message, message
    assert ctx.store.store.get(second).owner == "bob"
    zh, third, *_ = call(BOB, start, "zh", *form_args(ctx, data=his, run_name="third"), user="bob")
    assert "第 2 位" in zh
    GATE.set()
    assert ctx.jobs.wait(third, timeout=10)
    GATE.clear()
    # without --auth: no owner
    _, open_ctx, _ = open_app
    message, free, *_ = open_ctx.fn["start_run"]("en", *form_args(open_ctx, data=str(csv_file)))
    assert open_ctx.store.get(free).owner == ""
    assert open_ctx.jobs.wait(free, timeout=10) or True


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
    # alice's jobs keep their places, but bob sees neither their names nor their owner
    assert cells == [
        ("other", ["training now", "another user&#x27;s job", "–", "running"]),
        ("mine", ["1", "b-run", "you", "queued"]),
        ("other", ["2", "another user&#x27;s job", "–", "queued"]),
    ]
    assert ">a-run<" not in table and "alice" not in table and a.id not in table
    assert "你" in train_tab.queue_html(jobs, "bob", "zh")
    choices = train_tab.queue_choices(jobs, "alice", "en")
    assert [v for _, v in choices] == [a.id, c.id]  # only her own jobs to cancel
    assert choices[0][0] == "a-run · training now · you"
    # the admin sees every job, with its owner
    admin = train_tab.queue_choices(jobs, Viewer("root", admin=True), "en")
    assert [v for _, v in admin] == [a.id, b.id, c.id]
    assert admin[1][0] == "b-run · position 1 · bob"
    assert (
        train_tab.queue_position(jobs, c.id) == 2 and train_tab.queue_position(jobs, a.id) is None
    )

    # the timer's refresh: skipped while nothing changes
    html_, pick, row, sig = call(BOB, ctx.fn["train_queue"], "en", b.id, "")
    assert "b-run" in html_ and pick["value"] == b.id and row["visible"]
    skipped = call(BOB, ctx.fn["train_queue"], "en", b.id, sig)
    assert skipped[0] is not None and not isinstance(skipped[0], str)  # gr.skip()

    # alice may not cancel bob's job: to her it does not exist; the job stays
    refused = call(ALICE, ctx.fn["train_cancel"], b.id, "en")
    assert "msg-error" in refused and "No run called" in refused
    assert store.store.get(b.id).status == "queued"
    # shared with her, she sees it but may not change it: a warning with the engine's message
    b.set_shared(True)
    refused = call(ALICE, ctx.fn["train_cancel"], b.id, "en")
    assert "msg-warning" in refused and "belongs to bob" in refused
    b.set_shared(False)
    done = call(BOB, ctx.fn["train_cancel"], b.id, "en")
    assert "msg-ok" in done and "Cancelled b-run" in done
    assert store.store.get(b.id).status == "stopped"
    assert [e["name"] for e in jobs.queue_view()] == ["a-run", "c-run"]
    assert [e["position"] for e in jobs.queue_view()] == [0, 1]
    html_, pick, row, sig2 = call(BOB, ctx.fn["train_queue"], "en", b.id, sig)
    assert "b-run" not in html_ and pick["value"] is None
    assert "msg-warning" in call(BOB, ctx.fn["train_cancel"], None, "en")
    assert "msg-warning" in call(BOB, ctx.fn["train_cancel"], b.id, "en")  # not active


def test_stop_refused_for_another_users_run(app, open_app):
    _, ctx, _ = app
    a = submit(ctx, "alices", "alice")
    wait_until(lambda: ctx.jobs.active == a.id)
    refused = call(BOB, ctx.fn["stop_run"], a.id, "en")
    assert "msg-error" in refused and "No run called" in refused and a.status == "running"
    a.set_shared(True)  # bob sees it now, but it is still alice's to stop
    refused = call(BOB, ctx.fn["stop_run"], a.id, "en")
    assert "msg-warning" in refused and "msg-error" not in refused
    assert f"{a.id} belongs to alice; only they (or an admin) can change it." in refused
    assert "Not your run" in refused and a.status == "running"
    assert "不是你的运行" in call(BOB, ctx.fn["stop_run"], a.id, "zh")
    assert "msg-ok" in call(ALICE, ctx.fn["stop_run"], a.id, "en")
    assert ctx.jobs.wait(a.id, timeout=10) and a.status == "stopped"
    # the admin may stop anyone's run
    c = submit(ctx, "carols", "carol")
    wait_until(lambda: ctx.jobs.active == c.id)
    assert "msg-ok" in call(ROOT, ctx.fn["stop_run"], c.id, "en")
    assert ctx.jobs.wait(c.id, timeout=10)
    # no --auth: anyone may stop any run
    _, open_ctx, _ = open_app
    b = submit(open_ctx, "bobs", "bob")
    wait_until(lambda: open_ctx.jobs.active == b.id)
    assert "msg-ok" in open_ctx.fn["stop_run"](b.id, "en", NOBODY)
    assert open_ctx.jobs.wait(b.id, timeout=10)
    html_, pick, row, _ = open_ctx.fn["train_queue"]("en", None, "", NOBODY)
    assert "Nothing is training or waiting" in html_ and row["visible"] is False


def test_attach_prefers_the_users_own_live_run(app):
    _, ctx, _ = app
    a = submit(ctx, "first", "alice")
    wait_until(lambda: ctx.jobs.active == a.id)
    b = submit(ctx, "second", "bob")
    with as_user(BOB):
        assert train_tab.pick_run_to_show(ctx.store, ctx.jobs, user="bob") == b.id
    with as_user(CAROL):  # nobody else's run to see
        assert train_tab.pick_run_to_show(ctx.store, ctx.jobs, user="carol") not in (a.id, b.id)
    with as_user(ROOT):
        assert train_tab.pick_run_to_show(ctx.store, ctx.jobs, user="root") == a.id
    attached = call(ALICE, ctx.fn["train_attach"], "en")
    assert attached[0] == a.id
    assert len(attached) == len(ctx.c["train_attach_outputs"])


# ---- resume -----------------------------------------------------------------------------------


def test_resume_button_and_resume_from_the_checkpoint(app):
    _, ctx, _ = app
    store, jobs = ctx.store, ctx.jobs
    run = create(ctx, "alice", run_name="crashed")
    run.set_status("interrupted", error="The server stopped while this run was active.")
    run.append_event("log", step=8, loss=0.5)
    button = call(ALICE, train_tab.resume_button, store, jobs, run.id, "alice", "en")
    assert button["visible"] is False
    ckpt = with_checkpoint(run, 5)

    with as_user(ALICE):
        button = train_tab.resume_button(store, jobs, run.id, "alice", "en")
        assert button["visible"] and button["value"] == "↻ Resume from step 5"
        assert "5" in train_tab.resume_button(store, jobs, run.id, "alice", "zh")["value"]
        assert train_tab.resume_button(store, jobs, None, "alice", "en")["visible"] is False
    with as_user(BOB):
        assert train_tab.resume_button(store, jobs, run.id, "bob", "en")["visible"] is False
    with as_user(ROOT):
        assert train_tab.resume_button(store, jobs, run.id, Viewer("root", admin=True), "en")[
            "visible"
        ]
    status = train_tab.status_html(run, run.events(), "interrupted", "en")
    assert "resume it from its last checkpoint" in status
    # the Runs tab shows the same button for the selected run
    assert call(ALICE, ctx.fn["runs_resume_state"], [run.id], "en")["visible"]
    assert call(ALICE, ctx.fn["runs_resume_state"], [], "en")["visible"] is False

    refused, *_ = call(BOB, ctx.fn["train_resume"], run.id, "en")
    assert "msg-warning" in refused and "No run called" in refused
    message, run_id, timer = call(ALICE, ctx.fn["train_resume"], run.id, "en")
    assert "msg-ok" in message and "step 5" in message and run_id == run.id
    wait_until(lambda: run.id in SEEN)
    assert SEEN[run.id]["resume_from"] == ckpt  # the same folder continues
    with as_user(ALICE):
        assert train_tab.resume_button(store, jobs, run.id, "alice", "en")["visible"] is False
    again, *_ = call(ALICE, ctx.fn["train_resume"], run.id, "en")  # already queued / running
    assert "msg-warning" in again and "Cannot resume" in again
    GATE.set()
    assert jobs.wait(run.id, timeout=10) and run.status == "completed"
    assert [e["from_step"] for e in run.events("resume")] == [5]
    # the Train tab's panel: shown, then skipped while nothing changes
    *panel, resume, sig = call(ALICE, ctx.fn["train_show"], run.id, "en")
    assert resume["visible"] is False and sig.endswith(":completed")
    ticked = call(ALICE, ctx.fn["train_tick"], run.id, "en", sig)
    assert len(ticked) == len(panel) + 3


def test_resume_from_the_runs_tab_and_what_cannot_resume(app):
    _, ctx, _ = app
    run = create(ctx, "bob", run_name="failed-one")
    run.set_status("failed", error="boom")
    with_checkpoint(run, 12)
    text, train_msg, button, tabs, run_id, timer = call(BOB, ctx.fn["runs_resume"], [run.id], "en")
    assert "msg-ok" in text and text == train_msg and run_id == run.id
    assert button["visible"] is False and timer.active
    bare = create(ctx, "bob", run_name="bare")
    bare.set_status("stopped")
    text, *rest = call(BOB, ctx.fn["runs_resume"], [bare.id], "en")
    assert "no checkpoint to resume from" in text and "msg-warning" in text
    assert "msg-warning" in call(BOB, ctx.fn["runs_resume"], [], "en")[0]
    # a run started before sign-in was switched on (no owner) is the admins' only
    old = create(ctx, "", run_name="from-before")
    old.set_status("failed")
    with_checkpoint(old, 3)
    assert "No run called" in call(BOB, ctx.fn["runs_resume"], [old.id], "en")[0]
    assert "msg-ok" in call(ROOT, ctx.fn["runs_resume"], [old.id], "en")[0]


# ---- delete -----------------------------------------------------------------------------------


def _uploaded(ctx, name: str, digest: str, user: str = "alice") -> Path:
    path = ctx.store.uploads.folder(user) / digest / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CSV)
    return path.resolve()


def test_delete_with_and_without_its_data_file(app):
    _, ctx, _ = app
    store = ctx.store
    mine = _uploaded(ctx, "mine.csv", "aaa111")
    kept = _uploaded(ctx, "kept.csv", "bbb222")
    one = ctx.store.store.create(RunConfig(data=str(mine), run_name="one"), owner="alice")
    two = ctx.store.store.create(RunConfig(data=str(kept), run_name="two"), owner="alice")
    for run in (one, two):
        run.set_status("completed")

    visible, question, message, pending = call(
        ALICE, ctx.fn["runs_ask_delete"], [one.id, two.id], "en"
    )
    assert visible["visible"] and "Delete 2 run(s): one, two?" in question
    assert pending == [one.id, two.id]
    assert call(ALICE, ctx.fn["runs_ask_delete"], [], "en")[0]["visible"] is False

    text, confirm, pending = call(ALICE, ctx.fn["runs_delete"], [one.id], True, "en")
    assert pending == []
    assert "msg-ok" in text and "Deleted: one" in text and "data files removed: 1" in text
    assert not one.path.exists() and not mine.exists() and confirm["visible"] is False
    text, *_ = call(ALICE, ctx.fn["runs_delete"], [two.id], False, "en")
    assert "Deleted: two" in text and "data files" not in text
    assert not two.path.exists() and kept.exists()
    with as_user(ALICE):
        assert one.id not in set(runs_tab.runs_table(store, "en")["Name"])


def test_delete_refused_for_another_user_and_a_running_run(app):
    _, ctx, _ = app
    store = ctx.store
    hers = create(ctx, "alice", run_name="hers")
    hers.set_status("completed")
    hers.set_shared(True)  # bob sees it, but it is alice's to delete
    text = call(BOB, runs_tab.delete_runs, store, [hers.id], True, "en")
    assert "msg-warning" in text and "belongs to alice" in text and "Not deleted" in text
    assert hers.path.exists()
    live = submit(ctx, "live", "bob")
    wait_until(lambda: ctx.jobs.active == live.id)
    text, *_ = call(BOB, ctx.fn["runs_delete"], [live.id, hers.id], True, "en")
    assert "stop it first" in text and "belongs to alice" in text and "msg-ok" not in text
    assert live.path.exists()
    zh = call(BOB, runs_tab.delete_runs, store, [hers.id], False, "zh")
    assert "未删除" in zh
    GATE.set()
    assert ctx.jobs.wait(live.id, timeout=10)
    text, *_ = call(BOB, ctx.fn["runs_delete"], [live.id, "no-such-run"], True, "en")
    assert "Deleted: live" in text and "no-such-run" in text
    assert not live.path.exists()


# ---- privacy ----------------------------------------------------------------------------------


def test_privacy_preview_counts_and_before_after(tmp_path):
    rows = [
        ("Write to ann.lee@example.org about it", "pos"),
        ("See https://shop.example.com/item?id=7 now", "neg"),
        ("Call me on +44 20 7946 0958 please", "pos"),
        ("Account 12345678 was charged twice", "neg"),
        ("Plain text with a year 2024 and 3 stars", "pos"),
        ("nothing here at all", "neg"),
    ] * 3
    path = tmp_path / "pii.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    summary, table = data_tab.privacy_preview(str(path), "text", "en")
    assert "msg-info" in summary
    assert (
        "Masking changes 12 of 18 texts: 3 e-mail address(es), 3 URL(s), "
        "3 phone number(s), 3 long number(s)" in summary
    )
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
    for elem in (
        "cfg-mask-pii",
        "cfg-trust-remote-code",
        "data-privacy-preview",
        "data-privacy-table",
        "train-queue",
        "train-queue-pick",
        "train-queue-cancel",
        "train-resume",
        "train-remote-code-warning",
        "runs-resume",
        "runs-delete",
        "runs-delete-data",
        "runs-delete-yes",
        "runs-delete-no",
        "user-line",
    ):
        assert elem in ids, elem
    assert data_tab._privacy_visible("classification")
    assert not data_tab._privacy_visible("ner")
    warning = ctx.fn["remote_code_warning"](True, "en")
    assert "msg-warning" in warning and "run that code on this machine" in warning
    assert ctx.fn["remote_code_warning"](False, "en") == ""
    assert CJK.search(ctx.fn["remote_code_warning"](True, "zh"))


# ---- uploads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../../x.csv",
        "..\\..\\x.csv",
        "/etc/passwd",
        "..",
        ".",
        "a\x00b.csv",
        "sub/dir/../../../evil.csv",
        "",
        " .hidden.csv",
        "x" * 300 + ".csv",
    ],
)
def test_upload_names_stay_inside_the_uploads_folder(tmp_path, csv_file, name):
    from engine.uploads import Uploads

    uploads = tmp_path / "runs" / "_uploads"
    dest = Uploads(uploads).keep(str(csv_file), name=name)
    assert uploads.resolve() in dest.resolve().parents
    assert dest.parent.parent == uploads.resolve()
    assert dest.read_text() == CSV and "/" not in dest.name and "\x00" not in dest.name
    assert len(dest.name) <= 120 and not dest.name.startswith(".")
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "evil.csv").exists()


def test_upload_file_with_a_hostile_name_on_disk(tmp_path):
    src = tmp_path / "in" / "..\\..\\evil\x01.csv"
    src.parent.mkdir()
    src.write_text(CSV)
    from engine.uploads import Uploads

    uploads = tmp_path / "uploads"
    dest = Uploads(uploads).keep(str(src))
    assert dest.parent.parent == uploads.resolve() and dest.name == "evil_.csv"


# ---- texts ------------------------------------------------------------------------------------

NEW_KEYS = [
    "app.signed_in",
    "mask_pii",
    "mask_pii.help",
    "trust_remote_code",
    "trust_remote_code.help",
    "train.remote_code_warning",
    "queue.title",
    "queue.empty",
    "queue.col.position",
    "queue.col.name",
    "queue.col.owner",
    "queue.col.status",
    "queue.now",
    "queue.position",
    "queue.you",
    "queue.pick",
    "queue.pick.help",
    "queue.cancel",
    "queue.pick_none",
    "queue.cancelled",
    "train.not_yours",
    "train.resume",
    "train.resuming",
    "train.cannot_resume",
    "train.interrupted_resume",
    "train.queued_msg",
    "runs.delete",
    "runs.delete_confirm",
    "runs.delete_data",
    "runs.delete_yes",
    "runs.delete_no",
    "runs.deleted",
    "runs.deleted_files",
    "runs.delete_refused",
    "data.privacy_preview",
    "data.privacy_need_data",
    "data.privacy_counts",
    "data.privacy_nothing",
    "data.privacy_before",
    "data.privacy_after",
    "data.privacy_on",
]


def test_every_new_text_has_english_and_chinese():
    for key in NEW_KEYS:
        assert key in TEXT, key
        assert CJK.search(TEXT[key]["zh"]), key
        assert t(key, "en") and not CJK.search(t(key, "en")), key
    assert t("mask_pii", "en") == "Mask personal data"
    assert t("trust_remote_code.help", "en").startswith("Allow a backbone")  # the field's help
