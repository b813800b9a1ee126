"""Start the Adaptune studio.

    python app.py [--host 127.0.0.1] [--port 7860] [--runs-dir runs] [--lang en|zh]
                  [--auth user:password] [--share]

Binds to 127.0.0.1 unless told otherwise (on a Hugging Face Space, where SPACE_ID is set,
0.0.0.0). The studio sends nothing anywhere: gradio analytics are off.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import sys  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    on_space = bool(os.environ.get("SPACE_ID"))
    p = argparse.ArgumentParser(prog="app.py", description="Adaptune: a no-code studio for "
                                "fine-tuning text classifiers.")
    p.add_argument("--host", default="0.0.0.0" if on_space else "127.0.0.1",
                   help="Address to listen on (default: 127.0.0.1, only this computer).")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
                   help="Port to listen on (default: 7860).")
    p.add_argument("--runs-dir", default="runs", help="Folder for the run folders (default: runs).")
    p.add_argument("--lang", choices=["en", "zh"], default="en",
                   help="Interface language at start (en or zh; switchable in the page).")
    p.add_argument("--auth", default=os.environ.get("ADAPTUNE_AUTH", ""),
                   help="Require a login, as user:password (or set ADAPTUNE_AUTH).")
    p.add_argument("--share", action="store_true",
                   help="Also open a public gradio.live link (sends traffic through gradio's "
                        "share servers).")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep or not user or not password:
            sys.exit("app.py: error: --auth must look like user:password")
        auth = (user, password)
    if args.host not in LOOPBACK and not os.environ.get("SPACE_ID"):
        print(f"WARNING: listening on {args.host}: anyone who can reach this machine on port "
              f"{args.port} can use the studio{'' if auth else ' (no --auth set)'}, start "
              "training jobs and read the data files you upload.", file=sys.stderr)
    if args.share:
        print("WARNING: --share opens a public link through gradio's servers.", file=sys.stderr)

    from ui.app import build_app, launch_kwargs

    demo = build_app(runs_dir=args.runs_dir, lang=args.lang)
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth,
                allowed_paths=[os.path.abspath(args.runs_dir)], show_error=False,
                **launch_kwargs())


if __name__ == "__main__":
    main()
