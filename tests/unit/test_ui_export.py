"""The Export tab (ui/export_tab.py) called as plain functions, on tiny runs (a 2-layer random
BERT, a few steps, full and LoRA): several formats exported into one comparison table read back
from disk, plain-words verdicts, the engine's messages for impossible exports, the model card,
the zip, a Hub push refused offline without the token landing anywhere, batch prediction with
formula escaping and a wrong column, a warm-start retrain through the job queue with its
old-vs-new table, the serve command, and every new text in Chinese."""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest

from engine import export as E
from engine.config import RunConfig
from engine.jobs import JobManager
from engine.runs import RunStore, write_json_atomic
from ui import export_tab as X
from ui.app import build_app
from ui.i18n import TEXT, t

from tests.conftest import two_class_rows

CJK = re.compile(r"[\u4e00-\u9fff]")
ELEM_IDS = [
    "tab-export",
    "export-run",
    "export-refresh",
    "export-note",
    "export-formats",
    "export-sparsity",
    "export-button",
    "export-status",
    "export-table",
    "export-verdicts",
    "export-artefact",
    "export-card",
    "export-zip-button",
    "export-zip",
    "export-hub-repo",
    "export-hub-token",
    "export-hub-private",
    "export-hub-push",
    "export-artefact-message",
    "export-batch-file",
    "export-batch-source",
    "export-batch-column",
    "export-batch-button",
    "export-batch-stop",
    "export-batch-message",
    "export-batch-download",
    "export-batch-counts",
    "export-batch-preview",
    "export-retrain-file",
    "export-retrain-button",
    "export-retrain-message",
    "export-retrain-status",
    "export-retrain-open",
    "export-retrain-table",
    "export-retrain-summary",
    "export-serve-artefact",
    "export-serve-key",
    "export-serve-cmd",
    "export-serve-curl",
]
API_NAMES = {
    "export_run",
    "export_summary",
    "export_runs",
    "export_card",
    "export_zip",
    "push_to_hub",
    "batch_predict",
    "retrain",
    "serve_command",
}
TOKEN = "hf_secretTOKENvalue1234567890"


def msg(html_text: str) -> str:
    assert "Traceback" not in html_text and 'File "' not in html_text
    return html.unescape(re.sub(r"<[^>]+>", " ", html_text))


def _rows(n: int, tag: str = "") -> list[dict]:
    return two_class_rows(n, tag=tag)


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_encoder):
    """A runs folder with a tiny full run and a tiny LoRA run (seconds), and its job queue."""
    from engine.training.pipeline import train_run

    root = tmp_path_factory.mktemp("export-tab")
    data = root / "small.csv"
    pd.DataFrame(_rows(40)).to_csv(data, index=False)
    store = RunStore(root / "runs")
    ids = {}
    for strategy in ("full", "lora"):
        cfg = RunConfig(
            data=str(data),
            backbone=str(tiny_encoder),
            output_dir=str(store.root),
            max_steps=6,
            batch_size=8,
            evaluations_per_epoch=2,
            max_length=32,
            strategy=strategy,
            run_name=f"tiny-{strategy}",
            text_column="review",
            label_column="sentiment",
        )
        run = store.create(cfg)
        train_run(cfg, run)
        assert run.status == "completed", run.status_info()
        ids[strategy] = run.id
    return {"root": root, "store": store, "jobs": JobManager(store), "data": data, **ids}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-studio") / "runs"
    demo = build_app(root, jobs=JobManager(RunStore(root)))
    return demo, demo.adaptune


def keep(path: str) -> str:
    """Context.keep_upload without a studio: the upload kept in a scratch uploads folder."""
    from engine.uploads import Uploads

    return str(Uploads(Path(path).parent / "_uploads").keep(path))


# ---- the tab ----------------------------------------------------------------------------------


def test_the_tab_its_widgets_and_named_api(app):
    demo, ctx = app
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert not [e for e in ELEM_IDS if e not in ids]
    tabs = [b.elem_id for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert tabs.index("tab-export") == tabs.index("tab-playground") + 1
    assert tabs.index("tab-runs") == tabs.index("tab-export") + 1
    names = {
        f.api_name for f in demo.fns.values() if getattr(f, "api_visibility", "public") == "public"
    }
    assert API_NAMES <= names, API_NAMES - names
    view = ctx.c["export_view"]
    assert view["token"].type == "password"
    assert isinstance(view["timer"], gr.Timer)
    # the token never goes through a gr.State
    states = [b for b in demo.blocks.values() if isinstance(b, gr.State)]
    assert view["token"] not in states


def test_every_new_text_in_chinese(app):
    _, ctx = app
    keys = [k for k in TEXT if k.startswith("export.")] + ["tab.export", "warm_start"]
    assert len(keys) > 100
    assert not [k for k in keys if not TEXT[k].get("zh")]
    latin_only = {"export.fmt.onnx", "export.failed_one"}
    assert not [k for k in keys if k not in latin_only and not CJK.search(TEXT[k]["zh"])]
    # the same placeholders in both languages
    for k in keys:
        en, zh = TEXT[k].get("en", ""), TEXT[k]["zh"]
        assert set(re.findall(r"\{(\w+)\}", en)) <= set(re.findall(r"\{(\w+)\}", zh)) or not en, k
    updates = dict(zip(map(id, ctx.tr.components), ctx.tr.updates("zh")))
    assert updates[id(ctx.c["export_tab"])]["label"] == t("tab.export", "zh")
    view = ctx.c["export_view"]
    assert CJK.search(updates[id(view["token"])]["label"])
    assert CJK.search(updates[id(ctx.c["export_run"])]["label"])
    formats = next(b for b in ctx.tr.components if getattr(b, "elem_id", "") == "export-formats")
    assert all(CJK.search(label) or label == "ONNX" for label, _ in updates[id(formats)]["choices"])
    assert CJK.search(X.format_help("zh")) and CJK.search(
        X.comparison_table(None, lang="zh").columns[0]
    )


def test_nothing_picked_is_a_message_everywhere(studio):
    store, jobs = studio["store"], studio["jobs"]
    view = X.show_run(store, None)
    assert "msg-info" in view["note"] and t("export.pick") in msg(view["note"])
    assert list(view["table"].columns) == X.table_headers() and view["table"].empty
    assert view["serve_cmd"] == ""
    assert "msg-warning" in X.export_formats(store, None, ["int8"])["status"]
    assert "msg-warning" in X.export_formats(store, studio["full"], [])["status"]
    bad = X.export_formats(store, studio["full"], ["gguf"])["status"]
    assert "msg-error" in bad and "gguf" in msg(bad)
    missing = X.export_formats(store, "no-such-run", ["int8"])["status"]
    assert "msg-error" in missing and "no-such-run" in msg(missing)
    assert "msg-warning" in X.batch_predict(store, None, None, "x.csv")["batch_message"]
    assert "msg-warning" in X.batch_predict(store, studio["full"], "run", None)["batch_message"]
    assert "msg-warning" in X.make_zip(store, None, "int8")["artefact_message"]
    assert "msg-warning" in X.make_zip(store, studio["full"], "onnx")["artefact_message"]
    pushed = X.push_artefact(store, None, "int8", "me/model", TOKEN)
    assert "msg-warning" in pushed["artefact_message"] and pushed["token"] == ""
    started = X.start_retrain(store, jobs, None, "x.csv", keep)
    assert "msg-warning" in started["retrain_message"] and "retrain_id" not in started
    nofile = X.start_retrain(store, jobs, studio["full"], None, keep)
    assert "msg-warning" in nofile["retrain_message"]
    assert X.show_artefact(store, None, None)["card"] == t("export.card_wait")


# ---- exporting and the comparison table ---------------------------------------------------------


def test_several_formats_one_table_read_back_from_disk(studio):
    store, rid = studio["store"], studio["lora"]
    calls = []
    steps = list(
        X.export_steps(
            store,
            rid,
            ["int8", "adapter", "merged", "pruned"],
            0.4,
            progress=lambda frac, desc="": calls.append((frac, desc)),
        )
    )
    final = {}
    for s in steps:
        final.update(s)
    assert len(steps) == 8  # "exporting…" then the result, per format
    status = msg(final["status"])
    assert final["status"].count("msg-ok") == 4 and "msg-error" not in final["status"], status
    assert "exports/int8" in status and "exports/adapter" in status
    assert calls and calls[-1][0] == 1.0 and any("int8" in d for _, d in calls)
    assert [entry[0] for entry in final["log"]] == ["ok"] * 4  # re-rendered on a switch:
    zh_status = X.status_html(final["log"], "zh")
    assert "已导出" in zh_status and "int8 量化" in zh_status
    assert all(0 <= f <= 1 for f, _ in calls)

    table = final["table"]
    assert list(table.columns) == X.table_headers()
    fmt_col = t("export.col.format")
    assert list(table[fmt_col]) == [t("export.fmt.pytorch"), "adapter", "merged", "int8", "pruned"]
    on_disk = {e["format"]: e for e in E.list_exports(store.get(rid).path)}
    assert set(on_disk) == {"adapter", "merged", "int8", "pruned"}
    for _, row in table.iloc[1:].iterrows():
        e = on_disk[row[fmt_col]]
        assert row[t("export.col.size")] == X._mb(e["model_bytes"])
        assert row[t("export.col.folder")] == X._mb(e["size_bytes"])
        assert row[t("export.col.accuracy")] == f"{e['accuracy']:.3f}"
        assert row[t("export.col.macro_f1")] == f"{e['macro_f1']:.3f}"
        assert row[t("export.col.agreement")] == f"{e['comparison']['agreement'] * 100:.1f}"
        assert row[t("export.col.speedup")] == f"{e['comparison']['speedup']:.2f}×"
        assert float(row[t("export.col.batched")]) > 0
        assert float(row[t("export.col.single")]) > 0
    run_row = table.iloc[0]
    assert run_row[t("export.col.agreement")] == "100.0"
    assert float(run_row[t("export.col.size")]) > float(table.iloc[1][t("export.col.size")])
    # plain words per artefact
    verdicts = msg(final["verdicts"])
    for fmt in ("adapter", "merged", "int8", "pruned"):
        assert f"{fmt}: " in verdicts
    assert "agrees with the run's model on 100% of the test texts" in verdicts
    assert "measured on 8 test texts" in verdicts
    assert "99% smaller" in verdicts  # the adapter against the backbone + adapter it replaces
    assert "needs the base model" in verdicts and "of the weights are zero" in verdicts
    # the pickers follow: the last exported artefact, the run and its exports as sources
    assert final["artefact"]["value"] == "pruned"
    assert [v for _, v in final["source"]["choices"]] == [
        "run",
        "adapter",
        "merged",
        "int8",
        "pruned",
    ]
    assert [v for _, v in final["serve_artefact"]["choices"]] == list(X.SERVE_ARTEFACTS)
    # a page reload: the same table from disk, in Chinese too
    again = X.show_run(store, rid, "en", artefact="int8")
    pd.testing.assert_frame_equal(again["table"], table)
    assert again["artefact"]["value"] == "int8"
    zh = X.show_run(store, rid, "zh")
    assert CJK.search(" ".join(zh["table"].columns)) and CJK.search(msg(zh["verdicts"]))
    assert "msg-ok" in zh["note"] and CJK.search(msg(zh["note"]))


def test_verdict_in_plain_words():
    summary = {
        "format": "int8",
        "model_bytes": 55e6,
        "original": {"size_bytes": 100e6},
        "comparison": {"speedup": 2.94, "accuracy_change": -0.003, "agreement": 0.981},
    }
    same = {"format": "merged", "comparison": {"speedup": 1.1}}
    assert X.verdict(same).startswith("merged: about as fast, ")
    assert X.verdict(summary) == (
        "int8: 2.9× faster, 0.3 points less accurate, 45% smaller, "
        "agrees with the run's model on 98% of the test texts"
    )
    slower = {
        "format": "onnx",
        "model_bytes": 120e6,
        "original": {"size_bytes": 100e6},
        "comparison": {"speedup": 0.5, "agreement": 1.0},
    }
    assert X.verdict(slower) == (
        "ONNX: 2.0× slower, accuracy not measured (the run's data file "
        "is gone), 20% larger, agrees with the run's model on 100% of "
        "the test texts"
    )
    bare = {"format": "merged", "model_bytes": 4e6, "original": {}, "comparison": {}}
    assert X.verdict(bare).startswith("merged: not measured yet")
    zh = X.verdict(summary, lang="zh")
    assert "快 2.9 倍" in zh and "准确率低 0.3 个百分点" in zh and "体积小 45%" in zh


def test_adapter_of_a_full_run_is_explained_and_the_rest_exports(studio):
    store, rid = studio["store"], studio["full"]
    before = X.show_run(store, rid)
    assert "msg-info" in before["verdicts"]  # no export yet: the run's own row alone
    assert len(before["table"]) == 1
    out = X.export_formats(store, rid, ["adapter", "int8", "onnx"])
    status = msg(out["status"])
    assert out["status"].count("msg-error") == 1 and out["status"].count("msg-ok") == 2
    assert "no separate adapter" in status and "export 'merged'" in status
    assert list(out["table"][t("export.col.format")]) == [t("export.fmt.pytorch"), "int8", "ONNX"]
    assert out["artefact"]["value"] == "onnx"


def test_model_card_and_zip(studio):
    store, rid = studio["store"], studio["full"]
    view = X.show_artefact(store, rid, "int8")
    card = view["card"]
    assert not card.startswith("---") and "pipeline_tag" not in card
    assert "exports/int8" in card and "### Task and labels" in card and "## tiny-full" in card
    assert "```python" in card and view["zip"] is None
    out = X.make_zip(store, rid, "int8")
    path = Path(out["zip"])
    assert path.name == "int8.zip" and path.exists()
    assert path.parent == store.get(rid).path / "exports"
    assert "msg-ok" in out["artefact_message"] and "int8.zip" in msg(out["artefact_message"])
    with zipfile.ZipFile(path) as z:
        assert {"README.md", E.EXPORT_FILE, E.INT8_FILE} <= set(z.namelist())
    assert "msg-warning" in X.make_zip(store, rid, "../../etc")["artefact_message"]


def test_push_offline_says_so_and_keeps_no_token(studio, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store, rid = studio["store"], studio["full"]
    out = X.push_artefact(store, rid, "int8", "someone/tiny-int8", TOKEN, True)
    text = msg(out["artefact_message"])
    assert "msg-error" in out["artefact_message"] and "HF_HUB_OFFLINE" in text
    assert out["token"] == "" and TOKEN not in text
    bad_repo = X.push_artefact(store, rid, "int8", "not a repo id", TOKEN)
    assert "user-or-organisation/model-name" in msg(bad_repo["artefact_message"])
    no_token = X.push_artefact(store, rid, "int8", "someone/tiny-int8", "")
    assert "access token" in msg(no_token["artefact_message"])
    for path in studio["root"].rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


# ---- batch prediction ---------------------------------------------------------------------------


def test_batch_prediction_writes_an_escaped_csv(studio, tmp_path):
    store, rid = studio["store"], studio["full"]
    table = tmp_path / "new texts.csv"
    pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "review": [
                "i loved it",
                "boring and bad",
                '=HYPERLINK("http://x","y")',
                "excellent and fun",
            ],
        }
    ).to_csv(table, index=False)
    columns = X.batch_columns(str(table))
    assert [v for _, v in columns["choices"]] == ["", "id", "review"]
    steps = []
    out = X.batch_predict(
        store, rid, "int8", str(table), "review", progress=lambda frac, desc="": steps.append(frac)
    )
    assert "msg-ok" in out["batch_message"], msg(out["batch_message"])
    assert "4 rows" in msg(out["batch_message"]) and "int8" in msg(out["batch_message"])
    path = Path(out["batch_file"])
    assert path.exists()
    assert path.parent == store.get(rid).path / "predictions" and path.name.endswith("-int8.csv")
    written = path.read_text(encoding="utf-8")
    assert "'=HYPERLINK" in written and "\n=HYPERLINK" not in written
    df = pd.read_csv(path)
    assert len(df) == 4 and "prediction" in df.columns
    assert {"prob_pos", "prob_neg"} <= set(df.columns)
    preview = out["batch_preview"]
    assert len(preview) == 4 and preview["review"][2].startswith("'=")
    counts = out["batch_counts"]
    assert counts[t("export.col.rows")].sum() == 4
    assert set(counts[t("export.col.label")]) <= {"pos", "neg"}
    assert steps and steps[-1] == 1.0
    # a language switch re-renders the message and the counts from the state
    zh = X.batch_view(out["batch_state"], "zh")
    assert "已用 int8 量化 预测" in msg(zh["batch_message"])
    assert list(zh["batch_counts"].columns) == ["标签", "行数", "占比"]
    assert X.batch_view(None, "zh") == {}
    # the run's own model, the text column guessed
    own = X.batch_predict(store, rid, "run", str(table), "")
    assert "msg-ok" in own["batch_message"] and own["batch_file"].endswith("-model.csv")
    # a stop before the first chunk
    stopped = X.batch_predict(store, rid, "run", str(table), "", should_stop=lambda: True)
    assert "msg-warning" in stopped["batch_message"] and "0 of 4" in msg(stopped["batch_message"])


def test_batch_prediction_errors_are_messages(studio, tmp_path):
    store, rid = studio["store"], studio["full"]
    table = tmp_path / "texts.csv"
    pd.DataFrame({"review": ["i loved it", "boring"]}).to_csv(table, index=False)
    wrong = X.batch_predict(store, rid, "run", str(table), "comment")
    text = msg(wrong["batch_message"])
    assert "msg-error" in wrong["batch_message"] and "'comment' is not in the table" in text
    assert "review" in text and wrong["batch_file"] is None and wrong["batch_state"] is None
    unknown = X.batch_predict(store, rid, "pruned", str(table), "")  # not exported
    assert "msg-error" in unknown["batch_message"] and "pruned" in msg(unknown["batch_message"])
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    bad = X.batch_predict(store, rid, "run", str(empty), "")
    assert "msg-error" in bad["batch_message"] and "empty" in msg(bad["batch_message"])
    assert X.batch_columns(str(empty))["choices"] == [(t("export.auto_column"), "")]


# ---- retraining ---------------------------------------------------------------------------------


def test_retrain_from_the_tab_and_the_old_vs_new_table(studio, tmp_path):
    store, jobs, rid = studio["store"], studio["jobs"], studio["full"]
    new_data = tmp_path / "new rows.csv"
    pd.DataFrame(_rows(20, "n")).to_csv(new_data, index=False)
    assert X.latest_retrain(store, rid) is None
    assert "msg-info" in X.attach_retrain(store, jobs, rid)["retrain_status"]
    out = X.start_retrain(store, jobs, rid, str(new_data), keep)
    assert "msg-ok" in out["retrain_message"], msg(out["retrain_message"])
    new_id = out["retrain_id"]
    assert new_id in msg(out["retrain_message"]) and "text review, label sentiment" in msg(
        out["retrain_message"]
    )
    assert out["timer"].active
    cfg = store.get(new_id).config()
    assert Path(cfg.warm_start) == store.get(rid).path.resolve()
    assert cfg.run_name == "tiny-full-retrain" and Path(cfg.data).name == "new rows.csv"
    assert Path(cfg.data).exists() and Path(cfg.data).parent.parent.name == "_uploads"
    live = X.render_retrain(store, jobs, new_id)
    assert "tiny-full-retrain" in msg(live["retrain_status"])
    assert jobs.wait(new_id, timeout=120)
    new = store.get(new_id)
    assert new.status == "completed", new.status_info()
    view = X.render_retrain(store, jobs, new_id)
    assert t("status.completed") in msg(view["retrain_status"])
    table = view["retrain_table"]
    assert list(table.columns) == X.retrain_headers()
    assert list(table[t("export.rt.split")]) == [t("export.rt.new_split"), t("export.rt.old_split")]
    warm = new.metrics()["warm_start"]
    assert table[t("export.rt.new_acc")][0] == f"{warm['new_test']['new_model']['accuracy']:.3f}"
    assert table[t("export.rt.n")][1] == warm["old_test"]["new_model"]["n"]
    summary = msg(view["retrain_summary"])
    assert "On the new data the retrained model scores" in summary
    assert "old test split" in summary
    assert view["retrain_open"]["visible"]
    # found again from disk (a reload), and in Chinese
    assert X.latest_retrain(store, rid) == new_id
    again = X.attach_retrain(store, jobs, rid, "zh")
    assert again["retrain_id"] == new_id and not again["timer"].active
    assert CJK.search(msg(again["retrain_summary"]))
    assert CJK.search(" ".join(again["retrain_table"].columns))
    # the retrained run is listed and exportable like any other
    assert new_id in [v for _, v in X.run_choices(store)]
    assert X.default_run(store) == new_id


def test_retrain_refusals_are_messages(studio, tmp_path):
    store, jobs = studio["store"], studio["jobs"]
    one_class = tmp_path / "one.csv"
    pd.DataFrame({"review": ["a", "b", "c", "d"], "sentiment": ["pos"] * 4}).to_csv(
        one_class, index=False
    )
    before = {r.id for r in store.list()}
    out = X.start_retrain(store, jobs, studio["full"], str(one_class), keep)
    assert "msg-error" in out["retrain_message"] and "retrain_id" not in out
    assert {r.id for r in store.list()} == before  # no run folder for a refused start


# ---- runs that cannot be exported, serving ------------------------------------------------------


def test_a_run_of_another_task_serves_but_does_not_export(studio):
    store = studio["store"]
    cfg = RunConfig(
        task="ner", data=str(studio["data"]), output_dir=str(store.root), run_name="tagger"
    )
    run = store.create(cfg, run_id="tagger")
    write_json_atomic(run.model_dir / "task.json", {"task": "ner"})
    run.set_status("completed")
    try:
        view = X.show_run(store, "tagger")
        assert "msg-warning" in view["note"] and "ner run" in msg(view["note"])
        assert "Batch prediction and serving" in msg(view["note"])
        assert [v for _, v in view["serve_artefact"]["choices"]] == ["pytorch"]
        assert [v for _, v in view["source"]["choices"]] == ["run"]
        assert '"inputs"' in view["serve_curl"]
        out = X.export_formats(store, "tagger", ["int8"])
        assert "msg-error" in out["status"] and "text-classification" in msg(out["status"])
        assert "tagger" in [v for _, v in X.run_choices(store)]
        assert X.default_run(store) != "tagger"
    finally:
        import shutil

        shutil.rmtree(run.path)


def test_serve_command_and_curl(studio):
    store, rid = studio["store"], studio["full"]
    cmd, curl = X.serve_texts(store, rid, "onnx")
    run_path = str(store.get(rid).path)
    assert cmd.startswith(".venv/bin/python -m engine serve --run ")
    assert run_path in cmd and "--artefact onnx" in cmd and "--port 8000" in cmd
    assert "POST" not in curl and "http://127.0.0.1:8000/predict" in curl
    assert '{"texts": [' in curl and "Authorization" not in curl
    cmd, curl = X.serve_texts(store, rid, "pytorch", api_key=True)
    assert "--artefact" not in cmd and "export ADAPTUNE_API_KEY=" in cmd
    assert f"Authorization: Bearer {X.KEY_PLACEHOLDER}" in curl
    assert X.serve_texts(store, None) == ("", "")
