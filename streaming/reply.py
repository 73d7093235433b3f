"""Emotion-aware replies. The offline default picks a strategy per emotion and refers to what was said;
no language model ships in any package, so it needs none. `GeneratorReply` uses a transformers model or
an OpenAI-compatible endpoint when one is configured."""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agf_core.labels import EMOTIONS

from . import ASSETS

REPLY_BANK = ASSETS / "replies.json"
STRATEGIES = {"neutral": "friendly engagement", "joy": "shared warmth", "sadness": "comfort",
              "anger": "calm", "fear": "reassurance", "disgust": "understanding", "surprise": "curiosity"}
# A topic is a short noun phrase after a determiner: "I failed my driving test" -> "your driving test".
_DETERMINERS = {"my": "your", "our": "your", "your": "my", "the": "the", "a": "the", "an": "the",
                "this": "this", "that": "that", "his": "his", "her": "her", "their": "their"}
_BOUNDARY = set("and or but so because to of in on at for with from about is was are were be been "
                "again today yesterday tomorrow now then really very too just".split())


def topic_of(text: str, max_words: int = 3) -> str:
    """The last noun phrase after a determiner, with my/our turned to your; "" when there is none."""
    words = re.findall(r"[A-Za-z']+|[.,!?;:]", text)
    for i in range(len(words) - 2, -1, -1):
        det = words[i].lower()
        if det not in _DETERMINERS:
            continue
        phrase = []
        for w in words[i + 1:i + 1 + max_words]:
            if not w[0].isalpha() or w.lower() in _BOUNDARY or w.lower() in _DETERMINERS:
                break
            phrase.append(w.lower())
        if phrase:
            return " ".join([_DETERMINERS[det]] + phrase)
    return ""


class ReplyGenerator(Protocol):
    def __call__(self, text: str, emotion: str, history: list[tuple[str, str]]) -> str: ...


def _sentence_case(text: str) -> str:
    """Capitalise each sentence's first letter (a topic may open one)."""
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


@dataclass
class TemplateReply:
    """Strategy per emotion from assets/replies.json; `{topic}` is filled with what the person talked about."""
    bank_path: Path = REPLY_BANK
    seed: int = 0

    def __post_init__(self):
        self.bank = json.loads(Path(self.bank_path).read_text())
        missing = [e for e in EMOTIONS if e not in self.bank]
        if missing:
            raise ValueError(f"reply bank {self.bank_path} lacks emotions {missing}")
        self._rng = random.Random(self.seed)

    def __call__(self, text: str, emotion: str, history: list[tuple[str, str]] | None = None) -> str:
        if emotion not in EMOTIONS:
            raise ValueError(f"unknown emotion {emotion!r}; accepted: {', '.join(EMOTIONS)}")
        topic = topic_of(text)
        entry = self.bank[emotion]
        templates = entry["with_topic"] if topic else entry["without_topic"]
        options = [_sentence_case(t.format(topic=topic)) for t in templates]
        said = [r for _, r in history or []]
        for n in (3, 2, 1, 0):  # avoid the last few replies, as many as the bank allows
            fresh = [o for o in options if o not in said[len(said) - n:]] if n else options
            if fresh:
                return self._rng.choice(fresh)
        return options[0]


SYSTEM_PROMPT = ("You are a warm, brief conversation partner. The person's expressed emotion is {emotion}; "
                 "answer in one or two sentences with {strategy}, referring to what they said.")


@dataclass
class GeneratorReply:
    """Replies from a language model when one is configured: an OpenAI-compatible endpoint
    (`endpoint="http://host:port/v1"`, `model` its model name) or a transformers text-generation model id
    (`model` alone). Falls back to `fallback` (the template replies) when the generator fails."""
    model: str = ""
    endpoint: str = ""
    api_key: str = ""
    timeout_s: float = 10.0
    fallback: ReplyGenerator | None = None

    def __post_init__(self):
        if not self.model and not self.endpoint:
            raise ValueError("GeneratorReply needs a transformers model id (model=...) or an endpoint URL")
        self.fallback = self.fallback or TemplateReply()
        self._pipe = None

    def _messages(self, text: str, emotion: str, history: list[tuple[str, str]]) -> list[dict]:
        msgs = [{"role": "system", "content": SYSTEM_PROMPT.format(emotion=emotion, strategy=STRATEGIES[emotion])}]
        for said, replied in history[-3:]:
            msgs += [{"role": "user", "content": said}, {"role": "assistant", "content": replied}]
        return msgs + [{"role": "user", "content": text}]

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

    def __call__(self, text: str, emotion: str, history: list[tuple[str, str]] | None = None) -> str:
        if emotion not in EMOTIONS:
            raise ValueError(f"unknown emotion {emotion!r}; accepted: {', '.join(EMOTIONS)}")
        messages = self._messages(text, emotion, history or [])
        try:
            reply = self._endpoint(messages) if self.endpoint else self._local(messages)
            return reply or self.fallback(text, emotion, history)
        except Exception:  # noqa: BLE001  no network, no model: the conversation goes on
            return self.fallback(text, emotion, history)
