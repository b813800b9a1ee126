"""Continued pre-training on real newswire (../shared/data/reuters21578_modapte_weka.csv, used as
unlabelled domain text) with the bundled backbones, a few steps each."""

from __future__ import annotations

import pytest

from engine.adaptive import pretrain_run
from engine.config import PretrainConfig, RunConfig
from engine.runs import RunStore

from tests.conftest import shared_file

pytestmark = pytest.mark.timeout(900)


def _run(tmp_path, **kw):
    cfg = PretrainConfig(
        data=str(shared_file("reuters21578_modapte_weka.csv")),
        output_dir=str(tmp_path / "runs"),
        max_documents=240,
        **kw,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    return run, pretrain_run(cfg, run)


def test_minilm_mlm_on_newswire(tmp_path):
    run, m = _run(
        tmp_path,
        backbone="minilm-l6",
        max_steps=50,
        head_warmup_steps=20,
        learning_rate=2e-4,
        eval_tokens=256,
        evaluations=2,
        curriculum="length",
    )
    assert m["perplexity_kind"] == "pseudo-perplexity"
    assert m["perplexity_after"] <= 0.8 * m["perplexity_before"], m  # the issue's >= 20%
    report = (run.path / "report.json").read_text()
    assert "most_fragmented" in report and m["verdict"]["level"] in ("close", "moderate", "far")
    print(m["summary"], m["verdict"])
    # the adapted backbone fine-tunes like any other (pooler kept from the base)
    from engine.training.pipeline import train_run
    from tests.conftest import SAMPLE_CSV

    cfg = RunConfig(
        data=str(SAMPLE_CSV),
        backbone=m["adapted_backbone"],
        strategy="lora",
        output_dir=str(tmp_path / "runs"),
        max_steps=10,
        batch_size=16,
    )
    trun = RunStore(cfg.output_dir).create(cfg)
    assert train_run(cfg, trun)["test"]["accuracy"] > 0


def test_smollm2_clm_lora_on_newswire(tmp_path):
    run, m = _run(
        tmp_path,
        backbone="smollm2-135m-instruct",
        strategy="lora",
        max_steps=8,
        batch_size=8,
        eval_tokens=256,
        evaluations=1,
        max_length=64,
    )
    assert m["objective"] == "clm" and m["perplexity_kind"] == "perplexity"
    assert m["perplexity_after"] < m["perplexity_before"], m
    assert (run.model_dir / "adapted.json").exists()
