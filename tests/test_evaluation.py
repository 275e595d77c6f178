"""Metrics against cases worked out by hand, and the text renderings."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.evaluation import confusion_text, metrics_from_predictions, most_confused_pairs


def one_hot(predictions: list[int]) -> np.ndarray:
    probabilities = np.full((len(predictions), 10), 0.01)
    probabilities[np.arange(len(predictions)), predictions] = 0.9
    return probabilities


def test_metrics_match_a_hand_computed_case():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    predicted = [0, 0, 1, 1, 1, 2, 2, 0, 3, 3]
    evaluation = metrics_from_predictions(labels, one_hot(predicted), loss=0.5)
    assert evaluation.accuracy == pytest.approx(7 / 10)
    assert evaluation.misclassified == 3
    # class 0: predicted 0 at indices 0, 1, 7 -> 2 right of 3 predicted; 2 of 3 true found.
    assert evaluation.per_class["precision"][0] == pytest.approx(2 / 3)
    assert evaluation.per_class["recall"][0] == pytest.approx(2 / 3)
    # class 2: predicted twice, both right; 4 true, 2 found -> F1 = 2 * 1 * 0.5 / 1.5.
    assert evaluation.per_class["precision"][2] == pytest.approx(1.0)
    assert evaluation.per_class["recall"][2] == pytest.approx(0.5)
    assert evaluation.per_class["f1"][2] == pytest.approx(2 / 3)
    assert evaluation.per_class["support"][:4] == [3, 2, 4, 1]
    # weighted recall equals accuracy when every sample counts once.
    assert evaluation.weighted["recall"] == pytest.approx(0.7)
    assert evaluation.confusion[2][0] == 1 and evaluation.confusion[2][3] == 1 and evaluation.confusion[0][1] == 1
    assert evaluation.first_predictions == {"predicted": [0, 0, 1, 1, 1], "true": [0, 0, 0, 1, 1]}


def test_most_confused_pairs_are_the_largest_off_diagonal_cells():
    matrix = np.diag([50] * 10)
    matrix[4, 9] = 7
    matrix[7, 2] = 3
    matrix[3, 5] = 7
    pairs = most_confused_pairs(matrix, top=5)
    assert {(p["true"], p["predicted"]) for p in pairs[:2]} == {(4, 9), (3, 5)}
    assert pairs[2] == {"true": 7, "predicted": 2, "count": 3}
    assert len(pairs) == 3  # zero cells are not "confusions"


def test_confusion_text_has_a_row_per_true_digit():
    matrix = np.eye(10, dtype=int).tolist()
    lines = confusion_text(matrix).splitlines()
    assert len(lines) == 11
    assert lines[0].split()[1:] == [str(d) for d in range(10)]
