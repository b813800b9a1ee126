"""Generation tasks (summarization / translation / dialogue): data checks, prompts, response-only
labels, packing, scores, and the whole run on a tiny random Llama (seconds)."""

from __future__ import annotations

import json
import math
import threading

import pandas as pd
import pytest

from engine.config import ConfigError, RunConfig
from engine.data import DataError
from engine.runs import RunStore
from engine.tasks import generation as gen
from engine.tasks import get_task


def _csv(tmp_path, rows, name="pairs.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _pairs(n=40):
    return [
        {"en": f"the cat number {i} sleeps", "es": f"el gato numero {i} duerme"} for i in range(n)
    ]


@pytest.fixture(scope="module")
def bert_tokenizer():
    """MiniLM's BERT tokenizer: no chat template, no eos (the [SEP] token ends a target)."""
    from engine.backbones import resolve_backbone

    return gen.load_tokenizer(resolve_backbone("minilm-l6"))


# ---- the contract ---------------------------------------------------------------------------


def test_contract_and_unsupported_strategies():
    for task in ("summarization", "translation", "dialogue"):
        assert get_task(task) is gen
    assert gen.DEFAULT_METRIC == "loss" and gen.INPUT_FIELDS == ["text"]
    assert gen.DEFAULT_STRATEGY("decoder") == "lora"
    assert "decoder backbone" in gen.unsupported("lora", "encoder")
    assert "is an encoder" in gen.unsupported("full", "encoder", "minilm-l6")
    for strategy in ("setfit", "head", "prefix"):
        assert gen.unsupported(strategy, "decoder")
    for strategy in (
        "lora",
        "dora",
        "pissa",
        "adalora",
        "ia3",
        "loha",
        "lokr",
        "vera",
        "full",
        "prompt",
        "ptuning",
    ):
        assert gen.unsupported(strategy, "decoder") is None


def test_check_support_refuses_an_encoder(tiny_encoder, tmp_path):
    from engine.training.pipeline import check_support

    cfg = RunConfig(task="translation", backbone=str(tiny_encoder), strategy="lora")
    with pytest.raises(ConfigError, match="needs a decoder backbone"):
        check_support(cfg)


# ---- columns and data errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "columns,expected",
    [
        (["id", "source", "target"], ("source", "target")),
        (["Text", "Summary"], ("Text", "Summary")),
        (["article", "highlights", "id"], ("article", "highlights")),
        (["document", "summary"], ("document", "summary")),
        (["input", "output"], ("input", "output")),
        (["prompt", "response"], ("prompt", "response")),
        (["question", "answer"], ("question", "answer")),
        (["ref", "en", "es"], ("en", "es")),
        (["english", "french"], ("english", "french")),
        (["foo", "bar"], ("foo", "bar")),  # the only two text columns, in order
    ],
)
def test_infer_columns_by_name(columns, expected):
    df = pd.DataFrame([{c: f"{c} value {i}" for c in columns} for i in range(5)])
    assert gen.infer_columns(df, "t.csv") == expected


def test_infer_columns_parallel_corpus_and_given_columns():
    df = pd.DataFrame(
        [{"ref": f"Gen.1.{i}", "en": f"light {i}", "es": f"luz {i}"} for i in range(5)]
    )
    assert gen.infer_columns(df, target_language="English") == ("es", "en")
    assert gen.infer_columns(df, source="es") == ("es", "en")
    assert gen.infer_columns(df, source="EN", target="Es") == ("en", "es")
    with pytest.raises(DataError, match="Did you mean 'es'"):
        gen.infer_columns(df, "bible.csv", target="ess")
    with pytest.raises(DataError, match="both 'en'"):
        gen.infer_columns(df, source="en", target="en")
    many = pd.DataFrame([{"a": f"x {i}", "b": f"y {i}", "c": f"z {i}"} for i in range(5)])
    with pytest.raises(DataError, match="Could not tell which source and target columns"):
        gen.infer_columns(many, "m.csv")


def test_empty_targets_sources_and_too_few_rows(tmp_path):
    rows = _pairs(12)
    rows[2]["es"] = ""
    rows[7]["es"] = "  "
    cfg = RunConfig(task="translation", data=str(_csv(tmp_path, rows)))
    with pytest.raises(DataError, match=r"2 row\(s\).*empty target.*rows 3, 8"):
        gen.prepare(cfg)

    empty_src = [{"source": "", "target": f"t {i}"} for i in range(12)]
    cfg = RunConfig(task="summarization", data=str(_csv(tmp_path, empty_src, "e.csv")))
    with pytest.raises(DataError, match="source column 'source'.*empty in every row"):
        gen.prepare(cfg)

    cfg = RunConfig(task="translation", data=str(_csv(tmp_path, _pairs(5), "few.csv")))
    with pytest.raises(DataError, match="only 5 usable rows"):
        gen.prepare(cfg)


def test_prepare_splits_warns_and_reads_a_test_file(tmp_path):
    rows = _pairs(60)
    rows[4]["en"] = ""  # a target without a source: dropped with a warning
    cfg = RunConfig(
        task="translation",
        data=str(_csv(tmp_path, rows)),
        max_new_tokens=4,
        max_length=12,
        validation_fraction=0.1,
        test_fraction=0.2,
        seed=1,
    )
    data = gen.prepare(cfg)
    assert data.columns == {"source": "en", "target": "es"}
    assert (len(data.train), len(data.validation), len(data.test)) == (41, 6, 12)
    assert list(data.train.columns) == ["source", "target"]
    joined = " ".join(data.warnings)
    assert "no source" in joined
    assert "longer than max new tokens (4" in joined
    assert "sources will be truncated" in joined
    assert data.info["target_language"] == "Spanish"
    assert data.info["template"] == "Translate the following text into Spanish:\n{source}"
    assert json.dumps(data.to_dict())

    test_file = _csv(tmp_path, _pairs(7), "test.csv")
    cfg = RunConfig(
        task="translation",
        data=str(_csv(tmp_path, _pairs(30), "d.csv")),
        test_data=str(test_file),
        max_rows=20,
    )
    data = gen.prepare(cfg)
    assert len(data.test) == 7 and len(data.train) + len(data.validation) == 20
    assert any("sample of 20" in w for w in data.warnings)


# ---- templates and labels -------------------------------------------------------------------


def test_templates():
    def template(**kw):
        return gen.resolve_template(RunConfig(**kw), kw.pop("_t", ""))

    assert (
        gen.resolve_template(RunConfig(task="translation", target_language="French"))
        == "Translate the following text into French:\n{source}"
    )
    assert (
        gen.resolve_template(RunConfig(task="translation"), "es")
        == "Translate the following text into Spanish:\n{source}"
    )
    assert (
        gen.resolve_template(RunConfig(task="translation"), "column_b")
        == "Translate the following text:\n{source}"
    )
    assert template(task="summarization").startswith("Summarize the following text.")
    assert template(task="dialogue") == "{source}"
    assert (
        template(task="summarization", prompt_template="TL;DR please") == "TL;DR please\n\n{source}"
    )
    assert gen.render("Q {source} {json: 1}", "x") == "Q x {json: 1}"


def test_plain_prompt_and_response_only_labels(bert_tokenizer):
    """Hand-checked on MiniLM's tokenizer (no chat template): the prompt is "instruction
    \\n\\nResponse: ", the target ends with [SEP], and only the target's tokens carry labels."""
    tok = bert_tokenizer
    fmt = gen.Formatter(tok, "Translate:\n{source}")
    assert not fmt.chat and fmt.end_ids == [tok.sep_token_id] and fmt.stop_ids == [102]
    assert fmt.prompt_text("Translate:\nthe cat") == "Translate:\nthe cat\n\nResponse: "
    ex = fmt.encode("the cat", "el gato", 64)
    tokens = tok.convert_ids_to_tokens(ex["input_ids"])
    assert tokens == ["translate", ":", "the", "cat", "response", ":", "el", "ga", "##to", "[SEP]"]
    assert ex["labels"] == [-100] * 6 + ex["input_ids"][6:]
    assert fmt.prompt_ids("the cat") == ex["input_ids"][:6]  # generation continues from here


def test_chat_prompt_and_labels_with_a_chat_template(bert_tokenizer):
    tok = gen.load_tokenizer(bert_tokenizer.name_or_path)
    tok.chat_template = (
        "{% for m in messages %}[unused1] {{ m['role'] }} : {{ m['content'] }} "
        "[unused2]\n{% endfor %}{% if add_generation_prompt %}[unused1] "
        "assistant : {% endif %}"
    )
    tok.add_special_tokens({"additional_special_tokens": ["[unused1]", "[unused2]"]})
    fmt = gen.Formatter(tok, "Summarize: {source}")
    assert fmt.chat
    assert tok.convert_ids_to_tokens(fmt.end_ids) == ["[unused2]"]  # the end of the turn
    assert tok.convert_ids_to_tokens(fmt.stop_ids) == ["[unused2]"]  # BERT has no eos
    ex = fmt.encode("long text", "short", 64)
    tokens = tok.convert_ids_to_tokens(ex["input_ids"])
    assert tokens[:3] == ["[unused1]", "user", ":"]
    assert tokens[-8:] == [
        "long",
        "text",
        "[unused2]",
        "[unused1]",
        "assistant",
        ":",
        "short",
        "[unused2]",
    ]
    answer = [t for t, label in zip(tokens, ex["labels"]) if label != -100]
    assert answer == ["short", "[unused2]"]


def test_smollm2_chat_format():
    from engine.backbones import BackboneError, resolve_backbone

    try:
        path = resolve_backbone("smollm2-135m-instruct", download=False)
    except BackboneError as e:
        pytest.skip(str(e))
    tok = gen.load_tokenizer(path)
    fmt = gen.Formatter(tok, "Translate the following text into Spanish:\n{source}")
    ex = fmt.encode("Let there be light.", "Sea la luz.", 128)
    text = tok.decode(ex["input_ids"])
    assert text.endswith(
        "<|im_start|>user\nTranslate the following text into Spanish:\n"
        "Let there be light.<|im_end|>\n<|im_start|>assistant\nSea la luz."
        "<|im_end|>"
    )
    answer = [i for i, label in zip(ex["input_ids"], ex["labels"]) if label != -100]
    assert tok.decode(answer) == "Sea la luz.<|im_end|>"
    assert fmt.stop_ids == [tok.convert_tokens_to_ids("<|im_end|>")]


def test_truncation_cuts_the_source_first(bert_tokenizer):
    fmt = gen.Formatter(bert_tokenizer, "T: {source}")
    source = " ".join(f"w{i}" for i in range(100))
    ex = fmt.encode(source, "el gato", 24)
    assert len(ex["input_ids"]) <= 24
    tokens = bert_tokenizer.convert_ids_to_tokens(ex["input_ids"])
    assert tokens[-4:] == ["el", "ga", "##to", "[SEP]"]  # the whole target survives
    answer = [t for t, label in zip(ex["input_ids"], ex["labels"]) if label != -100]
    assert bert_tokenizer.convert_ids_to_tokens(answer) == ["el", "ga", "##to", "[SEP]"]
    assert len(fmt.prompt_ids(source, 16)) <= 16
    long_target = " ".join(["gato"] * 60)
    ex = fmt.encode("the cat", long_target, 24)
    assert len(ex["input_ids"]) == 24 and ex["labels"][-1] != -100


# ---- packing and batches --------------------------------------------------------------------


def test_pack_and_collate_by_hand():
    examples = [
        {"input_ids": [1, 2, 3], "labels": [-100, 2, 3]},
        {"input_ids": [4, 5], "labels": [-100, 5]},
        {"input_ids": [6, 7, 8, 9], "labels": [-100, -100, 8, 9]},
    ]
    rows = gen.pack(examples, 6)
    assert rows == [
        {
            "input_ids": [1, 2, 3, 4, 5],
            "labels": [-100, 2, 3, -100, 5],
            "position_ids": [0, 1, 2, 0, 1],
        },
        {"input_ids": [6, 7, 8, 9], "labels": [-100, -100, 8, 9], "position_ids": [0, 1, 2, 3]},
    ]
    batch = gen.CausalCollator(0)(rows)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 0]]
    assert batch["labels"].tolist() == [[-100, 2, 3, -100, 5], [-100, -100, 8, 9, -100]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 3, 0]]
    assert "attention_mask" not in batch
    plain = gen.CausalCollator(0)([{k: v for k, v in e.items()} for e in examples[:2]])
    assert plain["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert plain["labels"].tolist() == [[-100, 2, 3], [-100, 5, -100]]


def test_packed_examples_do_not_see_each_other(tiny_decoder):
    """A packed row scores every example exactly as the example alone (and the batch loss is
    the same)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_decoder, dtype=torch.float32).eval()
    examples = [
        {
            "input_ids": [101, 2000 + i, 2100 + i, 2200, 2300 + i][: 3 + i % 3],
            "labels": [-100, 2000 + i, 2100 + i, 2200, 2300 + i][: 3 + i % 3],
        }
        for i in range(5)
    ]
    rows = gen.pack(examples, 9)
    assert len(rows) >= 2
    packed = gen.CausalCollator(0)(rows)
    alone = gen.CausalCollator(0)(examples)
    with torch.no_grad():
        inputs = {k: v for k, v in packed.items() if k != "labels"}
        assert inputs["use_cache"] is False  # a cache would hide the packed format
        logits = model(**inputs).logits
        single = [model(input_ids=torch.tensor([e["input_ids"]])).logits[0] for e in examples]
        k = 0
        for r, row in enumerate(rows):
            start = 0
            for n in [len(e["input_ids"]) for e in examples][
                k : k + sum(1 for p in row["position_ids"] if p == 0)
            ]:
                assert torch.allclose(logits[r, start : start + n], single[k], atol=1e-5)
                start += n
                k += 1
        assert k == len(examples)
        loss_packed = model(**packed).loss
        loss_alone = model(**alone).loss
    assert torch.allclose(loss_packed, loss_alone, atol=1e-5)


# ---- scores ---------------------------------------------------------------------------------


def test_scores_against_hand_computed_values():
    s = gen.score(["the cat sat on the mat"], ["the cat sat on a mat"])
    # unigrams: 5 of 6 match both ways; bigrams 3 of 5; LCS "the cat sat on mat" = 5
    assert s["rouge1"] == pytest.approx(100 * 5 / 6, abs=0.01)
    assert s["rouge2"] == pytest.approx(60.0, abs=0.01)
    assert s["rougeL"] == pytest.approx(100 * 5 / 6, abs=0.01)
    # BLEU: precisions 5/6, 3/5, 2/4, 1/3, equal lengths (no brevity penalty)
    assert s["bleu"] == pytest.approx(100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25, abs=0.01)
    assert 0 < s["chrf"] < 100 and s["exact_match"] == 0.0 and s["n"] == 1

    two = gen.score(["Sea la luz.", "otra cosa"], ["sea la luz", "Y fué la luz."])
    assert two["exact_match"] == 50.0 and two["n"] == 2
    same = gen.score(["Y vió Dios que la luz era buena"], ["Y vió Dios que la luz era buena"])
    assert all(
        same[k] == 100.0 for k in ("rouge1", "rouge2", "rougeL", "bleu", "chrf", "exact_match")
    )
    assert gen._WordTokenizer().tokenize("Y vió Dios, ¡sí!") == ["y", "vió", "dios", "sí"]
    # Chinese: one token per character (rouge-score's own tokenizer would give 0)
    cjk = gen.score(["我爱你"], ["我爱他"])
    assert cjk["rouge1"] == pytest.approx(100 * 2 / 3, abs=0.01)
    assert gen.score([], [])["n"] == 0
    assert gen.normalize_answer("  The  Cat!") == "the cat"


# ---- generation and whole runs --------------------------------------------------------------


def test_batched_generation_equals_one_at_a_time(tiny_decoder):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_decoder, dtype=torch.float32)
    tok = gen.load_tokenizer(tiny_decoder)
    fmt = gen.Formatter(tok, "T: {source}")
    prompts = [fmt.prompt_ids(s) for s in ["a", "a much longer source text here", "b c"]]
    together = gen.generate(model, tok, prompts, 6, batch_size=3, stop_ids=[])
    alone = [gen.generate(model, tok, [p], 6, batch_size=1, stop_ids=[])[0] for p in prompts]
    assert together == alone and all(isinstance(t, str) for t in together)
    calls = []
    out = gen.generate(
        model,
        tok,
        prompts,
        4,
        batch_size=1,
        stop_ids=[],
        progress=lambda d, t: calls.append((d, t)),
        should_stop=lambda: len(calls) >= 2,
    )
    assert calls == [(1, 3), (2, 3)] and sum(o is None for o in out) == 1


@pytest.mark.parametrize("task,packing", [("translation", False), ("summarization", True)])
def test_train_run_saves_and_predicts(task, packing, tiny_decoder, tmp_path):
    from engine.predict import load_predictor
    from engine.training.pipeline import train_run

    if task == "translation":
        data = _csv(tmp_path, _pairs(40))
    else:
        data = _csv(
            tmp_path,
            [
                {"document": f"a long text about topic {i} " * 3, "summary": f"topic {i}"}
                for i in range(40)
            ],
        )
    cfg = RunConfig(
        task=task,
        data=str(data),
        backbone=str(tiny_decoder),
        strategy="lora",
        output_dir=str(tmp_path / "runs"),
        max_steps=4,
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=48,
        max_new_tokens=6,
        generation_eval_rows=3,
        learning_rate=1e-2,
        packing=packing,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    assert run.status == "completed" and metrics["task"] == task
    keys = {"rouge1", "rouge2", "rougeL", "bleu", "chrf", "exact_match", "loss", "n"}
    assert set(metrics["test"]) >= keys and set(metrics["before"]) >= keys
    assert metrics["test"]["n"] == metrics["before"]["n"] == 3
    assert math.isfinite(metrics["test"]["loss"]) and metrics["validation"]["loss"] > 0
    assert len(metrics["examples"]) == 3
    assert set(metrics["examples"][0]) == {"source", "reference", "before", "after"}
    assert metrics["global_step"] == 4 and metrics["packing"] is packing
    assert metrics["train_samples_per_second"] > 0
    assert 0 < metrics["parameters"]["trainable"] < metrics["parameters"]["total"]
    assert not run.checkpoints_dir.exists()
    meta = json.loads((run.model_dir / "task.json").read_text())
    assert meta["task"] == task and "{source}" in meta["template"]
    assert (run.model_dir / "adapter_config.json").exists()
    kinds = [e["event"] for e in run.events()]
    assert {"start", "log", "eval", "end"} <= set(kinds) and kinds[-1] == "end"
    assert any("generated" in e.get("text", "") for e in run.events("message"))
    json.dumps(metrics)

    pred = load_predictor(run.path)
    first = metrics["examples"][0]
    out = pred.predict([first["source"], {"text": "hello"}])
    assert len(out) == 2 and all(isinstance(o["output"], str) for o in out)
    assert out[0]["output"] == first["after"]  # the same prompt, greedy: the same answer
    steps = list(pred.stream(first["source"], max_new_tokens=4))
    assert steps and steps[-1] == pred.predict([first["source"]], max_new_tokens=4)[0]["output"]
    assert all(b.startswith(a) for a, b in zip(steps, steps[1:]))
    if steps[-1].split():
        stop = steps[-1].split()[-1]
        stopped = list(pred.stream(first["source"], max_new_tokens=4, stop=[stop]))
        assert stopped[-1] == steps[-1][: steps[-1].find(stop)].rstrip()
    column = meta["columns"]["source"]
    table = pred.predict_table(pd.DataFrame({"other": [1, 2], column: ["a", "b"]}))
    assert list(table.columns) == ["other", column, "output"]
    assert all(isinstance(o, str) for o in table["output"])


def test_stop_request_still_reports(tiny_decoder, tmp_path):
    from engine.training.pipeline import train_run

    cfg = RunConfig(
        task="dialogue",
        data=str(
            _csv(tmp_path, [{"prompt": f"hi {i}", "response": f"hello {i}"} for i in range(20)])
        ),
        backbone=str(tiny_decoder),
        strategy="lora",
        output_dir=str(tmp_path / "runs"),
        max_steps=50,
        batch_size=4,
        max_length=32,
        max_new_tokens=4,
        generation_eval_rows=2,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    stop = threading.Event()
    stop.set()
    metrics = train_run(cfg, run, stop)
    assert run.status == "stopped" and metrics["global_step"] < 50
    assert (run.model_dir / "task.json").exists()


@pytest.mark.parametrize("strategy", ["full", "pissa", "adalora", "ia3", "prompt", "ptuning"])
def test_other_strategies_train_reload_and_generate_the_same(strategy, tiny_decoder, tmp_path):
    """The reloaded model generates what the trained one generated (greedy, same prompts)."""
    from engine.predict import load_predictor
    from engine.training.pipeline import train_run

    cfg = RunConfig(
        task="translation",
        data=str(_csv(tmp_path, _pairs(30))),
        backbone=str(tiny_decoder),
        strategy=strategy,
        num_virtual_tokens=4,
        output_dir=str(tmp_path / "runs"),
        max_steps=3,
        batch_size=8,
        evaluations_per_epoch=1,
        max_length=40,
        max_new_tokens=5,
        generation_eval_rows=3,
        learning_rate=5e-3,
        packing=True,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    assert run.status == "completed" and metrics["test"]["n"] == 3
    assert metrics["packing"] is (strategy not in ("prompt", "ptuning"))
    pred = load_predictor(run.path)
    sources = [ex["source"] for ex in metrics["examples"]]
    assert [o["output"] for o in pred.predict(sources)] == [
        ex["after"] for ex in metrics["examples"]
    ]


def test_prefix_tuning_is_refused(tiny_decoder, tmp_path):
    from engine.training.pipeline import train_run

    cfg = RunConfig(
        task="translation",
        data=str(_csv(tmp_path, _pairs(24))),
        backbone=str(tiny_decoder),
        strategy="prefix",
        output_dir=str(tmp_path / "runs"),
        max_steps=2,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    with pytest.raises(ConfigError, match="Prefix tuning cannot generate"):
        train_run(cfg, run)
