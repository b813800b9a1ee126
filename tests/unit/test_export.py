"""Export: every artefact written, loaded back with the standard libraries and compared with the
run's own model; model card, zip, Hub push errors, batch prediction, warm-start retraining."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from engine import export as E
from engine.config import ConfigError, RunConfig
from engine.runs import RunStore
from engine.training.pipeline import preflight, train_run

from tests.conftest import write_two_class_csv

REPO = Path(__file__).resolve().parents[2]


def _table(path: Path, n: int = 40, offset: int = 0, extra_label: str = "") -> Path:
    return write_two_class_csv(path, n, offset, extra_label)


def _train(root: Path, data: Path, backbone, strategy: str, name: str, **kw):
    cfg = RunConfig(
        data=str(data),
        backbone=str(backbone),
        output_dir=str(root / "runs"),
        max_steps=kw.pop("max_steps", 8),
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=32,
        strategy=strategy,
        run_name=name,
        learning_rate=kw.pop("learning_rate", 5e-3),
        **kw,
    )
    preflight(cfg)
    run = RunStore(cfg.output_dir).create(cfg)
    train_run(cfg, run)
    assert run.status == "completed", run.status_info()
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_encoder):
    root = tmp_path_factory.mktemp("export")
    data = _table(root / "reviews.csv")
    lora = _train(root, data, tiny_encoder, "lora", "tiny-lora")
    full = _train(root, data, tiny_encoder, "full", "tiny-full")
    return root, data, lora, full


TEXTS = [
    "great wonderful film 7",
    "boring and bad 3",
    "a text the model never saw, longer than the others so that padding matters",
    "i hated it",
]


def _run_logits(run_path: Path) -> np.ndarray:
    model, tok, _ = E.load_run_model(run_path)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return model(**enc).logits.numpy()


def _check_card(folder: Path, fmt: str) -> None:
    from huggingface_hub import ModelCard

    card = ModelCard.load(folder / "README.md")
    assert card.data.pipeline_tag == "text-classification"
    assert fmt in card.data.tags and "adaptune" in card.data.tags
    text = card.text
    for section in (
        "## Task and labels",
        "## Training data",
        "## Training configuration",
        "## Evaluation",
        "## Intended use",
        "## Limitations",
        "## How to use",
    ):
        assert section in text
    assert "`neg`, `pos`" in text and "reviews.csv" in text
    meta = json.loads((folder / E.EXPORT_FILE).read_text())
    assert meta["labels"] == ["neg", "pos"] and meta["format"] == fmt


def test_every_format_of_a_lora_run_loads_with_the_standard_libraries(runs, tiny_encoder, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    _root, _data, lora, _full = runs
    expected = _run_logits(lora.path)
    results = {fmt: E.export(lora.path, fmt, tmp_path / fmt) for fmt in E.FORMATS}
    for fmt, r in results.items():
        assert Path(r["path"]) == tmp_path / fmt and r["format"] == fmt
        assert r["size_bytes"] > 0 and r["latency_ms_per_example"] > 0
        assert r["latency_ms_single"] > 0 and r["n"] == 8  # the run's test split
        assert r["accuracy"] is not None and 0 <= r["accuracy"] <= 1
        assert r["original"]["accuracy"] is not None
        assert 0 <= r["comparison"]["agreement"] <= 1
        _check_card(tmp_path / fmt, fmt)
    tok = AutoTokenizer.from_pretrained(tmp_path / "merged")
    enc = tok(TEXTS, padding=True, return_tensors="pt")

    # adapter: peft on the original backbone gives the run's outputs exactly
    base = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=2)
    model = PeftModel.from_pretrained(base, str(tmp_path / "adapter")).eval()
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    with torch.inference_mode():
        np.testing.assert_allclose(model(**enc).logits.numpy(), expected, atol=1e-5)
    # merged: one plain transformers model in safetensors, no peft involved
    merged = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged").eval()
    assert (tmp_path / "merged" / "model.safetensors").exists()
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    with torch.inference_mode():
        np.testing.assert_allclose(merged(**enc).logits.numpy(), expected, atol=1e-4)
    assert merged.config.id2label == {0: "neg", 1: "pos"}
    # int8: int8 tensors in safetensors, dynamic int8 linear layers, outputs close
    from safetensors import safe_open

    with safe_open(str(tmp_path / "int8" / E.INT8_FILE), "pt") as fh:
        dtypes = {fh.get_tensor(k).dtype for k in fh.keys() if k.endswith(".int8")}
    assert dtypes == {torch.int8}
    q = E.load_int8(tmp_path / "int8")
    assert len(E._quantized_linears(q)) == results["int8"]["quantized_layers"] > 0
    with torch.inference_mode():
        np.testing.assert_allclose(q(**enc).logits.numpy(), expected, atol=0.05)
    assert E.model_size(tmp_path / "int8") < E.model_size(tmp_path / "merged")
    # onnx: onnxruntime on another batch shape than the traced one
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    names = {i.name for i in session.get_inputs()}
    got = session.run(None, {k: v.numpy() for k, v in enc.items() if k in names})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert results["onnx"]["onnx_max_abs_diff"] < 1e-3
    # pruned: the sparsity target reached, loads with transformers
    pruned = AutoModelForSequenceClassification.from_pretrained(tmp_path / "pruned")
    weights = [
        m.weight
        for n, m in pruned.named_modules()
        if isinstance(m, torch.nn.Linear) and not n.startswith("classifier")
    ]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert abs(zeros - 0.5) < 0.01 and abs(results["pruned"]["sparsity"] - zeros) < 1e-3
    # every artefact predicts through the same predictor, agreeing with the run
    run_pred = [p["label"] for p in E.load_artefact(lora.path).predict(TEXTS)]
    for fmt in ("adapter", "merged", "onnx"):
        assert [p["label"] for p in E.load_artefact(tmp_path / fmt).predict(TEXTS)] == run_pred
    assert results["merged"]["comparison"]["agreement"] == 1.0
    assert results["adapter"]["comparison"]["max_probability_diff"] < 1e-5
    # listing reads them back from disk
    assert E.list_exports(lora.path) == []  # these went elsewhere
    E.export(lora.path, "int8", measure_it=False)
    listed = E.list_exports(lora.path)
    assert [x["format"] for x in listed] == ["int8"] and listed[0]["accuracy"] is None


def test_clear_messages_for_what_cannot_be_exported(runs, tmp_path):
    _root, _data, lora, full = runs
    with pytest.raises(E.ExportError, match="no separate adapter.*merged"):
        E.export(full.path, "adapter", tmp_path / "a")
    with pytest.raises(E.ExportError, match="Unknown export format"):
        E.export(full.path, "tflite", tmp_path / "b")
    with pytest.raises(E.ExportError, match="not a run folder"):
        E.export(tmp_path, "merged")
    with pytest.raises(E.ExportError, match="sparsity"):
        E.export(full.path, "pruned", tmp_path / "c", sparsity=1.5)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(E.ExportError, match="already holds other files"):
        E.export(full.path, "merged", tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"  # nothing lost
    store = RunStore(tmp_path / "runs")
    ner = store.create(RunConfig(task="ner", data="x.jsonl"))
    with pytest.raises(E.ExportError, match="ner run.*text-classification"):
        E.export(ner.path, "merged")
    pending = store.create(RunConfig(data="x.csv"))
    with pytest.raises(E.ExportError, match="no trained model yet"):
        E.export(pending.path, "int8")
    # a failed export leaves no half-written folder behind
    assert not (tmp_path / "a").exists() and not any(
        p.name.startswith(".a.tmp") for p in tmp_path.iterdir()
    )


def test_full_run_exports_and_measures_against_itself(runs):
    _root, _data, _lora, full = runs
    r = E.export(full.path, "merged")
    assert Path(r["path"]) == full.path / "exports" / "merged"
    assert r["accuracy"] == r["original"]["accuracy"] and r["comparison"]["agreement"] == 1.0
    z = E.zip_export(r["path"])
    names = zipfile.ZipFile(z).namelist()
    assert {"README.md", "model.safetensors", "config.json", E.EXPORT_FILE} <= set(names)


def test_cli_export_prints_json_and_refuses_bad_input(runs, tmp_path):
    _root, _data, lora, full = runs
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "export",
            "--run",
            str(lora.path),
            "--format",
            "int8",
            "--output-dir",
            str(tmp_path / "q"),
            "--zip",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("path", "size_bytes", "latency_ms_per_example", "accuracy", "macro_f1"):
        assert result[key] is not None, key
    assert Path(result["zip"]).exists() and "Measuring" in out.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "engine", "export", "--run", str(full.path), "--format", "adapter"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().startswith("error:") and "merged" in bad.stderr
    hub = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "export",
            "--run",
            str(lora.path),
            "--format",
            "adapter",
            "--output-dir",
            str(tmp_path / "h"),
            "--no-measure",
            "--push-to-hub",
            "me/model",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**env, "HF_TOKEN": "hf_secret123"},
        timeout=300,
    )
    assert hub.returncode == 2 and "HF_HUB_OFFLINE" in hub.stderr
    assert "hf_secret123" not in hub.stderr + hub.stdout


class _Refuse(BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "Invalid credentials in Authorization header"}')

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *args):
        pass


def test_push_to_hub_messages_and_the_token_stays_secret(runs, tmp_path, monkeypatch):
    import huggingface_hub.constants as hc

    _root, _data, lora, _full = runs
    folder = Path(E.export(lora.path, "adapter", tmp_path / "adapter", measure_it=False)["path"])
    token = "hf_TOPSECRETtoken42"
    with pytest.raises(E.ExportError, match="HF_HUB_OFFLINE"):
        E.push_to_hub(folder, "me/model", token)
    with pytest.raises(E.ExportError, match="repo id"):
        E.push_to_hub(folder, "no-slash", token)
    with pytest.raises(E.ExportError, match="token"):
        E.push_to_hub(folder, "me/model", " ")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(E.ExportError) as unreachable:
        E.push_to_hub(folder, "me/model", token, endpoint=f"http://127.0.0.1:{closed}")
    assert "Could not reach" in str(unreachable.value) and token not in str(unreachable.value)
    server = HTTPServer(("127.0.0.1", 0), _Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(E.ExportError) as refused:
            E.push_to_hub(
                folder, "me/model", token, endpoint=f"http://127.0.0.1:{server.server_port}"
            )
    finally:
        server.shutdown()
    assert "refused the token" in str(refused.value) and token not in str(refused.value)
    for root in (tmp_path, lora.path, Path.home() / ".cache" / "huggingface"):
        for p in root.rglob("*") if root.exists() else []:
            if p.is_file() and p.stat().st_size < 5_000_000:
                assert token.encode() not in p.read_bytes(), p


def test_batch_prediction_with_a_run_or_an_export_escapes_formulas(runs, tmp_path):
    _root, _data, lora, _full = runs
    table = tmp_path / "new.csv"
    pd.DataFrame(
        {
            "review": [
                "great wonderful film",
                '=HYPERLINK("http://x","click")',
                "boring and bad",
                "+1 call me",
                "@SUM(A1)",
                "-2 fine",
            ]
            * 50,
            "id": range(300),
        }
    ).to_csv(table, index=False)
    seen = []
    out = E.batch_predict(
        lora.path, table, tmp_path / "out.csv", chunk=128, progress=lambda d, t: seen.append((d, t))
    )
    assert out["rows"] == 300 and not out["stopped"] and seen[-1] == (300, 300)
    assert len(seen) == 3 and sum(out["predictions"].values()) == 300
    result = pd.read_csv(tmp_path / "out.csv")
    assert list(result.columns) == ["review", "id", "prediction", "prob_neg", "prob_pos"]
    assert result["review"][1] == '\'=HYPERLINK("http://x","click")'
    assert result["review"][3] == "'+1 call me" and result["review"][4] == "'@SUM(A1)"
    assert result["id"].tolist() == list(range(300))  # numbers untouched, order kept
    export = E.export(lora.path, "onnx", tmp_path / "onnx", measure_it=False)["path"]
    out2 = E.batch_predict(export, table, tmp_path / "out2.csv")
    same = pd.read_csv(tmp_path / "out2.csv")
    assert (same["prediction"] == result["prediction"]).all()
    stopped = E.batch_predict(
        lora.path, table, tmp_path / "out3.csv", chunk=100, should_stop=lambda: True
    )
    assert stopped["stopped"] and stopped["rows"] == 0 and out2["rows"] == 300
    from engine.data import DataError

    with pytest.raises(DataError, match="not in the table"):
        E.batch_predict(lora.path, table, tmp_path / "x.csv", text_column="missing")


def test_warm_start_retrains_from_a_run_and_compares_old_and_new(runs, tiny_encoder, tmp_path):
    root, data, lora, full = runs
    new_rows = _table(tmp_path / "new.csv", n=30, offset=1000)
    run = _train(
        root, new_rows, tiny_encoder, "full", "retrain", warm_start=str(full.path), max_steps=4
    )
    m = run.metrics()
    ws = m["warm_start"]
    assert ws["from_run"] == full.id
    for split in ("new_test", "old_test"):
        for model in ("old_model", "new_model"):
            assert 0 <= ws[split][model]["accuracy"] <= 1, (split, model)
    assert ws["new_test"]["new_model"]["accuracy"] == pytest.approx(m["test"]["accuracy"], abs=1e-4)
    assert ws["old_test"]["old_model"]["accuracy"] == pytest.approx(
        full.metrics()["test"]["accuracy"], abs=1e-4
    )
    texts = [e["text"] for e in run.events("message")]
    assert any("Warm start from" in t and "classification head" in t for t in texts)
    assert any("retrained model scores" in t for t in texts)
    # the warm start really starts from the old weights: before any step the models agree
    zero = _train(
        root,
        new_rows,
        tiny_encoder,
        "full",
        "retrain-0",
        warm_start=full.id,
        max_steps=1,
        learning_rate=1e-12,
    )
    np.testing.assert_allclose(_run_logits(zero.path), _run_logits(full.path), atol=1e-4)
    # from a LoRA run: its merged export is the start; the new run saves a full model
    from_lora = _train(
        root,
        new_rows,
        tiny_encoder,
        "lora",
        "retrain-lora",
        warm_start=f"run:{lora.path}",
        max_steps=2,
    )
    assert (lora.path / "exports" / "merged" / "model.safetensors").exists()
    assert not (from_lora.model_dir / "adapter_config.json").exists()
    assert E.load_artefact(from_lora.path).predict(["great wonderful film"])[0]["label"]
    # new labels: a fresh head, said so
    three = _table(tmp_path / "three.csv", n=20, extra_label="meh")
    other = _train(
        root, three, tiny_encoder, "full", "retrain-3", warm_start=str(full.path), max_steps=2
    )
    assert any("new head" in e["text"] for e in other.events("message"))
    assert read_labels(other) == ["meh", "neg", "pos"]
    with pytest.raises(ConfigError, match="no run folder"):
        preflight(
            RunConfig(
                data=str(new_rows),
                backbone=str(tiny_encoder),
                warm_start="nope",
                output_dir=str(root / "runs"),
            )
        )


def read_labels(run) -> list[str]:
    return json.loads((run.model_dir / "labels.json").read_text())["labels"]


def test_a_decoder_classifier_exports_and_a_prompt_adapter_says_why_not(tiny_decoder, tmp_path):
    data = _table(tmp_path / "reviews.csv", n=24)
    lora = _train(tmp_path, data, tiny_decoder, "lora", "dec-lora", max_steps=4)
    expected = [p["label"] for p in E.load_artefact(lora.path).predict(TEXTS)]
    for fmt in ("onnx", "int8"):
        r = E.export(lora.path, fmt, tmp_path / fmt, limit=8)
        assert r["comparison"]["agreement"] >= 0.75
        got = [p["label"] for p in E.load_artefact(tmp_path / fmt).predict(TEXTS)]
        assert got == expected or fmt == "int8"
    prompt = _train(tmp_path, data, tiny_decoder, "prompt", "dec-prompt", max_steps=2)
    assert E.export(prompt.path, "adapter", tmp_path / "a", measure_it=False)["format"] == "adapter"
    with pytest.raises(E.ExportError, match="prompt-tuning adapter .* cannot be merged"):
        E.export(prompt.path, "merged", tmp_path / "m")
