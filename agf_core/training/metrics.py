"""Classification metrics for the reports: accuracy, macro/weighted F1, per-class P/R/F1, confusion, ECE."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from agf_core.labels import EMOTIONS


def classification_report(y_true: np.ndarray, probs: np.ndarray) -> dict:
    """y_true (N,) class indices, probs (N, 7) -> the metrics dict written to reports/<task>.json."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(probs).argmax(1)
    labels = list(range(len(EMOTIONS)))
    p, r, f, n = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = n > 0  # a class absent from the test set is left out of macro-F1
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_pred == y_true).mean()),
        "macro_f1": float(f[present].mean()),
        "weighted_f1": float((f * n).sum() / n.sum()),
        "ece": expected_calibration_error(y_true, probs),
        "per_class": {e: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(n[i])}
                      for i, e in enumerate(EMOTIONS)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "labels": list(EMOTIONS),
    }


def restricted_report(y_true: np.ndarray, probs: np.ndarray, classes: tuple[int, ...]) -> dict:
    """classification_report with the prediction restricted to `classes` (those a corpus has; the others
    were dropped from it), so a test bed is not scored on labels it cannot carry."""
    masked = np.zeros_like(probs)
    masked[:, list(classes)] = probs[:, list(classes)]
    return classification_report(y_true, masked)


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    probs = np.asarray(probs)
    conf, pred = probs.max(1), probs.argmax(1)
    correct = pred == np.asarray(y_true)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def ece_noise_floor(probs: np.ndarray, rng: np.random.Generator, draws: int = 500) -> dict:
    """The ECE that a perfectly calibrated model with these confidences would measure on this many rows:
    each row is right with probability equal to its confidence. ECE is biased upwards on small sets (a bin
    of 20 rows is off by ~0.1 by chance), so a measured ECE means little below this floor."""
    probs = np.asarray(probs)
    conf, pred = probs.max(1), probs.argmax(1)
    other = (pred + 1) % probs.shape[1]  # any wrong label will do: only right/wrong enters the ECE
    eces = [expected_calibration_error(np.where(rng.random(len(conf)) < conf, pred, other), probs)
            for _ in range(draws)]
    return {"mean": round(float(np.mean(eces)), 4), "p5": round(float(np.percentile(eces, 5)), 4),
            "p95": round(float(np.percentile(eces, 95)), 4), "draws": draws}
