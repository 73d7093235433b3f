"""agf_core: Adaptive Gated Fusion emotion recognition over text, speech and face.

    from agf_core import EmotionRecognizer
    out = EmotionRecognizer.from_pretrained().predict(text="I can't believe we won!")
    out.label, out.probs, out.per_modality, out.weights
"""
from agf_core.labels import EMOTIONS, MODALITIES
from agf_core.recognizer import EmotionRecognizer, Prediction, RecognizerConfig

__all__ = ["EMOTIONS", "MODALITIES", "EmotionRecognizer", "Prediction", "RecognizerConfig"]
