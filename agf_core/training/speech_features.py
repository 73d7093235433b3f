"""Frozen speech front-end features of every corpus split, computed once and cached in .cache/ (never
committed): the clean clip, plus `copies` augmented versions of it (augment.random_augment) for training.

One cache serves both Whisper front ends: features are always computed as "whisper_prosody" (384 Whisper
dims + 6 prosody dims) and the "whisper" front end takes the first 384 columns. Frames are stored float16.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

import numpy as np

from agf_core.models.audio import AudioEncoderConfig, SpeechFrontEnd
from agf_core.training.audio import read_wave
from agf_core.training.augment import AugmentOptions, random_augment
from agf_core.training.features import cache_path, cached
from agf_core.training.speech_corpora import CorpusClip, read_corpus

log = logging.getLogger(__name__)
WHISPER_DIM = 384
CACHED_FRONTENDS = ("whisper", "whisper_prosody")


@dataclass
class SpeechSet:
    """Variable-length frames of many clips with their labels; `copy` 0 is the clean clip."""
    seqs: list[np.ndarray]          # [(T_i, D)] float32
    y: np.ndarray                   # (N,) int64
    speaker: np.ndarray             # (N,) str
    copy: np.ndarray                # (N,) int, 0 = clean
    corpus: str

    def select(self, keep: np.ndarray) -> "SpeechSet":
        idx = np.flatnonzero(keep)
        return SpeechSet([self.seqs[i] for i in idx], self.y[idx], self.speaker[idx], self.copy[idx], self.corpus)

    def clean(self) -> "SpeechSet":
        return self.select(self.copy == 0)


def _source_config(encoder: AudioEncoderConfig) -> AudioEncoderConfig:
    if encoder.frontend not in CACHED_FRONTENDS:
        raise ValueError(f"front end {encoder.frontend!r} is not cached here; accepted: {', '.join(CACHED_FRONTENDS)}")
    return replace(encoder, frontend="whisper_prosody")


def _compute(clips: list[CorpusClip], source: AudioEncoderConfig, copies: int, augment: AugmentOptions,
             seed: int) -> dict[str, np.ndarray]:
    front = SpeechFrontEnd(source)
    seqs, meta = [], []
    for i, clip in enumerate(clips):
        wave = read_wave(clip.path)
        rng = np.random.default_rng([seed, i])
        for c in range(copies + 1):
            x = wave if c == 0 else random_augment(wave, rng, augment)
            seqs.append(front(x).astype(np.float16))
            meta.append((clip.label, clip.speaker, c))
        if i % 200 == 0:
            log.info("features: %d / %d clips", i, len(clips))
    y, speaker, copy = zip(*meta) if meta else ((), (), ())
    return {"frames": np.concatenate(seqs), "lengths": np.array([len(s) for s in seqs]),
            "y": np.array(y, np.int64), "speaker": np.array(speaker, dtype=str), "copy": np.array(copy, int)}


def _cache_entry(clips: list[CorpusClip], corpus: str, split: str, source: AudioEncoderConfig, copies: int,
                 augment: AugmentOptions, seed: int) -> tuple[str, dict]:
    key = {"config": asdict(source), "copies": copies, "augment": asdict(augment) if copies else None,
           "seed": seed, "files": [c.path.name for c in clips]}
    return f"speech_{corpus}_{split}_x{copies}", key


def speech_set(data_root: str, corpus: str, split: str, encoder: AudioEncoderConfig, copies: int = 0,
               augment: AugmentOptions = AugmentOptions(), seed: int = 0) -> SpeechSet:
    """Front-end frames of a corpus split (clean, and `copies` augmented versions of each clip); cached.
    Asked for the clean clips only, it reuses an augmented set of the same clips already in the cache."""
    source = _source_config(encoder)
    clips = read_corpus(data_root, corpus, split)
    if copies == 0:
        for k in sorted(set(TRAIN_COPIES.values())):
            if cache_path(*_cache_entry(clips, corpus, split, source, k, augment, seed)).exists():
                return speech_set(data_root, corpus, split, encoder, k, augment, seed).clean()
    name, key = _cache_entry(clips, corpus, split, source, copies, augment, seed)
    z = cached(name, key, lambda: _compute(clips, source, copies, augment, seed))
    dim = WHISPER_DIM if encoder.frontend == "whisper" else None
    seqs = [s[:, :dim].astype(np.float32) for s in np.split(z["frames"], np.cumsum(z["lengths"])[:-1])]
    return SpeechSet(seqs, z["y"], z["speaker"], z["copy"], corpus)


TRAIN_SETS = (("ravdess", "train"), ("urdu", "train"), ("tess", "train"))
# Augmented copies per training clip: TESS has 6x URDU's clips and corpus-balanced batches draw each corpus
# equally often, so one copy of each TESS clip gives it as many distinct inputs as the others get.
TRAIN_COPIES = {"ravdess": 3, "urdu": 3, "tess": 1}
EVAL_SETS = (("ravdess", "dev"), ("urdu", "dev"), ("ravdess", "test"), ("urdu", "test"))


def main(argv: list[str] | None = None) -> None:
    """Fill the cache ahead of training: `python -m agf_core.training.speech_features --data-root ../shared/data`."""
    import argparse

    from agf_core.device import set_threads
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.speech_features", description=main.__doc__)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--normalize-db", type=float, default=-23.0)
    ap.add_argument("--threads", type=int)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    set_threads(args.threads)
    enc = AudioEncoderConfig(frontend="whisper_prosody", normalize_db=args.normalize_db)
    for corpus, split in EVAL_SETS + TRAIN_SETS:
        s = speech_set(args.data_root, corpus, split, enc, TRAIN_COPIES[corpus] if (corpus, split) in TRAIN_SETS else 0)
        print(f"{corpus} {split}: {len(s.y)} sequences", flush=True)


if __name__ == "__main__":
    main()
