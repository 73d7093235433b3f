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

REPLY_BANK = Path(__file__).resolve().parent.parent / "assets" / "replies.json"
STRATEGIES = {"neutral": "friendly engagement", "joy": "shared warmth", "sadness": "comfort",
              "anger": "calm", "fear": "reassurance", "disgust": "understanding", "surprise": "curiosity"}
_STOP = set("i i'm me my you your it it's is am are was were be been the a an and or but so to of in on at for "
            "with that this just really very do did don't not no yes oh well um uh like what again today "
            "yesterday tomorrow now then got get had have has feel felt think know want about all some because "
            "when they them their there we our he she his her can could would will one thing things".split())


class ReplyGenerator(Protocol):
    def __call__(self, text: str, emotion: str, history: list[tuple[str, str]]) -> str: ...


def topic_of(text: str, max_words: int = 3) -> str:
    """The last content words of what was said, e.g. "my exam results" -> "exam results"."""
    words = [w for w in re.findall(r"[A-Za-z']+", text)]
    content = [w for w in words if w.lower() not in _STOP and len(w) > 2]
    return " ".join(content[-max_words:]).lower()


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
        options = [t.format(topic=topic) for t in templates]
        said = [r for _, r in history or []]
        for n in (3, 2, 1, 0):  # avoid the last few replies, as many as the bank allows
            fresh = [o for o in options if o not in said[len(said) - n:]] if n else options
            if fresh:
                return self._rng.choice(fresh)
        return options[0]
