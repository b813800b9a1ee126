"""The AutoML tab (ui/automl_tab.py) called as plain functions: the search form generated from
HpoConfig's "search" group, the search-space table <-> JSON, validation messages, the suggested
space with the Auto plan as trial 0, a real short search with a tiny random encoder through a
JobManager (live view, trials, figures, the best run opened in Evaluate), stopping after the
current trial, a queued search cancelled, and re-attaching after a reload or a restart."""

from __future__ import annotations

import html
import json
import re
import time
from dataclasses import fields
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest

from engine import automl
from engine.config import HpoConfig, RunConfig
from engine.jobs import JobManager
from engine.runs import Run, RunStore
from ui import automl_tab as A
from ui.app import build_app
from ui.common import run_label
from ui.form import config_to_form
from ui.i18n import TEXT, t

CJK = re.compile(r"[\u4e00-\u9fff]")
ELEM_IDS = [
    "tab-automl",
    "automl-trials",
    "automl-timeout-minutes",
    "automl-objective-metric",
    "automl-direction",
    "automl-pruner",
    "automl-storage",
    "automl-study-name",
    "automl-keep-trial-models",
    "automl-base",
    "automl-space",
    "automl-suggest",
    "automl-first",
    "automl-start",
    "automl-stop",
    "automl-status",
    "automl-table",
    "automl-history",
    "automl-parallel",
    "automl-importances",
    "automl-trial-pick",
    "automl-trial-curves",
    "automl-best",
    "automl-open-best",
    "automl-message",
]
SEARCH_FIELDS = [
    "trials",
    "timeout_minutes",
    "objective_metric",
    "direction",
    "pruner",
    "storage",
    "study_name",
    "keep_trial_models",
]
LR_SPACE = {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}


def msg(html_text: str) -> str:
    assert "Traceback" not in html_text
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def train_values(data="", backbone="minilm-l6", **kw) -> dict:
    """The Data + Train tabs' values as the widgets hold them (a fast tiny setup)."""
    base = dict(
        strategy="full",
        max_steps=4,
        batch_size=8,
        max_length=16,
        evaluations_per_epoch=4,
        text_column="review",
        label_column="sentiment",
    )
    cfg = RunConfig(**{**base, "backbone": str(backbone), **kw})
    values = config_to_form(cfg)
    values["data"] = str(data) if data else ""
    return values


def search_values(**kw) -> dict:
    base = {name: getattr(HpoConfig(), name) for name in A.search_field_names()}
    return {**base, **kw}


def wait_final(jobs: JobManager, run_id: str, timeout: float = 300) -> None:
    assert jobs.wait(run_id, timeout=timeout), f"{run_id} did not finish in {timeout} s"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("automl-studio") / "runs"
    demo = build_app(root, jobs=JobManager(RunStore(root)))
    return demo, demo.adaptune


@pytest.fixture
def studio(tmp_path):
    store = RunStore(tmp_path / "runs")
    return store, JobManager(store)


# ---- the tab and its form -----------------------------------------------------------------------


def test_the_tab_and_its_search_form(app):
    demo, ctx = app
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert not [e for e in ELEM_IDS if e not in ids]
    tabs = [b.elem_id for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert tabs.index("tab-automl") == tabs.index("tab-train") + 1
    assert tabs.index("tab-evaluate") == tabs.index("tab-automl") + 1
    comps = ctx.c["automl_fields"]
    group = [
        f.name
        for f in fields(HpoConfig)
        if f.metadata.get("group") == "search"
        and f.metadata.get("cli", True)
        and f.name != "search_space"
    ]
    assert list(comps) == A.search_field_names() == group == SEARCH_FIELDS
    assert isinstance(comps["trials"], gr.Number) and comps["trials"].minimum == 1
    assert comps["trials"].value == HpoConfig().trials
    assert [v for _, v in comps["direction"].choices] == ["auto", "maximize", "minimize"]
    assert [v for _, v in comps["pruner"].choices] == ["median", "hyperband", "none"]
    assert isinstance(comps["keep_trial_models"], gr.Checkbox)
    assert comps["trials"].info == HpoConfig.__dataclass_fields__["trials"].metadata["help"]
    # storage / study name / keep models in the Advanced accordion, the others outside
    accordion = next(
        b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "automl-advanced"
    )
    inside = set()

    def walk(block):
        for child in getattr(block, "children", []) or []:
            inside.add(id(child))
            walk(child)

    walk(accordion)
    for name, comp in comps.items():
        advanced = bool(HpoConfig.__dataclass_fields__[name].metadata.get("advanced"))
        assert (id(comp) in inside) == advanced, name
    space = ctx.c["automl_space"]
    assert space.interactive and list(space.value["headers"]) == A.space_headers("en")


def test_every_string_in_both_languages(app):
    _, ctx = app
    assert not [k for k, v in TEXT.items() if not v.get("zh")]
    for f in fields(HpoConfig):
        if f.metadata.get("group") != "search":
            continue
        key = A.AUTOML.key(f.name)
        assert TEXT.get(key, {}).get("zh") and t(key, "en") != key, f.name
        assert t(key + ".help", "en") == f.metadata["help"], f.name
        assert CJK.search(t(key + ".help", "zh")), f.name
        for choice in f.metadata.get("choices", []):
            assert CJK.search(t(f"{key}.choice.{choice}", "zh")), (f.name, choice)
    keys = [k for k in TEXT if k.startswith("automl.")]
    assert len(keys) > 60 and all(CJK.search(TEXT[k]["zh"]) for k in keys), [
        k for k in keys if not CJK.search(TEXT[k]["zh"])
    ]
    # the language switch relabels the tab and its widgets
    comps = ctx.c["automl_fields"]
    updates = dict(zip(map(id, ctx.tr.components), ctx.tr.updates("zh")))
    assert updates[id(ctx.c["automl_tab"])]["label"] == t("tab.automl", "zh")
    assert CJK.search(updates[id(comps["trials"])]["label"])
    assert CJK.search(updates[id(comps["pruner"])]["info"])
    assert all(CJK.search(label) for label, _ in updates[id(comps["direction"])]["choices"])


# ---- the search space table ---------------------------------------------------------------------


def test_space_table_round_trip():
    space = {
        "strategy": {"type": "categorical", "choices": ["lora", "full"]},
        "learning_rate": {
            "type": "float",
            "low": 2.0000000000000003e-06,
            "high": 1e-4,
            "log": True,
        },
        "batch_size": {"type": "categorical", "choices": [8, 16, 32]},
        "max_steps": {"type": "int", "low": 2, "high": 10, "log": False},
        "lora_dropout": {"type": "float", "low": 0.0, "high": 0.2, "log": False},
    }
    frame = A.space_frame(space)
    assert list(frame.columns) == A.space_headers("en")
    assert frame.iloc[0].tolist() == ["strategy", "categorical", "", "", False, "lora, full", True]
    assert frame.iloc[1, 2] == "2e-06" and frame.iloc[1, 4]
    back = automl.parse_space(A.frame_to_space(frame))
    assert list(back) == list(space) and A.same_space(back, automl.parse_space(space))
    assert back["batch_size"]["choices"] == [8, 16, 32]  # numbers again, not text
    assert back["max_steps"] == {"type": "int", "low": 2, "high": 10, "log": False}
    # what gradio hands over: a dict of headers + data, or plain rows; Chinese headers
    as_dict = {"headers": A.space_headers("zh"), "data": frame.values.tolist()}
    assert A.frame_to_space(as_dict) == A.frame_to_space(frame)
    zh = A.relabel_space(frame, "zh")
    assert list(zh.columns) == A.space_headers("zh") and CJK.search(zh.columns[0])
    assert A.frame_to_space(zh) == A.frame_to_space(frame)
    # yes/no texts, an excluded row, an empty row, Chinese commas
    rows = [
        ["learning_rate", "float", "1e-5", "1e-3", "yes", "", "yes"],
        ["batch_size", "categorical", "", "", "", "8，16", "是"],
        ["weight_decay", "float", "0", "0.1", "no", "", "no"],
        ["", "", "", "", None, "", None],
    ]
    raw = A.frame_to_space(rows)
    assert raw == {
        "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
        "batch_size": {"type": "categorical", "choices": [8, 16]},
    }
    assert not A.same_space(
        automl.parse_space(raw),
        automl.parse_space({**raw, "learning_rate": {**raw["learning_rate"], "high": 2e-3}}),
    )
    assert A.frame_to_space(A.space_frame({})) == {} and not A.has_rows(A.space_frame({}))


@pytest.mark.parametrize(
    "row, words",
    [
        (["learning_rate", "float", "fast", "1e-3", False, "", True], "numeric 'low' and 'high'"),
        (["learning_rate", "float", "1e-2", "1e-3", True, "", True], "must be below"),
        (["learning_rate", "float", "0", "1e-3", True, "", True], "log scale needs low > 0"),
        (["speed", "float", "0", "1", False, "", True], "not a training setting"),
        (["strategy", "categorical", "", "", False, "lora, magic", True], "magic not allowed"),
        (["batch_size", "categorical", "", "", False, "", True], "non-empty 'choices'"),
        (["batch_size", "number", "1", "8", False, "", True], "give a type"),
        (["learning_rate", "float", "1e-5", "1e-3", True, "", False], "at least one setting"),
    ],
)
def test_bad_spaces_are_messages_and_make_no_run(studio, small_csv, tiny_encoder, row, words):
    store, jobs = studio
    out = A.start_search(
        store, jobs, train_values(small_csv, tiny_encoder), search_values(), [row], "en"
    )
    text = msg(out["message"])
    assert "msg-error" in out["message"] and words in text, text
    assert text.startswith(t("train.cannot_start", "en"))
    assert "run_id" not in out and store.list() == []


def test_other_refusals(studio, small_csv, tiny_encoder):
    store, jobs = studio
    table = A.space_frame(LR_SPACE)
    out = A.start_search(store, jobs, train_values(), search_values(), table)
    assert t("automl.need_data", "en") in msg(out["message"])
    twice = [["learning_rate", "float", "1e-5", "1e-3", True, "", True]] * 2
    out = A.start_search(
        store, jobs, train_values(small_csv, tiny_encoder), search_values(), twice, "zh"
    )
    assert "learning_rate" in msg(out["message"]) and CJK.search(msg(out["message"]))
    out = A.start_search(
        store,
        jobs,
        train_values(small_csv, tiny_encoder, text_column="nope"),
        search_values(),
        table,
    )
    assert "nope" in msg(out["message"]) and "msg-error" in out["message"]
    out = A.start_search(
        store, jobs, train_values(small_csv, tiny_encoder), search_values(trials=0), table
    )
    assert "trials must be at least 1" in msg(out["message"])
    assert store.list() == []
    assert "msg-warning" in A.stop_search(store, jobs, None)


def test_suggest_shows_the_auto_plan_as_trial_zero(small_csv, tiny_encoder):
    values = train_values(small_csv, tiny_encoder, strategy="auto", max_steps=0)
    out = A.suggest(values, "en")
    assert out["message"] == ""
    space, first = automl.default_space(A.base_config(values))
    frame = out["space"]
    assert list(frame.iloc[:, 0]) == list(space)
    assert {"learning_rate", "batch_size", "strategy", "epochs"} <= set(frame.iloc[:, 0])
    assert out["plan"] == {"space": space, "first": first}
    line = msg(out["first"])
    assert line.startswith("Trial 0 trains the Auto plan")
    assert f"strategy {first['strategy']}" in line and "learning_rate" in line
    assert ("lora_r" in line) == (first["strategy"] in ("lora", "rslora", "dora"))
    assert CJK.search(A.first_html(out["plan"], "zh"))
    # the suggested table unchanged: the engine's default space (which enqueues the plan);
    # one edited cell: the table's own space as JSON
    base = A.base_config(values)
    assert A.search_text(base, frame) == ""
    edited = frame.copy()
    row = list(edited.iloc[:, 0]).index("weight_decay")
    edited.iloc[row, 3] = "0.05"
    sent = json.loads(A.search_text(base, edited))
    assert sent["weight_decay"]["high"] == 0.05 and set(sent) == set(space)
    edited.iloc[row, 6] = False
    assert "weight_decay" not in json.loads(A.search_text(base, edited))
    assert A.search_text(base, A.space_frame({})) == ""  # empty table: the default space
    # the base line, and no data
    assert "small.csv" in msg(A.base_line(values)) and "review" in msg(A.base_line(values))
    assert CJK.search(A.base_line(values, "zh"))
    assert "msg-warning" in A.suggest(train_values(), "en")["message"]
    assert "msg-warning" in A.base_line(train_values())


# ---- a real search ------------------------------------------------------------------------------


def test_a_search_from_start_to_the_best_run(studio, small_csv, tiny_encoder):
    store, jobs = studio
    assert msg(A.render(store, jobs, None)["status"]) == t("automl.no_search", "en")
    out = A.start_search(
        store,
        jobs,
        train_values(small_csv, tiny_encoder),
        search_values(trials=2, pruner="none"),
        A.space_frame(LR_SPACE),
    )
    rid = out["run_id"]
    assert "msg-ok" in out["message"] and rid in msg(out["message"])
    assert t("automl.origin.custom", "en") in msg(out["message"])
    cfg = store.get(rid).config()
    assert isinstance(cfg, HpoConfig) and cfg.trials == 2 and cfg.kind == "hpo"
    assert json.loads(cfg.search_space) == automl.parse_space(LR_SPACE)
    assert cfg.data == str(small_csv) and cfg.output_dir == str(store.root)

    # the live view while it runs: trial k of N
    seen, sigs = set(), set()
    deadline = time.time() + 300
    while jobs.is_live(rid) and time.time() < deadline:
        res = A.render(store, jobs, rid)
        text = msg(res["status"])
        seen.update(m.group(0) for m in re.finditer(r"trial \d of 2", text))
        sigs.add(A.signature(store, rid))
        time.sleep(0.3)
    wait_final(jobs, rid)
    assert seen & {"trial 1 of 2", "trial 2 of 2"}, seen
    assert len(sigs) >= 3  # the signature moved with the search

    res = A.render(store, jobs, rid)
    run = store.get(rid)
    assert run.status == "completed"
    table = res["table"]
    assert len(table) == 2 and list(table.iloc[:, 0]) == [0, 1]
    assert set(table.iloc[:, 1]) == {t("automl.state.complete", "en")}
    assert table.columns[2] == "validation macro_f1" and "learning_rate" in table.columns
    assert all(re.fullmatch(r"[01]\.\d{4}", v) for v in table.iloc[:, 2])
    status = msg(res["status"])
    assert "2 trials: 2 complete, 0 pruned, 0 failed" in status and "took" in status
    # figures: the history with both trials, the others drawn or explained
    history = res["history"]
    assert history.layout.title.text == t("automl.fig.history", "en")
    assert sum(len(tr.x or []) for tr in history.data if tr.name == "validation macro_f1") == 2
    assert res["parallel"].layout.title.text == t("automl.fig.parallel", "en")
    assert "validation macro_f1" in res["parallel"].layout.xaxis.ticktext
    # the trial picker: both trials, the best one picked, its curves
    pick = res["pick"]
    assert [label.split(" · ")[0] for label, _ in pick["choices"]] == ["Trial 0", "Trial 1"]
    metrics = run.metrics()
    best_dir = metrics["best_run_dir"]
    assert pick["value"] == str(run.path / "trials" / f"trial-{metrics['best_number']:03d}")
    assert [tr.name for tr in res["curves"].data][:2] == [
        t("chart.train_loss", "en"),
        t("chart.val_loss", "en"),
    ]
    other = A.trial_curves(store, pick["choices"][0][1])
    assert len(other.data) >= 2
    outside = A.trial_curves(store, str(small_csv.parent))  # not under the runs folder
    assert not outside.data
    # the best run: promoted next to the search, openable in Evaluate
    best = msg(res["best"])
    assert f"Best: trial {metrics['best_number']}" in best and "Test:" in best
    assert Path(best_dir).name in best and res["open_best"]["visible"]
    opened = A.open_best(store, rid)
    assert opened["tabs"].selected == "evaluate"
    assert opened["eval_run"]["value"] == Path(best_dir).name == f"{rid}-best"
    assert f"{rid}-best" in [v for _, v in opened["eval_run"]["choices"]]
    assert Run(Path(best_dir)).has_model
    # the same view in Chinese
    zh = A.render(store, jobs, rid, "zh")
    assert CJK.search(msg(zh["status"])) and CJK.search(zh["table"].columns[1])
    assert CJK.search(zh["history"].layout.title.text) and CJK.search(msg(zh["best"]))

    # a page reload, then a server restart: the search is found again on disk
    again = A.attach(store, jobs)
    assert again["run_id"] == rid and not again["timer"].active
    store2 = RunStore(store.root)
    restarted = A.attach(store2, JobManager(store2), "en")
    assert restarted["run_id"] == rid and len(restarted["table"]) == 2
    assert msg(restarted["best"]) == best and restarted["open_best"]["visible"]
    assert A.open_best(store, f"{rid}-best")["message"]  # not a search: nothing to open
    # the search in the run lists of the other tabs: a translated kind, its best score
    label = run_label(run.summary(), "zh")
    assert t("task.hpo", "zh") in label and "task.hpo" not in label


def test_stop_after_the_current_trial_and_cancel_a_queued_search(studio, small_csv, tiny_encoder):
    store, jobs = studio
    values = train_values(small_csv, tiny_encoder, max_steps=16)
    out = A.start_search(
        store, jobs, values, search_values(trials=6, pruner="none"), A.space_frame(LR_SPACE)
    )
    rid = out["run_id"]
    queued = A.start_search(store, jobs, values, search_values(trials=2), A.space_frame(LR_SPACE))
    assert "position 1" in msg(queued["message"])
    assert msg(A.render(store, jobs, queued["run_id"])["status"]).count("Queued (position 1)")
    text = msg(A.stop_search(store, jobs, queued["run_id"]))
    assert text == t("automl.stopped_queued", "en")
    assert store.get(queued["run_id"]).status == "stopped"

    run = store.get(rid)
    deadline = time.time() + 120
    while A.current_trial(run, run.events()) is None and time.time() < deadline:
        time.sleep(0.2)
    assert run.status == "running"
    started = len(list((run.path / "trials").iterdir()))
    text = msg(A.stop_search(store, jobs, rid))
    assert text == t("automl.stopping", "en") and "current trial" in text
    assert "stopping after this trial" in msg(A.render(store, jobs, rid)["status"])
    wait_final(jobs, rid)
    metrics = run.metrics()
    assert run.status == "stopped" and metrics["status"] == "stopped"
    assert started <= metrics["n_trials"] <= started + 1 < 6  # the running trial counted
    assert run.events("trial")[-1]["state"] == "complete"
    res = A.render(store, jobs, rid)
    assert len(res["table"]) == metrics["n_trials"] and res["open_best"]["visible"]
    assert "msg-warning" in A.stop_search(store, jobs, rid)  # nothing to stop any more
    wait_final(jobs, queued["run_id"])
    assert not (store.root / queued["run_id"] / "trials").exists()  # never started


def test_an_interrupted_search_reattaches_after_a_restart(tmp_path):
    store = RunStore(tmp_path / "runs")
    cfg = HpoConfig(data="x.csv", output_dir=str(store.root), trials=5, study_name="s")
    run = store.create(cfg)
    run.set_status("running")
    run.append_event(
        "start",
        kind="hpo",
        study_name="s",
        storage="",
        metric="macro_f1",
        direction="maximize",
        space=LR_SPACE,
        trials=5,
    )
    run.append_event(
        "trial",
        number=0,
        state="complete",
        value=0.75,
        params={"learning_rate": 0.001},
        run_dir="",
        seconds=2.5,
        best_value=0.75,
        best_number=0,
    )
    store.create(RunConfig(data="x.csv"))  # a newer fine-tuning run is not a search
    jobs = JobManager(store)  # the restart marks the search interrupted
    out = A.attach(store, jobs)
    assert out["run_id"] == run.id and not out["timer"].active
    status = msg(out["status"])
    assert "interrupted" in status and "study s" in status
    assert "1 trial: 1 complete, 0 pruned, 0 failed" in status
    assert "Best so far: validation macro_f1 0.7500 (trial 0)" in status
    assert list(out["table"].iloc[0])[:4] == [0, "complete", "0.7500", "2.5"]
    assert out["best"] == "" and not out["open_best"]["visible"]
    assert isinstance(out["table"], pd.DataFrame)
