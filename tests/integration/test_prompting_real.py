"""Zero- / few-shot prompting with the bundled models (SmolLM2 scoring, MiniLM embeddings)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine import prompting as P
from engine.config import PromptConfig

from tests.conftest import REPO, SAMPLE_CSV


@pytest.fixture(scope="module")
def sample_data():
    return P.measure_data(PromptConfig(data=str(SAMPLE_CSV), limit=40))


def test_smollm2_zero_shot_sentiment_is_far_above_chance(sample_data):
    """Measured 0.91 on 100 UCI sentiment test rows; the bundled sample is the same kind."""
    cfg = PromptConfig(data=str(SAMPLE_CSV), preset="sentiment", limit=40)
    result = P.PromptClassifier(cfg, sample_data.labels, sample_data.pool).measure(sample_data.rows)
    assert result["n"] == 40
    assert result["accuracy"] >= 0.75, result
    assert result["seconds_per_example"] < 5


def test_similar_examples_are_about_the_same_thing(sample_data):
    selector = P.ShotSelector(sample_data.pool, 3, "similar")
    picked = selector.examples(selector.select("The battery of this phone died after a week."))
    words = " ".join(t.lower() for t, _ in picked)
    assert any(w in words for w in ("battery", "phone", "charge")), picked


def test_minilm_zero_shot_by_similarity(sample_data):
    cfg = PromptConfig(
        backbone="minilm-l6",
        verbalizers='{"negative": ["bad, disappointing"], "positive": ["good, excellent"]}',
    )
    result = P.PromptClassifier(cfg, sample_data.labels, sample_data.pool).measure(sample_data.rows)
    assert result["accuracy"] >= 0.65, result


def test_smollm2_streams_an_answer():
    model = P.get_model("smollm2-135m-instruct")
    outs = list(
        model.stream(
            "What is the capital of France? Answer in one word.", max_new_tokens=12, use_chat=True
        )
    )
    assert outs and "paris" in outs[-1].lower()


def test_cli_zeroshot_with_the_bundled_decoder(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "zeroshot",
            "--data",
            str(SAMPLE_CSV),
            "--preset",
            "sentiment",
            "--shots",
            "2",
            "--shot-selection",
            "balanced",
            "--limit",
            "12",
            "--output-dir",
            str(tmp_path),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["n"] == 12 and out["shots"] == 2 and 0.5 <= out["accuracy"] <= 1
    assert P.comparison_table(P.load_measurements(tmp_path)).shape[0] == 1
