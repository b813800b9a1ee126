"""Run forms as views of the configuration dataclasses: one widget per field, generated from its
metadata (RunConfig for the Train tab, PretrainConfig for the Adapt tab).

``form_to_config`` and ``config_to_form`` are the only places that translate between widget
values and a configuration, so a new knob in engine/config.py shows up here without UI code.

A form's ``prefix`` names its texts and element ids: RunConfig fields use the bare field name
as the i18n key (``lora_r``, ``lora_r.help``) and ``cfg-<name>`` as elem_id; PretrainConfig
fields use ``pretrain.<name>`` and ``adapt-cfg-<name>`` (see ``FormKind``).
"""

from __future__ import annotations

import math
from dataclasses import Field, dataclass, fields
from typing import Any, Iterable

from engine.config import PretrainConfig, RunConfig, default_of

from ui.i18n import T, TEXT, Translator

# Fields the form never shows: the run folder root is the app's own --runs-dir.
HIDDEN = {"output_dir"}
# Fields held in gr.State (set by the Data tab's uploads) rather than a typed widget.
STATE_FIELDS = {"data", "test_data"}


@dataclass(frozen=True)
class FormKind:
    """Which configuration a form edits, and how its texts and element ids are named."""

    cls: type
    key_prefix: str = ""  # i18n key of field X: f"{key_prefix}X", help: "...X.help"
    id_prefix: str = "cfg-"  # elem_id of field X: id_prefix + X with dashes

    def key(self, name: str) -> str:
        return self.key_prefix + name

    def elem_id(self, name: str) -> str:
        return self.id_prefix + name.replace("_", "-")


TRAIN = FormKind(RunConfig)
PRETRAIN = FormKind(PretrainConfig, key_prefix="pretrain.", id_prefix="adapt-cfg-")


def kind_of(f: Field) -> str:
    return f.type if isinstance(f.type, str) else f.type.__name__


def form_fields(cls: type = RunConfig) -> list[Field]:
    """Every field of ``cls`` the form carries, in dataclass order (not the hidden ones, nor
    those the engine sets itself: metadata ``cli=False``)."""
    return [f for f in fields(cls) if f.name not in HIDDEN and f.metadata.get("cli", True)]


def strategy_only(f: Field) -> list[str] | None:
    """The strategies a knob applies to (None: all): those whose registry entry reads it
    (engine.strategies.Strategy.knobs, the one declaration)."""
    from engine.strategies import STRATEGIES

    users = [name for name, s in STRATEGIES.items() if f.name in s.knobs]
    return users or None


def elem_id(name: str, kind: FormKind = TRAIN) -> str:
    return kind.elem_id(name)


def choice_labels(f: Field, kind: FormKind = TRAIN) -> list:
    """A dropdown's choices: (translated label, value) when i18n names every value
    (``<key>.choice.<value>``), else the raw values."""
    values = list(f.metadata["choices"])
    keys = [f"{kind.key(f.name)}.choice.{v}" for v in values]
    if all(k in TEXT for k in keys):
        return [(T(k), v) for k, v in zip(keys, values)]
    return values


def field_widget(f: Field, tr: Translator, kind: FormKind = TRAIN, **overrides: Any):
    """A gradio component for one configuration field, labelled and explained from i18n.
    ``choices=`` in ``overrides`` makes a dropdown of any field (e.g. a column picker)."""
    import gradio as gr

    meta = f.metadata
    ftype = kind_of(f)
    kw: dict[str, Any] = {
        "label": T(kind.key(f.name)),
        "info": T(kind.key(f.name) + ".help"),
        "value": default_of(f),
        "elem_id": kind.elem_id(f.name),
    }
    kw.update(overrides)
    if "choices" in meta or "choices" in kw:
        if "choices" not in kw:
            kw["choices"] = choice_labels(f, kind)  # translated ones are registered too
        return tr.make(gr.Dropdown, **kw)
    if ftype == "bool":
        return tr.make(gr.Checkbox, **kw)
    if ftype in ("int", "float"):
        for key in ("minimum", "maximum", "step"):
            if key in meta:
                kw.setdefault(key, meta[key])
        if ftype == "int":
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


def form_to_config(values: dict[str, Any], cls: type = RunConfig):
    """Widget values -> a ``cls`` configuration (RunConfig by default). Empty boxes take the
    field's default; raises ConfigError."""
    clean: dict[str, Any] = {}
    for f in fields(cls):
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
    return cls.from_dict(clean)


def config_to_form(config, cls: type | None = None) -> dict[str, Any]:
    """A configuration (or its dict) -> widget values for every form field."""
    if isinstance(config, dict):
        config = (cls or RunConfig).from_dict(config)
    return {f.name: getattr(config, f.name) for f in form_fields(type(config))}


def values_from(names: Iterable[str], args: Iterable[Any]) -> dict[str, Any]:
    """Positional gradio inputs -> {field name: value}."""
    return dict(zip(list(names), list(args)))
