"""Real paraphrases by the bundled SmolLM2-135M-Instruct: 4 short sentences in one batch, plus a
2-sentence preview (~10 s on an idle 2-core CPU; no time assertion, the CPU may be shared)."""

from __future__ import annotations

import pytest

from engine.augment import _norm, augment_frame, preview, release_paraphraser
from engine.backbones import BackboneError, resolve_backbone

SENTENCES = [
    "I hated the ending of the movie, it felt rushed.",
    "Customer service never answered my emails.",
    "The plot was predictable and the acting was wooden.",
    "Fast shipping, the package arrived two days early.",
]


@pytest.fixture(scope="module", autouse=True)
def smollm2():
    try:
        resolve_backbone("smollm2-135m-instruct")
    except BackboneError as e:
        pytest.skip(str(e))
    yield
    release_paraphraser()


def test_smollm2_paraphrases_short_sentences():
    import pandas as pd

    frame = pd.DataFrame({"text": SENTENCES, "label": ["neg", "neg", "neg", "pos"]})
    new = augment_frame(frame, "paraphrase", per_example=1, seed=0)
    assert len(new) >= 2, new  # most short sentences get a usable paraphrase
    for row in new.itertuples():
        assert row.text.strip() and _norm(row.text) != _norm(row.source_text)
        assert row.method == "paraphrase"
        assert len(row.text.split()) <= 2.5 * len(row.source_text.split()) + 4
    assert set(new["label"]) <= {"neg", "pos"}
    # greedy: the preview shows the same paraphrases training would use
    shown = {s["original"]: s["augmented"] for s in preview(SENTENCES[:2], "paraphrase", seed=0)}
    for row in new[new["source_text"].isin(SENTENCES[:2])].itertuples():
        assert shown[row.source_text] == row.text
