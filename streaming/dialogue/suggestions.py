"""One short, concrete, non-clinical suggestion added to a reply when a state has lasted: a pause, a breath, a
glass of water, a walk, talking to someone.

Two sustained states, read from each turn's fused valence and arousal (agf_core/affect.py):
    low_valence  valence below `low_valence` over the latest turns, together >= `low_for_s` seconds of speech
    tense        arousal above `tense_arousal` with valence below `tense_valence` in each of the last
                 `tense_turns` turns
Never for a single utterance (at least `min_turns` turns), never when this turn's words are positive, at most
once every `every_s` seconds, and a further one only for a new sustained stretch after it. The sentences come from a bank in assets/ (one JSON object a line), refused at
start with its file and line when a line is malformed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from agf_core.labels import EMOTIONS

from .. import ASSETS
from .cues import read_cues

SUGGESTION_BANK = ASSETS / "suggestions.jsonl"
STATES = ("low_valence", "tense")
POSITIVE_VALENCE = 0.25   # the words' own valence (EmoBank scale, agf_core/affect.py) from which they are positive
POSITIVE_JOY = 0.5        # or the text model this sure of joy
MAX_CHARS = 140
# A suggestion is an everyday action, never advice about health: words that would make it clinical are refused.
CLINICAL = re.compile(r"\b(?:therap\w*|diagnos\w*|disorder\w*|depress\w*|medicat\w*|psychiatr\w*|clinic\w*|"
                      r"symptom\w*|treatment\w*|patient\w*|hotline\w*|crisis|doctor\w*|pills?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class SuggestionOptions:
    low_valence: float = -0.2      # fused valence below this is low
    low_for_s: float = 60.0        # ... for this many seconds of speech
    tense_arousal: float = 0.2     # fused arousal above this with valence below tense_valence is tense
    tense_valence: float = -0.2
    tense_turns: int = 3           # ... in each of this many turns in a row
    min_turns: int = 2             # never for a single utterance
    every_s: float = 240.0         # at most one suggestion in this many session seconds
    words_per_s: float = 2.5       # a typed turn counts as this many words a second of speech


@dataclass(frozen=True)
class TurnAffect:
    """What a turn contributes: when (session s), how much speech (s), its fused valence and arousal (None when
    no modality could give them), and whether its words were positive."""
    t: float
    seconds: float
    valence: float | None
    arousal: float | None
    positive_words: bool = False


@dataclass
class SuggestionState:
    """One session's turns so far and its last suggestion (kept per session, never shared)."""
    turns: list[TurnAffect] = field(default_factory=list)
    last_at: float | None = None
    given: int = 0


@dataclass(frozen=True)
class Suggestion:
    state: str
    text: str


def load_bank(path: str | Path = SUGGESTION_BANK) -> dict[str, tuple[str, ...]]:
    """{state: sentences} from a JSON-lines bank; ValueError naming the file and line of the first bad line."""
    path = Path(path)
    bank: dict[str, list[str]] = {s: [] for s in STATES}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        state, text = _entry(path, number, line)
        bank[state].append(text)
    empty = [s for s in STATES if not bank[s]]
    if empty:
        raise ValueError(f"{path}: no suggestion for state(s) {', '.join(empty)}; add a line "
                         f'{{"state": "{empty[0]}", "text": "..."}}')
    return {s: tuple(v) for s, v in bank.items()}


def _entry(path: Path, number: int, line: str) -> tuple[str, str]:
    where = f"{path} line {number}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where} is not valid JSON ({e.msg} at column {e.colno}); each line must be "
                         '{"state": ..., "text": ...}') from None
    if not isinstance(item, dict) or set(item) != {"state", "text"}:
        raise ValueError(f"{where} must be an object with exactly the keys state and text, got {line.strip()[:80]!r}")
    state, text = item["state"], item["text"]
    if state not in STATES:
        raise ValueError(f"{where}: unknown state {state!r}; accepted: {', '.join(STATES)}")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_CHARS or text.strip()[-1] not in ".!":
        raise ValueError(f"{where}: text must be one sentence of 1-{MAX_CHARS} characters ending in . or !, "
                         f"got {text!r:.80}")
    if CLINICAL.search(text):
        raise ValueError(f"{where}: {CLINICAL.search(text).group(0)!r} makes the suggestion clinical; suggestions "
                         "are everyday actions (a pause, a breath, water, a walk, talking to someone)")
    return state, text.strip()


def positive_words(text: str, words, text_valence: float | None) -> bool:
    """Whether a turn's words are positive: a stated positive feeling ("I'm happy", not denied, not ironic), or,
    without sarcasm, the text model's joy >= POSITIVE_JOY or the words' valence >= POSITIVE_VALENCE. `words`: the
    text model's probabilities over EMOTIONS (a mapping or array), or None."""
    cues = read_cues(text)
    if cues.emoji_only:
        return cues.emoji_emotion == "joy"
    stated = cues.stated
    if stated is not None and not stated.ironic and not cues.sarcasm:
        return stated.emotion == "joy"
    if cues.sarcasm:
        return False
    joy = None if words is None else float(words["joy"] if isinstance(words, dict) else words[EMOTIONS.index("joy")])
    return (joy is not None and joy >= POSITIVE_JOY) or (text_valence is not None and text_valence >= POSITIVE_VALENCE)


def sustained(turns: list[TurnAffect], options: SuggestionOptions = SuggestionOptions()) -> str | None:
    """The state the latest turns hold ("tense", "low_valence") or None. A turn without valence and arousal, or
    with positive words, ends a run: nothing is inferred across it."""
    last = turns[-options.tense_turns:]
    if len(last) == options.tense_turns and len(last) >= options.min_turns and all(
            t.valence is not None and t.arousal is not None and t.arousal > options.tense_arousal
            and t.valence < options.tense_valence and not t.positive_words for t in last):
        return "tense"
    run = []
    for t in reversed(turns):
        if t.valence is None or t.valence >= options.low_valence or t.positive_words:
            break
        run.append(t)
    if len(run) >= options.min_turns and sum(t.seconds for t in run) >= options.low_for_s:
        return "low_valence"
    return None


class Suggester:
    """Decides, turn by turn, whether the reply adds a suggestion, and which (the bank's sentences in turn)."""

    def __init__(self, bank: dict[str, tuple[str, ...]] | None = None, options: SuggestionOptions = SuggestionOptions()):
        self.bank = bank if bank is not None else load_bank()
        self.options = options

    def seconds(self, text: str, spoken_s: float | None) -> float:
        """A turn's speech in seconds: as measured, or for typed words at `words_per_s`."""
        return spoken_s if spoken_s is not None else len(text.split()) / self.options.words_per_s

    def __call__(self, state: SuggestionState, turn: TurnAffect) -> Suggestion | None:
        state.turns.append(turn)
        del state.turns[:-50]      # the states look back a few turns only
        if turn.positive_words:
            return None
        if state.last_at is not None and turn.t - state.last_at < self.options.every_s:
            return None
        name = sustained(state.turns, self.options)
        if name is None:
            return None
        choices = self.bank[name]
        state.last_at, state.given = turn.t, state.given + 1
        state.turns.clear()        # a further suggestion needs a sustained stretch of its own, after this one
        return Suggestion(name, choices[(state.given - 1) % len(choices)])
