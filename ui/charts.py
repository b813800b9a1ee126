"""Plotly figures for the studio, built from plain data (event lists, frames, dicts)."""

from __future__ import annotations

from typing import Iterable

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.i18n import t

FONT = (
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'Noto Sans CJK SC', "
    "'Microsoft YaHei', sans-serif"
)
COLORS = [
    "#4f46e5",
    "#f97316",
    "#059669",
    "#db2777",
    "#0891b2",
    "#ca8a04",
    "#7c3aed",
    "#dc2626",
    "#65a30d",
    "#475569",
]


def _layout(fig: go.Figure, height: int = 320, legend: bool = True) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        font={"family": FONT, "size": 12},
        margin={"l": 50, "r": 20, "t": 44, "b": 40},
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
        hovermode="x unified",
    )
    return fig


def empty_figure(message: str, height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        font={"size": 14, "color": "#6b7280"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height, legend=False)


def _series(events: Iterable[dict], kind: str, key: str) -> tuple[list, list]:
    from engine.runs import superseded_removed

    xs, ys = [], []
    for e in superseded_removed(list(events)):  # a resumed run: one continuous curve
        if e.get("event") == kind and e.get(key) is not None and e.get("step") is not None:
            xs.append(e["step"])
            ys.append(e[key])
    return xs, ys


# Validation scores in [0, 1] a task may report during training, in legend order.
SCORE_KEYS = ("accuracy", "macro_f1", "micro_f1", "f1", "precision", "recall", "exact_match")
SCORE_LABELS = {"accuracy": "chart.val_accuracy", "macro_f1": "chart.val_f1"}


def training_figure(events: list[dict], lang: str = "en") -> go.Figure:
    """Loss (train + validation) and validation accuracy / macro-F1 against the step."""
    steps, loss = _series(events, "log", "loss")
    vsteps, vloss = _series(events, "eval", "eval_loss")
    if not steps and not vsteps:
        return empty_figure(t("chart.waiting", lang))
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.1,
        subplot_titles=(t("chart.loss", lang), t("chart.scores", lang)),
    )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=loss,
            name=t("chart.train_loss", lang),
            mode="lines",
            line={"color": COLORS[0], "width": 2},
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=vsteps,
            y=vloss,
            name=t("chart.val_loss", lang),
            mode="lines+markers",
            line={"color": COLORS[1], "width": 2},
        ),
        row=1,
        col=1,
    )
    for i, key in enumerate(SCORE_KEYS):  # whichever scores the task reports while training
        xs, ys = _series(events, "eval", "eval_" + key)
        if not xs and key not in ("accuracy", "macro_f1"):
            continue
        label = (
            t(SCORE_LABELS[key], lang)
            if key in SCORE_LABELS
            else t("chart.val_score", lang, name=key.replace("_", " "))
        )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=label,
                mode="lines+markers",
                line={"color": COLORS[(2 + i) % len(COLORS)], "width": 2},
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text=t("chart.step", lang))
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    return _layout(fig, 340)


def pretrain_figure(events: list[dict], lang: str = "en") -> go.Figure:
    """Continued pre-training: training and held-out loss, and the held-out perplexity (the
    step-0 point is the model before any training), against the step."""
    steps, loss = _series(events, "log", "loss")
    vsteps, vloss = _series(events, "eval", "eval_loss")
    psteps, ppl = _series(events, "eval", "eval_perplexity")
    if not steps and not psteps:
        return empty_figure(t("chart.adapt_waiting", lang))
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.1,
        subplot_titles=(t("chart.loss", lang), t("chart.ppl", lang)),
    )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=loss,
            name=t("chart.train_loss", lang),
            mode="lines",
            line={"color": COLORS[0], "width": 2},
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=vsteps,
            y=vloss,
            name=t("chart.held_loss", lang),
            mode="lines+markers",
            line={"color": COLORS[1], "width": 2},
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=psteps,
            y=ppl,
            name=t("chart.held_ppl", lang),
            mode="lines+markers",
            line={"color": COLORS[2], "width": 2},
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(title_text=t("chart.step", lang), rangemode="tozero")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    if ppl and max(ppl) / max(min(ppl), 1e-9) > 20:  # a huge first value flattens the rest
        fig.update_yaxes(type="log", row=1, col=2)
    return _layout(fig, 340)


def compare_figure(runs: dict[str, list[dict]], lang: str = "en") -> go.Figure:
    """Training loss and validation macro-F1 of several runs, one colour per run."""
    if not runs:
        return empty_figure(t("chart.pick_runs", lang))
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.1,
        subplot_titles=(t("chart.train_loss", lang), t("chart.val_f1", lang)),
    )
    for i, (name, events) in enumerate(runs.items()):
        color = COLORS[i % len(COLORS)]
        xs, ys = _series(events, "log", "loss")
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=name,
                legendgroup=name,
                mode="lines",
                line={"color": color, "width": 2},
            ),
            row=1,
            col=1,
        )
        xs, ys = _series(events, "eval", "eval_macro_f1")
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=name,
                legendgroup=name,
                showlegend=False,
                mode="lines+markers",
                line={"color": color, "width": 2},
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text=t("chart.step", lang))
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    return _layout(fig, 360)


def label_figure(labels: list, counts: list, lang: str = "en") -> go.Figure:
    if not labels:
        return empty_figure(t("chart.no_data", lang), 280)
    fig = go.Figure(
        go.Bar(
            x=[str(l) for l in labels],
            y=counts,
            marker_color=COLORS[0],
            text=counts,
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_layout(title={"text": t("chart.labels", lang), "x": 0, "font": {"size": 14}})
    fig.update_xaxes(type="category", title_text=t("chart.label", lang))
    fig.update_yaxes(title_text=t("chart.rows", lang))
    fig = _layout(fig, 280, legend=False)
    fig.update_layout(hovermode="closest")
    return fig


def length_figure(lengths: Iterable[int], lang: str = "en") -> go.Figure:
    values = list(lengths)
    if not values:
        return empty_figure(t("chart.no_data", lang), 280)
    fig = go.Figure(go.Histogram(x=values, nbinsx=40, marker_color=COLORS[2]))
    fig.update_layout(
        title={"text": t("chart.lengths", lang), "x": 0, "font": {"size": 14}}, bargap=0.05
    )
    fig.update_xaxes(title_text=t("chart.words", lang))
    fig.update_yaxes(title_text=t("chart.rows", lang))
    fig = _layout(fig, 280, legend=False)
    fig.update_layout(hovermode="closest")
    return fig


def confusion_figure(matrix: list[list[int]], labels: list[str], lang: str = "en") -> go.Figure:
    """Rows: true label, columns: predicted label, counts written in the cells."""
    if not matrix or not labels:
        return empty_figure(t("chart.no_data", lang), 360)
    names = [str(l) for l in labels]
    size = max(320, min(640, 90 + 48 * len(names)))
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=names,
            y=names,
            colorscale="Blues",
            showscale=False,
            text=[[str(v) for v in row] for row in matrix],
            texttemplate="%{text}",
            hovertemplate=t("chart.cm_hover", lang) + "<extra></extra>",
        )
    )
    fig.update_xaxes(title_text=t("chart.predicted", lang), type="category", side="bottom")
    fig.update_yaxes(title_text=t("chart.true", lang), type="category", autorange="reversed")
    fig.update_layout(title={"text": t("chart.confusion", lang), "x": 0, "font": {"size": 14}})
    fig = _layout(fig, size, legend=False)
    fig.update_layout(hovermode="closest")
    return fig


def probabilities_figure(probabilities: dict[str, float], lang: str = "en") -> go.Figure:
    if not probabilities:
        return empty_figure(t("chart.no_prediction", lang), 240)
    items = sorted(probabilities.items(), key=lambda kv: kv[1])
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in items],
            y=[str(k) for k, _ in items],
            orientation="h",
            marker_color=COLORS[0],
            text=[f"{v:.1%}" for _, v in items],
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_xaxes(range=[0, 1.1], tickformat=".0%", title_text=t("chart.probability", lang))
    fig.update_yaxes(type="category")
    fig = _layout(fig, max(200, 60 + 36 * len(items)), legend=False)
    fig.update_layout(hovermode="closest", margin={"l": 90, "r": 20, "t": 20, "b": 40})
    return fig


def scores_figure(scores: dict[str, float], lang: str = "en") -> go.Figure:
    """Test F1 per label / entity type / relation, as horizontal bars."""
    items = sorted(scores.items(), key=lambda kv: kv[1])
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in items],
            y=[str(k) for k, _ in items],
            orientation="h",
            marker_color=COLORS[2],
            text=[f"{v:.2f}" for _, v in items],
            textposition="auto",
        )
    )
    fig.update_xaxes(range=[0, 1.02], title_text=t("chart.f1_per_label", lang))
    fig.update_yaxes(type="category")
    fig.update_layout(
        title={"text": t("chart.f1_per_label_title", lang), "x": 0, "font": {"size": 14}}
    )
    return _layout(fig, max(280, min(640, 90 + 30 * len(items))), legend=False)


def before_after_figure(
    after: dict, before: dict, names: dict[str, str], lang: str = "en"
) -> go.Figure:
    """The task's test metrics before and after fine-tuning, side by side (same rows)."""
    keys = [
        k
        for k, v in after.items()
        if k in names
        and k != "loss"
        and isinstance(v, (int, float))
        and isinstance(before.get(k), (int, float))
    ]
    if not keys:
        return empty_figure(t("chart.no_data", lang), 360)
    labels = [names[k] for k in keys]
    fig = go.Figure(
        [
            go.Bar(
                name=t("chart.before", lang),
                x=labels,
                y=[before[k] for k in keys],
                marker_color=COLORS[1],
            ),
            go.Bar(
                name=t("chart.after", lang),
                x=labels,
                y=[after[k] for k in keys],
                marker_color=COLORS[0],
            ),
        ]
    )
    fig.update_layout(
        barmode="group", title={"text": t("chart.before_after", lang), "x": 0, "font": {"size": 14}}
    )
    fig.update_xaxes(type="category")
    return _layout(fig, 360)
