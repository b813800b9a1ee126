"""The Playground tab (ui/playground_tab.py) called as plain functions: the form generated from
PromptConfig, the verbalizer prefill, classification with a tiny random decoder (calibrated,
few-shot, side by side), errors shown as messages, Measure on a small table writing the
comparison table, streamed generation, a fine-tuned tiny run added to the comparison and
explained."""

from __future__ import annotations

import re
import threading
from dataclasses import fields

import gradio as gr
import numpy as np
import pytest

from engine import prompting as P
from engine.config import PromptConfig, RunConfig
from engine.jobs import JobManager
from engine.runs import RunStore
from ui import playground_tab as play
from ui.app import build_app
from ui.form import config_to_form
from ui.i18n import TEXT, t

CJK = re.compile(r"[\u4e00-\u9fff]")
ELEM_IDS = [
    "tab-playground",
    "play-model",
    "play-compare",
    "play-mode",
    "play-template",
    "play-verbalizers",
    "play-shots",
    "play-input",
    "play-classify",
    "play-probs",
    "play-prompt",
    "play-generate",
    "play-gen-stop",
    "play-output",
    "play-measure",
    "play-measure-stop",
    "play-measure-result",
    "play-compare-table",
    "play-run",
    "play-add-run",
    "play-explain",
    "play-explain-run",
    "play-highlight",
    "play-example-template",
    "play-calibration",
    "play-limit",
]
# prompts the tiny decoder's BERT word-piece tokenizer reads (lower case, 128 positions)
TEMPLATE = "{examples}text : {text} label :"
EXAMPLE = "text : {text} label : {label} "
WORDS = "neg: bad\npos: good"


def values(**kw) -> dict:
    """The form's values as the widgets hold them (PromptConfig defaults), with overrides."""
    base = config_to_form(PromptConfig())
    base.update(kw)
    return {name: base.get(name) for name in play.field_names()}


def tiny_values(tiny_decoder, **kw) -> dict:
    return values(
        **{
            "backbone": str(tiny_decoder),
            "template": TEMPLATE,
            "example_template": EXAMPLE,
            "verbalizers": WORDS,
            **kw,
        }
    )


def msg(html_text: str) -> str:
    assert "Traceback" not in html_text
    return re.sub(r"<[^>]+>", "", html_text)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("play-studio") / "runs"
    demo = build_app(root, jobs=JobManager(RunStore(root)))
    return demo, demo.adaptune


# ---- the tab and its form -----------------------------------------------------------------------


def test_the_tab_is_built_from_prompt_config(app):
    demo, ctx = app
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert not [e for e in ELEM_IDS if e not in ids]
    comps = ctx.c["play_fields"]
    expected = {f.name for f in fields(PromptConfig)} - {
        "data",
        "text_column",
        "label_column",
        "output_dir",
    }
    assert set(comps) == expected == set(play.field_names())
    assert isinstance(comps["backbone"], gr.Dropdown) and comps["backbone"].allow_custom_value
    assert comps["backbone"].value == "smollm2-135m-instruct"
    assert [v for _, v in comps["backbone"].choices][0] == "smollm2-135m-instruct"
    assert isinstance(comps["shots"], gr.Number) and comps["shots"].minimum == 0
    assert isinstance(comps["calibrate"], gr.Checkbox)
    assert [v for _, v in comps["shot_selection"].choices] == ["random", "balanced", "similar"]
    assert comps["template"].value == P.PRESETS["general"]["template"]
    assert comps["shots"].info == PromptConfig.__dataclass_fields__["shots"].metadata["help"]
    # the tab sits between Evaluate and Export (then Runs)
    tabs = [b.elem_id for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert tabs.index("tab-playground") == tabs.index("tab-evaluate") + 1
    assert tabs.index("tab-export") == tabs.index("tab-playground") + 1


def test_advanced_fields_sit_in_the_accordion(app):
    demo, ctx = app
    accordion = next(
        b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "play-advanced"
    )
    inside = set()

    def walk(block):
        for child in getattr(block, "children", []) or []:
            inside.add(id(child))
            walk(child)

    walk(accordion)
    for name, comp in ctx.c["play_fields"].items():
        advanced = bool(PromptConfig.__dataclass_fields__[name].metadata.get("advanced"))
        assert (id(comp) in inside) == advanced, name


def test_every_string_in_both_languages(app):
    _, ctx = app
    assert not [k for k, v in TEXT.items() if not v.get("zh")]
    for f in fields(PromptConfig):
        key = play.PLAY.key(f.name)
        assert TEXT.get(key, {}).get("zh") and t(key, "en") != key, f.name
        assert t(key + ".help", "en") == f.metadata["help"], f.name
        assert CJK.search(t(key + ".help", "zh")), f.name
        for choice in f.metadata.get("choices", []):
            assert CJK.search(t(f"{key}.choice.{choice}", "zh")), (f.name, choice)
    play_keys = [k for k in TEXT if k.startswith("play.")]
    assert len(play_keys) > 80 and all(
        CJK.search(TEXT[k]["zh"]) or k in ("play.top_p", "play.where.hub") for k in play_keys
    )
    # the language switch relabels the tab and its widgets
    comps = ctx.c["play_fields"]
    updates = dict(zip(map(id, ctx.tr.components), ctx.tr.updates("zh")))
    assert updates[id(ctx.c["play_tab"])]["label"] == t("tab.playground", "zh")
    assert CJK.search(updates[id(comps["verbalizers"])]["label"])
    assert CJK.search(updates[id(comps["shots"])]["info"])
    assert all(CJK.search(label) for label, _ in updates[id(comps["shot_selection"])]["choices"])


def test_prompt_config_from_the_widgets(small_csv, tmp_path):
    # the preset's own template in the box is sent as "" (named by the preset)
    cfg = play.prompt_config(
        values(
            preset="sentiment",
            template=P.PRESETS["sentiment"]["template"],
            example_template=P.PRESETS["sentiment"]["example_template"].rstrip(),
        ),
        str(small_csv),
        "review",
        "sentiment",
        tmp_path,
    )
    assert cfg.template == "" and cfg.example_template == ""
    assert cfg.data == str(small_csv) and cfg.label_column == "sentiment"
    assert cfg.output_dir == str(tmp_path)
    # an edited example template keeps its line breaks (form_to_config strips strings)
    cfg = play.prompt_config(values(example_template="Q: {text}\r\nA: {label}\n\n"))
    assert cfg.example_template == "Q: {text}\nA: {label}\n\n"
    with pytest.raises(ValueError, match="shots"):
        play.prompt_config(values(shots=-1))


def test_verbalizer_prefill_from_the_data_labels_and_the_preset(small_csv):
    data = (str(small_csv), "review", "sentiment", "classification")
    assert play.verbalizer_prefill(*data, "sentiment") == "neg: negative\npos: positive"
    assert play.verbalizer_prefill(*data, "general") == "neg: neg\npos: pos"
    assert (
        play.verbalizer_prefill("", "", "", "classification", "spam", "ham, spam")
        == "ham: normal\nspam: spam"
    )
    assert play.verbalizer_prefill("", "", "", "classification", "general") == gr.update()
    template, example, words = play.preset_changed("spam", *data)
    assert template == P.PRESETS["spam"]["template"] and words == "neg: neg\npos: pos"
    assert example == P.PRESETS["spam"]["example_template"]
    # a new table fills the box; the same labels again (a language switch) keep the user's
    words, sig = play.prefill_on_data(*data, "sentiment", "", None, "")
    assert words == "neg: negative\npos: positive" and sig
    again, same = play.prefill_on_data(*data, "sentiment", "", None, sig)
    assert again == gr.update() and same == sig
    assert play.prefill_on_data("", "", "", "classification", "general", "", None, sig) == (
        gr.update(),
        sig,
    )
    assert play.gen_template_of("summarization") == P.PRESETS["summarization"]["template"]
    assert play.gen_template_of("free") == "{text}"


def test_data_line(small_csv):
    assert "msg-info" in play.data_line("")
    line = play.data_line(str(small_csv), "review", "sentiment", "classification", 5)
    assert "small.csv" in msg(line) and "neg, pos" in line and "first 5 of its 8 test" in line
    assert "msg-warning" in play.data_line(str(small_csv), task="ner")
    bad = play.data_line(str(small_csv), "nope", "sentiment")
    assert "msg-error" in bad and "nope" in bad
    assert CJK.search(play.data_line(str(small_csv), "review", "sentiment", lang="zh"))


# ---- classify -----------------------------------------------------------------------------------


def test_classify_with_the_tiny_decoder(tiny_decoder, small_csv, tmp_path):
    out = play.classify(
        tiny_values(tiny_decoder, shots=2, calibrate=True),
        "great wonderful film",
        compare=str(tiny_decoder),
        data=str(small_csv),
        text_column="review",
        label_column="sentiment",
        runs_dir=tmp_path,
    )
    assert out["message"] == ""
    main = out["state"]["main"]
    assert main["label"] in ("neg", "pos") and main["label"] in msg(out["label"])
    assert sum(main["probabilities"].values()) == pytest.approx(1.0)
    # calibrated and uncalibrated bars, in the label order
    fig = out["probs"]
    assert [list(tr.y) for tr in fig.data] == [["neg", "pos"], ["neg", "pos"]]
    assert list(fig.data[0].x) == pytest.approx(list(main["probabilities"].values()))
    assert list(fig.data[1].x) == pytest.approx(list(main["uncalibrated"].values()))
    assert "prompt" in msg(out["label"]) or "Calibration" in msg(out["label"])
    # two few-shot examples from the training split, and the exact prompt
    examples = out["examples"]
    assert examples["visible"] and len(examples["value"]) == 2
    assert set(examples["value"]["label"]) <= {"neg", "pos"}
    prompt = out["prompt"]["value"]
    assert prompt.count("label :") == 3 and "text : great wonderful film label :" in prompt
    # the compare model side by side (same tiny model: same answer)
    assert out["state"]["compare"]["probabilities"] == pytest.approx(main["probabilities"])
    assert len(out["probs_compare"].data) == 2 and out["label_compare"]
    assert out["prompt_compare"]["value"] == prompt
    # a language switch re-renders the same result in Chinese
    zh = play.render_classify(out["state"], "zh")
    assert CJK.search(zh["label"]) and zh["probs"].data[0].name == t("play.chart.calibrated", "zh")


def test_classify_without_data_uses_the_typed_labels(tiny_decoder):
    out = play.classify(tiny_values(tiny_decoder, labels="neg, pos"), "i hated it")
    assert out["message"] == "" and set(out["state"]["main"]["probabilities"]) == {"neg", "pos"}
    assert len(out["probs"].data) == 1  # not calibrated: one series
    assert out["examples"]["visible"] is False


@pytest.mark.parametrize(
    "change, words",
    [
        ({"verbalizers": '{"neg": ["bad"'}, "not valid JSON"),
        ({"template": "text : {text} {label}"}, "Unknown placeholder"),
        ({"template": "no input here"}, "needs {text}"),
        ({"labels": "", "data": ""}, "at least two labels"),
        ({"shots": 2, "data": ""}, "no training rows"),
    ],
)
def test_classify_errors_are_messages(tiny_decoder, small_csv, change, words):
    change = dict(change)
    data = change.pop("data", str(small_csv))
    out = play.classify(
        tiny_values(tiny_decoder, **{"labels": "neg, pos", **change}),
        "some text",
        data=data,
        text_column="review",
        label_column="sentiment",
    )
    assert "msg-error" in out["message"] and words in msg(out["message"])
    assert "state" not in out


def test_classify_needs_a_text_and_a_known_model(tiny_decoder):
    assert "msg-warning" in play.classify(tiny_values(tiny_decoder), "  ")["message"]
    out = play.classify(values(backbone="run:/nowhere/at/all", labels="a, b"), "x")
    assert "msg-error" in out["message"]
    # a bad compare model: the main result stays, the message names the compare model
    out = play.classify(
        tiny_values(tiny_decoder, labels="neg, pos"), "x", compare="run:/nowhere/at/all"
    )
    assert out["state"]["main"] and "msg-error" in out["message"]
    assert "nowhere" in msg(out["message"])


def test_encoder_note_and_model_lists(tmp_path):
    assert "encoder" in msg(play.model_note("minilm-l6"))
    assert play.model_note("smollm2-135m-instruct") == ""
    assert CJK.search(play.model_note("minilm-l6", "zh"))
    models = play.model_list("en", tmp_path)
    assert models[0][1] == "smollm2-135m-instruct" and "bundled" in models[0][0]
    assert any(v == "minilm-l6" and "similarity" in label for label, v in models)
    assert play.compare_list("zh", tmp_path)[0] == (t("play.compare.none", "zh"), "")


# ---- generate -----------------------------------------------------------------------------------


def test_generation_streams_growing_text(tiny_decoder):
    outs = list(
        play.generate(
            str(tiny_decoder),
            str(tiny_decoder),
            "{text} :",
            "hello there",
            max_new_tokens=8,
            use_chat=False,
        )
    )
    texts = [o["output"] for o in outs if "output" in o]
    assert len(texts) >= 2 and all(b.startswith(a) for a, b in zip(texts, texts[1:]))
    assert len(texts[-1]) > len(texts[0]) or len(texts) > 2
    final = outs[-1]
    assert "msg-ok" in final["message"] and final["output_compare"] == final["output"]
    assert "msg-info" in outs[0]["message"]  # "Generating…" while it streams


def test_generation_stop_and_errors(tiny_decoder):
    stop = threading.Event()
    stop.set()  # Stop pressed: the stream ends after its first piece
    outs = list(
        play.generate(str(tiny_decoder), "", "{text}", "hello", max_new_tokens=40, stop=stop)
    )
    assert msg(outs[-1]["message"]) == t("play.gen_stopped")
    assert len(outs[-1]["output"].split()) <= 3
    out = list(play.generate(str(tiny_decoder), "", "{text} {nope}", "hello"))
    assert len(out) == 1 and "Unknown placeholder" in msg(out[0]["message"])
    out = list(play.generate("minilm-l6", "", "{text}", "hello"))
    assert "encoder" in msg(out[0]["message"]) and "msg-error" in out[0]["message"]
    assert "msg-warning" in list(play.generate(str(tiny_decoder), "", "{text}", ""))[0]["message"]
    assert play.stop_strings("a\n\n\\n\nb") == ["a", "\n", "b"]


# ---- measure ------------------------------------------------------------------------------------


def test_measure_needs_the_data_tab(tiny_decoder, tmp_path):
    out = list(play.measure(tiny_values(tiny_decoder), "", runs_dir=tmp_path))
    assert len(out) == 1 and msg(out[0]["status"]) == t("play.need_data")
    out = list(play.measure(tiny_values(tiny_decoder), "x.csv", task="ner", runs_dir=tmp_path))
    assert "msg-error" in out[0]["status"]
    out = play.add_run("some-run", tiny_values(tiny_decoder), "", runs_dir=tmp_path)
    assert msg(out["message"]) == t("play.need_data")


def test_measure_records_a_comparison_row(tiny_decoder, small_csv, tmp_path):
    vals = tiny_values(tiny_decoder, limit=6, shots=1, shot_selection="balanced")
    outs = list(play.measure(vals, str(small_csv), "review", "sentiment", runs_dir=tmp_path))
    assert "progress" in outs[0]["status"]  # loading, then the bar
    final = outs[-1]
    result = final["state"]["result"]
    assert result["n"] == 6 and 0 <= result["accuracy"] <= 1
    assert np.array(result["confusion"]).sum() == 6
    text = msg(final["result"])
    assert "Accuracy" in text and "Macro-F1" in text and "Seconds per row" in text
    confusion = final["confusion"]
    assert confusion["visible"] and [tr.type for tr in confusion["value"].data] == ["heatmap"]
    table = final["table"]
    assert len(table) == 1 and table[t("play.col.kind")][0] == t("play.kind.prompt")
    assert table[t("play.col.n")][0] == 6
    # on disk: a new page (or a restart) shows the same table, only for this data file
    assert len(P.load_measurements(tmp_path, data=str(small_csv))) == 1
    assert len(play.comparison(str(small_csv), tmp_path)) == 1
    assert len(play.comparison(str(tmp_path / "other.csv"), tmp_path)) == 0
    assert CJK.search(" ".join(play.comparison(str(small_csv), tmp_path, "zh").columns))
    zh = play.render_measure(final["state"], "zh")
    assert CJK.search(msg(zh["status"])) and CJK.search(msg(zh["result"]))
    assert "progress-done" in zh["status"]
    # a bad setting is a message
    bad = list(
        play.measure(
            {**vals, "verbalizers": "neg bad"},
            str(small_csv),
            "review",
            "sentiment",
            runs_dir=tmp_path,
        )
    )
    assert "needs the form" in msg(bad[-1]["status"])


def test_measure_stop_before_any_row(tiny_decoder, small_csv, tmp_path):
    stop = threading.Event()
    stop.set()
    outs = list(
        play.measure(
            tiny_values(tiny_decoder, limit=4),
            str(small_csv),
            "review",
            "sentiment",
            runs_dir=tmp_path,
            stop=stop,
        )
    )
    assert "Stopped before any row" in msg(outs[-1]["status"])
    assert P.load_measurements(tmp_path) == []


# ---- a fine-tuned run: comparison and explanation --------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_encoder):
    """A tiny encoder fine-tuned for a few steps on the small table (seconds)."""
    from engine.training.pipeline import train_run

    from tests.conftest import write_two_class_csv

    root = tmp_path_factory.mktemp("play-run")
    data = write_two_class_csv(root / "small.csv")
    cfg = RunConfig(
        data=str(data),
        backbone=str(tiny_encoder),
        output_dir=str(root / "runs"),
        max_steps=6,
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=32,
        strategy="full",
        run_name="tiny-cls",
    )
    run = RunStore(cfg.output_dir).create(cfg)
    train_run(cfg, run)
    assert run.status == "completed"
    return root / "runs", data, run.path


def test_a_fine_tuned_run_joins_the_comparison(tiny_run, tiny_decoder):
    runs_dir, data, run_path = tiny_run
    runs = play.run_list(runs_dir)
    assert [v for _, v in runs] == [str(run_path)] and "tiny-cls" in runs[0][0]
    vals = tiny_values(tiny_decoder, limit=8)
    out = play.add_run(str(run_path), vals, str(data), "review", "sentiment", runs_dir=runs_dir)
    assert "msg-ok" in out["message"] and "accuracy" in msg(out["message"])
    table = out["table"]
    assert list(table[t("play.col.kind")]) == [t("play.kind.run")]
    assert table[t("play.col.n")][0] == 8
    assert "msg-warning" in play.add_run("", vals, str(data), runs_dir=runs_dir)["message"]
    bad = play.add_run(str(runs_dir / "nope"), vals, str(data), runs_dir=runs_dir)
    assert "msg-error" in bad["message"]


def test_explain_a_fine_tuned_run(tiny_run):
    runs_dir, _, run_path = tiny_run
    out = play.explain_text(str(run_path), "i loved it , great film", "occlusion")
    assert out["message"] == ""
    segments = out["highlight"]
    assert "".join(s for s, _ in segments) == "i loved it , great film"
    scores = [v for _, v in segments if v is not None]
    assert len(scores) == 6 and max(abs(v) for v in scores) == pytest.approx(1.0)
    label = out["state"]["explanation"]["label"]
    assert label in ("neg", "pos") and f"“{label}”" in msg(out["result"])
    assert CJK.search(play.render_explain(out["state"], "zh"))
    ig = play.explain_text(str(run_path), "i loved it", "integrated-gradients")
    assert ig["message"] == "" and len([v for _, v in ig["highlight"] if v is not None]) == 3
    assert "msg-warning" in play.explain_text("", "text")["message"]
    assert "msg-warning" in play.explain_text(str(run_path), " ")["message"]
    assert "msg-error" in play.explain_text(str(run_path), "x", "shap")["message"]


def test_explain_through_a_keyword_predictor(monkeypatch, tmp_path):
    import engine.predict as predict

    class Keyword:
        labels = ["neg", "pos"]

        def predict_proba(self, texts):
            return np.array([[0.1, 0.9] if "good" in x else [0.8, 0.2] for x in texts])

    monkeypatch.setattr(predict, "get_predictor", lambda run_dir: Keyword())
    out = play.explain_text(str(tmp_path), "a really good film")
    best = max((v, s) for s, v in out["highlight"] if v is not None)
    assert best == (1.0, "good") and "90.0%" in msg(out["result"])
