"""What the words themselves say, read with closed word lists: a stated feeling ("I feel so sad",
"I'm not happy"), sarcasm cues, questions, greetings and names, and emoji-only messages.

The lists are deliberately small and explicit: a cue found here outranks every model, so a false hit
costs more than a miss (a miss falls back to the text model's own emotion).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Feeling words per emotion. Adjectives only, so "you're <word>" is always grammatical.
FEELINGS: dict[str, tuple[str, ...]] = {
    "neutral": ("fine", "okay", "ok", "alright", "all right", "calm", "bored", "meh"),
    "joy": ("happy", "glad", "thrilled", "excited", "delighted", "overjoyed", "joyful", "great", "wonderful",
            "fantastic", "amazing", "elated", "cheerful", "ecstatic", "grateful", "thankful", "proud",
            "relieved", "good", "awesome", "content", "blessed"),
    "sadness": ("sad", "lonely", "alone", "down", "depressed", "miserable", "unhappy", "heartbroken", "upset",
                "hopeless", "blue", "gloomy", "devastated", "hurt", "disappointed", "low", "empty", "crushed",
                "awful", "terrible", "gutted"),
    "anger": ("angry", "mad", "furious", "annoyed", "irritated", "frustrated", "pissed", "pissed off", "livid",
              "outraged", "fed up", "enraged", "raging", "infuriated"),
    "fear": ("scared", "afraid", "frightened", "terrified", "anxious", "nervous", "worried", "panicked",
             "panicking", "uneasy", "stressed", "petrified", "tense", "on edge"),
    "disgust": ("disgusted", "grossed out", "revolted", "repulsed", "nauseated", "sickened"),
    "surprise": ("surprised", "shocked", "astonished", "stunned", "speechless", "amazed", "startled"),
}
# A denied positive feeling means things are not good; a denied negative one leaves no feeling stated.
DENIED_AS = {"joy": "sadness", "neutral": "sadness"}

_INTENSIFIERS = (r"(?:(?:so|really|very|quite|pretty|extremely|super|totally|absolutely|incredibly|truly|just|"
                 r"kind of|kinda|sort of|a bit|a little|a little bit|too|that|rather|deeply|utterly|genuinely|"
                 r"honestly|feeling|still|also|even|all|more|most)\s+)*")
_WORDS = sorted((w for ws in FEELINGS.values() for w in ws), key=len, reverse=True)
_FEELING = "(?P<word>" + "|".join(re.escape(w) for w in _WORDS) + r")\b"
# "I'm", "I am", "I feel", "I've been", "makes me (feel)", "feeling" at the start of a message ...
_SUBJECT = (r"(?P<lead>\b(?:like|as if)\s+)?(?:\bi\s*(?:'m|’m|am|was|feel|felt|get|got|have been|'ve been|’ve been|"
            r"keep feeling|am feeling|'m feeling|’m feeling|was feeling)|\bmakes? me(?:\s+feel)?|\bmade me(?:\s+feel)?|"
            r"\bim\b|^\s*(?:feeling|so))")
_NEGATION = r"(?P<neg>\s+(?:not|never|no longer|hardly)|\s*n['’]t|\s+do not|\s+don['’]t|\s+didn['’]t|\s+did not)?"
# "I'm so tired and lonely": a feeling word may follow one other word joined by "and".
_COORDINATED = r"(?:[a-z]+,?\s+and\s+" + _INTENSIFIERS + ")?"
_STATED = re.compile(_SUBJECT + _NEGATION + r"(?:\s+feel(?:ing)?)?\s+" + _INTENSIFIERS + _COORDINATED + _FEELING,
                     re.IGNORECASE)
# "I don't feel happy", "I do not feel good"
_STATED_DONT = re.compile(r"\bi\s+(?P<neg>don['’]t|do not|didn['’]t|did not|never)\s+feel\s+" + _INTENSIFIERS
                          + _FEELING, re.IGNORECASE)
# "This is so frustrating", "It was terrifying", "How annoying": what something does to the speaker, said of the
# thing. Each word maps to the feeling adjective the replies use ("You say you're frustrated"). Praise ("this is
# great") is left out: it is as often sarcastic as not, and a miss only falls back to the text model.
EVALUATIONS: dict[str, str] = {
    "frustrating": "frustrated", "annoying": "annoyed", "infuriating": "infuriated", "irritating": "irritated",
    "maddening": "mad", "upsetting": "upset", "heartbreaking": "heartbroken", "depressing": "down",
    "disappointing": "disappointed", "devastating": "devastated", "scary": "scared", "terrifying": "terrified",
    "frightening": "frightened", "worrying": "worried", "stressful": "stressed", "nerve-racking": "nervous",
    "nerve-wracking": "nervous", "disgusting": "disgusted", "revolting": "revolted", "sickening": "sickened",
    "gross": "grossed out", "shocking": "shocked", "surprising": "surprised", "astonishing": "astonished",
}
_EVALUATION = "(?P<word>" + "|".join(re.escape(w) for w in sorted(EVALUATIONS, key=len, reverse=True)) + r")\b"
_EVALUATED = re.compile(r"(?:\b(?:this|that|it|which|everything|today)\s*(?:['’]s|is|was|has been|['’]s been|feels|felt|"
                        r"seems|gets|got)" + _NEGATION + r"\s+" + _INTENSIFIERS + r"|^\s*(?:so|how|what an?)\s+"
                        + _INTENSIFIERS + ")" + _EVALUATION, re.IGNORECASE)
# "great" and "good" also praise things ("I'm good at chess", "I got great news"): only as a state.
_NOT_A_STATE = re.compile(r"^\s+(?:at|with|for|to|on|news|job|idea|time|day|thing|stuff)\b", re.IGNORECASE)

SARCASM = ("oh great", "oh wonderful", "oh perfect", "oh fantastic", "oh joy", "oh brilliant", "oh lovely",
           "just what i needed", "just what i need", "yeah right", "yeah, right", "just great", "just perfect",
           "just wonderful", "great, another", "perfect, another", "fantastic, another", "love that for me",
           "thanks a lot", "thanks for nothing", "as if", "sure, because", "what a surprise", "big surprise",
           "could this day get any better", "could my day get any better", "because that always works",
           "wow, thanks")
_SARCASM = re.compile(r"\b(?:" + "|".join(re.escape(s) for s in SARCASM) + r")\b", re.IGNORECASE)

_GREETING = re.compile(r"^\s*(?:hi|hello|hey|hiya|howdy|yo|good (?:morning|afternoon|evening)|greetings)\b",
                       re.IGNORECASE)
_NAME = re.compile(r"\b(?:my name is|my name's|call me|i go by)\b", re.IGNORECASE)
_THANKS = re.compile(r"^\s*(?:thanks|thank you|thx|cheers|much appreciated)\b", re.IGNORECASE)
_BYE = re.compile(r"^\s*(?:bye|goodbye|see you|see ya|good night|goodnight|talk (?:to you )?later|have a nice day)\b",
                  re.IGNORECASE)
_HOW_ARE_YOU = re.compile(r"\bhow (?:are|r) (?:you|u)\b|\bhow(?:'s| is) it going\b|\bhow have you been\b",
                          re.IGNORECASE)
_ABOUT_ME = re.compile(r"\b(?:are you|who are you|what are you|your name|can you|do you|could you|will you)\b",
                       re.IGNORECASE)
_QUESTION_START = re.compile(r"^\s*(?:what|why|how|when|where|who|which|whose|is|are|am|do|does|did|can|could|"
                             r"would|will|should|shall|have|has|may)\b", re.IGNORECASE)

EMOJI: dict[str, str] = {}
for _emotion, _chars in {
    "joy": "😀😃😄😁😆😊🙂😍🥰😘😂🤣😺😸❤💕💖👍🎉🥳😎🤩☺",
    "sadness": "😢😭😞😔☹🙁😿💔😥😓😪",
    "anger": "😠😡🤬👿💢😤",
    "fear": "😨😰😱😟😧😬",
    "disgust": "🤢🤮😖🤧",
    "surprise": "😮😲😯🤯😳🙀",
    "neutral": "😐😑😶🤔🙃👌",
}.items():
    EMOJI.update(dict.fromkeys(_chars, _emotion))
# Variation selectors, skin tones and joiners carry no emotion.
_EMOJI_FILLER = re.compile("[\ufe0f\u200d\U0001F3FB-\U0001F3FF\\s]")
_PICTOGRAPH = re.compile("[\u2600-\u27bf\U0001F000-\U0001FAFF]")


@dataclass(frozen=True)
class StatedFeeling:
    emotion: str        # the emotion the person said they feel (after a denial: DENIED_AS, or "neutral")
    word: str           # the feeling word as said, from FEELINGS (a closed list)
    denied: bool        # "I'm not happy": `word` is what they said they do not feel
    denied_emotion: str = ""  # the emotion of the denied word
    ironic: bool = False      # "like I'm happy about that", "as if I'm scared": said to mean the opposite


@dataclass(frozen=True)
class Cues:
    stated: StatedFeeling | None = None
    sarcasm: bool = False
    question: bool = False
    how_are_you: bool = False
    about_me: bool = False
    small_talk: str = ""       # "greeting" | "name" | "thanks" | "bye" | ""
    emoji_only: bool = False
    emoji_emotion: str = ""    # the emotion most of an emoji-only message's emoji show ("" if none known)


def emotion_of_word(word: str) -> str:
    """The emotion of a word from FEELINGS; errors name the word."""
    for e, ws in FEELINGS.items():
        if word.lower() in ws:
            return e
    raise ValueError(f"{word!r} is not a feeling word; accepted: the words in cues.FEELINGS")


def stated_feeling(text: str) -> StatedFeeling | None:
    """The last explicit feeling in `text`, said of oneself or of what caused it ("this is so frustrating");
    the last wins: "I was scared, now I'm relieved"."""
    found = []
    for pattern in (_STATED, _STATED_DONT, _EVALUATED):
        for m in pattern.finditer(text):
            word = m.group("word").lower()
            word = EVALUATIONS.get(word, word)       # "frustrating" -> "frustrated"
            if word in ("good", "great", "down", "low", "alone") and _NOT_A_STATE.match(text[m.end():]):
                continue
            ironic = bool(m.groupdict().get("lead"))  # "like I'm happy" denies it
            found.append((m.end(), word, bool(m.group("neg")) or ironic, ironic))
    if not found:
        return None
    _, word, denied, ironic = max(found)
    emotion = emotion_of_word(word)
    if not denied:
        return StatedFeeling(emotion, word, False)
    return StatedFeeling(DENIED_AS.get(emotion, "neutral"), word, True, emotion, ironic)


def emoji_emotion(text: str) -> tuple[bool, str]:
    """(whether the message is emoji only, the emotion most of its emoji show or "")."""
    rest = _EMOJI_FILLER.sub("", text)
    if not rest or _PICTOGRAPH.sub("", rest):
        return False, ""
    votes: dict[str, int] = {}
    for ch in rest:
        if ch in EMOJI:
            votes[EMOJI[ch]] = votes.get(EMOJI[ch], 0) + 1
    return True, (max(votes, key=votes.get) if votes else "")


def read_cues(text: str) -> Cues:
    """Every cue the words carry; `text` must be a str."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__} {text!r:.60}")
    only, emo = emoji_emotion(text)
    stripped = text.strip()
    small = ("name" if _NAME.search(text) else "greeting" if _GREETING.search(text) else
             "thanks" if _THANKS.search(text) else "bye" if _BYE.search(text) else "")
    return Cues(stated=None if only else stated_feeling(text),
                sarcasm=bool(_SARCASM.search(text)),
                question=stripped.endswith("?") or bool(_QUESTION_START.match(stripped)),
                how_are_you=bool(_HOW_ARE_YOU.search(text)),
                about_me=bool(_ABOUT_ME.search(text)),
                small_talk=small, emoji_only=only, emoji_emotion=emo)
