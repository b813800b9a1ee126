"""Adaptive pre-training (engine/adaptive.py) on tiny random models: domain text loading, the
domain report's statistics, the perplexity maths, curriculum, and whole runs (MLM and CLM)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd
import pytest
import torch

from engine import adaptive
from engine.backbones import BackboneError, backbone_info, family_of, resolve_backbone
from engine.config import ConfigError, PretrainConfig, RunConfig
from engine.data import DataError
from engine.runs import RunStore

from tests.conftest import REPO

DOMAIN = [
    f"the cocoa crop in bahia rose {i} percent as rain helped the harvest of beans"
    for i in range(30)
] + [f"wheat exports fell {i} tonnes while maize prices climbed" for i in range(30)]


@pytest.fixture
def domain_txt(tmp_path):
    path = tmp_path / "domain.txt"
    path.write_text("\n".join(DOMAIN), encoding="utf-8")
    return path


def _cfg(data, backbone, tmp_path, **kw) -> PretrainConfig:
    base = dict(
        data=str(data),
        backbone=str(backbone),
        output_dir=str(tmp_path / "runs"),
        max_steps=12,
        batch_size=8,
        max_length=32,
        evaluations=3,
        eval_tokens=128,
        head_warmup_steps=5,
        early_stopping_patience=0,
    )
    return PretrainConfig(**{**base, **kw})


# ---- domain text -------------------------------------------------------------------------------


def test_split_documents_lines_or_paragraphs():
    assert adaptive.split_documents("a b\nc d\ne f\n") == ["a b", "c d", "e f"]
    one_per_line = (
        "\n".join(f"line {i}" for i in range(100))
        + "\n\n"
        + "\n".join(f"more {i}" for i in range(100))
    )
    assert len(adaptive.split_documents(one_per_line)) == 200
    text = "first line\nof doc one\n\nsecond doc\ncontinues here\n\nthird\nthree"
    assert adaptive.split_documents(text) == [
        "first line of doc one",
        "second doc continues here",
        "third three",
    ]


def test_load_txt_csv_and_labelled_train(tmp_path, domain_txt):
    texts, info = adaptive.load_domain_texts(_cfg(domain_txt, "x", tmp_path))
    assert texts == DOMAIN and info["documents"] == 60
    csv = tmp_path / "d.csv"
    pd.DataFrame({"id": range(60), "body": DOMAIN}).to_csv(csv, index=False)
    texts, info = adaptive.load_domain_texts(_cfg(csv, "x", tmp_path))
    assert info["text_column"] == "body" and len(texts) == 60

    labelled = tmp_path / "l.csv"
    rows = [{"text": t, "label": "a" if i % 2 else "b"} for i, t in enumerate(DOMAIN)]
    pd.DataFrame(rows).to_csv(labelled, index=False)
    texts, info = adaptive.load_domain_texts(_cfg(labelled, "x", tmp_path, source="labelled-train"))
    from engine.data import prepare_data

    spec = prepare_data(labelled, seed=42)
    held = set(spec.test["text"]) | set(spec.validation["text"])
    assert texts and not held & set(texts)  # the fine-tuning run's test rows are never seen
    assert len(texts) == len(spec.train)


@pytest.mark.parametrize(
    "content,needle", [("", "empty"), ("one\ntwo\n", "only 2 document"), ("\n\n  \n", "no text")]
)
def test_bad_domain_text_is_a_clear_error(tmp_path, content, needle):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=needle):
        adaptive.load_domain_texts(_cfg(path, "x", tmp_path))


def test_missing_column_and_file(tmp_path):
    csv = tmp_path / "d.csv"
    pd.DataFrame({"body": DOMAIN}).to_csv(csv, index=False)
    with pytest.raises(DataError, match="bodi|body"):
        adaptive.load_domain_texts(_cfg(csv, "x", tmp_path, text_column="bodi"))
    with pytest.raises(DataError, match="not found"):
        adaptive.load_domain_texts(_cfg(tmp_path / "nope.txt", "x", tmp_path))


def test_held_out_slice_is_disjoint_and_seeded():
    texts = [f"doc {i}" for i in range(50)] + ["doc 3"]  # a duplicate of a document
    train, held = adaptive.split_held_out(texts, 0.2, seed=1)
    assert len(held) == 10 and not set(held) & set(train)
    assert adaptive.split_held_out(texts, 0.2, seed=1) == (train, held)
    assert adaptive.split_held_out(texts, 0.2, seed=2)[1] != held


# ---- report ------------------------------------------------------------------------------------


def test_vocabulary_stats(tiny_encoder):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    texts = ["the cat sat"] * 3 + [
        "pneumonoultramicroscopic pneumonoultramicroscopic pneumonoultramicroscopic \U0001f9ea"
    ]
    stats = adaptive.vocabulary_stats(tok, texts)
    pieces = {w: len(tok.tokenize(w)) for w in ["the", "cat", "sat", "pneumonoultramicroscopic"]}
    expected = (
        3 * (pieces["the"] + pieces["cat"] + pieces["sat"]) + 3 * pieces["pneumonoultramicroscopic"]
    ) / 12
    assert stats["subwords_per_word"] == pytest.approx(expected, abs=1e-3)
    assert stats["most_fragmented"][0]["word"] == "pneumonoultramicroscopic"
    assert stats["unknown_tokens"] == 1  # the emoji is [UNK] for this vocabulary
    assert adaptive.words_of("银行利率 rose") == ["银", "行", "利", "率", "rose"]
    assert adaptive.words_of("don't re-rate") == ["don", "t", "re", "rate"]  # no punctuation


def test_verdict_levels():
    close = {"subwords_per_word": 1.15, "unknown_token_rate": 0.0}
    far = {"subwords_per_word": 1.9, "unknown_token_rate": 0.02}
    assert adaptive.verdict(close, 8.0, "mlm")["level"] == "close"
    assert adaptive.verdict(far, 500.0, "mlm")["level"] == "far"
    assert "1.90 sub-words per word" in adaptive.verdict(far, None, "clm")["text"]
    # relative to the everyday-English control: 3x its perplexity is far, 1.1x is close
    assert adaptive.verdict(close, 30.0, "clm", control=10.0)["level"] == "moderate"
    assert "3.0x" in adaptive.verdict(close, 30.0, "clm", control=10.0)["text"]
    assert adaptive.verdict(close, 11.0, "clm", control=10.0)["level"] == "close"
    assert adaptive.result_summary("perplexity", 100, 50, 20, 19).endswith(
        "specific to the domain."
    )
    assert "shared by the control" in adaptive.result_summary("perplexity", 100, 50, 20, 10)
    assert adaptive.gain_shared(100, 50, 20, 10) and not adaptive.gain_shared(100, 50, 20, 19)


# ---- perplexity maths --------------------------------------------------------------------------


def test_pseudo_perplexity_matches_a_hand_computation(tiny_encoder):
    model, tok, fresh = adaptive.load_lm(tiny_encoder, "mlm")
    assert fresh and model.get_output_embeddings().weight is model.get_input_embeddings().weight
    model.eval()
    text = "the cocoa crop rose"
    ids = tok(text)["input_ids"]
    nll = []
    with torch.no_grad():
        for i in range(1, len(ids) - 1):  # every token but [CLS] / [SEP], masked in turn
            masked = list(ids)
            masked[i] = tok.mask_token_id
            logits = model(input_ids=torch.tensor([masked])).logits[0, i]
            nll.append(-torch.log_softmax(logits, -1)[ids[i]].item())
    got = adaptive.pseudo_perplexity(model, tok, [text], 32, 1000)
    assert got["tokens"] == len(ids) - 2
    assert got["perplexity"] == pytest.approx(math.exp(sum(nll) / len(nll)), rel=1e-4)


def test_causal_perplexity_matches_the_model_loss(tiny_decoder):
    model, tok, _ = adaptive.load_lm(tiny_decoder, "clm")
    model.eval()
    text = "wheat exports fell while maize climbed"
    ids = tok(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()
    got = adaptive.causal_perplexity(model, tok, [text, text], 64, ids.shape[1] - 1)
    assert got["tokens"] == ids.shape[1] - 1  # the budget stops after the first text
    assert got["perplexity"] == pytest.approx(math.exp(loss), rel=1e-4)


def test_masked_perplexity_is_deterministic(tiny_encoder):
    model, tok, _ = adaptive.load_lm(tiny_encoder, "mlm")
    a = adaptive.masked_perplexity(model, tok, DOMAIN[:10], 32, 200)
    b = adaptive.masked_perplexity(model, tok, DOMAIN[:10], 32, 200)
    assert a == b and 0 < a["tokens"] <= 200


# ---- features, curriculum, length schedule ------------------------------------------------------


def test_mlm_windows_cover_long_documents(tiny_encoder):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    long_doc = " ".join(f"word{i}" for i in range(100))
    feats = adaptive.mlm_features(tok, [long_doc, "short one"], 32, with_offsets=True)
    n_pieces = len(tok(long_doc, add_special_tokens=False)["input_ids"])
    first = [f for f in feats if f["doc"] == 0]
    assert len(first) == math.ceil(n_pieces / 30)
    assert all(len(f["input_ids"]) <= 32 and f["input_ids"][0] == tok.cls_token_id for f in feats)
    assert all(len(f["offset_mapping"]) == len(f["input_ids"]) for f in feats)
    # whole-word masking: a masked word has every piece masked
    collate = adaptive.Collator(
        adaptive.mlm_collator(
            tok, PretrainConfig(whole_word_mask=True, mask_probability=0.3), seed=3
        ),
        adaptive.LengthSchedule(32, False),
    )
    batch = collate(feats)
    labels = batch["labels"]
    assert (labels != -100).any() and batch["input_ids"].shape == labels.shape
    # whole words: a masked "##" continuation piece always has its word's first piece masked
    for row in range(labels.shape[0]):
        toks = tok.convert_ids_to_tokens(feats[row]["input_ids"])
        for i, t in enumerate(toks):
            if t.startswith("##") and labels[row, i] != -100:
                j = i
                while toks[j].startswith("##"):
                    j -= 1
                assert labels[row, j] != -100


def test_clm_packing(tiny_decoder):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_decoder)
    tok.eos_token = tok.eos_token or "[SEP]"
    texts = DOMAIN[:10]
    packed = adaptive.clm_features(tok, texts, 16, packing=True)
    total = sum(len(tok(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)
    assert sum(len(f["input_ids"]) for f in packed) in (total, total - (total % 16 == 1))
    assert all(len(f["input_ids"]) == 16 for f in packed[:-1])
    single = adaptive.clm_features(tok, texts, 16, packing=False)
    assert len(single) >= len(texts)


def test_curriculum_orders():
    feats = [{"input_ids": [0] * n} for n in (5, 2, 9, 2)]
    cfg = PretrainConfig(curriculum="length")
    assert adaptive.curriculum_order(cfg, feats) == [1, 3, 0, 2]
    cfg = PretrainConfig(curriculum="loss")
    assert adaptive.curriculum_order(cfg, feats, lambda f: [3.0, 1.0, 0.5, 2.0]) == [2, 1, 3, 0]
    assert adaptive.curriculum_order(PretrainConfig(), feats) == [0, 1, 2, 3]


def test_length_schedule_grows_and_collator_cuts(tiny_encoder):
    sched = adaptive.LengthSchedule(128, enabled=True)
    seen = []
    for progress in (0.0, 0.25, 0.5, 0.9):
        sched.progress = progress
        seen.append(sched.length)
    assert seen == [32, 80, 128, 128]
    assert adaptive.LengthSchedule(128, enabled=False).length == 128
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    sched.progress = 0.0
    collate = adaptive.Collator(adaptive.clm_collator(tok), adaptive.LengthSchedule(64, True))
    batch = collate([{"input_ids": list(range(1000, 1064)), "attention_mask": [1] * 64, "doc": 0}])
    assert batch["input_ids"].shape == (1, 16)


# ---- whole runs --------------------------------------------------------------------------------


def _repetitive(tmp_path):
    path = tmp_path / "rep.txt"
    path.write_text(
        "\n".join(
            [f"the cocoa harvest in bahia was good in week {i}" for i in range(40)]
            + [f"wheat exports fell as maize prices climbed {i} times" for i in range(40)]
        )
    )
    return path


def test_mlm_run_lowers_perplexity_and_feeds_fine_tuning(tmp_path, tiny_encoder, small_csv):
    cfg = _cfg(
        _repetitive(tmp_path),
        tiny_encoder,
        tmp_path,
        learning_rate=3e-3,
        max_steps=40,
        curriculum="length",
        whole_word_mask=True,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    m = adaptive.pretrain_run(cfg, run)
    assert run.status == "completed" and run.kind == "pretrain"
    assert m["perplexity_after"] < 0.8 * m["perplexity_before"]
    assert m["head"]["steps"] == 5 and "body frozen" in m["head"]["text"]
    assert m["control_perplexity_before"] and m["control_perplexity_after"]
    assert "Everyday-English control" in m["summary"] and not m["worse_than_before"]
    report = json.loads((run.path / "report.json").read_text())
    assert report["perplexity_kind"] == "pseudo-perplexity" and report["verdict"]["level"]
    evals = run.events("eval")
    assert evals[0]["step"] == 0 and len(evals) >= 3
    meta = json.loads((run.model_dir / "adapted.json").read_text())
    assert meta["pooler_copied"] and meta["objective"] == "mlm"
    from safetensors import safe_open

    with safe_open(str(run.model_dir / "model.safetensors"), "pt") as fh:
        assert "bert.pooler.dense.weight" in fh.keys()
    assert not run.checkpoints_dir.exists()

    # the adapted backbone is a backbone: run:FOLDER, the folder itself, the summary
    name = m["adapted_backbone"]
    assert resolve_backbone(name) == run.model_dir.resolve()
    assert resolve_backbone(str(run.path)) == run.model_dir
    assert family_of(name) == "encoder" and "Adapted from" in backbone_info(name).description
    assert run.summary()["main_metric"] == "perplexity"
    assert adaptive.adapted_runs(cfg.output_dir)[0][1] == name

    from engine.training.pipeline import train_run

    tcfg = RunConfig(
        data=str(small_csv),
        backbone=name,
        strategy="full",
        output_dir=str(tmp_path / "runs"),
        max_steps=4,
        batch_size=8,
        max_length=32,
    )
    trun = RunStore(tcfg.output_dir).create(tcfg)
    assert "test" in train_run(tcfg, trun) and trun.status == "completed"


def test_clm_lora_run_with_loss_curriculum_and_growing_length(tmp_path, tiny_decoder):
    cfg = _cfg(
        _repetitive(tmp_path),
        tiny_decoder,
        tmp_path,
        strategy="lora",
        learning_rate=1e-2,
        max_steps=30,
        curriculum="loss",
        grow_length=True,
        plateau_lr=False,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    m = adaptive.pretrain_run(cfg, run)
    assert m["objective"] == "clm" and m["perplexity_kind"] == "perplexity"
    assert m["perplexity_after"] < m["perplexity_before"]
    assert 0 < m["parameters"]["trainable"] < m["parameters"]["total"]
    assert not (run.model_dir / "adapter_config.json").exists()  # merged into the backbone
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(run.model_dir)
    assert family_of(m["adapted_backbone"]) == "decoder"


def test_early_stop_and_plateau_lr(tmp_path, tiny_encoder):
    # a learning rate so high that the perplexity gets worse: the plateau halves the rate and
    # early stopping ends the run before max_steps, keeping the best checkpoint
    cfg = _cfg(
        _repetitive(tmp_path),
        tiny_encoder,
        tmp_path,
        learning_rate=0.08,
        max_steps=60,
        evaluations=12,
        early_stopping_patience=2,
        head_warmup_steps=0,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    m = adaptive.pretrain_run(cfg, run)
    lrs = [e["learning_rate"] for e in run.events("log") if e.get("learning_rate")]
    assert m["early_stopped"] and m["global_step"] < 60
    assert min(lrs) < 0.08


def test_objective_must_fit_the_backbone(tmp_path, tiny_decoder, tiny_encoder, domain_txt):
    with pytest.raises(ConfigError, match="decoder"):
        adaptive.preflight(_cfg(domain_txt, tiny_decoder, tmp_path, objective="mlm"))
    with pytest.raises(ConfigError, match="encoder"):
        adaptive.preflight(_cfg(domain_txt, tiny_encoder, tmp_path, objective="clm"))
    with pytest.raises(BackboneError, match="not a finished pre-training run"):
        resolve_backbone(f"run:{tmp_path}")


def test_job_manager_runs_a_pretrain_config(tmp_path, tiny_encoder, domain_txt):
    from engine.jobs import JobManager

    store = RunStore(tmp_path / "runs")
    jobs = JobManager(store)
    run = jobs.submit(_cfg(domain_txt, tiny_encoder, tmp_path, max_steps=4))
    assert jobs.wait(run.id, timeout=300)
    assert run.status == "completed", run.status_info()
    assert isinstance(run.config(), PretrainConfig)


def test_cli_pretrain_and_report(tmp_path, tiny_encoder, domain_txt):
    env_cmd = [sys.executable, "-m", "engine"]
    args = [
        "--data",
        str(domain_txt),
        "--backbone",
        str(tiny_encoder),
        "--max-steps",
        "4",
        "--batch-size",
        "8",
        "--max-length",
        "32",
        "--eval-tokens",
        "64",
        "--head-warmup-steps",
        "2",
        "--output-dir",
        str(tmp_path / "runs"),
    ]
    out = subprocess.run(
        env_cmd + ["pretrain", *args, "--curriculum", "length", "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"run_dir", "perplexity_before", "perplexity_after"} <= set(result)
    assert result["adapted_backbone"].startswith("run:")
    rep = subprocess.run(
        env_cmd + ["report", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert rep.returncode == 0, rep.stderr
    assert json.loads(rep.stdout.strip().splitlines()[-1])["verdict"]["text"]
    bad = subprocess.run(
        env_cmd
        + ["pretrain", "--data", str(tmp_path / "none.txt"), "--backbone", str(tiny_encoder)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "not found" in bad.stderr and "Traceback" not in bad.stderr
    wrong = subprocess.run(
        env_cmd + ["pretrain", *args, "--objective", "clm"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert wrong.returncode == 2 and "encoder" in wrong.stderr
