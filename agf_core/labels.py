"""The seven emotion classes, the three modalities, and the dataset label aliases that map onto them."""
from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("neutral", "joy", "sadness", "anger", "fear", "disgust", "surprise")
NUM_EMOTIONS = len(EMOTIONS)
MODALITIES: tuple[str, ...] = ("text", "audio", "video")

# Names used by MELD, GoEmotions-Ekman, RAVDESS and FER2013 for the same classes.
_ALIASES = {
    "happy": "joy", "happiness": "joy",
    "sad": "sadness",
    "angry": "anger",
    "fearful": "fear", "scared": "fear",
    "disgusted": "disgust",
    "surprised": "surprise",
    "calm": "neutral",  # RAVDESS "calm" is merged into neutral (see agf_core/training/data.py)
}


def emotion_index(name: str) -> int:
    """Index of an emotion name or a known dataset alias ("happy" -> joy)."""
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in EMOTIONS:
        raise ValueError(f"unknown emotion {name!r}; accepted: {', '.join(EMOTIONS)} "
                         f"or aliases {', '.join(sorted(_ALIASES))}")
    return EMOTIONS.index(key)


def check_emotion(name: object) -> str:
    """One of the seven class names exactly (no aliases): what a user picks or a model outputs."""
    if not isinstance(name, str) or name not in EMOTIONS:
        raise ValueError(f"unknown emotion {name!r}; accepted: {', '.join(EMOTIONS)}")
    return name


def check_modality(name: str) -> str:
    if name not in MODALITIES:
        raise ValueError(f"unknown modality {name!r}; accepted: {', '.join(MODALITIES)}")
    return name
