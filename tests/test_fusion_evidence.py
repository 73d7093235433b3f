"""The evidence-gated fusion (agf_evidence) and the cross-fitted beds it is trained on."""
import numpy as np
import torch

from agf_core.labels import EMOTIONS, MODALITIES
from agf_core.models.variants import VariantConfig, build
from agf_core.training.fusion.crossfit import av_bed, fused, score_bed, train, words_bed

SAD, NEUTRAL = EMOTIONS.index("sadness"), EMOTIONS.index("neutral")


def _logp(top, p=0.8):
    q = np.full(7, (1 - p) / 6)
    q[top] = p
    return np.log(q).astype(np.float32)


def _inputs(rows):
    """rows: [{modality: top class}] -> the model's inputs for a batch."""
    n = len(rows)
    logp = {m: torch.zeros(n, 7) for m in MODALITIES}
    mask = torch.zeros(n, 3, dtype=torch.bool)
    for i, r in enumerate(rows):
        for j, m in enumerate(MODALITIES):
            if m in r:
                logp[m][i], mask[i, j] = torch.from_numpy(_logp(r[m])), True
    h = {m: torch.zeros(n, 1) for m in MODALITIES}
    return h, logp, mask, torch.zeros(n, 3, dtype=torch.long)


def test_weights_sum_to_one_over_present_and_a_lone_modality_passes_through():
    model = build(VariantConfig.of("agf_evidence")).eval()
    h, logp, mask, meta = _inputs([{"text": SAD}, {"text": SAD, "video": NEUTRAL}, {"audio": 1, "video": 2}])
    logits, a = model(h, logp, mask, meta)
    assert torch.allclose(a.sum(-1), torch.ones(3)) and torch.all(a[~mask] == 0)
    assert torch.allclose(logits[0].log_softmax(-1), logp["text"][0], atol=1e-5)
    lowered = model(h, logp, mask, meta, gate_bias=torch.tensor([0.0, 0.0, -3.0]))[1]
    assert lowered[1, 2] < a[1, 2]


def _reader(rng, acc):
    """A branch right `acc` of the time, and more confident when right (as real branches are)."""
    def read(k):
        right = rng.random() < acc
        return _logp(k, 0.85) if right else _logp((k + rng.integers(1, 7)) % 7, 0.4)
    return read


def _fake_pools(rng, n=400):
    y = rng.integers(0, 7, n)
    noisy = lambda acc: np.stack([_reader(rng, acc)(k) for k in y])  # noqa: E731
    return y, noisy


def test_words_bed_keeps_the_text_and_pairs_absent_neutral_or_agreeing_partners():
    rng = np.random.default_rng(0)
    y, noisy = _fake_pools(rng)
    text = {"y": y, "logp": noisy(0.9)}
    pool = {"y": y, "logp": noisy(0.6)}
    bed = words_bed(text, pool, pool, rng)
    assert bed.mask[:, 0].all() and 0.4 < bed.mask[:, 1].mean() < 0.8 and 0.4 < bed.mask[:, 2].mean() < 0.8
    assert np.all(bed.logp["audio"][~bed.mask[:, 1]] == 0)


def test_trained_on_the_beds_clear_words_move_the_reading_and_the_fusion_beats_its_branches():
    rng = np.random.default_rng(1)
    y, noisy = _fake_pools(rng, 600)
    ids = np.array([f"01-01-{k + 1:02d}-01-01-01-{a:02d}" for k, a in zip(rng.integers(0, 8, 600), rng.integers(1, 25, 600))])
    from agf_core.training.data import RAVDESS_EMOTIONS
    from agf_core.labels import emotion_index
    yy = np.array([emotion_index(RAVDESS_EMOTIONS[int(i.split("-")[2])]) for i in ids])
    face = {"id": ids, "actor": np.array([int(i[-2:]) for i in ids]), "y": yy,
            "logp": np.stack([_reader(rng, 0.6)(k) for k in yy])}
    voice = {"name": np.array(["03" + i[2:] + ".flac" for i in ids]), "y": yy,
             "logp": np.stack([_reader(rng, 0.6)(k) for k in yy])}
    text = {"y": y, "logp": noisy(0.9)}
    pool = {"y": y, "logp": noisy(0.6)}
    model = train([av_bed(face, voice, range(1, 21)), words_bed(text, pool, pool, rng)],
                  VariantConfig.of("agf_evidence"), epochs=10)
    scores = score_bed(model, av_bed(face, voice, range(21, 25)))
    assert scores["fused"] > max(scores["audio_alone"], scores["video_alone"])
    # words with a neutral face or voice beside them: the fused reading follows the words
    y2, noisy2 = _fake_pools(np.random.default_rng(2), 600)
    held = words_bed({"y": y2, "logp": noisy2(0.9)}, {"y": y2, "logp": noisy2(0.6)}, {"y": y2, "logp": noisy2(0.6)},
                     np.random.default_rng(3))
    p, _ = fused(model, held)
    rows = (held.y != NEUTRAL) & (held.mask[:, 1:].any(1))
    text_right = held.logp["text"].argmax(1) == held.y
    assert (p.argmax(1) == held.y)[rows].mean() >= text_right[rows].mean() - 0.05
