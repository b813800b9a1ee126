"""Export a finished text-classification run as artefacts people can use, and measure each one.

Formats (``FORMATS``), each a folder with the tokenizer, ``adaptune_export.json`` (what it is,
labels, max length, figures) and a Hugging Face model card (``README.md``):

    adapter  the trained adapter only (adapter_config.json + adapter_model.safetensors):
             ``peft.PeftModel.from_pretrained(base, folder)`` on the original backbone.
    merged   the adapter merged into the backbone (``merge_and_unload``), one full model in
             safetensors: ``AutoModelForSequenceClassification.from_pretrained(folder)``.
    int8     dynamic int8 quantization of every linear layer (torch.ao ``quantize_dynamic``) for
             CPU inference; the int8 weights and their scales are stored in safetensors
             (``model_int8.safetensors``), the rest in float32. ``load_int8(folder)`` rebuilds it.
    onnx     ``model.onnx`` (dynamic batch and sequence axes), checked with onnxruntime against
             the PyTorch model before it is kept.
    pruned   global magnitude pruning of the encoder's linear weights to a sparsity target
             (torch.nn.utils.prune), stored dense in safetensors (it zips small).

``export(run_dir, fmt, output_dir)`` writes one artefact and, unless ``measure=False``, puts it
next to the run's own model on the run's test split: size on disk, CPU latency per example
(batched, and one text at a time), accuracy / macro-F1, and how often it agrees with the
original. ``load_artefact(folder)`` gives a predictor for any artefact (or run) with the same
``predict`` / ``predict_proba`` / ``predict_table`` as ``engine.predict.Predictor``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from engine.runs import Run, read_json, write_json_atomic

FORMATS = ("adapter", "merged", "int8", "onnx", "pruned")
FORMAT_HELP = {
    "adapter": "The trained adapter only (small); loads on the original backbone with peft.",
    "merged": "One full model with the adapter merged in (safetensors); loads with transformers.",
    "int8": "Linear layers quantized to int8 for fast CPU inference (smaller, slightly less "
    "exact).",
    "onnx": "ONNX graph for onnxruntime (any language, no PyTorch needed).",
    "pruned": "The smallest-magnitude weights set to zero (sparsity target); compresses well.",
}
EXPORT_FILE = "adaptune_export.json"
INT8_FILE = "model_int8.safetensors"
ONNX_FILE = "model.onnx"


class ExportError(ValueError):
    """The run cannot be exported this way; the message says why and what to do."""


# ---- the run's model ------------------------------------------------------------------------------
def _check_run(run_dir: str | Path) -> Run:
    from engine.fewshot import is_setfit_model
    from engine.predict import run_task

    run = Run(Path(run_dir))
    if not (run.path / "config.json").exists():
        raise ExportError(f"{run.path} is not a run folder (it has no config.json).")
    if run.kind != "train":
        raise ExportError(
            f"{run.id} is a {run.kind} run; export a fine-tuning run "
            "(a pre-training run's model is a backbone: train on it first)."
        )
    task = run_task(run.path)
    if task != "classification":
        raise ExportError(
            f"{run.id} is a {task} run; export covers text-classification runs "
            "(serve other tasks with `python -m engine serve --run DIR`)."
        )
    if not (run.model_dir / "labels.json").exists():
        raise ExportError(
            f"{run.id} has no trained model yet (status: {run.status}). Pick a finished run."
        )
    if is_setfit_model(run.model_dir):
        raise ExportError(
            f"{run.id} was trained with SetFit (a sentence encoder + a separate "
            "head); export works on Trainer runs (full, LoRA, head, ...)."
        )
    return run


def check_exportable(run_dir: str | Path) -> str | None:
    """Why this run cannot be exported (one human line), or None when it can."""
    try:
        _check_run(run_dir)
    except ExportError as e:
        return str(e)
    return None


def is_adapter_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / "model" / "adapter_config.json").exists()


def load_run_model(run_dir: str | Path):
    """(model in eval mode on the CPU, tokenizer, labels) of a finished classification run;
    an adapter run comes back as the PeftModel on its original backbone."""
    from engine.tasks.classification import _load

    run = _check_run(run_dir)
    labels = read_json(run.model_dir / "labels.json", {})["labels"]
    model, tokenizer = _load(run.model_dir, run.config().backbone)
    return model.cpu().eval(), tokenizer, labels


def merged_model(run_dir: str | Path):
    """(plain transformers model, tokenizer, labels): an adapter merged into its backbone."""
    model, tokenizer, labels = load_run_model(run_dir)
    if is_adapter_run(run_dir):
        try:
            model = model.merge_and_unload()
        except (AttributeError, ValueError, TypeError, NotImplementedError):
            kind = (
                str(
                    read_json(Path(run_dir) / "model" / "adapter_config.json", {}).get(
                        "peft_type", "virtual-token"
                    )
                )
                .lower()
                .replace("_", "-")
            )
            raise ExportError(
                f"A {kind} adapter adds virtual tokens instead of changing "
                "weights, so it cannot be merged into the model: export "
                "'adapter', or serve the run itself."
            ) from None
    return model.eval(), tokenizer, labels


# ---- writing each format ---------------------------------------------------------------------------
def _need_adapter(run: Run) -> None:
    if not is_adapter_run(run.path):
        raise ExportError(
            f"{run.id} trained the whole model ({run.config().strategy}), so there "
            "is no separate adapter: export 'merged' (the full model) instead."
        )


def _write_adapter(run: Run, folder: Path, **_) -> None:
    _need_adapter(run)
    for item in run.model_dir.iterdir():
        if item.is_file():
            shutil.copy2(item, folder / item.name)


def _write_merged(run: Run, folder: Path, **_) -> None:
    model, tokenizer, _labels = merged_model(run.path)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _write_pruned(run: Run, folder: Path, sparsity: float = 0.5, **_) -> dict:
    import torch
    from torch.nn.utils import prune

    if not 0.0 < sparsity < 1.0:
        raise ExportError(
            f"The sparsity target must lie between 0 and 1 (got {sparsity}); "
            "0.3-0.5 keeps most of the accuracy."
        )
    model, tokenizer, _labels = merged_model(run.path)
    head = _head_names(model)
    params = [
        (m, "weight")
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and not any(name.startswith(h) for h in head)
    ]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=sparsity)
    for module, name in params:
        prune.remove(module, name)
    zeros = sum(int((m.weight == 0).sum()) for m, _ in params)
    total = sum(m.weight.numel() for m, _ in params)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {
        "sparsity_target": sparsity,
        "sparsity": round(zeros / max(1, total), 4),
        "pruned_layers": len(params),
    }


def _head_names(model) -> tuple[str, ...]:
    return tuple(n for n in ("classifier", "score") if hasattr(model, n))


def _quantize(model):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice (torchao is its heir)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _quantized_linears(model):
    import torch

    kind = torch.ao.nn.quantized.dynamic.Linear
    return [(name, m) for name, m in model.named_modules() if type(m) is kind]


def _write_int8(run: Run, folder: Path, **_) -> dict:
    import torch
    from safetensors.torch import save_file

    model, tokenizer, _labels = merged_model(run.path)
    float_state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    q = _quantize(model)
    tensors, linear_keys = {}, set()
    for name, module in _quantized_linears(q):
        weight, bias = module._weight_bias()
        tensors[f"{name}.weight.int8"] = weight.int_repr().contiguous()
        if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            tensors[f"{name}.weight.scales"] = weight.q_per_channel_scales().float()
            tensors[f"{name}.weight.zero_points"] = weight.q_per_channel_zero_points()
        else:
            tensors[f"{name}.weight.scale"] = torch.tensor([weight.q_scale()], dtype=torch.float64)
            tensors[f"{name}.weight.zero_point"] = torch.tensor([weight.q_zero_point()])
        if bias is not None:
            tensors[f"{name}.bias"] = bias.detach().clone().contiguous()
        linear_keys |= {f"{name}.weight", f"{name}.bias"}
    for key, value in float_state.items():
        if key not in linear_keys and key not in tensors:
            tensors[key] = value
    model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    save_file(
        tensors, str(folder / INT8_FILE), metadata={"format": "pt", "adaptune": "int8-dynamic"}
    )
    return {"quantized_layers": len(linear_keys) // 2}


def load_int8(folder: str | Path):
    """The int8 artefact as a torch model (dynamic int8 linear layers) in eval mode."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    folder = Path(folder)
    tensors = load_file(str(folder / INT8_FILE))
    config = AutoConfig.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_config(config)
    floats = {
        k: v
        for k, v in tensors.items()
        if ".weight." not in k
        or k.rsplit(".weight.", 1)[1]
        not in ("int8", "scale", "zero_point", "scales", "zero_points")
    }
    model.load_state_dict(floats, strict=False)
    q = _quantize(model.eval())
    for name, module in _quantized_linears(q):
        ints = tensors.get(f"{name}.weight.int8")
        if ints is None:
            raise ExportError(f"{folder} is not a complete int8 export: layer {name} is missing.")
        if f"{name}.weight.scales" in tensors:
            weight = torch._make_per_channel_quantized_tensor(
                ints,
                tensors[f"{name}.weight.scales"].double(),
                tensors[f"{name}.weight.zero_points"],
                0,
            )
        else:
            weight = torch._make_per_tensor_quantized_tensor(
                ints,
                float(tensors[f"{name}.weight.scale"][0]),
                int(tensors[f"{name}.weight.zero_point"][0]),
            )
        module.set_weight_bias(weight, tensors.get(f"{name}.bias"))
    return q.eval()


def _write_onnx(run: Run, folder: Path, **_) -> dict:
    import torch

    model, tokenizer, _labels = merged_model(run.path)
    sample = tokenizer(
        [
            "an example sentence to trace",
            "a second, somewhat longer example sentence for the exporter",
        ],
        padding=True,
        return_tensors="pt",
    )
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
    model.config.use_cache = False
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer notes about Python-side shape checks
        try:
            torch.onnx.export(
                model,
                tuple(sample[n] for n in names),
                str(folder / ONNX_FILE),
                input_names=names,
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        except Exception as exc:  # noqa: BLE001 - an architecture the tracer cannot export
            raise ExportError(
                f"This model could not be exported to ONNX "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                "export 'merged' or 'int8' instead."
            ) from None
    model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # the check: other shapes than the traced ones, against PyTorch
    check = tokenizer(
        [
            "short",
            "a much longer sentence than the one the graph was traced with, "
            "so the sequence axis really is dynamic",
            "third",
        ],
        padding=True,
        return_tensors="pt",
    )
    with torch.inference_mode():
        expected = model(**{n: check[n] for n in names}).logits.float().numpy()
    session = _onnx_session(folder)
    got = session.run(None, {n: check[n].numpy() for n in names})[0]
    diff = float(np.abs(got - expected).max())
    if diff > 1e-3:
        raise ExportError(
            f"The ONNX graph's outputs differ from the PyTorch model's by {diff:.4g} "
            "(more than 1e-3): not kept. Export 'merged' instead."
        )
    return {"onnx_max_abs_diff": diff, "onnx_inputs": names}


def _onnx_session(folder: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(Path(folder) / ONNX_FILE), options, providers=["CPUExecutionProvider"]
    )


WRITERS = {
    "adapter": _write_adapter,
    "merged": _write_merged,
    "int8": _write_int8,
    "onnx": _write_onnx,
    "pruned": _write_pruned,
}


# ---- loading any artefact ---------------------------------------------------------------------------
class ArtefactPredictor:
    """Predictions from an export folder (any format) or a run folder (its own model)."""

    def __init__(self, folder: str | Path):
        from transformers import AutoTokenizer

        folder = Path(folder)
        self.folder = folder
        self._torch = self._session = None
        meta = read_json(folder / EXPORT_FILE, None)
        if meta is None:  # a run folder: its own model, as trained
            model, self.tokenizer, self.labels = load_run_model(folder)
            self.format, self.max_length = "pytorch", Run(folder).config().max_length
            self._torch = model
            self.meta = {"format": "pytorch", "run": str(folder), "labels": self.labels}
            return
        self.meta = meta
        self.format = meta["format"]
        self.labels = list(meta["labels"])
        self.max_length = int(meta.get("max_length", 128))
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        if self.format == "onnx":
            self._session = _onnx_session(folder)
            self._inputs = {i.name for i in self._session.get_inputs()}
        elif self.format == "int8":
            self._torch = load_int8(folder)
        elif self.format == "adapter":
            from engine.tasks.classification import _load

            self._torch, _ = _load(folder, meta["backbone"])
        else:
            from transformers import AutoModelForSequenceClassification

            self._torch = AutoModelForSequenceClassification.from_pretrained(folder).eval()

    def logits(self, texts: list[str]) -> np.ndarray:
        import torch

        enc = self.tokenizer(
            list(texts),
            truncation=True,
            padding=True,
            max_length=self.max_length,
            return_tensors="np" if self._session else "pt",
        )
        if self._session is not None:
            feed = {k: np.asarray(v, dtype=np.int64) for k, v in enc.items() if k in self._inputs}
            return self._session.run(None, feed)[0]
        with torch.inference_mode():
            return self._torch(**enc).logits.float().numpy()

    def predict_proba(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        from engine.tasks.classification import softmax

        texts = [str(t) for t in texts]
        probs = np.zeros((len(texts), len(self.labels)))
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            probs[idx] = softmax(self.logits([texts[i] for i in idx]).astype(np.float64))
        return probs

    def predict(self, texts: list[str]) -> list[dict]:
        probs = self.predict_proba(texts)
        return [
            {
                "label": self.labels[int(p.argmax())],
                "probabilities": {l: round(float(v), 6) for l, v in zip(self.labels, p)},
            }
            for p in probs
        ]

    def predict_table(self, df: pd.DataFrame, text_column: str = "") -> pd.DataFrame:
        from engine.predict import Predictor

        return Predictor.predict_table(self, df, text_column)  # same column logic

    @property
    def text_column(self) -> str:
        return self.meta.get("text_column", "text")


def load_artefact(folder: str | Path) -> ArtefactPredictor:
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"{folder} does not exist.")
    if not (folder / EXPORT_FILE).exists() and not (folder / "config.json").exists():
        raise ExportError(f"{folder} is neither an export (no {EXPORT_FILE}) nor a run folder.")
    return ArtefactPredictor(folder)


# ---- measuring ----------------------------------------------------------------------------------------
def folder_size(folder: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def model_size(folder: str | Path) -> int:
    """Bytes of the weights alone (safetensors / onnx / bin), without tokenizer and card."""
    return sum(
        p.stat().st_size
        for p in Path(folder).rglob("*")
        if p.is_file() and p.suffix in (".safetensors", ".onnx", ".bin", ".pt")
    )


def test_rows(run_dir: str | Path, limit: int = 0) -> pd.DataFrame | None:
    """The run's test split (text, label) as training made it; None when its data is gone."""
    from engine.data import DataError
    from engine.training.pipeline import data_spec

    try:
        spec = data_spec(Run(Path(run_dir)).config())
    except (DataError, OSError):
        return None
    rows = spec.test[["text", "label"]].reset_index(drop=True)
    return rows.head(limit) if limit else rows


def measure(predictor, rows: pd.DataFrame | None, single: int = 20, batch_size: int = 32) -> dict:
    """Accuracy / macro-F1 on ``rows``, latency per example batched and one at a time."""
    from sklearn.metrics import accuracy_score, f1_score

    texts = (
        rows["text"].astype(str).tolist()
        if rows is not None and len(rows)
        else ["A short example sentence.", "Another example, a little longer than the first one."]
        * 8
    )
    predictor.predict_proba(texts[:batch_size], batch_size)  # warm-up
    passes, spent = [], 0.0
    while not passes or (spent < 0.5 and len(passes) < 5):  # small test sets: a few passes
        start = time.perf_counter()
        probs = predictor.predict_proba(texts, batch_size)
        passes.append(time.perf_counter() - start)
        spent += passes[-1]
    batched = min(passes) / len(texts)
    times = []
    for text in texts[:single]:
        t0 = time.perf_counter()
        predictor.predict_proba([text])
        times.append(time.perf_counter() - t0)
    out = {
        "latency_ms_per_example": round(batched * 1000, 3),
        "latency_ms_single": round(statistics.median(times) * 1000, 3),
        "n": len(texts),
        "predictions": [predictor.labels[int(i)] for i in probs.argmax(-1)],
        "probabilities": probs,
    }
    if rows is not None and len(rows):
        gold = rows["label"].astype(str).tolist()
        out["accuracy"] = round(float(accuracy_score(gold, out["predictions"])), 4)
        out["macro_f1"] = round(
            float(f1_score(gold, out["predictions"], average="macro", zero_division=0)), 4
        )
    return out


def compare(original: dict, artefact: dict) -> dict:
    same = np.mean([a == b for a, b in zip(original["predictions"], artefact["predictions"])])
    diff = float(np.abs(original["probabilities"] - artefact["probabilities"]).max())
    out = {
        "agreement": round(float(same), 4),
        "max_probability_diff": round(diff, 5),
        "speedup": round(
            original["latency_ms_per_example"] / max(1e-9, artefact["latency_ms_per_example"]), 3
        ),
    }
    if "accuracy" in original and "accuracy" in artefact:
        out["accuracy_change"] = round(artefact["accuracy"] - original["accuracy"], 4)
    return out


def _public(m: dict) -> dict:
    return {k: v for k, v in m.items() if k not in ("predictions", "probabilities")}


# ---- the export itself ------------------------------------------------------------------------------
def default_output_dir(run_dir: str | Path, fmt: str) -> Path:
    return Path(run_dir) / "exports" / fmt


def export(
    run_dir: str | Path,
    fmt: str,
    output_dir: str | Path | None = None,
    *,
    sparsity: float = 0.5,
    measure_it: bool = True,
    limit: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write one artefact of a finished classification run; returns its figures (also saved in
    the folder's adaptune_export.json and its model card)."""
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}; pick one of {', '.join(FORMATS)}.")
    run = _check_run(run_dir)
    if fmt == "adapter":
        _need_adapter(run)
    say = progress or (lambda _text: None)
    output = Path(output_dir) if output_dir else default_output_dir(run.path, fmt)
    if output.resolve() == run.path.resolve() or output.resolve() == run.model_dir.resolve():
        raise ExportError("Export into a new folder, not into the run folder itself.")
    if output.exists() and not output.is_dir():
        raise ExportError(f"{output} is a file; give a folder for the export.")
    if output.is_dir() and any(output.iterdir()) and not (output / EXPORT_FILE).exists():
        raise ExportError(
            f"{output} already holds other files; give an empty or new folder "
            "(an earlier export of the same kind is replaced)."
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config = run.config()
    labels_meta = read_json(run.model_dir / "labels.json", {})
    try:
        say(f"Writing the {fmt} artefact...")
        t0 = time.perf_counter()
        extra = WRITERS[fmt](run, tmp, sparsity=sparsity) or {}
        export_seconds = time.perf_counter() - t0
        meta = {
            "format": fmt,
            "run": run.id,
            "run_dir": str(run.path.resolve()),
            "backbone": config.backbone,
            "strategy": config.strategy,
            "labels": labels_meta["labels"],
            "text_column": labels_meta.get("text_column", "text"),
            "max_length": config.max_length,
            "export_seconds": round(export_seconds, 2),
            "created": time.time(),
            **extra,
        }
        write_json_atomic(tmp / EXPORT_FILE, meta)  # the predictor below reads it
        if measure_it:
            rows = test_rows(run.path, limit)
            say("Measuring the run's own model on the test split...")
            original = measure(ArtefactPredictor(run.path), rows)
            say(f"Measuring the {fmt} artefact on the same rows...")
            measured = measure(ArtefactPredictor(tmp), rows)
            meta["measured_on"] = (
                f"the run's test split ({len(rows)} rows)"
                if rows is not None
                else "example sentences (the run's data file is gone: no accuracy)"
            )
            meta["original"] = {**_public(original), "size_bytes": original_size(run.path)}
            meta["metrics"] = _public(measured)
            meta["comparison"] = compare(original, measured)
        meta["model_bytes"] = model_size(tmp)  # folder sizes: summary() measures the folder
        (tmp / "README.md").write_text(model_card(run, meta), encoding="utf-8")
        write_json_atomic(tmp / EXPORT_FILE, meta)
        shutil.rmtree(output, ignore_errors=True)
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary(output)


def original_size(run_dir: str | Path) -> int:
    """What the run's model weighs as a deployable whole: the backbone + adapter for an adapter
    run (the base must ship too), the saved model otherwise. (An adapter export alone is small,
    but needs that backbone next to it.)"""
    run = Run(Path(run_dir))
    size = model_size(run.model_dir)
    if is_adapter_run(run.path):
        from engine.backbones import resolve_backbone

        try:
            size += model_size(resolve_backbone(run.config().backbone, download=False))
        except ValueError:
            pass
    return size


def summary(folder: str | Path) -> dict:
    """The figures of one export folder (the CLI's JSON line, the tab's table row)."""
    folder = Path(folder)
    meta = read_json(folder / EXPORT_FILE, {}) or {}
    m = meta.get("metrics", {})
    out = {
        "path": str(folder),
        "format": meta.get("format"),
        "run": meta.get("run"),
        "size_bytes": folder_size(folder),
        "model_bytes": model_size(folder),
        "latency_ms_per_example": m.get("latency_ms_per_example"),
        "latency_ms_single": m.get("latency_ms_single"),
        "accuracy": m.get("accuracy"),
        "macro_f1": m.get("macro_f1"),
        "n": m.get("n"),
        "original": meta.get("original", {}),
        "comparison": meta.get("comparison", {}),
        "card": str(folder / "README.md"),
        "created": meta.get("created"),
    }
    for key in ("sparsity", "onnx_max_abs_diff", "quantized_layers"):
        if key in meta:
            out[key] = meta[key]
    return out


def list_exports(run_dir: str | Path) -> list[dict]:
    root = Path(run_dir) / "exports"
    if not root.is_dir():
        return []
    return [summary(p) for p in sorted(root.iterdir()) if (p / EXPORT_FILE).exists()]


def zip_export(folder: str | Path) -> Path:
    """``<folder>.zip`` next to the folder (replaced when it exists)."""
    folder = Path(folder)
    if not (folder / EXPORT_FILE).exists():
        raise ExportError(f"{folder} is not an export folder.")
    target = folder.with_suffix(".zip")
    tmp = shutil.make_archive(
        str(folder.with_name(f".{folder.name}.zip-tmp")), "zip", root_dir=folder
    )
    os.replace(tmp, target)
    return target


# ---- model card ------------------------------------------------------------------------------------
def model_card(run: Run, meta: dict) -> str:
    """A Hugging Face model card (YAML metadata + markdown) for an export of ``run``."""
    from huggingface_hub import EvalResult, ModelCardData

    config = run.config()
    data = run.data_summary()
    metrics = run.metrics()
    fmt = meta["format"]
    test = meta.get("metrics") or {}
    name = config.run_name or run.id
    results = []
    dataset = Path(config.data).name or "user data"
    for metric in ("accuracy", "macro_f1"):
        value = test.get(metric, (metrics.get("test") or {}).get(metric))
        if isinstance(value, (int, float)):
            results.append(
                EvalResult(
                    task_type="text-classification",
                    dataset_type="csv",
                    dataset_name=dataset,
                    dataset_split="test",
                    metric_type="f1" if metric == "macro_f1" else metric,
                    metric_name=metric,
                    metric_value=float(value),
                )
            )
    base = config.backbone
    from engine.backbones import CATALOGUE

    hub_base = (
        CATALOGUE[base].hub_id
        if base in CATALOGUE
        else (base if "/" in base and not Path(base).exists() else None)
    )
    card_data = ModelCardData(
        language=_language(data),
        library_name="peft" if fmt == "adapter" else ("onnx" if fmt == "onnx" else "transformers"),
        pipeline_tag="text-classification",
        tags=["adaptune", "text-classification", config.strategy, fmt],
        base_model=hub_base,
        model_name=name,
        eval_results=results or None,
    )
    labels = meta["labels"]
    split = data.get("splits") or {}
    load = {
        "adapter": f"from peft import PeftModel\nfrom transformers import "
        f"AutoModelForSequenceClassification\nbase = AutoModelForSequenceClassification."
        f'from_pretrained("{hub_base or base}", num_labels={len(labels)})\n'
        'model = PeftModel.from_pretrained(base, "PATH")',
        "merged": 'from transformers import pipeline\nclf = pipeline("text-classification", '
        'model="PATH")\nclf("your text")',
        "pruned": 'from transformers import pipeline\nclf = pipeline("text-classification", '
        'model="PATH")\nclf("your text")',
        "int8": 'from engine.export import load_artefact   # Adaptune\nclf = load_artefact("PATH")'
        '\nclf.predict(["your text"])',
        "onnx": "import onnxruntime as ort\nfrom transformers import AutoTokenizer\ntok = "
        'AutoTokenizer.from_pretrained("PATH")\nsession = ort.InferenceSession('
        '"PATH/model.onnx")\nenc = tok(["your text"], return_tensors="np")\nlogits = '
        "session.run(None, {k: v for k, v in enc.items() if k in "
        "{i.name for i in session.get_inputs()}})[0]",
    }[fmt]
    cmp_ = meta.get("comparison") or {}
    orig = meta.get("original") or {}
    lines = [
        f"# {name}",
        "",
        f"A text classifier fine-tuned with [Adaptune](https://github.com/) from `{base}` "
        f"({config.strategy} fine-tuning), exported as **{fmt}**: {FORMAT_HELP[fmt]}",
        "",
        "## Task and labels",
        f"Single-label text classification into {len(labels)} classes: "
        + ", ".join(f"`{l}`" for l in labels)
        + ".",
        "",
        "## Training data",
        f"- File: `{dataset}`; text column `{meta.get('text_column', 'text')}`.",
    ]
    if split:
        lines.append("- Rows: " + ", ".join(f"{k} {v}" for k, v in split.items()) + ".")
    lines += ["", "## Training configuration", "", "| setting | value |", "|---|---|"]
    shown = (
        "backbone",
        "strategy",
        "learning_rate",
        "epochs",
        "max_steps",
        "batch_size",
        "max_length",
        "lora_r",
        "lora_alpha",
        "seed",
    )
    cfg = config.to_dict()
    if not cfg.get("learning_rate") and metrics.get("learning_rate"):
        cfg["learning_rate"] = metrics["learning_rate"]  # 0 = the strategy's default, as used
    lines += [f"| {k} | {cfg[k]} |" for k in shown if k in cfg and cfg[k] not in ("", None)]
    lines += ["", "## Evaluation", ""]
    if test:
        lines += [
            f"On {meta.get('measured_on', 'the test split')}, on a CPU:",
            "",
            "| model | accuracy | macro-F1 | ms / example (batched) | ms (one text) | size |",
            "|---|---|---|---|---|---|",
            f"| run's model | {orig.get('accuracy', '-')} | {orig.get('macro_f1', '-')} | "
            f"{orig.get('latency_ms_per_example', '-')} | "
            f"{orig.get('latency_ms_single', '-')} | {_mb(orig.get('size_bytes'))} |",
            f"| this {fmt} export | {test.get('accuracy', '-')} | "
            f"{test.get('macro_f1', '-')} | {test.get('latency_ms_per_example', '-')} | "
            f"{test.get('latency_ms_single', '-')} | {_mb(meta.get('model_bytes'))} |",
            "",
        ]
        if cmp_:
            lines.append(
                f"The export agrees with the run's model on {cmp_.get('agreement', 0):.1%}"
                f" of the test texts (largest probability difference "
                f"{cmp_.get('max_probability_diff')})."
            )
    else:
        t = metrics.get("test") or {}
        lines.append(
            f"Test accuracy {t.get('accuracy')} and macro-F1 {t.get('macro_f1')} "
            "(the run's own model)."
        )
    lines += [
        "",
        "## How to use",
        "",
        "```python",
        load.replace("PATH", "path/to/this/folder"),
        "```",
        "",
        "## Intended use",
        "Classifying short texts like those in the training file, as decided by the "
        "person who trained it. Check the per-class scores in Adaptune's Evaluate tab "
        "before relying on a class with few examples.",
        "",
        "## Limitations",
        f"- Trained on {sum(split.values()) if split else 'a few'} labelled rows from one "
        "source: texts from another domain, language or time may be classified worse.",
        "- Labels only from the list above: the model always picks one of them, even for "
        "text that fits none.",
        "- Biases of the base model and of the labelling carry over; review errors before "
        "automated use.",
    ]
    if fmt in ("int8", "pruned"):
        lines.append(
            "- This export trades a little exactness for speed/size: its predictions "
            "can differ from the original model's on borderline texts (see above)."
        )
    return f"---\n{card_data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n"


def _language(data: dict) -> str | None:
    lang = data.get("language")
    return lang if isinstance(lang, str) and lang else None


def _mb(n) -> str:
    return f"{n / 1e6:.1f} MB" if isinstance(n, (int, float)) and n else "-"


# ---- the Hub -----------------------------------------------------------------------------------------
def push_to_hub(
    folder: str | Path, repo_id: str, token: str, private: bool = True, endpoint: str | None = None
) -> str:
    """Upload an export folder to a Hub model repo; returns its URL. The token is used for this
    call only: never saved, never logged, never part of an error message."""
    folder = Path(folder)
    if not (folder / EXPORT_FILE).exists():
        raise ExportError(f"{folder} is not an export folder: export the run first.")
    repo_id = (repo_id or "").strip()
    if not repo_id or repo_id.count("/") != 1 or any(not p for p in repo_id.split("/")):
        raise ExportError("The repo id must look like user-or-organisation/model-name.")
    if not token or not token.strip():
        raise ExportError(
            "A Hugging Face access token with write permission is needed "
            "(Settings > Access Tokens on huggingface.co)."
        )
    token = token.strip()
    from huggingface_hub import HfApi

    try:
        from huggingface_hub import constants

        hub_offline = constants.HF_HUB_OFFLINE
    except ImportError:  # pragma: no cover
        hub_offline = False
    if hub_offline or os.environ.get("HF_HUB_OFFLINE", "") in ("1", "true", "True"):
        raise ExportError(
            "Hub access is switched off on this machine (HF_HUB_OFFLINE is set): "
            "download the zip and upload it from a connected computer."
        )
    api = HfApi(token=token, endpoint=endpoint)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="model",
            commit_message="Upload from Adaptune",
        )
    except Exception as exc:  # noqa: BLE001 - turned into one human line
        raise ExportError(_hub_message(exc, token)) from None
    return str(url)


def _hub_message(exc: Exception, token: str) -> str:
    text = str(exc).replace(token, "***")
    status = getattr(getattr(exc, "response", None), "status_code", None)
    name = type(exc).__name__
    if status in (401, 403):
        return (
            "The Hub refused the token (it is wrong, expired or read-only): use a token "
            "with write permission."
        )
    if (
        "offline" in name.lower()
        or "Connect" in name
        or "Timeout" in name
        or "resolve" in text.lower()
        or "connection" in text.lower()
    ):
        return (
            "Could not reach the Hugging Face Hub (this machine looks offline): download "
            "the zip and upload it from a connected computer."
        )
    return f"The upload failed: {name}: {text.splitlines()[0][:200] if text else ''}"


# ---- batch prediction ---------------------------------------------------------------------------------
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells a spreadsheet would run as a formula get a leading apostrophe (OWASP CSV
    injection advice); numbers are left alone."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v
            )
    return out


def batch_predict(
    source: str | Path,
    data: str | Path,
    output: str | Path,
    text_column: str = "",
    chunk: int = 256,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """Predict every row of a table with a run (any task) or an export folder; writes a CSV
    (formula-escaped) and returns {"output", "rows", "predictions", "stopped"}."""
    from engine.data import load_table
    from engine.predict import get_predictor, run_task

    source = Path(source)
    df = load_table(data, min_columns=1)
    is_export = (source / EXPORT_FILE).exists()
    if is_export:
        predictor = load_artefact(source)
    else:
        predictor = get_predictor(source)
    classification = is_export or run_task(source) == "classification"
    parts, done, stopped = [], 0, False
    for start in range(0, len(df), chunk):
        if should_stop and should_stop():
            stopped = True
            break
        part = df.iloc[start : start + chunk]
        parts.append(
            predictor.predict_table(part, text_column)
            if classification
            else predictor.predict_table(part)
        )
        done += len(part)
        if progress:
            progress(done, len(df))
    result = pd.concat(parts) if parts else df.head(0)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    escape_formulas(result).to_csv(output, index=False)
    out = {"output": str(output), "rows": len(result), "rows_total": len(df), "stopped": stopped}
    if "prediction" in result.columns:
        out["predictions"] = {
            str(k): int(v)
            for k, v in result["prediction"].astype(str).value_counts().head(50).items()
        }
    return out


# ---- retraining from a finished run (warm start) ------------------------------------------------------
def warm_start_run(ref: str, runs_root: str | Path = "runs") -> Run:
    """The finished classification run ``ref`` names (a folder, ``run:FOLDER`` or a run id)."""
    from engine.config import ConfigError

    raw = ref.strip()[4:].strip() if ref.strip().startswith("run:") else ref.strip()
    for folder in (Path(raw).expanduser(), Path(runs_root) / raw):
        if (folder / "config.json").exists():
            try:
                return _check_run(folder)
            except ExportError as e:
                raise ConfigError(f"Cannot warm-start from it: {e}") from None
    raise ConfigError(f"Warm start: no run folder {ref!r} (give a finished run's folder or id).")


def warm_start_model(run: Run) -> tuple[Path, list[str]]:
    """(model folder to start from, its labels): the run's full model, or for an adapter run
    its merged export (written once, to <run>/exports/merged)."""
    labels = read_json(run.model_dir / "labels.json", {})["labels"]
    if not is_adapter_run(run.path):
        return run.model_dir, labels
    merged = default_output_dir(run.path, "merged")
    fresh = (merged / EXPORT_FILE).exists() and (merged / EXPORT_FILE).stat().st_mtime >= (
        run.model_dir / "adapter_config.json"
    ).stat().st_mtime
    if not fresh:
        export(run.path, "merged", merged, measure_it=False)
    return merged, labels


def warm_start_comparison(old: Run, new_run_dir: str | Path, new_test: pd.DataFrame) -> dict:
    """Old vs new model on the new run's test split, and on the old run's test split (did the
    new model forget what the old one knew?)."""
    from engine.tasks.classification import report

    def score(predictor, rows: pd.DataFrame) -> dict:
        labels = sorted(set(rows["label"].astype(str)))  # a label the rows lack: just wrong
        index = {l: i for i, l in enumerate(labels)}
        pred = [
            predictor.labels[int(i)]
            for i in predictor.predict_proba(rows["text"].astype(str).tolist()).argmax(-1)
        ]
        rep = report(
            [index[g] for g in rows["label"].astype(str)],
            [index.get(p, len(labels)) for p in pred],
            labels,
        )
        return {
            "accuracy": round(rep["accuracy"], 4),
            "macro_f1": round(rep["macro_f1"], 4),
            "n": len(rows),
        }

    old_model, new_model = ArtefactPredictor(old.path), ArtefactPredictor(Path(new_run_dir))
    out = {
        "from_run": old.id,
        "from_dir": str(old.path),
        "new_test": {
            "old_model": score(old_model, new_test),
            "new_model": score(new_model, new_test),
        },
    }
    old_rows = test_rows(old.path)
    if old_rows is not None and len(old_rows):
        out["old_test"] = {
            "old_model": score(old_model, old_rows),
            "new_model": score(new_model, old_rows),
        }
    n, o = out["new_test"]["new_model"], out["new_test"]["old_model"]
    out["summary"] = (
        f"On the new test split ({n['n']} rows) the retrained model scores "
        f"accuracy {n['accuracy']:.3f} vs {o['accuracy']:.3f} for {old.id}"
    )
    if "old_test" in out:
        on, oo = out["old_test"]["new_model"], out["old_test"]["old_model"]
        out["summary"] += (
            f"; on the old run's test split {on['accuracy']:.3f} vs {oo['accuracy']:.3f}"
        )
    out["summary"] += "."
    return out
