"""Fixtures for the browser tests: the studio as a subprocess, headless Chromium, one page.

The studio runs exactly as a user starts it (``python app.py --host 127.0.0.1 --port N
--runs-dir DIR``) against a fresh runs folder; its output goes to
``test-artifacts/e2e/server.log``. Chromium is the system one (/usr/bin/chromium, or
$ADAPTUNE_CHROMIUM); playwright's own browser download is never used.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = os.environ.get("ADAPTUNE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
SERVER_START_TIMEOUT = 90.0
VIEWPORT = {"width": 1400, "height": 900}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status < 500
    except urllib.error.HTTPError as e:  # any HTTP answer means the server is up
        return e.code < 500
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@contextlib.contextmanager
def _studio(runs_dir: Path, log_path: Path, *extra: str) -> Iterator[str]:
    """``app.py`` on a free loopback port against ``runs_dir`` (plus ``extra`` arguments), its
    output in ``log_path``; yields the URL once it answers and stops it afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = dict(
        os.environ,
        GRADIO_ANALYTICS_ENABLED="False",
        # the studio's jobs run at nice 10 so clicks win the CPU; here the other test worker
        # would win it instead and the browser tests would wait on a starved job
        ADAPTUNE_JOB_NICENESS="0",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONUNBUFFERED="1",
    )
    env.pop("ADAPTUNE_AUTH", None)
    env.pop("GRADIO_TEMP_DIR", None)  # each studio keeps its uploads in its own runs folder
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - the studio process writes it
    proc = subprocess.Popen(
        [
            sys.executable,
            "app.py",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--runs-dir",
            str(runs_dir),
            *extra,
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _answers(url):
            if proc.poll() is not None:
                pytest.fail(
                    f"app.py exited with code {proc.returncode} before answering:\n"
                    f"{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"app.py did not answer on {url} within {SERVER_START_TIMEOUT:.0f} s:"
                    f"\n{_tail(log_path)}"
                )
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="session")
def studio_url(tmp_path_factory, artifacts_dir) -> str:
    """Start ``app.py`` on a free loopback port with an empty runs folder; stop it at the end."""
    with _studio(tmp_path_factory.mktemp("e2e-runs"), artifacts_dir / "server.log") as url:
        yield url


AUTH_USERS = {"alice": "pw-a", "bob": "pw-b"}


@pytest.fixture(scope="module")
def auth_studio_url(tmp_path_factory, artifacts_dir) -> str:
    """A second studio with a login (``--auth alice:pw-a,bob:pw-b``), its own port and runs
    folder (output: test-artifacts/e2e/server-auth.log)."""
    auth = ",".join(f"{user}:{password}" for user, password in AUTH_USERS.items())
    with _studio(
        tmp_path_factory.mktemp("e2e-auth-runs"), artifacts_dir / "server-auth.log", "--auth", auth
    ) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"{CHROMIUM} not found; the browser tests need Chromium "
            "(apt-get install chromium fonts-noto-cjk)"
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class PageLog:
    """What the page did besides rendering: every request URL, page errors, console errors."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []

    def external_requests(self) -> list[str]:
        out = []
        for url in self.requests:
            parsed = urlparse(url)
            if parsed.scheme in ("data", "blob", "about", "chrome", "chrome-extension"):
                continue
            if (parsed.hostname or "") not in LOCAL_HOSTS:
                out.append(url)
        return out


@pytest.fixture(scope="module")
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture(scope="module")
def page(browser, studio_url, page_log):
    """One page shared by the ordered steps of a test module (the studio keeps its state)."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.on("request", lambda req: page_log.requests.append(req.url))
    page = context.new_page()
    page.on("pageerror", lambda exc: page_log.page_errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: page_log.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.set_default_timeout(30_000)
    page.goto(studio_url, wait_until="domcontentloaded")
    try:
        yield page
    finally:
        context.close()
