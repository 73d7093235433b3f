"""The live view's charts as inline SVG: emotion timeline, modality importance, per-modality probabilities.

SVG strings built in Python (~1 ms) and shown by a gr.HTML box. Plotly figures cost the page's main thread
0.1-0.5 s each time the three were redrawn (once a second): in the browser benchmark the live words and the
replies waited behind them, end of speech -> reply on the page 1.33 s median with them, 0.96 s without
(benchmarks/browser.py --split-cores). Labels are fixed strings (emotion and modality names), never user text.
"""
from __future__ import annotations

from agf_core.labels import EMOTIONS, MODALITIES

COLOURS = {"neutral": "#9e9e9e", "joy": "#f4b400", "sadness": "#4285f4", "anger": "#db4437",
           "fear": "#8e44ad", "disgust": "#0f9d58", "surprise": "#ff7f0e"}
MODALITY_COLOURS = {"text": "#5c6bc0", "audio": "#26a69a", "video": "#ef6c00"}
MODALITY_NAMES = {"text": "words", "audio": "voice", "video": "face"}
FONT = 'font-family="sans-serif" font-size="11" fill="#444"'
LEGEND_W = 84                       # the legend's column, right of the plot: it never covers the data or axes
TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


class Box:
    """A plot area in an SVG: maps data (x in [x0, x1], y in [0, 1]) to pixels."""

    def __init__(self, left: float, top: float, width: float, height: float, x0: float = 0.0, x1: float = 1.0):
        self.left, self.top, self.width, self.height = left, top, width, height
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1.0

    def x(self, v: float) -> float:
        return self.left + (v - self.x0) / (self.x1 - self.x0) * self.width

    def y(self, p: float) -> float:
        return self.top + (1.0 - min(max(p, 0.0), 1.0)) * self.height

    def grid(self) -> str:
        return "".join(f'<line x1="{self.left:.1f}" x2="{self.left + self.width:.1f}" y1="{self.y(p):.1f}" '
                       f'y2="{self.y(p):.1f}" stroke="#e5e5e5"/>' for p in TICKS)

    def y_axis(self, title: str) -> str:
        """Grid lines and labels at 0, 0.25 ... 1, and the axis title, rotated, left of the labels."""
        out = [self.grid()]
        out += [f'<text x="{self.left - 4:.1f}" y="{self.y(p) + 4:.1f}" text-anchor="end" {FONT}>{p:g}</text>'
                for p in TICKS]
        mid = self.top + self.height / 2
        out.append(f'<text transform="translate({self.left - 34:.1f},{mid:.1f}) rotate(-90)" text-anchor="middle" '
                   f'{FONT}>{title}</text>')
        return "".join(out)

    def x_axis(self, title: str, ticks: list[float]) -> str:
        bottom = self.top + self.height
        out = [f'<line x1="{self.left:.1f}" x2="{self.left + self.width:.1f}" y1="{bottom:.1f}" y2="{bottom:.1f}" '
               f'stroke="#999"/>']
        out += [f'<text x="{self.x(t):.1f}" y="{bottom + 14:.1f}" text-anchor="middle" {FONT}>{t:g}</text>'
                for t in ticks]
        out.append(f'<text x="{self.left + self.width / 2:.1f}" y="{bottom + 30:.1f}" text-anchor="middle" '
                   f'{FONT}>{title}</text>')
        return "".join(out)

    def line(self, xs: list[float], ys: list[float], colour: str, name: str) -> str:
        points = " ".join(f"{self.x(x):.1f},{self.y(y):.1f}" for x, y in zip(xs, ys))
        return f'<polyline data-name="{name}" points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'

    def bar(self, x: float, width: float, p: float, colour: str, name: str) -> str:
        y = self.y(p)
        return (f'<rect data-name="{name}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
                f'height="{self.top + self.height - y:.1f}" fill="{colour}"/>')


def time_ticks(x0: float, x1: float, n: int = 6) -> list[float]:
    """Round tick positions (1, 2, 5, 10, 20, 30 or 60 s apart) within [x0, x1]."""
    step = next((s for s in (1, 2, 5, 10, 20, 30, 60, 120, 300) if (x1 - x0) / s <= n), 600)
    first = -(-x0 // step) * step
    return [first + i * step for i in range(int((x1 - first) // step) + 1)]


def legend(left: float, top: float, items: list[tuple[str, str]]) -> str:
    """A column of colour keys."""
    return "".join(f'<rect x="{left:.1f}" y="{top + 16 * i:.1f}" width="12" height="3" fill="{c}" rx="1"/>'
                   f'<text x="{left + 16:.1f}" y="{top + 16 * i + 5:.1f}" {FONT}>{name}</text>'
                   for i, (name, c) in enumerate(items))


def modality_legend(modalities: list[str], top: float = 226) -> str:
    """A row of colour keys along the bottom."""
    return "".join(f'<rect x="{60 + 90 * i}" y="{top}" width="12" height="8" fill="{MODALITY_COLOURS[m]}"/>'
                   f'<text x="{76 + 90 * i}" y="{top + 8}" {FONT}>{MODALITY_NAMES[m]}</text>'
                   for i, m in enumerate(modalities))


def svg(width: int, height: int, title: str, body: str, **data: str) -> str:
    attrs = "".join(f' data-{k}="{v}"' for k, v in data.items())
    return (f'<svg class="agf-chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{title}"'
            f'{attrs} xmlns="http://www.w3.org/2000/svg"><text x="8" y="16" font-family="sans-serif" '
            f'font-size="13" font-weight="bold" fill="#333">{title}</text>{body}</svg>')


def recent(rows: list[dict], window_s: float) -> tuple[list[dict], float]:
    end = rows[-1]["t"] if rows else 0.0
    return [r for r in rows if r["t"] >= end - window_s], end


def timeline_chart(rows: list[dict], window_s: float = 60.0) -> str:
    """Fused probability of each emotion over the last `window_s` seconds (one line per emotion). The times
    plotted are in the SVG's `data-t` (exact, space-separated), so tests can match them against the store."""
    shown, end = recent(rows, window_s)
    box = Box(52, 28, 640 - 52 - LEGEND_W - 12, 170, max(0.0, end - window_s), max(end, 1.0))
    t = [r["t"] for r in shown]
    body = box.y_axis("probability") + box.x_axis("time in session (s)", time_ticks(box.x0, box.x1))
    body += "".join(box.line(t, [r[f"p_{e}"] for r in shown], COLOURS[e], e) for e in EMOTIONS)
    body += legend(640 - LEGEND_W, 30, [(e, COLOURS[e]) for e in EMOTIONS])
    return svg(640, 240, "Emotion, last 60 s", body, t=" ".join(repr(x) for x in t))


def importance_chart(rows: list[dict], window_s: float = 60.0) -> str:
    """Each modality's fusion weight now (bars, left) and over the last `window_s` seconds (lines, right)."""
    shown, end = recent(rows, window_s)
    last = shown[-1] if shown else {}
    now = Box(52, 28, 90, 150)
    history = Box(176, 28, 400 - 176 - 12, 150, max(0.0, end - window_s), max(end, 1.0))
    body = now.y_axis("weight")
    for i, m in enumerate(MODALITIES):
        body += now.bar(now.left + 6 + 28 * i, 22, last.get(f"w_{m}", 0.0), MODALITY_COLOURS[m], MODALITY_NAMES[m])
    body += now.x_axis("now", []) + history.grid() + history.x_axis("time (s)", time_ticks(history.x0, history.x1, 4))
    body += "".join(history.line([r["t"] for r in shown], [r.get(f"w_{m}", 0.0) for r in shown],
                                 MODALITY_COLOURS[m], MODALITY_NAMES[m]) for m in MODALITIES)
    return svg(400, 240, "How much each modality counted", body + modality_legend(list(MODALITIES)))


def modality_bars_chart(per_modality: dict[str, dict[str, float]]) -> str:
    """Each present modality's own probabilities, grouped by emotion."""
    present = [m for m in MODALITIES if m in per_modality]
    box = Box(52, 28, 400 - 52 - 12, 150)
    group = box.width / len(EMOTIONS)
    width = (group - 8) / max(len(present), 1)
    body = box.y_axis("probability")
    for j, e in enumerate(EMOTIONS):
        left = box.left + j * group + 4
        body += "".join(box.bar(left + i * width, width, per_modality[m][e], MODALITY_COLOURS[m],
                                f"{MODALITY_NAMES[m]} {e}") for i, m in enumerate(present))
        body += (f'<text x="{left + (group - 8) / 2:.1f}" y="{box.top + box.height + 14:.1f}" text-anchor="middle" '
                 f'font-family="sans-serif" font-size="9.5" fill="#444">{e}</text>')
    body += f'<line x1="{box.left}" x2="{box.left + box.width}" y1="{box.top + box.height}" ' \
            f'y2="{box.top + box.height}" stroke="#999"/>'
    return svg(400, 240, "Each modality's own reading", body + modality_legend(present))
