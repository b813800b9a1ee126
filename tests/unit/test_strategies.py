"""Every strategy on a tiny random encoder (BERT) and decoder (Llama): it either trains, saves and
reloads to the same logits, or ``support`` says in one sentence why it cannot."""

from __future__ import annotations

import json
from dataclasses import fields
from types import SimpleNamespace

import pytest
import torch

from engine import strategies as S
from engine.config import STRATEGIES as CONFIG_STRATEGIES
from engine.config import RunConfig

TEXTS = [
    "great wonderful film",
    "i hated it, so boring and bad",
    "ok",
    "really good value for the money, would buy again",
]
LABELS = torch.tensor([1, 0, 0, 1])
TRAINED_HERE = [name for name, s in S.STRATEGIES.items() if s.trainer == "engine"]
STEPS = 3


def _load(path):
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = 0
    return model


def _meta_model(path):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    cfg = AutoConfig.from_pretrained(path, num_labels=2)
    with torch.device("meta"):
        return AutoModelForSequenceClassification.from_config(cfg)


def _batch(path, strategy, family, texts=TEXTS):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = S.padding_side(strategy, family)
    return tok, tok(texts, padding=True, return_tensors="pt")


def _logits(model, batch):
    with torch.no_grad():
        return model(**batch).logits


def _is_sentence(text) -> bool:
    return (
        isinstance(text, str)
        and len(text) > 20
        and text[0].isupper()
        and text.endswith(".")
        and "\n" not in text
    )


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one thread is fastest, and far faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=["encoder", "decoder"])
def backbone(request, tiny_encoder, tiny_decoder):
    return request.param, (tiny_encoder if request.param == "encoder" else tiny_decoder)


@pytest.mark.parametrize("strategy", TRAINED_HERE)
def test_strategy_trains_saves_and_reloads(strategy, backbone, tmp_path):
    family, path = backbone
    model = _load(path)
    model_type = model.config.model_type
    config = RunConfig(strategy=strategy, backbone=str(path), lora_r=4, num_virtual_tokens=4)
    reason = S.support(strategy, family, model_type, "cpu")
    if reason is not None:
        assert _is_sentence(reason), reason
        with pytest.raises(ValueError, match=r"\w"):
            S.apply_strategy(model, config, total_steps=STEPS)
        return

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    pm = S.apply_strategy(model, config, total_steps=STEPS)

    # what trains
    counts = S.parameter_counts(pm)
    trainable = [n for n, p in pm.named_parameters() if p.requires_grad]
    heads = S.head_modules(model)
    assert 0 < counts["trainable"] <= counts["total"]
    if S.STRATEGIES[strategy].peft_method:
        assert counts["trainable"] == pm.get_nb_trainable_parameters()[0]
        assert any("modules_to_save" in n and any(h in n for h in heads) for n in trainable)
    elif strategy == "full":
        assert counts["trainable"] == counts["total"] == sum(p.numel() for p in before.values())
    else:  # head / bitfit
        for n in trainable:
            assert S._is_head_param(n, heads) or (strategy == "bitfit" and n.endswith(".bias")), n
        assert {n for n in before if S._is_head_param(n, heads)} <= set(trainable)
        if strategy == "bitfit":
            assert {n for n in before if n.endswith(".bias")} <= set(trainable)
    # the preview (meta device, no weights) counts the same
    meta = S.apply_strategy(_meta_model(path), config, total_steps=STEPS)
    assert S.parameter_counts(meta)["trainable"] == counts["trainable"]

    # a few optimiser steps
    _, batch = _batch(path, strategy, family)
    params = [p for p in pm.parameters() if p.requires_grad]
    start = {n: p.detach().clone() for n, p in pm.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW(params, lr=S.default_learning_rate(strategy, family))
    pm.train()
    for step in range(STEPS):
        loss = pm(**batch, labels=LABELS).loss
        assert torch.isfinite(loss), (strategy, step, loss)
        loss.backward()
        opt.step()
        S.after_optimizer_step(pm, step)
        opt.zero_grad()
    changed = [
        n
        for n, p in pm.named_parameters()
        if p.requires_grad and not torch.equal(p.detach(), start[n])
    ]
    if strategy != "head":  # the method's own weights learn, not only the head
        assert any(not S._is_head_param(n, heads) for n in changed), changed

    # save -> reload the standard way -> same logits
    pm.eval()
    expected = _logits(pm, batch)
    out = tmp_path / "model"
    S.save_model(pm, out)
    if S.STRATEGIES[strategy].saves == "adapter":
        assert (out / "adapter_config.json").exists()
        base = _load(path)
        if strategy == "prefix" or (family == "decoder" and strategy in ("prompt", "ptuning")):
            # PeftModel.from_pretrained plus the model-side shim the method needs
            # (prefix: the cache argument; decoder prompts: position ids over left padding)
            reloaded = S.load_adapter(base, out)
        else:
            from peft import PeftModel

            reloaded = PeftModel.from_pretrained(base, out)
    else:
        from transformers import AutoModelForSequenceClassification

        assert not (out / "adapter_config.json").exists()
        reloaded = AutoModelForSequenceClassification.from_pretrained(out)
    reloaded.eval()
    got = _logits(reloaded, batch)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()

    # a padded batch is scored like each text alone
    tok, _ = _batch(path, strategy, family)
    alone = torch.cat([_logits(reloaded, tok([t], return_tensors="pt")) for t in TEXTS])
    assert torch.allclose(alone, got, atol=1e-5), (alone - got).abs().max()


def test_decoder_prompt_needs_positions_over_left_padding(tiny_decoder, tmp_path):
    """peft puts the virtual tokens in front of the left padding and drops position ids: without
    ``load_adapter``'s position ids the padded batch no longer scores like each text alone."""
    from peft import PeftModel

    pm = S.apply_strategy(_load(tiny_decoder), RunConfig(strategy="prompt", num_virtual_tokens=4))
    with torch.no_grad():
        for p in pm.prompt_encoder.parameters():
            p.mul_(20)  # a prompt that matters, as after training
    S.save_model(pm, tmp_path)
    tok, batch = _batch(tiny_decoder, "prompt", "decoder")
    for reload, same in ((S.load_adapter, True), (PeftModel.from_pretrained, False)):
        model = reload(_load(tiny_decoder), tmp_path).eval()
        alone = torch.cat([_logits(model, tok([t], return_tensors="pt")) for t in TEXTS])
        assert torch.allclose(alone, _logits(model, batch), atol=1e-5) == same


def test_pissa_adapter_is_plain_lora_for_the_original_base(tiny_encoder, tmp_path):
    pm = S.apply_strategy(_load(tiny_encoder), RunConfig(strategy="pissa", lora_r=4))
    S.save_model(pm, tmp_path)
    saved = json.loads((tmp_path / "adapter_config.json").read_text())
    assert saved["init_lora_weights"] is True and saved["r"] == 8


def test_catalogue_matches_config():
    assert list(S.STRATEGIES) == CONFIG_STRATEGIES
    knob_fields = {f.name: f for f in fields(RunConfig)}
    for name, s in S.STRATEGIES.items():
        assert s.saves in ("adapter", "model") and s.default_lr > 0
        assert set(s.families) <= set(S.FAMILIES) and s.families
        assert s.description.endswith(".") and "\n" not in s.description
        assert len(s.description) <= 150, name
        for knob in s.knobs:
            assert knob in knob_fields, (name, knob)
    # the form shows a knob for exactly the strategies that read it
    for f in fields(RunConfig):
        listed = f.metadata.get("strategies")
        if listed is not None:
            users = {n for n, s in S.STRATEGIES.items() if f.name in s.knobs}
            assert set(listed) == users, f.name


def test_qlora_is_disabled_without_cuda_and_bitsandbytes(monkeypatch):
    monkeypatch.setattr(S, "_cuda_available", lambda: False)
    monkeypatch.setattr(S.importlib.util, "find_spec", lambda name: None)
    assert S.support("qlora", "decoder", "llama", "cpu") == (
        "QLoRA needs a CUDA GPU and the bitsandbytes package; this machine has neither."
    )
    assert "CUDA" in S.support("qlora", "encoder", "bert", "auto")
    assert S.quantization_config("lora") is None


def test_qlora_reason_on_this_machine():
    reason = S.support("qlora", "decoder", "llama", "cpu")
    assert _is_sentence(reason)  # "cpu" never runs 4-bit weights


def test_setfit_is_for_encoders_only():
    assert S.support("setfit", "encoder", "bert") is None
    assert S.support("setfit", "decoder", "llama") == (
        "SetFit fine-tunes sentence-embedding encoders; pick an encoder backbone."
    )
    assert S.STRATEGIES["setfit"].saves == "model"


def test_support_table_covers_every_strategy():
    table = S.support_table("decoder", "llama", "cpu")
    assert list(table) == list(S.STRATEGIES)
    assert table["lora"] is None and table["setfit"] and table["qlora"]
    assert S.support_table("encoder", "bert", "cpu")["setfit"] is None
    assert S.support("nope", "encoder")


def test_bad_target_module_lists_the_real_layers(tiny_encoder):
    for strategy in ("lora", "ia3", "vera"):
        cfg = RunConfig(strategy=strategy, lora_target_modules="query,qkv_proj")
        with pytest.raises(ValueError) as err:
            S.apply_strategy(_load(tiny_encoder), cfg)
        msg = str(err.value)
        assert "qkv_proj" in msg and "query" in msg.split("are:")[1]
        assert all(name in msg for name in ("key", "value", "dense"))


def test_knobs_reach_peft(tiny_encoder, tiny_decoder):
    pm = S.apply_strategy(
        _load(tiny_encoder), RunConfig(strategy="lora", lora_r=4, lora_target_modules="query, key")
    )
    cfg = pm.peft_config["default"]
    assert set(cfg.target_modules) == {"query", "key"} and cfg.r == 4
    assert set(cfg.modules_to_save) >= {"classifier", "pooler"}
    assert (
        pm.base_model.model.bert.encoder.layer[0]
        .attention.self.key.lora_A["default"]
        .weight.shape[0]
        == 4
    )
    pm = S.apply_strategy(
        _load(tiny_encoder), RunConfig(strategy="ia3", lora_target_modules="value,output.dense")
    )
    assert set(pm.peft_config["default"].feedforward_modules) == {"output.dense"}
    pm = S.apply_strategy(_load(tiny_decoder), RunConfig(strategy="ia3"))
    assert set(pm.peft_config["default"].feedforward_modules) == {"down_proj"}
    pm = S.apply_strategy(_load(tiny_decoder), RunConfig(strategy="prompt", num_virtual_tokens=7))
    assert pm.peft_config["default"].num_virtual_tokens == 7
    for strategy in ("rslora", "dora"):
        cfg = S.apply_strategy(_load(tiny_decoder), RunConfig(strategy=strategy)).peft_config
        assert cfg["default"].use_rslora == (strategy == "rslora")
        assert cfg["default"].use_dora == (strategy == "dora")
    cfg = S.apply_strategy(
        _load(tiny_decoder), RunConfig(strategy="adalora", lora_r=4), total_steps=200
    ).peft_config["default"]
    assert (cfg.total_step, cfg.target_r, cfg.tinit, cfg.tfinal) == (200, 4, 20, 40)


def test_adalora_budget_callback_for_the_trainer(tiny_encoder):
    assert (
        S.strategy_callbacks(S.apply_strategy(_load(tiny_encoder), RunConfig(strategy="lora")))
        == []
    )
    pm = S.apply_strategy(_load(tiny_encoder), RunConfig(strategy="adalora"), total_steps=10)
    (callback,) = S.strategy_callbacks(pm)
    _, batch = _batch(tiny_encoder, "adalora", "encoder")
    pm(**batch, labels=LABELS).loss.backward()
    callback.on_optimizer_step(None, SimpleNamespace(global_step=0), None, model=pm)
    assert pm.base_model.rankallocator.ipt  # importance scores were collected


def test_adalora_reloads_an_earlier_checkpoint(tiny_encoder, tmp_path):
    """The Trainer's load_best_model_at_end after the rank budget changed."""
    pm = S.apply_strategy(
        _load(tiny_encoder), RunConfig(strategy="adalora", lora_r=2), total_steps=10
    )
    _, batch = _batch(tiny_encoder, "adalora", "encoder")
    opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=1e-2)
    for step in range(10):
        pm(**batch, labels=LABELS).loss.backward()
        opt.step()
        S.after_optimizer_step(pm, step)
        opt.zero_grad()
        if step == 2:
            pm.save_pretrained(tmp_path / "checkpoint")
            pm.eval()
            at_checkpoint = _logits(pm, batch)
            pm.train()
    pm.load_adapter(str(tmp_path / "checkpoint"), "default")
    pm.eval()
    assert torch.allclose(_logits(pm, batch), at_checkpoint, atol=1e-6)


def test_apply_strategy_refuses_what_it_does_not_train(tiny_encoder):
    for strategy in ("auto", "setfit", "nope"):
        with pytest.raises(ValueError):
            S.apply_strategy(_load(tiny_encoder), SimpleNamespace(strategy=strategy))


def test_default_learning_rates():
    assert S.default_learning_rate("full") == 5e-5
    assert S.default_learning_rate("lora", "decoder") == S.default_learning_rate("lora") == 1e-3
    assert S.default_learning_rate("ptuning", "decoder") < S.default_learning_rate("ptuning")
    assert all(S.default_learning_rate(n, f) > 0 for n in S.STRATEGIES for f in S.FAMILIES)


def test_padding_side():
    assert S.padding_side("prompt", "decoder") == "left"
    assert S.padding_side("lora", "decoder") == "right"
    assert S.padding_side("prompt", "encoder") == "right"
