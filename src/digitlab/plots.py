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
from matplotlib.patches import Rectangle

from digitlab.errors import InvalidArgument
from digitlab.fileio import atomic_write_bytes


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


PANEL = 28  # pixels of one digit in a grid
GAP = 4  # between panels across, in the digit's pixels
TITLE_ROOM = 11  # above each panel, for its title


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
    shows that saliency map over its digit (see :func:`saliency_rgb`).

    The panels are painted into one picture shown by one Axes, with the titles as text above them: a subplot
    per panel costs matplotlib tens of milliseconds each, and a run's gallery of 40 panels is drawn every time
    a run is evaluated."""
    count = len(images)
    if count == 0:
        raise InvalidArgument("nothing to plot: no images given")
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    pitch_x, pitch_y = PANEL + GAP, PANEL + TITLE_ROOM
    canvas = np.ones((rows * pitch_y, columns * pitch_x - GAP, 3))
    figure = Figure(figsize=(columns * 1.1, rows * 1.25 + (0.4 if suptitle else 0)))
    axes = figure.add_axes((0, 0, 1, 0.92 if suptitle else 1))
    for index, (image, title) in enumerate(zip(images, titles, strict=True)):
        row, column = divmod(index, columns)
        top, left = row * pitch_y + TITLE_ROOM, column * pitch_x
        overlay = overlays[index] if overlays else None
        canvas[top:top + PANEL, left:left + PANEL] = (gray_rgb(image) if overlay is None
                                                      else saliency_rgb(image, overlay))
        axes.text(left + PANEL / 2, top - 1.5, title, ha="center", va="bottom", fontsize=8,
                  color=title_colors[index] if title_colors else "black")
    axes.imshow(canvas, interpolation="nearest")
    axes.set_axis_off()
    if suptitle:
        figure.suptitle(suptitle)
    return figure


def gray_rgb(image: np.ndarray, ink_max: float | None = None) -> np.ndarray:
    """A digit as RGB in [0, 1]: ink dark on white (matplotlib's gray_r), full scale at ``ink_max``
    (255 for uint8 pixels, 1 for [0, 1] ones unless given)."""
    pixels = np.asarray(image, dtype=float).reshape(28, 28)
    scale = ink_max or (255.0 if pixels.max() > 1 else 1.0)
    level = 1.0 - np.clip(pixels / scale, 0.0, 1.0)
    return np.repeat(level[..., None], 3, axis=2)


def saliency_rgb(image: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """The digit in light grey under its saliency map: red where the ink is evidence for the digit, blue
    against it; the scale is symmetric about zero and set by the map's own largest value."""
    from matplotlib import colormaps

    limit = float(np.abs(saliency).max()) or 1.0
    colours = colormaps["bwr"]((np.asarray(saliency, dtype=float).reshape(28, 28) / limit + 1.0) / 2.0)[..., :3]
    return 0.65 * colours + 0.35 * gray_rgb(image, ink_max=255 * 2.5)


def draw_saliency(axes, image: np.ndarray, saliency: np.ndarray) -> None:
    """:func:`saliency_rgb` drawn into ``axes``."""
    axes.imshow(saliency_rgb(image, saliency), interpolation="nearest")


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


def reading_figure(photo: np.ndarray, boxes: list[tuple[int, int, int, int]], labels: list[str],
                   title: str) -> Figure:
    """A photo with a box over each digit read and the digit above it: what a reading found, at a glance."""
    height, width = photo.shape[:2]
    figure = Figure(figsize=(6, 6 * height / width))
    axes = figure.add_subplot()
    axes.imshow(photo, cmap="gray" if photo.ndim == 2 else None)
    for (left, top, box_width, box_height), label in zip(boxes, labels, strict=True):
        axes.add_patch(Rectangle((left, top), box_width, box_height, fill=False, edgecolor="#2f6fde", linewidth=2))
        axes.text(left + box_width / 2, top - 4, label, color="#2f6fde", ha="center", va="bottom", fontsize=14,
                  fontweight="bold")
    axes.set_title(title, fontsize=11)
    axes.axis("off")
    return figure
