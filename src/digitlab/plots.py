"""Matplotlib figures, drawn headless.

Figures are built with the object-oriented ``matplotlib.figure.Figure`` API rather than pyplot, so
no GUI backend is ever touched and nothing is kept in global state between plots. Each figure is
rendered to memory and written atomically.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np
from matplotlib.figure import Figure

from digitlab.errors import InvalidArgument
from digitlab.fileio import atomic_write_bytes


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def digit_grid(
    images: np.ndarray,
    titles: list[str],
    *,
    columns: int = 10,
    suptitle: str | None = None,
    title_colors: list[str] | None = None,
    overlays: list[np.ndarray | None] | None = None,
) -> Figure:
    """A grid of 28x28 digits, each with its own title (a label, or "3->5 (97%)"); a panel with an overlay
    shows that saliency map over its digit (see :func:`draw_saliency`)."""
    count = len(images)
    if count == 0:
        raise InvalidArgument("nothing to plot: no images given")
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(columns * 1.1, rows * 1.25 + (0.4 if suptitle else 0)))
    for index, (image, title) in enumerate(zip(images, titles, strict=True)):
        axes = figure.add_subplot(rows, columns, index + 1)
        overlay = overlays[index] if overlays else None
        if overlay is None:
            axes.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r", vmin=0, vmax=255 if image.max() > 1 else 1)
        else:
            draw_saliency(axes, image, overlay)
        axes.set_title(title, fontsize=8, color=(title_colors[index] if title_colors else "black"))
        axes.set_axis_off()
    if suptitle:
        figure.suptitle(suptitle)
    return figure


def draw_saliency(axes, image: np.ndarray, saliency: np.ndarray) -> None:
    """The digit in light grey under its saliency map: red where the ink is evidence for the digit, blue
    against it; the scale is symmetric about zero and set by the map's own largest value."""
    axes.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r", vmin=0, vmax=255 * 2.5)
    limit = float(np.abs(saliency).max()) or 1.0
    axes.imshow(np.asarray(saliency).reshape(28, 28), cmap="bwr", vmin=-limit, vmax=limit, alpha=0.65)


def sample_grid(images: np.ndarray, labels: np.ndarray, path: str | os.PathLike, *, columns: int = 10) -> None:
    """The lesson's first look at the data: sample images with their labels."""
    save_figure(digit_grid(images, [f"label {int(label)}" for label in labels], columns=columns), path)


def confusion_heatmap(matrix: list[list[int]], path: str | os.PathLike, *, title: str = "Confusion matrix") -> None:
    save_figure(confusion_figure(matrix, title=title), path)


def confusion_figure(matrix: list[list[int]], *, title: str = "Confusion matrix") -> Figure:
    """Counts on a log-ish colour scale so that the few mistakes are visible beside the big diagonal."""
    from matplotlib.colors import PowerNorm

    counts = np.asarray(matrix)
    figure = Figure(figsize=(6.4, 5.6))
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues", norm=PowerNorm(gamma=0.35, vmin=0, vmax=max(1, counts.max())))
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    threshold = counts.max() * 0.35
    for true in range(counts.shape[0]):
        for predicted in range(counts.shape[1]):
            value = counts[true, predicted]
            if value:
                axes.text(predicted, true, str(value), ha="center", va="center", fontsize=7,
                          color="white" if value > threshold else "black")
    axes.set_xticks(range(counts.shape[1]))
    axes.set_yticks(range(counts.shape[0]))
    axes.set_xlabel("predicted digit")
    axes.set_ylabel("true digit")
    axes.set_title(title)
    return figure


def training_curves(history: dict[str, list[float]], path: str | os.PathLike, *, title: str = "") -> None:
    save_figure(curves_figure(history, title=title), path)


def curves_figure(history: dict[str, list[float]], *, title: str = "") -> Figure:
    """Loss and accuracy per epoch, training beside validation, to spot under- and over-fitting."""
    figure = Figure(figsize=(10, 3.8))
    for index, metric in enumerate(("loss", "accuracy")):
        axes = figure.add_subplot(1, 2, index + 1)
        for key, label, style in ((metric, "training", "-o"), (f"val_{metric}", "validation", "-s")):
            values = history.get(key) or []
            if values:
                axes.plot(range(1, len(values) + 1), values, style, markersize=3, label=label)
        axes.set_xlabel("epoch")
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
        axes.legend()
    if title:
        figure.suptitle(title)
    return figure


def misclassified_gallery(images: np.ndarray, examples: list[dict], path: str | os.PathLike,
                          saliency: np.ndarray | None = None) -> None:
    save_figure(misclassified_figure(images, examples, saliency), path)


def misclassified_figure(images: np.ndarray, examples: list[dict], saliency: np.ndarray | None = None) -> Figure:
    """Misclassified digits titled 'true -> predicted (confidence)', most confident mistakes first; with
    ``saliency`` (one 28x28 map per example), each mistake has beside it the evidence for its wrong answer."""
    if not examples:
        figure = Figure(figsize=(4, 1))
        figure.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        return figure
    chosen = images[[e["index"] for e in examples]]
    titles = [f"{e['true']}\u2192{e['predicted']} ({e['confidence']:.0%})" for e in examples]
    suptitle = "Misclassified (true\u2192predicted, confidence), most confident first"
    if saliency is None:
        return digit_grid(chosen, titles, columns=10, suptitle=suptitle, title_colors=["crimson"] * len(examples))
    panels = [image for image in chosen for _ in range(2)]
    overlays = [map_ for map_ in saliency for map_ in (None, map_)]
    titles = [text for title, e in zip(titles, examples, strict=True) for text in (title, f"why {e['predicted']}?")]
    colors = ["crimson", "black"] * len(examples)
    return digit_grid(np.stack(panels), titles, columns=10, title_colors=colors, overlays=overlays,
                      suptitle=suptitle + "; beside each, the evidence for its answer (red: for, blue: against)")


def explanation_figure(explanation) -> Figure:
    """One reading explained: the 28x28 the model saw, the evidence for its digit, and for the runner-up."""
    figure = Figure(figsize=(7.2, 2.8))
    panels = ((None, "what the model saw"),
              (explanation.saliency, f"evidence for {explanation.digit} ({explanation.confidence:.0%})"),
              (explanation.saliency_runner_up,
               f"evidence for {explanation.runner_up} ({explanation.runner_up_confidence:.0%})"))
    for index, (saliency, title) in enumerate(panels):
        axes = figure.add_subplot(1, 3, index + 1)
        if saliency is None:
            axes.imshow(explanation.input, cmap="gray_r", vmin=0, vmax=255)
        else:
            draw_saliency(axes, explanation.input, saliency)
        axes.set_title(title, fontsize=9)
        axes.set_axis_off()
    figure.suptitle(f"{explanation.method}: red is evidence for the digit, blue against it", fontsize=9)
    return figure
