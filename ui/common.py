"""Small shared pieces: the shared context object, message boxes, number formatting."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from engine.backbones import BackboneError
from engine.config import ConfigError
from engine.data import SAMPLE_DIR, DataError
from engine.errors import UserError, is_disk_full
from engine.jobs import JobManager
from engine.predict import PredictError
from engine.runs import EVERYONE, NOBODY, RunStore, RunView, Viewer

from ui.i18n import TEXT, Translator, t
from ui.web import Grants, hand_out

# Every error the engine raises on purpose carries a human message; these are shown as-is.
ENGINE_ERRORS = (
    DataError,
    BackboneError,
    ConfigError,
    PredictError,
    ValueError,
    KeyError,
    OSError,
    UserError,
)
LIVE_STATUSES = ("queued", "running", "stopping")


def current_request() -> Any:
    """The gradio request of the callback running now (None outside one: building the page,
    a test calling a callback directly)."""
    from gradio.context import LocalContext

    return LocalContext.request.get(None)


class StudioStore:
    """The run store as the signed-in user of the current request sees it: every ``get``,
    ``list``, ``create`` and ``delete`` of a callback goes through that user's
    ``engine.runs.RunView`` (own runs, runs shared with everyone, all of them for an admin).
    Without ``--auth`` everyone sees everything; with it, outside a request (building the page)
    nobody sees any run, so no user's run is ever written into the page itself."""

    def __init__(self, store: RunStore, auth: bool = False, admins: frozenset[str] = frozenset()):
        self.store = store
        self.auth = auth
        self.admins = frozenset(admins)

    def viewer(self, request: Any = None) -> Viewer:
        if not self.auth:
            return EVERYONE
        user = user_of(request if request is not None else current_request())
        return Viewer(user=user, admin=user in self.admins) if user else NOBODY

    def view(self, request: Any = None) -> RunView:
        return self.store.view(self.viewer(request), public=(SAMPLE_DIR,))

    @property
    def root(self) -> Path:
        return self.store.root

    def __getattr__(self, name: str):
        """get, list, create, delete, set_shared, may_read_path, check_config, sanitized...:
        those of the current user's RunView."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.view(), name)


@dataclass
class Context:
    """What every tab's ``build(ctx)`` gets: the engine objects, the translator, and the
    components other tabs need to read or update."""

    store: StudioStore  # the runs as the current request's user sees them
    jobs: JobManager
    tr: Translator
    device: str
    uploads_dir: Path
    lang: Any = None  # gr.Radio: "en" | "zh"
    data_path: Any = None  # gr.State: the chosen data file
    test_path: Any = None  # gr.State: the optional separate test file
    run_id: Any = None  # gr.State: the run the Train tab shows
    tabs: Any = None  # gr.Tabs
    fields: dict[str, Any] = field(default_factory=dict)  # RunConfig field -> component
    c: dict[str, Any] = field(default_factory=dict)  # named components across tabs
    fn: dict[str, Callable] = field(default_factory=dict)  # shared callbacks across tabs
    deferred: list[Callable[[], None]] = field(default_factory=list)  # wiring after all tabs
    on_lang: list[tuple] = field(default_factory=list)  # (fn, inputs, outputs) after a switch
    on_load: list[tuple] = field(default_factory=list)  # (fn, inputs, outputs) at page load
    grants: Grants = field(default_factory=Grants)  # temporary files each user may fetch
    web: Any = None  # ui.web.WebPolicy of the launched studio (launch_kwargs)

    def viewer(self, request: Any = None) -> Viewer:
        return self.store.viewer(request)

    def user(self, request: Any = None) -> str | None:
        """The signed-in user of ``request`` (or of the current one); None without sign-in."""
        return self.viewer(request).user or None

    def hand_out(self, path: str | Path | None, move: bool = False) -> str | None:
        """``path`` as a download the current user (and nobody else) may fetch (``move``: a
        scratch file, deleted once handed out)."""
        return hand_out(path, self.grants, self.user(), move=move)

    def own_upload(self, path: str | None) -> str | None:
        """An uploaded file's path when the current user uploaded it (with sign-in, gradio's
        upload folder holds every user's files); AccessError otherwise."""
        from engine.errors import AccessError

        if not path or not self.store.auth or self.grants.allowed(self.user(), path):
            return path
        raise AccessError("That file was not uploaded by you.", key="access.upload")

    def keep_upload(self, path: str | None, name: str | None = None) -> str:
        """Keep an uploaded file in the current user's uploads folder (under their quota)."""
        if not path:
            return ""
        return str(self.store.uploads.keep(self.own_upload(path), self.user(), name))

    def field_names(self) -> list[str]:
        return list(self.fields)

    def field_components(self) -> list[Any]:
        return list(self.fields.values())


def user_of(request: Any) -> str | None:
    """The signed-in user of a gradio request (``--auth``), None without sign-in: the user
    every start / stop / resume / delete acts as (None: everyone may control every run)."""
    name = getattr(request, "username", None)
    return str(name) if name else None


def owner_text(owner: str, user: str | None, lang: str) -> str:
    """Who a run belongs to, as the queue and messages show it: "you" for the user's own."""
    if not owner:
        return "–"
    return t("queue.you", lang) if user and owner == user else owner


def error_message(exc: BaseException, lang: str = "en") -> str:
    """One line for the UI: the engine's own message (in ``lang`` when it carries a message
    key), never a traceback."""
    if isinstance(exc, UserError) and exc.key in TEXT:
        return t(exc.key, lang, **exc.values)
    if is_disk_full(exc):
        return t("error.disk_full", lang)
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def box(kind: str, text: str | list[str], title: str = "") -> str:
    """A coloured message box: kind is error | warning | ok | info."""
    if not text:
        return ""
    head = f"<strong>{html.escape(title)}</strong> " if title else ""
    if isinstance(text, list):
        items = "".join(f"<li>{html.escape(x)}</li>" for x in text)
        body = f"{head}<ul>{items}</ul>"
    else:
        body = f"{head}{html.escape(text)}"
    return f'<div class="msg msg-{kind}">{body}</div>'


def human_number(n: float | int | None) -> str:
    if n is None:
        return "–"
    n = float(n)
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def human_duration(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_score(value: Any) -> str:
    return (
        f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"
    )


def params_line(parameters: dict | None, lang: str) -> str:
    if not parameters or not parameters.get("total"):
        return ""
    return t(
        "train.params",
        lang,
        trainable=human_number(parameters.get("trainable")),
        total=human_number(parameters.get("total")),
        percent=f"{float(parameters.get('percent', 0)):.1f}",
    )


def run_label(summary: dict, lang: str = "en") -> str:
    """Dropdown label for a run: name, status and test score."""
    acc = summary.get("accuracy")
    score = f" · acc {acc:.3f}" if isinstance(acc, (int, float)) else ""
    task, value = summary.get("task") or "classification", summary.get("main_value")
    if task != "classification" and isinstance(value, (int, float)):
        metric = summary.get("main_metric", "")
        if metric == "perplexity":
            metric = t("runs.m.perplexity", lang)
        shown = f"{value:.3f}" if abs(value) <= 1 else f"{value:.1f}"
        score = f" · {t('task.' + task, lang)} · {metric} {shown}"
    name = summary.get("name") or summary["id"]
    suffix = f" ({summary['id']})" if name != summary["id"] else ""
    return f"{name}{suffix} · {status_text(summary.get('status', ''), lang)}{score}"


def status_text(status: str, lang: str) -> str:
    return t(f"status.{status}", lang) if status else "–"
