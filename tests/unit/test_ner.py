"""NER task: loaders, malformed data, tag schemes, sub-word alignment, scores, and the whole run
on tiny random models (engine/tasks/ner.py, engine/tasks/ner_data.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from engine.config import ConfigError, RunConfig
from engine.data import DataError
from engine.runs import RunStore
from engine.tasks import get_task, ner
from engine.tasks.ner_data import (
    detect_scheme,
    entity_dicts,
    highlighted,
    join_tokens,
    load_ner,
    spans_from_tags,
    spans_to_tokens,
    split_words,
    to_iob2,
)
from engine.training.pipeline import check_support, resolve_task_strategy, train_run
from tests.conftest import REPO

SAMPLE_EN = REPO / "sample_data" / "ner_english_demo.jsonl"
SAMPLE_ZH = REPO / "sample_data" / "ner_chinese_demo.jsonl"


def _jsonl(path, rows) -> str:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return str(path)


def _sentences(n: int = 12) -> list[dict]:
    names = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Kenji Sato"]
    cities = ["London", "Paris", "New York", "Tokyo"]
    rows = []
    for i in range(n):
        person, city = names[i % 4].split(), cities[(i // 2) % 4].split()
        tokens = person + ["lives", "in"] + city + ["."]
        tags = (
            ["B-PER"]
            + ["I-PER"] * (len(person) - 1)
            + ["O", "O"]
            + ["B-LOC"]
            + ["I-LOC"] * (len(city) - 1)
            + ["O"]
        )
        rows.append({"tokens": tokens, "tags": tags})
    return rows


# ---- loaders ------------------------------------------------------------------------------------


def test_jsonl_tokens_and_tags(tmp_path):
    rows = [{"words": r["tokens"], "ner_tags": r["tags"]} for r in _sentences(6)]
    table = load_ner(_jsonl(tmp_path / "d.jsonl", rows))
    assert table.columns == {"tokens": "words", "tags": "ner_tags"}
    assert table.scheme == "IOB2" and table.source_format == "jsonl"
    assert table.frame["tokens"][0] == ["Ada", "Lovelace", "lives", "in", "London", "."]
    assert table.types == ["LOC", "PER"] and not table.char_level


def test_jsonl_named_columns(tmp_path):
    rows = [{"w": r["tokens"], "t": r["tags"], "tags": "ignored"} for r in _sentences(4)]
    table = load_ner(_jsonl(tmp_path / "d.jsonl", rows), text_column="w", label_column="t")
    assert table.columns == {"tokens": "w", "tags": "t"}
    with pytest.raises(DataError, match="no column 'nope'.*w, t, tags"):
        load_ner(tmp_path / "d.jsonl", text_column="nope")


def test_conll_blocks_docstart_and_last_column(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text(
        "-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
        "German JJ B-NP B-MISC\n\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n"
    )
    table = load_ner(path)
    assert table.source_format == "conll"
    assert table.frame["tokens"].tolist() == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert table.frame["tags"][1] == ["B-PER", "I-PER"]
    assert table.frame["row"][1] == "d.conll line 8"


def test_txt_is_read_as_conll_when_it_looks_like_one(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("John\tB-PER\nruns\tO\n\nMary\tB-PER\n")
    assert load_ner(path).frame["tokens"].tolist() == [["John", "runs"], ["Mary"]]


def test_csv_text_with_character_spans_both_shapes(tmp_path):
    df = pd.DataFrame(
        {
            "text": ["Ada Lovelace lives in London.", "Nothing here.", "He joined ACME-Corp today"],
            "entities": [
                json.dumps(
                    [
                        {"start": 0, "end": 12, "label": "PER"},
                        {"start": 22, "end": 28, "label": "LOC"},
                    ]
                ),
                "[]",
                json.dumps([[10, 14, "ORG"]]),
            ],
        }
    )
    df.to_csv(tmp_path / "d.csv", index=False)
    table = load_ner(tmp_path / "d.csv")
    assert table.source_format == "spans" and table.scheme == "spans"
    assert table.columns == {"tokens": "text", "tags": "entities"}
    first = table.frame.iloc[0]
    assert first["tokens"] == ["Ada", "Lovelace", "lives", "in", "London", "."]
    assert first["tags"] == ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]
    assert table.frame["tags"][1] == ["O", "O", "O"]
    # a span that ends inside a word cuts the word: ACME | - | Corp
    assert table.frame["tokens"][2][2:5] == ["ACME", "-", "Corp"]
    assert table.frame["tags"][2][2:5] == ["B-ORG", "O", "O"]


def test_cjk_spans_one_token_per_character(tmp_path):
    rows = [{"text": "张三在北京工作。", "spans": [[0, 2, "PER"], [3, 5, "LOC"]]}] * 3
    table = load_ner(_jsonl(tmp_path / "zh.jsonl", rows))
    assert table.frame["tokens"][0] == list("张三在北京工作。")
    assert table.frame["tags"][0] == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O", "O"]
    assert table.char_level


def test_table_with_token_and_tag_lists(tmp_path):
    df = pd.DataFrame(
        {"tokens": ["John lives here", '["Mary", "too"]'], "tags": ["B-PER O O", "['B-PER', 'O']"]}
    )
    df.to_csv(tmp_path / "d.csv", index=False)
    table = load_ner(tmp_path / "d.csv")
    assert table.frame["tokens"].tolist() == [["John", "lives", "here"], ["Mary", "too"]]
    assert table.frame["tags"][1] == ["B-PER", "O"]


def test_sample_files_load():
    en, zh = load_ner(SAMPLE_EN), load_ner(SAMPLE_ZH)
    assert en.types == zh.types == ["LOC", "ORG", "PER"]
    assert zh.char_level and not en.char_level and len(zh.frame) >= 150


# ---- malformed data -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows, message",
    [
        (
            [{"tokens": ["a", "b", "c"], "tags": ["O", "B-PER"]}],
            r"d\.jsonl line 1 has 3 tokens but 2 tags",
        ),
        (
            [{"tokens": ["John"], "tags": ["B-PER"]}, {"tokens": ["Al"], "tags": ["B_PER"]}],
            r"line 2, token 1 \('Al'\): the tag 'B_PER' is not a BIO tag; write it as B-PER",
        ),
        ([{"tokens": ["John"], "tags": ["PERSON"]}], r"needs a prefix: B-PERSON"),
        ([{"tokens": ["John"], "tags": [1]}], r"holds numbers .* class ids"),
        (
            [{"tokens": ["John"], "tags": ["B-PER"]}, {"tokens": [], "tags": []}],
            r"line 2 is an empty sentence",
        ),
        ([{"tokens": ["a", "b"], "tags": ["O", "O"]}] * 5, r"has no entities: every tag is O"),
        (
            [{"text": "Ada lives", "spans": [[0, 30, "PER"]]}],
            r"line 1: the span \[0, 30, 'PER'\] lies outside the text, which has 9 characters",
        ),
        ([{"text": "Ada Lovelace", "spans": [[0, 12, "PER"], [4, 12, "PER"]]}], r"overlap"),
        ([{"text": "Ada", "spans": [{"begin": "x", "end": 3, "label": "PER"}]}], r"whole-number"),
        ([{"sentence_id": 1, "foo": "bar"}], r"cannot tell which columns"),
    ],
)
def test_malformed_jsonl_gives_a_useful_error(tmp_path, rows, message):
    with pytest.raises(DataError, match=message):
        load_ner(_jsonl(tmp_path / "d.jsonl", rows))


def test_broken_json_names_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"tokens": ["a"], "tags": ["B-X"]}\n\n{"tokens": ["b"], "tags": [}\n')
    with pytest.raises(DataError, match=r"d\.jsonl line 3 is not valid JSON"):
        load_ner(path)


def test_conll_line_without_tag(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text("John B-PER\nruns\n")
    with pytest.raises(DataError, match=r"d\.conll line 2 has only one column"):
        load_ner(path)


def test_too_few_sentences_to_split(tmp_path):
    cfg = RunConfig(task="ner", data=_jsonl(tmp_path / "d.jsonl", _sentences(3)))
    with pytest.raises(DataError, match="only 3 sentences"):
        ner.prepare(cfg)


# ---- schemes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags, scheme, iob2",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], "IOB2", ["B-PER", "I-PER", "O", "B-LOC"]),
        (
            ["I-PER", "I-PER", "B-PER", "O", "I-LOC"],
            "IOB1",
            ["B-PER", "I-PER", "B-PER", "O", "B-LOC"],
        ),
        (
            ["B-PER", "E-PER", "O", "S-LOC", "S-LOC"],
            "BIOES",
            ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"],
        ),
        (
            ["B-PER", "I-PER", "L-PER", "U-LOC", "O"],
            "BILOU",
            ["B-PER", "I-PER", "I-PER", "B-LOC", "O"],
        ),
        (
            ["I-PER", "I-PER", "O", "I-LOC", "I-ORG"],
            "IO",
            ["B-PER", "I-PER", "O", "B-LOC", "B-ORG"],
        ),
    ],
)
def test_scheme_detection_and_conversion(tags, scheme, iob2):
    assert detect_scheme([tags]) == scheme
    assert to_iob2(tags) == iob2


def _bioes(tags: list[str]) -> list[str]:
    out = []
    for i, tag in enumerate(tags):
        last = i + 1 == len(tags) or not tags[i + 1].startswith("I-")
        if tag.startswith("B-") and last:
            tag = "S-" + tag[2:]
        elif tag.startswith("I-") and last:
            tag = "E-" + tag[2:]
        out.append(tag)
    return out


def test_scheme_reported_by_prepare(tmp_path):
    rows = [{"tokens": r["tokens"], "tags": _bioes(r["tags"])} for r in _sentences(12)]
    assert rows[2]["tags"][:2] == ["B-PER", "E-PER"] and "S-LOC" in rows[0]["tags"]
    data = ner.prepare(RunConfig(task="ner", data=_jsonl(tmp_path / "d.jsonl", rows)))
    assert data.info["scheme"] == "BIOES" and data.info["converted_to"] == "IOB2"
    every = pd.concat([data.train, data.validation, data.test])
    assert sorted(map(tuple, every["tags"])) == sorted(tuple(r["tags"]) for r in _sentences(12))
    assert data.labels == ["LOC", "PER"] and data.info["tags"] == [
        "O",
        "B-LOC",
        "I-LOC",
        "B-PER",
        "I-PER",
    ]
    assert (len(data.train), len(data.validation), len(data.test)) == (10, 1, 1)
    assert data.to_dict()["rows"] == {"train": 10, "validation": 1, "test": 1}


def test_rare_types_and_long_sentences_warn(tmp_path):
    rows = _sentences(12) + [{"tokens": ["Acme"] + ["word"] * 60, "tags": ["B-ORG"] + ["O"] * 60}]
    data = ner.prepare(
        RunConfig(task="ner", data=_jsonl(tmp_path / "d.jsonl", rows), max_length=32)
    )
    text = " ".join(data.warnings)
    assert "ORG (1)" in text and "fewer than 5 mentions" in text
    assert "longer than max length (32 tokens)" in text and data.info["long_sentences"] == 1


def test_spans_from_tags_reads_stray_i_as_a_start():
    assert spans_from_tags(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]) == [
        (0, 2, "PER"),
        (3, 4, "LOC"),
        (4, 5, "LOC"),
        (5, 6, "ORG"),
    ]


def test_words_text_and_highlights():
    text = "Ada met @bob in New York-based ACME. 张三在北京"
    words = [text[a:b] for a, b in split_words(text)]
    assert words[:6] == ["Ada", "met", "@bob", "in", "New", "York"]
    assert words[-5:] == list("张三在北京")
    joined, offsets = join_tokens(["张", "三", "在", "Google", "工", "作"])
    assert joined == "张三在 Google 工作" and offsets[3] == (4, 10)
    tokens, tags = ["Ada", "Lovelace", "visited", "Paris"], ["B-PER", "I-PER", "O", "B-LOC"]
    ents = entity_dicts(tokens, tags)
    assert ents[0] == {
        "start_token": 0,
        "end_token": 2,
        "label": "PER",
        "text": "Ada Lovelace",
        "start": 0,
        "end": 12,
    }
    pairs = highlighted("Ada Lovelace visited Paris", ents)
    assert pairs == [["Ada Lovelace", "PER"], [" visited ", None], ["Paris", "LOC"]]
    assert spans_to_tokens("x", [])["tags"] == ["O"]


# ---- sub-words and scores -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    from engine.backbones import resolve_backbone

    return AutoTokenizer.from_pretrained(resolve_backbone("minilm-l6"))


def test_first_subword_alignment_on_minilm(minilm_tokenizer):
    enc = ner.WordEncoder(minilm_tokenizer, 32)
    assert not enc.space_prefix
    label2id = {"O": 0, "B-PER": 1, "I-PER": 2}
    feats, pieces, firsts = enc.encode(
        [["Unaffable", "Huggingface", "works"]], [["B-PER", "I-PER", "O"]], label2id
    )
    tokens = minilm_tokenizer.convert_ids_to_tokens(feats[0]["input_ids"])
    labels = feats[0]["labels"]
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert labels[0] == labels[-1] == -100
    word_starts = [
        i for i, t in enumerate(tokens) if t not in ("[CLS]", "[SEP]") and not t.startswith("##")
    ]
    assert [labels[i] for i in word_starts] == [1, 2, 0]
    assert sum(lab != -100 for lab in labels) == 3  # one label per word, -100 on the rest
    assert len(tokens) > 5 and pieces == [(0, 0, 3)] and [w for w, _ in firsts[0]] == [0, 1, 2]


def test_long_sentences_are_cut_into_pieces_that_fit(minilm_tokenizer):
    enc = ner.WordEncoder(minilm_tokenizer, 12)
    words = [f"word{i}" for i in range(30)]
    feats, pieces, firsts = enc.encode([words], [["O"] * 30], {"O": 0})
    assert len(pieces) > 1 and all(f["length"] <= 12 for f in feats)
    labelled = [w for first in firsts for w, _ in first]
    assert labelled == list(range(30))  # every word exactly once, in order


def test_byte_level_tokenizers_get_the_space_before_each_word():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        ["hello world of the cat"] * 20,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<pad>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>")
    enc = ner.WordEncoder(fast, 32)
    assert enc.space_prefix
    assert enc.words(["hello", "world", "张", "三"]) == ["hello", " world", " 张", "三"]


def test_seqeval_scores_on_a_hand_made_example():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "O"]]
    s = ner.scores(gold, pred)
    assert s["precision"] == 1.0 and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(0.8) and s["accuracy"] == pytest.approx(5 / 6)
    assert s["macro_f1"] == pytest.approx((1 + 1 + 0) / 3)
    rep = ner.report(gold, pred)
    assert rep["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert rep["per_type"]["PER"]["f1"] == 1.0 and rep["micro"]["support"] == 3
    # a wrong boundary is a miss at entity level though most tags are right
    assert ner.scores([["B-PER", "I-PER", "I-PER"]], [["B-PER", "I-PER", "O"]])["f1"] == 0.0


# ---- contract -----------------------------------------------------------------------------------


def test_contract_and_unsupported_strategies():
    module = get_task("ner")
    assert module is ner and module.DEFAULT_METRIC == "f1" and module.INPUT_FIELDS == ["text"]
    assert ner.DEFAULT_STRATEGY("encoder") == "full" and ner.DEFAULT_STRATEGY("decoder") == "lora"
    assert "sentence classification" in ner.unsupported("setfit", "encoder")
    assert ner.unsupported("prompt", "decoder") and ner.unsupported("ptuning", "encoder")
    for s in ("full", "lora", "prefix", "ia3", "head"):
        assert ner.unsupported(s, "encoder") is None


def test_check_support_refuses_prompt_tuning_for_ner(tiny_encoder):
    with pytest.raises(ConfigError, match="Prompt and P-tuning"):
        check_support(RunConfig(task="ner", backbone=str(tiny_encoder), strategy="prompt"))


# ---- training and prediction on tiny models -----------------------------------------------------


def _config(tmp_path, backbone, **kw) -> RunConfig:
    base = dict(
        task="ner",
        data=str(SAMPLE_EN),
        backbone=str(backbone),
        max_rows=60,
        output_dir=str(tmp_path / "runs"),
        max_steps=4,
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=32,
    )
    return RunConfig(**{**base, **kw})


@pytest.mark.parametrize(
    "fixture, strategy",
    [
        ("tiny_encoder", "full"),
        ("tiny_encoder", "lora"),
        ("tiny_decoder", "lora"),
        ("tiny_decoder", "full"),
    ],
)
def test_train_run_saves_reports_and_predicts(request, tmp_path, fixture, strategy):
    backbone = request.getfixturevalue(fixture)
    cfg = _config(tmp_path, backbone, strategy=strategy)
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    assert run.status == "completed" and metrics["task"] == "ner"
    assert set(metrics["test"]) == {"f1", "precision", "recall", "accuracy", "macro_f1", "n"}
    assert metrics["test"]["n"] == 6 and 0 <= metrics["test"]["f1"] <= 1
    assert set(metrics["before"]) == set(metrics["test"])  # the untrained head, same rows
    assert set(metrics["report"]) >= {"per_type", "micro", "macro"}
    assert metrics["global_step"] == 4 and metrics["train_samples_per_second"] > 0
    assert metrics["labels"] == ["LOC", "ORG", "PER"] and metrics["scheme"] == "IOB2"
    kinds = [e["event"] for e in run.events()]
    assert kinds[-1] == "end" and "eval" in kinds
    assert set(kinds[: kinds.index("start")]) <= {"message"}  # data warnings come first
    assert "eval_f1" in run.events("eval")[0]
    for ex in metrics["examples"]:
        assert "".join(s for s, _ in ex["gold_highlighted"]) == ex["text"]
        assert "".join(s for s, _ in ex["predicted_highlighted"]) == ex["text"]
        assert all(ex["text"][e["start"] : e["end"]] == e["text"] for e in ex["gold_entities"])
        assert isinstance(ex["gold"], str) and set(
            ex["predicted_entities"][0] if ex["predicted_entities"] else {}
        ) <= {"start_token", "end_token", "label", "text", "start", "end"}
    task = json.loads((run.model_dir / "task.json").read_text())
    assert task["tags"] == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    saved = "adapter_config.json" if strategy == "lora" else "config.json"
    assert (run.model_dir / saved).exists()
    assert not run.checkpoints_dir.exists()
    assert json.loads((run.path / "data.json").read_text())["info"]["scheme"] == "IOB2"

    predictor = ner.Predictor(run.path)
    out = predictor.predict(
        ["Mary Smith works in London.", ["Acme", "Bank", "hired", "Tom"], "张三在北京工作"]
    )
    assert out[0]["tokens"] == ["Mary", "Smith", "works", "in", "London", "."]
    assert len(out[1]["tags"]) == 4 and out[1]["text"] == "Acme Bank hired Tom"
    assert out[2]["tokens"] == list("张三在北京工作")
    for answer in out:
        assert all(t == "O" or t[:2] in ("B-", "I-") for t in answer["tags"])
        assert all(answer["text"][e["start"] : e["end"]] == e["text"] for e in answer["entities"])
        assert "".join(s for s, _ in answer["highlighted"]) == answer["text"]
    table = predictor.predict_table(pd.DataFrame({"text": ["Ada lives in Paris", "Hi"]}))
    assert list(table.columns) == ["text", "tags", "entities"]
    assert isinstance(json.loads(table["entities"][0]), list)


def test_predictor_matches_the_reported_test_scores(tiny_encoder, tmp_path):
    cfg = _config(tmp_path, tiny_encoder, strategy="lora", max_steps=3)
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    data = ner.prepare(cfg)
    answers = ner.Predictor(run.path).predict(data.test["tokens"].tolist())
    again = ner.scores(data.test["tags"].tolist(), [a["tags"] for a in answers])
    assert again["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-4)
    assert again["f1"] == pytest.approx(metrics["test"]["f1"], abs=1e-4)


def test_auto_strategy_conll_input_and_separate_test_file(tiny_encoder, tmp_path):
    def conll(path, rows):
        path.write_text(
            "\n\n".join("\n".join(f"{t} {g}" for t, g in zip(r["tokens"], r["tags"])) for r in rows)
            + "\n"
        )
        return str(path)

    cfg = _config(
        tmp_path,
        tiny_encoder,
        strategy="auto",
        max_rows=0,
        max_steps=2,
        data=conll(tmp_path / "train.conll", _sentences(20)),
        test_data=conll(tmp_path / "test.conll", _sentences(5)),
    )
    assert resolve_task_strategy(cfg).strategy == "full"
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    assert metrics["test"]["n"] == 5 and run.config().strategy == "full"
    assert json.loads((run.path / "plan.json").read_text())["strategy"] == "full"


def test_character_level_chinese_run(tiny_encoder, tmp_path):
    cfg = _config(tmp_path, tiny_encoder, data=str(SAMPLE_ZH), strategy="full", max_steps=2)
    run = RunStore(cfg.output_dir).create(cfg)
    train_run(cfg, run)
    assert json.loads((run.model_dir / "task.json").read_text())["char_level"] is True
    answer = ner.Predictor(run.path).predict(["王芳在上海工作。"])[0]
    assert answer["tokens"] == list("王芳在上海工作。") and answer["text"] == "王芳在上海工作。"
