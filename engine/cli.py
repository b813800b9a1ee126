"""Command line: ``python -m engine train|pretrain|report|hpo|zeroshot|generate|explain|predict|
export|serve|resume|delete|share|check|backbones|runs``.

The train flags are generated from RunConfig's fields (one place per parameter). Bad input
exits with status 2 and one clear line on stderr, never a traceback. ``train`` and ``predict``
print, as the last stdout line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
from dataclasses import fields
from pathlib import Path

from engine.config import (
    HpoConfig,
    PretrainConfig,
    PromptConfig,
    RunConfig,
    config_fields,
    default_of,
)

EXIT_BAD_INPUT = 2


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_flags(parser: argparse.ArgumentParser, cls: type = RunConfig) -> None:
    """One flag per field of the configuration dataclass ``cls`` (RunConfig or
    PretrainConfig), generated from its metadata."""
    parser.add_argument(
        "--config",
        help="Start from this config.json (or a run folder); other flags override its values.",
    )
    for f in config_fields(cls=cls):
        if f.metadata.get("cli") is False:
            continue
        kwargs = {
            "dest": f.name,
            "default": None,
            "help": f"{f.metadata['help']} (default: {default_of(f)!r})",
        }
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        if kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = {"int": "N", "float": "X"}.get(kind, "TEXT")
        parser.add_argument(flag(f.name), **kwargs)


def config_from_args(args: argparse.Namespace, cls: type = RunConfig):
    base = cls.load(args.config).to_dict() if getattr(args, "config", None) else {}
    for f in fields(cls):
        value = getattr(args, f.name, None)
        if value is not None:
            base[f.name] = value
    return cls.from_dict(base)


def config_to_args(config: RunConfig) -> list[str]:
    """The CLI flags that reproduce ``config`` (non-default values only)."""
    out = []
    for f in fields(RunConfig):
        value = getattr(config, f.name)
        if value == default_of(f):
            continue
        if isinstance(value, bool):
            out.append(flag(f.name) if value else "--no-" + f.name.replace("_", "-"))
        else:
            out += [flag(f.name), str(value)]
    return out


class ArgParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, status 2
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = ArgParser(
        prog="python -m engine",
        description="Adaptune engine: train, evaluate and "
        "predict from the command line (the same engine the web app uses).",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=ArgParser)

    t = sub.add_parser("train", help="Train a run; last stdout line is JSON with the metrics.")
    add_config_flags(t)
    t.add_argument("--quiet", action="store_true", help="Do not print progress to stderr.")

    pt = sub.add_parser(
        "pretrain",
        help="Continued pre-training on unlabelled domain text (masked-"
        "LM or causal LM); last stdout line is JSON with the perplexity before "
        "and after and the adapted backbone (use it as train --backbone run:DIR).",
    )
    add_config_flags(pt, PretrainConfig)
    pt.add_argument("--quiet", action="store_true", help="Do not print progress to stderr.")
    rp = sub.add_parser(
        "report",
        help="The domain report only (vocabulary fit, base perplexity, "
        "verdict) for domain text and a backbone, as JSON.",
    )
    add_config_flags(rp, PretrainConfig)

    h = sub.add_parser(
        "hpo",
        help="Hyper-parameter search with Optuna (every train flag is the "
        "base of each trial); last stdout line is JSON with best_value, "
        "best_params, n_trials and best_run_dir. Workers given the same "
        "--storage and --study-name share one study.",
    )
    add_config_flags(h, HpoConfig)
    h.add_argument("--quiet", action="store_true", help="Do not print progress to stderr.")

    z = sub.add_parser(
        "zeroshot",
        help="Zero- / few-shot classification with a prompt (decoder) "
        "or embedding similarity (encoder), measured on the test split of "
        "labelled data; last stdout line is JSON with accuracy, macro_f1, n and "
        "seconds_per_example.",
    )
    add_config_flags(z, PromptConfig)
    z.add_argument(
        "--compare-run",
        action="append",
        default=[],
        metavar="DIR",
        help="Also measure this fine-tuned classification run on the same rows (repeatable).",
    )
    z.add_argument(
        "--no-record",
        action="store_true",
        help="Do not add the result to the "
        "playground's comparison table (<output-dir>/playground/measurements.jsonl).",
    )
    z.add_argument("--quiet", action="store_true", help="Do not print progress to stderr.")

    g = sub.add_parser(
        "generate",
        help="Generate from a prompt with a decoder, streaming the "
        "text to stderr; last stdout line is JSON.",
    )
    g.add_argument(
        "--backbone",
        default="smollm2-135m-instruct",
        help="Decoder: a bundled name, hub id, folder or finished generation run (run:FOLDER).",
    )
    g.add_argument("--text", required=True, help="The input put in place of {text}.")
    g.add_argument("--template", default="{text}", help="The prompt with {text}.")
    g.add_argument("--temperature", type=float, default=0.0, help="0: greedy.")
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--max-new-tokens", type=int, default=64)
    g.add_argument(
        "--stop", action="append", default=[], help="A string that ends the output (repeatable)."
    )
    g.add_argument(
        "--no-chat-template",
        action="store_true",
        help="Do not wrap the prompt in the model's chat template.",
    )

    ex = sub.add_parser(
        "explain", help="Word attributions of a fine-tuned classifier's prediction, as JSON."
    )
    ex.add_argument("--run", required=True, help="A finished text-classification run folder.")
    ex.add_argument("--text", required=True)
    ex.add_argument("--method", default="occlusion", choices=["occlusion", "integrated-gradients"])
    ex.add_argument("--target", default="", help="Label to explain (default: the predicted one).")

    pr = sub.add_parser("predict", help="Predict a table with a finished run or an export.")
    pr.add_argument(
        "--run",
        required=True,
        help="Run folder (runs/<id>) or an export folder (runs/<id>/exports/int8, ...).",
    )
    pr.add_argument("--data", required=True, help="Table to predict (any supported format).")
    pr.add_argument(
        "--output",
        required=True,
        help="Output CSV: input rows + prediction + one probability column per label.",
    )
    pr.add_argument(
        "--text-column",
        default="",
        help="Column to predict on (default: the one the run was trained on).",
    )

    e = sub.add_parser(
        "export",
        help="Write one deployable artefact of a finished text-"
        "classification run (with its model card) and measure it "
        "against the run's model; last stdout line is JSON.",
    )
    e.add_argument("--run", required=True, help="A finished text-classification run folder.")
    e.add_argument(
        "--format", required=True, choices=["adapter", "merged", "int8", "onnx", "pruned"]
    )
    e.add_argument(
        "--output-dir",
        default="",
        help="Folder for the artefact (default: <run>/exports/<format>).",
    )
    e.add_argument(
        "--sparsity",
        type=float,
        default=0.5,
        help="pruned: share of the encoder's linear weights set to zero.",
    )
    e.add_argument(
        "--limit", type=int, default=0, help="Measure on the first N test rows only (0: all)."
    )
    e.add_argument(
        "--no-measure", action="store_true", help="Skip the accuracy and latency measurement."
    )
    e.add_argument("--zip", action="store_true", help="Also write <output-dir>.zip.")
    e.add_argument(
        "--push-to-hub",
        default="",
        metavar="REPO_ID",
        help="Upload the artefact to "
        "this Hub model repo; the token is read from the HF_TOKEN environment "
        "variable only (never a flag: it would land in shell history).",
    )
    e.add_argument(
        "--public",
        action="store_true",
        help="With --push-to-hub: a public repo (default: private).",
    )

    sv = sub.add_parser(
        "serve",
        help="Serve a run or an export over HTTP: POST /predict, GET "
        "/health, GET /metrics, GET /openapi.json.",
    )
    sv.add_argument("--run", required=True, help="A finished run folder, or an export folder.")
    sv.add_argument(
        "--artefact",
        default="pytorch",
        choices=["pytorch", "merged", "int8", "onnx"],
        help="What to serve from a run folder (exported on first use into "
        "<run>/exports/; default: the run's own model).",
    )
    sv.add_argument(
        "--host", default="127.0.0.1", help="Address (default 127.0.0.1: only this computer)."
    )
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument(
        "--api-key",
        default="",
        help="Require this key (Authorization: Bearer KEY "
        "or X-API-Key). Also read from ADAPTUNE_API_KEY.",
    )
    sv.add_argument("--max-body-bytes", type=int, default=1_000_000)
    sv.add_argument("--max-texts", type=int, default=256, help="Most inputs per request.")
    sv.add_argument("--max-text-chars", type=int, default=20_000)
    sv.add_argument(
        "--read-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="Close a connection whose request headers, or body, have not arrived "
        "within this many seconds (default 10).",
    )

    rs = sub.add_parser(
        "resume",
        help="Continue an interrupted (or failed / stopped) training "
        "run from its last checkpoint, in the same folder.",
    )
    rs.add_argument("--run", required=True, help="The run folder (runs/<id>).")
    dl = sub.add_parser(
        "delete",
        help="Delete a finished run folder and the uploaded data files "
        "only it used (under <runs>/_uploads).",
    )
    dl.add_argument("--run", required=True, help="The run folder (runs/<id>).")
    dl.add_argument("--keep-data", action="store_true", help="Keep its uploaded data files.")
    sh = sub.add_parser(
        "share",
        help="Share a run with every signed-in user of the studio "
        "(read-only for them), or stop sharing it (--off).",
    )
    sh.add_argument("--run", required=True, help="The run folder (runs/<id>).")
    sh.add_argument("--off", action="store_true", help="Stop sharing it.")

    c = sub.add_parser(
        "check",
        help="Load and validate a data file for a task (the same flags "
        "as train); print its summary as JSON.",
    )
    add_config_flags(c)

    sub.add_parser("backbones", help="List the backbone catalogue.")
    r = sub.add_parser("runs", help="List the runs in a folder.")
    r.add_argument("--output-dir", default="runs")
    return p


def _echo(record: dict) -> None:
    kind = record.get("event")
    if kind == "log":
        print(
            f"step {record['step']}/{record['max_steps']}  loss {record['loss']:.4f}  "
            f"{record['samples_per_second']:.1f} samples/s  ETA {record['eta_seconds']:.0f}s",
            file=sys.stderr,
            flush=True,
        )
    elif kind == "eval":
        shown = {
            k[5:]: round(v, 4)
            for k, v in record.items()
            if k.startswith("eval_")
            and k[5:]
            in ("loss", "accuracy", "macro_f1", "f1", "micro_f1", "exact_match", "perplexity")
        }
        print(f"eval at step {record['step']}: {shown}", file=sys.stderr, flush=True)
    elif kind == "start":
        par = record["parameters"]
        if record.get("kind") == "pretrain":
            sizes = (
                f"{record['train_rows']} training windows / {record['validation_rows']} "
                "held-out documents"
            )
        else:
            sizes = (
                f"{record['train_rows']} train / {record['validation_rows']} validation / "
                f"{record.get('test_rows', '?')} test rows"
            )
        print(
            f"{record['device']}; {record['strategy']} on {record['backbone']}: "
            f"{par['trainable']:,} of {par['total']:,} parameters train ({par['percent']}%); "
            f"{sizes}",
            file=sys.stderr,
            flush=True,
        )
    elif kind == "message":
        print(record["text"], file=sys.stderr, flush=True)
    elif kind == "trial":
        value = record.get("value")
        shown = f"{value:.4f}" if isinstance(value, (int, float)) else "-"
        print(
            f"trial {record['number']} {record['state']}: {shown} (best so far: trial "
            f"{record.get('best_number')}, {record.get('best_value')})",
            file=sys.stderr,
            flush=True,
        )


def _run_here(config, run_fn, quiet: bool):
    """Create the run folder and run ``run_fn(config, run, stop)`` in this process: progress
    on stderr, Ctrl-C / SIGTERM stop gracefully, a failure is recorded in the run folder."""
    from engine import distributed
    from engine.errors import human_error
    from engine.runs import RunStore

    if distributed.is_distributed():  # under torchrun / accelerate launch: one shared folder
        distributed.setup()
        run = distributed.shared_run(config)
        quiet = quiet or not distributed.is_main()
    else:
        run = RunStore(config.output_dir).create(config)
    if not quiet:
        run.echo = _echo
        print(f"run folder: {run.path}", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C: graceful stop
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    distributed.watch_stop_file(run, stop)  # the job queue stops a launched run this way
    try:
        return run, run_fn(config, run, stop)
    except BaseException as exc:
        run.set_status("failed", error=human_error(exc))
        run.append_event("end", status="failed", error=human_error(exc))
        raise


def cmd_train(args) -> int:
    from engine.training.pipeline import preflight, train_run

    config = config_from_args(args)
    if not config.data:
        raise ValueError("--data is required: the labelled table to train on.")
    from engine import distributed

    if config.processes > 1 and not distributed.is_distributed():
        # relaunch this very command under torchrun, one process per --processes
        flags = config_to_args(distributed.absolute(config)) + (["--quiet"] if args.quiet else [])
        return subprocess.call(distributed.launch_command(flags, config.processes))
    preflight(config)
    run, metrics = _run_here(config, train_run, args.quiet)
    from engine.distributed import is_main

    if not is_main():
        return 0  # rank 0 reports for every process
    out = {
        "run_dir": str(run.path),
        "task": config.task,
        "status": metrics["status"],
        "test": metrics["test"],
        "validation": metrics.get("validation", {}),
        "train_samples_per_second": metrics.get("train_samples_per_second"),
        "train_seconds": metrics.get("train_seconds"),
        "global_step": metrics.get("global_step"),
        "parameters": metrics.get("parameters"),
    }
    for key in ("majority_baseline", "before"):  # classification's baseline; tasks' untrained
        if key in metrics:
            out[key] = metrics[key]
    print(json.dumps(out))
    return 0


def cmd_pretrain(args) -> int:
    from engine.adaptive import preflight, pretrain_run

    config = config_from_args(args, PretrainConfig)
    if not config.data:
        raise ValueError("--data is required: the unlabelled domain text (.txt or a table).")
    preflight(config)
    run, metrics = _run_here(config, pretrain_run, args.quiet)
    keys = (
        "status",
        "objective",
        "perplexity_kind",
        "perplexity_before",
        "perplexity_after",
        "perplexity_drop_pct",
        "global_step",
        "train_seconds",
        "train_samples_per_second",
        "parameters",
        "adapted_backbone",
        "verdict",
    )
    print(
        json.dumps(
            {"run_dir": str(run.path), **{k: metrics.get(k) for k in keys}}, ensure_ascii=False
        )
    )
    return 0


def cmd_report(args) -> int:
    from engine.adaptive import domain_report

    config = config_from_args(args, PretrainConfig)
    if not config.data:
        raise ValueError("--data is required: the unlabelled domain text (.txt or a table).")
    report = domain_report(config, say=lambda text: print(text, file=sys.stderr, flush=True))
    print(json.dumps(report, ensure_ascii=False, default=str))
    return 0


def cmd_hpo(args) -> int:
    from engine.automl import hpo_run

    config = config_from_args(args, HpoConfig)
    if not config.data:
        raise ValueError("--data is required: the labelled table to search on.")
    run, metrics = _run_here(config, hpo_run, args.quiet)
    keys = (
        "status",
        "study_name",
        "metric",
        "direction",
        "best_value",
        "best_params",
        "best_number",
        "n_trials",
        "complete",
        "pruned",
        "failed",
        "best_run_dir",
        "best_test",
        "seconds",
    )
    print(
        json.dumps(
            {"run_dir": str(run.path), **{k: metrics.get(k) for k in keys}},
            ensure_ascii=False,
            default=str,
        )
    )
    return 0


def cmd_zeroshot(args) -> int:
    from engine import prompting

    config = config_from_args(args, PromptConfig)
    data = prompting.measure_data(config)
    for warning in data.warnings:
        print(f"note: {warning}", file=sys.stderr, flush=True)
    clf = prompting.PromptClassifier(config, data.labels, data.pool)

    def progress(done: int, total: int) -> None:
        if not args.quiet and (done == total or done % 20 == 0):
            print(f"{done}/{total} rows", file=sys.stderr, flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    result = clf.measure(data.rows, progress, stop)
    result["data"] = data.source
    if not args.no_record:
        prompting.record_measurement(result, config, output_dir=config.output_dir)
    runs = []
    for run_dir in args.compare_run:
        measured = prompting.measure_run(run_dir, data, config)
        runs.append(measured)
        if not args.no_record:
            prompting.record_measurement(
                measured, output_dir=config.output_dir, kind="run", name=measured["setting"]
            )
    out = {k: v for k, v in result.items() if k != "predictions"}
    if runs:
        out["runs"] = runs
    print(json.dumps(out, ensure_ascii=False))
    return 0


def cmd_generate(args) -> int:
    from engine import prompting

    model = prompting.get_model(args.backbone)
    if model.kind != "decoder":
        raise ValueError(f"{args.backbone} is an encoder; generation needs a decoder.")
    prompting.check_template(args.template, ("text",))
    filled = prompting.fill(args.template.replace("\\n", "\n"), text=args.text)
    shown, output = 0, ""
    for output in model.stream(
        filled,
        args.temperature,
        args.top_p,
        args.max_new_tokens,
        args.stop,
        use_chat=not args.no_chat_template,
    ):
        print(output[shown:], end="", file=sys.stderr, flush=True)
        shown = len(output)
    print(file=sys.stderr)
    print(json.dumps({"output": output, "backbone": args.backbone}, ensure_ascii=False))
    return 0


def cmd_explain(args) -> int:
    from engine.prompting import explain

    result = explain(args.run, args.text, args.method, args.target)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_predict(args) -> int:
    from engine.export import batch_predict

    last = [0.0]

    def progress(done: int, total: int) -> None:
        import time

        if time.time() - last[0] > 5 or done == total:
            last[0] = time.time()
            print(f"predicted {done} of {total} rows", file=sys.stderr, flush=True)

    out = batch_predict(args.run, args.data, args.output, args.text_column, progress=progress)
    print(json.dumps(out, ensure_ascii=False))
    return 0


def cmd_export(args) -> int:
    import os

    from engine.export import export, push_to_hub, zip_export

    result = export(
        args.run,
        args.format,
        args.output_dir or None,
        sparsity=args.sparsity,
        measure_it=not args.no_measure,
        limit=args.limit,
        progress=lambda text: print(text, file=sys.stderr, flush=True),
    )
    if args.zip:
        result["zip"] = str(zip_export(result["path"]))
    if args.push_to_hub:
        token = os.environ.get("HF_TOKEN", "")
        result["hub_url"] = push_to_hub(
            result["path"], args.push_to_hub, token, private=not args.public
        )
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_serve(args) -> int:
    import os

    from engine.serve import Limits, serve

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535 (got {args.port}).")
    key = args.api_key or os.environ.get("ADAPTUNE_API_KEY", "")
    if args.read_timeout <= 0:
        raise ValueError(f"--read-timeout must be above 0 (got {args.read_timeout:g}).")
    limits = Limits(
        max_body_bytes=args.max_body_bytes,
        max_texts=args.max_texts,
        max_text_chars=args.max_text_chars,
        body_timeout_s=args.read_timeout,
        head_timeout_s=args.read_timeout,
    )
    serve(
        args.run,
        args.artefact,
        args.host,
        args.port,
        key,
        limits,
        log=lambda text: print(text, file=sys.stderr, flush=True),
    )
    return 0


def _store_and_id(run_dir: str):
    from engine.runs import RunStore

    path = Path(run_dir)
    if not (path / "config.json").exists():
        raise ValueError(f"{run_dir} is not a run folder (it has no config.json).")
    return RunStore(path.parent), path.name


def cmd_resume(args) -> int:
    from engine.jobs import JobManager

    store, run_id = _store_and_id(args.run)
    jobs = JobManager(store)  # marks runs whose process is gone as interrupted
    run = jobs.resume(run_id)
    print(f"resuming {run.id} from {run.last_checkpoint().name}", file=sys.stderr, flush=True)
    try:
        jobs.wait(run.id)
    except KeyboardInterrupt:
        jobs.stop(run.id)
        jobs.wait(run.id)
    m = run.metrics()
    print(
        json.dumps(
            {
                "run_dir": str(run.path),
                "status": run.status,
                "global_step": m.get("global_step"),
                "test": m.get("test"),
                "error": run.status_info().get("error", ""),
            },
            ensure_ascii=False,
        )
    )
    return 0 if run.status == "completed" else 1


def cmd_delete(args) -> int:
    store, run_id = _store_and_id(args.run)
    removed = store.delete(run_id, with_data=not args.keep_data)
    print(json.dumps({"removed": removed}, ensure_ascii=False))
    return 0


def cmd_share(args) -> int:
    store, run_id = _store_and_id(args.run)
    run = store.set_shared(run_id, not args.off)
    print(json.dumps({"run_dir": str(run.path), "shared": run.shared}, ensure_ascii=False))
    return 0


def cmd_check(args) -> int:
    from engine.data import prepare_data

    config = config_from_args(args)
    if not config.data:
        raise ValueError("--data is required: the table to check.")
    if config.task != "classification":
        from engine.tasks import get_task

        data = get_task(config.task).prepare(config)
        print(json.dumps(data.to_dict(), ensure_ascii=False, default=str))
        return 0
    spec = prepare_data(
        config.data,
        config.text_column,
        config.label_column,
        config.test_data,
        config.validation_fraction,
        config.test_fraction,
        config.seed,
        config.max_rows,
        config.max_length,
    )
    print(json.dumps(spec.to_dict(), ensure_ascii=False, default=str))
    return 0


def cmd_backbones(args) -> int:
    from engine.backbones import CATALOGUE

    for b in CATALOGUE.values():
        print(f"{b.name:26} {b.family:8} {'bundled' if b.bundled else 'hub':8} {b.description}")
    return 0


def cmd_runs(args) -> int:
    from engine.runs import RunStore

    for run in RunStore(args.output_dir).list():
        s = run.summary()
        value = s.get("main_value")
        shown = f"{value:.3f}" if isinstance(value, (int, float)) else "-"
        print(
            f"{s['id']:50} {s['status']:11} {s['task'] or 'classification':14} "
            f"{s['backbone']:22} {s['strategy']:6} {s['main_metric']} {shown}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "train": cmd_train,
        "pretrain": cmd_pretrain,
        "report": cmd_report,
        "hpo": cmd_hpo,
        "zeroshot": cmd_zeroshot,
        "generate": cmd_generate,
        "explain": cmd_explain,
        "predict": cmd_predict,
        "export": cmd_export,
        "serve": cmd_serve,
        "resume": cmd_resume,
        "delete": cmd_delete,
        "share": cmd_share,
        "check": cmd_check,
        "backbones": cmd_backbones,
        "runs": cmd_runs,
    }[args.command]
    from engine.backbones import BackboneError
    from engine.config import ConfigError
    from engine.data import DataError
    from engine.export import ExportError
    from engine.predict import PredictError
    from engine.serve import ServeError

    try:
        return handler(args)
    except (
        DataError,
        BackboneError,
        ConfigError,
        PredictError,
        ExportError,
        ServeError,
        ValueError,
        PermissionError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, the traceback in a file
        from engine.errors import human_error

        log = write_error_log(_runs_folder(args))
        where = f" (details in {log})" if log else ""
        print(f"error: {human_error(exc)}{where}", file=sys.stderr)
        return 1


def _runs_folder(args) -> Path:
    """The runs folder a command works in: its --output-dir, or the parent of its --run."""
    run = getattr(args, "run", None)
    if run and Path(run).is_dir():
        return Path(run).resolve().parent
    return Path(getattr(args, "output_dir", None) or "runs")


def write_error_log(runs: Path) -> Path | None:
    """The current traceback in ``<runs>/_logs/error-<time>-<pid>.log`` (readable by this user
    only), next to the runs it concerns rather than in a shared /tmp; None when even that
    cannot be written (a full disk)."""
    import os
    import time
    import traceback

    try:
        folder = runs / "_logs"
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(traceback.format_exc())
        return log
    except OSError:
        return None
