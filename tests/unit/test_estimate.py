"""Estimates before Start: the memory formula, saved sizes and a real (tiny) timing."""

from __future__ import annotations


import pytest

from engine.config import RunConfig
from engine.estimate import (
    activation_bytes,
    calibrate_time,
    estimate_memory,
    human_bytes,
    saved_size,
    shape_of,
)

# all-MiniLM-L6-v2's shape, and its parameter counts (full vs LoRA r=8 on query/value + head,
# pooler) as parameter_counts reports them
MINILM = {
    "model_type": "bert",
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "vocab_size": 30522,
    "hidden_act": "gelu",
}
FULL = {"trainable": 22_713_986, "total": 22_713_986}
LORA = {"trainable": 222_338, "total": 22_787_714}


def _cfg(**kw) -> RunConfig:
    return RunConfig(**{"data": "x.csv", "max_length": 128, "batch_size": 16, **kw})


def test_memory_parts_follow_the_formula():
    est = estimate_memory(_cfg(strategy="full"), "encoder", FULL, MINILM)
    assert est["weights"] == FULL["total"] * 4
    assert est["gradients"] == FULL["trainable"] * 4
    assert est["optimizer"] == FULL["trainable"] * 8
    assert est["total"] == est["weights"] + est["gradients"] + est["optimizer"] + est["activations"]
    assert est["peak"] > est["total"]
    assert set(est["human"]) >= {"weights", "gradients", "optimizer", "activations", "total"}
    assert est["human"]["weights"] == "90.9 MB"


def test_memory_grows_linearly_with_batch_size():
    totals = [
        estimate_memory(_cfg(strategy="full", batch_size=b), "encoder", FULL, MINILM)
        for b in (8, 16, 32, 64)
    ]
    acts = [t["activations"] for t in totals]
    assert acts[1] == 2 * acts[0] and acts[2] == 4 * acts[0] and acts[3] == 8 * acts[0]
    steps = [b["total"] - a["total"] for a, b in zip(totals, totals[1:])]
    assert steps[1] == 2 * steps[0] and steps[2] == 4 * steps[0]  # constant per example


def test_memory_grows_faster_than_linear_with_sequence_length():
    shape = shape_of(MINILM)
    a128 = activation_bytes("full", shape, 16, 128)
    a256 = activation_bytes("full", shape, 16, 256)
    assert 2 * a128 < a256 < 4 * a128  # the s^2 attention term


def test_lora_needs_less_memory_than_full():
    full = estimate_memory(_cfg(strategy="full"), "encoder", FULL, MINILM)
    lora = estimate_memory(_cfg(strategy="lora"), "encoder", LORA, MINILM)
    assert lora["total"] < full["total"]
    assert lora["optimizer"] < full["optimizer"] / 50
    assert lora["activations"] < full["activations"]
    head = estimate_memory(
        _cfg(strategy="head"), "encoder", {"trainable": 148_610, "total": FULL["total"]}, MINILM
    )
    assert head["activations"] == 0 and head["total"] < lora["total"]


def test_shapes_of_other_families():
    gpt2 = shape_of(
        {
            "model_type": "gpt2",
            "n_embd": 768,
            "n_layer": 12,
            "n_head": 12,
            "n_inner": None,
            "activation_function": "gelu_new",
        }
    )
    assert gpt2["hidden"] == 768 and gpt2["ffn"] == 3072 and not gpt2["gated"]
    llama = shape_of(
        {
            "model_type": "llama",
            "hidden_size": 576,
            "num_hidden_layers": 30,
            "num_attention_heads": 9,
            "intermediate_size": 1536,
            "hidden_act": "silu",
        }
    )
    assert llama["gated"]
    distil = shape_of(
        {"model_type": "distilbert", "dim": 768, "n_layers": 6, "n_heads": 12, "hidden_dim": 3072}
    )
    assert (distil["hidden"], distil["layers"], distil["ffn"]) == (768, 6, 3072)


def test_qlora_weights_are_smaller():
    q = estimate_memory(_cfg(strategy="qlora"), "encoder", LORA, MINILM)
    lora = estimate_memory(_cfg(strategy="lora"), "encoder", LORA, MINILM)
    assert q["weights"] < lora["weights"]


def test_saved_size_adapter_vs_whole_model():
    assert saved_size(_cfg(strategy="lora"), LORA, MINILM) == LORA["trainable"] * 4
    assert saved_size(_cfg(strategy="full"), FULL, MINILM) == FULL["total"] * 4
    assert (
        saved_size(_cfg(strategy="lora"), LORA, MINILM)
        < saved_size(_cfg(strategy="full"), FULL, MINILM) / 50
    )
    assert saved_size(_cfg(strategy="setfit"), FULL, MINILM) > FULL["total"] * 4
    assert human_bytes(890_888) == "891 KB" and human_bytes(1.5e9) == "1.5 GB"


@pytest.mark.parametrize("strategy", ["lora", "full"])
def test_calibrate_time_on_a_tiny_model(strategy, tiny_encoder):
    texts = [f"sample text number {i} " + "word " * (i % 7) for i in range(40)]
    cfg = RunConfig(
        data="x.csv",
        backbone=str(tiny_encoder),
        strategy=strategy,
        batch_size=4,
        max_length=32,
        epochs=2,
    )
    out = calibrate_time(cfg, texts, n_steps=3, train_rows=1000)
    assert out["seconds_per_step"] > 0 and out["samples_per_second"] > 0
    assert out["steps_per_epoch"] == 250 and out["total_steps"] == 500
    # seconds_per_epoch is rounded to 0.1 s, seconds_per_step to 0.1 ms
    assert out["seconds_per_epoch"] == pytest.approx(out["seconds_per_step"] * 250, abs=0.1)
    assert out["n_steps"] == 3 and out["mean_tokens_per_step"] > 0


def test_calibrate_time_with_a_spec_and_refuses_auto(tiny_encoder):
    import pandas as pd

    from engine.data import DataSpec

    frame = pd.DataFrame(
        {
            "text": [f"good {i}" for i in range(20)] + [f"bad {i}" for i in range(20)],
            "label": ["pos"] * 20 + ["neg"] * 20,
        }
    )
    spec = DataSpec(frame, frame.iloc[:4], frame.iloc[:4], ["neg", "pos"], "text", "label", "x")
    cfg = RunConfig(
        data="x.csv", backbone=str(tiny_encoder), strategy="lora", batch_size=8, max_length=16
    )
    out = calibrate_time(cfg, spec, n_steps=2)
    assert out["train_rows"] == 40 and out["steps_per_epoch"] == 5
    with pytest.raises(ValueError, match="auto"):
        calibrate_time(RunConfig(data="x.csv", backbone=str(tiny_encoder), strategy="auto"), spec)


def test_estimate_before_start_on_a_tiny_model(tiny_encoder, small_csv):
    from engine.estimate import estimate_before_start
    from engine.training.pipeline import data_spec

    cfg = RunConfig(data=str(small_csv), backbone=str(tiny_encoder), strategy="lora")
    out = estimate_before_start(cfg, num_labels=2, train_rows=64)
    assert out["memory"]["total"] > out["memory"]["weights"] > 0
    assert out["saved_bytes"] == out["parameters"]["trainable"] * 4
    assert out["steps_per_epoch"] == 4
    auto = estimate_before_start(
        RunConfig(data=str(small_csv), backbone=str(tiny_encoder), strategy="auto"),
        spec=data_spec(cfg),
    )
    assert auto["memory"]["strategy"] == "setfit"  # 32 rows per class: few-shot
