"""ASR word error rate on emotional speech with known words, and its cost on this machine.

    HF_HUB_OFFLINE=1 python -m benchmarks.asr_wer --data-root ../shared/data --out reports/
    -> reports/asr_wer.json and reports/asr_wer.md

Corpora (all clips unless --every K keeps every K-th clip of each corpus):
- RAVDESS: 1,440 clips of two known sentences (filename field 5), WER overall and per emotion (RAVDESS's own
  eight, calm kept apart from neutral);
- TESS: 1,400 clips, reference "say the word X" with X from the filename;
- samples/jfk.flac (11 s, the known sentence).
Each (model, setting) run decodes with the app's transcriber arguments (agf_core.transcriber.TranscriberOptions,
decode_kwargs) plus the setting's overrides, compute_type int8, cpu_threads=--threads. Cost: real-time factor
= seconds of compute per second of audio, wall clock and process CPU time (the machine is shared, so wall
time also counts other processes' load; the load average is recorded), and the median seconds per clip.
Per-clip results go to --work (one jsonl per run) so an interrupted run resumes where it stopped.
WER = (substitutions + deletions + insertions) / reference words, summed over a corpus, after normalize().
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("asr_wer")

RAVDESS_SENTENCES = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
                    "07": "disgust", "08": "surprised"}
JFK = ("And so my fellow Americans, ask not what your country can do for you, "
       "ask what you can do for your country.")
MODELS = ("tiny.en", "base")
CORPORA = ("ravdess", "tess", "jfk")
# Decode settings measured: overrides of TranscriberOptions().decode_kwargs(). The prompt is generic (it names
# no corpus word), so it cannot leak the references.
SETTINGS = {
    "live": {},      # the app's transcriber itself: short encoder window first, 30 s as fallback (agf_core/transcriber.py)
    "app": {},       # the app's decode arguments on Whisper's full 30 s window
    "beam5": {"beam_size": 5},
    "no_timestamps": {"without_timestamps": True},
    "no_fallback": {"temperature": 0.0},
    "prompt": {"initial_prompt": "Hello. Here is what I said."},
    "vad": {"vad_filter": True},
}

_SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """0-99 as words ("21" -> "twenty one"); larger numbers stay digits."""
    if n < 20:
        return _SMALL[n]
    if n < 100:
        return _TENS[n // 10 - 2] + ("" if n % 10 == 0 else " " + _SMALL[n % 10])
    return str(n)


def normalize(text: str) -> list[str]:
    """Lowercase, hyphens and punctuation to spaces, apostrophes dropped, whole numbers 0-99 as words."""
    text = text.lower().replace("\u2019", "'").replace("'", "")
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return " ".join(number_words(int(w)) if w.isdigit() else w for w in text.split()).split()


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance on words: the fewest substitutions + deletions + insertions."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def wer(ref: str, hyp: str) -> float:
    """Word error rate of one hypothesis against one reference, after normalize()."""
    ref_words = normalize(ref)
    if not ref_words:
        raise ValueError(f"reference {ref!r} has no words after normalisation; WER needs at least one")
    return word_errors(ref_words, normalize(hyp)) / len(ref_words)


# ---- data ------------------------------------------------------------------------------------------------
def clips(data_root: Path, corpus: str, every: int) -> list[dict]:
    """[{id, path, ref, group}] sorted by id; every K-th kept."""
    if corpus == "ravdess":
        paths = sorted((data_root / "audio" / "ravdess").glob("Actor_*/*.flac"))
        out = [{"id": p.stem, "path": p, "ref": RAVDESS_SENTENCES[p.stem.split("-")[4]],
                "group": RAVDESS_EMOTIONS[p.stem.split("-")[2]]} for p in paths]
    elif corpus == "tess":
        paths = sorted((data_root / "audio" / "tess").glob("*.flac"))
        out = [{"id": p.stem, "path": p, "ref": f"say the word {p.stem.split('_')[1]}",
                "group": p.stem.split("_")[2]} for p in paths]
    elif corpus == "jfk":
        out = [{"id": "jfk", "path": data_root / "samples" / "jfk.flac", "ref": JFK, "group": "all"}]
    else:
        raise ValueError(f"unknown corpus {corpus!r}; accepted: {', '.join(CORPORA)}")
    if not out or not out[0]["path"].exists():
        raise FileNotFoundError(f"no {corpus} audio under {data_root} (pass --data-root)")
    return out if corpus == "jfk" else out[::every]


def read_16k(path: Path) -> np.ndarray:
    import soundfile as sf

    from agf_core.inputs.audio import to_mono_16k
    x, sr = sf.read(path, dtype="float32")
    return to_mono_16k((sr, x))


# ---- decoding --------------------------------------------------------------------------------------------
def decode_kwargs(setting: str) -> dict:
    from agf_core.transcriber import TranscriberOptions
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; accepted: {', '.join(SETTINGS)}")
    return {**TranscriberOptions().decode_kwargs(), **SETTINGS[setting]}


def transcribe(model, audio: np.ndarray, kwargs: dict) -> tuple[str, float, float]:
    """(text, wall seconds, process CPU seconds); the segment generator is consumed inside the timing. `model`
    is a faster-whisper model decoding with `kwargs`, or the app's transcriber (a callable; `kwargs` unused)."""
    w0, c0 = time.perf_counter(), time.process_time()
    if hasattr(model, "transcribe"):
        segments, _ = model.transcribe(audio, **kwargs)
        text = " ".join(s.text.strip() for s in segments).strip()
    else:
        text = model(audio)
    return text, time.perf_counter() - w0, time.process_time() - c0


def run_file(work: Path, model: str, setting: str, every: int) -> Path:
    return work / f"{model}__{setting}__every{every}.jsonl"


def reuse_rows(work: Path, model: str, setting: str, path: Path, wanted: set) -> None:
    """Copy into this run the wanted clips that another run of the same model and setting (another --every)
    already decoded."""
    have = {(r["corpus"], r["id"]) for r in read_jsonl(path)}
    new = {(r["corpus"], r["id"]): r for f in work.glob(f"{model}__{setting}__every*.jsonl") if f != path
           for r in read_jsonl(f) if (r["corpus"], r["id"]) in wanted - have}
    if new:
        with open(path, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in new.values())


def run(model_name: str, setting: str, corpora: list[str], data_root: Path, every: int, work: Path) -> Path:
    """Decode every clip not yet in this run's jsonl; append one line per clip."""
    from agf_core.models.audio import load_whisper
    path = run_file(work, model_name, setting, every)
    wanted = [(c, clip) for c in corpora for clip in clips(data_root, c, every)]
    reuse_rows(work, model_name, setting, path, {(c, clip["id"]) for c, clip in wanted})
    done = {(r["corpus"], r["id"]) for r in read_jsonl(path)}
    todo = [(c, clip) for c, clip in wanted if (c, clip["id"]) not in done]
    if not todo:
        return path
    if setting == "live":
        from agf_core.transcriber import TranscriberOptions, WhisperTranscriber
        model, kwargs = WhisperTranscriber(TranscriberOptions(model=model_name)), {}
    else:
        model, kwargs = load_whisper(model_name, "int8"), decode_kwargs(setting)
    transcribe(model, read_16k(todo[0][1]["path"]), kwargs)  # warm-up, not counted
    log.info("%s/%s: %d clips to decode (%d already done)", model_name, setting, len(todo), len(done))
    t0 = time.time()
    with open(path, "a") as f:
        for i, (corpus, clip) in enumerate(todo, 1):
            audio = read_16k(clip["path"])
            hyp, wall, cpu = transcribe(model, audio, kwargs)
            ref = normalize(clip["ref"])
            f.write(json.dumps({"corpus": corpus, "id": clip["id"], "group": clip["group"], "ref": clip["ref"],
                                "hyp": hyp, "ref_words": len(ref), "errors": word_errors(ref, normalize(hyp)),
                                "audio_s": len(audio) / 16000, "wall_s": wall, "cpu_s": cpu}) + "\n")
            f.flush()
            if i % 100 == 0 or i == len(todo):
                log.info("%s/%s: %d/%d clips, %.0f s, load %.1f", model_name, setting, i, len(todo),
                         time.time() - t0, os.getloadavg()[0])
    return path


def latency_probe(data_root: Path, models: list[str], repeats: int) -> dict:
    """Median seconds to transcribe one RAVDESS sentence (~3.5 s, the size of a live utterance) and jfk.flac
    (11 s), with the app's settings, the models taking turns so that both see the same machine load."""
    from agf_core.models.audio import load_whisper
    audio = {"ravdess_3.5s": read_16k(clips(data_root, "ravdess", 1)[0]["path"]),
             "jfk_11s": read_16k(clips(data_root, "jfk", 1)[0]["path"])}
    loaded = {m: load_whisper(m, "int8") for m in models}
    kwargs = decode_kwargs("app")
    times: dict = {m: {k: {"wall": [], "cpu": []} for k in audio} for m in models}
    for i in range(repeats + 1):                          # the first round warms up and is not counted
        for m in models:
            for k, x in audio.items():
                _, wall, cpu = transcribe(loaded[m], x, kwargs)
                if i:
                    times[m][k]["wall"].append(wall)
                    times[m][k]["cpu"].append(cpu)
    return {"repeats": repeats, "loadavg": [round(x, 2) for x in os.getloadavg()],
            "median_s": {m: {k: {t: round(float(np.median(v)), 3) for t, v in d.items()} for k, d in per.items()}
                         for m, per in times.items()}}


# ---- summary ---------------------------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def score(rows: list[dict]) -> dict:
    audio = sum(r["audio_s"] for r in rows)
    return {"clips": len(rows), "ref_words": sum(r["ref_words"] for r in rows),
            "wer": round(sum(r["errors"] for r in rows) / sum(r["ref_words"] for r in rows), 4),
            "clips_exact": round(sum(r["errors"] == 0 for r in rows) / len(rows), 4),
            "audio_s": round(audio, 1),
            "rtf_wall": round(sum(r["wall_s"] for r in rows) / audio, 4),
            "rtf_cpu": round(sum(r["cpu_s"] for r in rows) / audio, 4),
            "median_clip_wall_s": round(float(np.median([r["wall_s"] for r in rows])), 3),
            "median_clip_cpu_s": round(float(np.median([r["cpu_s"] for r in rows])), 3)}


def common_errors(rows: list[dict], n: int = 5) -> list[dict]:
    wrong: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["errors"]:
            wrong[(r["ref"], r["hyp"])] = wrong.get((r["ref"], r["hyp"]), 0) + 1
    top = sorted(wrong.items(), key=lambda kv: -kv[1])[:n]
    return [{"ref": ref, "hyp": hyp, "clips": k} for (ref, hyp), k in top]


def summarize(path: Path, model: str, setting: str, every: int) -> dict:
    rows = read_jsonl(path)
    by_corpus = {c: [r for r in rows if r["corpus"] == c] for c in CORPORA}
    rav = by_corpus["ravdess"]
    return {"model": model, "setting": setting, "decode_kwargs": decode_kwargs(setting), "every": every,
            "corpora": {c: score(rs) for c, rs in by_corpus.items() if rs},
            "ravdess_per_emotion": {e: score([r for r in rav if r["group"] == e])["wer"]
                                    for e in RAVDESS_EMOTIONS.values() if any(r["group"] == e for r in rav)},
            "common_errors": {c: common_errors(rs) for c, rs in by_corpus.items() if rs}}


def machine() -> dict:
    import ctranslate2
    import faster_whisper
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "faster_whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__,
            "loadavg_at_summary": [round(x, 2) for x in os.getloadavg()]}


def commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


FULL_SIZE = {"ravdess": 1440, "tess": 1400, "jfk": 1}


def kept(run: dict) -> str:
    """'all', '1 in K', or 'all (partial: ...)' for a run on all clips that has not finished."""
    if run["every"] != 1:
        return f"1 in {run['every']}"
    short = [f"{c} {s['clips']}/{FULL_SIZE[c]}" for c, s in run["corpora"].items() if s["clips"] < FULL_SIZE[c]]
    return "all" + (f" (partial: {', '.join(short)})" if short else "")


def markdown(report: dict) -> str:
    lines = ["# ASR word error rate (benchmarks/asr_wer.py)", "",
             f"Commit `{report['commit'][:10]}`, {report['machine']['cpu']}, {report['machine']['cores']} cores, "
             f"cpu_threads={report['threads']}, int8. RTF = compute seconds per audio second (wall / process CPU); "
             "the machine is shared, so wall RTF includes other processes' load.", "",
             "| model | setting | clips kept | RAVDESS WER | TESS WER | jfk WER | RTF wall | RTF CPU | "
             "median s/clip, RAVDESS (wall) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        c = r["corpora"]
        all_rows = [c[k] for k in c]
        audio = sum(x["audio_s"] for x in all_rows)
        rtf_w = sum(x["rtf_wall"] * x["audio_s"] for x in all_rows) / audio
        rtf_c = sum(x["rtf_cpu"] * x["audio_s"] for x in all_rows) / audio
        cell = lambda k: f"{100 * c[k]['wer']:.1f} % ({c[k]['clips']})" if k in c else "—"  # noqa: E731
        lines.append(f"| {r['model']} | {r['setting']} | {kept(r)} "
                     f"| {cell('ravdess')} | {cell('tess')} | {cell('jfk')} | {rtf_w:.3f} | {rtf_c:.3f} | "
                     f"{c.get('ravdess', c.get('tess', {})).get('median_clip_wall_s', '—')} |")
    lines += ["", "Subsets (`--every K`) keep every K-th clip in filename order: the same clips for every model and "
              "setting, but in RAVDESS they fall on fixed places in each actor's folder, so they do not cover all "
              "emotions; per-emotion WER is given for runs on all clips only.",
              "", "RAVDESS WER per emotion (%), all 1,440 clips (calm kept apart from neutral):", "",
              "| model | setting | " + " | ".join(RAVDESS_EMOTIONS.values()) + " |",
              "|---|---|" + "---|" * len(RAVDESS_EMOTIONS)]
    for r in report["runs"]:
        pe = r["ravdess_per_emotion"]
        if pe and r["every"] == 1:
            lines.append(f"| {r['model']} | {r['setting']}{'' if kept(r) == 'all' else ' (partial run)'} | " +
                         " | ".join(f"{100 * pe[e]:.1f}" if e in pe else "—" for e in RAVDESS_EMOTIONS.values()) + " |")
    probe = report.get("latency_probe")
    if probe:
        lines += ["", f"Seconds per transcription, app settings, median of {probe['repeats']} (models taking turns; "
                  f"load average {probe['loadavg']}):", "", "| model | 3.5 s sentence wall | CPU | 11 s jfk wall | CPU |",
                  "|---|---|---|---|---|"]
        for m, d in probe["median_s"].items():
            lines.append(f"| {m} | {d['ravdess_3.5s']['wall']} | {d['ravdess_3.5s']['cpu']} | "
                         f"{d['jfk_11s']['wall']} | {d['jfk_11s']['cpu']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--settings", nargs="+", default=["app"], choices=list(SETTINGS))
    ap.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=CORPORA)
    ap.add_argument("--every", type=int, default=1, help="keep every K-th clip of RAVDESS and TESS (1 = all)")
    ap.add_argument("--threads", type=int, default=2, help="CTranslate2 cpu_threads")
    ap.add_argument("--work", type=Path, default=ROOT / ".cache" / "asr_wer", help="per-clip results (resume)")
    ap.add_argument("--out", type=Path, default=ROOT / "reports")
    ap.add_argument("--latency-repeats", type=int, default=0,
                    help="also time a 3.5 s and an 11 s clip this many times per model, models taking turns")
    ap.add_argument("--summary-only", action="store_true", help="rebuild the report from --work; decode nothing")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)   # one line per clip otherwise
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    torch.set_num_threads(args.threads)   # load_whisper gives CTranslate2 torch's thread count
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.summary_only:
        for model in args.models:
            for setting in args.settings:
                run(model, setting, args.corpora, args.data_root, args.every, args.work)
        if args.latency_repeats:
            probe = latency_probe(args.data_root, args.models, args.latency_repeats)
            (args.work / "latency_probe.json").write_text(json.dumps(probe, indent=1))
    runs = []
    for path in sorted(args.work.glob("*.jsonl")):
        model, setting, every = path.stem.split("__")
        runs.append(summarize(path, model, setting, int(every.removeprefix("every"))))
    probe_path = args.work / "latency_probe.json"
    runs.sort(key=lambda r: (r["every"], MODELS.index(r["model"]), list(SETTINGS).index(r["setting"])))
    report = {"commit": commit(), "machine": machine(),
              "command": "python -m benchmarks.asr_wer " + " ".join(sys.argv[1:] if argv is None else argv), "threads": args.threads, "compute_type": "int8",
              "normalisation": normalize.__doc__, "runs": runs,
              "latency_probe": json.loads(probe_path.read_text()) if probe_path.exists() else None}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "asr_wer.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "asr_wer.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
