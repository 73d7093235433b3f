"""One held-out RAVDESS actor's clips as a session, neutral first, then each emotion at normal and at strong
intensity, through the shipped recognizer (voice + the sentence read, as the live app hears them), drawn on the
valence-arousal plane the page shows.

    HF_HUB_OFFLINE=1 python -m benchmarks.affect_session --data-root ../shared/data --actor 21
        -> reports/valence_arousal_actor21.svg (fused, as the page shows it), ..._voice.svg (the voice's own
           reading), reports/valence_arousal_actor21.json
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from agf_core.labels import EMOTIONS

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
# RAVDESS emotion codes in session order: neutral (01) and calm (02) first, then the emotions.
ORDER = (1, 2, 3, 4, 5, 6, 7, 8)
CODE_NAMES = {1: "neutral", 2: "calm", 3: "happy", 4: "sad", 5: "angry", 6: "fearful", 7: "disgust", 8: "surprised"}


def session_clips(root: str, actor: int) -> list:
    """The actor's clips: neutral and calm, then every emotion at normal intensity, then at strong."""
    from agf_core.training.data import parse_ravdess_name
    clips = [parse_ravdess_name(p) for p in sorted((Path(root) / "audio" / "ravdess" / f"Actor_{actor:02d}").glob("*.flac"))]
    if not clips:
        raise SystemExit(f"no RAVDESS clips for actor {actor} under {root}/audio/ravdess")
    code = lambda c: int(c.path.stem.split("-")[2])  # noqa: E731
    return sorted(clips, key=lambda c: (code(c) > 2, c.intensity, ORDER.index(code(c)), c.path.name))


def run(root: str, actor: int) -> list[dict]:
    import soundfile as sf
    from agf_core.recognizer import default_recognizer
    rec = default_recognizer()
    rows, t = [], 0.0
    for clip in session_clips(root, actor):
        wave, rate = sf.read(clip.path, dtype="float32")
        pred = rec.predict(text=clip.transcript, audio=(rate, wave))
        t += len(wave) / rate + 1.0
        voice = pred.per_modality_affect.get("audio", {})
        rows.append({"t": round(t, 2), "clip": clip.path.name, "emotion": CODE_NAMES[int(clip.path.stem.split("-")[2])],
                     "intensity": "strong" if clip.intensity == 2 else "normal", "label": pred.label,
                     "valence": pred.valence, "arousal": pred.arousal, "weights": pred.weights,
                     "voice_valence": voice.get("valence"), "voice_arousal": voice.get("arousal")})
        log.info("%s %s: V %+.2f A %+.2f (%s)", rows[-1]["emotion"], rows[-1]["intensity"], pred.valence, pred.arousal,
                 pred.label)
    return rows


def means(rows: list[dict]) -> list[dict]:
    """Mean fused and voice valence-arousal, and the voice's fusion weight, per emotion and intensity."""
    out = []
    for name in CODE_NAMES.values():
        for level in ("normal", "strong"):
            pick = [r for r in rows if r["emotion"] == name and r["intensity"] == level]
            if pick:
                mean = lambda k: round(float(np.mean([r[k] for r in pick])), 3)  # noqa: E731
                out.append({"emotion": name, "intensity": level, "clips": len(pick), "valence": mean("valence"),
                            "arousal": mean("arousal"), "voice_valence": mean("voice_valence"),
                            "voice_arousal": mean("voice_arousal"),
                            "voice_weight": round(float(np.mean([r["weights"]["audio"] for r in pick])), 3)})
    return out


def main(argv: list[str] | None = None) -> dict:
    from streaming.live.plane import plane_chart
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--actor", type=int, default=21, help="a held-out actor (21-24) keeps the picture honest")
    ap.add_argument("--out", type=Path, default=ROOT / "reports")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rows = run(args.data_root, args.actor)
    args.out.mkdir(parents=True, exist_ok=True)
    title = f"RAVDESS actor {args.actor}, neutral to strong"
    (args.out / f"valence_arousal_actor{args.actor}.svg").write_text(
        plane_chart(rows, float("inf"), f"{title}: fused"))
    voice = [{**r, "valence": r["voice_valence"], "arousal": r["voice_arousal"]} for r in rows]
    (args.out / f"valence_arousal_actor{args.actor}_voice.svg").write_text(
        plane_chart(voice, float("inf"), f"{title}: voice"))
    report = {"command": f"python -m benchmarks.affect_session --data-root {args.data_root} --actor {args.actor}",
              "actor": args.actor, "clips": len(rows), "means": means(rows), "rows": rows,
              "classes": list(EMOTIONS)}
    (args.out / f"valence_arousal_actor{args.actor}.json").write_text(json.dumps(report, indent=1) + "\n")
    for m in report["means"]:
        print(f"{m['emotion']:>9} {m['intensity']:>6}: fused V {m['valence']:+.2f} A {m['arousal']:+.2f}; voice "
              f"V {m['voice_valence']:+.2f} A {m['voice_arousal']:+.2f} (weight {m['voice_weight']:.2f}; {m['clips']} clips)")
    return report


if __name__ == "__main__":
    main()
