"""Provenance of a session: which code and which model files produced it, so a result can be traced and redone.

    provenance(asr_model="tiny.en", reply="TemplateReply", consent_version="2")
    -> {"app_version": "git 1a2b3c4 (dirty)", "package_version": "0.4.0", "models": {"text.pt": "8f2a...", ...},
        "shipped_sums_ok": true, "asr_model": "tiny.en", "reply_generator": "TemplateReply", ...}

The code and model hashes are agf_core.provenance's (shared with `agf-analyze`'s sidecars); a session adds
what only a study has: its reply generator and consent version.
"""
from __future__ import annotations

from agf_core import provenance as core


def provenance(asr_model: str, reply: str, consent_version: str) -> dict:
    """Everything a session's export needs to say how it was made (the latencies come with the session end)."""
    return {**core.provenance(asr_model), "reply_generator": reply, "consent_version": consent_version}
