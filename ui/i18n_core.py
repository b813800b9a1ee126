"""Translator: looks text up in ui.i18n.TEXT and remembers which widget shows which key.

Components made with ``tr.make(cls, label=T("key"), ...)`` are registered; ``tr.updates(lang)``
returns one ``gr.update`` per registered component with every registered attribute translated,
which is what the header's language switch outputs.
"""

from __future__ import annotations

from typing import Any, Callable

LANGS = ("en", "zh")


class T(str):
    """A translation key (with optional format values) standing in for a widget text."""

    fmt: dict

    def __new__(cls, key: str, **fmt: Any) -> "T":
        obj = super().__new__(cls, key)
        obj.fmt = fmt
        return obj


def lookup(
    table: dict,
    key: str,
    lang: str,
    fallback: Callable[[str], str | None] | None = None,
    **fmt: Any,
) -> str:
    entry = table.get(key, {})
    text = entry.get(lang) or entry.get("en")
    if text is None and fallback is not None:
        text = fallback(key)
    if text is None:
        text = key
    if fmt:
        try:
            text = text.format(**fmt)
        except (KeyError, IndexError, ValueError):
            pass
    return text


class Translator:
    def __init__(self, lang: str = "en", translate: Callable[..., str] | None = None):
        from ui.i18n import t

        self.lang = lang if lang in LANGS else "en"
        self._t = translate or t
        self._entries: list[tuple[Any, dict[str, Any]]] = []

    def t(self, key: str, lang: str | None = None, **fmt: Any) -> str:
        return self._t(key, lang or self.lang, **fmt)

    # ---- making and registering widgets ---------------------------------------------------
    def _resolve(self, value: Any, lang: str) -> Any:
        if isinstance(value, T):
            return self._t(str(value), lang, **value.fmt)
        if callable(value) and not isinstance(value, type):
            return value(lang)
        if isinstance(value, list) and _has_key(value):  # e.g. [(T("key"), value), ...]
            return [
                tuple(self._resolve(x, lang) for x in v)
                if isinstance(v, tuple)
                else self._resolve(v, lang)
                for v in value
            ]
        return value

    def register(self, component: Any, **attrs: Any) -> Any:
        """Remember that ``component.<attr>`` shows ``attrs[attr]`` (a T key, a list of
        (T, value) choices, or a function of the language)."""
        self._entries.append((component, attrs))
        return component

    def make(self, cls: type, *args: Any, **kwargs: Any) -> Any:
        """``cls(**kwargs)`` with every T key translated; the keyed attributes are registered."""
        keyed = {k: v for k, v in kwargs.items() if _has_key(v)}
        resolved = {k: self._resolve(v, self.lang) if k in keyed else v for k, v in kwargs.items()}
        component = cls(*args, **resolved)
        if keyed:
            self.register(component, **keyed)
        return component

    # ---- switching ------------------------------------------------------------------------
    @property
    def components(self) -> list[Any]:
        return [c for c, _ in self._entries]

    def updates(self, lang: str) -> list[dict]:
        import gradio as gr

        lang = lang if lang in LANGS else "en"
        return [
            gr.update(**{attr: self._resolve(v, lang) for attr, v in attrs.items()})
            for _, attrs in self._entries
        ]


def _has_key(value: Any) -> bool:
    if isinstance(value, T):
        return True
    if isinstance(value, list):
        return any(
            isinstance(x, T) or (isinstance(x, tuple) and any(isinstance(y, T) for y in x))
            for x in value
        )
    return False
