"""The HTTP service: a real server on a free loopback port called on every endpoint, bad requests
answered 4xx with a message, the API key, Prometheus metrics, batching, multi-field tasks."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from engine import export as E
from engine.config import RunConfig
from engine.runs import RunStore
from engine.serve import Limits, ServeError, Served, create_app
from engine.training.pipeline import train_run

from tests.conftest import write_two_class_csv

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_encoder):
    root = tmp_path_factory.mktemp("serve")
    data = write_two_class_csv(root / "small.csv")
    cfg = RunConfig(
        data=str(data),
        backbone=str(tiny_encoder),
        output_dir=str(root / "runs"),
        max_steps=8,
        batch_size=8,
        evaluations_per_epoch=2,
        max_length=32,
        strategy="lora",
        learning_rate=5e-3,
    )
    r = RunStore(cfg.output_dir).create(cfg)
    train_run(cfg, r)
    assert r.status == "completed"
    return r.path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(
    url: str, body: bytes | None = None, headers: dict | None = None, method: str | None = None
) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _post(url: str, payload, key: str = "", raw: bytes | None = None) -> tuple[int, dict]:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    status, text = _call(url, raw if raw is not None else json.dumps(payload).encode(), headers)
    return status, json.loads(text)


def test_a_real_server_answers_every_endpoint_and_refuses_bad_requests(run, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - the server process writes it
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ADAPTUNE_API_KEY": "s3cret"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "serve",
            "--run",
            str(run),
            "--artefact",
            "int8",
            "--port",
            str(port),
            "--read-timeout",
            "1.5",
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if _call(base + "/health")[0] == 200:
                    break
            except (urllib.error.URLError, OSError):
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        status, text = _call(base + "/health")  # open without the key
        health = json.loads(text)
        assert status == 200 and health["status"] == "ok" and health["artefact"] == "int8"
        assert health["labels"] == ["neg", "pos"]
        assert (run / "exports" / "int8" / E.INT8_FILE).exists()  # exported on first use

        url = base + "/predict"
        status, one = _post(url, {"text": "great wonderful film"}, "s3cret")
        assert status == 200 and len(one["predictions"]) == 1
        p = one["predictions"][0]
        assert p["label"] in ("neg", "pos") and abs(sum(p["probabilities"].values()) - 1) < 1e-4
        texts = ["great wonderful film", "boring and bad", "i loved it"]
        status, many = _post(url, {"texts": texts}, "s3cret")
        expected = E.load_artefact(run / "exports" / "int8").predict(texts)
        assert status == 200 and [x["label"] for x in many["predictions"]] == [
            x["label"] for x in expected
        ]
        # the X-API-Key header works too; no key / a wrong key: 401
        status, _ = _call(
            url,
            json.dumps({"text": "x"}).encode(),
            {"content-type": "application/json", "x-api-key": "s3cret"},
        )
        assert status == 200
        for key in ("", "wrong"):
            status, body = _post(url, {"text": "x"}, key)
            assert status == 401 and "API key" in body["error"]
        assert _call(base + "/metrics")[0] == 401
        # bad requests: 4xx with a message
        cases = [
            (b"{not json", 400, "not valid JSON"),
            (json.dumps({"texts": []}).encode(), 422, "empty list"),
            (json.dumps({}).encode(), 422, "exactly one"),
            (json.dumps({"texts": [1, 2]}).encode(), 422, "must be a text"),
            (json.dumps({"text": "   "}).encode(), 422, "empty"),
            (json.dumps({"texts": ["a"] * 300}).encode(), 413, "limit is 256"),
            (json.dumps({"text": "x" * 30_000}).encode(), 413, "characters"),
            (b'{"text": "\\ud800"}', 422, "not valid Unicode"),  # a lone surrogate
            (b'{"texts": ["ok", "a\\udfffb"]}', 422, "Input 2"),
            (b"x" * (10 * 1024 * 1024), 413, "byte limit"),
        ]
        for raw, code, words in cases:
            status, body = _post(url, None, "s3cret", raw=raw)
            assert status == code and words in body["error"], (raw[:30], status, body)
        status, text = _call(base + "/openapi.json", headers={"x-api-key": "s3cret"})
        schema = json.loads(text)
        assert status == 200 and "/predict" in schema["paths"] and "/metrics" in schema["paths"]
        assert _call(base + "/docs")[0] == 401  # no CDN-loading docs page (and keyed)
        # 20 concurrent clients: all answered, and requests were batched together
        with cf.ThreadPoolExecutor(20) as pool:
            answers = list(
                pool.map(lambda i: _post(url, {"text": texts[i % 3]}, "s3cret"), range(60))
            )
        assert all(s == 200 for s, _ in answers)
        assert all(
            b["predictions"][0]["label"] == expected[i % 3]["label"]
            for i, (_, b) in enumerate(answers)
        )
        status, text = _call(base + "/metrics", headers={"authorization": "Bearer s3cret"})
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text)}
        counts = {
            (s.labels.get("endpoint"), s.labels.get("status")): s.value
            for s in families["adaptune_requests"].samples
            if s.name.endswith("_total")
        }
        assert counts[("/predict", "200")] == 63 and counts[("/predict", "401")] == 2
        assert counts[("/predict", "413")] == 3 and counts[("/predict", "400")] == 1
        assert counts[("/predict", "422")] == 6  # the unencodable texts are 422, not 500
        assert ("/predict", "500") not in counts
        # a request whose body arrives slowly, or only half: answered 408 when the read timeout
        # is spent; headers sent a byte at a time: the connection is closed
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nX-API-Key: s3cret\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                b'{"text": '
            )
            t0 = time.time()
            answer = sock.recv(4096)
            assert b" 408 " in answer.split(b"\r\n")[0] and time.time() - t0 < 8, answer
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
            t0 = time.time()
            assert sock.recv(4096) == b"" and time.time() - t0 < 8  # closed, unanswered
        quantiles = {
            s.labels["quantile"]: s.value
            for s in families["adaptune_predict_latency_seconds"].samples
        }
        assert set(quantiles) == {"0.5", "0.95", "0.99"}
        assert 0 < quantiles["0.5"] <= quantiles["0.95"] <= quantiles["0.99"]
        batches = [
            s
            for s in families["adaptune_batch_size"].samples
            if s.name == "adaptune_batch_size_count"
        ][0].value
        inputs = [
            s for s in families["adaptune_predicted_inputs"].samples if s.name.endswith("_total")
        ][0].value
        assert inputs == 1 + 3 + 1 + 60 and batches < 65  # some requests shared a forward pass
        errors = {
            s.labels["kind"]: s.value
            for s in families["adaptune_errors"].samples
            if s.name.endswith("_total")
        }
        assert errors["auth"] >= 3 and errors["bad_json"] == 1 and errors["too_large"] >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert "Serving" in output and "Traceback" not in output and "s3cret" not in output


def test_in_process_app_pytorch_and_onnx_agree(run):
    from fastapi.testclient import TestClient

    texts = ["great wonderful film", "boring and bad"]
    labels = {}
    for artefact in ("pytorch", "onnx"):
        with TestClient(create_app(run, artefact)) as client:
            r = client.post("/predict", json={"texts": texts})
            assert r.status_code == 200 and r.json()["artefact"] == artefact
            labels[artefact] = [p["label"] for p in r.json()["predictions"]]
            assert client.get("/metrics").status_code == 200  # no key set: open
    assert labels["pytorch"] == labels["onnx"]
    with TestClient(create_app(run / "exports" / "onnx")) as client:  # an export folder
        assert client.get("/health").json()["artefact"] == "onnx"


def test_start_up_errors_are_messages(run, tmp_path):
    with pytest.raises(ServeError, match="does not exist"):
        Served(tmp_path / "nope")
    with pytest.raises(ServeError, match="neither a run folder"):
        Served(tmp_path)
    with pytest.raises(ServeError, match="Unknown artefact"):
        Served(run, "tflite")
    out = subprocess.run(
        [sys.executable, "-m", "engine", "serve", "--run", str(tmp_path / "x")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and out.stderr.startswith("error:") and "Traceback" not in out.stderr


class _QA:
    """A stand-in for a question-answering run's Served: two input fields."""

    run_id, artefact, task, labels, fields = "qa-run", "pytorch", "qa", [], ["context", "question"]

    def predict(self, items):
        return [{"answer": item["context"].split()[0], "score": 0.5} for item in items]

    def describe(self):
        return {
            "run": self.run_id,
            "artefact": self.artefact,
            "task": self.task,
            "labels": [],
            "input_fields": self.fields,
        }


def test_multi_field_tasks_take_objects(tmp_path):
    from fastapi.testclient import TestClient

    with TestClient(create_app(tmp_path, served=_QA(), limits=Limits(max_texts=2))) as client:
        r = client.post("/predict", json={"input": {"context": "Paris is big", "question": "?"}})
        assert r.status_code == 200 and r.json()["predictions"] == [
            {"answer": "Paris", "score": 0.5}
        ]
        r = client.post("/predict", json={"inputs": [{"context": "a b", "question": "q"}] * 2})
        assert r.status_code == 200 and len(r.json()["predictions"]) == 2
        r = client.post("/predict", json={"inputs": [{"context": "a"}]})
        assert r.status_code == 422 and "context, question" in r.json()["error"]
        r = client.post("/predict", json={"inputs": [{"context": "a", "question": "q"}] * 3})
        assert r.status_code == 413 and "limit is 2" in r.json()["error"]
        assert client.get("/health").json()["input_fields"] == ["context", "question"]
