"""The voice recipe's pieces on small synthetic feature sets (no data needed)."""
import numpy as np

from agf_core.training.voice_features import VoiceSet
from agf_core.training.voice_recipe import VoiceRecipe, accuracy, calibration_scores, neutral_probs, sample_weights, train


def _set(n_per=20, corpus="a", speakers=("s1", "s2"), shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    rows, y, spk = [], [], []
    for s_i, s in enumerate(speakers):
        for k in (0, 1, 3):                       # neutral, joy, anger
            x = rng.standard_normal((n_per, 856)).astype(np.float32) * 0.3
            x[:, 20 * k:20 * k + 20] += 1.5         # the emotion, on 20 dimensions
            x[:, 800] += shift + s_i * 2.0          # the speaker (a level offset)
            rows.append(x), y.extend([k] * n_per), spk.extend([s] * n_per)
    n = len(y)
    return VoiceSet(np.concatenate(rows), np.ones(n, bool), np.array(y), np.array(spk), np.full(n, corpus),
                    np.zeros(n, int))


def test_sample_weights_balance_corpora_and_classes():
    big, small = _set(30, "big"), _set(5, "small", speakers=("t1",))
    both = VoiceSet.concat([big, small])
    w = sample_weights(both)
    assert np.isclose(w.sum(), len(w))
    for c in ("big", "small"):
        per_class = [w[(both.corpus == c) & (both.y == k)].sum() for k in (0, 1, 3)]
        assert np.allclose(per_class, len(w) / 6)


def test_train_learns_the_emotion_and_a_baseline_is_scored_on_the_other_clips():
    train_set, dev = _set(seed=0), _set(seed=1, speakers=("s3",))
    net, best = train(train_set, [dev], VoiceRecipe(epochs=30, batch_size=32))
    assert best["epoch"] >= 1 and accuracy(net, dev) > 0.9 and "a_mixed" in best
    assert net.linear.weight.abs().sum() > 0                          # the linear head was fitted
    ref = neutral_probs(net, train_set)
    assert ref.shape == (7,) and np.isclose(ref.sum(), 1, atol=1e-4) and ref.argmax() == 0
    cal = calibration_scores(net, dev, ref, "a")
    assert cal["speakers"] == 1 and cal["n"] == len(dev.y) - 2      # the two baseline clips are not scored
    assert 0.0 <= cal["with"] <= 1.0
