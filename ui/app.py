"""The studio: a header and eight tabs (Data, Adapt, Train, AutoML, Evaluate, Playground, Export,
Runs), one module each."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from engine.jobs import JobManager
from engine.runs import RunStore

from ui import (
    adapt_tab,
    automl_tab,
    data_tab,
    evaluate_tab,
    export_tab,
    playground_tab,
    runs_tab,
    train_tab,
)
from ui.common import Context, StudioStore, user_of
from ui.i18n import LANG_CHOICES, T, Translator, t

ASSETS = Path(__file__).resolve().parents[1] / "assets"
FONTS = [
    "system-ui",
    "-apple-system",
    "Segoe UI",
    "Roboto",
    "Helvetica Neue",
    "Noto Sans",
    "Noto Sans CJK SC",
    "PingFang SC",
    "Microsoft YaHei",
    "sans-serif",
]
MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]


def theme() -> gr.themes.Base:
    """Soft theme with system fonts only (no Google Fonts: the studio makes no outbound calls)."""
    return gr.themes.Soft(primary_hue="indigo", neutral_hue="slate", font=FONTS, font_mono=MONO)


# the Train tab's queue table and the header's user line (kept here, next to the widgets' ids)
EXTRA_CSS = """
.queue-table { border-collapse: collapse; font-size: 0.92rem; margin: 2px 0 4px 0; width: 100%; }
.queue-table th { text-align: left; font-weight: 600; color: var(--body-text-color-subdued); }
.queue-table th, .queue-table td { padding: 3px 12px 3px 0;
  border-bottom: 1px solid var(--border-color-primary); }
.queue-table tr.queue-mine td { font-weight: 600; }
.queue-empty { color: var(--body-text-color-subdued); font-size: 0.92rem; margin: 2px 0; }
#user-line p { margin: 2px 0; font-size: 0.92rem; }
"""


def css() -> str:
    path = ASSETS / "style.css"
    return (path.read_text(encoding="utf-8") if path.exists() else "") + EXTRA_CSS


def launch_kwargs(
    demo: gr.Blocks | None = None, host: str = "127.0.0.1", share: bool = False
) -> dict:
    """What ``demo.launch`` needs besides host, port and auth: the theme and css (gradio 6 takes
    them there), no run history (gradio's would keep calls in the browser or a Hub bucket) and,
    for a studio built by ``build_app``, the front door (ui/web.py) as the app's middleware."""
    import os

    from starlette.middleware import Middleware

    from ui.web import LOOPBACK_NAMES, StudioGuard, WebPolicy

    kwargs: dict = {
        "theme": theme(),
        "css": css(),
        "footer_links": ["gradio", "settings"],
        "run_history": False,
    }
    ctx = getattr(demo, "adaptune", None)
    if ctx is not None:
        from gradio.utils import get_upload_folder

        # a --share link reaches the studio under gradio.live's name: no localhost-only check
        policy = WebPolicy(
            auth=ctx.store.auth,
            loopback=host in LOOPBACK_NAMES and not share,
            private_dirs=(ctx.store.root,),
            temp_dir=Path(get_upload_folder()),
            grants=ctx.grants,
            lang=ctx.tr.lang,
            on_space=bool(os.environ.get("SPACE_ID")),
        )
        ctx.web = policy
        kwargs["app_kwargs"] = {"middleware": [Middleware(StudioGuard, policy=policy)]}
    return kwargs


def device_line() -> str:
    try:
        from engine.training.loop import pick_device

        return pick_device("auto")["label"]
    except Exception as e:  # noqa: BLE001 - the header must render even without torch
        return f"unknown ({type(e).__name__})"


def signed_in_line(lang: str, request: gr.Request = None) -> str:
    """ "Signed in as alice" with --auth; nothing without sign-in."""
    user = user_of(request)
    return t("app.signed_in", lang, user=user) if user else ""


def build_app(
    runs_dir: str | Path = "runs",
    lang: str = "en",
    jobs: JobManager | None = None,
    auth: bool = False,
    admins: tuple[str, ...] | frozenset = (),
    upload_quota_mb: float | None = None,
) -> gr.Blocks:
    """The studio on ``runs_dir``. ``auth``: users sign in (app.py --auth), each sees their own
    runs, the ones shared with everyone, and ``admins`` see all; ``upload_quota_mb``: what each
    user's kept uploads may add up to."""
    quota = int(upload_quota_mb * 1e6) if upload_quota_mb else None
    if jobs is not None:
        jobs.store.upload_quota = quota
    store = jobs.store if jobs is not None else RunStore(runs_dir, upload_quota=quota)
    jobs = jobs or JobManager(store)
    tr = Translator(lang)
    ctx = Context(
        store=StudioStore(store, auth=auth, admins=frozenset(admins)),
        jobs=jobs,
        tr=tr,
        device=device_line(),
        uploads_dir=Path(runs_dir) / "_uploads",
    )

    # gradio's temporary copies (uploads as they arrive, downloads handed out) go after a day
    with gr.Blocks(
        title="Adaptune", analytics_enabled=False, delete_cache=(3600, 24 * 3600)
    ) as demo:
        with gr.Row(elem_id="header", equal_height=True):
            with gr.Column(scale=5, min_width=320):
                gr.HTML(
                    '<div class="brand"><span class="logo">◆</span> Adaptune</div>', elem_id="brand"
                )
                tr.make(gr.Markdown, value=T("app.tagline"), elem_id="tagline")
                tr.make(
                    gr.Markdown, value=T("app.device", device=ctx.device), elem_id="device-line"
                )
            with gr.Column(scale=2, min_width=260, elem_id="header-right"):
                ctx.lang = tr.make(
                    gr.Radio,
                    choices=LANG_CHOICES,
                    value=tr.lang,
                    label=T("app.language"),
                    elem_id="lang-switch",
                )
                user_md = gr.Markdown("", elem_id="user-line")
        ctx.data_path = gr.State("")
        ctx.test_path = gr.State("")
        ctx.run_id = gr.State(None)

        with gr.Tabs(elem_id="tabs") as tabs:
            ctx.tabs = tabs
            with tr.make(gr.Tab, label=T("tab.data"), id="data", elem_id="tab-data") as tab:
                ctx.c["data_tab"] = tab
                data_tab.build(ctx)
            with tr.make(gr.Tab, label=T("tab.adapt"), id="adapt", elem_id="tab-adapt") as tab:
                ctx.c["adapt_tab"] = tab
                adapt_tab.build(ctx)
            with tr.make(gr.Tab, label=T("tab.train"), id="train", elem_id="tab-train") as tab:
                ctx.c["train_tab"] = tab
                train_tab.build(ctx)
            with tr.make(gr.Tab, label=T("tab.automl"), id="automl", elem_id="tab-automl") as tab:
                ctx.c["automl_tab"] = tab
                automl_tab.build(ctx)
            with tr.make(
                gr.Tab, label=T("tab.evaluate"), id="evaluate", elem_id="tab-evaluate"
            ) as tab:
                ctx.c["eval_tab"] = tab
                evaluate_tab.build(ctx)
            with tr.make(
                gr.Tab, label=T("tab.playground"), id="playground", elem_id="tab-playground"
            ) as tab:
                ctx.c["play_tab"] = tab
                playground_tab.build(ctx)
            with tr.make(gr.Tab, label=T("tab.export"), id="export", elem_id="tab-export") as tab:
                ctx.c["export_tab"] = tab
                export_tab.build(ctx)
            with tr.make(gr.Tab, label=T("tab.runs"), id="runs", elem_id="tab-runs") as tab:
                ctx.c["runs_tab"] = tab
                runs_tab.build(ctx)

        for wire in ctx.deferred:
            wire()

        # language switch: every registered label / info / text at once, then the texts
        # the callbacks wrote (summaries, charts) again in the new language — those re-renders
        # all start together (one chain of ~30 made the last tab's text arrive 12-18 s late)
        event = ctx.lang.change(tr.updates, ctx.lang, tr.components, show_progress="hidden")
        for fn, inputs, outputs in ctx.on_lang:
            event.then(fn, inputs, outputs, show_progress="hidden")

        # who is signed in (with --auth), in the header
        demo.load(signed_in_line, ctx.lang, user_md, show_progress="hidden")
        event.then(signed_in_line, ctx.lang, user_md, show_progress="hidden")
        # page load: re-attach the Train tab to the active (or latest) run
        demo.load(
            ctx.fn["train_attach"], ctx.lang, ctx.c["train_attach_outputs"], show_progress="hidden"
        )
        # ... the Adapt tab to the latest adaptation run; lists read from the run store again
        for fn, inputs, outputs in ctx.on_load:
            demo.load(fn, inputs, outputs, show_progress="hidden")
    demo.adaptune = ctx  # for tests and app.py
    return demo


__all__ = ["build_app", "launch_kwargs", "theme", "css", "t"]
