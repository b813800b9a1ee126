"""Unit tests for engine/data.py: loading, validation, inference, cleaning, splitting, warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from engine.data import (
    SUPPORTED_SUFFIXES,
    DataError,
    DataSpec,
    infer_columns,
    label_distribution,
    list_sample_files,
    load_table,
    natural_key,
    prepare_data,
    text_lengths,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
WORDS = (
    "apple banana cherry delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu"
).split()


def sentences(n: int, offset: int = 0) -> list[str]:
    """n distinct short sentences."""
    return [
        f"{WORDS[i % 26]} {WORDS[(i // 26) % 26]} number {i + offset} is here" for i in range(n)
    ]


def write_csv(
    tmp_path: Path, rows: list[tuple], name: str = "data.csv", header: tuple = ("text", "label")
) -> Path:
    path = tmp_path / name
    pd.DataFrame(rows, columns=list(header)).to_csv(path, index=False)
    return path


def balanced(n: int = 100, labels: tuple = ("neg", "pos"), offset: int = 0) -> list[tuple]:
    return [(t, labels[i % len(labels)]) for i, t in enumerate(sentences(n, offset))]


def error_of(path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        prepare_data(path, **kwargs)
    return str(info.value)


# ---- malformed input ------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.csv"):
        load_table(tmp_path / "nope.csv")


def test_unsupported_suffix_lists_supported(tmp_path):
    path = tmp_path / "data.docx"
    path.write_text("x")
    with pytest.raises(DataError) as info:
        load_table(path)
    assert "data.docx" in str(info.value)
    assert all(s in str(info.value) for s in SUPPORTED_SUFFIXES)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty.csv is empty"):
        load_table(path)


def test_whitespace_only_file(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\n  \n")
    with pytest.raises(DataError, match="blank.csv"):
        load_table(path)


def test_header_only(tmp_path):
    path = tmp_path / "head.csv"
    path.write_text("text,label\n")
    with pytest.raises(DataError, match="head.csv has a header .* no data rows"):
        load_table(path)


def test_binary_file_with_nul_bytes(tmp_path):
    path = tmp_path / "blob.csv"
    path.write_bytes(b"text,label\n\x00\x01\x02\xff\x00binary")
    with pytest.raises(DataError, match="blob.csv looks like a binary file"):
        load_table(path)


def test_corrupt_parquet_and_excel(tmp_path):
    for name in ("bad.parquet", "bad.xlsx"):
        (tmp_path / name).write_bytes(b"not really a table")
        with pytest.raises(DataError, match=name):
            load_table(tmp_path / name)


def test_single_column_names_what_was_seen(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("text label\nhello world pos\nbye now neg\n")
    with pytest.raises(DataError) as info:
        load_table(path)
    message = str(info.value)
    assert "one.csv" in message and "delimiter" in message and "text label" in message
    assert len(load_table(path, min_columns=1).columns) == 1


def test_extra_fields_without_quotes(tmp_path):
    path = tmp_path / "unquoted.csv"
    path.write_text("text,label\nhello, world,pos\nfine,neg\nok,pos\n")
    with pytest.raises(DataError, match="unquoted.csv.*double quotes"):
        load_table(path)


def test_jsonl_broken_line_names_line_number(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": "c", "label": \n'
    )
    with pytest.raises(DataError, match=r"Line 3 of data\.jsonl"):
        load_table(path)


def test_one_class_only(tmp_path):
    path = write_csv(tmp_path, [(t, "pos") for t in sentences(20)])
    message = error_of(path)
    assert "'label'" in message and "data.csv" in message and "only one label" in message


def test_all_unique_labels(tmp_path):
    path = write_csv(tmp_path, [(t, f"id{i}") for i, t in enumerate(sentences(30))])
    message = error_of(path, label_column="label")
    assert "'label'" in message and "data.csv" in message and "id or free text" in message


def test_missing_named_column_suggests_close_match(tmp_path):
    path = write_csv(tmp_path, balanced(20), header=("review_text", "label"))
    message = error_of(path, text_column="review_txt")
    assert "'review_txt'" in message and "data.csv" in message
    assert "review_text, label" in message and "Did you mean 'review_text'?" in message


def test_named_column_matches_case_insensitively(tmp_path):
    path = write_csv(tmp_path, balanced(20), header=("Text", "Label"))
    spec = prepare_data(path, text_column="text", label_column="LABEL")
    assert (spec.text_column, spec.label_column) == ("Text", "Label")


def test_all_empty_texts(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\n" + "".join(f" ,{'ab'[i % 2]}\n" for i in range(10)))
    message = error_of(path, text_column="text", label_column="label")
    assert "'text'" in message and "data.csv" in message and "has no text" in message


def test_too_few_rows_after_cleaning(tmp_path):
    path = write_csv(tmp_path, [("a b", "x"), ("c d", "y"), ("", "x"), ("e f", None)])
    assert "only 2 usable rows" in error_of(path)


def test_bad_fractions(tmp_path):
    path = write_csv(tmp_path, balanced(20))
    assert "fractions" in error_of(path, validation_fraction=0.5, test_fraction=0.5)


# ---- encodings, delimiters, formats ---------------------------------------------------------


@pytest.mark.parametrize(
    "encoding, texts",
    [
        ("utf-8", ["café naïve", "日本語のテキスト", "emoji 🙂 ok", "plain"]),
        ("gb18030", ["这部电影很好看", "太无聊了，浪费时间", "演员表演非常出色", "剧情一般"]),
        ("latin-1", ["café naïve", "Ça va très bien", "Grüße aus München", "señor"]),
        ("cp1252", ["“smart quotes” – dash", "café naïve", "œuvre", "plain"]),
    ],
)
def test_encodings_round_trip(tmp_path, encoding, texts):
    path = tmp_path / "data.csv"
    body = "text,label\n" + "".join(f"{t},{'ab'[i % 2]}\n" for i, t in enumerate(texts))
    path.write_bytes(body.encode(encoding))
    df = load_table(path)
    assert df["text"].tolist() == texts


def test_utf8_bom_is_stripped_from_first_column(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("text,label\nhello,a\nbye,b\n".encode("utf-8-sig"))
    df = load_table(path)
    assert list(df.columns) == ["text", "label"]
    assert df.attrs["encoding"] == "utf-8-sig"


def test_utf16_with_bom(tmp_path):
    path = tmp_path / "excel.txt"
    path.write_bytes("text\tlabel\nhello\ta\nbye\tb\n".encode("utf-16"))
    assert load_table(path)["text"].tolist() == ["hello", "bye"]


@pytest.mark.parametrize(
    "sep, suffix",
    [(",", ".csv"), (";", ".csv"), ("\t", ".tsv"), ("\t", ".csv"), ("|", ".txt"), (";", ".txt")],
)
def test_delimiters(tmp_path, sep, suffix):
    rows = ["good, fine and nice", "bad, awful", "so-so, meh", "great, wow"]
    path = tmp_path / f"data{suffix}"
    quote = '"' if sep == "," else ""
    path.write_text(
        f"text{sep}label\n"
        + "".join(f"{quote}{t}{quote}{sep}{'pn'[i % 2]}\n" for i, t in enumerate(rows))
    )
    df = load_table(path)
    assert list(df.columns) == ["text", "label"]
    assert df["text"].tolist() == rows
    assert df.attrs["delimiter"] == sep


def test_quoted_newlines_inside_fields(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text(
        'text,label\n"line one\nline two, with comma",a\n"single",b\n"three\n\nlines",a\n'
    )
    df = load_table(path)
    assert df["text"].tolist() == ["line one\nline two, with comma", "single", "three\n\nlines"]


def test_na_strings_are_kept_as_values(tmp_path):
    path = tmp_path / "na.csv"
    path.write_text("text,label\nhello,NA\nbye,None\nempty,\n")
    assert load_table(path)["label"].tolist()[:2] == ["NA", "None"]
    assert pd.isna(load_table(path)["label"][2])


def test_column_names_stripped_and_deduplicated(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text(" text , label,text ,\nhello,a,x,1\nbye,b,y,2\n")
    assert list(load_table(path).columns) == ["text", "label", "text_2", "column_4"]


def test_max_rows_reads_only_the_first_rows(tmp_path):
    assert len(load_table(write_csv(tmp_path, balanced(50)), max_rows=7)) == 7


def test_jsonl_and_json_load(tmp_path):
    rows = [{"text": "good", "label": 1}, {"text": "bad", "label": 0}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (tmp_path / "d.json").write_text(json.dumps(rows))
    (tmp_path / "lines.json").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "cols.json").write_text(json.dumps({"text": ["good", "bad"], "label": [1, 0]}))
    for name in ("d.jsonl", "d.json", "lines.json", "cols.json"):
        df = load_table(tmp_path / name)
        assert df["text"].tolist() == ["good", "bad"], name


def test_parquet_and_excel_load(tmp_path):
    df = pd.DataFrame({"text": sentences(20), "label": [i % 2 for i in range(20)]})
    df.to_parquet(tmp_path / "d.parquet")
    df.to_excel(tmp_path / "d.xlsx", index=False)
    for name in ("d.parquet", "d.xlsx"):
        spec = prepare_data(tmp_path / name)
        assert spec.labels == ["0", "1"], name
        assert len(spec.train) + len(spec.validation) + len(spec.test) == 20


# ---- column inference -----------------------------------------------------------------------


def test_infer_conventional_names_case_insensitive():
    df = pd.DataFrame({"ID": [1, 2], "Sentence": ["a b", "c d"], "Sentiment": ["p", "n"]})
    assert infer_columns(df) == ("Sentence", "Sentiment")


def test_infer_unconventional_names():
    n = 60
    df = pd.DataFrame(
        {
            "row_id": [str(i) for i in range(n)],
            "published": ["2020-01-0" + str(i % 9 + 1) for i in range(n)],
            "blurb": [s + " with some more words" for s in sentences(n)],
            "short": [f"w{i}" for i in range(n)],
            "kind": [["sports", "politics", "tech"][i % 3] for i in range(n)],
        }
    )
    assert infer_columns(df) == ("blurb", "kind")


def test_infer_with_one_column_given():
    df = pd.DataFrame(
        {
            "a": ["x y z w"] * 4,
            "b": ["long text here " * 3 + str(i) for i in range(4)],
            "label": ["p", "n", "p", "n"],
        }
    )
    assert infer_columns(df, text_column="a") == ("a", "label")


def test_infer_fails_with_columns_listed():
    df = pd.DataFrame(
        {"ref": [f"r{i}" for i in range(10)], "en": sentences(10), "es": sentences(10, 100)}
    )
    with pytest.raises(DataError, match="myfile.csv .*ref, en, es.*pick"):
        infer_columns(df, "myfile.csv")


# ---- cleaning and labels --------------------------------------------------------------------


def test_rows_without_text_or_label_are_dropped_with_warning(tmp_path):
    rows = balanced(40) + [("", "pos"), ("  ", "neg"), ("some text", None)]
    spec = prepare_data(write_csv(tmp_path, rows))
    assert spec.stats["rows_dropped"] == 3 and spec.stats["rows_used"] == 40
    assert any("3 of 43 rows" in w for w in spec.warnings)


def test_float_labels_become_integer_strings(tmp_path):
    df = pd.DataFrame({"text": sentences(40), "label": [float(i % 3) for i in range(40)]})
    df.loc[3, "label"] = None
    df.to_parquet(tmp_path / "f.parquet")
    assert prepare_data(tmp_path / "f.parquet").labels == ["0", "1", "2"]
    path = tmp_path / "f.csv"
    path.write_text(
        "text,label\n" + "".join(f"{t},{i % 2}.0\n" for i, t in enumerate(sentences(20)))
    )
    assert prepare_data(path).labels == ["0", "1"]


def test_natural_label_order(tmp_path):
    labels = ("10", "2", "1", "class10", "class2")
    spec = prepare_data(write_csv(tmp_path, balanced(100, labels)))
    assert spec.labels == ["1", "2", "10", "class2", "class10"]
    assert spec.label2id["10"] == 2 and spec.id2label[2] == "10"
    assert sorted(["b", "A", "a"], key=natural_key) == ["A", "a", "b"]


def test_numeric_text_column_warns(tmp_path):
    rows = [(str(1000 + i), "ab"[i % 2]) for i in range(40)]
    spec = prepare_data(write_csv(tmp_path, rows))
    assert any("only numbers or codes" in w for w in spec.warnings)


# ---- splitting ------------------------------------------------------------------------------


def test_stratified_split_proportions(tmp_path):
    rows = balanced(300, ("a", "b")) + [(t, "c") for t in sentences(100, 1000)]
    spec = prepare_data(write_csv(tmp_path, rows), validation_fraction=0.1, test_fraction=0.2)
    assert (len(spec.train), len(spec.validation), len(spec.test)) == (280, 40, 80)
    for part, n in ((spec.test, 80), (spec.validation, 40)):
        counts = part["label"].value_counts()
        assert counts["c"] == n // 4 and counts["a"] == counts["b"] == 3 * n // 8
    assert list(spec.train.columns) == ["text", "label"]
    assert not set(spec.train["text"]) & set(spec.test["text"])


def test_split_is_deterministic_with_seed(tmp_path):
    path = write_csv(tmp_path, balanced(200))
    one, two, other = (prepare_data(path, seed=s) for s in (7, 7, 8))
    assert one.test["text"].tolist() == two.test["text"].tolist()
    assert one.train["text"].tolist() == two.train["text"].tolist()
    assert one.test["text"].tolist() != other.test["text"].tolist()


def test_tiny_classes_do_not_crash_the_split(tmp_path):
    rows = balanced(40) + [("only one of these", "rare"), ("two of", "duo"), ("these", "duo")]
    spec = prepare_data(write_csv(tmp_path, rows))
    assert "rare" in set(spec.train["label"])
    assert spec.labels == ["duo", "neg", "pos", "rare"]
    assert any("fewer than 5 examples" in w for w in spec.warnings)


def test_split_falls_back_when_fewer_rows_than_classes(tmp_path):
    rows = [(t, "abcde"[i % 5]) for i, t in enumerate(sentences(20))]
    spec = prepare_data(write_csv(tmp_path, rows))
    assert len(spec.train) + len(spec.validation) + len(spec.test) == 20
    assert any("picked at random" in w for w in spec.warnings)


def test_user_test_file(tmp_path):
    path = write_csv(tmp_path, balanced(100))
    test = write_csv(tmp_path, balanced(30, offset=500) + [("new thing", "other")], "test.csv")
    spec = prepare_data(path, test_path=str(test), validation_fraction=0.2)
    assert len(spec.test) == 30 and (len(spec.train), len(spec.validation)) == (80, 20)
    assert spec.test_source == str(test) and spec.labels == ["neg", "pos"]
    assert any("test.csv" in w and "never seen" in w and "other" in w for w in spec.warnings)


def test_user_test_file_problems(tmp_path):
    path = write_csv(tmp_path, balanced(40))
    wrong = write_csv(tmp_path, balanced(10), "wrong.csv", header=("sentence", "y"))
    assert "wrong.csv lacks" in error_of(path, test_path=str(wrong))
    disjoint = write_csv(tmp_path, balanced(10, ("x", "y")), "disjoint.csv")
    assert "None of the labels in disjoint.csv" in error_of(path, test_path=str(disjoint))


def test_max_rows_stratified_sample(tmp_path):
    rows = balanced(300, ("a", "b")) + [(t, "c") for t in sentences(100, 1000)]
    spec = prepare_data(write_csv(tmp_path, rows), max_rows=100, seed=1)
    assert spec.stats["rows_used"] == 100
    assert spec.stats["label_counts"] == {"a": 37, "b": 38, "c": 25} or spec.stats[
        "label_counts"
    ] == {"a": 38, "b": 37, "c": 25}
    assert any("sample of 100" in w for w in spec.warnings)


# ---- warnings -------------------------------------------------------------------------------


def test_clean_data_has_no_warnings(tmp_path):
    spec = prepare_data(write_csv(tmp_path, balanced(200, ("a", "b", "c"))))
    assert spec.warnings == []
    assert spec.stats["duplicates"] == 0 and spec.stats["long_texts"] == 0


def test_imbalance_warning(tmp_path):
    rows = [(t, "big") for t in sentences(100)] + [(t, "small") for t in sentences(10, 500)]
    spec = prepare_data(write_csv(tmp_path, rows))
    assert [
        w
        for w in spec.warnings
        if "imbalanced" in w and "'big' has 100" in w and "'small' only 10" in w
    ]


def test_duplicate_and_conflict_warnings(tmp_path):
    rows = balanced(60) + [
        ("same text", "pos"),
        ("same text", "pos"),
        ("clash", "pos"),
        ("clash", "neg"),
    ]
    spec = prepare_data(write_csv(tmp_path, rows))
    assert spec.stats["duplicates"] == 2 and spec.stats["conflicting_duplicates"] == 1
    assert any("2 row(s) repeat" in w for w in spec.warnings)
    assert any("1 texts appear with different labels" in w and "clash" in w for w in spec.warnings)


def test_long_text_warning(tmp_path):
    rows = balanced(50) + [(" ".join(["word"] * 200) + f" {i}", "ab"[i % 2]) for i in range(5)]
    spec = prepare_data(write_csv(tmp_path, rows), max_length=128)
    assert spec.stats["long_texts"] == 5
    assert any("5 of 55 texts" in w and "128 tokens" in w for w in spec.warnings)
    assert not any(
        "tokens" in w for w in prepare_data(write_csv(tmp_path, rows), max_length=512).warnings
    )


def test_long_cjk_text_is_counted_by_characters(tmp_path):
    rows = balanced(50) + [("这是一个很长的句子" * 20 + str(i), "ab"[i % 2]) for i in range(4)]
    spec = prepare_data(write_csv(tmp_path, rows), max_length=128)
    assert spec.stats["long_texts"] == 4


def test_overlap_warning_with_user_test_file(tmp_path):
    path = write_csv(tmp_path, balanced(100))
    test = write_csv(tmp_path, balanced(20)[:5] + balanced(20, offset=900)[5:], "test.csv")
    spec = prepare_data(path, test_path=str(test))
    assert any(
        "5 of 20 rows of test.csv also appear in the training data" in w for w in spec.warnings
    )


# ---- summaries and helpers ------------------------------------------------------------------


def test_to_dict_is_json_serialisable(tmp_path):
    spec = prepare_data(write_csv(tmp_path, balanced(100) + [("dup", "pos"), ("dup", "pos")]))
    assert isinstance(spec, DataSpec)
    summary = json.loads(json.dumps(spec.to_dict()))
    assert summary["labels"] == ["neg", "pos"] and summary["num_labels"] == 2
    assert summary["splits"] == {"train": 82, "validation": 10, "test": 10}
    assert summary["stats"]["label_counts"] == {"neg": 50, "pos": 52}
    assert set(summary["stats"]["words"]) == {"mean", "p50", "p95", "max"}
    assert summary["warnings"] == spec.warnings and "train" not in summary


def test_label_distribution_and_text_lengths():
    df = pd.DataFrame({"t": ["one two", "三个字", None, "a b c d"], "y": ["10", "2", "2", None]})
    dist = label_distribution(df, "y")
    assert dist.to_dict("list") == {"label": ["2", "10"], "count": [2, 1]}
    assert text_lengths(df, "t").tolist() == [2, 3, 4]


def test_list_sample_files():
    from engine.config import RunConfig
    from engine.tasks import get_task, guess_task

    files = list_sample_files()
    assert all(f.parent.name == "sample_data" for f in files)
    names = {f.name for f in files}
    assert {"reviews_sentiment.csv", "sms_spam_sample.csv"} <= names
    assert files[0].name == "reviews_sentiment.csv"  # the Data tab's default sample
    for f in files:  # every sample loads for the task its name says
        task = guess_task(f.name)
        if task is None:
            assert f.suffix in SUPPORTED_SUFFIXES
            assert len(prepare_data(f).labels) == 2
        else:
            data = get_task(task).prepare(RunConfig(data=str(f), task=task))
            assert len(data.train) >= 20, f.name


@pytest.mark.skipif(
    not (SHARED / "uci_sentiment_sentences.csv").is_file(), reason="shared data folder not present"
)
def test_real_sentiment_data():
    spec = prepare_data(SHARED / "uci_sentiment_sentences.csv")
    assert spec.stats["rows_total"] == 3000 and spec.labels == ["0", "1"]
    assert (spec.text_column, spec.label_column) == ("text", "label")
