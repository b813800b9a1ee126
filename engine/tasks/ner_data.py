"""NER data: read token/tag files in their usual shapes, check them, normalise the tag scheme.

Accepted inputs (one sentence per row / block):

* JSON lines (or a JSON list) ``{"tokens": [...], "tags": [...]}``; the column names come from
  the run's text / label columns (defaults: tokens / words, tags / ner_tags / labels).
* CoNLL text (.conll, .bio, .iob, and .txt when it looks like one): a token and its tag per line,
  separated by whitespace (the tag is the last column, so 4-column CoNLL-2003 works), a blank
  line between sentences, ``-DOCSTART-`` lines skipped.
* A table (CSV, TSV, JSONL, Excel...) with a text column and a column of character spans, either
  ``[{"start": 0, "end": 5, "label": "PER"}]`` or ``[[0, 5, "PER"]]`` (end exclusive). The text is
  split into words (Chinese / Japanese: one token per character) and the spans become BIO tags.
  A table whose columns hold token lists and tag lists (JSON, or space-separated) works as well.

Tag schemes: IOB2 (BIO), IOB1, BIOES, BILOU and plain IO are detected and converted to IOB2,
which is what the model learns. Every mistake is a ``DataError`` naming the file, the line or
row, and the fix.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from engine.data import DataError, _json_loads, load_table

CONLL_SUFFIXES = (".conll", ".bio", ".iob", ".iob2", ".bioes", ".txt")
TOKEN_NAMES = ("tokens", "words", "token", "sentence", "text", "sentences", "content")
TAG_NAMES = (
    "tags",
    "ner_tags",
    "labels",
    "ner",
    "tag",
    "label",
    "entities",
    "spans",
    "annotations",
    "ner_spans",
)
RARE_TYPE = 5  # entity types with fewer mentions get a warning
MIN_SENTENCES = 4  # fewer cannot be split into train / validation / test

# Chinese, Japanese (kana) and CJK punctuation / full-width forms: written without spaces, so raw
# text is read one character per token. Korean (Hangul) uses spaces and is read by words.
_CJK_CHARS = (
    "\u2e80-\u2fdf\u3000-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
)
_CJK = re.compile(f"[{_CJK_CHARS}]")
_LATIN_WORD = f"(?:(?![{_CJK_CHARS}])\\w)+"
# URLs, @mentions and #hashtags stay whole (as tweet data tokenises them), then single CJK
# characters, runs of letters / digits, and single punctuation marks.
_WORD = re.compile(
    f"https?://\\S+|www\\.\\S+|[@#]{_LATIN_WORD}|[{_CJK_CHARS}]|{_LATIN_WORD}|[^\\w\\s]"
)
_TAG = re.compile(r"^([BIESLUbiesul])-(\S.*)$")
_LOOSE_TAG = re.compile(r"^([BIESLU])[_.:/ ](.+)$")


@dataclass
class NerTable:
    """Sentences read from one file: ``frame`` has the columns tokens, tags (IOB2) and row."""

    frame: pd.DataFrame
    scheme: str  # IOB2 | IOB1 | BIOES | BILOU | IO | spans
    source_format: str  # jsonl | conll | table | spans
    columns: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    char_level: bool = False  # most tokens are single CJK characters

    @property
    def types(self) -> list[str]:
        return entity_types(self.frame["tags"])


# ---- tags and schemes ---------------------------------------------------------------------------


def parse_tag(tag: Any, where: str) -> tuple[str, str] | None:
    """("B", "PER") for "B-PER", None for "O"; DataError for anything else."""
    text = str(tag).strip() if tag is not None else ""
    if text == "O":
        return None
    m = _TAG.match(text)
    if m:
        return m.group(1).upper(), m.group(2)
    loose = _LOOSE_TAG.match(text)
    if loose:
        fix = f"write it as {loose.group(1)}-{loose.group(2).strip()}"
    elif re.fullmatch(r"[BIESLUbiesul]-", text):
        fix = "it has a prefix but no entity type; write e.g. B-PER"
    elif text in ("0", "o", ""):
        fix = "outside an entity the tag is a capital O"
    elif text.isdigit():
        fix = "the tags look like class numbers; write the tag names instead (O, B-PER, I-PER, ...)"
    else:
        fix = f"an entity tag needs a prefix: B-{text} for its first token, I-{text} for the rest"
    raise DataError(
        f"{where}: the tag {text!r} is not a BIO tag; {fix}. Tags must be O or "
        "PREFIX-TYPE with a prefix B, I (and E, S or L, U for BIOES / BILOU)."
    )


def detect_scheme(tag_lists: list[list[str]]) -> str:
    """IOB2, IOB1, BIOES, BILOU or IO, from the prefixes used and where entities start."""
    prefixes: Counter = Counter()
    starts_with_i = starts_with_b_after_o = 0
    for tags in tag_lists:
        prev = None
        for tag in tags:
            parsed = _split(tag)
            if parsed is None:
                prev = None
                continue
            p, t = parsed
            prefixes[p] += 1
            if p == "I" and prev != t:
                starts_with_i += 1
            if p == "B" and prev is None:
                starts_with_b_after_o += 1
            prev = t
    if prefixes["L"] or prefixes["U"]:
        return "BILOU"
    if prefixes["E"] or prefixes["S"]:
        return "BIOES"
    if not prefixes["B"]:
        return "IO"
    if starts_with_i and not starts_with_b_after_o:
        return "IOB1"  # B- only where an entity touches one of the same type
    return "IOB2"


def to_iob2(tags: list[str]) -> list[str]:
    """Any of the schemes (or an IOB2 sequence with stray I- starts) as IOB2."""
    out, open_type = [], None
    for tag in tags:
        parsed = _split(tag)
        if parsed is None:
            out.append("O")
            open_type = None
            continue
        p, t = parsed
        if p in ("B", "S", "U") or open_type != t:
            out.append(f"B-{t}")
        else:
            out.append(f"I-{t}")
        open_type = None if p in ("E", "L", "S", "U") else t
    return out


def spans_from_tags(tags: list[str]) -> list[tuple[int, int, str]]:
    """Entities of an IOB2 (or loose) tag sequence as (first token, end token exclusive, type);
    an I- tag that does not continue an entity of its type starts one (as seqeval reads it)."""
    spans: list[tuple[int, int, str]] = []
    start, kind = None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        parsed = _split(tag)
        p, t = parsed if parsed else ("O", None)
        if kind is not None and (p in ("O", "B", "S", "U") or t != kind):
            spans.append((start, i, kind))
            start, kind = None, None
        if p != "O" and kind is None:
            start, kind = i, t
    return spans


def tag_names(types: list[str]) -> list[str]:
    """The model's label list: O, then B-/I- for every entity type."""
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def entity_types(tag_lists) -> list[str]:
    types = {t for tags in tag_lists for tag in tags if (t := (_split(tag) or (None, None))[1])}
    return sorted(types, key=str.lower)


def _split(tag: str) -> tuple[str, str] | None:
    if tag == "O":
        return None
    p, _, t = tag.partition("-")
    return p.upper(), t


# ---- words and text -----------------------------------------------------------------------------


def is_cjk(ch: str) -> bool:
    return bool(_CJK.match(ch))


def split_words(text: str, boundaries: set[int] | None = None) -> list[tuple[int, int]]:
    """Character (start, end) of the words of ``text``: runs of letters / digits, single
    punctuation marks, single CJK characters. ``boundaries``: offsets a word must not cross."""
    cuts = sorted({0, len(text), *(b for b in (boundaries or ()) if 0 < b < len(text))})
    words = []
    for lo, hi in zip(cuts, cuts[1:]):
        words += [(lo + m.start(), lo + m.end()) for m in _WORD.finditer(text[lo:hi])]
    return words


def join_tokens(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """A readable text for a token list and each token's (start, end) in it: a space between
    tokens, none between two CJK characters."""
    parts, offsets, pos = [], [], 0
    for i, tok in enumerate(tokens):
        if i and not (
            tokens[i - 1][-1:] and tok[:1] and is_cjk(tokens[i - 1][-1]) and is_cjk(tok[0])
        ):
            parts.append(" ")
            pos += 1
        parts.append(tok)
        offsets.append((pos, pos + len(tok)))
        pos += len(tok)
    return "".join(parts), offsets


def char_level(token_lists) -> bool:
    """True when most tokens are single CJK characters (character-level Chinese / Japanese)."""
    total = single = 0
    for tokens in token_lists:
        for tok in tokens:
            total += 1
            single += len(tok) == 1 and is_cjk(tok)
    return total > 0 and single > 0.5 * total


def highlighted(text: str, spans: list[dict]) -> list[list]:
    """(substring, label or None) pairs covering ``text``, for gradio's HighlightedText."""
    out, pos = [], 0
    for s in sorted(spans, key=lambda s: s["start"]):
        if s["start"] > pos:
            out.append([text[pos : s["start"]], None])
        out.append([text[s["start"] : s["end"]], s["label"]])
        pos = s["end"]
    if pos < len(text):
        out.append([text[pos:], None])
    return out


def entity_dicts(
    tokens: list[str],
    tags: list[str],
    text: str | None = None,
    offsets: list[tuple[int, int]] | None = None,
) -> list[dict]:
    """The entities of a tagged sentence with token and character positions."""
    if text is None or offsets is None:
        text, offsets = join_tokens(tokens)
    out = []
    for a, b, kind in spans_from_tags(tags):
        start, end = offsets[a][0], offsets[b - 1][1]
        out.append(
            {
                "start_token": a,
                "end_token": b,
                "label": kind,
                "text": text[start:end],
                "start": start,
                "end": end,
            }
        )
    return out


# ---- reading files ------------------------------------------------------------------------------


def load_ner(path: str | Path, text_column: str = "", label_column: str = "") -> NerTable:
    """Read, check and normalise one NER file (see the module docstring for the shapes)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"File not found: {path}. Check the path or upload the file again.")
    if p.stat().st_size == 0:
        raise DataError(f"{p.name} is empty; add some tagged sentences.")
    suffix = p.suffix.lower()
    if suffix in CONLL_SUFFIXES and (suffix != ".txt" or _looks_like_conll(p)):
        rows, columns, fmt = _read_conll(p), {"tokens": "column 1", "tags": "last column"}, "conll"
    elif suffix in (".jsonl", ".json"):
        rows, columns, fmt = _read_json_rows(p, text_column, label_column)
    else:
        rows, columns, fmt = _read_table_rows(p, text_column, label_column)
    return _finish(rows, p.name, columns, fmt)


def _read_text(p: Path) -> str:
    # the data layer's size limit and encoding detection (BOM, UTF-16, GB18030, binary files...)
    from engine.data import read_text_file

    return read_text_file(p)[0]


def _looks_like_conll(p: Path) -> bool:
    lines = [ln for ln in _read_text(p).splitlines()[:200] if ln.strip()][:50]
    if not lines:
        return False
    tagged = sum(
        1
        for ln in lines
        if len(ln.split()) >= 2 and (ln.split()[-1] == "O" or _TAG.match(ln.split()[-1]))
    )
    return tagged >= 0.8 * len(lines)


def _read_conll(p: Path) -> list[dict]:
    """Sentences of a CoNLL file as rows {tokens, tags, where}."""
    rows: list[dict] = []
    tokens: list[str] = []
    tags: list[str] = []
    first = 0

    def close():
        nonlocal tokens, tags
        if tokens:
            rows.append({"tokens": tokens, "tags": tags, "where": f"{p.name} line {first}"})
        tokens, tags = [], []

    for number, line in enumerate(_read_text(p).splitlines(), start=1):
        fields = line.split()
        if not fields:
            close()
            continue
        if fields[0] == "-DOCSTART-":
            close()
            continue
        if len(fields) < 2:
            raise DataError(
                f"{p.name} line {number} has only one column ({line.strip()[:40]!r}); "
                "every line needs a token and its tag separated by a space or tab, "
                "with a blank line between sentences."
            )
        if not tokens:
            first = number
        tokens.append(fields[0])
        tags.append(fields[-1])
    close()
    return rows


def _read_json_rows(p: Path, text_column: str, label_column: str) -> tuple[list, dict, str]:
    text = _read_text(p)
    records: list[tuple[int, Any]] = []
    stripped = text.lstrip()
    if p.suffix.lower() == ".json" and stripped.startswith("["):
        try:
            data = _json_loads(text, p.name)
        except json.JSONDecodeError as e:
            raise DataError(
                f"{p.name} is not valid JSON ({e.msg} at line {e.lineno}); fix it or "
                "save it as JSON lines (.jsonl), one sentence per line."
            ) from None
        records = [(i + 1, r) for i, r in enumerate(data)]
        unit = "item"
    else:
        unit = "line"
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((number, _json_loads(line, p.name, f"{p.name} line {number}")))
            except json.JSONDecodeError as e:
                raise DataError(
                    f"{p.name} line {number} is not valid JSON ({e.msg} at column "
                    f"{e.colno}); fix or delete that line."
                ) from None
    if not records:
        raise DataError(f"{p.name} holds no sentences; add some tagged sentences.")
    for number, rec in records:
        if not isinstance(rec, dict):
            raise DataError(
                f"{p.name} {unit} {number} is not a JSON object; every {unit} must "
                'look like {"tokens": ["John", "lives"], "tags": ["B-PER", "O"]}.'
            )
    keys = list(dict.fromkeys(k for _, rec in records[:200] for k in rec))
    tok_col, tag_col = _pick_columns(keys, text_column, label_column, p.name)
    rows = [
        _row(rec.get(tok_col), rec.get(tag_col), f"{p.name} {unit} {number}", tok_col, tag_col)
        for number, rec in records
    ]
    return rows, {"tokens": tok_col, "tags": tag_col}, _format(rows, "jsonl")


def _read_table_rows(p: Path, text_column: str, label_column: str) -> tuple[list, dict, str]:
    df = load_table(p)
    tok_col, tag_col = _pick_columns(list(df.columns), text_column, label_column, p.name)
    rows = [
        _row(tok, tag, f"{p.name} row {i + 1}", tok_col, tag_col)
        for i, (tok, tag) in enumerate(zip(df[tok_col].tolist(), df[tag_col].tolist()))
    ]
    return rows, {"tokens": tok_col, "tags": tag_col}, _format(rows, "table")


def _format(rows: list[dict], default: str) -> str:
    return "spans" if rows and all(r.get("spans") for r in rows) else default


def _pick_columns(
    columns: list[str], text_column: str, label_column: str, name: str
) -> tuple[str, str]:
    listed = ", ".join(map(str, columns))
    for wanted, what in ((text_column, "text / tokens"), (label_column, "tags / spans")):
        if wanted and wanted not in columns:
            raise DataError(
                f"{name} has no column {wanted!r} (the {what} column); its columns are: {listed}."
            )
    lower = {str(c).lower(): c for c in columns}
    tag_col = label_column or next((lower[n] for n in TAG_NAMES if n in lower), "")
    tok_col = text_column or next(
        (lower[n] for n in TOKEN_NAMES if n in lower and lower[n] != tag_col), ""
    )
    if not tok_col or not tag_col:
        raise DataError(
            f"{name}: cannot tell which columns hold the tokens and the tags (its "
            f"columns are: {listed}); name them tokens and tags, or set the text "
            "and label columns."
        )
    return tok_col, tag_col


def _as_list(value: Any, where: str, column: str) -> list | None:
    """A list from a list, a JSON / Python list literal, or None for a missing value."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist"):  # numpy arrays from parquet
        return list(value.tolist())
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return list(json.loads(value))
        except (ValueError, RecursionError):
            try:
                return list(ast.literal_eval(value))
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                raise DataError(
                    f"{where}: column {column!r} starts like a list but is not valid "
                    'JSON; write it as ["a", "b"] or [[0, 5, "PER"]].'
                ) from None
    return None


def _row(tokens: Any, tags: Any, where: str, tok_col: str, tag_col: str) -> dict:
    """One input row as {tokens, tags, where} (tags as given, or IOB2 built from spans)."""
    tag_list = _as_list(tags, where, tag_col)
    if tag_list is None and isinstance(tags, str):
        tag_list = tags.split()
    if tag_list is None:
        tag_list = []
    if (
        tag_list
        and all(isinstance(t, (dict, list, tuple)) for t in tag_list)
        or (not tag_list and isinstance(tokens, str) and not tokens.strip().startswith("["))
    ):
        if not isinstance(tokens, str):
            raise DataError(
                f"{where}: column {tag_col!r} holds character spans, so column "
                f"{tok_col!r} must hold the text as a string."
            )
        return {**spans_to_tokens(tokens, tag_list, where), "where": where, "spans": True}
    if any(isinstance(t, bool) or isinstance(t, (int, float)) for t in tag_list):
        raise DataError(
            f"{where}: column {tag_col!r} holds numbers ({tag_list[:3]}...), which "
            "look like class ids; write the tag names instead (O, B-PER, I-PER, ...)."
        )
    token_list = _as_list(tokens, where, tok_col)
    if token_list is None:
        token_list = tokens.split() if isinstance(tokens, str) else []
    return {
        "tokens": ["" if t is None else str(t) for t in token_list],
        "tags": [str(t).strip() for t in tag_list],
        "where": where,
    }


def _span_fields(span: Any, where: str) -> tuple[Any, Any, Any]:
    if isinstance(span, dict):
        get = lambda *names: next((span[n] for n in names if n in span), None)  # noqa: E731
        return (
            get("start", "start_offset", "begin", "char_start"),
            get("end", "end_offset", "char_end", "stop"),
            get("label", "type", "entity", "tag", "entity_group", "labels"),
        )
    if isinstance(span, (list, tuple)) and len(span) >= 3:
        return span[0], span[1], span[2]
    raise DataError(
        f'{where}: the span {span!r} is neither {{"start": 0, "end": 5, '
        '"label": "PER"}} nor [0, 5, "PER"].'
    )


def spans_to_tokens(text: str, spans: list, where: str = "text") -> dict:
    """Tokens and IOB2 tags for ``text`` with character ``spans`` (end exclusive). Words are cut
    at span edges, so an entity inside a longer word still gets its own tokens."""
    cleaned = []
    for span in spans:
        start, end, label = _span_fields(span, where)
        if isinstance(label, list) and len(label) == 1:
            label = label[0]
        try:
            start, end = int(start), int(end)
        except (TypeError, ValueError):
            raise DataError(
                f"{where}: the span {span!r} needs whole-number start and end character offsets."
            ) from None
        if not label or not str(label).strip():
            raise DataError(f"{where}: the span {span!r} has no label.")
        if not 0 <= start < end <= len(text):
            raise DataError(
                f"{where}: the span {span!r} lies outside the text, which has "
                f"{len(text)} characters; spans are [start, end) character offsets "
                "counted from 0, with start < end."
            )
        if not text[start:end].strip():
            raise DataError(f"{where}: the span {span!r} covers only spaces.")
        cleaned.append((start, end, str(label).strip()))
    cleaned.sort()
    for (s1, e1, l1), (s2, e2, l2) in zip(cleaned, cleaned[1:]):
        if s2 < e1:
            raise DataError(
                f"{where}: the spans [{s1}, {e1}, {l1!r}] ({text[s1:e1]!r}) and "
                f"[{s2}, {e2}, {l2!r}] ({text[s2:e2]!r}) overlap; NER needs "
                "entities that do not overlap, so keep one of them."
            )
    words = split_words(text, {b for s, e, _ in cleaned for b in (s, e)})
    tags = ["O"] * len(words)
    for start, end, label in cleaned:
        inside = [i for i, (a, b) in enumerate(words) if a >= start and b <= end]
        for k, i in enumerate(inside):
            tags[i] = f"{'B' if k == 0 else 'I'}-{label}"
    return {"tokens": [text[a:b] for a, b in words], "tags": tags}


def _finish(rows: list[dict], name: str, columns: dict, fmt: str) -> NerTable:
    """Check every row, detect the scheme, convert to IOB2."""
    if not rows:
        raise DataError(f"{name} holds no sentences; add some tagged sentences.")
    given = []
    for row in rows:
        where, tokens, tags = row["where"], row["tokens"], row["tags"]
        if not tokens:
            raise DataError(f"{where} is an empty sentence (no tokens); remove it.")
        if len(tokens) != len(tags):
            raise DataError(
                f"{where} has {len(tokens)} tokens but {len(tags)} tags; every token "
                "needs exactly one tag."
            )
        for i, tag in enumerate(tags):
            parsed = parse_tag(tag, f"{where}, token {i + 1} ({tokens[i][:30]!r})")
            if parsed:
                tags[i] = f"{parsed[0]}-{parsed[1]}"
        if not row.get("spans"):
            given.append(tags)
    scheme = detect_scheme(given) if given else "spans"
    frame = pd.DataFrame(
        {
            "tokens": [r["tokens"] for r in rows],
            "tags": [to_iob2(r["tags"]) for r in rows],
            "row": [r["where"] for r in rows],
        }
    )
    if not any(t != "O" for tags in frame["tags"] for t in tags):
        raise DataError(
            f"{name} has no entities: every tag is O. Tag the entities (B-TYPE on the "
            "first token, I-TYPE on the rest), or check the tags column."
        )
    warnings = []
    if scheme == "IOB2":
        stray = sum(
            1
            for r in given
            for a, b in zip(["O"] + r, r)
            if b.startswith("I-") and (a == "O" or a[2:] != b[2:])
        )
        if stray:
            warnings.append(
                f"{stray} entities in {name} start with I- instead of B-; they are "
                "read as new entities."
            )
    return NerTable(frame, scheme, fmt, columns, warnings, char_level(frame["tokens"]))
