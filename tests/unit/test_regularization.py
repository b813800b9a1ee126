"""Regularisation options: dropout override, class weights, label smoothing, FGM, end to end."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.config import RunConfig
from engine.regularization import (
    AdaptuneTrainer,
    EmbeddingFGM,
    Regularization,
    balanced_class_weights,
    classification_loss,
    dropout_fields,
    dropout_overrides,
)
from engine.runs import RunStore
from engine.strategies import apply_strategy
from engine.tasks.classification import load_model
from engine.training.pipeline import train_run

LABELS = ["neg", "pos"]
TEXTS = ["great wonderful film", "i hated it a lot", "boring and bad", "excellent and fun here"]


# ---- dropout ---------------------------------------------------------------------------------
def test_dropout_override_reaches_bert_config_and_modules(tiny_encoder):
    overrides = dropout_overrides(tiny_encoder, 0.37)
    assert set(overrides) == {
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "classifier_dropout",
    }
    model, _ = load_model(tiny_encoder, LABELS, "encoder", config_overrides=overrides)
    assert model.config.hidden_dropout_prob == 0.37
    assert model.config.attention_probs_dropout_prob == 0.37
    assert model.config.classifier_dropout == 0.37
    drops = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops and all(p == 0.37 for p in drops)
    # attention dropout is read from the config at run time in BERT's attention
    attn = [m for m in model.modules() if hasattr(m, "dropout_prob")]
    assert all(m.dropout_prob == 0.37 for m in attn)


def test_dropout_minus_one_keeps_the_backbone(tiny_encoder):
    assert dropout_overrides(tiny_encoder, -1) == {}
    model, _ = load_model(tiny_encoder, LABELS, "encoder", config_overrides={})
    assert model.config.hidden_dropout_prob == 0.1


def test_dropout_override_reaches_llama(tiny_decoder):
    overrides = dropout_overrides(tiny_decoder, 0.2)
    assert overrides == {"attention_dropout": 0.2}
    model, _ = load_model(tiny_decoder, LABELS, "decoder", config_overrides=overrides)
    assert model.config.attention_dropout == 0.2
    attn = [m for m in model.modules() if hasattr(m, "attention_dropout")]
    assert attn and all(m.attention_dropout == 0.2 for m in attn)


def test_dropout_fields_of_other_families():
    from transformers import DistilBertConfig, GPT2Config

    assert {"resid_pdrop", "embd_pdrop", "attn_pdrop"} <= set(dropout_fields(GPT2Config()))
    assert {"dropout", "attention_dropout", "seq_classif_dropout"} <= set(
        dropout_fields(DistilBertConfig())
    )
    assert "lora_dropout" not in dropout_fields({"lora_dropout": 0.1, "dropout": 0.1})


# ---- class weights and label smoothing -------------------------------------------------------
def test_balanced_class_weights_on_an_imbalanced_set():
    labels = ["a"] * 6 + ["b"] * 2 + ["c"]
    weights = balanced_class_weights(labels, ["a", "b", "c"])
    assert weights == pytest.approx([9 / (3 * 6), 9 / (3 * 2), 9 / (3 * 1)])  # 0.5, 1.5, 3
    # a class absent from training gets a finite weight
    assert all(math.isfinite(w) for w in balanced_class_weights(labels, ["a", "b", "c", "d"]))


def _batch(seed=0, n=6, k=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g), torch.tensor([0, 0, 0, 0, 1, 2])


def test_weighted_loss_differs_and_matches_hand_computation():
    logits, labels = _batch()
    w = torch.tensor(balanced_class_weights(["a"] * 4 + ["b", "c"], ["a", "b", "c"]))
    plain = classification_loss(logits, labels)
    weighted = classification_loss(logits, labels, class_weights=w)
    logp = torch.log_softmax(logits, -1)
    nll = -logp[torch.arange(len(labels)), labels]
    hand = (w[labels] * nll).sum() / w[labels].sum()
    assert weighted.item() == pytest.approx(hand.item(), rel=1e-6)
    assert plain.item() == pytest.approx(nll.mean().item(), rel=1e-6)
    assert abs(weighted.item() - plain.item()) > 1e-3


def test_label_smoothing_follows_torch_formula():
    logits, labels = _batch(1)
    eps, k = 0.1, logits.shape[-1]
    smoothed = classification_loss(logits, labels, label_smoothing=eps)
    logp = torch.log_softmax(logits, -1)
    target = F.one_hot(labels, k).float() * (1 - eps) + eps / k
    hand = -(target * logp).sum(-1).mean()
    assert smoothed.item() == pytest.approx(hand.item(), rel=1e-6)
    assert abs(smoothed.item() - classification_loss(logits, labels).item()) > 1e-4


# ---- the Trainer -----------------------------------------------------------------------------
def _trainer(tmp_path, model, tokenizer, **reg):
    from transformers import TrainingArguments

    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        report_to="none",
        per_device_train_batch_size=4,
        disable_tqdm=True,
    )
    trainer = AdaptuneTrainer(
        model=model,
        args=args,
        processing_class=tokenizer,
        regularization=Regularization(labels=LABELS, **reg),
    )
    trainer.current_gradient_accumulation_steps = 1  # set by train() in a real run
    return trainer


def _inputs(tokenizer):
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    return {**enc, "labels": torch.tensor([1, 0, 0, 1])}


def _model(tiny_encoder, strategy="full"):
    model, tok = load_model(
        tiny_encoder, LABELS, "encoder", config_overrides=dropout_overrides(tiny_encoder, 0.0)
    )
    model = apply_strategy(model, RunConfig(strategy=strategy))
    return model, tok


def test_trainer_loss_uses_weights_and_smoothing_in_training_only(tiny_encoder, tmp_path):
    model, tok = _model(tiny_encoder)
    inputs = _inputs(tok)
    weights = [0.25, 4.0]
    trainer = _trainer(tmp_path, model, tok, class_weights=weights, label_smoothing=0.1)
    model.train()
    loss = trainer.compute_loss(model, dict(inputs))
    with torch.no_grad():
        logits = model(**{k: v for k, v in inputs.items() if k != "labels"}).logits
    expected = F.cross_entropy(
        logits, inputs["labels"], weight=torch.tensor(weights), label_smoothing=0.1
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert "labels" in inputs  # the caller's batch is not modified
    model.eval()  # evaluation reports the plain cross-entropy
    eval_loss = trainer.compute_loss(model, dict(inputs))
    assert eval_loss.item() == pytest.approx(
        F.cross_entropy(logits, inputs["labels"]).item(), rel=1e-5
    )


def test_trainer_without_options_is_the_plain_trainer(tiny_encoder, tmp_path):
    model, tok = _model(tiny_encoder)
    inputs = _inputs(tok)
    trainer = _trainer(tmp_path, model, tok)
    model.train()
    assert trainer.compute_loss(model, dict(inputs)).item() == pytest.approx(
        model(**inputs).loss.item(), rel=1e-6
    )


def _grads(model):
    return {
        n: p.grad.detach().clone()
        for n, p in model.named_parameters()
        if p.requires_grad and p.grad is not None
    }


@pytest.mark.parametrize("strategy", ["full", "lora"])
def test_fgm_training_step(strategy, tiny_encoder, tmp_path):
    model, tok = _model(tiny_encoder, strategy)
    inputs = _inputs(tok)
    emb = model.get_input_embeddings().weight
    before = emb.detach().clone()
    assert emb.requires_grad == (strategy == "full")

    plain = _trainer(tmp_path, model, tok)
    model.zero_grad()
    loss_plain = plain.training_step(model, dict(inputs))
    g_plain = _grads(model)

    fgm = _trainer(tmp_path, model, tok, adversarial="fgm", adversarial_epsilon=1.0)
    model.zero_grad()
    loss_fgm = fgm.training_step(model, dict(inputs))
    g_fgm = _grads(model)

    assert fgm.adversarial_steps == 1
    assert torch.isfinite(loss_fgm) and loss_fgm.item() == pytest.approx(
        loss_plain.item(), rel=1e-5
    )
    assert torch.equal(model.get_input_embeddings().weight, before)  # embeddings untouched
    assert set(g_fgm) == set(g_plain) and g_plain
    diff = max((g_fgm[n] - g_plain[n]).abs().max().item() for n in g_plain)
    assert diff > 1e-6  # the adversarial pass added its gradients
    if strategy == "lora":
        assert emb.grad is None and not emb.requires_grad  # still frozen
        assert any("lora_" in n for n in g_fgm)
    assert not model.get_input_embeddings()._forward_hooks  # hooks removed


def test_fgm_perturbation_raises_the_loss(tiny_encoder):
    model, tok = _model(tiny_encoder, "lora")
    model.eval()  # no dropout: the only difference is the perturbation
    inputs = _inputs(tok)
    fgm = EmbeddingFGM(model.get_input_embeddings(), epsilon=0.5)
    with fgm.capture():
        clean = model(**inputs).loss
        clean.backward()
    assert fgm.ready()
    delta = fgm.delta()
    norms = delta.flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, 0.5), atol=1e-4)  # per example
    with torch.no_grad(), fgm.perturb():
        adv = model(**inputs).loss
    assert adv.item() > clean.item()


# ---- end to end ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "option",
    [
        {"dropout": 0.2},
        {"label_smoothing": 0.1},
        {"class_weights": "balanced"},
        {"adversarial": "fgm", "adversarial_epsilon": 0.5},
        {"augment": "tokens"},
    ],
)
def test_train_run_with_each_option(option, small_csv, tiny_encoder, tmp_path):
    cfg = RunConfig(
        data=str(small_csv),
        backbone=str(tiny_encoder),
        output_dir=str(tmp_path / "runs"),
        max_steps=4,
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=32,
        strategy="lora",
        **option,
    )
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    assert metrics["status"] == "completed" and metrics["global_step"] == 4
    reg = metrics["regularization"]
    key, value = next(iter(option.items()))
    assert reg[key] == value
    if key == "class_weights":
        assert set(reg["class_weight_values"]) == {"neg", "pos"}
    if key == "adversarial":
        assert reg["adversarial_steps"] == 4
    if key == "dropout":
        assert "hidden_dropout_prob" in reg["dropout_fields"]
    if key == "augment":
        assert reg["augmented_rows"] > 0


def test_train_run_decoder_with_all_options(small_csv, tiny_decoder, tmp_path):
    cfg = RunConfig(
        data=str(small_csv),
        backbone=str(tiny_decoder),
        output_dir=str(tmp_path / "runs"),
        max_steps=4,
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=32,
        strategy="lora",
        dropout=0.1,
        label_smoothing=0.1,
        class_weights="balanced",
        adversarial="fgm",
        augment="tokens",
    )
    run = RunStore(cfg.output_dir).create(cfg)
    metrics = train_run(cfg, run)
    assert metrics["status"] == "completed"
    reg = metrics["regularization"]
    assert reg["dropout_fields"] == ["attention_dropout"] and reg["adversarial_steps"] == 4
    assert math.isfinite(metrics["validation"]["loss"])


def test_custom_loss_keeps_extra_terms_of_the_model_loss(tiny_encoder, tmp_path):
    """AdaLoRA adds an orthogonality penalty to the model's loss; weights must not drop it."""
    model, tok = _model(tiny_encoder)
    inputs = _inputs(tok)
    trainer = _trainer(tmp_path, model, tok, label_smoothing=0.1)
    model.train()
    penalty = torch.nn.Parameter(torch.tensor(0.75))
    forward = model.forward

    def with_penalty(*args, **kw):
        out = forward(*args, **kw)
        if out.loss is not None:
            out.loss = out.loss + penalty
        return out

    model.forward = with_penalty
    loss = trainer.compute_loss(model, dict(inputs))
    with torch.no_grad():
        logits = forward(**{k: v for k, v in inputs.items() if k != "labels"}).logits
    expected = F.cross_entropy(logits, inputs["labels"], label_smoothing=0.1) + 0.75
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert penalty.grad.item() == pytest.approx(1.0)
