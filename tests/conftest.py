"""Shared fixtures: tiny random models built from configs (fast unit tests), data paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE_CSV = REPO / "sample_data" / "reviews_sentiment.csv"


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not available on this machine")
    return path


def _minilm_tokenizer_dir() -> Path:
    from engine.backbones import resolve_backbone

    return resolve_backbone("minilm-l6")


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random BERT with the MiniLM tokenizer, saved as a local folder.
    Seeded: the same weights whichever tests ran before in this worker (xdist orders vary)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-bert")
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(cfg).save_pretrained(out)
    AutoTokenizer.from_pretrained(_minilm_tokenizer_dir()).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory) -> Path:
    """A 2-layer random Llama (the SmolLM2 family) with a borrowed tokenizer (seeded)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(_minilm_tokenizer_dir())
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
        architectures=["LlamaForCausalLM"],
    )
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


POS = ["great wonderful film", "i loved it", "excellent and fun", "really good value"]
NEG = ["terrible awful mess", "i hated it", "boring and bad", "really poor quality"]


def two_class_rows(n: int = 40, start: int = 0, tag: str = "") -> list[dict]:
    """``n`` "pos" and ``n`` "neg" rows (review, sentiment) of an easy two-class problem."""
    rows = [{"review": f"{POS[i % 4]} {tag}{i + start}", "sentiment": "pos"} for i in range(n)]
    rows += [{"review": f"{NEG[i % 4]} {tag}{i + start}", "sentiment": "neg"} for i in range(n)]
    return rows


def write_two_class_csv(path: Path, n: int = 40, start: int = 0, extra_label: str = "") -> Path:
    """The two-class table as a CSV (plus ``n`` rows of a third label when given)."""
    import pandas as pd

    rows = two_class_rows(n, start)
    if extra_label:
        rows += [{"review": f"so-so average thing {i}", "sentiment": extra_label} for i in range(n)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def small_csv(tmp_path) -> Path:
    """80 rows of an easy two-class problem."""
    return write_two_class_csv(tmp_path / "small.csv")


# ---- one small, learnable table per task (tests/unit/test_spine.py walks them all) ----------


def write_ner_jsonl(path: Path, n: int = 24) -> Path:
    """``n`` sentences "<person> lives in <city> ." with IOB2 tags (PER, LOC)."""
    import json

    names = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Kenji Sato"]
    cities = ["London", "Paris", "New York", "Tokyo"]
    lines = []
    for i in range(n):
        person, city = names[i % 4].split(), cities[(i // 2) % 4].split()
        tags = (
            ["B-PER"]
            + ["I-PER"] * (len(person) - 1)
            + ["O", "O", "B-LOC"]
            + ["I-LOC"] * (len(city) - 1)
            + ["O"]
        )
        lines.append(json.dumps({"tokens": person + ["lives", "in"] + city + ["."], "tags": tags}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_pairs_csv(path: Path, n: int = 40) -> Path:
    """``n`` English -> Spanish pairs (en, es) for the generation tasks."""
    import pandas as pd

    pd.DataFrame(
        [{"en": f"the cat number {i} sleeps", "es": f"el gato numero {i} duerme"} for i in range(n)]
    ).to_csv(path, index=False)
    return path


def write_task_table(task: str, folder: Path) -> Path:
    """A small table for ``task`` in ``folder`` (every task of the registry has one)."""
    import pandas as pd

    if task == "classification":
        return write_two_class_csv(folder / "cls.csv", 20)
    if task == "ner":
        return write_ner_jsonl(folder / "ner.jsonl")
    if task in ("summarization", "translation", "dialogue"):
        return write_pairs_csv(folder / f"{task}.csv")
    if task == "multilabel":
        texts = [
            "parcel late and card charged twice",
            "app crashes on login",
            "refund please",
            "charged twice for shipping",
        ]
        labels = ["shipping;billing", "technical", "refund", "billing;shipping"]
        rows = [{"message": f"{texts[i % 4]} {i}", "tags": labels[i % 4]} for i in range(40)]
    elif task == "relation":
        kinds = [
            ("{a} works for {b}.", "works_for"),
            ("{a} was born in {b}.", "born_in"),
            ("{a} visited {b}.", "no_relation"),
        ]
        rows = []
        for i in range(30):
            text, label = kinds[i % 3]
            rows.append(
                {
                    "sentence": text.format(a=f"Ann{i}", b=f"Oslo{i}"),
                    "subject": f"Ann{i}",
                    "object": f"Oslo{i}",
                    "label": label,
                }
            )
    elif task == "qa":
        rows = [
            {
                "context": f"Person{i} was born in City{i} in {1950 + i}.",
                "question": f"Where was Person{i} born?",
                "answer": f"City{i}",
            }
            for i in range(24)
        ]
    else:
        raise ValueError(f"no test table for {task}")
    path = folder / f"{task}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def pytest_itemcollected(item):
    """Markers by tier (``-m "not browser"`` runs everything but Chromium), and xdist groups:
    every browser test in one (they share one studio, so ``-n 2 --dist loadgroup`` runs them in
    order on one worker), every other module in its own (its tests run in order on one worker
    and its module-scoped trained runs are built once). Set as each test is collected: xdist
    reads the groups in its own collection hook, after this."""
    parts = Path(str(item.fspath)).parts
    if "e2e" in parts:
        item.add_marker(pytest.mark.browser)
        item.add_marker(pytest.mark.xdist_group("browser"))
        return
    if "integration" in parts:
        item.add_marker(pytest.mark.integration)
    item.add_marker(pytest.mark.xdist_group(Path(str(item.fspath)).stem))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """pytest-xdist 3.8 puts a test in its ``xdist_group`` by suffixing ``item._nodeid``, which
    pytest 9 no longer reads (a node's id is ``item._id``): without this, ``--dist loadgroup``
    spreads the browser tests over both workers, each starting its own studio. Same suffix,
    set where pytest 9 keeps it (a no-op outside an xdist worker or with an older pytest)."""
    if not (config.getvalue("loadgroup") if hasattr(config.option, "loadgroup") else False):
        return
    try:
        from _pytest.nodeid import coerce_node_id
    except ImportError:  # an older pytest: xdist's own suffix works there
        return
    for item in items:
        groups = sorted({str(m.args[0]) for m in item.iter_markers("xdist_group") if m.args})
        if groups and "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(groups)}")
