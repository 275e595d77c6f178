"""Does a run know when it does not know? `python -m benchmarks.abstain RUN [RUN ...]`

For each run, on sets of the project's own that no run was tuned on:

- digits: MNIST test digits re-drawn as uploads (the number reader's four looks, each saved as a file and
  brought back to 28x28 by imaging), 2,000 of them: the share given (not withheld) and the share of those
  given that are right, at the run's own threshold;
- non-digits: ``reading.negatives`` images of every kind, 300 a kind, from seeds no training uses; the kinds
  held out of training (printed letters and signs, lined paper) reported apart from those it trained on.
  Refused means withheld (not-a-digit or unsure) or no digit found by imaging;
- AUROC of the calibrated confidence, digits against non-digits (the maximum-softmax score of Hendrycks &
  Gimpel 2017, after temperature scaling), and beside it the energy score of Liu et al. 2020
  (logsumexp of the logits at the run's temperature; the logits are the output layer's kernel and bias
  applied to the Keras model's penultimate activations, since digitlab's models end in a softmax);
- the expected calibration error (15 bins) on the MNIST test set and on the re-drawn digits;
- MNIST test accuracy with abstention off, and the cost of withholding per reading (the Predictor's
  calibrated answer against its plain one, medians of alternating rounds).

Results go to results/abstain.json, keyed by run; `python -m benchmarks.report` renders the table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.report import publish
from digitlab.abstention import redrawn_uploads
from digitlab.data import load_dataset
from digitlab.inference.calibration import Calibration, expected_calibration_error, statuses
from digitlab.inference.predictor import Predictor
from digitlab.reading.negatives import HELD_OUT_KINDS, KINDS, TRAINING_KINDS, negative_inputs
from digitlab.training.settings import train_command

RESULTS = Path(__file__).resolve().parent / "results" / "abstain.json"
BENCHMARK_SEED = 20261203  # no training or calibration uses it
DIGITS = 2000
PER_KIND = 300
TARGETED = ("digitlab train --model cnn", "digitlab train --recipe accurate")  # the targets are theirs


def non_digit_inputs(digits: np.ndarray) -> dict[str, tuple[np.ndarray, int]]:
    """Each kind's 28x28 inputs, and how many of its uploads imaging already refused (no digit found)."""
    sets = {}
    for kind in KINDS:
        inputs, _ = negative_inputs((kind,), PER_KIND, BENCHMARK_SEED, digits)
        sets[kind] = (inputs, PER_KIND - len(inputs))
    return sets


def cost_per_reading(predictor: Predictor, images: np.ndarray, rounds: int = 7) -> dict[str, float]:
    """Median seconds per single reading with the run's calibration and threshold, and without (T=1, no
    threshold): alternating rounds of 200 readings."""
    plain = Predictor(predictor.run, min_confidence=0)
    plain.calibration = Calibration()  # temperature 1
    times = {"calibrated": [], "plain": []}
    for _ in range(rounds):
        for name, which in (("calibrated", predictor), ("plain", plain)):
            started = time.perf_counter()
            for image in images[:200]:
                which.predict(image).status  # noqa: B018 - the status is part of the answer
            times[name].append((time.perf_counter() - started) / 200)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"calibrated_ms": round(1000 * medians["calibrated"], 4), "plain_ms": round(1000 * medians["plain"], 4),
            "ratio": round(medians["calibrated"] / medians["plain"], 3)}


def energy_scores(run, temperature: float, batches: list[np.ndarray]) -> list[np.ndarray]:
    """The negative energy T * logsumexp(logits / T) of every input (higher: more like the training digits)."""
    from scipy.special import logsumexp

    from digitlab._keras import keras

    model = run.load_model()
    output = model.layers[-1]
    features = keras.Model(model.inputs, output.input)
    kernel, bias = (np.asarray(weight, dtype=np.float64) for weight in output.get_weights())
    scores = []
    for inputs in batches:
        logits = np.asarray(features.predict(inputs, batch_size=512, verbose=0), dtype=np.float64) @ kernel + bias
        scores.append(temperature * logsumexp(logits / temperature, axis=1))
    return scores


def measure(run_path: str, dataset, uploads: np.ndarray, upload_labels: np.ndarray,
            non_digits: dict[str, tuple[np.ndarray, int]]) -> dict:
    predictor = Predictor(run_path)
    digits = predictor.predict_batch(uploads)
    given = np.asarray(digits.statuses) == "ok"
    test = Predictor(run_path, min_confidence=0).predict_batch(dataset.x_test)
    kinds, all_scores = {}, []
    for kind, (inputs, refused_by_imaging) in non_digits.items():
        batch = predictor.predict_batch(inputs) if len(inputs) else None
        withheld = 0 if batch is None else int(sum(status != "ok" for status in batch.statuses))
        total = len(inputs) + refused_by_imaging
        kinds[kind] = {"images": total, "refused": round((withheld + refused_by_imaging) / total, 4),
                       "no_digit_found": refused_by_imaging,
                       "not_a_digit": 0 if batch is None else int(sum(s == "not-a-digit" for s in batch.statuses)),
                       "held_out": kind in HELD_OUT_KINDS}
        if batch is not None:
            all_scores.append(batch.confidences)
    scores = np.concatenate(all_scores)
    truth = np.r_[np.ones(len(uploads)), np.zeros(len(scores))]
    temperature = predictor.calibration.temperature
    energies = energy_scores(predictor.run, temperature, [uploads, *(inputs for inputs, _ in non_digits.values()
                                                                       if len(inputs))])

    def refused(selected: tuple[str, ...]) -> float:
        refused_count = sum(kinds[kind]["refused"] * kinds[kind]["images"] for kind in selected)
        return round(refused_count / sum(kinds[kind]["images"] for kind in selected), 4)

    config = predictor.run.config
    return {
        "model": config["model"], "trained_with": train_command(config), "calibration": config.get("calibration"),
        "targeted": train_command(config) in TARGETED,
        "outliers": config.get("outliers"),
        "threshold": predictor.threshold,
        "digits": {"images": len(uploads), "given": round(float(given.mean()), 4),
                   "given_right": round(float((digits.digits == upload_labels)[given].mean()), 5),
                   "ece": round(expected_calibration_error(digits.probabilities, upload_labels), 5)},
        "mnist_test": {"accuracy": round(float((test.digits == dataset.y_test).mean()), 5),
                       "ece": round(expected_calibration_error(test.probabilities, dataset.y_test), 5),
                       "given": round(float(np.mean(np.asarray(statuses(test.probabilities, predictor.threshold))
                                                    == "ok")), 4)},
        "non_digits": {"by_kind": kinds, "refused_all": refused(KINDS), "refused_held_out": refused(HELD_OUT_KINDS),
                       "refused_trained_kinds": refused(TRAINING_KINDS),
                       "refused_without_abstention": round(sum(k["no_digit_found"] for k in kinds.values())
                                                           / sum(k["images"] for k in kinds.values()), 4)},
        "auroc": round(float(roc_auc_score(truth, np.r_[digits.confidences, scores])), 4),
        "auroc_energy": round(float(roc_auc_score(truth, np.concatenate(energies))), 4),
        "cost": cost_per_reading(predictor, uploads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN", help="trained (and calibrated) run directories")
    arguments = parser.parse_args()
    dataset = load_dataset(None)
    pick = np.random.default_rng(BENCHMARK_SEED).permutation(len(dataset.y_test))[:DIGITS]
    uploads, upload_labels = redrawn_uploads(dataset.x_test[pick], dataset.y_test[pick], BENCHMARK_SEED)
    non_digits = non_digit_inputs(dataset.x_test)  # overlaps of test digits: no run trained on them
    results = {}
    for run_path in arguments.runs:
        print(f"measuring {run_path}", file=sys.stderr, flush=True)
        results[run_path] = measure(run_path, dataset, uploads, upload_labels, non_digits)
    publish(RESULTS, {"command": "python -m benchmarks.abstain " + " ".join(arguments.runs), "runs": results,
                     "sets": {"digits": DIGITS, "per_kind": PER_KIND, "seed": BENCHMARK_SEED,
                              "held_out_kinds": list(HELD_OUT_KINDS), "training_kinds": list(TRAINING_KINDS)}})


if __name__ == "__main__":
    main()
