"""The live view's SVG charts (streaming/live/charts.py): what they draw, where, and with which names."""
import re

from agf_core.labels import EMOTIONS
from streaming.live.charts import Box, importance_chart, modality_bars_chart, time_ticks, timeline_chart


def _row(t, p, w=(0.2, 0.5, 0.3)):
    return {"t": t, **{f"p_{e}": p.get(e, 0.0) for e in EMOTIONS}, "w_text": w[0], "w_audio": w[1], "w_video": w[2]}


def test_the_timeline_draws_one_line_per_emotion_over_the_last_minute():
    rows = [_row(t, {"joy": 1.0}) for t in range(0, 100, 10)]
    svg = timeline_chart(rows)
    lines = dict(re.findall(r'data-name="(\w+)" points="([^"]+)"', svg))
    assert list(lines) == list(EMOTIONS)
    joy = [tuple(map(float, p.split(","))) for p in lines["joy"].split()]
    assert len(joy) == 7                                               # t = 30 ... 90: the last 60 s
    box = Box(52, 28, 640 - 52 - 84 - 12, 170, 30, 90)
    assert joy[0] == (round(box.x(30), 1), round(box.y(1.0), 1)) and all(y == joy[0][1] for _, y in joy)
    assert all(f">{name}</text>" in svg for name in ("probability", "time in session (s)", *EMOTIONS))


def test_importance_and_bars_show_only_what_is_there():
    svg = importance_chart([_row(1.0, {}, (0.1, 0.7, 0.2))])
    assert re.findall(r'<rect data-name="(\w+)"', svg) == ["words", "voice", "face"]
    bars = modality_bars_chart({"text": dict.fromkeys(EMOTIONS, 0.5)})
    assert len(re.findall(r'<rect data-name="words \w+"', bars)) == 7 and "voice" not in bars
    assert timeline_chart([]).count("<polyline") == 7 and "<rect data-name" not in modality_bars_chart({})


def test_time_ticks_are_round_and_inside_the_range():
    assert time_ticks(0.0, 1.0) == [0.0, 1.0]
    assert time_ticks(33.2, 93.2) == [40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    assert all(31.0 <= t <= 247.0 for t in time_ticks(31.0, 247.0)) and len(time_ticks(31.0, 247.0)) <= 6
