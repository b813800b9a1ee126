"""Zero- / few-shot prompting (engine/prompting.py) on tiny random models and fake embedders."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import zlib

import numpy as np
import pandas as pd
import pytest

from engine import prompting as P
from engine.config import PromptConfig

from tests.conftest import REPO


# ---- templates -----------------------------------------------------------------------------------
def test_fill_replaces_only_known_placeholders_once():
    out = P.fill('{"x": 1} {text} / {labels}', text="says {labels}", labels="a, b")
    assert out == '{"x": 1} says {labels} / a, b'  # inserted text is not re-read


@pytest.mark.parametrize(
    "template, words",
    [
        ("Classify: {labels}", "needs {text}"),
        ("{text} {label}", "Unknown placeholder(s) {label}"),
    ],
)
def test_check_template_messages(template, words):
    with pytest.raises(
        P.PromptError,
        match=words.replace("{", r"\{").replace("}", r"\}").replace("(", r"\(").replace(")", r"\)"),
    ):
        P.check_template(template)


def test_build_prompt_with_examples_and_label_list():
    prompt = P.build_prompt(
        "Pick {labels}.\n{examples}Q: {text}\nA:",
        "new one",
        ["red", "green", "blue"],
        [("x" * 500, "red"), ("b", "blue")],
        "Q: {text}\nA: {label}\n",
    )
    assert prompt.startswith("Pick red, green or blue.\nQ: ")
    assert "x" * P.EXAMPLE_CHARS + "…\nA: red\nQ: b\nA: blue\nQ: new one\nA:" in prompt


def test_resolve_setting_uses_preset_words_and_puts_examples_first():
    cfg = PromptConfig(preset="sentiment", template="Text {text} ->", shots=2)
    s = P.resolve_setting(cfg, ["0", "1"])
    assert s.verbalizers == {"0": ["negative"], "1": ["positive"]}
    assert s.template == "{examples}Text {text} ->"
    with pytest.raises(P.PromptError, match="not in the data"):
        P.resolve_setting(PromptConfig(labels="0,7"), ["0", "1"])


# ---- verbalizers ---------------------------------------------------------------------------------
def test_parse_verbalizers_json_lines_and_defaults():
    labels = ["neg", "pos", "neutral"]
    assert P.parse_verbalizers('{"neg": ["bad", "awful"], "pos": "good"}', labels) == {
        "neg": ["bad", "awful"],
        "pos": ["good"],
        "neutral": ["neutral"],
    }
    assert P.parse_verbalizers("neg: bad, awful\n\npos: good", labels)["neg"] == ["bad", "awful"]
    assert P.parse_verbalizers("", ["0", "1"], preset="sentiment") == {
        "0": ["negative"],
        "1": ["positive"],
    }


@pytest.mark.parametrize(
    "spec, words",
    [
        ('{"neg": ["bad"', "not valid JSON"),
        ('["bad"]', "JSON object"),
        ("neg bad", "needs the form"),
        ('{"other": ["x"]}', "not one of the labels"),
        ('{"neg": []}', "no verbalizer words"),
    ],
)
def test_parse_verbalizers_errors(spec, words):
    with pytest.raises(P.PromptError, match=words):
        P.parse_verbalizers(spec, ["neg", "pos"])


# ---- calibration ---------------------------------------------------------------------------------
def test_calibration_divides_out_the_prior():
    q = P.calibrate(np.array([0.7, 0.3]), np.array([0.8, 0.2]))
    expected = np.array([0.7 / 0.8, 0.3 / 0.2])
    np.testing.assert_allclose(q, expected / expected.sum())
    # a uniform prior changes nothing; the prior itself becomes uniform
    np.testing.assert_allclose(P.calibrate(np.array([0.2, 0.8]), np.array([0.5, 0.5])), [0.2, 0.8])
    np.testing.assert_allclose(P.calibrate(np.array([0.9, 0.1]), np.array([0.9, 0.1])), [0.5, 0.5])
    assert P.content_free_inputs("N/A;;[MASK]") == ["N/A", "", "[MASK]"]


# ---- verbalizer scoring against a hand computation -----------------------------------------------
@pytest.fixture(scope="module")
def lm(tiny_decoder):
    return P.DecoderLM(str(tiny_decoder))


def _hand_logprob(model, prompt_ids, cont):
    import torch

    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt_ids + cont])).logits[0]
    logp = torch.log_softmax(logits.float(), -1)
    return sum(float(logp[len(prompt_ids) + j - 1, t]) for j, t in enumerate(cont))


def test_continuation_logprobs_match_a_full_forward(lm):
    text = "the review : it was fine . sentiment :"
    ids = lm.prompt_ids(text)
    conts = [
        lm.continuation_ids(text, w)
        for w in ["positive", "very negative indeed", "ok", "un ##believable thing"]
    ]
    assert any(len(c) > 1 for c in conts) and any(len(c) == 1 for c in conts)
    got = lm.continuation_logprobs(ids, conts)
    hand = [_hand_logprob(lm.model, ids, c) for c in conts]
    np.testing.assert_allclose(got, hand, rtol=1e-4, atol=1e-4)


def test_label_score_is_log_of_summed_word_probabilities(lm):
    text = "sentiment :"
    ids = lm.prompt_ids(text)
    words = [["good", "great"], ["bad"]]
    got = lm.label_scores(text, words, use_chat=False)
    g = [_hand_logprob(lm.model, ids, lm.continuation_ids(text, w)) for w in ["good", "great"]]
    b = _hand_logprob(lm.model, ids, lm.continuation_ids(text, "bad"))
    np.testing.assert_allclose(got, [math.log(math.exp(g[0]) + math.exp(g[1])), b], rtol=1e-4)


def test_too_long_prompt_is_a_clear_error(lm):
    with pytest.raises(P.PromptError, match="reads at most 128"):
        lm.label_scores("word " * 300, [["a"], ["b"]])


def test_chat_template_prompt_and_boundary(tmp_path_factory):
    """With a chat template the verbalizer follows the assistant header directly."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from engine.backbones import resolve_backbone

    out = tmp_path_factory.mktemp("tiny-chat")
    tok = AutoTokenizer.from_pretrained(resolve_backbone("smollm2-135m-instruct"))
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        pad_token_id=tok.pad_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    chat = P.DecoderLM(str(out))
    assert chat.has_chat
    text = chat.prompt_text("Is it good?")
    assert "Is it good?" in text and text.rstrip().endswith("assistant")
    cont = chat.continuation_ids(text, "positive")
    assert tok.decode(cont) == "positive"
    plain = chat.prompt_text("Is it good?", use_chat=False)
    assert plain == "Is it good?"
    assert tok.convert_ids_to_tokens(chat.continuation_ids(plain, "yes", use_chat=False)) == [
        "Ġyes"
    ]
    got = chat.continuation_logprobs(chat.prompt_ids(text), [cont])
    np.testing.assert_allclose(
        got, [_hand_logprob(chat.model, chat.prompt_ids(text), cont)], rtol=1e-4, atol=1e-4
    )


# ---- few-shot selection and encoder zero-shot (fake embedder: bag of words) ---------------------
class BagOfWords:
    def __init__(self):
        self.vocab: dict[str, int] = {}

    def encode(self, texts, batch_size=64):
        rows = []
        for t in texts:
            v = np.zeros(4096)
            for w in str(t).lower().split():
                v[zlib.crc32(w.encode()) % 4096] += 1  # stable across processes
            rows.append(v / (np.linalg.norm(v) or 1))
        return np.array(rows, dtype=np.float32)


@pytest.fixture
def fake_embedder(monkeypatch):
    emb = BagOfWords()
    monkeypatch.setattr(P, "get_embedder", lambda name="minilm-l6": emb)
    P._pool_vectors.cache_clear()
    yield emb
    P._pool_vectors.cache_clear()


POOL = pd.DataFrame(
    {
        "text": [
            "cats purr",
            "dogs bark",
            "cats nap",
            "dogs dig",
            "fish swim",
            "fish blow bubbles",
        ],
        "label": ["cat", "dog", "cat", "dog", "fish", "fish"],
    }
)


def test_random_and_balanced_selection_are_fixed_per_seed():
    a = P.ShotSelector(POOL, 3, "random", seed=1)
    assert a.select("x") == a.select("y")  # one draw for every input
    assert P.ShotSelector(POOL, 3, "random", seed=1).select("z") == a.select("x")
    draws = {tuple(P.ShotSelector(POOL, 3, "random", seed=s).select("x")) for s in range(8)}
    assert len(draws) > 1
    bal = P.ShotSelector(POOL, 3, "balanced", seed=3)
    assert sorted(POOL.label[bal.select("x")]) == ["cat", "dog", "fish"]
    assert len(P.ShotSelector(POOL, 99, "balanced").select("x")) == len(POOL)


def test_similar_selection_puts_the_nearest_last(fake_embedder):
    sel = P.ShotSelector(POOL, 2, "similar")
    picked = sel.select("the cats purr loudly")
    assert POOL.text[picked[-1]] == "cats purr" and POOL.label[picked[0]] == "cat"
    assert "cats purr" not in POOL.text[sel.select("cats purr")].tolist()  # never itself


def test_encoder_zero_shot_by_similarity(fake_embedder):
    model = P.EncoderZeroShot.__new__(P.EncoderZeroShot)
    model.name, model.embedder, model._cache = "fake", fake_embedder, {}
    cfg = PromptConfig(verbalizers='{"cat": ["cats"], "dog": ["dogs"], "fish": ["fish"]}')
    clf = P.PromptClassifier(cfg, ["cat", "dog", "fish"], POOL, model=model)
    rows = pd.DataFrame(
        {
            "text": ["cats sleep", "dogs run", "fish eat", "two dogs"],
            "label": ["cat", "dog", "fish", "dog"],
        }
    )
    result = clf.measure(rows)
    assert result["accuracy"] == 1.0 and result["model_kind"] == "encoder"
    assert clf.classify("cats")["label"] == "cat"


# ---- classify / measure with the tiny decoder ------------------------------------------------------
def test_classify_with_calibration_uses_the_content_free_prior(lm, fake_embedder):
    cfg = PromptConfig(
        template="{examples}text : {text} label :",
        shots=2,
        calibrate=True,
        verbalizers='{"cat": ["cat"], "dog": ["dog"], "fish": ["fish"]}',
        example_template="text : {text} label : {label} ",
    )
    clf = P.PromptClassifier(cfg, ["cat", "dog", "fish"], POOL, model=lm)
    out = clf.classify("a dog")
    raw = np.array(list(out["uncalibrated"].values()))
    idx = clf.selector.select("a dog")
    priors = [
        P.softmax(lm.label_scores(clf.prompt(cf, idx), clf.setting.words))
        for cf in ["N/A", "", "[MASK]"]
    ]
    np.testing.assert_allclose(list(out["prior"].values()), np.mean(priors, axis=0), rtol=1e-5)
    np.testing.assert_allclose(
        list(out["probabilities"].values()), P.calibrate(raw, np.mean(priors, axis=0)), rtol=1e-5
    )
    assert len(out["examples"]) == 2 and out["prompt"].count("label :") == 3


def test_measure_and_the_comparison_table(lm, tmp_path, fake_embedder):
    cfg = PromptConfig(
        template="{text} :",
        shots=1,
        shot_selection="similar",
        verbalizers='{"cat": ["cat"], "dog": ["dog"], "fish": ["fish"]}',
        output_dir=str(tmp_path),
    )
    clf = P.PromptClassifier(cfg, ["cat", "dog", "fish"], POOL, model=lm)
    rows = pd.DataFrame(
        {
            "text": ["cats a", "dogs b", "fish c", "cats d", "x"],
            "label": ["cat", "dog", "fish", "cat", "bird"],
        }
    )
    seen = []
    result = clf.measure(rows, progress=lambda d, t: seen.append((d, t)))
    assert result["n"] == 4 and seen[-1] == (4, 4)  # the unknown label is left out
    assert np.array(result["confusion"]).sum() == 4
    assert 0 <= result["accuracy"] <= 1 and result["seconds_per_example"] > 0
    acc = np.mean([p == g for p, g in zip(result["predictions"], rows.label[:4])])
    assert result["accuracy"] == pytest.approx(acc)
    P.record_measurement(result, cfg, output_dir=tmp_path)
    P.record_measurement({**result, "accuracy": 1.0, "setting": "better"}, cfg, output_dir=tmp_path)
    (P.measurements_path(tmp_path)).open("a").write("{broken\n")
    entries = P.load_measurements(tmp_path)
    assert len(entries) == 2 and "predictions" not in entries[0]
    table = P.comparison_table(entries)
    assert table.name[0] == "better" and list(table.columns)[:3] == ["name", "kind", "accuracy"]


def test_stop_event_ends_measure_early(lm):
    cfg = PromptConfig(template="{text} :", verbalizers='{"cat": ["cat"], "dog": ["dog"]}')
    clf = P.PromptClassifier(cfg, ["cat", "dog"], model=lm)
    stop = threading.Event()
    rows = pd.DataFrame({"text": [f"t{i}" for i in range(10)], "label": ["cat", "dog"] * 5})
    result = clf.measure(rows, progress=lambda d, t: stop.set() if d == 3 else None, stop=stop)
    assert result["n"] == 3 and result["stopped_early"]


def test_stream_generation_grows_and_stops(lm):
    outs = list(lm.stream("hello there", max_new_tokens=6))
    assert outs and all(b.startswith(a) for a, b in zip(outs, outs[1:]))
    full = outs[-1]
    words = full.split()
    if len(words) > 1:  # a stop string cuts the output before it
        cut = list(lm.stream("hello there", max_new_tokens=6, stop=[words[1]]))[-1]
        assert words[1] not in cut


# ---- explanations ----------------------------------------------------------------------------------
class KeywordPredictor:
    labels = ["neg", "pos"]

    def predict_proba(self, texts):
        return np.array([[0.1, 0.9] if "good" in t else [0.8, 0.2] for t in texts])


def test_occlusion_finds_the_deciding_word(monkeypatch, tmp_path):
    import engine.predict as predict

    monkeypatch.setattr(predict, "get_predictor", lambda run_dir: KeywordPredictor())
    out = P.explain(tmp_path, "a really good  film")
    assert out["label"] == "pos" and out["probability"] == pytest.approx(0.9)
    top = max(out["words"], key=lambda w: w["score"])
    assert top["word"] == "good" and top["score"] == 1.0 and top["raw"] == pytest.approx(0.7)
    assert "".join(s["text"] for s in out["segments"]) == "a really good  film"
    with pytest.raises(P.PromptError, match="Type a text"):
        P.explain(tmp_path, "  ")


def test_integrated_gradients_are_complete(monkeypatch, tmp_path, tiny_encoder):
    """Attributions sum to f(x) - f(baseline) (captum's convergence delta is small)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import engine.predict as predict

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=2).eval()

    class Tiny:
        labels = ["neg", "pos"]
        max_length = 32
        _lock = threading.Lock()
        _setfit = None

        def __init__(self):
            self.model, self.tokenizer = model, AutoTokenizer.from_pretrained(tiny_encoder)

        def predict_proba(self, texts):
            enc = self.tokenizer(texts, return_tensors="pt", padding=True)
            with torch.no_grad():
                return torch.softmax(self.model(**enc).logits, -1).numpy()

    monkeypatch.setattr(predict, "get_predictor", lambda run_dir: Tiny())
    out = P.explain(tmp_path, "an unbelievable film", method="integrated-gradients", steps=64)
    assert [w["word"] for w in out["words"]] == ["an", "unbelievable", "film"]
    assert out["convergence_delta"] < 0.01
    assert max(abs(w["score"]) for w in out["words"]) == pytest.approx(1.0)


# ---- CLI -------------------------------------------------------------------------------------------
def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )


def test_cli_zeroshot_prints_json_and_records(small_csv, tiny_decoder, tmp_path):
    res = _cli(
        "zeroshot",
        "--data",
        str(small_csv),
        "--text-column",
        "review",
        "--label-column",
        "sentiment",
        "--backbone",
        str(tiny_decoder),
        "--verbalizers",
        '{"neg": ["bad"], "pos": ["good"]}',
        "--template",
        "review : {text} sentiment :",
        "--calibrate",
        "--limit",
        "6",
        "--output-dir",
        str(tmp_path),
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"accuracy", "macro_f1", "n", "seconds_per_example"} <= set(out)
    assert out["n"] == 6 and out["calibrated"] is True
    assert len(P.load_measurements(tmp_path)) == 1


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--label-column", "stars"], "'stars' is not in"),
        (["--verbalizers", '{"neg": "bad"'], "not valid JSON"),
        (["--template", "no input here"], "needs {text}"),
        (["--labels", "neg,meh"], "not in the data"),
    ],
)
def test_cli_zeroshot_bad_input_exit_2(extra, words, small_csv, tiny_decoder, tmp_path):
    res = _cli(
        "zeroshot",
        "--data",
        str(small_csv),
        "--backbone",
        str(tiny_decoder),
        "--output-dir",
        str(tmp_path),
        *extra,
    )
    assert res.returncode == 2 and words in res.stderr and "Traceback" not in res.stderr


def test_domain_calibration_prior_is_the_mean_over_training_texts(lm):
    cfg = PromptConfig(
        template="{text} :",
        calibrate=True,
        calibration="domain",
        verbalizers='{"cat": ["cat"], "dog": ["dog"], "fish": ["fish"]}',
    )
    clf = P.PromptClassifier(cfg, ["cat", "dog", "fish"], POOL, model=lm)
    out = clf.classify("a dog")
    hand = np.mean(
        [P.softmax(lm.label_scores(f"{t} :", clf.setting.words)) for t in POOL.text], axis=0
    )  # the pool has < 32 texts: all of them
    np.testing.assert_allclose(list(out["prior"].values()), hand, rtol=1e-5)


def test_example_blocks_never_run_together():
    out = P.format_examples([("a", "x"), ("b", "y")], "T: {text} L: {label}")
    assert out == "T: a L: x\n\nT: b L: y\n\n"


def test_same_file_by_path_or_content_not_by_name(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    one, two, copy = tmp_path / "a/train.csv", tmp_path / "b/train.csv", tmp_path / "copy.csv"
    one.write_text("text,label\nx,1\n"), two.write_text("text,label\ny,0\n")
    copy.write_text(one.read_text())
    assert P._same_file(str(one), str(copy)) and P._same_file(str(one), str(one))
    assert not P._same_file(str(one), str(two)) and not P._same_file("", str(one))


def test_a_fine_tuned_run_measured_on_the_same_rows(small_csv, tiny_encoder, tmp_path):
    from engine.config import RunConfig
    from engine.runs import RunStore
    from engine.training.pipeline import train_run

    runs = tmp_path / "runs"
    cfg = PromptConfig(
        data=str(small_csv), text_column="review", label_column="sentiment", output_dir=str(runs)
    )
    data = P.measure_data(cfg)
    results = []
    for seed in (42, 7):  # the default split, then another one
        rc = RunConfig(
            data=str(small_csv),
            backbone=str(tiny_encoder),
            strategy="head",
            max_steps=3,
            batch_size=8,
            max_length=32,
            seed=seed,
            output_dir=str(runs),
        )
        run = RunStore(runs).create(rc)
        train_run(rc, run)
        results.append(P.measure_run(run.path, data, cfg))
    same, other = results
    assert same["n"] == len(data.rows) == 8 and np.array(same["confusion"]).sum() == 8
    assert same["note"] == "" and "another file or split" in other["note"]
    assert same["data"] == str(small_csv)
    P.record_measurement(same, output_dir=runs, kind="run", name=same["setting"])
    assert [e["kind"] for e in P.load_measurements(runs, data=str(small_csv))] == ["run"]
    assert [label for label, _ in P.finished_runs(runs)][0].endswith(")")
    with pytest.raises(P.PromptError, match="no trained model"):
        P.measure_run(RunStore(runs).create(RunConfig(data=str(small_csv))).path, data, cfg)


def test_prompts_sharing_a_prefix_reuse_the_cache_and_score_the_same(lm):
    head = "instruction : pick one . example : good film -> pos . example : bad film -> neg . "
    words = [["pos"], ["neg", "very negative"]]
    texts = [head + f"input : {t} ->" for t in ("a fine day", "a lovely film", "the end")]
    fresh = []
    for text in texts:
        lm._kept = (None, None)
        fresh.append(lm.label_scores(text, words, use_chat=False))
    lm._kept = (None, None)
    reused = [lm.label_scores(text, words, use_chat=False) for text in texts]
    ids = lm.prompt_ids(texts[2])
    cache, start = lm._reuse(ids)  # the kept cache is the last prompt's: all but one token
    assert start == len(ids) - 1 and cache.get_seq_length() == start
    np.testing.assert_allclose(reused, fresh, rtol=1e-4, atol=1e-4)
    shared = len(lm.prompt_ids(head)) - 2
    lm._kept = (None, None)
    lm.label_scores(texts[0], words, use_chat=False)
    assert lm._reuse(lm.prompt_ids(texts[1]))[1] >= shared > P.REUSE_MIN
