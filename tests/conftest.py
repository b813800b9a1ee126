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
    """A 2-layer, 32-wide random BERT with the MiniLM tokenizer, saved as a local folder."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny-bert")
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(out)
    AutoTokenizer.from_pretrained(_minilm_tokenizer_dir()).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory) -> Path:
    """A 2-layer random Llama (the SmolLM2 family) with a borrowed tokenizer."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(_minilm_tokenizer_dir())
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                      max_position_embeddings=128, pad_token_id=tok.pad_token_id,
                      architectures=["LlamaForCausalLM"])
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
        rows += [{"review": f"so-so average thing {i}", "sentiment": extra_label}
                 for i in range(n)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def small_csv(tmp_path) -> Path:
    """80 rows of an easy two-class problem."""
    return write_two_class_csv(tmp_path / "small.csv")
