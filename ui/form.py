"""The run form as a view of RunConfig: one widget per field, generated from its metadata.

``form_to_config`` and ``config_to_form`` are the only places that translate between widget
values and a RunConfig, so a new knob in engine/config.py shows up here without UI code.
"""
from __future__ import annotations

import math
from dataclasses import Field, fields
from typing import Any, Iterable

from engine.config import RunConfig, default_of

from ui.i18n import T, Translator

# Fields the form never shows: the run folder root is the app's own --runs-dir.
HIDDEN = {"output_dir"}
# Fields held in gr.State (set by the Data tab's uploads) rather than a typed widget.
STATE_FIELDS = {"data", "test_data"}


def kind_of(f: Field) -> str:
    return f.type if isinstance(f.type, str) else f.type.__name__


def form_fields() -> list[Field]:
    """Every RunConfig field the form carries, in dataclass order."""
    return [f for f in fields(RunConfig) if f.name not in HIDDEN]


def strategy_only(f: Field) -> list[str] | None:
    """The strategies a knob applies to (None: all)."""
    return f.metadata.get("strategies")


def elem_id(name: str) -> str:
    return "cfg-" + name.replace("_", "-")


def field_widget(f: Field, tr: Translator, **overrides: Any):
    """A gradio component for one RunConfig field, labelled and explained from i18n."""
    import gradio as gr

    meta = f.metadata
    kind = kind_of(f)
    kw: dict[str, Any] = {"label": T(f.name), "info": T(f.name + ".help"),
                          "value": default_of(f), "elem_id": elem_id(f.name)}
    kw.update(overrides)
    if "choices" in meta:
        kw.setdefault("choices", list(meta["choices"]))
        return tr.make(gr.Dropdown, **kw)
    if kind == "bool":
        return tr.make(gr.Checkbox, **kw)
    if kind in ("int", "float"):
        for key in ("minimum", "maximum", "step"):
            if key in meta:
                kw.setdefault(key, meta[key])
        if kind == "int":
            kw.setdefault("precision", 0)
        return tr.make(gr.Number, **kw)
    return tr.make(gr.Textbox, **kw)


def task_only(f: Field) -> list[str] | None:
    """The tasks a knob applies to (None: all)."""
    return f.metadata.get("tasks")


def visible_for(f: Field, strategy: str, task: str | None = None) -> bool:
    only, tasks = strategy_only(f), task_only(f)
    task = task or default_of(RunConfig.__dataclass_fields__["task"])
    return (only is None or strategy in only) and (tasks is None or task in tasks)


def form_to_config(values: dict[str, Any]) -> RunConfig:
    """Widget values -> RunConfig. Empty boxes take the field's default; raises ConfigError."""
    clean: dict[str, Any] = {}
    for f in fields(RunConfig):
        if f.name not in values:
            continue
        value = values[f.name]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if isinstance(value, str):
            value = value.strip()
            if value == "" and kind_of(f) in ("int", "float"):
                continue
        if isinstance(value, (list, tuple)):  # a multiselect never feeds a config field
            value = ",".join(map(str, value))
        clean[f.name] = value
    return RunConfig.from_dict(clean)


def config_to_form(config: RunConfig | dict) -> dict[str, Any]:
    """RunConfig (or its dict) -> widget values for every form field."""
    if isinstance(config, dict):
        config = RunConfig.from_dict(config)
    return {f.name: getattr(config, f.name) for f in form_fields()}


def values_from(names: Iterable[str], args: Iterable[Any]) -> dict[str, Any]:
    """Positional gradio inputs -> {field name: value}."""
    return dict(zip(list(names), list(args)))
