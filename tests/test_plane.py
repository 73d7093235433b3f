"""The valence-arousal plane: landmarks, the last minute's trajectory, the current point, absent readings."""
import re

from agf_core.affect import LANDMARKS
from streaming.live.plane import LABEL_AT, px, plane_chart


def _row(t, v, a):
    return {"t": t, "valence": v, "arousal": a}


def test_empty_plane_has_the_seven_landmarks_and_says_there_is_no_reading():
    svg = plane_chart([])
    for e in LANDMARKS:
        assert f'data-name="{e}"' in svg and f">{e}</text>" in svg
    assert "no valence-arousal reading yet" in svg and 'data-name="now"' not in svg and 'data-va=""' in svg
    assert set(LABEL_AT) == set(LANDMARKS)


def test_trajectory_is_the_last_minute_and_the_current_point_is_larger():
    rows = [_row(0.0, -0.9, -0.9), _row(50.0, -0.5, 0.1), _row(80.0, 0.2, 0.3), _row(100.0, 0.6, 0.7)]
    svg = plane_chart(rows)
    assert re.search(r'data-va="([^"]*)"', svg).group(1) == "-0.5000,0.1000 0.2000,0.3000 0.6000,0.7000"
    now = re.search(r'<circle data-name="now" cx="([\d.]+)" cy="([\d.]+)" r="(\d+)"', svg)
    x, y = px(0.6, 0.7)
    assert (float(now.group(1)), float(now.group(2))) == (round(x, 1), round(y, 1)) and int(now.group(3)) >= 6
    trail = re.search(r'data-name="trajectory" points="([^"]*)"', svg).group(1).split()
    assert len(trail) == 3 and "no valence-arousal reading" not in svg


def test_rows_without_valence_arousal_are_left_out_not_drawn_at_zero():
    rows = [{"t": 1.0, "label": "joy"}, _row(2.0, None, None), _row(3.0, -0.3, 0.4)]
    assert re.search(r'data-va="([^"]*)"', plane_chart(rows)).group(1) == "-0.3000,0.4000"
    assert "no valence-arousal reading yet" in plane_chart(rows[:2])


def test_axes_run_left_to_right_and_bottom_to_top_and_clip():
    assert px(-1, -1)[0] < px(1, -1)[0] and px(0, 1)[1] < px(0, -1)[1]
    assert px(5, 5) == px(1, 1)
