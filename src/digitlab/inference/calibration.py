"""Confidence that means what it says, and readings withheld when it is low.

A network's softmax is overconfident (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one
temperature T, fitted on held-out data by minimising the negative log-likelihood, turns probabilities p
into softmax(log p / T) without changing which digit is read. The expected calibration error (15 equal
bins of confidence) says how far the confidence is from the accuracy.

A reading is then withheld (selective classification) when its calibrated confidence is below a
threshold chosen on held-out data: the lowest at which the readings kept are the target accuracy right, raised
where needed so that non-digits like those the model was taught to refuse (fresh ones, never those a report
measures) are refused, though never so far that more than a small share of digits is withheld. A withheld reading is
"not-a-digit" when the probability is spread over many digits (what outlier exposure teaches a model to do
for a letter, a scribble, lined paper), "unsure" when it lies on a few ("4 or 9?").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

ECE_BINS = 15
TARGET_ACCEPTED_ACCURACY = 0.995  # the default threshold keeps readings this often right on held-out uploads
TARGET_REFUSED = 0.97  # ... and refuses this share of fresh non-digits of the kinds the run trained to refuse,
MAX_WITHHELD = 0.02  # unless that would withhold more than this share of the held-out uploads
CANDIDATE_MASS = 0.8  # a withheld reading whose top 3 hold less probability than this is "not-a-digit"
STATUSES = ("ok", "not-a-digit", "unsure", "no-digit-found")


@dataclass(frozen=True)
class Calibration:
    """What a run records (config "calibration") and every reading path applies."""

    temperature: float = 1.0
    threshold: float = 0.0  # calibrated confidence below this is withheld; 0: every reading is given

    def to_json(self) -> dict:
        return {"temperature": self.temperature, "threshold": self.threshold}

    @classmethod
    def of_config(cls, config: dict) -> Calibration:
        record = config.get("calibration") or {}
        return cls(float(record.get("temperature", 1.0)), float(record.get("threshold", 0.0)))


def tempered(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T), row by row: the same ranking, confidence as calibrated."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if temperature == 1.0:
        return probabilities
    logits = np.log(np.clip(probabilities, 1e-12, None)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=-1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature in [0.05, 20] that minimises the held-out negative log-likelihood."""
    labels = np.asarray(labels, dtype=int)

    def loss(log_temperature: float) -> float:
        calibrated = tempered(probabilities, float(np.exp(log_temperature)))
        return float(-np.log(np.clip(calibrated[np.arange(len(labels)), labels], 1e-12, None)).mean())

    result = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return round(float(np.exp(result.x)), 4)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over equal-width confidence bins of |accuracy - mean confidence|, weighted by the bin's share."""
    confidences = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidences, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for index in range(bins):
        members = which == index
        if members.any():
            error += members.mean() * abs(right[members].mean() - confidences[members].mean())
    return float(error)


def choose_threshold(probabilities: np.ndarray, labels: np.ndarray,
                     target: float = TARGET_ACCEPTED_ACCURACY) -> float:
    """The lowest confidence threshold at which the readings kept are at least ``target`` right (0 when all
    of them already are): as many readings as possible are given, at the accuracy asked for."""
    confidences = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == np.asarray(labels)
    order = np.argsort(-confidences, kind="stable")
    kept_right = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
    good = np.flatnonzero(kept_right >= target)
    if not len(good):
        return 1.0
    last = good[-1]  # keep the most confident last+1 readings
    if last == len(order) - 1:
        return 0.0
    return round(float(confidences[order[last]]), 6)


def refusing_threshold(digit_confidences: np.ndarray, non_digit_confidences: np.ndarray,
                       refused: float = TARGET_REFUSED, max_withheld: float = MAX_WITHHELD) -> float:
    """The threshold under which ``refused`` of the non-digits' calibrated confidences fall, lowered where
    needed so that no more than ``max_withheld`` of the digits' fall under it: without it a model that reads
    every held-out digit right would be given threshold 0 and refuse nothing."""
    if not len(non_digit_confidences) or not len(digit_confidences):
        return 0.0
    wanted = float(np.quantile(non_digit_confidences, refused, method="higher"))
    allowed = float(np.quantile(digit_confidences, max_withheld, method="lower"))
    return round(max(0.0, min(wanted, allowed)), 6)


def statuses(probabilities: np.ndarray, threshold: float) -> list[str]:
    """ "ok" where the calibrated confidence reaches ``threshold``; else "not-a-digit" or "unsure"."""
    confidences = probabilities.max(axis=1)
    top3 = np.sort(probabilities, axis=1)[:, -3:].sum(axis=1)
    return ["ok" if confidence >= threshold else "not-a-digit" if mass < CANDIDATE_MASS else "unsure"
            for confidence, mass in zip(confidences.tolist(), top3.tolist(), strict=True)]
