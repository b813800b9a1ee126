"""SmolLM2-135M-Instruct learns English -> Spanish from a few hundred Bible verses (LoRA).

The chrF of its translations of the same held-out verses, before and after fine-tuning, must go
up. Short verses keep it quick: about 3 minutes on a shared 2-core CPU (no time assertion)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from engine.backbones import BackboneError, resolve_backbone
from engine.config import RunConfig
from engine.runs import RunStore
from engine.training.pipeline import train_run

from tests.conftest import shared_file

ROWS = int(os.environ.get("ADAPTUNE_BIBLE_ROWS", "400"))
STEPS = int(os.environ.get("ADAPTUNE_BIBLE_STEPS", "40"))
EVAL_ROWS = int(os.environ.get("ADAPTUNE_BIBLE_EVAL_ROWS", "24"))


@pytest.fixture(scope="module")
def smollm2():
    try:
        return resolve_backbone("smollm2-135m-instruct")
    except BackboneError as e:
        pytest.skip(str(e))


def short_verses(path, rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` verse pairs of at most 16 English / 18 Spanish words, drawn at random."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    short = df[
        (df["en"].str.split().str.len() <= 16)
        & (df["es"].str.split().str.len() <= 18)
        & (df["en"].str.len() > 0)
        & (df["es"].str.len() > 0)
    ]
    return short.sample(n=rows, random_state=seed).reset_index(drop=True)


def test_smollm2_lora_translates_english_to_spanish_better(smollm2, tmp_path):
    data = tmp_path / "bible_short.csv"
    short_verses(shared_file("bible_en_web__es_rv1909.csv"), ROWS).to_csv(data, index=False)
    cfg = RunConfig(
        task="translation",
        data=str(data),
        backbone="smollm2-135m-instruct",
        strategy="lora",
        output_dir=str(tmp_path / "runs"),
        max_steps=STEPS,
        batch_size=8,
        learning_rate=float(os.environ.get("ADAPTUNE_BIBLE_LR", "2e-3")),
        max_length=96,
        max_new_tokens=48,
        generation_eval_rows=EVAL_ROWS,
        validation_fraction=0.03,
        test_fraction=0.1,
        evaluations_per_epoch=2,
        eval_batch_size=24,
        seed=0,
        device="cpu",
    )
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    print(
        {k: metrics[k] for k in ("test", "before", "global_step", "train_seconds", "total_seconds")}
    )
    for ex in metrics["examples"][:3]:
        print(ex)
    assert run.status == "completed"
    assert metrics["template"].startswith("Translate the following text into Spanish:")
    assert data and metrics["test"]["n"] == metrics["before"]["n"] == EVAL_ROWS
    assert metrics["test"]["chrf"] > metrics["before"]["chrf"], metrics
    assert metrics["test"]["loss"] < metrics["before"]["loss"]
    assert len(metrics["examples"]) == EVAL_ROWS
