"""The Auto planner: table-driven cases over data statistics, and resolve_auto."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.config import RunConfig
from engine.data import DataSpec
from engine.planner import Plan, guess_language, normalise_language, plan, resolve_auto


def stats(
    per_class: list[int], p95_words: float = 20, max_words: float | None = None, train: bool = True
) -> dict:
    counts = {f"c{i}": n for i, n in enumerate(per_class)}
    out = {
        "label_counts": counts,
        "rows_used": sum(per_class),
        "words": {
            "mean": p95_words / 2,
            "p50": p95_words / 2,
            "p95": p95_words,
            "max": max_words if max_words is not None else p95_words * 3,
        },
    }
    if train:
        out["train_label_counts"] = counts
        out["train_rows"] = sum(per_class)
    return out


# (name, stats, backbone, device, kwargs, expected subset of values)
CASES = [
    (
        "few-shot encoder -> setfit",
        stats([8, 8]),
        "minilm-l6",
        "cpu",
        {},
        {"strategy": "setfit", "epochs": 1.0, "learning_rate": 2e-5, "batch_size": 16},
    ),
    (
        "64 per class is still few-shot",
        stats([64, 64, 64]),
        "minilm-l6",
        "cuda",
        {},
        {"strategy": "setfit"},
    ),
    (
        "few-shot decoder -> lora",
        stats([16, 16]),
        "smollm2-135m-instruct",
        "cpu",
        {},
        {"strategy": "lora", "batch_size": 4},
    ),
    (
        "bench: 2k rows short binary sentiment on CPU -> lora",
        {
            "label_counts": {"0": 1000, "1": 1000},
            "rows_used": 2000,
            "words": {"mean": 11.9, "p50": 10.0, "p95": 26.0, "max": 71},
        },
        "minilm-l6",
        "cpu",
        {},
        {
            "strategy": "lora",
            "learning_rate": 1e-3,
            "epochs": 3.0,
            "batch_size": 16,
            "class_weights": "none",
            "lora_r": 8,
            "max_steps": 0,
        },
    ),
    (
        "50k rows on a GPU, small model -> full",
        stats([25_000, 25_000]),
        "minilm-l6",
        "cuda",
        {"memory_gb": 80},
        {"strategy": "full", "learning_rate": 5e-5, "batch_size": 64},
    ),
    (
        "50k rows on the CPU stays lora",
        stats([25_000, 25_000]),
        "minilm-l6",
        "cpu",
        {},
        {"strategy": "lora", "lora_r": 16},
    ),
    (
        "50k rows on a GPU, 494M decoder -> lora",
        stats([25_000, 25_000]),
        "qwen2.5-0.5b",
        "cuda",
        {},
        {"strategy": "lora", "learning_rate": 5e-4},
    ),
    (
        "2k rows on a GPU -> lora (too few for full)",
        stats([1000, 1000]),
        "roberta-base",
        "cuda",
        {},
        {"strategy": "lora"},
    ),
    (
        "full does not fit a small GPU",
        stats([25_000, 25_000]),
        "roberta-base",
        "cuda",
        {"memory_gb": 2},
        {"strategy": "lora"},
    ),
    (
        "imbalance -> balanced weights",
        stats([2000, 300]),
        "minilm-l6",
        "cpu",
        {},
        {"class_weights": "balanced"},
    ),
    (
        "mild imbalance -> none",
        stats([2000, 500]),
        "minilm-l6",
        "cpu",
        {},
        {"class_weights": "none"},
    ),
]


@pytest.mark.parametrize("name,st,backbone,device,kw,expected", CASES, ids=[c[0] for c in CASES])
def test_plan_table(name, st, backbone, device, kw, expected):
    p = plan(st, backbone, device, n_labels=len(st["label_counts"]), **kw)
    got = {k: p.values.get(k) for k in expected}
    assert got == expected, p.reasons
    # every planned value has a plain-words reason
    assert set(p.reasons) == set(p.values)
    for reason in p.reasons.values():
        assert isinstance(reason, str) and len(reason) > 20
        assert reason[0].isupper() or reason[0].isdigit()


def test_values_are_valid_runconfig_settings():
    for _, st, backbone, device, kw, _ in CASES:
        p = plan(st, backbone, device, n_labels=len(st["label_counts"]), **kw)
        cfg = RunConfig(**p.values)  # every key is a RunConfig field
        cfg.validate()


def test_few_shot_reason_names_the_regime():
    p = plan(stats([16, 16]), "minilm-l6", "cpu", 2)
    assert "few-shot" in p.reasons["strategy"] and "SetFit" in p.reasons["strategy"]
    assert 2 <= p.values["setfit_iterations"] <= 20
    assert "evaluations_per_epoch" not in p.values  # SetFit does not evaluate while training


def test_setfit_iterations_shrink_with_more_rows():
    small = plan(stats([8, 8]), "minilm-l6", "cpu", 2).values["setfit_iterations"]
    large = plan(stats([60] * 10), "minilm-l6", "cpu", 10).values["setfit_iterations"]
    assert small == 20 and large == 2


def test_long_texts_get_a_bigger_max_length():
    short = plan(stats([1000, 1000], p95_words=20), "minilm-l6", "cpu", 2).values["max_length"]
    long_cpu = plan(stats([1000, 1000], p95_words=300), "minilm-l6", "cpu", 2)
    long_gpu = plan(stats([1000, 1000], p95_words=300), "minilm-l6", "cuda", 2)
    assert short <= 64 and short % 16 == 0
    assert long_cpu.values["max_length"] == 256  # the CPU cap is raised for long texts only
    assert long_gpu.values["max_length"] == 512  # capped at 512
    assert long_cpu.values["batch_size"] == 8
    medium = plan(stats([1000, 1000], p95_words=80), "minilm-l6", "cpu", 2)
    assert medium.values["max_length"] == 128  # 106 tokens * 1.5 would be 160; CPU cap 128
    assert "cut off" in medium.reasons["max_length"]


def test_max_length_never_exceeds_the_longest_text():
    p = plan(stats([1000, 1000], p95_words=5, max_words=6), "minilm-l6", "cuda", 2)
    assert p.values["max_length"] == 32


def test_cjk_text_counts_characters_and_recommends_a_multilingual_backbone():
    st = stats([500, 500], p95_words=60)  # 60 "words" = 60 CJK characters
    p = plan(st, "minilm-l6", "cpu", 2, language="zh")
    assert p.inputs["language"] == "cjk"
    assert p.inputs["p95_tokens"] == pytest.approx(62)
    assert p.values["max_length"] == 96
    assert any("multilingual" in n for n in p.notes)
    assert "CJK" in p.reasons["max_length"]
    english = plan(st, "minilm-l6", "cpu", 2, language="en")
    assert english.values["max_length"] == 128 and not english.notes
    # a multilingual backbone gets no warning
    assert not plan(st, "xlm-roberta-base", "cpu", 2, language="zh").notes


def test_language_helpers():
    assert guess_language(["这部电影非常好看，我很喜欢。", "质量太差了"]) == "cjk"
    assert guess_language(["This is the best phone I have ever had.", "It was not good"]) == "en"
    assert guess_language(["Ceci est un très bon film, je le recommande vivement."]) == "other"
    assert normalise_language("ja") == "cjk" and normalise_language("de") == "other"


def test_epochs_keep_steps_in_band():
    tiny = plan(stats([100, 100]), "smollm2-135m-instruct", "cpu", 2)  # few-shot decoder
    assert tiny.values["strategy"] == "lora" and tiny.values["epochs"] > 3
    assert tiny.inputs["total_steps"] >= 150 or tiny.values["epochs"] == 20
    huge = plan(stats([50_000, 50_000]), "minilm-l6", "cpu", 2)
    assert huge.values["epochs"] < 1 and huge.inputs["total_steps"] <= 1_500
    assert huge.values["warmup_ratio"] == 0.06
    gpu = plan(stats([25_000, 25_000]), "minilm-l6", "cuda", 2, memory_gb=80)
    assert gpu.inputs["total_steps"] <= 5_000


def test_stats_without_train_split_use_the_train_fraction():
    st = stats([80, 80], train=False)  # 80 per class in all -> 64 in training
    assert plan(st, "minilm-l6", "cpu", 2).values["strategy"] == "setfit"
    st = stats([100, 100], train=False)  # 80 in training: not few-shot
    assert plan(st, "minilm-l6", "cpu", 2).values["strategy"] == "lora"


def test_plan_to_dict_and_markdown():
    p = plan(stats([8, 8]), "minilm-l6", "cpu", 2)
    d = p.to_dict()
    assert d["values"]["strategy"] == "setfit" and set(d["reasons"]) == set(d["values"])
    md = p.to_markdown()
    assert "| strategy | setfit |" in md and isinstance(p, Plan)


# ---- resolve_auto -----------------------------------------------------------------------------


def _spec(per_class: int = 1000, words: int = 10) -> DataSpec:
    rows = [
        {"text": " ".join(["the good phone is"] * (words // 4)) + f" {i}", "label": lab}
        for lab in ("neg", "pos")
        for i in range(per_class)
    ]
    frame = pd.DataFrame(rows)
    st = {
        "label_counts": frame["label"].value_counts().to_dict(),
        "rows_used": len(frame),
        "words": {"mean": words, "p50": words, "p95": words, "max": words},
    }
    return DataSpec(
        frame, frame.iloc[:10], frame.iloc[:10], ["neg", "pos"], "text", "label", "x.csv", stats=st
    )


def test_resolve_auto_replaces_only_defaults():
    cfg = RunConfig(data="x.csv", strategy="auto", learning_rate=3e-4, batch_size=32)
    out, p = resolve_auto(cfg, _spec(), device="cpu", memory_gb=8)
    assert out.strategy == "lora"
    assert out.learning_rate == 3e-4 and out.batch_size == 32  # the user's values kept
    assert p.kept == {"learning_rate": 3e-4, "batch_size": 32}
    assert "learning_rate" not in p.applied and "strategy" in p.applied
    assert out.max_length == p.values["max_length"]  # left at default -> planned
    assert out.epochs == p.values["epochs"]
    assert cfg.strategy == "auto"  # the input is not modified
    assert "Kept your setting" in p.to_markdown()


def test_resolve_auto_explicit_fields_are_kept_even_at_default_values():
    cfg = RunConfig(data="x.csv", strategy="auto")
    out, p = resolve_auto(cfg, _spec(), explicit={"max_length"}, device="cpu")
    assert out.max_length == 128 and "max_length" in p.kept


def test_resolve_auto_leaves_concrete_strategies_alone():
    cfg = RunConfig(data="x.csv", strategy="full")
    out, p = resolve_auto(cfg, _spec(), device="cpu")
    assert out is cfg and p.applied == [] and p.values["strategy"] == "lora"


def test_resolve_auto_few_shot_goes_to_setfit():
    cfg = RunConfig(data="x.csv", strategy="auto")
    out, p = resolve_auto(cfg, _spec(per_class=10), device="cpu")
    assert out.strategy == "setfit" and out.epochs == 1.0
    assert out.setfit_iterations == p.values["setfit_iterations"]
    out.validate()


def test_summary_line_and_preview_plan(small_csv):
    from engine.planner import preview_plan

    p = preview_plan(RunConfig(data=str(small_csv), strategy="lora"))
    assert p.values["strategy"] == "setfit" and p.applied  # 32 training rows per class
    line = p.summary()
    assert line.startswith("Auto plan: strategy setfit") and "few-shot" in line
