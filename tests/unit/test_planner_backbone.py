"""suggest_backbone: the bundled multilingual encoder for non-English text, and the plan's note."""

from __future__ import annotations

import pytest

from engine.backbones import CATALOGUE
from engine.planner import MULTILINGUAL_BACKBONE, guess_language, plan, suggest_backbone

ZH = ["这部电影非常好看，我很喜欢。", "质量太差了，不推荐购买。", "物流很快，包装完好。"]
JA = ["この映画はとても面白かったです。", "品質が悪くて残念でした。"]
FR = [
    "Ceci est un très bon film, je le recommande vivement.",
    "Livraison rapide, produit conforme.",
]
EN = ["This is the best phone I have ever had.", "It was not good at all."]


def test_the_multilingual_backbone_is_a_bundled_encoder():
    entry = CATALOGUE[MULTILINGUAL_BACKBONE]
    assert entry.bundled and entry.family == "encoder"
    assert 100 < entry.params_m < 130
    assert "Chinese" in entry.description and "Japanese" in entry.description


@pytest.mark.parametrize("texts", [ZH, JA, FR])
@pytest.mark.parametrize("current", ["minilm-l6", "", "  "])
def test_non_english_text_on_the_default_backbone_switches_to_e5(texts, current):
    name, reason = suggest_backbone(guess_language(texts), current)
    assert name == MULTILINGUAL_BACKBONE
    assert "minilm-l6" in reason and MULTILINGUAL_BACKBONE in reason and "English" in reason


def test_default_argument_is_minilm():
    assert suggest_backbone("zh")[0] == MULTILINGUAL_BACKBONE
    assert suggest_backbone("en") == ("minilm-l6", suggest_backbone("en", "minilm-l6")[1])


@pytest.mark.parametrize("language", ["en", "EN", "english", "eng"])
@pytest.mark.parametrize(
    "current", ["minilm-l6", "roberta-base", "smollm2-135m-instruct", MULTILINGUAL_BACKBONE]
)
def test_english_text_keeps_the_current_backbone(language, current):
    name, reason = suggest_backbone(language, current)
    assert name == current and "English" in reason


@pytest.mark.parametrize("current", [MULTILINGUAL_BACKBONE, "xlm-roberta-base", "qwen2.5-0.5b"])
def test_a_multilingual_backbone_is_kept(current):
    for language in ("cjk", "zh", "ja", "other", "de"):
        name, reason = suggest_backbone(language, current)
        assert name == current and "already covers" in reason


def test_a_chinese_backbone_is_kept_for_cjk_text_only():
    assert suggest_backbone("cjk", "bert-base-chinese")[0] == "bert-base-chinese"
    # a backbone the user picked is never replaced; the reason recommends e5 instead
    name, reason = suggest_backbone("de", "bert-base-chinese")
    assert name == "bert-base-chinese" and MULTILINGUAL_BACKBONE in reason


@pytest.mark.parametrize("current", ["roberta-base", "distilbert-base-uncased", "/some/folder"])
def test_a_user_chosen_english_backbone_is_kept_with_advice(current):
    name, reason = suggest_backbone("cjk", current)
    assert name == current
    assert "kept" in reason and MULTILINGUAL_BACKBONE in reason


def test_plan_recommends_e5_by_name_for_non_english_text():
    st = {"label_counts": {"a": 400, "b": 400}, "words": {"p95": 40, "max": 60}}
    for language in ("zh", "fr"):
        p = plan(st, "minilm-l6", "cpu", 2, language=language)
        assert any(MULTILINGUAL_BACKBONE in n for n in p.notes), p.notes
        assert MULTILINGUAL_BACKBONE in p.reasons["strategy"]
    # e5 itself raises no language warning, and English text none either
    assert not plan(st, MULTILINGUAL_BACKBONE, "cpu", 2, language="zh").notes
    assert not plan(st, "minilm-l6", "cpu", 2, language="en").notes
    # e5 is planned as the ~118M encoder it is (LoRA rate of a <= 200M model on the CPU)
    e5 = plan(st, MULTILINGUAL_BACKBONE, "cpu", 2, language="zh")
    assert e5.inputs["family"] == "encoder" and e5.values["strategy"] == "lora"
    assert e5.values["learning_rate"] == 1e-3
