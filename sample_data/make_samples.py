"""Rebuild the bundled sample tables from the shared data folder (reproducible: fixed seed).

Run from anywhere: python sample_data/make_samples.py
Reads <repo>/../shared/data; skips a source that is missing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data"
SEED = 13


def sentiment(n_per_class: int = 300) -> pd.DataFrame:
    """Balanced: 300 negative + 300 positive sentences."""
    df = pd.read_csv(SHARED / "uci_sentiment_sentences.csv", dtype={"label": int})
    df = df.drop_duplicates("text")
    parts = [g.sample(n=n_per_class, random_state=SEED) for _, g in df.groupby("label")]
    out = pd.concat(parts).sample(frac=1, random_state=SEED)
    return pd.DataFrame(
        {"text": out["text"].str.strip(), "label": out["label"].map({0: "negative", 1: "positive"})}
    )


def spam(n: int = 500) -> pd.DataFrame:
    """About 500 messages, stratified so the ham/spam ratio of the source (~87/13) is kept."""
    df = pd.read_csv(SHARED / "sms_spam.csv", dtype={"label": int}).drop_duplicates("text")
    share = n / len(df)
    parts = [g.sample(n=round(len(g) * share), random_state=SEED) for _, g in df.groupby("label")]
    out = pd.concat(parts).sample(frac=1, random_state=SEED)
    return pd.DataFrame(
        {"text": out["text"].str.strip(), "label": out["label"].map({0: "ham", 1: "spam"})}
    )


def bible_translation(n: int = 400, max_chars: int = 140) -> pd.DataFrame:
    """English -> Spanish: ``n`` short verse pairs (public domain) for the translation task."""
    df = pd.read_csv(SHARED / "bible_en_web__es_rv1909.csv").dropna(subset=["en", "es"])
    df = df[(df["en"].str.len() <= max_chars) & (df["es"].str.len() <= max_chars)]
    out = df.sample(n=n, random_state=SEED)
    return pd.DataFrame({"en": out["en"].str.strip(), "es": out["es"].str.strip()})


def main() -> None:
    jobs = {
        "uci_sentiment_sentences.csv": ("reviews_sentiment.csv", sentiment),
        "sms_spam.csv": ("sms_spam_sample.csv", spam),
        "bible_en_web__es_rv1909.csv": ("translation_bible_en_es.csv", bible_translation),
    }
    for source, (target, make) in jobs.items():
        if not (SHARED / source).is_file():
            print(f"skip {target}: {SHARED / source} not found")
            continue
        df = make()
        df.to_csv(HERE / target, index=False)
        labels = df["label"].value_counts().to_dict() if "label" in df else "no labels"
        print(f"wrote {target}: {len(df)} rows, {labels}")


if __name__ == "__main__":
    main()
