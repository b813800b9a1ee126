"""Masking personal data in texts before training: e-mail addresses, URLs, phone numbers and
long digit runs (account, card or ID numbers) become placeholders.

    mask_text("Mail me at ann@x.org or +44 20 7946 0958")
    -> ("Mail me at [EMAIL] or [PHONE]", {"email": 1, "phone": 1})

Order matters: URLs and e-mails first (they contain digits and dots), then phone numbers (digit
groups with separators, optional +country code), then any remaining run of 6+ digits. Plain
numbers people write (years, prices, "3 stars", dates like 2024-05-01) are left alone.
"""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd

KINDS = ("email", "url", "phone", "digits")
PLACEHOLDER = {"email": "[EMAIL]", "url": "[URL]", "phone": "[PHONE]", "digits": "[NUMBER]"}

_PATTERNS = {
    "email": re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])"),
    "url": re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]]", re.IGNORECASE),
    # +country code or a leading 0/(, then digit groups split by spaces, dots, dashes, brackets;
    # at least 8 digits in all (so "2024-05-01" or "10.5" stay)
    "phone": re.compile(
        r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?"
        r"\d{2,5}(?:[\s.-]\d{2,5}){1,4}(?![\w])"
    ),
    "digits": re.compile(r"(?<!\d)\d{6,}(?!\d)"),
}


def _phone_ok(match: str) -> bool:
    digits = sum(c.isdigit() for c in match)
    if digits < 8:
        return False
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", match) or re.fullmatch(
        r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}", match
    ):
        return False  # a date
    return True


def mask_text(text: str, kinds: tuple[str, ...] | list[str] = KINDS) -> tuple[str, dict]:
    """``text`` with each kind of personal data replaced; the counts of each replacement."""
    if not isinstance(text, str) or not text:
        return text, {}
    counts: Counter = Counter()
    for kind in ("email", "url", "phone", "digits"):
        if kind not in kinds:
            continue
        pattern = _PATTERNS[kind]

        def replace(m: re.Match, kind=kind) -> str:
            if kind == "phone" and not _phone_ok(m.group(0)):
                return m.group(0)
            counts[kind] += 1
            return PLACEHOLDER[kind]

        text = pattern.sub(replace, text)
    return text, dict(counts)


def mask_series(values: pd.Series, kinds=KINDS) -> tuple[pd.Series, dict]:
    """Every text of a column masked, and the total counts per kind."""
    total: Counter = Counter()
    out = []
    for v in values.tolist():
        masked, counts = mask_text(v, kinds)
        total.update(counts)
        out.append(masked)
    return pd.Series(out, index=values.index, dtype=values.dtype), dict(total)


def preview(texts: list[str], limit: int = 20, kinds=KINDS) -> dict:
    """What masking would do to a table's texts: the total counts over all of them, how many
    texts change, and up to ``limit`` changed examples (before, after) for the Data tab."""
    total: Counter = Counter()
    changed, examples = 0, []
    for text in texts:
        masked, counts = mask_text(text, kinds)
        if counts:
            changed += 1
            total.update(counts)
            if len(examples) < limit:
                examples.append({"before": text, "after": masked})
    return {
        "counts": {k: total.get(k, 0) for k in KINDS},
        "texts_changed": changed,
        "texts": len(texts),
        "examples": examples,
    }
