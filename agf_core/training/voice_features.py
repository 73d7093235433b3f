"""Utterance-level voice features of every speech corpus split, computed once and cached in .cache/ (never
committed): Whisper tiny.en states pooled over time (768) and eGeMAPS v02 functionals (88) per clip, for the
clean clip and `copies` augmented versions of it (augment.random_augment) for training.

    python -m agf_core.training.voice_features --data-root ../shared/data      # fill the cache (~30 min)
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from agf_core.inputs.paralinguistic import EGEMAPS_DIM
from agf_core.training.audio import read_wave
from agf_core.training.augment import AugmentOptions, random_augment
from agf_core.training.features import cache_path, cached
from agf_core.training.speech_corpora import CORPORA, read_corpus

log = logging.getLogger(__name__)
# Each corpus's speaker-independent splits (TESS has two speakers: all of it is "train").
SPLITS = {"ravdess": ("train", "dev", "test"), "tess": ("train",), "urdu": ("train", "dev", "test"),
          "emovo": ("train", "test"), "indian": ("train", "dev", "test")}
# Augmented copies per training clip: TESS (two speakers, 1,400 clips) needs fewer to be seen as often.
TRAIN_COPIES = {"ravdess": 1, "tess": 1, "urdu": 2, "emovo": 1, "indian": 1}


@dataclass
class VoiceSet:
    """Per-clip features of one or more corpus splits; `copy` 0 is the clean clip."""
    x: np.ndarray            # (N, 856) float32: pooled Whisper (768) then eGeMAPS (88; zeros where absent)
    has_egemaps: np.ndarray  # (N,) bool
    y: np.ndarray            # (N,) int64
    speaker: np.ndarray      # (N,) str
    corpus: np.ndarray       # (N,) str
    copy: np.ndarray         # (N,) int, 0 = clean

    def select(self, keep: np.ndarray) -> "VoiceSet":
        return VoiceSet(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))

    def clean(self) -> "VoiceSet":
        return self.select(self.copy == 0)

    @staticmethod
    def concat(sets: list["VoiceSet"]) -> "VoiceSet":
        return VoiceSet(*(np.concatenate([getattr(s, f) for s in sets]) for f in VoiceSet.__dataclass_fields__))


def _compute(clips, copies: int, augment: AugmentOptions, seed: int) -> dict[str, np.ndarray]:
    from agf_core.branches import voice_features
    rows, meta = [], []
    for i, clip in enumerate(clips):
        wave = read_wave(clip.path)
        rng = np.random.default_rng([seed, i])
        for c in range(copies + 1):
            w, eg = voice_features(wave if c == 0 else random_augment(wave, rng, augment))
            rows.append(np.concatenate([w, eg if eg is not None else np.zeros(EGEMAPS_DIM, np.float32)]))
            meta.append((clip.label, clip.speaker, c, eg is not None))
        if i % 200 == 0:
            log.info("voice features: %d / %d clips", i, len(clips))
    y, speaker, copy, has = zip(*meta) if meta else ((), (), (), ())
    return {"x": np.stack(rows).astype(np.float32), "y": np.array(y, np.int64), "speaker": np.array(speaker, str),
            "copy": np.array(copy, int), "has_egemaps": np.array(has, bool)}


def _cache_entry(clips, corpus: str, split: str, copies: int, augment: AugmentOptions, seed: int
                 ) -> tuple[str, dict]:
    key = {"version": 1, "front": "whisper tiny.en int8 pooled + eGeMAPSv02, -23 dBFS", "copies": copies,
           "augment": asdict(augment) if copies else None, "seed": seed, "files": [c.path.name for c in clips]}
    return f"voice_{corpus}_{split}_x{copies}", key


def voice_set(data_root: str, corpus: str, split: str, copies: int = 0, augment: AugmentOptions = AugmentOptions(),
              seed: int = 0) -> VoiceSet:
    """Features of one corpus split (clean + `copies` augmented versions of each clip); cached."""
    clips = read_corpus(data_root, corpus, split)
    name, key = _cache_entry(clips, corpus, split, copies, augment, seed)
    if copies == 0 and split == "train":  # the clean rows of the augmented set, when that is cached already
        more = _cache_entry(clips, corpus, split, TRAIN_COPIES[corpus], augment, seed)
        if cache_path(*more).exists():
            return voice_set(data_root, corpus, split, TRAIN_COPIES[corpus], augment, seed).clean()
    z = cached(name, key, lambda: _compute(clips, copies, augment, seed))
    return VoiceSet(z["x"], z["has_egemaps"], z["y"], z["speaker"], np.full(len(z["y"]), corpus), z["copy"])


def all_splits(data_root: str, augmented: bool = True) -> dict[tuple[str, str], VoiceSet]:
    """{(corpus, split): VoiceSet} for every corpus split; train splits with their augmented copies."""
    return {(c, s): voice_set(data_root, c, s, TRAIN_COPIES[c] if augmented and s == "train" else 0)
            for c in CORPORA for s in SPLITS[c]}


def main(argv: list[str] | None = None) -> None:
    """Fill the cache ahead of training (clean sets first, so that probes can start early)."""
    import argparse

    from agf_core.device import set_threads
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.voice_features", description=main.__doc__)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--part", choices=("eval", "train", "all"), default="all",
                    help="eval: the dev and test splits (clean); train: the train splits with augmented copies")
    ap.add_argument("--corpora", nargs="+", choices=CORPORA, default=list(CORPORA),
                    help="these corpora, in this order (two processes can fill the cache from both ends)")
    ap.add_argument("--threads", type=int)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    set_threads(args.threads)
    for corpus in args.corpora:
        for split in SPLITS[corpus]:
            if args.part != "all" and (split == "train") != (args.part == "train"):
                continue
            s = voice_set(args.data_root, corpus, split, TRAIN_COPIES[corpus] if split == "train" else 0)
            log.info("%s %s: %d rows, eGeMAPS on %d", corpus, split, len(s.y), s.has_egemaps.sum())


if __name__ == "__main__":
    main()
