"""What the Evaluate tab shows for the tasks other than classification.

Plain functions of a run's metrics.json and of a predictor's answers, so they are tested without a
browser. Every task reports the same shape (engine/tasks/__init__.py): ``test`` and, where the
task has one, ``before`` (the untrained or zero-shot model on the same rows), ``report`` (per
label / entity type / relation) and ``examples`` (NER: tokens with gold and predicted spans;
generation: source, reference, output before and after; QA: context, question, gold, predicted).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ui.i18n import t

# metric keys -> (i18n key, scale): scores in [0, 1] are shown with 3 decimals, BLEU/chrF as is
METRIC_NAMES = {
    "accuracy": "eval.m.accuracy",
    "macro_f1": "eval.m.macro_f1",
    "micro_f1": "eval.m.micro_f1",
    "samples_f1": "eval.m.samples_f1",
    "subset_accuracy": "eval.m.subset_accuracy",
    "hamming_loss": "eval.m.hamming_loss",
    "f1": "eval.m.f1",
    "precision": "eval.m.precision",
    "recall": "eval.m.recall",
    "exact_match": "eval.m.exact_match",
    "rouge1": "eval.m.rouge1",
    "rouge2": "eval.m.rouge2",
    "rougeL": "eval.m.rougeL",
    "bleu": "eval.m.bleu",
    "chrf": "eval.m.chrf",
    "loss": "eval.m.loss",
    "threshold": "eval.m.threshold",
}
# which fields the "try it" box asks for, per task: (first box, second box, third box) roles
INPUT_ROLES = {
    "classification": ("text", None, None),
    "multilabel": ("text", None, None),
    "ner": ("text", None, None),
    "relation": ("text", "head", "tail"),
    "qa": ("context", "question", None),
    "summarization": ("source", None, None),
    "translation": ("source", None, None),
    "dialogue": ("source", None, None),
}
# which output widget answers: "label" (probabilities), "entities" (highlighted), "text"
OUTPUT_KIND = {
    "classification": "label",
    "multilabel": "label",
    "relation": "label",
    "ner": "entities",
    "qa": "text",
    "summarization": "text",
    "translation": "text",
    "dialogue": "text",
}
EXAMPLE_LIMIT = 400  # characters of a long text cell in the examples table


def fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) <= 1.0 else f"{value:.1f}"
    return str(value)


def task_metrics_table(metrics: dict, lang: str) -> pd.DataFrame:
    """One row per test metric: the fine-tuned value, and the untrained one when reported."""
    test, before = metrics.get("test") or {}, metrics.get("before") or {}
    rows = [(k, v) for k, v in test.items() if k != "n" and isinstance(v, (int, float))]
    data: dict[str, list] = {
        t("eval.col.metric", lang): [
            t(METRIC_NAMES[k], lang) if k in METRIC_NAMES else k for k, _ in rows
        ],
        t("eval.col.value", lang): [fmt(v) for _, v in rows],
    }
    if before:
        data[t("eval.col.before", lang)] = [fmt(before.get(k)) for k, _ in rows]
    extra = [(t("eval.m.test_rows", lang), str(test.get("n", "–")))]
    params = metrics.get("parameters") or {}
    if params:
        extra.append(
            (
                t("eval.m.params", lang),
                t(
                    "eval.params_value",
                    lang,
                    trainable=_human(params.get("trainable")),
                    total=_human(params.get("total")),
                    percent=f"{float(params.get('percent', 0)):.2f}",
                ),
            )
        )
    if isinstance(metrics.get("train_samples_per_second"), (int, float)):
        extra.append((t("eval.m.speed", lang), f"{metrics['train_samples_per_second']:.1f}"))
    if metrics.get("device"):
        extra.append((t("eval.m.device", lang), str(metrics["device"])))
    for name, value in extra:
        data[t("eval.col.metric", lang)].append(name)
        data[t("eval.col.value", lang)].append(value)
        if before:
            data[t("eval.col.before", lang)].append("")
    return pd.DataFrame(data)


def _human(n: Any) -> str:
    from ui.common import human_number

    return human_number(n)


def report_rows(metrics: dict) -> dict[str, dict]:
    """The per-label (per-type, per-relation) report as {label: {metric: value}}."""
    report = metrics.get("report") or metrics.get("test_report") or {}
    if isinstance(report, dict) and isinstance(report.get("per_class"), dict):
        report = report["per_class"]
    if isinstance(report, dict) and isinstance(report.get("per_label"), dict):
        report = report["per_label"]
    if isinstance(report, dict) and isinstance(report.get("per_type"), dict):
        report = report["per_type"]
    if isinstance(report, list):  # [{"label": ..., "precision": ...}, ...]
        return {
            str(r.get("label", r.get("type", i))): r
            for i, r in enumerate(report)
            if isinstance(r, dict)
        }
    return (
        {str(k): v for k, v in report.items() if isinstance(v, dict)}
        if isinstance(report, dict)
        else {}
    )


def task_report_table(metrics: dict, lang: str) -> pd.DataFrame:
    rows = report_rows(metrics)
    keys = ("precision", "recall", "f1", "f1-score", "support")
    out = {t("eval.col.label", lang): list(rows)}
    for key in keys:
        if any(key in r for r in rows.values()):
            name = (
                t("eval.col.f1", lang) if key in ("f1", "f1-score") else t(f"eval.col.{key}", lang)
            )
            out[name] = [
                round(float(r.get(key, 0)), 3) if key != "support" else int(r.get(key, 0))
                for r in rows.values()
            ]
    return pd.DataFrame(out)


def examples_table(metrics: dict, lang: str) -> pd.DataFrame:
    """The task's examples as a table of their plain fields (lists and spans left out: the NER
    view shows those highlighted)."""
    examples = metrics.get("examples") or metrics.get("worst_errors") or []
    rows = []
    for e in examples:
        if not isinstance(e, dict):
            continue
        row = {}
        for k, v in e.items():
            if isinstance(v, (str, int, float)) and not isinstance(v, bool):
                v = (
                    v
                    if not isinstance(v, str) or len(v) <= EXAMPLE_LIMIT
                    else v[:EXAMPLE_LIMIT] + "…"
                )
                row[t(f"eval.ex.{k}", lang) if f"eval.ex.{k}" in _EXAMPLE_KEYS else k] = v
        rows.append(row)
    return pd.DataFrame(rows)


_EXAMPLE_KEYS = {
    "eval.ex.source",
    "eval.ex.reference",
    "eval.ex.before",
    "eval.ex.after",
    "eval.ex.context",
    "eval.ex.question",
    "eval.ex.gold",
    "eval.ex.predicted",
    "eval.ex.text",
    "eval.ex.score",
}


def _spans_to_entities(text: str, spans: Any) -> dict | None:
    """gr.HighlightedText value {"text", "entities"} from character spans or (piece, label)
    pairs."""
    if not spans:
        return {"text": text, "entities": []}
    first = spans[0]
    if isinstance(first, (list, tuple)) and len(first) == 2 and isinstance(first[0], str):
        return [(str(p), (str(l) if l else None)) for p, l in spans]  # already pairs
    entities = []
    for s in spans:
        if isinstance(s, dict) and "start" in s and "end" in s:
            entities.append(
                {
                    "entity": str(s.get("label") or s.get("entity") or "ENT"),
                    "start": int(s["start"]),
                    "end": int(s["end"]),
                }
            )
    return {"text": text, "entities": entities}


def ner_example(metrics: dict, index: int) -> tuple:
    """(gold, predicted) gr.HighlightedText values for test example ``index``."""
    examples = [e for e in metrics.get("examples") or [] if isinstance(e, dict)]
    if not examples:
        return None, None
    e = examples[max(0, min(int(index or 0), len(examples) - 1))]
    for gold_key, pred_key in (
        ("gold_highlighted", "predicted_highlighted"),
        ("gold_pairs", "predicted_pairs"),
        ("gold_char_spans", "predicted_char_spans"),
        ("gold_entities", "predicted_entities"),
    ):
        if gold_key in e or pred_key in e:
            text = e.get("text", "")
            return (
                _spans_to_entities(text, e.get(gold_key)),
                _spans_to_entities(text, e.get(pred_key)),
            )
    return None, None


def prediction_outputs(task: str, result: dict) -> tuple:
    """(label value, highlighted value, text value) for one prediction of any task."""
    kind = OUTPUT_KIND.get(task, "label")
    if kind == "label":
        probs = result.get("probabilities") or {}
        return (
            probs or {str(result.get("label", "")): 1.0},
            None,
            ", ".join(result.get("labels", [])) if isinstance(result.get("labels"), list) else "",
        )
    if kind == "entities":
        text = result.get("text") or " ".join(result.get("tokens") or [])
        if result.get("highlighted"):
            return None, _spans_to_entities(text, result["highlighted"]), ""
        return None, _spans_to_entities(text, result.get("entities") or []), ""
    answer = result.get("answer", result.get("output", ""))
    if "score" in result and isinstance(result["score"], (int, float)):
        answer = f"{answer}"
    return None, None, str(answer)


def prediction_input(task: str, first: str, second: str, third: str):
    """The predictor input for the "try it" boxes, or a message key when something is missing."""
    roles = INPUT_ROLES.get(task, ("text", None, None))
    values = [first, second, third]
    for role, value in zip(roles, values):
        if role and not (value or "").strip():
            return None, f"eval.need.{role}"
    if task == "relation":
        return {"text": first, "head": second, "tail": third}, ""
    if task == "qa":
        return {"context": first, "question": second}, ""
    return first, ""
