"""Short real runs of the multilabel, relation and qa tasks on the bundled MiniLM (CPU).

Each learns well beyond a trivial baseline in a minute or so on an idle 2-core CPU: the
untrained model ("before", same decoding) and, where one exists, the majority baseline.
"""

from __future__ import annotations

import pandas as pd
import pytest

from engine.config import RunConfig
from engine.runs import RunStore
from engine.tasks import get_task
from engine.training.pipeline import train_run

from tests.conftest import REPO, shared_file

SAMPLES = REPO / "sample_data"


def _run(tmp_path, **kw):
    cfg = RunConfig(
        **{
            "backbone": "minilm-l6",
            "output_dir": str(tmp_path / "runs"),
            "evaluations_per_epoch": 1,
            "batch_size": 16,
            **kw,
        }
    )
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    assert metrics["status"] == "completed", run.status_info()
    return run, metrics


def _reuters_multilabel(tmp_path) -> str:
    """Reuters-21578 (ModApte, the Weka corn/grain subset): "corn+grain" -> two labels, "other"
    -> no label. All 161 corn/grain articles and 200 others drawn at random."""
    df = pd.read_csv(shared_file("reuters21578_modapte_weka.csv"))
    df["labels"] = df["label"].map(
        {"corn+grain": "corn;grain", "grain": "grain", "corn": "corn", "other": ""}
    )
    tagged = df[df["labels"] != ""]
    other = df[df["labels"] == ""].sample(n=200, random_state=0)
    out = pd.concat([tagged, other]).sample(frac=1, random_state=0)[["text", "labels"]]
    path = tmp_path / "reuters_corn_grain.csv"
    out.to_csv(path, index=False)
    return str(path)


def test_multilabel_reuters_corn_grain(tmp_path):
    run, m = _run(
        tmp_path,
        task="multilabel",
        data=_reuters_multilabel(tmp_path),
        strategy="lora",
        epochs=2,
        max_length=96,
        validation_fraction=0.15,
        test_fraction=0.15,
    )
    test, before = m["test"], m["before"]
    assert m["labels"] == ["corn", "grain"] and test["n"] == 54
    # untrained: the tuned threshold can only say "every label" (micro-F1 ~0.5)
    assert test["micro_f1"] >= before["micro_f1"] + 0.25, (before, test)
    assert test["micro_f1"] >= 0.8 and test["subset_accuracy"] >= 0.75, test
    assert m["majority_baseline"]["micro_f1"] == 0.0  # most common label set: none
    out = (
        get_task("multilabel")
        .Predictor(run.path)
        .predict(
            [
                "U.S. CORN AND WHEAT EXPORTS RISE The Agriculture Department said corn and grain "
                "export inspections rose to 1.2 mln tonnes in the week.",
                "ACME CORP SAYS QUARTERLY PROFIT ROSE Acme Corp said net profit rose 12 pct.",
            ]
        )
    )
    assert "grain" in out[0]["labels"] and out[1]["labels"] == []


def test_relation_synthetic_sample(tmp_path):
    run, m = _run(
        tmp_path,
        task="relation",
        data=str(SAMPLES / "relation_sample.csv"),
        strategy="lora",
        epochs=3,
        max_length=64,
    )
    test = m["test"]
    assert test["n"] == 30
    assert test["accuracy"] >= m["majority_baseline"] + 0.3, (m["majority_baseline"], test)
    assert test["macro_f1"] >= m["before"]["macro_f1"] + 0.4, (m["before"], test)
    out = (
        get_task("relation")
        .Predictor(run.path)
        .predict(
            [
                {
                    "text": "Maria Lopez was born in Seville.",
                    "head": "Maria Lopez",
                    "tail": "Seville",
                },
                {
                    "text": "Nordlys Foods is headquartered in Bergen.",
                    "head": "Nordlys Foods",
                    "tail": "Bergen",
                },
            ]
        )
    )
    assert [o["relation"] for o in out] == ["born_in", "located_in"]


def test_qa_synthetic_sample(tmp_path):
    run, m = _run(
        tmp_path,
        task="qa",
        data=str(SAMPLES / "qa_sample.jsonl"),
        strategy="auto",
        epochs=2,
        max_length=64,
        batch_size=8,
        max_rows=240,
    )
    test, before = m["test"], m["before"]
    assert m["learning_rate"] == 1e-4  # auto -> full, at the QA learning rate
    assert test["n"] == 24 and m["windows"]["train"] > 192  # 64-token windows split contexts
    assert test["f1"] >= before["f1"] + 0.5 and test["exact_match"] >= 0.5, (before, test)
    out = (
        get_task("qa")
        .Predictor(run.path)
        .predict(
            {
                "context": "Lena Moss was born in Galway in 1961. She studied geology at university. "
                "In 2003 she founded Blue Fern Labs, a company that makes a water filter.",
                "question": "Where was Lena Moss born?",
            }
        )
    )
    assert out[0]["answer"] == "Galway"


@pytest.mark.parametrize("task", ["multilabel", "relation", "qa"])
def test_sample_files_prepare(task):
    data = {
        "multilabel": "multilabel_support_tickets.csv",
        "relation": "relation_sample.csv",
        "qa": "qa_sample.jsonl",
    }[task]
    prepared = get_task(task).prepare(RunConfig(task=task, data=str(SAMPLES / data)))
    assert len(prepared.train) > 200 and not any("dropped" in w for w in prepared.warnings)
