"""HTTP prediction service for a finished run or an export (FastAPI on uvicorn).

    python -m engine serve --run DIR [--artefact pytorch|merged|int8|onnx] [--host 127.0.0.1]
                           [--port 8000] [--api-key KEY]

Endpoints:
    POST /predict       {"text": "..."} or {"texts": ["...", ...]} (other tasks: {"input": {...}}
                        or {"inputs": [{...}, ...]} with the task's fields). Answer:
                        {"predictions": [{"label": ..., "probabilities": {...}}, ...], ...}.
                        Requests arriving together are predicted in one batch.
    GET  /health        liveness + what is served (never needs the key)
    GET  /metrics       Prometheus text: requests by endpoint and status, latency histogram and
                        p50/p95/p99 of the last 1000 predictions, errors by kind, batch sizes
    GET  /openapi.json  the OpenAPI schema (no /docs page: it would load scripts from a CDN)

With an API key every endpoint but /health wants ``Authorization: Bearer KEY`` or
``X-API-Key: KEY`` (401 otherwise). Bodies over ``max_body_bytes`` get 413, malformed JSON 400,
an empty or oversized list 422, each with {"error": "..."} saying what to fix.
"""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pydantic import BaseModel, Field

from engine.runs import read_json

ARTEFACTS = ("pytorch", "merged", "int8", "onnx")
DRAIN_LIMIT = 64 * 1024 * 1024  # bodies larger than this are refused without reading them


class ServeError(ValueError):
    """The service cannot start this way; the message says why."""


@dataclass
class Limits:
    max_body_bytes: int = 1_000_000
    max_texts: int = 256
    max_text_chars: int = 20_000
    max_batch: int = 32
    batch_wait_ms: float = 4.0
    body_timeout_s: float = 10.0  # a request body must arrive within this
    head_timeout_s: float = 10.0  # ... and a request's headers within this


# ---- what is served ---------------------------------------------------------------------------------
class Served:
    """A predictor plus what /health reports about it."""

    def __init__(self, source: str | Path, artefact: str = "pytorch"):
        from engine.export import (
            EXPORT_FILE,
            ExportError,
            default_output_dir,
            export,
            load_artefact,
        )
        from engine.predict import PredictError, get_predictor, run_task

        source = Path(source)
        if not source.is_dir():
            raise ServeError(f"{source} does not exist: give a run folder or an export folder.")
        self.source = source
        self.task = "classification"
        if (source / EXPORT_FILE).exists():  # an export folder: served as it is
            meta = read_json(source / EXPORT_FILE, {})
            self.artefact, self.run_id = meta.get("format", "?"), meta.get("run", source.name)
            self.predictor = load_artefact(source)
        elif not (source / "config.json").exists():
            raise ServeError(f"{source} is neither a run folder nor an export folder.")
        else:
            self.run_id = source.name
            self.task = run_task(source)
            if artefact not in ARTEFACTS:
                raise ServeError(
                    f"Unknown artefact {artefact!r}; pick one of {', '.join(ARTEFACTS)}."
                )
            self.artefact = artefact
            try:
                if artefact == "pytorch":
                    self.predictor = get_predictor(source)
                else:
                    folder = default_output_dir(source, artefact)
                    if not (folder / EXPORT_FILE).exists():
                        export(source, artefact, folder, measure_it=False)
                    self.predictor = load_artefact(folder)
            except (ExportError, PredictError) as e:
                raise ServeError(str(e)) from None
        self.labels = list(getattr(self.predictor, "labels", []) or [])
        if self.task == "classification":
            self.fields = ["text"]
        else:
            from engine.tasks import get_task

            self.fields = list(get_task(self.task).INPUT_FIELDS)
        self._lock = threading.Lock()

    def predict(self, items: list) -> list[dict]:
        with self._lock:  # one model, one forward at a time (the batcher merges requests)
            if self.task == "classification":
                return self.predictor.predict([str(t) for t in items])
            return self.predictor.predict(items)

    def describe(self) -> dict:
        return {
            "run": self.run_id,
            "artefact": self.artefact,
            "task": self.task,
            "labels": self.labels,
            "input_fields": self.fields,
        }


# ---- batching ---------------------------------------------------------------------------------------
class Batcher:
    """Requests waiting at the same moment are predicted together (up to ``max_batch`` inputs,
    waiting at most ``wait_ms`` for company)."""

    def __init__(self, served: Served, limits: Limits, observe_batch):
        self.served, self.limits, self.observe_batch = served, limits, observe_batch
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()

    async def submit(self, items: list) -> list[dict]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((items, future))
        return await future

    async def _work(self) -> None:
        from starlette.concurrency import run_in_threadpool

        while True:
            batch = [await self.queue.get()]
            size = len(batch[0][0])
            deadline = time.perf_counter() + self.limits.batch_wait_ms / 1000
            while size < self.limits.max_batch:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), left)
                except asyncio.TimeoutError:
                    break
                batch.append(item)
                size += len(item[0])
            inputs = [x for items, _ in batch for x in items]
            self.observe_batch(len(inputs))
            try:
                results = await run_in_threadpool(self.served.predict, inputs)
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for items, future in batch:
                if not future.done():
                    future.set_result(results[start : start + len(items)])
                start += len(items)


# ---- metrics ----------------------------------------------------------------------------------------
class Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "adaptune_requests",
            "HTTP requests by endpoint and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "adaptune_errors", "Failed requests by kind.", ["kind"], registry=self.registry
        )
        self.latency = Histogram(
            "adaptune_request_latency_seconds",
            "Time to answer a request, by endpoint.",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.inputs = Counter(
            "adaptune_predicted_inputs", "Texts (inputs) predicted.", registry=self.registry
        )
        self.batch = Histogram(
            "adaptune_batch_size",
            "Inputs per model call (requests arriving together are batched).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.quantiles = Gauge(
            "adaptune_predict_latency_seconds",
            "Latency percentiles of the last 1000 /predict requests.",
            ["quantile"],
            registry=self.registry,
        )
        self.recent: collections.deque = collections.deque(maxlen=1000)

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if endpoint == "/predict" and status == 200:
            self.recent.append(seconds)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        if self.recent:
            values = np.array(self.recent)
            for q in (0.5, 0.95, 0.99):
                self.quantiles.labels(str(q)).set(float(np.quantile(values, q)))
        return generate_latest(self.registry)


# ---- the application --------------------------------------------------------------------------------
class PredictRequest(BaseModel):
    text: Any = Field(
        None,
        description="One input: a text (or, for tasks with several fields, an object with them).",
    )
    texts: list[Any] | None = Field(None, description="Several inputs, predicted together.")
    input: dict | None = Field(None, description="One input of a multi-field task.")
    inputs: list[dict] | None = Field(None, description="Several inputs of a multi-field task.")


class PredictResponse(BaseModel):
    predictions: list[dict] = Field(
        description="One answer per input, in order (text classification: label + probabilities)."
    )
    model: str
    artefact: str
    latency_ms: float


def create_app(
    source: str | Path,
    artefact: str = "pytorch",
    api_key: str = "",
    limits: Limits | None = None,
    served: Served | None = None,
):
    """The ASGI application serving ``source`` (a run folder or an export folder)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    limits = limits or Limits()
    served = served or Served(source, artefact)
    metrics = Metrics()
    batcher = Batcher(served, limits, metrics.batch.observe)
    started = time.time()

    @asynccontextmanager
    async def lifespan(_app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="Adaptune prediction API",
        description=f"Predictions of {served.run_id} ({served.task}, {served.artefact}).",
        version="1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    def error(status: int, message: str, kind: str) -> JSONResponse:
        metrics.errors.labels(kind).inc()
        return JSONResponse({"error": message}, status_code=status)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        start = time.perf_counter()
        path = request.url.path
        endpoint = path if path in ("/predict", "/health", "/metrics", "/openapi.json") else "other"
        response = await _guarded(request, call_next, path)
        metrics.observe(endpoint, response.status_code, time.perf_counter() - start)
        return response

    async def _guarded(request: Request, call_next, path: str):
        if api_key and path != "/health":
            given = request.headers.get("x-api-key", "")
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = given or auth[7:].strip()
            if not given or not secrets.compare_digest(given.encode(), api_key.encode()):
                return error(
                    401,
                    "Missing or wrong API key: send 'Authorization: Bearer KEY' "
                    "or 'X-API-Key: KEY'.",
                    "auth",
                )
        if request.method == "POST":
            declared = request.headers.get("content-length")
            too_big = (
                f"The request body is over the {limits.max_body_bytes:,}-byte limit: "
                "send fewer or shorter texts per request."
            )
            if declared and declared.isdigit() and int(declared) > DRAIN_LIMIT:
                return error(413, too_big, "too_large")  # not worth reading: the socket closes
            body, seen = bytearray(), 0
            try:  # a body sent slowly, or only half, must not hold a connection for ever
                async with asyncio.timeout(limits.body_timeout_s):
                    async for chunk in request.stream():  # a chunked body: count it
                        seen += len(chunk)
                        if seen <= limits.max_body_bytes:
                            body += chunk
                        elif seen > DRAIN_LIMIT:
                            break
            except TimeoutError:
                return error(
                    408,
                    f"The request body did not arrive within "
                    f"{limits.body_timeout_s:g} s: send it in one go.",
                    "timeout",
                )
            # an oversized body is read to the end (and dropped) so the client gets the answer
            # instead of a connection reset mid-upload
            if seen > limits.max_body_bytes:
                return error(413, too_big, "too_large")
            request._body = bytes(body)
        try:
            return await call_next(request)
        except Exception as exc:  # noqa: BLE001 - a bug or a model failure: JSON, not a trace
            return error(
                500,
                f"Prediction failed: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else ''}",
                "server",
            )

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, exc: RequestValidationError):
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return error(
                400,
                'The body is not valid JSON: send {"text": "..."} or {"texts": ["...", ...]}.',
                "bad_json",
            )
        first = problems[0] if problems else {}
        where = ".".join(str(x) for x in first.get("loc", ())[1:]) or "body"
        return error(
            422,
            f"Invalid request ({where}: {first.get('msg', 'invalid')}): send "
            '{"text": "..."} or {"texts": ["...", ...]}.',
            "invalid",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail), "http")

    def inputs_of(req: PredictRequest) -> list:
        given = [k for k in ("text", "texts", "input", "inputs") if getattr(req, k) is not None]
        if len(given) != 1:
            raise _BadRequestError(
                422,
                'Send exactly one of "text" (one input) or "texts" (a list)'
                + ("" if served.task == "classification" else ', or "input" / "inputs"')
                + ".",
            )
        key = given[0]
        value = getattr(req, key)
        items = value if key in ("texts", "inputs") else [value]
        if not items:
            raise _BadRequestError(422, f'"{key}" is an empty list: send at least one input.')
        if len(items) > limits.max_texts:
            raise _BadRequestError(
                413,
                f"{len(items)} inputs in one request; the limit is "
                f"{limits.max_texts}: split them into several requests.",
            )
        out = []
        for i, item in enumerate(items, start=1):
            if served.task == "classification":
                if not isinstance(item, str):
                    raise _BadRequestError(422, f"Input {i} must be a text (a JSON string).")
                if not item.strip():
                    raise _BadRequestError(422, f"Input {i} is empty: send some text.")
                size = len(item)
            else:
                if isinstance(item, str) and len(served.fields) == 1:
                    item = {served.fields[0]: item}
                if not isinstance(item, dict) or any(
                    not isinstance(item.get(f), str) or not item.get(f).strip()
                    for f in served.fields
                ):
                    raise _BadRequestError(
                        422, f"Input {i} needs the text fields {', '.join(served.fields)}."
                    )
                size = sum(len(item[f]) for f in served.fields)
            if size > limits.max_text_chars:
                raise _BadRequestError(
                    413,
                    f"Input {i} has {size:,} characters; the limit is {limits.max_text_chars:,}.",
                )
            texts = [item] if isinstance(item, str) else [item[f] for f in served.fields]
            if not all(_encodable(x) for x in texts):
                raise _BadRequestError(
                    422,
                    f"Input {i} is not valid Unicode text (it holds a lone "
                    "surrogate such as \\ud800): send UTF-8 text.",
                )
            out.append(item)
        return out

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses={
            400: {"description": "Malformed JSON"},
            401: {"description": "Missing or wrong API key"},
            413: {"description": "Body, list or text over the limits"},
            422: {"description": "Missing, empty or wrongly typed inputs"},
        },
    )
    async def predict(req: PredictRequest):
        """Predict one input or a list; each answer has the label and per-label probabilities."""
        t0 = time.perf_counter()
        try:
            items = inputs_of(req)
        except _BadRequestError as bad:
            return error(bad.status, bad.message, "invalid")
        predictions = await batcher.submit(items)
        metrics.inputs.inc(len(items))
        return {
            "predictions": _plain(predictions),
            "model": served.run_id,
            "artefact": served.artefact,
            "latency_ms": round((time.perf_counter() - t0) * 1000, 3),
        }

    @app.get("/health")
    async def health():
        """Liveness and what is served."""
        return {
            "status": "ok",
            **served.describe(),
            "uptime_seconds": round(time.time() - started, 1),
        }

    @app.get("/metrics")
    async def prometheus():
        """Prometheus text-format metrics."""
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.state.served = served
    app.state.metrics = metrics
    return app


class _BadRequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _plain(value: Any) -> Any:
    return json.loads(
        json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    )


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def serve(
    source: str | Path,
    artefact: str = "pytorch",
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str = "",
    limits: Limits | None = None,
    log=print,
) -> None:
    """Start the service in this process (blocks until Ctrl-C / SIGTERM)."""
    import uvicorn

    limits = limits or Limits()
    app = create_app(source, artefact, api_key, limits)
    served = app.state.served
    if host not in LOOPBACK:
        log(
            f"WARNING: listening on {host}: anyone who can reach this machine on port {port} can "
            "use the API" + ("" if api_key else " (no --api-key set)") + "."
        )
    log(
        f"Serving {served.run_id} ({served.task}, {served.artefact}) on http://{host}:{port}  "
        "-  POST /predict, GET /health, GET /metrics, GET /openapi.json"
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        http=timed_protocol(limits.head_timeout_s),
    )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # JSON's "\ud800" decodes to a lone surrogate
        return False
    return True


def timed_protocol(seconds: float):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request headers have not all
    arrived ``seconds`` after it opened (or after its last answer): a client that sends them a
    byte at a time cannot hold a connection open (uvicorn's keep-alive timer stops at the
    first byte)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class TimedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_head_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_head_timer()

        def _arm_head_timer(self) -> None:
            cycle = self.cycle
            self.loop.call_later(seconds, self._head_timeout, cycle)

        def _head_timeout(self, cycle) -> None:
            no_new_request = self.cycle is cycle and (cycle is None or cycle.response_complete)
            if no_new_request and not self.transport.is_closing():
                self.transport.close()

    return TimedH11Protocol
