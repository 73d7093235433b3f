"""Speech to text for the live path; the implementation lives in agf_core (the fusion study uses it too)."""
from agf_core.transcriber import Previewer, Transcriber, TranscriberOptions, WhisperTranscriber

__all__ = ["Previewer", "Transcriber", "TranscriberOptions", "WhisperTranscriber"]
