"""The walkthrough notebook, executed top to bottom on the real MNIST with the lesson's settings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.integration

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def load_builder():
    spec = importlib.util.spec_from_file_location("walkthrough", NOTEBOOKS / "walkthrough.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def text_outputs(notebook) -> str:
    return "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.outputs if output.output_type == "stream")


def test_committed_notebook_is_the_built_one_with_outputs():
    builder = load_builder()
    committed = nbformat.read(NOTEBOOKS / "walkthrough.ipynb", as_version=4)
    assert [cell.source for cell in committed.cells] == [source for _, source in builder.CELLS]
    code_cells = [cell for cell in committed.cells if cell.cell_type == "code"]
    assert all(cell.outputs for cell in code_cells if "import os" not in cell.source[:20])
    assert "LESSON_EPOCHS = 20" in text_outputs(committed)  # outputs come from the lesson's settings


def test_notebook_executes_without_errors(tmp_path):
    builder = load_builder()
    notebook = builder.build()
    builder.execute(notebook, tmp_path)  # raises CellExecutionError on any failing cell
    text = text_outputs(notebook)
    assert "len(X_train) = 60000   len(X_test) = 10000" in text
    assert "shape of one image: (28, 28)" in text
    assert "they agree: True" in text
    assert "Did the accuracy increase? yes" in text
    assert "within run-to-run noise (under 0.5 points): True" in text
    images = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
              if "image/png" in output.get("data", {})]
    assert len(images) >= 6  # the sample digit, two confusion matrices, the gallery, two explained mistakes
    assert text.count(" read as ") == 2 and "runner-up" in text  # "why did it say that?" on two mistakes
    assert (tmp_path / "runs" / "walkthrough-cnn" / "report.md").exists()
