"""The valence-arousal plane as inline SVG, built like the other charts (charts.py: a string in ~1 ms, no JS).

Valence runs left (unpleasant) to right (pleasant), arousal bottom (calm) to top (activated), both -1..1. The
seven categories sit at their NRC-VAD places (agf_core/affect.py LANDMARKS) as labelled landmarks; the last
`window_s` seconds of fused readings are a trajectory, the current one a larger dot. The square viewBox scales
with the box's width, so one drawing serves a laptop and a phone. Labels are fixed strings, never user text.
"""
from __future__ import annotations

from agf_core.affect import LANDMARKS

from .charts import COLOURS, FONT, recent, svg

SIZE = 300                                 # small viewBox: at half a column (~270 px) the labels stay ~10 px
LEFT, TOP, SPAN = 38, 26, 240              # the plot square: SPAN px for the range -1..1 on both axes
# Where each landmark's label goes (dx, dy, anchor): anger, fear and disgust sit close together.
LABEL_AT = {"neutral": (0, 16, "middle"), "joy": (0, 17, "middle"), "sadness": (8, 4, "start"),
            "anger": (0, -9, "middle"), "fear": (-8, 0, "end"), "disgust": (-8, 9, "end"),
            "surprise": (0, -9, "middle")}


def px(v: float, a: float) -> tuple[float, float]:
    """Valence, arousal in [-1, 1] -> pixels in the viewBox."""
    clip = lambda x: min(max(x, -1.0), 1.0)  # noqa: E731
    return LEFT + (clip(v) + 1) / 2 * SPAN, TOP + (1 - clip(a)) / 2 * SPAN


def axes() -> str:
    mid_x, mid_y = px(0, 0)
    right, bottom = LEFT + SPAN, TOP + SPAN
    out = [f'<rect x="{LEFT}" y="{TOP}" width="{SPAN}" height="{SPAN}" fill="none" stroke="#ccc"/>',
           f'<line x1="{LEFT}" x2="{right}" y1="{mid_y:.1f}" y2="{mid_y:.1f}" stroke="#ddd"/>',
           f'<line x1="{mid_x:.1f}" x2="{mid_x:.1f}" y1="{TOP}" y2="{bottom}" stroke="#ddd"/>',
           f'<text x="{LEFT}" y="{bottom + 14}" {FONT}>unpleasant</text>',
           f'<text x="{right}" y="{bottom + 14}" text-anchor="end" {FONT}>pleasant</text>',
           f'<text x="{mid_x:.1f}" y="{bottom + 14}" text-anchor="middle" {FONT}>valence</text>',
           f'<text transform="translate({LEFT - 26},{bottom:.1f}) rotate(-90)" {FONT}>calm</text>',
           f'<text transform="translate({LEFT - 26},{TOP:.1f}) rotate(-90)" text-anchor="end" {FONT}>activated</text>',
           f'<text transform="translate({LEFT - 26},{mid_y:.1f}) rotate(-90)" text-anchor="middle" {FONT}>arousal</text>']
    return "".join(out)


def landmarks() -> str:
    out = []
    for e, (v, a) in LANDMARKS.items():
        x, y = px(v, a)
        dx, dy, anchor = LABEL_AT[e]
        out.append(f'<circle data-name="{e}" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{COLOURS[e]}" opacity="0.8"/>'
                   f'<text x="{x + dx:.1f}" y="{y + dy + 4:.1f}" text-anchor="{anchor}" {FONT}>{e}</text>')
    return "".join(out)


def plane_chart(rows: list[dict], window_s: float = 60.0, title: str = "Valence and arousal, last 60 s") -> str:
    """The fused valence and arousal of the last `window_s` seconds of timeline rows (rows without them, from a
    session whose modalities have no valence-arousal model, are left out). The points plotted are in the SVG's
    `data-va` ("v,a" pairs, oldest first)."""
    shown, _ = recent(rows, window_s)
    points = [(r["valence"], r["arousal"]) for r in shown if r.get("valence") is not None and r.get("arousal") is not None]
    body = axes() + landmarks()
    if points:
        xy = [px(v, a) for v, a in points]
        body += (f'<polyline data-name="trajectory" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in xy)}" '
                 f'fill="none" stroke="#37474f" stroke-width="1.5" stroke-opacity="0.5"/>')
        body += "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="#37474f" fill-opacity="0.4"/>' for x, y in xy[:-1])
        x, y = xy[-1]
        body += f'<circle data-name="now" cx="{x:.1f}" cy="{y:.1f}" r="7" fill="#263238" stroke="#fff" stroke-width="2"/>'
    else:
        body += (f'<text x="{LEFT + SPAN / 2}" y="{TOP + SPAN / 2 - 8}" text-anchor="middle" {FONT}>'
                 'no valence-arousal reading yet</text>')
    return svg(SIZE, SIZE, title, body,
               va=" ".join(f"{v:.4f},{a:.4f}" for v, a in points))
