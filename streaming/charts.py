"""Plotly figures for the live view: emotion timeline, modality importance, per-modality probabilities.

Built as plain dicts and wrapped without plotly's validation: a validated figure costs ~50 ms of Python per
figure (the page's figures took ~160 ms a second, holding the interpreter the live path shares), unvalidated
~3 ms. The dicts follow plotly's schema; tests/test_demo.py renders them through Gradio.
"""
from __future__ import annotations

import functools

import plotly.graph_objects as go

from agf_core.labels import EMOTIONS, MODALITIES

COLOURS = {"neutral": "#9e9e9e", "joy": "#f4b400", "sadness": "#4285f4", "anger": "#db4437",
           "fear": "#8e44ad", "disgust": "#0f9d58", "surprise": "#ff7f0e"}
MODALITY_COLOURS = {"text": "#5c6bc0", "audio": "#26a69a", "video": "#ef6c00"}
MODALITY_NAMES = {"text": "words", "audio": "voice", "video": "face"}


@functools.lru_cache(maxsize=1)
def _template() -> dict:
    import plotly.io as pio
    return pio.templates["plotly_white"].to_plotly_json()


def _figure(data: list[dict], title: str, height: int = 300, **layout) -> go.Figure:
    # Legend to the right of the plot, so it never sits on the x-axis title or tick labels.
    layout = {"title": {"text": title, "font": {"size": 14}}, "height": height, "template": _template(),
              "margin": {"l": 56, "r": 10, "t": 40, "b": 48},
              "legend": {"orientation": "v", "x": 1.02, "y": 1.0, "xanchor": "left", "font": {"size": 10},
                         "tracegroupgap": 2}, **layout}
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def timeline_figure(rows: list[dict], window_s: float = 60.0) -> go.Figure:
    """Fused probability of each emotion over the last `window_s` seconds (one line per emotion)."""
    end = rows[-1]["t"] if rows else 0.0
    recent = [r for r in rows if r["t"] >= end - window_s]
    t = [r["t"] for r in recent]
    data = [{"type": "scatter", "x": t, "y": [r[f"p_{e}"] for r in recent], "name": e, "mode": "lines",
             "line": {"color": COLOURS[e], "width": 2}} for e in EMOTIONS]
    return _figure(data, "Emotion, last 60 s",
                   xaxis={"title": {"text": "time in session (s)"}, "range": [max(0.0, end - window_s), max(end, 1.0)]},
                   yaxis={"title": {"text": "probability"}, "range": [0, 1]})


def importance_figure(rows: list[dict], window_s: float = 60.0) -> go.Figure:
    """Current fusion weight per modality (bars) and its history (lines)."""
    end = rows[-1]["t"] if rows else 0.0
    recent = [r for r in rows if r["t"] >= end - window_s]
    last = recent[-1] if recent else {}
    data = [{"type": "bar", "x": [MODALITY_NAMES[m] for m in MODALITIES], "y": [last.get(f"w_{m}", 0.0) for m in MODALITIES],
             "marker": {"color": [MODALITY_COLOURS[m] for m in MODALITIES]}, "name": "now", "xaxis": "x2",
             "yaxis": "y", "showlegend": False}]
    data += [{"type": "scatter", "x": [r["t"] for r in recent], "y": [r.get(f"w_{m}", 0.0) for r in recent],
              "name": MODALITY_NAMES[m], "mode": "lines", "line": {"color": MODALITY_COLOURS[m]}} for m in MODALITIES]
    return _figure(data, "How much each modality counted",
                   xaxis={"domain": [0.34, 1.0], "title": {"text": "time (s)"}},
                   xaxis2={"domain": [0.0, 0.26], "anchor": "y", "title": {"text": "now"}},
                   yaxis={"range": [0, 1], "title": {"text": "weight"}, "anchor": "x2"})   # left of the bars


def modality_bars_figure(per_modality: dict[str, dict[str, float]]) -> go.Figure:
    """Each present modality's own probabilities, grouped by emotion."""
    data = [{"type": "bar", "x": list(EMOTIONS), "y": [per_modality[m][e] for e in EMOTIONS],
             "name": MODALITY_NAMES[m], "marker": {"color": MODALITY_COLOURS[m]}}
            for m in MODALITIES if m in per_modality]
    return _figure(data, "Each modality's own reading", barmode="group",
                   xaxis={"tickangle": 0, "tickfont": {"size": 10}},
                   yaxis={"title": {"text": "probability"}, "range": [0, 1]})
