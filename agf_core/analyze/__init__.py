"""Recorded media in bulk: a timeline of the face, the voice, the words and the fused reading per recording.

    media.py     which files; their streams; audio and frames decoded by an ffmpeg pipe, a block at a time
    speech.py    utterances (Silero VAD) and their voice, timed words and the words' reading
    timeline.py  a row per step, fused with the modality weights
    worker.py    the models loaded once; one recording -> its files
    output.py    Parquet, CSV, the provenance sidecar, the combined table, the summary
    engines.py   this process, or Ray actors
    cli.py       `agf-analyze` / `python -m agf_core.analyze`
"""
