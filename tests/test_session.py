import csv
import io

import pytest

from agf_core.labels import EMOTIONS
from agf_core.recognizer import Prediction
from streaming.live.session import SessionState
from streaming.live.smoothing import LabelSmoother, SmoothingOptions


def _pred(**probs):
    p = {e: 0.0 for e in EMOTIONS}
    p.update(probs)
    label = max(p, key=p.get)
    return Prediction(label, p[label], p, {"text": p}, {"text": 1.0}, "average", {})


def test_smoothing_ignores_a_single_flicker_and_follows_a_change():
    s = LabelSmoother(SmoothingOptions(half_life_s=1.0, margin=0.1))
    assert s.update(_pred(neutral=0.6, joy=0.4).probs, 0.0)[0] == "neutral"
    assert s.update(_pred(neutral=0.45, joy=0.55).probs, 0.5)[0] == "neutral"   # one close call: no flip
    shown = [s.update(_pred(neutral=0.1, joy=0.9).probs, t)[0] for t in (1, 2, 3)]
    assert shown[-1] == "joy"


def test_export_round_trip_reads_back_equal():
    s = SessionState(participant_id="P07", consent=True, metadata={"age": "young"})
    s.add_prediction(_pred(joy=0.9, neutral=0.1), "typed", t=0.5)
    s.add_prediction(_pred(sadness=0.7, neutral=0.3), "speech", t=1.0)
    s.add_turn("I passed my exam", "typed", "joy", "That's wonderful!", "shared warmth")
    s.add_correction("surprise", "more surprised than happy")
    back = SessionState.from_json(s.to_json())
    for attr in ("participant_id", "session_id", "started", "consent", "metadata", "timeline", "transcript",
                 "replies", "corrections"):
        assert getattr(back, attr) == getattr(s, attr), attr
    rows = list(csv.DictReader(io.StringIO(s.timeline_csv())))
    assert len(rows) == 2 and rows[1]["label"] == "sadness" and float(rows[0]["p_joy"]) == 0.9
    assert s.history() == [("I passed my exam", "That's wonderful!")]


def test_bad_values_are_named():
    s = SessionState()
    with pytest.raises(ValueError, match="'bored'"):
        s.add_correction("bored")
    with pytest.raises(ValueError, match="'radio'"):
        s.add_prediction(_pred(joy=1.0), "radio")
    with pytest.raises(ValueError, match="agf-session/1"):
        SessionState.from_json('{"timeline": []}')


def test_sessions_are_independent():
    a, b = SessionState(), SessionState()
    a.add_correction("joy")
    assert b.corrections == [] and a.session_id != b.session_id


def test_an_empty_timeline_exports_a_header():
    header = SessionState().timeline_csv().splitlines()
    assert len(header) == 1 and header[0].startswith("t,source,label,confidence,shown")
