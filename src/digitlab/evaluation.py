"""How good is a model, and where does it go wrong? Metrics, the confusion matrix, and the report.

The numbers come from scikit-learn's metrics (not re-implemented here) on the predictions of
``model.predict`` + ``argmax``, exactly as the lesson computes them; ``model.evaluate`` supplies
the loss and accuracy Keras itself reports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from digitlab import plots
from digitlab.data import NUM_CLASSES, load_dataset
from digitlab.errors import InvalidArgument, option
from digitlab.fileio import atomic_write_text
from digitlab.inference.calibration import Calibration, expected_calibration_error, tempered
from digitlab.inference.explain import occlusion
from digitlab.inference.predictor import Predictor, normalised
from digitlab.models import get_spec
from digitlab.runs import (
    CONFUSION_PNG,
    CURVES_PNG,
    MISCLASSIFIED_PNG,
    REPORT_FILE,
    SPLITS,
    Run,
    RunError,
    open_run,
    write_json,
)
from digitlab.training.settings import train_command
from digitlab.training.splits import checked_split

CLASSES = list(range(NUM_CLASSES))


@dataclass
class Evaluation:
    """Everything ``digitlab evaluate`` reports for one split; ``to_json()`` is what metrics.json holds."""

    split: str
    count: int
    loss: float
    accuracy: float
    per_class: dict[str, list[float]]
    macro: dict[str, float]
    weighted: dict[str, float]
    confusion: list[list[int]]
    most_confused: list[dict[str, int]]
    first_predictions: dict[str, list[int]]
    misclassified: int
    ece: float | None = None  # expected calibration error (15 bins) of the confidence the run's readings give
    probabilities: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        payload = asdict(self)
        payload.pop("probabilities")
        return payload


def most_confused_pairs(matrix: np.ndarray, top: int = 5) -> list[dict[str, int]]:
    """The largest off-diagonal cells: (true digit, predicted digit, how often)."""
    off_diagonal = np.array(matrix, copy=True)
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(off_diagonal, axis=None)[::-1][:top]
    pairs = []
    for flat_index in order:
        true, predicted = np.unravel_index(flat_index, off_diagonal.shape)
        if off_diagonal[true, predicted] == 0:
            break
        pairs.append({"true": int(true), "predicted": int(predicted), "count": int(off_diagonal[true, predicted])})
    return pairs


def metrics_from_predictions(
    labels: np.ndarray, probabilities: np.ndarray, *, split: str = "test", loss: float | None = None
) -> Evaluation:
    """Every metric digitlab reports, from true labels and the model's class probabilities."""
    labels = np.asarray(labels)
    predicted = np.argmax(probabilities, axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=CLASSES, zero_division=0
    )

    def averaged(average: str) -> dict[str, float]:
        p, r, f, _ = precision_recall_fscore_support(labels, predicted, labels=CLASSES, average=average,
                                                     zero_division=0)
        return {"precision": float(p), "recall": float(r), "f1": float(f)}

    matrix = confusion_matrix(labels, predicted, labels=CLASSES)
    return Evaluation(
        split=split,
        count=int(len(labels)),
        loss=float("nan") if loss is None else float(loss),
        accuracy=float(np.mean(predicted == labels)),
        per_class={
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "support": support.astype(int).tolist(),
        },
        macro=averaged("macro"),
        weighted=averaged("weighted"),
        confusion=matrix.astype(int).tolist(),
        most_confused=most_confused_pairs(matrix),
        first_predictions={"predicted": predicted[:5].astype(int).tolist(), "true": labels[:5].astype(int).tolist()},
        misclassified=int(np.sum(predicted != labels)),
        probabilities=probabilities,
    )


def evaluate_model(model, inputs: np.ndarray, labels: np.ndarray, *, split: str = "test",
                   batch_size: int = 1024) -> Evaluation:
    """``model.evaluate`` for loss, ``model.predict`` + argmax for everything else."""
    loss, _ = model.evaluate(inputs, labels, batch_size=batch_size, verbose=0)
    probabilities = model.predict(inputs, batch_size=batch_size, verbose=0)
    return metrics_from_predictions(labels, probabilities, split=split, loss=loss)


def misclassified_examples(evaluation: Evaluation, labels: np.ndarray, limit: int = 40) -> list[dict[str, Any]]:
    """The most confidently wrong predictions first: the ones most worth looking at."""
    predicted = np.argmax(evaluation.probabilities, axis=1)
    confidence = evaluation.probabilities[np.arange(len(predicted)), predicted]
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-confidence[wrong])][:limit]
    return [{"index": int(i), "true": int(labels[i]), "predicted": int(predicted[i]),
             "confidence": float(confidence[i])} for i in wrong]


# ------------------------------------------------------------------------------------------------
# Text renderings, shared by the terminal output and report.md


def confusion_text(matrix: list[list[int]]) -> str:
    """The confusion matrix as a fixed-width table: rows are true digits, columns predictions."""
    width = max(5, max(len(str(value)) for row in matrix for value in row) + 1)
    lines = ["true\\pred" + "".join(f"{digit:>{width}}" for digit in CLASSES)]
    for digit, row in enumerate(matrix):
        lines.append(f"{digit:>9}" + "".join(f"{value:>{width}}" for value in row))
    return "\n".join(lines)


def per_class_text(evaluation: Evaluation) -> str:
    lines = ["digit  precision  recall     f1  support"]
    per_class = evaluation.per_class
    for digit in CLASSES:
        lines.append(f"{digit:>5}  {per_class['precision'][digit]:9.4f}  {per_class['recall'][digit]:6.4f}  "
                     f"{per_class['f1'][digit]:6.4f}  {per_class['support'][digit]:>7}")
    for name in ("macro", "weighted"):
        average = getattr(evaluation, name)
        lines.append(f"{name:>8}  {average['precision']:6.4f}  {average['recall']:6.4f}  "
                     f"{average['f1']:6.4f}  {evaluation.count:>7}")
    return "\n".join(lines)


def summary_text(evaluation: Evaluation) -> str:
    first = evaluation.first_predictions
    pairs = ", ".join(f"{p['true']}->{p['predicted']} ({p['count']})" for p in evaluation.most_confused) or "none"
    loss = "" if evaluation.loss != evaluation.loss else f"loss {evaluation.loss:.4f}, "  # NaN: no single model's loss
    return "\n".join([
        f"{evaluation.split} set: {evaluation.count} images, {loss}"
        f"accuracy {evaluation.accuracy:.2%} ({evaluation.misclassified} wrong)"
        + ("" if evaluation.ece is None else f", calibration error (ECE, 15 bins) {evaluation.ece:.2%}"),
        f"first 5 predictions: {first['predicted']}",
        f"first 5 true labels: {first['true']}",
        "",
        per_class_text(evaluation),
        "",
        "confusion matrix (rows: true digit, columns: predicted digit):",
        confusion_text(evaluation.confusion),
        "",
        f"most confused (true->predicted): {pairs}",
    ])


# ------------------------------------------------------------------------------------------------
# Evaluating a run: metrics.json, the plots and report.md



def split_arrays(run, dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images and labels of ``split``; 'train' and 'val' are re-derived from the run's seed and settings
    and checked against the split the run recorded."""

    if split == "test":
        return dataset.x_test, dataset.y_test
    fit_indices, val_indices = checked_split(dataset.y_train, run.config["training"], run.config.get("split"),
                                             str(run.path))
    if split == "train":
        return dataset.x_train[fit_indices], dataset.y_train[fit_indices]
    if split == "val":
        if not len(val_indices):
            raise InvalidArgument(f"{run.path}: trained without a validation split (val_split=0); "
                                  f"use {option('split', 'test')}")
        return dataset.x_train[val_indices], dataset.y_train[val_indices]
    raise InvalidArgument(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")


def mistake_saliency(model, spec, images: np.ndarray, examples: list[dict]) -> np.ndarray | None:
    """Each mistake's evidence for its wrong answer (occlusion, see digitlab.inference.explain), for the gallery."""

    if not examples:
        return None
    _, maps = occlusion(lambda batch: model.predict(spec.prepare(batch), batch_size=1024, verbose=0),
                        images[[e["index"] for e in examples]])
    return maps[np.arange(len(examples)), [e["predicted"] for e in examples]]


def evaluate_run(run, *, dataset=None, split: str = "test", model=None, data_dir=None) -> Evaluation:
    """Evaluate a run's model on ``split``, record it in metrics.json, and redraw its plots and report."""

    if split not in SPLITS:
        raise InvalidArgument(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    dataset = dataset or load_dataset(data_dir or run.config["data"].get("data_dir"))
    model = model or run.load_model()
    spec = get_spec(run.config["model"])
    images, labels = split_arrays(run, dataset, split)
    evaluation = evaluate_model(model, spec.prepare(images), labels, split=split)
    calibrated = tempered(normalised(evaluation.probabilities), Calibration.of_config(run.config).temperature)
    evaluation.ece = round(expected_calibration_error(calibrated, labels), 5)
    examples = misclassified_examples(evaluation, labels)
    run.update_metrics(**{split: {**evaluation.to_json(), "misclassified_examples": examples,
                                  "data_fingerprint": dataset.fingerprint}})

    suffix = "" if split == "test" else f"-{split}"
    plots.confusion_heatmap(evaluation.confusion, run.file(CONFUSION_PNG.replace(".png", f"{suffix}.png")),
                            title=f"{run.config['model']}: {split} accuracy {evaluation.accuracy:.2%}")
    plots.misclassified_gallery(images, examples, run.file(MISCLASSIFIED_PNG.replace(".png", f"{suffix}.png")),
                                mistake_saliency(model, spec, images, examples))
    if run.history:
        plots.training_curves(run.history, run.file(CURVES_PNG), title=f"{run.config['model']} ({run.name})")
    write_report(run)
    return evaluation


def write_report(run) -> None:
    """report.md: settings, curves, the test metrics and plots, cross-validation if any."""

    config, metrics = run.config, run.metrics
    lines = [f"# {config['model']} ({run.name})", "", f"Reproduce: `{train_command(config)}`", ""]
    lines += [
        "| setting | value |", "|---|---|",
        *(f"| {key} | {value} |" for key, value in {**config["hyper"], **config["training"]}.items()),
        f"| parameters | {config.get('parameters', '-'):,} |" if config.get("parameters") else "| parameters | - |",
        f"| epochs done | {config.get('epochs_done')} |",
        f"| training time | {config.get('train_seconds', 0):.1f} s |",
        f"| data | {config['data']['source']} (sha256 {config['data']['fingerprint'][:12]}...) |",
        f"| versions | {', '.join(f'{k} {v}' for k, v in config['versions'].items())} |",
        "",
    ]
    if run.file(CURVES_PNG).exists():
        lines += ["## Training curves", "", f"![training curves]({CURVES_PNG})", ""]
    cross_validation = metrics.get("cross_validation")
    if cross_validation:
        accuracies = ", ".join(f"{a:.2%}" for a in cross_validation["fold_accuracies"])
        lines += ["## Cross-validation", "",
                  f"{cross_validation['folds']} folds: {accuracies}; mean {cross_validation['mean']:.2%} "
                  f"± {cross_validation['std']:.2%}", ""]
    for split in SPLITS:
        if split not in metrics:
            continue
        suffix = "" if split == "test" else f"-{split}"
        result = Evaluation(**{k: v for k, v in metrics[split].items()
                               if k not in ("misclassified_examples", "data_fingerprint")})
        lines += [f"## Evaluation on the {split} set", "", "```text", summary_text(result), "```", "",
                  f"![confusion matrix]({CONFUSION_PNG.replace('.png', f'{suffix}.png')})", "",
                  f"![misclassified digits]({MISCLASSIFIED_PNG.replace('.png', f'{suffix}.png')})", ""]
    atomic_write_text(run.file(REPORT_FILE), "\n".join(lines))


def evaluate(run, *, split: str = "test", data_dir=None, dataset=None) -> Evaluation:
    """The public entry point: a run directory (path or Run) evaluated on ``split``."""

    return evaluate_run(run if isinstance(run, Run) else open_run(run), split=split, data_dir=data_dir,
                        dataset=dataset)


# ------------------------------------------------------------------------------------------------
# Ensembles: average the class probabilities of several runs


def ensemble_probabilities(runs, images: np.ndarray, *, tta: bool = False) -> np.ndarray:
    """The mean of each run's class probabilities (each normalised to sum to 1) on uint8 images; with
    ``tta``, of each run's probabilities on every test-time view (see augment.shifted_views)."""

    views = [images]
    if tta:
        from digitlab.training.augment import shifted_views

        views = shifted_views(images)
    total = None
    for run in runs:
        predictor = Predictor(run)
        for view in views:
            probabilities = predictor.predict_batch(view).probabilities
            total = probabilities if total is None else total + probabilities
    return total / (len(runs) * len(views))


def ensemble_json(run_paths, evaluation: Evaluation, *, tta: bool) -> dict:
    """What ``digitlab ensemble --json`` prints and ensemble.json holds: the members, TTA, the metrics."""
    return {"runs": [str(path) for path in run_paths], "tta": tta, **evaluation.to_json()}


def evaluate_ensemble(run_paths, *, dataset=None, data_dir=None, tta: bool = False, out=None) -> Evaluation:
    """Test-set metrics of the probability-averaging ensemble of ``run_paths`` (all trained on the same data).

    With ``tta`` (test-time augmentation) every run also sees 1-pixel shifts of each image; one run is
    then enough, since its shifted views are the ensemble. With ``out``, :func:`ensemble_json` is written
    there too.
    """

    runs = [open_run(path) for path in run_paths]
    if len(runs) < (1 if tta else 2):
        raise InvalidArgument("an ensemble needs at least two runs (or one with test-time augmentation)")
    fingerprints = {run.config["data"]["fingerprint"] for run in runs}
    if len(fingerprints) > 1:
        raise RunError("the runs were trained on different datasets; an ensemble needs one")
    dataset = dataset or load_dataset(data_dir or runs[0].config["data"].get("data_dir"), verbose=False)
    probabilities = ensemble_probabilities(runs, dataset.x_test, tta=tta)
    evaluation = metrics_from_predictions(dataset.y_test, probabilities, split="test")
    if out is not None:

        write_json(out, ensemble_json(run_paths, evaluation, tta=tta))
    return evaluation
