"""Emotion-aware replies that answer what was said.

The words come first: a stated feeling ("I feel so sad", "I'm not happy") or an emoji-only message is
followed whatever the face or voice show; then sarcasm, small talk and questions; then the text model's
own emotion for the words. The face and voice only decide the reply when the words carry no emotion of
their own; when they disagree with the words, the reply may name that in one gentle sentence.
Replies say "you look" only when a face was present and "you sound" only when a voice was.

`TemplateReply` (offline, the default: no language model ships in any package) and `GeneratorReply`
(a transformers model or an OpenAI-compatible endpoint) take the same `ReplyInput` and return a `Reply`
with the strategy chosen, so the session logs what was actually done.
"""
from __future__ import annotations

import json
import logging
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

import numpy as np

from agf_core.labels import EMOTIONS, check_emotion

from .. import ASSETS
from .cues import Cues, StatedFeeling, read_cues

if TYPE_CHECKING:
    from agf_core.recognizer import Prediction

log = logging.getLogger(__name__)

REPLY_BANK = ASSETS / "replies.json"
# The strategy that answers each emotion.
STRATEGIES = {"neutral": "engage", "joy": "share_joy", "sadness": "comfort", "anger": "calm",
              "fear": "reassure", "disgust": "understand", "surprise": "curious"}
OTHER_STRATEGIES = ("sarcasm", "answer", "small_talk")
ALL_STRATEGIES = tuple(STRATEGIES.values()) + OTHER_STRATEGIES
SENSED = ("audio", "video")   # the modalities a reply may name: the voice and the face
FALLBACK_TEXT = "I'm here and listening. Tell me a bit more?"


def _probs(name: str, p) -> dict[str, float]:
    """Probabilities over EMOTIONS from a mapping or a (7,) array; errors name the value."""
    if isinstance(p, Mapping):
        if set(p) != set(EMOTIONS):
            raise ValueError(f"{name} must have exactly the emotions {', '.join(EMOTIONS)}; got {sorted(p)}")
        out = {e: float(p[e]) for e in EMOTIONS}
    else:
        arr = np.asarray(p, dtype=float).reshape(-1)
        if arr.shape != (len(EMOTIONS),):
            raise ValueError(f"{name} must be {len(EMOTIONS)} probabilities ({', '.join(EMOTIONS)}); got {p!r:.80}")
        out = dict(zip(EMOTIONS, map(float, arr)))
    if not all(math.isfinite(v) and v >= 0 for v in out.values()):
        raise ValueError(f"{name} must be finite and non-negative; got {out}")
    return out


def _top(p: Mapping[str, float]) -> tuple[str, float]:
    e = max(p, key=p.get)
    return e, p[e]


@dataclass(frozen=True)
class ReplyInput:
    """What a reply answers. `words`: the text branch's probabilities for this message (with the context
    turns the text model takes; None when it failed); `modalities`: the face ("video") and voice ("audio")
    probabilities present now; `label`/`confidence`: the fused prediction."""
    text: str
    label: str = "neutral"
    confidence: float = 0.0
    words: Mapping[str, float] | None = None
    modalities: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.text, str):
            raise TypeError(f"text must be a str, got {type(self.text).__name__} {self.text!r:.60}")
        check_emotion(self.label)
        if not (isinstance(self.confidence, (int, float)) and 0.0 <= self.confidence <= 1.0):
            raise ValueError(f"confidence must be a number in [0, 1], got {self.confidence!r}")
        for m in self.modalities:
            if m not in SENSED:
                raise ValueError(f"unknown modality {m!r} in modalities; accepted: {', '.join(SENSED)} "
                                 "(the words' probabilities go in `words`)")
        object.__setattr__(self, "modalities", {m: _probs(f"modalities[{m!r}]", p) for m, p in self.modalities.items()})
        if self.words is not None:
            object.__setattr__(self, "words", _probs("words", self.words))

    @classmethod
    def from_prediction(cls, text: str, prediction: "Prediction", words=None) -> "ReplyInput":
        """From a fused Prediction and the text branch's probabilities for `text` (array or mapping)."""
        label = prediction.label if prediction.probs else "neutral"
        sensed = {m: p for m, p in prediction.per_modality.items() if m in SENSED}
        return cls(text, label, float(prediction.confidence) if prediction.probs else 0.0, words, sensed)


@dataclass(frozen=True)
class Reply:
    text: str
    strategy: str        # one of ALL_STRATEGIES, or "fallback"
    emotion: str         # the emotion the reply answers ("neutral" when it engages neutrally)
    basis: str           # what decided it: stated|emoji|sarcasm|small talk|question|words|video|audio|low confidence
    note: str = ""       # the sentence naming a face or voice that disagrees with the words, if any
    suggestion: str = "" # the sustained state a suggestion was added for (dialogue/suggestions.py), if any


class ReplyGenerator(Protocol):
    def __call__(self, said: ReplyInput, history: Sequence[tuple[str, str]] = ()) -> Reply: ...


@dataclass(frozen=True)
class ReplyOptions:
    min_confidence: float = 0.5   # below this (words' own, or fused) the reply engages neutrally
    note_min: float = 0.5         # a face/voice is named as disagreeing only this sure of its own label
    strong_words: float = 0.75    # words this emotional outrank the question / small-talk reading


@dataclass(frozen=True)
class Plan:
    """The rules' decision, before any wording: what a template or a language model must do."""
    strategy: str
    variant: str                # the bank entry: said|face|voice|denied|greeting|name|thanks|bye|how_are_you|...
    emotion: str
    basis: str
    stated: StatedFeeling | None = None
    note_modality: str = ""     # "video" | "audio": a sensed modality that disagrees, to name gently
    note_emotion: str = ""
    cues: Cues = field(default_factory=Cues)


_NEGATIVE = ("sadness", "anger", "fear", "disgust")


def _disagreeing(said: ReplyInput, emotion: str, options: ReplyOptions,
                 stated: StatedFeeling | None = None) -> tuple[str, str]:
    """The sensed modality most sure of a label that disagrees with `emotion`, or ("", ""). Next to
    calm words ("I'm fine", "I'm not angry") only a troubled face or voice disagrees, not a cheerful one;
    next to a denial, only the denied emotion ("I'm not angry" with an angry face)."""
    if stated is not None and stated.denied and emotion == "neutral":
        allowed = (stated.denied_emotion,)
    elif emotion == "neutral":
        allowed = _NEGATIVE
    else:
        allowed = tuple(e for e in EMOTIONS if e not in ("neutral", emotion))
    best = ("", "", 0.0)
    for m, p in said.modalities.items():
        e, v = _top(p)
        if e in allowed and v >= options.note_min and v > best[2]:
            best = (m, e, v)
    return best[0], best[1]


def plan_reply(said: ReplyInput, options: ReplyOptions = ReplyOptions()) -> Plan:
    """Choose the strategy from the words first, then the face and voice (see the module docstring)."""
    cues = read_cues(said.text)
    words = _top(said.words) if said.words is not None else ("neutral", 0.0)

    def emotional(emotion: str, basis: str, variant: str = "said", stated=None) -> Plan:
        note = _disagreeing(said, emotion, options, stated) if basis in ("stated", "words", "emoji") else ("", "")
        return Plan(STRATEGIES[emotion], variant, emotion, basis, stated, *note, cues)

    if cues.emoji_only:
        return emotional(cues.emoji_emotion or "neutral", "emoji")
    stated = cues.stated
    # "Oh great, I'm just thrilled" and "like I'm happy about that" say joy and mean the opposite.
    ironic = stated is not None and (stated.ironic or cues.sarcasm) and "joy" in (stated.emotion, stated.denied_emotion)
    if stated is not None and not ironic:
        variant = "denied" if stated.denied and stated.emotion == "neutral" else "said"
        return emotional(stated.emotion, "stated", variant, stated)
    if cues.sarcasm or ironic:  # "Oh great, another Monday": the text model reads joy; the person means otherwise
        return Plan("sarcasm", "said", "anger", "sarcasm", cues=cues)
    strong = words[0] != "neutral" and words[1] >= options.strong_words
    if cues.small_talk and not (strong and words[0] != "joy"):
        return Plan("small_talk", cues.small_talk, "neutral", "small talk", cues=cues)
    if cues.question and not strong:
        variant = "how_are_you" if cues.how_are_you else "about_me" if cues.about_me else "general"
        return Plan("answer", variant, "neutral", "question", cues=cues)
    if words[1] >= options.min_confidence:
        if words[0] != "neutral":
            return emotional(words[0], "words")
        return Plan("engage", "said", "neutral", "words", None, *_disagreeing(said, "neutral", options), cues)
    # The words carry no clear emotion: a sure face or voice may lead, named as what it is.
    if said.confidence >= options.min_confidence and said.label != "neutral":
        for m in sorted(said.modalities, key=lambda m: -said.modalities[m][said.label]):
            if _top(said.modalities[m])[0] == said.label:
                return Plan(STRATEGIES[said.label], "face" if m == "video" else "voice", said.label, m, cues=cues)
    return Plan("engage", "said", "neutral", "low confidence", cues=cues)


_CLAIMS = {"audio": re.compile(r"\b(?:you sound|your voice|sounds? (?:like )?you)\b|\bsound\b", re.IGNORECASE),
           "video": re.compile(r"\b(?:you look|your face|smil\w*|your expression|i see you)\b", re.IGNORECASE)}


def unsupported_claims(text: str, said: ReplyInput) -> list[str]:
    """The modalities `text` talks about that were not present ("you sound" with no voice, a smile with no face)."""
    return [m for m, pattern in _CLAIMS.items() if m not in said.modalities and pattern.search(text)]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass
class TemplateReply:
    """Offline replies from assets/replies.json: fixed sentences per strategy, no slots filled from the
    message (a filled-in "topic" produced "your name sounds hard to stomach")."""
    bank_path: Path = REPLY_BANK
    seed: int = 0
    options: ReplyOptions = ReplyOptions()

    def __post_init__(self):
        self.bank = json.loads(Path(self.bank_path).read_text())
        strategies = self.bank.get("strategies", {})
        missing = [s for s in ALL_STRATEGIES if s not in strategies]
        missing += [f"{s}.{v}" for s in STRATEGIES.values() for v in ("said", "face", "voice")
                    if v not in strategies.get(s, {})]
        if missing:
            raise ValueError(f"reply bank {self.bank_path} lacks {', '.join(missing)}")
        self._rng = random.Random(self.seed)

    def _pick(self, options: list[str], history: Sequence[tuple[str, str]]) -> str:
        said = [r for _, r in history]
        for n in (3, 2, 1, 0):  # avoid the last few replies, as many as the bank allows
            fresh = [o for o in options if not any(r.startswith(o) for r in said[len(said) - n:])] if n else options
            if fresh:
                return self._rng.choice(fresh)
        return options[0]

    def note(self, plan: Plan) -> str:
        """One gentle sentence naming the face or voice that disagrees; closed vocabularies only."""
        if not plan.note_modality:
            return ""
        notes = self.bank["notes"]
        phrase = self.bank["sensed"][plan.note_modality][plan.note_emotion]
        if plan.basis == "stated" and plan.stated is not None:
            key = "stated_denied" if plan.stated.denied else "stated"
            return notes[key].format(word=plan.stated.word, phrase=phrase)
        return _sentence(notes["words" if plan.emotion != "neutral" else "neutral"].format(phrase=phrase))

    def __call__(self, said: ReplyInput, history: Sequence[tuple[str, str]] = ()) -> Reply:
        if not isinstance(said, ReplyInput):
            raise TypeError(f"a reply needs a ReplyInput, got {type(said).__name__} {said!r:.60}")
        plan = plan_reply(said, self.options)
        entry = self.bank["strategies"][plan.strategy]
        text = self._pick(entry.get(plan.variant) or entry["said"], history)
        note = self.note(plan)
        return Reply(f"{text} {note}".strip(), plan.strategy, plan.emotion, plan.basis, note)


SYSTEM_PROMPT = """You are a warm, brief conversation partner in an emotion study. Answer in one or two sentences.
Rules:
1. If the person states a feeling, your reply follows that feeling; never contradict it.
2. The face and the voice may disagree with the words. You may name that gently ("you say you're fine,
   though your face looks a little tense"), but the words decide.
3. Say "you sound" only about the voice and "you look" or "your face" only about the face, and only for
   the ones listed as present. Never mention a smile unless a face is present.
4. Sarcasm ("oh great", "just what I needed", "yeah right") is not joy.
5. When no emotion is clear, engage neutrally and ask what is on their mind.
6. Do not repeat their words back as a fill-in.
This message:
- words' own emotion (text model): {words}
- stated feeling: {stated}
- sarcasm cue: {sarcasm}
- face: {video}
- voice: {audio}
- all modalities fused: {fused}
- strategy to use: {strategy} (answering {emotion}; decided by {basis}){note}"""


def _describe(p: Mapping[str, float] | None) -> str:
    if p is None:
        return "not present"
    ranked = sorted(p.items(), key=lambda kv: -kv[1])[:2]
    return ", ".join(f"{e} {v:.2f}" for e, v in ranked)


def prompt_for(said: ReplyInput, plan: Plan) -> str:
    """The system prompt for a language model: the words' emotion, the other modalities and the rules."""
    stated = plan.stated
    return SYSTEM_PROMPT.format(
        words=_describe(said.words) if said.words is not None else "unknown (the text model failed)",
        stated=("none" if stated is None else
                f"NOT {stated.word} (so {stated.emotion})" if stated.denied else f"{stated.word} ({stated.emotion})"),
        sarcasm="yes" if plan.cues.sarcasm else "no",
        video=_describe(said.modalities.get("video")), audio=_describe(said.modalities.get("audio")),
        fused=f"{said.label} {said.confidence:.2f}", strategy=plan.strategy, emotion=plan.emotion, basis=plan.basis,
        note=(f"\n- the {'face' if plan.note_modality == 'video' else 'voice'} shows {plan.note_emotion}: "
              "you may name it gently" if plan.note_modality else ""))


@dataclass
class GeneratorReply:
    """Replies from a language model when one is configured: an OpenAI-compatible endpoint
    (`endpoint="http://host:port/v1"`, `model` its model name) or a transformers text-generation model id
    (`model` alone). The rules choose the strategy (the same `plan_reply` as the templates) and the model
    words it; a failure, or a reply naming a face or voice that was not present, falls back to `fallback`."""
    model: str = ""
    endpoint: str = ""
    api_key: str = ""
    timeout_s: float = 10.0
    fallback: ReplyGenerator | None = None
    options: ReplyOptions = ReplyOptions()

    def __post_init__(self):
        if not self.model and not self.endpoint:
            raise ValueError("GeneratorReply needs a transformers model id (model=...) or an endpoint URL")
        self.fallback = self.fallback or TemplateReply(options=self.options)
        self._pipe = None

    def messages(self, said: ReplyInput, plan: Plan, history: Sequence[tuple[str, str]]) -> list[dict]:
        msgs = [{"role": "system", "content": prompt_for(said, plan)}]
        for text, replied in list(history)[-3:]:
            msgs += [{"role": "user", "content": text}, {"role": "assistant", "content": replied}]
        return msgs + [{"role": "user", "content": said.text}]

    def _endpoint(self, messages: list[dict]) -> str:
        import urllib.request
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": 80}).encode()
        req = urllib.request.Request(self.endpoint.rstrip("/") + "/chat/completions", body,
                                     {"Content-Type": "application/json",
                                      **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})})
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return json.loads(resp.read())["choices"][0]["message"]["content"].strip()

    def _local(self, messages: list[dict]) -> str:
        if self._pipe is None:
            from transformers import pipeline
            self._pipe = pipeline("text-generation", model=self.model)
        out = self._pipe(messages, max_new_tokens=60)
        return out[0]["generated_text"][-1]["content"].strip()

    def __call__(self, said: ReplyInput, history: Sequence[tuple[str, str]] = ()) -> Reply:
        if not isinstance(said, ReplyInput):
            raise TypeError(f"a reply needs a ReplyInput, got {type(said).__name__} {said!r:.60}")
        plan = plan_reply(said, self.options)
        messages = self.messages(said, plan, history)
        try:
            text = self._endpoint(messages) if self.endpoint else self._local(messages)
        except Exception:  # noqa: BLE001  no network, no model: the conversation goes on
            log.warning("reply model %r failed; using the fallback", self.model or self.endpoint, exc_info=True)
            return self.fallback(said, history)
        if not text or unsupported_claims(text, said):
            log.info("reply model gave %r (empty or naming an absent modality); using the fallback", text)
            return self.fallback(said, history)
        return Reply(text, plan.strategy, plan.emotion, plan.basis)
