"""Start the Adaptune studio.

    python app.py [--host 127.0.0.1] [--port 7860] [--runs-dir runs] [--lang en|zh]
                  [--auth user:password[,user2:password2]] [--admin user] [--max-upload-mb 100]
                  [--upload-quota-mb 2000] [--share]

Binds to 127.0.0.1 unless told otherwise (on a Hugging Face Space, where SPACE_ID is set,
0.0.0.0). The studio sends nothing anywhere: gradio analytics are off.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import sys

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    on_space = bool(os.environ.get("SPACE_ID"))
    p = argparse.ArgumentParser(
        prog="app.py", description="Adaptune: a no-code studio for fine-tuning text classifiers."
    )
    p.add_argument(
        "--host",
        default="0.0.0.0" if on_space else "127.0.0.1",
        help="Address to listen on (default: 127.0.0.1, only this computer).",
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
        help="Port to listen on (default: 7860).",
    )
    p.add_argument("--runs-dir", default="runs", help="Folder for the run folders (default: runs).")
    p.add_argument(
        "--lang",
        choices=["en", "zh"],
        default="en",
        help="Interface language at start (en or zh; switchable in the page).",
    )
    p.add_argument(
        "--auth",
        default=os.environ.get("ADAPTUNE_AUTH", ""),
        help="Require a login: user:password, or several as "
        "alice:pw1,bob:pw2 (or set ADAPTUNE_AUTH). Each user then sees and "
        "uses only their own runs and uploads, and the runs others shared.",
    )
    p.add_argument(
        "--admin",
        default=os.environ.get("ADAPTUNE_ADMIN", ""),
        help="With --auth: the user(s), comma-separated, who see and control every "
        "run and may tick 'trust remote code' (or set ADAPTUNE_ADMIN).",
    )
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=float(os.environ.get("ADAPTUNE_MAX_UPLOAD_MB", 100)),
        help="Largest file a browser may upload, in MB (default 100; or set "
        "ADAPTUNE_MAX_UPLOAD_MB).",
    )
    p.add_argument(
        "--upload-quota-mb",
        type=float,
        default=float(os.environ.get("ADAPTUNE_UPLOAD_QUOTA_MB", 2000)),
        help="With --auth: what each user's kept uploads may add up to, in MB "
        "(default 2000; 0 = no limit; or set ADAPTUNE_UPLOAD_QUOTA_MB).",
    )
    p.add_argument(
        "--share",
        action="store_true",
        help="Also open a public gradio.live link (sends traffic through gradio's share servers).",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        auth = parse_auth(args.auth)
    except ValueError as e:
        sys.exit(f"app.py: error: {e}")
    if args.max_upload_mb <= 0:
        sys.exit("app.py: error: --max-upload-mb must be above 0")
    if args.upload_quota_mb < 0:
        sys.exit("app.py: error: --upload-quota-mb must be 0 (no limit) or more")
    admins = tuple(a.strip() for a in args.admin.split(",") if a.strip())
    unknown = [a for a in admins if a not in {u for u, _ in auth or []}]
    if admins and not auth:
        sys.exit("app.py: error: --admin needs --auth (an admin is a user who signs in)")
    if unknown:
        sys.exit(f"app.py: error: --admin names {', '.join(unknown)}, who is not in --auth")
    # uploads and gradio's temporary copies stay inside the runs folder: the temporary folder is
    # the studio's own (it is emptied at start-up and served to no one but the user who owns a
    # file); the engine's loaders refuse files above the same size
    os.environ["ADAPTUNE_MAX_UPLOAD_MB"] = f"{args.max_upload_mb:g}"
    from engine.uploads import Uploads

    uploads = Uploads(os.path.abspath(os.path.join(args.runs_dir, "_uploads")))
    os.environ["GRADIO_TEMP_DIR"] = str(uploads.temp_dir)
    uploads.purge_temp(older_than=None)
    uploads.keep_purging()  # and, while it runs, every copy older than a day, hourly
    if args.host not in LOOPBACK and not os.environ.get("SPACE_ID"):
        print(
            f"WARNING: listening on {args.host}: anyone who can reach this machine on port "
            f"{args.port} can use the studio{'' if auth else ' (no --auth set)'}, start "
            "training jobs and read the data files you upload.",
            file=sys.stderr,
        )
    if args.share:
        print(
            "WARNING: --share opens a public link through gradio's servers: anyone with the "
            "link can use the studio" + ("" if auth else " (no --auth set)") + ".",
            file=sys.stderr,
        )

    from ui.app import build_app, launch_kwargs

    demo = build_app(
        runs_dir=args.runs_dir,
        lang=args.lang,
        auth=bool(auth),
        admins=admins,
        upload_quota_mb=args.upload_quota_mb if auth else None,
    )
    demo.queue(default_concurrency_limit=4)
    # no allowed_paths: nothing under the runs folder is served as it is (ui/web.py)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=auth,
        show_error=False,
        max_file_size=f"{args.max_upload_mb:g}mb",
        **launch_kwargs(demo, args.host, args.share),
    )


def parse_auth(text: str) -> list[tuple[str, str]] | None:
    """ "alice:pw1,bob:pw2" -> [("alice", "pw1"), ("bob", "pw2")]; "" -> None (no login)."""
    if not text.strip():
        return None
    pairs = []
    for item in text.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user.strip() or not password:
            raise ValueError("--auth must look like user:password (several: alice:pw1,bob:pw2)")
        pairs.append((user.strip(), password))
    if len({u for u, _ in pairs}) != len(pairs):
        raise ValueError("--auth names a user twice")
    return pairs


if __name__ == "__main__":
    main()
