"""Users isolated from each other (--auth): what one user may see, use and change of another's
runs and files, checked in the engine (one check function, engine.runs) and on a real studio
server (in-process, signed in through its login form): every named API endpoint that takes a run
walked as bob against alice's run, the file routes, the login page, Host / Origin checks, login
throttling, uploads, deletion with the temporary copies, quotas, dead processes, and the smaller
findings of the isolation issue (disk-full text, error logs, bidi names, trust remote code)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engine.config import HpoConfig, RunConfig
from engine.errors import AccessError, QuotaError, human_error, is_disk_full
from engine.runs import (
    EVERYONE,
    NOBODY,
    RunStore,
    Viewer,
    check_run,
    may_read,
    may_write,
    safe_filename,
)

from tests.conftest import REPO, write_two_class_csv

ALICE, BOB, ROOT = Viewer("alice"), Viewer("bob"), Viewer("root", admin=True)
SECRET = "ALICE-PRIVATE-TEXT-4242"
USERS = {"alice": "pw-alice", "bob": "pw-bob", "root": "pw-root"}


def _runs(tmp_path: Path):
    store = RunStore(tmp_path / "runs")
    a = store.create(RunConfig(data="x.csv", run_name="hers"), owner="alice")
    b = store.create(RunConfig(data="x.csv", run_name="his"), owner="bob")
    old = store.create(RunConfig(data="x.csv", run_name="before-auth"))
    for r in (a, b, old):
        r.set_status("completed")
    return store, a, b, old


# ---- the one check --------------------------------------------------------------------------------


def test_who_may_read_and_write_which_run(tmp_path):
    store, a, b, old = _runs(tmp_path)
    assert may_read(a, ALICE) and may_write(a, ALICE)
    assert not may_read(a, BOB) and not may_write(a, BOB)
    assert may_read(a, ROOT) and may_write(a, ROOT)  # an admin: everything
    assert may_read(a, EVERYONE) and may_write(a, EVERYONE)  # no sign-in: everything
    assert not may_read(a, NOBODY)  # the page being built: nothing
    assert not may_read(old, ALICE) and may_read(old, ROOT)  # no owner: the admins' only
    a.set_shared(True)
    assert may_read(a, BOB) and not may_write(a, BOB)  # shared: seen, not changed
    with pytest.raises(AccessError, match="belongs to alice") as info:
        check_run(a, BOB, write=True)
    assert info.value.key == "access.not_yours" and isinstance(info.value, PermissionError)
    a.set_shared(False)
    with pytest.raises(KeyError, match="No run called"):  # to bob it does not exist
        check_run(a, BOB)
    view = store.view(BOB)
    assert [r.id for r in view.list()] == [b.id]
    with pytest.raises(KeyError):
        view.get(a.id)
    with pytest.raises(KeyError):
        view.delete(a.id)
    assert a.path.exists()
    assert {r.id for r in store.view(ROOT).list()} == {a.id, b.id, old.id}


def test_settings_that_reach_another_users_files_are_refused(tmp_path):
    store, a, b, _ = _runs(tmp_path)
    (a.path / "model").mkdir()
    csv = write_two_class_csv(tmp_path / "t.csv")
    hers = store.uploads.keep(csv, "alice")
    his = store.uploads.keep(csv, "bob")
    bob = store.view(BOB, public=(REPO / "sample_data",))
    assert bob.may_read_path(his) and not bob.may_read_path(hers)
    assert bob.may_read_path(REPO / "sample_data" / "reviews_sentiment.csv")
    assert not bob.may_read_path("/etc/hostname")  # a file of the server
    assert not bob.may_read_path(a.path / "config.json")
    bad = [
        RunConfig(data=str(hers)),
        RunConfig(data=str(his), test_data="/etc/passwd"),
        RunConfig(data=str(his), backbone=f"run:{a.path}"),
        RunConfig(data=str(his), backbone=str(a.path / "model")),
        RunConfig(data=str(his), warm_start=a.id),
        RunConfig(data=str(his), trust_remote_code=True),
        HpoConfig(data=str(his), storage="sqlite:////tmp/x.db"),
        HpoConfig(data=str(his), study_name="alices-study"),
    ]
    for cfg in bad:
        with pytest.raises(AccessError):
            bob.check_config(cfg)
    for cfg in (
        RunConfig(data=str(his)),
        RunConfig(data=str(his), backbone="org/some-hub-id"),
        RunConfig(data=str(his), warm_start=b.id),
    ):
        bob.check_config(cfg)  # his own file, a hub id, his own run
    store.view(ROOT).check_config(bad[0])  # the admin may
    clean, dropped = bob.sanitized(
        RunConfig(data=str(hers), backbone=f"run:{a.path}", run_name="kept")
    )
    assert (
        dropped == ["data", "backbone"]
        and clean.data == ""
        and clean.backbone == RunConfig().backbone
        and clean.run_name == "kept"
    )


# ---- uploads, deleting, quotas --------------------------------------------------------------


def test_uploads_per_user_quota_and_deleted_means_deleted(tmp_path):
    store = RunStore(tmp_path / "runs", upload_quota=3000)
    uploads = store.uploads
    temp = uploads.temp_dir / "0123abcd"
    temp.mkdir(parents=True)
    arrived = temp / "reviews.csv"  # gradio's copy as the upload arrived
    arrived.write_text("text,label\n" + f"{SECRET},pos\n" * 20)
    kept = uploads.keep(arrived, "alice")
    assert kept.parent.parent.name == "u-alice" and uploads.usage("alice") == kept.stat().st_size
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 2500)
    with pytest.raises(QuotaError, match="quota of 0 MB") as info:  # 3000 bytes
        uploads.keep(big, "alice")
    assert info.value.key == "uploads.quota"
    assert uploads.keep(big, "bob").exists()  # bob has a quota of his own

    run = store.create(RunConfig(data=str(kept), run_name="hers"), owner="alice")
    (run.path / "predictions").mkdir()
    preds = run.path / "predictions" / "out.csv"
    preds.write_text(f"{SECRET},pos\n")
    handed = uploads.temp_dir / "feed" / "out.csv"  # a download handed out from the run
    handed.parent.mkdir()
    handed.write_bytes(preds.read_bytes())
    unrelated = uploads.temp_dir / "beef" / "other.csv"
    unrelated.parent.mkdir()
    unrelated.write_text("someone else's upload\n")
    run.set_status("completed")
    removed = store.delete(run.id, "alice", with_data=True)
    for path in (kept, arrived, handed, run.path):
        assert not path.exists(), path
        assert str(path) in removed or str(path.resolve()) in removed
    assert unrelated.exists()
    assert not any(
        SECRET in p.read_text(errors="ignore")
        for p in (tmp_path / "runs").rglob("*")
        if p.is_file()
    )

    # the temporary folder: copies older than a day go, all of them at start-up
    old = unrelated
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    fresh = uploads.temp_dir / "cafe" / "new.csv"
    fresh.parent.mkdir()
    fresh.write_text("x\n")
    assert uploads.purge_temp() == [str(old)] and fresh.exists()
    older = fresh.with_name("older.csv")
    older.write_text("x")
    os.utime(older, (time.time() - 2 * 86400,) * 2)
    purger = uploads.keep_purging(every=0.05)  # what a long-running studio does hourly
    deadline = time.time() + 10
    while older.exists() and time.time() < deadline:
        time.sleep(0.05)
    purger.stop.set()
    assert not older.exists() and fresh.exists()
    uploads.purge_temp(older_than=None)
    assert not any(uploads.temp_dir.rglob("*"))


def test_upload_names_lose_bidi_and_format_characters():
    assert safe_filename("report\u202efdp.csv") == "report_fdp.csv"
    assert safe_filename("a\u2066b\u200fc\ufeff.csv") == "a_b_c_.csv"
    assert safe_filename("évaluation 2024.csv") == "évaluation 2024.csv"  # letters stay


# ---- dead processes, errors, logs ---------------------------------------------------------


def test_a_run_whose_process_was_killed_reads_as_interrupted(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create(RunConfig(data="x.csv", run_name="cli-run"))
    code = (
        "import sys, time; from engine.runs import Run; r = Run(__import__('pathlib')."
        "Path(sys.argv[1])); r.set_status('running'); print('up', flush=True); "
        "time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(run.path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "up"
    assert run.status == "running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert run.recorded_status()["status"] == "running" and run.status == "interrupted"
    assert "has gone" in run.status_info()["error"]
    out = subprocess.run(
        [sys.executable, "-m", "engine", "runs", "--output-dir", str(store.root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = [x for x in out.stdout.splitlines() if run.id in x][0]
    assert "interrupted" in line and "running" not in line


def test_every_full_disk_reads_the_same_sentence():
    from safetensors import SafetensorError

    deep = SafetensorError(
        "Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
        'message: "No space left on device" })'
    )
    assert is_disk_full(deep) and human_error(deep).startswith("The disk is full")
    wrapped = RuntimeError("saving failed")
    wrapped.__cause__ = OSError(28, "No space left on device")
    assert human_error(wrapped).startswith("The disk is full")
    assert not is_disk_full(ValueError("28 rows"))
    from ui.common import error_message

    assert "磁盘已满" in error_message(deep, "zh")


def test_a_cli_bug_is_logged_inside_the_runs_folder(tmp_path, monkeypatch, capsys):
    from engine import cli

    def boom(args):
        raise RuntimeError("an unexpected bug")

    monkeypatch.setattr(cli, "cmd_runs", boom)
    assert cli.main(["runs", "--output-dir", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    logs = list((tmp_path / "runs" / "_logs").glob("error-*.log"))
    assert len(logs) == 1 and "an unexpected bug" in logs[0].read_text()
    assert str(logs[0]) in err and "Traceback" not in err
    assert oct(logs[0].stat().st_mode & 0o777) == "0o600"


# ---- trust remote code ----------------------------------------------------------------------

CUSTOM_CONFIG = """from transformers import BertConfig


class CustomBertConfig(BertConfig):
    model_type = "adaptune-custom-bert"
"""
CUSTOM_MODEL = """from transformers import BertForSequenceClassification, BertModel

from .configuration_custom import CustomBertConfig


class CustomBertModel(BertModel):
    config_class = CustomBertConfig


class CustomBertForSequenceClassification(BertForSequenceClassification):
    config_class = CustomBertConfig
"""


@pytest.fixture(scope="module")
def remote_code_model(tmp_path_factory, tiny_encoder) -> Path:
    """The tiny BERT as a model that ships its own code (config.json auto_map)."""
    import shutil

    out = tmp_path_factory.mktemp("custom-code-model")
    for f in tiny_encoder.iterdir():
        shutil.copy(f, out / f.name)
    (out / "configuration_custom.py").write_text(CUSTOM_CONFIG)
    (out / "modeling_custom.py").write_text(CUSTOM_MODEL)
    cfg = json.loads((out / "config.json").read_text())
    cfg.update(
        model_type="adaptune-custom-bert",
        auto_map={
            "AutoConfig": "configuration_custom.CustomBertConfig",
            "AutoModel": "modeling_custom.CustomBertModel",
            "AutoModelForSequenceClassification": "modeling_custom.CustomBertForSequenceClassification",
        },
    )
    (out / "config.json").write_text(json.dumps(cfg))
    return out


def test_trust_remote_code_works_when_ticked(remote_code_model, tmp_path):
    from engine.backbones import BackboneError
    from engine.training.pipeline import preflight, train_run

    data = write_two_class_csv(tmp_path / "d.csv")
    cfg = RunConfig(
        data=str(data),
        backbone=str(remote_code_model),
        strategy="full",
        max_steps=2,
        batch_size=8,
        max_length=16,
        output_dir=str(tmp_path / "runs"),
    )
    with pytest.raises(BackboneError, match="(?i)own .*code|remote code"):
        preflight(cfg)  # refused unless ticked
    cfg.trust_remote_code = True
    preflight(cfg)  # checking support reads the model's own config class now
    run = RunStore(cfg.output_dir).create(cfg)
    train_run(cfg, run)
    assert run.status == "completed", run.status_info()


# ---- a real studio, two users ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_encoder):
    """A signed-in studio (alice, bob, and root as admin) with alice's finished run, trained on
    her own upload, served on a free loopback port as app.py serves it."""
    from engine.training.pipeline import train_run
    from ui.app import build_app, launch_kwargs

    root = tmp_path_factory.mktemp("isolation")
    runs = root / "runs"
    store = RunStore(runs)
    csv = write_two_class_csv(root / "alice.csv")
    with open(csv, "a", encoding="utf-8") as fh:
        fh.write(f"{SECRET} one,pos\n{SECRET} two,neg\n")
    data = store.uploads.keep(csv, "alice")
    cfg = RunConfig(
        data=str(data),
        backbone=str(tiny_encoder),
        output_dir=str(runs),
        strategy="full",
        max_steps=4,
        batch_size=8,
        max_length=32,
        evaluations_per_epoch=1,
        run_name="alice-secret-run",
    )
    run = store.create(cfg, owner="alice")
    train_run(cfg, run)
    assert run.status == "completed"
    before = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(store.uploads.temp_dir)  # as app.py sets it
    demo = build_app(runs, auth=True, admins=("root",))
    demo.queue()
    port = _free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        auth=list(USERS.items()),
        **launch_kwargs(demo, "127.0.0.1"),
    )
    try:
        yield {
            "url": f"http://127.0.0.1:{port}/",
            "run": run,
            "data": data,
            "demo": demo,
            "store": store,
        }
    finally:
        demo.close()
        if before is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = before


def _signed_in(url: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    r = client.post("login", data={"username": user, "password": USERS[user]})
    assert r.status_code == 200, r.text
    return client


def _tree(folder: Path) -> dict:
    return {str(p): p.stat().st_mtime for p in folder.rglob("*")}


RUN_PARAMS = {
    "run_id",
    "run_ids",
    "run_dir",
    "folder",
    "current",
    "selected",
    "run_value",
    "explain_value",
}


def test_every_endpoint_that_takes_a_run_refuses_bob_on_alices_run(studio):
    """The walk: each named API endpoint with a run parameter, called as bob with alice's run
    (her id, her folder) and every other parameter at its default: nothing of hers comes back
    (her run's name, her data, her run folder), and nothing in her folder changes."""
    from gradio_client import Client

    run = studio["run"]
    before = _tree(run.path)
    client = Client(studio["url"], auth=("bob", USERS["bob"]), verbose=False)
    info = client.view_api(return_format="dict", print_info=False)
    walked = []
    for name, endpoint in info["named_endpoints"].items():
        params = endpoint["parameters"]
        if not any(p.get("parameter_name") in RUN_PARAMS for p in params):
            continue
        args = []
        for p in params:
            pname = p.get("parameter_name")
            if pname in ("run_ids", "selected"):
                args.append([run.id])
            elif pname in ("run_dir", "folder", "run_value", "explain_value"):
                args.append(str(run.path))
            elif pname in RUN_PARAMS:
                args.append(run.id)
            else:
                args.append(p.get("parameter_default") if p.get("parameter_has_default") else None)
        try:
            out = client.predict(*args, api_name=name)
        except Exception as e:  # noqa: BLE001 - gradio refusing the value is a refusal too
            out = f"refused: {e}"
        # (the id bob sent may come back in a refusal; anything more of hers may not)
        text = json.dumps(out, default=str).replace(run.id, "<the id bob sent>")
        for leak in ("alice-secret-run", SECRET, str(studio["data"])):
            assert leak not in text, (name, leak, text[:400])
        walked.append(name)
    print(f"named API endpoints with a run parameter walked as bob: {len(walked)}")
    assert len(walked) >= 25, walked  # the walk reached the tabs' run endpoints
    for must in (
        "/export_run",
        "/batch_predict",
        "/export_zip",
        "/load_run_config",
        "/cancel_queued",
        "/share_selected",
        "/on_run",
        "/on_predict",
        "/explain_cb",
        "/add_run_cb",
        "/pick_cb",
        "/load_into_train",
    ):
        assert must in walked, must
    assert _tree(run.path) == before, "bob's calls changed alice's run folder"
    assert run.status == "completed" and not run.shared
    # alice herself gets her run through the same API
    own = Client(studio["url"], auth=("alice", USERS["alice"]), verbose=False)
    mine = own.predict(run.id, "en", None, None, None, False, api_name="/export_summary")
    assert "alice-secret-run" in json.dumps(mine, default=str)


# the widgets that hold a run (an id, ids, a folder, or a model "run:FOLDER")
RUN_PICKERS = {
    "eval-run",
    "export-run",
    "runs-select",
    "train-past-run",
    "train-queue-pick",
    "play-run",
    "play-explain-run",
    "automl-trial-pick",
    "play-model",
    "play-compare",
    "train-backbone",
    "adapt-cfg-backbone",
}


def test_every_callback_that_takes_a_run_refuses_bob_past_gradios_own_checks(studio):
    """The same walk one layer down: every event of the page (named or not) with a run widget
    among its inputs, called as bob the way gradio calls it after its own input checks (which
    already refuse a value not in a list bob was shown), so the studio's check alone stands
    between bob and alice's run."""
    import asyncio

    import gradio as gr

    demo, run = studio["demo"], studio["run"]
    before = _tree(run.path)
    ctx = demo.adaptune
    bob = gr.Request(username="bob", session_hash="bob-walk")

    def value_for(comp):
        if comp is ctx.run_id:
            return run.id
        elem = getattr(comp, "elem_id", None)
        if elem in ("play-model", "play-compare", "train-backbone", "adapt-cfg-backbone"):
            return f"run:{run.path}"
        if elem == "runs-select":
            return [run.id]
        if elem in ("play-run", "play-explain-run", "automl-trial-pick"):
            return str(run.path)
        return run.id

    async def call(block_fn, inputs):
        outputs, iterator = [], None
        for _ in range(50):
            out = await demo.call_function(block_fn, inputs, iterator=iterator, requests=bob)
            outputs.append(out["prediction"])
            iterator = out["iterator"]
            if not out["is_generating"] or iterator is None:
                break
        return outputs

    walked = 0
    for block_fn in demo.fns.values():
        inputs = list(block_fn.inputs)
        picked = [
            c for c in inputs if c is ctx.run_id or getattr(c, "elem_id", None) in RUN_PICKERS
        ]
        if not picked or block_fn.fn is None:
            continue
        args = [value_for(c) if c in picked else getattr(c, "value", None) for c in inputs]
        try:
            outputs = asyncio.run(call(block_fn, args))
        except Exception as e:  # noqa: BLE001 - failing on bob's value is a refusal too
            outputs = [f"refused: {type(e).__name__}: {e}"]
        text = json.dumps(outputs, default=str).replace(run.id, "<the id bob sent>")
        for leak in ("alice-secret-run", SECRET, str(studio["data"])):
            assert leak not in text, (block_fn.name, leak, text[:400])
        walked += 1
    print(f"page callbacks with a run input walked as bob: {walked}")
    assert walked >= 40, walked
    assert _tree(run.path) == before, "bob's calls changed alice's run folder"
    assert run.status == "completed" and not run.shared


def test_files_are_served_only_to_whom_they_were_handed(studio):
    run = studio["run"]
    bob, alice = _signed_in(studio["url"], "bob"), _signed_in(studio["url"], "alice")
    # 2. nothing under the runs folder is served, to anyone
    for path in (
        run.path / "config.json",
        run.path / "events.jsonl",
        run.path / "status.json",
        studio["data"],
    ):
        for who in (bob, alice):
            r = who.get(f"gradio_api/file={path}")
            assert r.status_code == 404 and SECRET not in r.text, (path, r.status_code)
    # 1. bob's uploaded HTML: never rendered from the studio's origin
    page = b"<html><script>fetch('/gradio_api/call/cancel_queued')</script>x</html>"
    for name in ("report.html", "image.svg"):
        r = bob.post("gradio_api/upload", files={"files": (name, page, "text/html")})
        assert r.status_code == 200, r.text
        path = r.json()[0]
        r = alice.get(f"gradio_api/file={path}")
        assert r.status_code == 404  # not hers
        r = bob.get(f"gradio_api/file={path}")
        assert r.status_code == 200 and r.content == page
        assert r.headers["content-disposition"].startswith("attachment")
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]
    # a remote URL through the file route: never fetched
    assert bob.get("gradio_api/file=https://example.com/x.html").status_code == 404
    # every answer carries the headers
    r = bob.get("")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'self'" in r.headers["content-security-policy"]


def test_a_download_is_handed_to_its_user_only(studio):
    from gradio_client import Client

    run = studio["run"]
    alice = Client(studio["url"], auth=("alice", USERS["alice"]), verbose=False)
    # the studio's own zip of a fresh export: alice exports, zips, downloads; bob cannot
    out = alice.predict(
        run.id, ["int8"], 0.5, "en", None, None, None, False, api_name="/export_run"
    )
    assert "int8" in json.dumps(out, default=str)
    zipped = alice.predict(run.id, "int8", "en", api_name="/export_zip")
    zip_path = zipped[0] if isinstance(zipped, (list, tuple)) else zipped
    assert zip_path and Path(zip_path).name.endswith(".zip")
    served = httpx.Client(base_url=studio["url"])
    cache = Path(studio["store"].uploads.temp_dir)
    copies = [p for p in cache.rglob("*.zip")]
    assert copies, "the zip was not handed out through the temporary folder"
    a, b = _signed_in(studio["url"], "alice"), _signed_in(studio["url"], "bob")
    assert a.get(f"gradio_api/file={copies[0]}").status_code == 200
    assert b.get(f"gradio_api/file={copies[0]}").status_code == 404
    assert served.get(f"gradio_api/file={copies[0]}").status_code == 401  # not signed in


def test_nothing_before_sign_in_and_sign_in_is_throttled(studio):
    anon = httpx.Client(base_url=studio["url"], timeout=30)
    r = anon.get("")
    assert r.status_code == 200 and 'id="login-form"' in r.text
    for leak in (
        "gradio_api_info",
        "gradio_config",
        studio["run"].id,
        "alice-secret-run",
        str(studio["store"].root),
        str(REPO),
    ):
        assert leak not in r.text, leak
    for path in (
        "config",
        "gradio_api/info",
        "gradio_api/openapi.json",
        "gradio_api/queue/data",
        f"gradio_api/file={studio['run'].path / 'config.json'}",
        "gradio_api/upload",
    ):
        assert anon.get(path).status_code in (401, 405), path
    assert anon.post("gradio_api/upload", files={"files": ("a.csv", b"a")}).status_code == 401
    zh = anon.get("", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert "用户名" in zh.text
    # 30 wrong passwords: after the first few, each waits (429 with Retry-After), quickly
    codes = []
    started = time.time()
    for _ in range(30):
        codes.append(
            anon.post("login", data={"username": "carol-guess", "password": "nope"}).status_code
        )
    assert codes[:5] == [400] * 5 and codes.count(429) >= 20, codes
    assert time.time() - started < 20
    r = anon.post("login", data={"username": "carol-guess", "password": "nope"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # the guesses locked the name they guessed at, not alice (an address gets 20 free tries)
    ok = anon.post("login", data={"username": "alice", "password": USERS["alice"]})
    assert ok.status_code == 200


def test_host_and_origin_are_checked(studio):
    url = studio["url"]
    bob = _signed_in(url, "bob")
    evil = httpx.Client(base_url=url, headers={"host": "attacker.example"}, timeout=30)
    assert evil.get("").status_code == 403  # DNS rebinding: a foreign Host name
    r = bob.post(
        "gradio_api/upload",
        files={"files": ("a.csv", b"text,label\n")},
        headers={"origin": "http://attacker.example"},
    )
    assert r.status_code == 403  # a cross-site upload
    r = bob.get("config", headers={"origin": "http://attacker.example"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    same = bob.post(
        "gradio_api/upload",
        files={"files": ("a.csv", b"text,label\n")},
        headers={"origin": url.rstrip("/")},
    )
    assert same.status_code == 200


def test_without_sign_in_the_host_and_origin_checks_hold_too(tmp_path):
    from ui.app import build_app, launch_kwargs

    demo = build_app(tmp_path / "runs")
    demo.queue()
    port = _free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **launch_kwargs(demo, "127.0.0.1"),
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        assert httpx.get(url, timeout=30).status_code == 200
        assert httpx.get(url, headers={"host": "rebind.example"}, timeout=30).status_code == 403
        r = httpx.post(
            url + "gradio_api/upload",
            files={"files": ("a.html", b"<script>")},
            headers={"origin": "http://evil.example"},
            timeout=30,
        )
        assert r.status_code == 403 and not any((tmp_path / "runs").rglob("a.html"))
        r = httpx.options(
            url + "gradio_api/upload",
            headers={"origin": "http://evil.example", "access-control-request-method": "POST"},
            timeout=30,
        )
        assert r.headers.get("access-control-allow-origin") != "http://evil.example"
    finally:
        demo.close()
