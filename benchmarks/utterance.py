"""What one final utterance costs, and what a shorter Whisper encoder window changes:

    HF_HUB_OFFLINE=1 python -m benchmarks.utterance --data-root ../shared/data --out reports/ [--every 12]
    -> reports/benchmark_utterance.json

1. Sharing (why the ASR and the voice branch do not share one encoder pass): on RAVDESS clips of actors 21-24,
   the voice branch's probabilities from its own pass (the utterance alone, what audio.pt was trained on)
   against the same frames taken from the ASR's pass (the utterance padded to 30 s); and the words decoded
   from the voice branch's pass (no silence after the words): their WER, and how many the short window's
   checks would reject (the decoder repeats the sentence).
2. Words: WER and seconds per clip of the app's transcriber with the full 30 s window and with the short
   window (agf_core/transcriber.py), on every --every-th RAVDESS and TESS clip and jfk.flac; how often the
   short window fell back to the full one.
3. Handler level: `LivePipeline.on_utterance` (voice emotion, ASR, text emotion, fusion, reply) on real
   RAVDESS sentences with the shipped models, full window against short window, taking turns.
The machine is shared (2 cores, another process training on one): wall times are noisy; the load average
is recorded. Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np

from benchmarks.asr_wer import RAVDESS_SENTENCES, clips, normalize, read_16k, word_errors
from benchmarks.latency import stats

ROOT = Path(__file__).resolve().parent.parent


def sharing(recognizer, transcriber, paths: list[Path]) -> dict:
    """Voice probabilities from the ASR's padded pass vs today's; words from the voice branch's own pass."""
    import torch
    from faster_whisper.audio import pad_or_trim

    from agf_core.models.audio import pad_frames
    branch, model = recognizer.branches[1], transcriber.model     # the same tiny.en object (load_whisper)
    diffs, agree, rejected, errors, n_words = [], 0, 0, 0, 0
    for path in paths:
        x = read_16k(path)
        own = recognizer.audio((16000, x)).probs                                     # (7,) as shipped
        feats = model.feature_extractor(x)                                             # (80, frames)
        n = len(branch.frontend.whisper_states(x))
        padded = np.asarray(model.encode(pad_or_trim(feats[:, :-1])), np.float32)[0][:n]  # (T, 384) of 1500
        frames, mask = pad_frames([((padded - branch.mean) / branch.std).astype(np.float32)])
        with torch.no_grad():
            shared = branch.net.top(branch.net.pool(frames, mask))[1].softmax(-1)[0].numpy()  # (7,)
        diffs.append(float(np.abs(own - shared).max()))
        agree += int(own.argmax() == shared.argmax())
        text, bad = words_from_unpadded(transcriber, feats, len(x) / 16000)
        ref = normalize(RAVDESS_SENTENCES[path.stem.split("-")[4]])
        errors, n_words, rejected = errors + word_errors(ref, normalize(text)), n_words + len(ref), rejected + bad
    return {"clips": len(paths), "voice_probs_max_abs_diff": {"max": round(max(diffs), 4),
                                                               "median": round(float(np.median(diffs)), 4)},
            "voice_argmax_agree": f"{agree}/{len(paths)}",
            "asr_from_voice_pass": {"wer_pct": round(100 * errors / n_words, 2),
                                    "rejected_by_checks": f"{rejected}/{len(paths)}"}}


def words_from_unpadded(transcriber, feats: np.ndarray, seconds: float) -> tuple[str, bool]:
    """Greedy words from the encoder states of the utterance alone, and whether the short window's checks
    (agf_core/transcriber.py) would reject them."""
    model = transcriber.model
    most = transcriber.most_tokens(seconds)
    tokenizer, options = transcriber._decode_setup(2 * most + 10)
    encoded = model.encode(feats)                                                      # (1, frames / 2, 384)
    result, logprob, _, ratio = model.generate_with_fallback(
        encoded, model.get_prompt(tokenizer, [], without_timestamps=True), tokenizer, options)
    tokens = result.sequences_ids[0]
    return tokenizer.decode(tokens), (len(tokens) > most or logprob < options.log_prob_threshold
                                      or ratio > options.compression_ratio_threshold)


def words(data_root: Path, every: int) -> dict:
    from agf_core.transcriber import TranscriberOptions, WhisperTranscriber
    runs = {"full_30s": WhisperTranscriber(TranscriberOptions(window_s=None)), "short": WhisperTranscriber()}
    out: dict = {}
    for corpus in ("ravdess", "tess", "jfk"):
        errors, seconds, differ = {k: 0 for k in runs}, {k: [] for k in runs}, 0
        items = clips(data_root, corpus, every)
        n_words = 0
        for clip in items:
            x, ref = read_16k(clip["path"]), normalize(clip["ref"])
            n_words += len(ref)
            texts = {}
            for name, tr in runs.items():
                t0 = time.perf_counter()
                texts[name] = tr(x)
                seconds[name].append(time.perf_counter() - t0)
                errors[name] += word_errors(ref, normalize(texts[name]))
            differ += int(normalize(texts["full_30s"]) != normalize(texts["short"]))
        out[corpus] = {"clips": len(items), "words": n_words, "transcripts_differ": differ,
                       **{name: {"wer_pct": round(100 * errors[name] / n_words, 2),
                                 "median_s_per_clip": round(float(np.median(seconds[name])), 3)} for name in runs}}
    out["short_window_decodes"] = dict(runs["short"].windows)
    return out


def handler(recognizer, paths: list[Path]) -> dict:
    """`on_utterance` per clip with each transcriber, taking turns; ms per utterance and per stage."""
    from streaming.live.pipeline import LivePipeline
    from streaming.dialogue.reply import TemplateReply
    from streaming.live.utterance import Utterance
    from agf_core.transcriber import TranscriberOptions, WhisperTranscriber
    pipes = {"full_30s": LivePipeline(recognizer, WhisperTranscriber(TranscriberOptions(window_s=None)),
                                      TemplateReply()),
             "short": LivePipeline(recognizer, WhisperTranscriber(), TemplateReply())}
    states = {k: p.new_state() for k, p in pipes.items()}
    totals: dict = {k: [] for k in pipes}
    audio = [read_16k(p) for p in paths]
    for i, x in enumerate([audio[0]] + audio):                      # the first round warms up, not counted
        for name, pipe in pipes.items():
            t0 = time.perf_counter()
            pipe.on_utterance(states[name], Utterance(x, 0.0, len(x) / 16000))
            if i:
                totals[name].append((time.perf_counter() - t0) * 1000)
    return {name: {"on_utterance": stats(totals[name]),
                   **{stage: stats(list(ms)[1:]) for stage, ms in states[name].latency_ms.items()
                      if stage in ("audio_emotion", "asr", "text_emotion", "fusion", "reply") and len(ms) > 1}}
            for name in pipes}


def main(argv: list[str] | None = None) -> dict:
    from agf_core.device import set_threads
    from agf_core.recognizer import default_recognizer
    from agf_core.transcriber import WhisperTranscriber
    ap = argparse.ArgumentParser(prog="python -m benchmarks.utterance", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--every", type=int, default=12, help="every K-th RAVDESS / TESS clip for the WER part")
    ap.add_argument("--clips", type=int, default=20, help="RAVDESS actor 21-24 clips for parts 1 and 3")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="folder for benchmark_utterance.json")
    args = ap.parse_args(argv)
    threads = set_threads(args.threads)
    recognizer = default_recognizer()
    root = Path(args.data_root)
    test = sorted((root / "audio" / "ravdess").glob("Actor_2[1-4]/*.flac"))
    test = test[:: max(1, len(test) // args.clips)][: args.clips]
    result = {"threads": threads, "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                                           capture_output=True, text=True).stdout.strip(),
              "sharing": sharing(recognizer, WhisperTranscriber(), test), "handler_ms": handler(recognizer, test),
              "words": words(root, args.every), "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "benchmark_utterance.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
