"""Augmentation: token edits (EDA), the paraphrase plumbing (model faked), train-only use."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from engine import augment
from engine.augment import augment_frame, clean_paraphrase, preview, token_edit
from engine.config import RunConfig
from engine.data import prepare_data
from engine.runs import RunStore
from engine.training.pipeline import train_run

FRAME = pd.DataFrame(
    {
        "text": [
            "the battery life of this phone is amazing",
            "i hated the rushed ending",
            "customer service never answered my emails",
            "great film",
            "awful",
            "the food was cold and the waiter was rude",
        ],
        "label": ["pos", "neg", "neg", "pos", "neg", "neg"],
    }
)


def test_token_edit_is_deterministic_per_seed_and_changes_the_text():
    text = "the battery life of this phone is amazing"
    assert token_edit(text, seed=1) == token_edit(text, seed=1)
    variants = {token_edit(text, seed=s) for s in range(10)}
    assert len(variants) > 3  # seeds give different edits
    for v in variants:
        assert v and v != text
        assert set(v.split()) <= set(text.split())  # swap / delete / insert from the text


def test_augment_frame_tokens_keeps_labels_and_never_empties():
    new = augment_frame(FRAME, "tokens", per_example=3, seed=7)
    assert list(new.columns) == ["text", "label", "source_text", "method"]
    assert (new["method"] == "tokens").all()
    source_label = dict(zip(FRAME["text"], FRAME["label"]))
    assert (new["label"] == new["source_text"].map(source_label)).all()
    assert new["text"].str.strip().str.len().gt(0).all()
    long = new[new["source_text"].str.split().str.len() >= 3]
    assert (long["text"] != long["source_text"]).all()
    counts = long.groupby("source_text")["text"].nunique()
    assert (counts == 3).all()  # distinct variants per source
    assert new.groupby("source_text").size().max() <= 3
    again = augment_frame(FRAME, "tokens", per_example=3, seed=7)
    pd.testing.assert_frame_equal(new, again)
    assert not new.equals(augment_frame(FRAME, "tokens", per_example=3, seed=8))


def test_augment_frame_caps_new_rows_and_none_adds_nothing():
    assert len(augment_frame(FRAME, "tokens", per_example=2, seed=0, max_new_rows=4)) <= 4
    assert augment_frame(FRAME, "none", 1, 0).empty
    with pytest.raises(ValueError):
        augment_frame(FRAME, "backtranslate", 1, 0)


def test_preview_matches_what_training_would_add():
    shown = preview(FRAME["text"].tolist()[:3], "tokens", seed=3)
    assert [s["original"] for s in shown] == FRAME["text"].tolist()[:3]
    added = augment_frame(FRAME.iloc[:3], "tokens", 1, 3)
    assert [s["augmented"] for s in shown] == added["text"].tolist()


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("", None),
        ("The battery life of this phone is amazing.", None),  # unchanged
        ("Thebattery life of this phone is amazing!", None),  # only spacing / punctuation
        ("the the the the the the the the", None),  # loop
        ("Sure! I can rewrite this sentence for you", None),  # talks about the task
        ("Rewrite this sentence: The battery life of this phone is amazing", None),  # echo
        ("Although the hotel phone battery lasts", None),  # copies the worked example
        (
            "Here is the rewritten sentence: This phone's battery lasts a remarkably long time.",
            "This phone's battery lasts a remarkably long time.",
        ),
        (
            '"This phone has an incredible battery life."',
            "This phone has an incredible battery life.",
        ),
    ],
)
def test_clean_paraphrase_rejects_degenerate_outputs(answer, expected):
    assert clean_paraphrase(answer, "The battery life of this phone is amazing.") == expected


def test_clean_paraphrase_rejects_outputs_cut_by_the_token_cap():
    assert (
        clean_paraphrase(
            "This phone's battery lasts", "The battery life is amazing", hit_limit=True
        )
        is None
    )


def test_paraphrase_and_both_assemble_rows(monkeypatch):
    def fake(texts, copies=1, seed=0, **kw):
        return [
            [f"{t} (rewritten {c})" for c in range(copies)] if len(t.split()) > 1 else []
            for t in texts
        ]

    monkeypatch.setattr(augment, "paraphrase_texts", fake)
    para = augment_frame(FRAME, "paraphrase", per_example=2, seed=0)
    assert (para["method"] == "paraphrase").all() and len(para) == 2 * 5
    assert (para["label"] == para["source_text"].map(dict(zip(FRAME.text, FRAME.label)))).all()
    both = augment_frame(FRAME, "both", per_example=1, seed=0)
    assert set(both["method"]) == {"tokens", "paraphrase"}


def test_train_run_augments_only_the_train_split(small_csv, tiny_encoder, tmp_path):
    cfg = RunConfig(
        data=str(small_csv),
        backbone=str(tiny_encoder),
        strategy="head",
        output_dir=str(tmp_path / "runs"),
        max_steps=4,
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=32,
        augment="tokens",
        augment_per_example=2,
    )
    spec = prepare_data(
        cfg.data,
        validation_fraction=cfg.validation_fraction,
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    new = pd.read_csv(run.path / "augmented.csv")
    assert len(new) > len(spec.train)  # ~2 per row
    assert set(new["source_text"]) <= set(spec.train["text"])
    assert not set(new["source_text"]) & (set(spec.validation["text"]) | set(spec.test["text"]))
    splits = json.loads((run.path / "data.json").read_text())["splits"]
    assert splits == {
        "train": len(spec.train),
        "validation": len(spec.validation),
        "test": len(spec.test),
    }
    start = run.events("start")[0]
    assert start["validation_rows"] == len(spec.validation)
    assert start["test_rows"] == len(spec.test) == metrics["test"]["n"]
    assert start["train_rows"] == len(spec.train) + len(new)
    assert metrics["regularization"]["augmented_rows"] == len(new)
    assert any("augmented.csv" in e["text"] for e in run.events("message"))
