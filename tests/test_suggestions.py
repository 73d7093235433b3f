"""Suggestions for a sustained state: the bank's checks, the rules, and the switch."""
import json

import pytest

from streaming.dialogue.suggestions import (STATES, SUGGESTION_BANK, Suggester, SuggestionOptions, SuggestionState,
                                            TurnAffect, load_bank, positive_words, sustained)
from streaming.study.privacy import PrivacyOptions, consent_text


def test_shipped_bank_loads_with_every_state():
    bank = load_bank()
    assert set(bank) == set(STATES) and all(len(v) >= 2 for v in bank.values())


@pytest.mark.parametrize("line,message", [
    ('{"state": "tense", "text": "Take a breath."', "line 2 is not valid JSON"),
    ('{"state": "bored", "text": "Take a walk."}', "line 2: unknown state 'bored'"),
    ('{"state": "tense"}', "line 2 must be an object with exactly the keys"),
    ('{"state": "tense", "text": "Ask your doctor about it."}', "line 2: 'doctor' makes the suggestion clinical"),
    ('{"state": "tense", "text": "no full stop"}', "line 2: text must be one sentence"),
])
def test_a_malformed_bank_is_refused_with_its_file_and_line(tmp_path, line, message):
    path = tmp_path / "bank.jsonl"
    path.write_text('{"state": "low_valence", "text": "Have a glass of water."}\n' + line + "\n")
    with pytest.raises(ValueError, match=message) as e:
        load_bank(path)
    assert str(path) in str(e.value)


def test_a_bank_without_a_state_is_refused(tmp_path):
    path = tmp_path / "bank.jsonl"
    path.write_text(json.dumps({"state": "tense", "text": "Take a breath."}) + "\n")
    with pytest.raises(ValueError, match="no suggestion for state\\(s\\) low_valence"):
        load_bank(path)


def _turns(vals, seconds=20.0, t0=0.0):
    return [TurnAffect(t0 + 25 * i, seconds, v, a) for i, (v, a) in enumerate(vals)]


def test_sustained_states():
    o = SuggestionOptions()
    assert sustained(_turns([(-0.5, -0.3)] * 3), o) == "low_valence"          # 60 s of low valence in 3 turns
    assert sustained(_turns([(-0.5, -0.3)] * 2), o) is None                   # only 40 s
    assert sustained(_turns([(-0.5, -0.3)], seconds=90), o) is None           # one long utterance: never
    assert sustained(_turns([(-0.5, -0.3), (0.3, 0.0), (-0.5, -0.3), (-0.5, -0.3)]), o) is None  # the run broke
    assert sustained(_turns([(-0.5, 0.6)] * 3, seconds=3), o) == "tense"      # several turns, however short
    assert sustained(_turns([(-0.5, 0.6), (-0.5, 0.0), (-0.5, 0.6)], seconds=3), o) is None
    assert sustained(_turns([(None, None)] * 5, seconds=30), o) is None       # no readings: nothing inferred


def test_suggester_never_for_positive_words_and_at_most_once_every_few_minutes():
    s = Suggester({"low_valence": ("Have a glass of water.",), "tense": ("Take a slow breath.",)})
    state = SuggestionState()
    assert [s(state, TurnAffect(t, 25.0, -0.5, -0.3)) for t in (0.0, 25.0)] == [None, None]
    # the turn that would complete 60 s has positive words: no suggestion, and the run starts again after it
    assert s(state, TurnAffect(50.0, 25.0, -0.5, -0.3, positive_words=True)) is None
    assert [s(state, TurnAffect(t, 25.0, -0.5, -0.3)) for t in (75.0, 100.0)] == [None, None]
    got = s(state, TurnAffect(125.0, 25.0, -0.5, -0.3))
    assert got is not None and (got.state, got.text) == ("low_valence", "Have a glass of water.")
    assert s(state, TurnAffect(150.0, 25.0, -0.5, -0.3)) is None                      # cooling down
    # four minutes later the state must have lasted again since the last suggestion: 60 s of it (150, 365, 390)
    assert [s(state, TurnAffect(t, 25.0, -0.5, -0.3)) is not None for t in (365.0, 390.0)] == [False, True]
    assert s.seconds("one two three four five", None) == 2.0 and s.seconds("x", 7.5) == 7.5


def test_positive_words():
    assert positive_words("I'm so happy today", None, None)
    assert not positive_words("I'm not happy", None, 0.5)                # a denied joy is not positive
    assert not positive_words("Oh great, another Monday", {"joy": 0.9}, 0.5)   # sarcasm
    assert positive_words("We won the match", [0.1, 0.8, 0.02, 0.02, 0.02, 0.02, 0.02], None)
    assert positive_words("lovely weather", None, 0.3) and not positive_words("it rained", None, 0.1)


def test_consent_text_says_whether_suggestions_are_on():
    assert "Suggestions are on" in consent_text(PrivacyOptions())
    off = consent_text(PrivacyOptions(), suggestions=False)
    assert "Suggestions are off" in off and "Suggestions are on" not in off
    assert SUGGESTION_BANK.name == "suggestions.jsonl"


def test_a_turn_with_positive_words_ends_a_run():
    o = SuggestionOptions()
    turns = _turns([(-0.5, 0.6)] * 4, seconds=25)
    turns[-2] = TurnAffect(turns[-2].t, 25, -0.5, 0.6, positive_words=True)
    assert sustained(turns, o) is None
