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

from digitlab.fileio import atomic_write_bytes


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def digit_grid(
    images: np.ndarray,
    titles: list[str],
    path: str | os.PathLike,
    *,
    columns: int = 10,
    suptitle: str | None = None,
    title_colors: list[str] | None = None,
) -> None:
    """A grid of 28x28 digits, each with its own title (a label, or "true 3 / pred 5 (97%)")."""
    count = len(images)
    if count == 0:
        raise ValueError("nothing to plot: no images given")
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(columns * 1.1, rows * 1.25 + (0.4 if suptitle else 0)))
    for index, (image, title) in enumerate(zip(images, titles, strict=True)):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r", vmin=0, vmax=255 if image.max() > 1 else 1)
        axes.set_title(title, fontsize=8, color=(title_colors[index] if title_colors else "black"))
        axes.set_axis_off()
    if suptitle:
        figure.suptitle(suptitle)
    save_figure(figure, path)


def sample_grid(images: np.ndarray, labels: np.ndarray, path: str | os.PathLike, *, columns: int = 10) -> None:
    """The lesson's first look at the data: sample images with their labels."""
    digit_grid(images, [f"label {int(label)}" for label in labels], path, columns=columns)
