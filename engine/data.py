"""The data layer: load a user's table, check it, clean it and split it.

Everything a user can get wrong about their data ends here as a ``DataError`` whose message is one
or two plain sentences naming the file, the column and the fix. Plain pandas + scikit-learn; no UI
or ML framework is imported here.

Missing values (a judgement call): text files and Excel sheets are read with every cell as a
string and only truly empty cells count as missing. Labels such as "NA", "None" or "null" are kept
as ordinary labels, because pandas' default would turn them into NaN and silently drop those rows.

Hostile or broken files: a file larger than ``max_file_bytes()`` (``MAX_FILE_BYTES``, or
``ADAPTUNE_MAX_UPLOAD_MB``) is refused before it is read; a compressed Excel / Parquet file whose
content unpacks to more than ``UNPACKED_FACTOR`` times that, or a table with more than
``MAX_COLUMNS`` columns, is refused too. Whatever pandas, pyarrow, openpyxl or the decoders raise
for a damaged file comes back as a ``DataError`` naming the file (and the line where it can be
found), never as another exception.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import logging
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import charset_normalizer
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet", ".xlsx")
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"
TEXT_NAMES = (
    "text",
    "sentence",
    "review",
    "content",
    "message",
    "question",
    "body",
    "document",
    "input",
)
LABEL_NAMES = (
    "label",
    "labels",
    "class",
    "category",
    "target",
    "sentiment",
    "intent",
    "y",
    "topic",
    "output",
)
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe (|)"}
MIN_ROWS = 4  # fewer usable rows than this cannot be split into train/validation/test
SMALL_CLASS = 5  # classes with fewer examples get a warning
IMBALANCE_RATIO = 5.0  # largest / smallest class at or above this gets a warning
# Limits for hostile or accidental inputs (each has its own human message):
MAX_FILE_BYTES = 100 * 1024 * 1024  # files above this are refused unread; env override below
MAX_UPLOAD_ENV = "ADAPTUNE_MAX_UPLOAD_MB"  # e.g. ADAPTUNE_MAX_UPLOAD_MB=500
UNPACKED_FACTOR = 5  # .xlsx / .parquet content may unpack to 5x the file limit, not more
MAX_COLUMNS = 1_000  # a text and a label column are needed; 1,000 is far beyond any real table
MAX_COLUMN_NAME_CHARS = 200  # longer header names are cut (a whole sentence read as a header)
SNIFF_CHARS = 16_000  # csv.Sniffer's quote regex is quadratic in its sample; keep it small
SAMPLE_BYTES = 256 * 1024  # bytes looked at to guess an encoding
BINARY_CONTROL_SHARE = 0.05  # decoded text with more control characters than this is binary
# Single-byte encodings for Latin-script text; charset-normalizer often confuses them on short
# files (e.g. guesses cp1250 for French, or the Baltic DOS code page cp775 for Windows "smart
# quotes"), so any of them is read as Windows-1252 instead.
_WESTERN = {
    "ascii",
    "cp1250",
    "cp1252",
    "latin_1",
    "iso8859_15",
    "iso8859_2",
    "iso8859_9",
    "cp1254",
    "cp1257",
    "cp850",
    "cp437",
    "mac_roman",
    "mac_latin2",
    "mac_iceland",
    "cp775",
    "cp852",
    "cp858",
    "cp860",
    "cp861",
    "cp863",
    "cp865",
    "mac_turkish",
    "iso8859_3",
    "iso8859_4",
    "iso8859_10",
    "iso8859_13",
    "iso8859_14",
    "iso8859_16",
}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NUMERIC = re.compile(r"[\d\s.,:;/+\-#()%$€£]*")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HALFWIDTH_KANA = re.compile(r"[\uff61-\uff9f]")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_CJK_PUNCT = re.compile(r"[\u3000-\u303f\uff01-\uff60\uffe0-\uffee\u2000-\u206f\u00a0-\u00ff]")
# control characters that do not occur in text (tab, newlines, form feed are allowed)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# well-known binary formats by their first bytes: what the file is and what to do
_MAGIC = (
    (
        b"PK\x03\x04",
        "a ZIP archive (an Excel .xlsx workbook is one: give it the .xlsx "
        "extension), not a text table",
    ),
    (
        b"\xd0\xcf\x11\xe0",
        "an old-style Excel .xls (or Word) file; save it as .xlsx or as CSV (UTF-8)",
    ),
    (b"\x89PNG", "a PNG image, not a table"),
    (b"\xff\xd8\xff", "a JPEG image, not a table"),
    (b"GIF8", "a GIF image, not a table"),
    (b"%PDF", "a PDF document, not a table; export the table from it as CSV"),
    (b"\x1f\x8b", "gzip-compressed; decompress it first"),
    (b"BZh", "bzip2-compressed; decompress it first"),
    (b"\xfd7zXZ", "xz-compressed; decompress it first"),
    (b"7z\xbc\xaf", "a 7-Zip archive; extract the table first"),
    (b"PAR1", "a Parquet file; give it the .parquet extension"),
    (b"SQLite format 3", "an SQLite database; export the table as CSV"),
)


class DataError(ValueError):
    """A problem with the user's data. str(e) is one or two human sentences that name the file,
    the column if relevant, and the fix."""


# ---- limits and names -------------------------------------------------------------------------


def max_file_bytes() -> int:
    """The largest file read: ``ADAPTUNE_MAX_UPLOAD_MB`` (megabytes, read at each call) when set to
    a positive number, else ``MAX_FILE_BYTES``."""
    raw = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    if raw:
        try:
            mb = float(raw)
            if mb > 0:
                return int(mb * 1024 * 1024)
        except ValueError:
            pass
        log.warning(
            "%s=%r is not a positive number of megabytes; using %d MB",
            MAX_UPLOAD_ENV,
            raw,
            MAX_FILE_BYTES // (1024 * 1024),
        )
    return MAX_FILE_BYTES


def _megabytes(n: int) -> str:
    mb = n / (1024 * 1024)
    if mb < 1:
        return f"{n / 1024:,.0f} KB"
    return f"{mb:,.0f} MB" if mb >= 10 else f"{mb:,.1f} MB"


def display_name(path: str | os.PathLike) -> str:
    """The file name as messages show it: control characters (a newline would cut a one-line
    message) become "?", and a very long name is shortened in the middle."""
    name = Path(path).name or str(path)
    name = _NAME_CONTROL.sub("?", name)
    return name if len(name) <= 120 else f"{name[:80]}…{name[-30:]}"


def check_file_size(path: str | os.PathLike, name: str = "") -> int:
    """The file's size in bytes; DataError when it is empty or larger than ``max_file_bytes()``.
    Nothing is read."""
    p = Path(path)
    name = name or display_name(p)
    size = p.stat().st_size
    if size == 0:
        raise DataError(f"{name} is empty; add a header row and some labelled rows.")
    limit = max_file_bytes()
    if size > limit:
        raise _too_large(name, size, limit)
    return size


def _too_large(name: str, size: int, limit: int, what: str = "") -> DataError:
    return DataError(
        f"{name} is too large: {what}{_megabytes(size)}, more than the "
        f"{_megabytes(limit)} this studio reads. Use a sample of the rows (or fewer "
        f"columns), or raise the limit with the environment variable "
        f"{MAX_UPLOAD_ENV}."
    )


def read_text_file(path: str | os.PathLike) -> tuple[str, str]:
    """(text, encoding) of a text file: size-checked before it is read, decoded as ``_decode``
    does; DataError for anything unreadable."""
    p = Path(path)
    name = display_name(p)
    check_file_size(p, name)
    try:
        return _decode(p.read_bytes(), name)
    except MemoryError:
        raise DataError(f"{name} is too large to read into memory; use a sample of it.") from None
    except OSError as e:
        raise DataError(
            f"{name} could not be read ({e.strerror or 'read error'}); upload it again."
        ) from None


def _columns_text(columns: Any, limit: int = 20) -> str:
    """ "a, b, c" / "a, b, ... and 980 more" for messages."""
    names = [_NAME_CONTROL.sub("?", str(c)) for c in columns]
    shown = ", ".join(n if len(n) <= 60 else n[:57] + "…" for n in names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def _unexpected(name: str, kind: str, error: BaseException, reading: bool = True) -> DataError:
    """The last resort for an error no specific check caught: a plain message (the original is
    logged and chained as the cause). ``unexpected`` marks it for tests."""
    log.warning(
        "unexpected error while %s %s", "reading" if reading else "preparing", name, exc_info=error
    )
    if reading:
        text = (
            f"{name} could not be read as {kind}; it may be damaged. Open it in the "
            "program that made it and save it again, or export it as CSV (UTF-8)."
        )
    else:
        text = (
            f"{name} could not be prepared for training: some of its cells hold values that "
            "are not plain text or labels. Save it as a plain table (CSV, UTF-8) with one "
            "text and one label per row."
        )
    err = DataError(text)
    err.unexpected = True  # type: ignore[attr-defined]
    return err


# ---- loading ----------------------------------------------------------------------------------


def load_table(
    path: str | os.PathLike, max_rows: int | None = None, min_columns: int = 2
) -> pd.DataFrame:
    """Read any supported file into a DataFrame with clean, unique string column names.

    ``max_rows`` reads only the first rows (for previews). ``df.attrs`` records the detected
    ``encoding`` and ``delimiter`` of text files. Raises DataError for anything unreadable (too
    large, binary, badly encoded, damaged, too many columns...), and nothing else.
    """
    p = Path(path)
    name = display_name(p)
    try:
        exists = p.is_file()
    except (OSError, ValueError):  # a name too long for the system, or with a NUL character
        exists = False
    if not exists:
        given = _NAME_CONTROL.sub("?", str(path))
        given = given if len(given) <= 200 else f"{given[:120]}…{given[-60:]}"
        raise DataError(f"File not found: {given}. Check the path or upload the file again.")
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"{name} is not a supported file type ({suffix or 'no extension'}); "
            f"save it as one of: {', '.join(SUPPORTED_SUFFIXES)}."
        )
    kind = {
        ".parquet": "a Parquet file",
        ".xlsx": "an Excel workbook",
        ".json": "a JSON file",
        ".jsonl": "a JSON lines file",
    }.get(suffix, "a text table")
    nrows = max_rows if max_rows and max_rows > 0 else None
    try:
        check_file_size(p, name)
        if suffix in (".parquet", ".xlsx"):
            df = _read_binary(p, suffix, nrows, name)
        else:
            text, encoding = _decode(p.read_bytes(), name)
            df = _read_text(text, suffix, name, nrows)
            df.attrs["encoding"] = encoding
        df.columns = _clean_columns(df.columns)
        _check_shape(df, name, suffix, min_columns)
    except DataError:
        raise
    except MemoryError:
        raise DataError(
            f"{name} is too large to load into memory; use a sample of its rows."
        ) from None
    except RecursionError:
        raise DataError(
            f"{name} is nested too deeply to read as a table; flatten it to one record per row."
        ) from None
    except OSError as e:
        raise DataError(
            f"{name} could not be read ({e.strerror or 'read error'}); upload it again."
        ) from None
    except Exception as e:
        raise _unexpected(name, kind, e) from e
    return df


def _decode(data: bytes, name: str) -> tuple[str, str]:
    """(text, encoding) of a text file's bytes; DataError for binary data.

    UTF-32 / UTF-16 (BOM) > UTF-16 without a BOM (zero bytes in every other position) > UTF-8
    (BOM stripped) > Japanese (Shift-JIS, EUC-JP) if it reads as kana + kanji > Korean (CP949) if
    it reads as Hangul > GB18030 if it reads as Chinese > charset-normalizer > Windows-1252.
    """
    limit = max_file_bytes()
    if len(data) > limit:
        raise _too_large(name, len(data), limit)
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{name} starts like a {encoding.upper()} text file but byte "
                    f"{e.start + 1:,} is not valid {encoding.upper()}; save it again "
                    "as CSV (UTF-8)."
                ) from None
            return _checked_text(text, name), encoding
    if b"\x00" in data:
        utf16 = _utf16_without_bom(data)
        if utf16:
            return utf16
        raise _binary_error(data, name)
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        return _checked_text(data.decode("utf-8-sig"), name), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError:
        pass
    magic = _magic(data)
    if magic:
        raise DataError(f"{name} looks like {magic}.")
    guessed = _guess_east_asian(data)
    if guessed:
        return _checked_text(guessed[0], name), guessed[1]
    encoding = _charset_guess(data)
    if encoding and encoding not in _WESTERN:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):  # the guess came from a sample
            text = None
        if text is not None:
            return _checked_text(text, name), encoding
    try:
        return _checked_text(data.decode("cp1252"), name), "cp1252"
    except UnicodeDecodeError:
        return _checked_text(data.decode("latin-1"), name), "latin-1"


def _charset_guess(data: bytes) -> str | None:
    """charset-normalizer's guess from the first SAMPLE_BYTES; None when it has none."""
    try:
        best = charset_normalizer.from_bytes(data[:SAMPLE_BYTES]).best()
    except Exception:  # noqa: BLE001 - a heuristic must not break loading
        return None
    return best.encoding if best is not None else None


def _checked_text(text: str, name: str) -> str:
    """The decoded text, or DataError when it is full of control characters (binary data that
    happened to decode) or holds NUL characters."""
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise DataError(
            f"{name} contains a NUL (zero) character on line {line:,}, which text "
            "files do not have, so it may be damaged; remove it or export the file "
            "again as CSV (UTF-8)."
        )
    head = text[:100_000]
    controls = len(_CONTROL.findall(head))
    if controls >= 8 and controls > BINARY_CONTROL_SHARE * len(head):
        raise DataError(
            f"{name} looks like a binary file, not text (it is full of control "
            "characters); export it as CSV (UTF-8) or as an Excel .xlsx file."
        )
    return text


def _magic(data: bytes) -> str:
    return next((what for sig, what in _MAGIC if data.startswith(sig)), "")


def _binary_error(data: bytes, name: str) -> DataError:
    """The message for bytes with NUL bytes that are not UTF-16 text."""
    magic = _magic(data)
    if magic:
        return DataError(f"{name} looks like {magic}.")
    nuls = data.count(b"\x00")
    if nuls <= max(1, len(data) // 100):
        try:
            data.replace(b"\x00", b"").decode("utf-8")
            line = data[: data.index(b"\x00")].count(b"\n") + 1
            what = "a NUL (zero) byte" if nuls == 1 else f"{nuls:,} NUL (zero) bytes"
            return DataError(
                f"{name} contains {what} (first on line {line:,}), which text "
                "files do not have, so it may be damaged; remove them or export "
                "the file again as CSV (UTF-8)."
            )
        except UnicodeDecodeError:
            pass
    return DataError(
        f"{name} looks like a binary file, not text (it contains NUL bytes); "
        "export it as CSV (UTF-8) or as an Excel .xlsx file."
    )


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """UTF-16 text saved without a byte-order mark: ASCII characters put a zero byte in every
    other position (odd positions for little-endian). At least 8 such characters, a line break
    (or a short file) and no control characters are needed to believe it."""
    head = data[: SAMPLE_BYTES - SAMPLE_BYTES % 2]
    units = len(head) // 2
    if len(data) % 2 or units < 2:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    for encoding, zeros, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros < max(8, 0.05 * units) or other > 0.25 * zeros:
            continue
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        sample = text[:100_000]
        if (
            ("\n" in sample or "\r" in sample or len(text) < 200)
            and "\x00" not in sample
            and len(_CONTROL.findall(sample)) <= 0.01 * len(sample)
        ):
            return text, encoding
    return None


def _guess_east_asian(data: bytes) -> tuple[str, str] | None:
    """(text, encoding) when the bytes read as Japanese, Korean or Chinese text in one of their
    usual legacy encodings; None otherwise. Each candidate must decode without error and give
    characters typical of its language (kana for Japanese, Hangul for Korean, common GB2312
    characters for Chinese)."""
    sample, final = data[:SAMPLE_BYTES], len(data) <= SAMPLE_BYTES
    for encoding, looks_right in (
        ("cp932", _looks_japanese),
        ("euc_jp", _looks_japanese),
        ("cp949", _looks_korean),
        ("gb18030", _looks_chinese),
    ):
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(sample, final=final)
            if not looks_right(text):
                continue
            return (text if final else data.decode(encoding)), encoding
        except UnicodeDecodeError:
            continue
    return None


def _wide(text: str) -> list[str]:
    """The first 20,000 non-ASCII characters that are not punctuation or Latin-1 letters."""
    return [ch for ch in text[:200_000] if ord(ch) > 127 and not _CJK_PUNCT.match(ch)][:20_000]


def _looks_japanese(text: str) -> bool:
    """Japanese is written with kana between the kanji; a misread of other bytes gives kanji or
    half-width katakana without them."""
    wide = _wide(text)
    if len(wide) < 4:
        return False
    kana = sum(1 for ch in wide if _KANA.match(ch))
    halfwidth = sum(1 for ch in wide if _HALFWIDTH_KANA.match(ch))
    typical = sum(1 for ch in wide if _CJK.match(ch))
    return kana >= 0.1 * len(wide) and halfwidth <= 0.02 * len(wide) and typical >= 0.95 * len(wide)


def _looks_korean(text: str) -> bool:
    """Korean is almost all Hangul syllables; Chinese bytes read as CP949 give about half."""
    wide = _wide(text)
    hangul = sum(1 for ch in wide if _HANGUL.match(ch))
    return hangul >= 10 and hangul >= 0.9 * len(wide)


def _looks_chinese(text: str) -> bool:
    """Latin-1 bytes often decode as rare GBK characters; real Chinese is mostly GB2312 and has
    (almost) no kana."""
    wide = [ch for ch in text[:200_000] if ord(ch) > 127][:20_000]
    if not any(_CJK.match(ch) for ch in wide):
        return False
    if sum(1 for ch in wide if _KANA.match(ch)) > 0.05 * len(wide):
        return False  # Japanese (EUC-JP shares GB2312's kana rows)
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
    header = _first_record(text, sep)
    if header is not None and len(header) > MAX_COLUMNS:
        raise _too_many_columns(name, len(header), f"{DELIMITER_NAMES[sep]}-separated ")
    try:
        # bytes rather than a StringIO: the parser reads UTF-8 natively, and a StringIO would
        # hold the text again at 4 bytes per character
        df = pd.read_csv(
            io.BytesIO(text.encode("utf-8", errors="replace")),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            nrows=nrows,
            encoding="utf-8",
        )
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{name} contains no rows; add a header row and some labelled rows."
        ) from None
    except (pd.errors.ParserError, ValueError, OverflowError) as e:
        raise _parse_error(e, text, sep, name) from None
    if not isinstance(df.index, pd.RangeIndex):
        width = len(header) if header is not None else len(df.columns)
        line = _first_long_line(text, sep, width)
        where = (
            f"Line {line:,} of {name} (and maybe others) has"
            if line
            else f"Some rows of {name} have"
        )
        raise DataError(
            f"{where} more {DELIMITER_NAMES[sep]}-separated fields than the "
            "header. Put text that contains the delimiter in double quotes."
        )
    df.attrs["delimiter"] = sep
    return df


def _too_many_columns(name: str, count: int, what: str = "") -> DataError:
    return DataError(
        f"{name} has {count:,} {what}columns, more than the {MAX_COLUMNS:,} this "
        "studio reads; keep the text and label columns (and a few others) and "
        "delete the rest, or check that the delimiter is right."
    )


_CSV_FIELD_LIMIT = 2**31 - 1  # fits a C long everywhere


def _csv_reader(text: str, sep: str):
    """csv.reader over ``text`` that accepts long cells (the module's 128 KB default would
    refuse a long text; raising the process-wide limit harms nobody)."""
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    return csv.reader(io.StringIO(text), delimiter=sep)


def _first_record(text: str, sep: str) -> list[str] | None:
    """The header's fields (the first line; a header rarely holds a quoted line break)."""
    end = text.find("\n")
    try:
        return next(_csv_reader(text if end < 0 else text[:end], sep), None)
    except csv.Error:
        return None


def _first_long_line(text: str, sep: str, width: int) -> int:
    """The line where the first record with more than ``width`` fields starts (0: none found)."""
    try:
        reader, line = _csv_reader(text, sep), 1
        for fields in reader:
            if len(fields) > width:
                return line
            line = reader.line_num + 1
    except csv.Error:
        pass
    return 0


def _unclosed_quote_line(text: str, sep: str) -> int:
    """The line where the last record starts: with an unclosed quote, the quote's line."""
    try:
        reader, line, start = _csv_reader(text, sep), 1, 0
        for fields in reader:
            if fields:
                start = line
            line = reader.line_num + 1
        return start
    except csv.Error:
        return 0


def _parse_error(error: BaseException, text: str, sep: str, name: str) -> DataError:
    """A plain message for the pandas parser's errors, with the line where it can be seen."""
    delimiter = DELIMITER_NAMES[sep]
    reason = str(error)
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", reason)
    if fields:
        want, line, saw = (int(g) for g in fields.groups())
        return DataError(
            f"Line {line:,} of {name} has {saw:,} {delimiter}-separated fields but "
            f"the header has {want:,}. Put text that contains the delimiter in "
            "double quotes, or remove the extra fields."
        )
    if "EOF inside string" in reason or "EOF while" in reason:
        line = _unclosed_quote_line(text, sep)
        where = f" on line {line:,}" if line else ""
        return DataError(
            f'{name} has a double quote ("){where} that is never closed, so the '
            "rest of the file reads as one cell; close the quote, or double it "
            '("") if it is part of the text.'
        )
    return DataError(
        f"{name} could not be read as a {delimiter}-separated table (a row is "
        "malformed). Put text that contains the delimiter or line breaks in double "
        "quotes, and check that every row has as many fields as the header."
    )


def _sniff_delimiter(text: str, suffix: str) -> str:
    """csv.Sniffer on a sample; trust it only if the header line contains its answer."""
    default = "\t" if suffix == ".tsv" else ","
    sample = text[:SNIFF_CHARS]
    end = text.find("\n")
    header = text if end < 0 else text[:end]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITER_NAMES)).delimiter
        if sniffed in header:
            return sniffed
    except Exception:  # noqa: BLE001 - csv.Error, or anything else from a heuristic
        pass
    if default in header:
        return default
    counts = {d: header.count(d) for d in DELIMITER_NAMES}
    best = max(counts, key=counts.get)
    return best if counts[best] else default


def _json_loads(text: str, name: str, where: str = "") -> Any:
    """json.loads with the non-JSONDecodeError failures (numbers with thousands of digits,
    nesting too deep) as DataError; JSONDecodeError is left to the caller."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise DataError(
            f"{where or name} is nested too deeply to read; flatten it to one record per row."
        ) from None
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise DataError(
            f"{where or name} holds a number too long to read (thousands of "
            "digits); write very long numbers as text in quotes."
        ) from None


def _read_json_lines(text: str, name: str, nrows: int | None) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = _json_loads(line, name, f"Line {number:,} of {name}")
        except json.JSONDecodeError as e:
            raise DataError(
                f"Line {number:,} of {name} is not valid JSON ({e.msg} at column "
                f"{e.colno:,}); fix or delete that line."
            ) from None
        if not isinstance(row, dict):
            raise DataError(
                f"Line {number:,} of {name} is not a JSON object; every line must "
                'look like {"text": "...", "label": "..."}.'
            )
        if len(row) > MAX_COLUMNS:
            raise _too_many_columns(name, len(row))
        rows.append(row)
        if nrows and len(rows) >= nrows:
            break
    return pd.DataFrame(rows)


def _read_json(text: str, name: str, nrows: int | None) -> pd.DataFrame:
    """A list of objects, an object of equal-length column lists, or JSON lines."""
    try:
        data = _json_loads(text, name)
    except json.JSONDecodeError as e:
        if text.lstrip().startswith("["):
            raise DataError(
                f"{name} is not valid JSON ({e.msg} at line {e.lineno:,}, column "
                f"{e.colno:,}); fix the file or save it as JSON lines (.jsonl)."
            ) from None
        return _read_json_lines(text, name, nrows)
    example = '[{"text": "...", "label": "..."}, ...] or one object per line'
    if isinstance(data, list):
        bad = next((i for i, row in enumerate(data, start=1) if not isinstance(row, dict)), 0)
        if bad:
            raise DataError(
                f"Item {bad:,} of the list in {name} is not an object; {name} must "
                f"hold a list of objects such as {example}."
            )
        width = max((len(row) for row in data[:10_000]), default=0)
        if width > MAX_COLUMNS:
            raise _too_many_columns(name, width)
        return pd.DataFrame(data[:nrows] if nrows else data)
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        if len(data) > MAX_COLUMNS:
            raise _too_many_columns(name, len(data))
        lengths = {len(v) for v in data.values()}
        if len(lengths) == 1:
            df = pd.DataFrame(data)
            return df.head(nrows) if nrows else df
        raise DataError(
            f"The column lists in {name} have different lengths "
            f"({', '.join(f'{n:,}' for n in sorted(lengths)[:5])}); give every "
            f"column the same number of values, or write {example}."
        )
    what = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "true / false",
        type(None): "null",
        int: "a number",
        float: "a number",
    }.get(type(data), "a value")
    raise DataError(
        f"{name} holds {what}, not a table; it must hold a list of objects such as {example}."
    )


def _read_binary(p: Path, suffix: str, nrows: int | None, name: str = "") -> pd.DataFrame:
    name = name or display_name(p)
    kind = "a Parquet" if suffix == ".parquet" else "an Excel"
    limit = UNPACKED_FACTOR * max_file_bytes()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            meta = pq.read_metadata(p)
            if meta.num_columns > MAX_COLUMNS:
                raise _too_many_columns(name, meta.num_columns)
            unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            if unpacked > limit:
                raise _too_large(name, unpacked, limit, "its data unpacks to ")
            df = pd.read_parquet(p, engine="pyarrow")
            return df.head(nrows) if nrows else df
        with open(p, "rb") as f:
            head = f.read(8)
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise DataError(
                f"{name} is an old-style Excel .xls file saved with an .xlsx name; "
                "open it in Excel and save it as .xlsx, or export it as CSV (UTF-8)."
            )
        with zipfile.ZipFile(p) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > limit:
            raise _too_large(name, unpacked, limit, "its sheets unpack to ")
        df = pd.read_excel(
            p,
            sheet_name=0,
            engine="openpyxl",
            dtype=str,
            nrows=nrows,
            keep_default_na=False,
            na_values=[""],
        )
        if len(df.columns) > MAX_COLUMNS:
            raise _too_many_columns(name, len(df.columns))
        return df
    except (DataError, MemoryError, RecursionError):
        raise
    except Exception:  # noqa: BLE001 - pyarrow/openpyxl/zipfile raise many kinds for broken files
        raise DataError(
            f"{name} could not be read as {kind} file: it is damaged, cut short or "
            f"not really {kind} file. Save it again from the program that made it, "
            "or export it as CSV (UTF-8)."
        ) from None


def _clean_columns(columns: Any) -> list[str]:
    """Strip names, name blank ones column_N, cut very long ones, and make duplicates unique with
    _2, _3, ..."""
    names, seen = [], set()
    for i, col in enumerate(columns, start=1):
        name = str(col).strip().lstrip("\ufeff").strip()
        if not name or re.fullmatch(r"Unnamed: \d+", name):
            name = f"column_{i}"
        if len(name) > MAX_COLUMN_NAME_CHARS:
            name = name[: MAX_COLUMN_NAME_CHARS - 1].rstrip() + "…"
        base, k = name, 2
        while name in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name)
        names.append(name)
    return names


def _check_shape(df: pd.DataFrame, name: str, suffix: str, min_columns: int) -> None:
    if len(df.columns) > MAX_COLUMNS:
        raise _too_many_columns(name, len(df.columns))
    if len(df.columns) and len(df) == 0:
        raise DataError(
            f"{name} has a header ({_columns_text(df.columns, 10)}) but no data rows; "
            "add some labelled rows."
        )
    if len(df) == 0:
        raise DataError(f"{name} contains no rows; add a header row and some labelled rows.")
    if len(df.columns) == 0:
        raise DataError(
            f"{name} has {len(df):,} rows but no columns (every record is empty); "
            "it needs a text column and a label column."
        )
    if not df.notna().any().any():
        raise DataError(
            f"Every cell of {name} is empty ({len(df):,} rows, columns: "
            f"{_columns_text(df.columns, 10)}); fill in the texts and labels."
        )
    if len(df.columns) < min_columns:
        seen = str(df.columns[0])[:80]
        if suffix in (".csv", ".tsv", ".txt"):
            raise DataError(
                f"{name} has only one column ({seen!r}), so the delimiter could not "
                "be detected; separate the text and label columns with a comma, "
                "semicolon, tab or |."
            )
        raise DataError(
            f"{name} has only one column ({seen!r}); it needs a text column and a label column."
        )


# ---- column inference -------------------------------------------------------------------------


def infer_columns(
    df: pd.DataFrame, source: str = "the file", *, text_column: str = "", label_column: str = ""
) -> tuple[str, str]:
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
        raise DataError(
            f"Could not tell which column of {source} holds the {missing} "
            f"(columns: {_columns_text(columns)}); pick the text and label columns "
            "yourself."
        )
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
    train: pd.DataFrame  # columns "text", "label" (label name as str)
    validation: pd.DataFrame
    test: pd.DataFrame
    labels: list[str]  # natural-sorted label names; index = class id
    text_column: str
    label_column: str
    source: str
    warnings: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    test_source: str = ""  # the separate test file, if one was given

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    def to_dict(self) -> dict:
        """JSON-able summary without the frames (saved as data.json in a run folder)."""
        summary = {
            "source": self.source,
            "test_source": self.test_source,
            "text_column": self.text_column,
            "label_column": self.label_column,
            "labels": self.labels,
            "num_labels": len(self.labels),
            "splits": {
                "train": len(self.train),
                "validation": len(self.validation),
                "test": len(self.test),
            },
            "warnings": self.warnings,
            "stats": self.stats,
        }
        return json.loads(json.dumps(summary, default=_plain))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def natural_key(label: str) -> tuple:
    """Sort key so that "2" < "10" and "class2" < "class10"."""
    parts = re.split(r"(\d+)", label)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), label


def prepare_data(
    path: str | os.PathLike,
    text_column: str = "",
    label_column: str = "",
    test_path: str = "",
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 42,
    max_rows: int = 0,
    max_length: int = 128,
) -> DataSpec:
    """Load, validate, clean and split a labelled table (see the module docstring).

    Raises DataError for anything wrong with the data, and nothing else."""
    try:
        return _prepare(
            path,
            text_column,
            label_column,
            test_path,
            validation_fraction,
            test_fraction,
            seed,
            max_rows,
            max_length,
        )
    except DataError:
        raise
    except MemoryError:
        raise DataError(
            f"{display_name(path)} is too large to prepare in memory; use a sample "
            "of its rows (the max rows setting)."
        ) from None
    except Exception as e:
        raise _unexpected(display_name(path), "a table", e, reading=False) from e


def _prepare(
    path: str | os.PathLike,
    text_column: str,
    label_column: str,
    test_path: str,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    max_rows: int,
    max_length: int,
) -> DataSpec:
    _check_fractions(validation_fraction, 0.0 if test_path else test_fraction)
    name, warnings = display_name(path), []
    df = load_table(path)
    text_column = _resolve_column(df, text_column, name) if text_column else ""
    label_column = _resolve_column(df, label_column, name) if label_column else ""
    text_column, label_column = infer_columns(
        df, name, text_column=text_column, label_column=label_column
    )
    if text_column == label_column:
        raise DataError(
            f"The text and label columns of {name} are both {text_column!r}; "
            "pick two different columns."
        )
    frame, dropped = _clean(df, text_column, label_column, name, warnings)
    _check_labels(frame, label_column, name, warnings)
    frame = _sample(frame, max_rows, seed, warnings)
    stats = {
        "rows_total": len(df),
        "rows_dropped": dropped,
        "rows_used": len(frame),
        "encoding": df.attrs.get("encoding", ""),
        "delimiter": df.attrs.get("delimiter", ""),
    }
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
    return DataSpec(
        train,
        validation,
        test,
        labels,
        text_column,
        label_column,
        str(path),
        warnings,
        stats,
        test_source=str(test_path or ""),
    )


def _check_fractions(validation: float, test: float) -> None:
    if not (0 <= validation < 1 and 0 <= test < 1 and validation + test <= 0.9):
        raise DataError(
            f"The validation ({validation}) and test ({test}) fractions must each be "
            "between 0 and 1 and leave at least 10% of the rows for training."
        )


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
    raise DataError(
        f"{what} {wanted!r} is not in {name} (columns: {_columns_text(columns)}).{hint}"
    )


def _clean(
    df: pd.DataFrame, text_column: str, label_column: str, name: str, warnings: list[str]
) -> tuple[pd.DataFrame, int]:
    """Two columns text/label as stripped strings; rows missing either are dropped (warned)."""
    text = _cells_as_text(df[text_column])
    if text.isna().all():
        raise DataError(
            f"Column {text_column!r} in {name} has no text (every value is empty); "
            "pick the column that holds the text."
        )
    label = _normalise_labels(df[label_column])
    if label.isna().all():
        raise DataError(
            f"Column {label_column!r} in {name} has no labels (every value is "
            "empty); fill in the labels or pick the column that holds them."
        )
    keep = text.notna() & label.notna()
    dropped = int((~keep).sum())
    if dropped:
        warnings.append(
            f"{dropped} of {len(df)} rows in {name} were dropped because they have "
            f"no text ({int(text.isna().sum())}) or no label "
            f"({int(label.isna().sum())})."
        )
    frame = pd.DataFrame({"text": text[keep].astype(str), "label": label[keep].astype(str)})
    if len(frame) < MIN_ROWS:
        raise DataError(
            f"{name} has only {len(frame)} usable rows (with both text in "
            f"{text_column!r} and a label in {label_column!r}); at least {MIN_ROWS} "
            "are needed, and a few hundred work much better."
        )
    return frame.reset_index(drop=True), dropped


def _is_missing(value: Any) -> bool:
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return False
    return bool(pd.isna(value))


def _to_text(value: Any) -> str | None:
    if _is_missing(value):
        return None
    return str(value).strip() or None


def _cells_as_text(series: pd.Series) -> pd.Series:
    """``series.map(_to_text)``, several times faster for a column of strings (what text files
    and Excel sheets give): a million rows take a fraction of a second."""
    if isinstance(series.dtype, pd.StringDtype):
        values = [v.strip() or None if isinstance(v, str) else None for v in series.tolist()]
        return pd.Series(values, index=series.index, dtype=object, name=series.name)
    return series.map(_to_text)


def _normalise_labels(series: pd.Series) -> pd.Series:
    """Labels as stripped strings; 1.0 -> "1" (floats, or a column of "1.0"-style strings)."""

    def one(value: Any) -> str | None:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return _to_text(value)

    labels = _cells_as_text(series) if isinstance(series.dtype, pd.StringDtype) else series.map(one)
    present = labels.dropna().astype(str)
    if len(present) and present.str.fullmatch(r"-?\d+\.0+").all():
        labels = labels.map(lambda s: s.split(".")[0] if isinstance(s, str) else s)
    return labels


def _check_labels(frame: pd.DataFrame, label_column: str, name: str, warnings: list[str]) -> None:
    counts = frame["label"].value_counts()
    n = len(frame)
    if len(counts) < 2:
        raise DataError(
            f"Column {label_column!r} in {name} has only one label "
            f"({counts.index[0]!r}); a classifier needs at least two classes, so add "
            "examples of another class or pick another label column."
        )
    if len(counts) == n or (len(counts) > 0.5 * n and len(counts) > 50):
        raise DataError(
            f"Column {label_column!r} in {name} has {len(counts)} different values "
            f"in {n} rows, so it looks like an id or free text, not a label; pick the "
            "column that holds the class."
        )
    numeric = int(frame["text"].str.fullmatch(_NUMERIC.pattern).sum())
    if numeric > 0.5 * n:
        warnings.append(
            f"{numeric} of {n} texts in {name} are only numbers or codes, so the "
            "text column may be an id column; check that the right column is picked."
        )


def _sample(frame: pd.DataFrame, max_rows: int, seed: int, warnings: list[str]) -> pd.DataFrame:
    if max_rows <= 0 or len(frame) <= max_rows:
        return frame
    try:
        kept, _ = train_test_split(
            frame, train_size=max_rows, random_state=seed, stratify=frame["label"]
        )
    except ValueError:  # classes too small to stratify
        kept = frame.sample(n=max_rows, random_state=seed)
    warnings.append(
        f"Using a sample of {max_rows} of the {len(frame)} rows (the max rows setting)."
    )
    return kept.reset_index(drop=True)


def _quality(frame: pd.DataFrame, max_length: int, warnings: list[str]) -> dict:
    """Warnings about balance, duplicates and length; returns the matching stats."""
    counts = frame["label"].value_counts()
    big, small = counts.index[0], counts.index[-1]
    if counts[big] >= IMBALANCE_RATIO * counts[small]:
        warnings.append(
            f"The classes are imbalanced: {big!r} has {counts[big]} examples but "
            f"{small!r} only {counts[small]} ({counts[big] / counts[small]:.1f}x); "
            "expect weaker results on the small classes."
        )
    rare = counts[counts < SMALL_CLASS]
    if len(rare):
        listed = ", ".join(f"{k!r} ({v})" for k, v in list(rare.items())[:10])
        warnings.append(
            f"{len(rare)} class(es) have fewer than {SMALL_CLASS} examples: {listed}; "
            "the model can hardly learn them, so add examples or merge classes."
        )
    duplicates = int(frame["text"].duplicated().sum())
    conflicts = frame.groupby("text")["label"].nunique()
    conflicts = conflicts[conflicts > 1]
    if duplicates:
        warnings.append(f"{duplicates} row(s) repeat a text that appears earlier in the data.")
    if len(conflicts):
        warnings.append(
            f"{len(conflicts)} texts appear with different labels (e.g. "
            f"{conflicts.index[0][:60]!r}); the model cannot learn both, so fix or "
            "remove them."
        )
    texts = frame["text"].tolist()
    tokens = pd.Series([estimate_tokens(t) for t in texts], index=frame.index, dtype=float)
    long_texts = int((tokens > max_length).sum()) if max_length > 0 else 0
    if long_texts:
        warnings.append(
            f"{long_texts} of {len(frame)} texts ({long_texts / len(frame):.1%}) are "
            f"longer than about {max_length} tokens and will be cut off; raise the "
            "max length if their ends matter."
        )
    return {
        "label_counts": {k: int(counts[k]) for k in sorted(counts.index, key=natural_key)},
        "chars": _summary(frame["text"].str.len()),
        "words": _summary(pd.Series([word_count(t) for t in texts], dtype=float)),
        "duplicates": duplicates,
        "conflicting_duplicates": int(len(conflicts)),
        "long_texts": long_texts,
        "max_length": max_length,
    }


def _summary(values: pd.Series) -> dict:
    return {
        "mean": round(float(values.mean()), 1),
        "p50": float(values.quantile(0.5)),
        "p95": float(values.quantile(0.95)),
        "max": int(values.max()),
    }


def word_count(text: str) -> int:
    """Words, counting each CJK character as one word."""
    return len(_CJK.findall(text)) + len(_CJK.sub(" ", text).split())


def estimate_tokens(text: str) -> float:
    """About 1.3 sub-word tokens per word; BERT-style tokenizers give one per CJK character."""
    cjk = len(_CJK.findall(text))
    return cjk + 1.3 * len(_CJK.sub(" ", text).split())


def _holdout(
    frame: pd.DataFrame, fraction: float, seed: int, what: str, warnings: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
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
        rest, held = train_test_split(
            pool, test_size=size, random_state=seed, stratify=pool["label"]
        )
    except ValueError:  # fewer rows than classes, or classes too small
        warnings.append(
            f"The {what} set could not keep the class proportions (too few examples "
            "per class), so its rows were picked at random."
        )
        rest, held = train_test_split(pool, test_size=size, random_state=seed)
    rest = pd.concat([rest, frame[lonely]])
    return rest.reset_index(drop=True), held.reset_index(drop=True)


def _load_test(
    test_path: str,
    text_column: str,
    label_column: str,
    train: pd.DataFrame,
    train_name: str,
    warnings: list[str],
) -> pd.DataFrame:
    """The user's test file, cleaned like the data; rows with labels unseen in training dropped."""
    name = display_name(test_path)
    df = load_table(test_path)
    missing = [c for c in (text_column, label_column) if c not in df.columns]
    if missing:
        raise DataError(
            f"The test file {name} lacks the column(s) {', '.join(map(repr, missing))} "
            f"that {train_name} has (its columns: {_columns_text(df.columns)}); give "
            "both files the same column names."
        )
    test, _ = _clean(df, text_column, label_column, name, warnings)
    known = set(train["label"])
    unseen = sorted(set(test["label"]) - known, key=natural_key)
    if len(unseen) == test["label"].nunique():
        raise DataError(
            f"None of the labels in {name} ({', '.join(unseen[:10])}) appear in "
            f"{train_name}; check that both files use the same label names."
        )
    if unseen:
        dropped = int((~test["label"].isin(known)).sum())
        warnings.append(
            f"{dropped} rows of {name} have labels never seen in {train_name} "
            f"({', '.join(unseen[:10])}) and were left out of the test set, since the "
            "model cannot predict them."
        )
        test = test[test["label"].isin(known)].reset_index(drop=True)
    return test


def _warn_overlap(
    train: pd.DataFrame, test: pd.DataFrame, test_path: str, warnings: list[str]
) -> None:
    seen = {_key(t) for t in train["text"].tolist()}
    shared = sum(1 for t in test["text"].tolist() if _key(t) in seen)
    if not shared:
        return
    where = f"rows of {display_name(test_path)}" if test_path else "test texts"
    warnings.append(
        f"{shared} of {len(test)} {where} also appear in the training data, so test "
        "scores will look better than they really are; remove the duplicates for an "
        "honest score."
    )


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
    texts = _cells_as_text(df[text_column]).dropna()
    return texts.astype(str).map(word_count).astype(int).rename("words")


def list_sample_files() -> list[Path]:
    """The bundled example tables in <repo>/sample_data."""
    from engine.tasks import guess_task

    if not SAMPLE_DIR.is_dir():
        return []
    files = [
        p
        for p in SAMPLE_DIR.iterdir()
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES + (".conll",)
    ]
    # the text-classification samples first (the first one is the Data tab's default), then the
    # other tasks' samples grouped by task
    return sorted(files, key=lambda p: (guess_task(p.name) or "", p.name))
