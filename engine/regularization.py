"""Regularisation options of a run: dropout override, label smoothing, class weights and FGM.

Everything here is switched on by RunConfig fields (Advanced settings) and is a no-op at the
defaults, so a run with no option set trains exactly as a plain ``transformers.Trainer`` would.

* ``dropout_overrides(model_config, p)``: the backbone-config fields to set so that every dropout
  probability of the model is ``p`` (passed to ``from_pretrained`` before the model is built).
* ``balanced_class_weights``: n / (k * count_c) per class, from the training rows.
* ``AdaptuneTrainer``: a Trainer whose training loss is a cross-entropy with optional class
  weights and label smoothing, and whose training step optionally adds an FGM adversarial pass.

FGM (Miyato et al. 2017, "Adversarial training methods for semi-supervised text classification")
is applied to the OUTPUT of the word-embedding layer, not to the embedding weight matrix: a
forward hook records the gradient of the loss w.r.t. the embedded sequence during the normal
pass, and adds ``epsilon * g / ||g||`` (norm per example) to that output during a second
forward/backward whose gradients add to the first. The weights are never modified, so there is
nothing to restore, and it works the same when the embedding table is frozen (LoRA and the other
adapters, ``freeze_embeddings``): the hook marks the frozen output as requiring grad for the
clean pass. Cost: two forward and two backward passes per step, i.e. about 2x a plain step.

The weighted / smoothed loss replaces only the cross-entropy part of the model's own loss: extra
terms a method adds to it (AdaLoRA's orthogonality penalty) are kept. The validation/test loss
stays the plain, unweighted, unsmoothed cross-entropy of the model so that validation losses
compare across settings. Label smoothing is done here, not through
``TrainingArguments.label_smoothing_factor`` (still in transformers 5.x, but its LabelSmoother
has no class weights): leave that argument at 0 or the targets are smoothed twice.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from transformers import Trainer

# Config fields that hold a dropout probability although their name does not say "dropout".
_EXTRA_DROPOUT_FIELDS = {"resid_pdrop", "embd_pdrop", "attn_pdrop"}
# Fields with "dropout" in the name that are not a backbone dropout probability.
_NOT_DROPOUT = ("lora", "layerdrop")


def dropout_fields(model_config) -> list[str]:
    """Names of the top-level fields of a transformers config that are dropout probabilities
    (``hidden_dropout_prob``, ``attention_probs_dropout_prob``, ``classifier_dropout``,
    ``attention_dropout``, ``dropout``, ``resid_pdrop`` ...). ``None`` values count: a ``None``
    ``classifier_dropout`` means "use hidden_dropout_prob" and is set explicitly too."""
    values = model_config.to_dict() if hasattr(model_config, "to_dict") else dict(model_config)
    names = []
    for name, value in values.items():
        lowered = name.lower()
        if not (
            "dropout" in lowered or lowered in _EXTRA_DROPOUT_FIELDS or lowered.endswith("_pdrop")
        ):
            continue
        if any(bad in lowered for bad in _NOT_DROPOUT):
            continue
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            names.append(name)
    return names


def dropout_overrides(model_config_or_path, p: float) -> dict[str, float]:
    """``{field: p}`` for every dropout field of the backbone config; ``{}`` when ``p < 0``
    (keep the backbone's own dropout). Accepts a config object or a model folder / hub id."""
    if p is None or p < 0:
        return {}
    if p > 1:
        raise ValueError(f"dropout must be between 0 and 1 (got {p}).")
    model_config = model_config_or_path
    if not hasattr(model_config, "to_dict"):
        from transformers import AutoConfig

        model_config = AutoConfig.from_pretrained(model_config_or_path)
    return {name: float(p) for name in dropout_fields(model_config)}


def balanced_class_weights(train_labels: Iterable[str], labels: list[str]) -> list[float]:
    """scikit-learn's "balanced" weights: n / (k * count_c), in the order of ``labels``.

    A class missing from the training rows gets the weight of a class seen once (it is never a
    target, so the value only has to be finite)."""
    train_labels = list(train_labels)
    n, k = len(train_labels), len(labels)
    if n == 0 or k == 0:
        return [1.0] * k
    counts = {label: 0 for label in labels}
    for label in train_labels:
        counts[label] = counts.get(label, 0) + 1
    return [n / (k * max(counts[label], 1)) for label in labels]


def classification_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Mean cross-entropy with optional per-class weights and label smoothing (torch's formula:
    targets ``(1 - e) * one_hot + e / K``; with weights, the mean is over the summed weights of
    the rows' gold classes)."""
    logits = logits.float()
    weight = None
    if class_weights is not None:
        weight = class_weights.to(device=logits.device, dtype=logits.dtype)
    return F.cross_entropy(
        logits.view(-1, logits.shape[-1]),
        labels.view(-1).long(),
        weight=weight,
        label_smoothing=float(label_smoothing or 0.0),
    )


@dataclass
class Regularization:
    """The loss and training-step options of a run (all off by default)."""

    label_smoothing: float = 0.0
    class_weights: list[float] | None = None  # one per label, in label-id order
    adversarial: str = "none"  # "none" | "fgm"
    adversarial_epsilon: float = 1.0
    labels: list[str] = field(default_factory=list)

    @property
    def custom_loss(self) -> bool:
        return bool(self.label_smoothing) or self.class_weights is not None

    @classmethod
    def from_config(
        cls, config, train_labels: Iterable[str], labels: list[str]
    ) -> "Regularization":
        weights = None
        if getattr(config, "class_weights", "none") == "balanced":
            weights = balanced_class_weights(train_labels, labels)
        return cls(
            label_smoothing=float(getattr(config, "label_smoothing", 0.0) or 0.0),
            class_weights=weights,
            adversarial=getattr(config, "adversarial", "none") or "none",
            adversarial_epsilon=float(getattr(config, "adversarial_epsilon", 1.0)),
            labels=list(labels),
        )

    def describe(self) -> dict[str, Any]:
        """JSON-able summary for metrics.json (class weights keyed by label name)."""
        out = asdict(self)
        out.pop("labels")
        if self.class_weights is not None:
            out["class_weights"] = {
                label: round(w, 6) for label, w in zip(self.labels, self.class_weights)
            }
        return out


class EmbeddingFGM:
    """FGM on the output of an embedding module (see the module docstring).

    ``with fgm.capture(): <forward + backward>`` records d loss / d embedding-output;
    ``with fgm.perturb(): <forward + backward>`` adds ``epsilon * g / ||g||`` (L2 norm per
    example, over positions and hidden units) to the same output. Only the first call of the
    module per forward is touched (the input ids' embedding)."""

    def __init__(self, embedding: torch.nn.Module, epsilon: float = 1.0):
        self.embedding = embedding
        self.epsilon = float(epsilon)
        self.grad: torch.Tensor | None = None
        self._calls = 0

    def _capture_hook(self, module, args, output):
        self._calls += 1
        if (
            self._calls > 1
            or not isinstance(output, torch.Tensor)
            or not output.is_floating_point()
            or not torch.is_grad_enabled()
        ):
            return None
        if not output.requires_grad:
            # frozen embedding table (LoRA, adapters): the output is a leaf without grad;
            # ask for its gradient (what peft's enable_input_require_grads does too)
            output = output.detach().requires_grad_(True)

        def keep(grad):
            self.grad = grad.detach()

        output.register_hook(keep)
        return output

    def _perturb_hook(self, module, args, output):
        self._calls += 1
        if (
            self._calls > 1
            or self.grad is None
            or not isinstance(output, torch.Tensor)
            or output.shape != self.grad.shape
        ):
            return None
        return output + self.delta().to(dtype=output.dtype, device=output.device)

    def delta(self) -> torch.Tensor:
        g = self.grad.float()
        norms = g.flatten(1).norm(dim=1).clamp_min(1e-12)
        return self.epsilon * g / norms.view(-1, *([1] * (g.dim() - 1)))

    def ready(self) -> bool:
        return self.grad is not None and bool(torch.isfinite(self.grad).all())

    @contextlib.contextmanager
    def capture(self):
        self.grad, self._calls = None, 0
        handle = self.embedding.register_forward_hook(self._capture_hook)
        try:
            yield self
        finally:
            handle.remove()

    @contextlib.contextmanager
    def perturb(self):
        self._calls = 0
        handle = self.embedding.register_forward_hook(self._perturb_hook)
        try:
            yield self
        finally:
            handle.remove()
            self.grad = None


class AdaptuneTrainer(Trainer):
    """Trainer with the run's regularisation: weighted / smoothed training loss and FGM.

    With ``regularization=None`` (or all options off) it behaves exactly like ``Trainer``."""

    def __init__(self, *args, regularization: Regularization | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.regularization = regularization or Regularization()
        self.adversarial_steps = 0
        self._fgm: EmbeddingFGM | None = None
        if self.regularization.custom_loss:
            self.loss_is_scaled_for_ga = False  # our loss is a per-batch mean
        if self.regularization.adversarial not in ("none", "fgm"):
            raise ValueError(f"Unknown adversarial training {self.regularization.adversarial!r}.")

    def _get_eval_sampler(self, eval_dataset):
        """Evaluate and predict in the dataset's row order. transformers 5 also applies
        ``train_sampling_strategy="group_by_length"`` to evaluation (a LengthGroupedSampler), so
        ``predict`` returned rows length-sorted: the scores were right (labels move with their
        rows) but the "worst mistakes" paired a text with another row's labels."""
        from torch.utils.data import SequentialSampler

        if eval_dataset is None or not hasattr(eval_dataset, "__len__"):
            return None
        return SequentialSampler(eval_dataset)

    # ---- loss ------------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        reg = self.regularization
        if not (reg.custom_loss and model.training and "labels" in inputs):
            return super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
        labels = inputs["labels"]
        # labels go in: the model's own loss then carries any extra term a method adds to it
        # (AdaLoRA's orthogonality penalty), which is kept below
        outputs = model(**inputs)
        if isinstance(outputs, dict):
            logits, model_loss = outputs["logits"], outputs.get("loss")
        else:
            logits, model_loss = outputs[1], outputs[0]
        weights = None
        if reg.class_weights is not None:
            weights = torch.tensor(reg.class_weights, dtype=torch.float32)
        loss = classification_loss(logits, labels, weights, reg.label_smoothing)
        if model_loss is not None:
            loss = loss + (model_loss.float() - classification_loss(logits, labels))
        return (loss, outputs) if return_outputs else loss

    # ---- adversarial step ------------------------------------------------------------------
    def _embedding_fgm(self) -> EmbeddingFGM:
        if self._fgm is None:
            embedding = self.model.get_input_embeddings()
            if embedding is None:
                raise ValueError("FGM needs a model with an input-embedding layer.")
            self._fgm = EmbeddingFGM(embedding, self.regularization.adversarial_epsilon)
        return self._fgm

    def training_step(self, model, inputs, num_items_in_batch=None):
        if self.regularization.adversarial != "fgm":
            return super().training_step(model, inputs, num_items_in_batch)
        fgm = self._embedding_fgm()
        with fgm.capture():
            loss = super().training_step(model, inputs, num_items_in_batch)
        if fgm.ready():
            with fgm.perturb():
                super().training_step(model, inputs, num_items_in_batch)  # grads add up
            self.adversarial_steps += 1
        return loss  # the clean loss is logged, so curves compare with non-FGM runs
