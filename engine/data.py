"""The data layer: load a user's table, check it, clean it and split it.

Everything a user can get wrong about their data ends here as a ``DataError`` whose message is one
or two plain sentences naming the file, the column and the fix. Plain pandas + scikit-learn; no UI
or ML framework is imported here.

Missing values (a judgement call): text files and Excel sheets are read with every cell as a
string and only truly empty cells count as missing. Labels such as "NA", "None" or "null" are kept
as ordinary labels, because pandas' default would turn them into NaN and silently drop those rows.
"""
from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import charset_normalizer
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet", ".xlsx")
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"
TEXT_NAMES = ("text", "sentence", "review", "content", "message", "question", "body", "document",
              "input")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "sentiment", "intent", "y",
               "topic", "output")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe (|)"}
MIN_ROWS = 4            # fewer usable rows than this cannot be split into train/validation/test
SMALL_CLASS = 5         # classes with fewer examples get a warning
IMBALANCE_RATIO = 5.0   # largest / smallest class at or above this gets a warning
# Single-byte encodings for Latin-script text; charset-normalizer often confuses them on short
# files (e.g. guesses cp1250 for French), so any of them is read as Windows-1252 instead.
_WESTERN = {"ascii", "cp1250", "cp1252", "latin_1", "iso8859_15", "iso8859_2", "iso8859_9",
            "cp1254", "cp1257", "cp850", "cp437", "mac_roman", "mac_latin2", "mac_iceland"}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NUMERIC = re.compile(r"[\d\s.,:;/+\-#()%$€£]*")


class DataError(ValueError):
    """A problem with the user's data. str(e) is one or two human sentences that name the file,
    the column if relevant, and the fix."""


# ---- loading ----------------------------------------------------------------------------------

def load_table(path: str | os.PathLike, max_rows: int | None = None,
               min_columns: int = 2) -> pd.DataFrame:
    """Read any supported file into a DataFrame with clean, unique string column names.

    ``max_rows`` reads only the first rows (for previews). ``df.attrs`` records the detected
    ``encoding`` and ``delimiter`` of text files. Raises DataError for anything unreadable.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"File not found: {path}. Check the path or upload the file again.")
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(f"{p.name} is not a supported file type ({suffix or 'no extension'}); "
                        f"save it as one of: {', '.join(SUPPORTED_SUFFIXES)}.")
    if p.stat().st_size == 0:
        raise DataError(f"{p.name} is empty; add a header row and some labelled rows.")
    nrows = max_rows if max_rows and max_rows > 0 else None
    if suffix in (".parquet", ".xlsx"):
        df = _read_binary(p, suffix, nrows)
    else:
        text, encoding = _decode(p.read_bytes(), p.name)
        df = _read_text(text, suffix, p.name, nrows)
        df.attrs["encoding"] = encoding
    df.columns = _clean_columns(df.columns)
    _check_shape(df, p.name, suffix, min_columns)
    return df


def _decode(data: bytes, name: str) -> tuple[str, str]:
    """UTF-16 (BOM) > UTF-8 (BOM stripped) > GB18030 if it reads as Chinese > charset-normalizer."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    if b"\x00" in data:
        raise DataError(f"{name} looks like a binary file, not text (it contains NUL bytes); "
                        "export it as CSV (UTF-8) or as an Excel .xlsx file.")
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8-sig"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
        if _looks_chinese(text):
            return text, "gb18030"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is not None and best.encoding not in _WESTERN:
        return str(best), best.encoding
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _looks_chinese(text: str) -> bool:
    """Latin-1 bytes often decode as rare GBK characters; real Chinese is mostly GB2312."""
    wide = [ch for ch in text[:200_000] if ord(ch) > 127][:20_000]
    if not any(_CJK.match(ch) for ch in wide):
        return False
    common = sum(1 for ch in wide if _encodes(ch, "gb2312"))
    return common >= 0.9 * len(wide)


def _encodes(ch: str, encoding: str) -> bool:
    try:
        ch.encode(encoding)
        return True
    except UnicodeEncodeError:
        return False


def _read_text(text: str, suffix: str, name: str, nrows: int | None) -> pd.DataFrame:
    if suffix == ".jsonl":
        return _read_json_lines(text, name, nrows)
    if suffix == ".json":
        return _read_json(text, name, nrows)
    sep = _sniff_delimiter(text, suffix)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                         na_values=[""], nrows=nrows)
    except pd.errors.EmptyDataError:
        raise DataError(f"{name} contains no rows; add a header row and some labelled rows.")
    except (pd.errors.ParserError, ValueError) as e:
        reason = str(e).strip().splitlines()[-1]
        raise DataError(f"{name} could not be read as a {DELIMITER_NAMES[sep]}-separated table "
                        f"({reason}). Put text that contains the delimiter in double quotes.")
    if not isinstance(df.index, pd.RangeIndex):
        raise DataError(f"Some rows of {name} have more {DELIMITER_NAMES[sep]}-separated fields "
                        "than the header. Put text that contains the delimiter in double quotes.")
    df.attrs["delimiter"] = sep
    return df


def _sniff_delimiter(text: str, suffix: str) -> str:
    """csv.Sniffer on a sample; trust it only if the header line contains its answer."""
    default = "\t" if suffix == ".tsv" else ","
    sample = text[:64_000]
    header = text.split("\n", 1)[0]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITER_NAMES)).delimiter
        if sniffed in header:
            return sniffed
    except csv.Error:
        pass
    if default in header:
        return default
    counts = {d: header.count(d) for d in DELIMITER_NAMES}
    best = max(counts, key=counts.get)
    return best if counts[best] else default


def _read_json_lines(text: str, name: str, nrows: int | None) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"Line {number} of {name} is not valid JSON ({e.msg}); "
                            "fix or delete that line.")
        if not isinstance(row, dict):
            raise DataError(f"Line {number} of {name} is not a JSON object; every line must look "
                            'like {"text": "...", "label": "..."}.')
        rows.append(row)
        if nrows and len(rows) >= nrows:
            break
    return pd.DataFrame(rows)


def _read_json(text: str, name: str, nrows: int | None) -> pd.DataFrame:
    """A list of objects, an object of equal-length column lists, or JSON lines."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if text.lstrip().startswith("["):
            raise DataError(f"{name} is not valid JSON ({e.msg} at line {e.lineno}); "
                            "fix the file or save it as JSON lines (.jsonl).")
        return _read_json_lines(text, name, nrows)
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return pd.DataFrame(data[:nrows] if nrows else data)
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        try:
            return pd.DataFrame(data).head(nrows) if nrows else pd.DataFrame(data)
        except ValueError:
            pass
    raise DataError(f"{name} must hold a list of objects such as "
                    '[{"text": "...", "label": "..."}, ...] or one object per line.')


def _read_binary(p: Path, suffix: str, nrows: int | None) -> pd.DataFrame:
    kind = "Parquet" if suffix == ".parquet" else "Excel"
    try:
        if suffix == ".parquet":
            df = pd.read_parquet(p, engine="pyarrow")
            return df.head(nrows) if nrows else df
        return pd.read_excel(p, sheet_name=0, engine="openpyxl", dtype=str, nrows=nrows,
                             keep_default_na=False, na_values=[""])
    except Exception as e:  # pyarrow/openpyxl raise many kinds of errors for broken files
        raise DataError(f"{p.name} could not be read as a {kind} file ({type(e).__name__}); "
                        "save it again from the program that made it, or export it as CSV.")


def _clean_columns(columns: Any) -> list[str]:
    """Strip names, name blank ones column_N, and make duplicates unique with _2, _3, ..."""
    names, seen = [], set()
    for i, col in enumerate(columns, start=1):
        name = str(col).strip().lstrip("\ufeff").strip()
        if not name or re.fullmatch(r"Unnamed: \d+", name):
            name = f"column_{i}"
        base, k = name, 2
        while name in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name)
        names.append(name)
    return names


def _check_shape(df: pd.DataFrame, name: str, suffix: str, min_columns: int) -> None:
    if len(df.columns) and len(df) == 0:
        raise DataError(f"{name} has a header ({', '.join(df.columns[:10])}) but no data rows; "
                        "add some labelled rows.")
    if len(df) == 0:
        raise DataError(f"{name} contains no rows; add a header row and some labelled rows.")
    if len(df.columns) < min_columns:
        seen = str(df.columns[0])[:80]
        if suffix in (".csv", ".tsv", ".txt"):
            raise DataError(f"{name} has only one column ({seen!r}), so the delimiter could not "
                            "be detected; separate the text and label columns with a comma, "
                            "semicolon, tab or |.")
        raise DataError(f"{name} has only one column ({seen!r}); it needs a text column and a "
                        "label column.")


# ---- column inference -------------------------------------------------------------------------

def infer_columns(df: pd.DataFrame, source: str = "the file", *, text_column: str = "",
                  label_column: str = "") -> tuple[str, str]:
    """Return (text_column, label_column); a column passed in is kept and the other inferred.

    Conventional names win (case-insensitive). Otherwise the text column is the string column
    with the longest average length among mostly-unique ones, and the label column is the last
    column with few distinct values (2 .. max(50, 5% of rows), and at most half the rows).
    """
    columns = [str(c) for c in df.columns]
    text = text_column or _by_name(columns, TEXT_NAMES, exclude=label_column)
    label = label_column or _by_name(columns, LABEL_NAMES, exclude=text)
    text = text or _guess_text(df, exclude=label)
    label = label or _guess_label(df, exclude=text)
    if not text or not label:
        missing = "text" if not text else "label"
        raise DataError(f"Could not tell which column of {source} holds the {missing} "
                        f"(columns: {', '.join(columns)}); pick the text and label columns "
                        "yourself.")
    return text, label


def _by_name(columns: list[str], names: tuple[str, ...], exclude: str) -> str:
    lowered = {c.strip().lower(): c for c in reversed(columns) if c != exclude}
    return next((lowered[n] for n in names if n in lowered), "")


def _guess_text(df: pd.DataFrame, exclude: str) -> str:
    best, best_score = "", (False, 0.0)
    for col in df.columns:
        if col == exclude:
            continue
        values = df[col].dropna()
        strings = values[values.map(lambda v: isinstance(v, str))]
        if strings.empty or len(strings) < 0.5 * len(values):
            continue
        if strings.str.fullmatch(_NUMERIC.pattern).mean() > 0.5:
            continue  # ids, numbers, dates
        score = (strings.nunique() >= 0.5 * len(strings), float(strings.str.len().mean()))
        if score > best_score:
            best, best_score = col, score
    return best


def _guess_label(df: pd.DataFrame, exclude: str) -> str:
    n = len(df)
    limit = min(max(50, 0.05 * n), max(2, n // 2))
    candidates = []
    for col in df.columns:
        if col == exclude:
            continue
        try:
            distinct = df[col].nunique()
        except TypeError:  # lists or dicts in the cells
            continue
        if 2 <= distinct <= limit and not _looks_like_dates(df[col]):
            candidates.append(col)
    return candidates[-1] if candidates else ""


def _looks_like_dates(values: pd.Series) -> bool:
    strings = values.dropna().astype(str)
    dates = strings.str.match(r"\d{4}-\d\d-\d\d|\d\d?/\d\d?/\d{2,4}")
    return bool(len(strings)) and dates.mean() > 0.5


# ---- the prepared data ------------------------------------------------------------------------

@dataclass
class DataSpec:
    train: pd.DataFrame        # columns "text", "label" (label name as str)
    validation: pd.DataFrame
    test: pd.DataFrame
    labels: list[str]          # natural-sorted label names; index = class id
    text_column: str
    label_column: str
    source: str
    warnings: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    test_source: str = ""      # the separate test file, if one was given

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    def to_dict(self) -> dict:
        """JSON-able summary without the frames (saved as data.json in a run folder)."""
        summary = {"source": self.source, "test_source": self.test_source,
                   "text_column": self.text_column, "label_column": self.label_column,
                   "labels": self.labels, "num_labels": len(self.labels),
                   "splits": {"train": len(self.train), "validation": len(self.validation),
                              "test": len(self.test)},
                   "warnings": self.warnings, "stats": self.stats}
        return json.loads(json.dumps(summary, default=_plain))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def natural_key(label: str) -> tuple:
    """Sort key so that "2" < "10" and "class2" < "class10"."""
    parts = re.split(r"(\d+)", label)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), label


def prepare_data(path: str | os.PathLike, text_column: str = "", label_column: str = "",
                 test_path: str = "", validation_fraction: float = 0.1,
                 test_fraction: float = 0.1, seed: int = 42, max_rows: int = 0,
                 max_length: int = 128) -> DataSpec:
    """Load, validate, clean and split a labelled table (see the module docstring)."""
    _check_fractions(validation_fraction, 0.0 if test_path else test_fraction)
    name, warnings = Path(path).name, []
    df = load_table(path)
    text_column = _resolve_column(df, text_column, name) if text_column else ""
    label_column = _resolve_column(df, label_column, name) if label_column else ""
    text_column, label_column = infer_columns(df, name, text_column=text_column,
                                              label_column=label_column)
    if text_column == label_column:
        raise DataError(f"The text and label columns of {name} are both {text_column!r}; "
                        "pick two different columns.")
    frame, dropped = _clean(df, text_column, label_column, name, warnings)
    _check_labels(frame, label_column, name, warnings)
    frame = _sample(frame, max_rows, seed, warnings)
    stats = {"rows_total": len(df), "rows_dropped": dropped, "rows_used": len(frame),
             "encoding": df.attrs.get("encoding", ""), "delimiter": df.attrs.get("delimiter", "")}
    stats.update(_quality(frame, max_length, warnings))

    if test_path:
        test = _load_test(test_path, text_column, label_column, frame, name, warnings)
        train, validation = _holdout(frame, validation_fraction, seed, "validation", warnings)
    else:
        rest, test = _holdout(frame, test_fraction, seed, "test", warnings)
        share = validation_fraction / (1 - test_fraction)
        train, validation = _holdout(rest, share, seed, "validation", warnings)
    _warn_overlap(pd.concat([train, validation]), test, test_path, warnings)
    labels = sorted(frame["label"].unique(), key=natural_key)
    return DataSpec(train, validation, test, labels, text_column, label_column, str(path),
                    warnings, stats, test_source=str(test_path or ""))


def _check_fractions(validation: float, test: float) -> None:
    if not (0 <= validation < 1 and 0 <= test < 1 and validation + test <= 0.9):
        raise DataError(f"The validation ({validation}) and test ({test}) fractions must each be "
                        "between 0 and 1 and leave at least 10% of the rows for training.")


def _resolve_column(df: pd.DataFrame, wanted: str, name: str, role: str = "") -> str:
    """The named column, matched exactly or case-insensitively; else a DataError with a hint.
    ``role`` ("source", "target"...) names what the column was asked for in the message."""
    columns = [str(c) for c in df.columns]
    if wanted in columns:
        return wanted
    lowered = {c.lower(): c for c in columns}
    if wanted.strip().lower() in lowered:
        return lowered[wanted.strip().lower()]
    close = difflib.get_close_matches(wanted.strip().lower(), list(lowered), n=1, cutoff=0.5)
    hint = f" Did you mean {lowered[close[0]]!r}?" if close else ""
    what = f"The {role} column" if role else "Column"
    raise DataError(f"{what} {wanted!r} is not in {name} (columns: {', '.join(columns)}).{hint}")


def _clean(df: pd.DataFrame, text_column: str, label_column: str, name: str,
           warnings: list[str]) -> tuple[pd.DataFrame, int]:
    """Two columns text/label as stripped strings; rows missing either are dropped (warned)."""
    text = df[text_column].map(_to_text)
    if text.isna().all():
        raise DataError(f"Column {text_column!r} in {name} has no text (every value is empty); "
                        "pick the column that holds the text.")
    label = _normalise_labels(df[label_column])
    keep = text.notna() & label.notna()
    dropped = int((~keep).sum())
    if dropped:
        warnings.append(f"{dropped} of {len(df)} rows in {name} were dropped because they have "
                        f"no text ({int(text.isna().sum())}) or no label "
                        f"({int(label.isna().sum())}).")
    frame = pd.DataFrame({"text": text[keep].astype(str), "label": label[keep].astype(str)})
    if len(frame) < MIN_ROWS:
        raise DataError(f"{name} has only {len(frame)} usable rows (with both text in "
                        f"{text_column!r} and a label in {label_column!r}); at least {MIN_ROWS} "
                        "are needed, and a few hundred work much better.")
    return frame.reset_index(drop=True), dropped


def _is_missing(value: Any) -> bool:
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return False
    return bool(pd.isna(value))


def _to_text(value: Any) -> str | None:
    if _is_missing(value):
        return None
    return str(value).strip() or None


def _normalise_labels(series: pd.Series) -> pd.Series:
    """Labels as stripped strings; 1.0 -> "1" (floats, or a column of "1.0"-style strings)."""
    def one(value: Any) -> str | None:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return _to_text(value)
    labels = series.map(one)
    present = labels.dropna().astype(str)
    if len(present) and present.str.fullmatch(r"-?\d+\.0+").all():
        labels = labels.map(lambda s: s.split(".")[0] if isinstance(s, str) else s)
    return labels


def _check_labels(frame: pd.DataFrame, label_column: str, name: str,
                  warnings: list[str]) -> None:
    counts = frame["label"].value_counts()
    n = len(frame)
    if len(counts) < 2:
        raise DataError(f"Column {label_column!r} in {name} has only one label "
                        f"({counts.index[0]!r}); a classifier needs at least two classes, so add "
                        "examples of another class or pick another label column.")
    if len(counts) == n or (len(counts) > 0.5 * n and len(counts) > 50):
        raise DataError(f"Column {label_column!r} in {name} has {len(counts)} different values "
                        f"in {n} rows, so it looks like an id or free text, not a label; pick the "
                        "column that holds the class.")
    numeric = int(frame["text"].str.fullmatch(_NUMERIC.pattern).sum())
    if numeric > 0.5 * n:
        warnings.append(f"{numeric} of {n} texts in {name} are only numbers or codes, so the "
                        "text column may be an id column; check that the right column is picked.")


def _sample(frame: pd.DataFrame, max_rows: int, seed: int, warnings: list[str]) -> pd.DataFrame:
    if max_rows <= 0 or len(frame) <= max_rows:
        return frame
    try:
        kept, _ = train_test_split(frame, train_size=max_rows, random_state=seed,
                                   stratify=frame["label"])
    except ValueError:  # classes too small to stratify
        kept = frame.sample(n=max_rows, random_state=seed)
    warnings.append(f"Using a sample of {max_rows} of the {len(frame)} rows (the max rows "
                    "setting).")
    return kept.reset_index(drop=True)


def _quality(frame: pd.DataFrame, max_length: int, warnings: list[str]) -> dict:
    """Warnings about balance, duplicates and length; returns the matching stats."""
    counts = frame["label"].value_counts()
    big, small = counts.index[0], counts.index[-1]
    if counts[big] >= IMBALANCE_RATIO * counts[small]:
        warnings.append(f"The classes are imbalanced: {big!r} has {counts[big]} examples but "
                        f"{small!r} only {counts[small]} ({counts[big] / counts[small]:.1f}x); "
                        "expect weaker results on the small classes.")
    rare = counts[counts < SMALL_CLASS]
    if len(rare):
        listed = ", ".join(f"{k!r} ({v})" for k, v in list(rare.items())[:10])
        warnings.append(f"{len(rare)} class(es) have fewer than {SMALL_CLASS} examples: {listed}; "
                        "the model can hardly learn them, so add examples or merge classes.")
    duplicates = int(frame["text"].duplicated().sum())
    conflicts = frame.groupby("text")["label"].nunique()
    conflicts = conflicts[conflicts > 1]
    if duplicates:
        warnings.append(f"{duplicates} row(s) repeat a text that appears earlier in the data.")
    if len(conflicts):
        warnings.append(f"{len(conflicts)} texts appear with different labels (e.g. "
                        f"{conflicts.index[0][:60]!r}); the model cannot learn both, so fix or "
                        "remove them.")
    tokens = frame["text"].map(estimate_tokens)
    long_texts = int((tokens > max_length).sum()) if max_length > 0 else 0
    if long_texts:
        warnings.append(f"{long_texts} of {len(frame)} texts ({long_texts / len(frame):.1%}) are "
                        f"longer than about {max_length} tokens and will be cut off; raise the "
                        "max length if their ends matter.")
    return {"label_counts": {k: int(counts[k]) for k in sorted(counts.index, key=natural_key)},
            "chars": _summary(frame["text"].str.len()),
            "words": _summary(frame["text"].map(word_count)),
            "duplicates": duplicates, "conflicting_duplicates": int(len(conflicts)),
            "long_texts": long_texts, "max_length": max_length}


def _summary(values: pd.Series) -> dict:
    return {"mean": round(float(values.mean()), 1), "p50": float(values.quantile(0.5)),
            "p95": float(values.quantile(0.95)), "max": int(values.max())}


def word_count(text: str) -> int:
    """Words, counting each CJK character as one word."""
    return len(_CJK.findall(text)) + len(_CJK.sub(" ", text).split())


def estimate_tokens(text: str) -> float:
    """About 1.3 sub-word tokens per word; BERT-style tokenizers give one per CJK character."""
    cjk = len(_CJK.findall(text))
    return cjk + 1.3 * len(_CJK.sub(" ", text).split())


def _holdout(frame: pd.DataFrame, fraction: float, seed: int, what: str,
             warnings: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split off ``fraction`` of the rows, stratified; single-example classes stay in the rest."""
    empty = frame.iloc[:0].copy()
    if fraction <= 0:
        return frame.reset_index(drop=True), empty
    counts = frame["label"].value_counts()
    lonely = frame["label"].isin(counts[counts < 2].index)
    pool, size = frame[~lonely], max(1, round(fraction * len(frame)))
    if len(pool) - size < 1:
        warnings.append(f"There are too few rows to hold out a {what} set, so it is empty.")
        return frame.reset_index(drop=True), empty
    try:
        rest, held = train_test_split(pool, test_size=size, random_state=seed,
                                      stratify=pool["label"])
    except ValueError:  # fewer rows than classes, or classes too small
        warnings.append(f"The {what} set could not keep the class proportions (too few examples "
                        "per class), so its rows were picked at random.")
        rest, held = train_test_split(pool, test_size=size, random_state=seed)
    rest = pd.concat([rest, frame[lonely]])
    return rest.reset_index(drop=True), held.reset_index(drop=True)


def _load_test(test_path: str, text_column: str, label_column: str, train: pd.DataFrame,
               train_name: str, warnings: list[str]) -> pd.DataFrame:
    """The user's test file, cleaned like the data; rows with labels unseen in training dropped."""
    name = Path(test_path).name
    df = load_table(test_path)
    missing = [c for c in (text_column, label_column) if c not in df.columns]
    if missing:
        raise DataError(f"The test file {name} lacks the column(s) {', '.join(map(repr, missing))} "
                        f"that {train_name} has (its columns: {', '.join(df.columns)}); give both "
                        "files the same column names.")
    test, _ = _clean(df, text_column, label_column, name, warnings)
    known = set(train["label"])
    unseen = sorted(set(test["label"]) - known, key=natural_key)
    if len(unseen) == test["label"].nunique():
        raise DataError(f"None of the labels in {name} ({', '.join(unseen[:10])}) appear in "
                        f"{train_name}; check that both files use the same label names.")
    if unseen:
        dropped = int((~test["label"].isin(known)).sum())
        warnings.append(f"{dropped} rows of {name} have labels never seen in {train_name} "
                        f"({', '.join(unseen[:10])}) and were left out of the test set, since the "
                        "model cannot predict them.")
        test = test[test["label"].isin(known)].reset_index(drop=True)
    return test


def _warn_overlap(train: pd.DataFrame, test: pd.DataFrame, test_path: str,
                  warnings: list[str]) -> None:
    seen = set(train["text"].map(_key))
    shared = int(test["text"].map(_key).isin(seen).sum())
    if not shared:
        return
    where = f"rows of {Path(test_path).name}" if test_path else "test texts"
    warnings.append(f"{shared} of {len(test)} {where} also appear in the training data, so test "
                    "scores will look better than they really are; remove the duplicates for an "
                    "honest score.")


def _key(text: str) -> str:
    return " ".join(text.lower().split())


# ---- small helpers for the UI -----------------------------------------------------------------

def label_distribution(df: pd.DataFrame, label_column: str) -> pd.DataFrame:
    """Columns label, count (natural label order), for a bar chart."""
    labels = _normalise_labels(df[label_column]).dropna().astype(str)
    counts = labels.value_counts()
    order = sorted(counts.index, key=natural_key)
    return pd.DataFrame({"label": order, "count": [int(counts[k]) for k in order]})


def text_lengths(df: pd.DataFrame, text_column: str) -> pd.Series:
    """Words per non-empty text (CJK characters count as words)."""
    texts = df[text_column].map(_to_text).dropna()
    return texts.astype(str).map(word_count).astype(int).rename("words")


def list_sample_files() -> list[Path]:
    """The bundled example tables in <repo>/sample_data."""
    from engine.tasks import guess_task

    if not SAMPLE_DIR.is_dir():
        return []
    files = [p for p in SAMPLE_DIR.iterdir()
             if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES + (".conll",)]
    # the text-classification samples first (the first one is the Data tab's default), then the
    # other tasks' samples grouped by task
    return sorted(files, key=lambda p: (guess_task(p.name) or "", p.name))
