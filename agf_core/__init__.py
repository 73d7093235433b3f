"""agf_core: Adaptive Gated Fusion emotion recognition over text, speech and face.

    from agf_core import EmotionRecognizer
    out = EmotionRecognizer.from_pretrained().predict(text="I can't believe we won!")
    out.label, out.probs, out.per_modality, out.weights
"""
from agf_core.labels import EMOTIONS, MODALITIES

__all__ = ["EMOTIONS", "MODALITIES", "EmotionRecognizer", "Prediction", "RecognizerConfig"]


def __getattr__(name: str):
    # The recognizer (and torch) load on first use, so that a light module such as agf_core.inputs.face can be
    # imported alone (the face detector's process, agf_core/inputs/detector_process.py).
    if name in ("EmotionRecognizer", "Prediction", "RecognizerConfig"):
        from agf_core import recognizer
        return getattr(recognizer, name)
    raise AttributeError(f"module 'agf_core' has no attribute {name!r}")
