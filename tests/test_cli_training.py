"""The train / evaluate / compare commands as a user meets them: Ctrl-C and kill -9 on real processes, a closed
pipe, bad input; the rest through the CLI in-process (conftest.run_cli)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CliResult, run_cli

digitlab = run_cli


def start(*arguments: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "digitlab", *arguments], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_epochs(run: Path, epochs: int, process: subprocess.Popen, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if json.loads((run / "config.json").read_text()).get("epochs_done", 0) >= epochs:
                return
        except (OSError, json.JSONDecodeError):
            pass
        if process.poll() is not None:
            pytest.fail(f"training ended before epoch {epochs}: {process.stderr.read()}")
        time.sleep(0.05)
    pytest.fail(f"no epoch {epochs} within {limit} s")


def assert_one_line_error(result: CliResult, code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert text in result.stderr


TRAIN = ("train", "--model", "linear", "--batch-size", "2", "--lr", "0.01", "--quiet")


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_run_keeps_its_checkpoint_and_resumes(learnable_dir, tmp_path, how):
    run = tmp_path / "run"
    process = start(*TRAIN, "--epochs", "8", "--data-dir", str(learnable_dir), "--out", str(run))
    wait_for_epochs(run, 2, process)
    process.send_signal(how)
    _, stderr = process.communicate(timeout=60)
    config = json.loads((run / "config.json").read_text())
    assert (run / "checkpoint.keras").exists()
    assert not (run / "model.keras").exists()
    assert 2 <= config["epochs_done"] < 8
    if how == signal.SIGINT:
        assert process.returncode == 130
        assert "Traceback" not in stderr and f"digitlab train --resume {run}" in stderr
        assert config["status"] == "interrupted"
    else:
        assert config["status"] == "running"  # nobody could say otherwise; still not "complete"

    assert_one_line_error(digitlab("evaluate", str(run)), 1, "not complete; continue it with")

    resumed = digitlab("train", "--resume", str(run), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["status"] == "complete" and config["epochs_done"] == 8
    assert len(json.loads((run / "history.json").read_text())["loss"]) == 8
    assert (run / "model.keras").exists()
    assert_one_line_error(digitlab("train", "--resume", str(run)), 1, "already complete")


def test_evaluate_and_compare(learnable_dir, tmp_path):
    first, second = tmp_path / "runs" / "linear", tmp_path / "runs" / "mlp"
    assert digitlab(*TRAIN, "--epochs", "2", "--data-dir", str(learnable_dir), "--out", str(first)).returncode == 0
    trained = digitlab("train", "--model", "mlp", "--epochs", "2", "--quiet", "--json", "--param", "hidden_units=32",
                       "--data-dir", str(learnable_dir), "--out", str(second))
    assert trained.returncode == 0, trained.stderr
    payload = json.loads(trained.stdout)
    assert payload["config"]["hyper"]["hidden_units"] == 32

    evaluated = digitlab("evaluate", str(first), "--split", "val")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "val set: 60 images" in evaluated.stdout
    assert "first 5 predictions" in evaluated.stdout and "confusion matrix" in evaluated.stdout
    assert (first / "confusion-val.png").exists()

    markdown = tmp_path / "board.md"
    compared = digitlab("compare", str(tmp_path / "runs"), "--markdown", str(markdown))
    assert compared.returncode == 0, compared.stderr
    header = compared.stdout.splitlines()[0].split()
    assert header[:4] == ["run", "model", "params", "epochs"]
    assert "linear" in compared.stdout and "mlp" in compared.stdout and "7,850" in compared.stdout
    assert markdown.read_text().startswith("| run | model | params | epochs | train time | test accuracy | macro F1 |")


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (("train", "--model", "resnet"), 2, "invalid choice: 'resnet'"),
        (("train", "--model", "linear", "--epochs", "-3"), 2, "epochs must be a whole number >= 1, got -3"),
        (("train", "--model", "linear", "--batch-size", "0"), 2, "batch_size must be a whole number >= 1"),
        (("train", "--model", "linear", "--val-split", "1.5"), 2, "must be in (0, 1) or 0"),
        (("train", "--model", "linear", "--folds", "1"), 2, "folds must be a whole number >= 2"),
        (("train", "--model", "linear", "--subset", "5"), 2, "subset must be a whole number >= 20"),
        (("train", "--model", "linear", "--val-split", "0", "--keep-best"), 2, "need a val_split > 0"),
        (("train", "--model", "mlp", "--param", "neurons=5"), 2, "has no hyper-parameter neurons"),
        (("train", "--model", "mlp", "--param", "dropout=1.5"), 2, "dropout must be in [0, 1), got 1.5"),
        (("train", "--model", "mlp", "--ensemble", "1"), 2, "must be at least 2, got 1"),
        (("train", "--resume", "x", "--ensemble", "2"), 2, "--ensemble trains new runs"),
        (("tune", "--model", "mlp"), 2, "--trials N is required"),
        (("tune", "--model", "mlp", "--trials", "2", "--subset", "50"), 2, "must be at least 100, got 50"),
        (("evaluate", "/nonexistent/run", "--split", "dev"), 2, "invalid choice: 'dev'"),
        (("train", "--model", "cnn", "--precision", "float16"), 2, "unknown precision 'float16'; choose one of"),
        (("evaluate", "/nonexistent/run"), 1, "run directory not found"),
        (("compare", "/nonexistent/run"), 1, "run directory not found"),
    ],
)
def test_bad_input_is_one_line_and_a_meaningful_exit_code(learnable_dir, arguments, code, message):
    assert_one_line_error(digitlab(*arguments, "--data-dir", str(learnable_dir))
                          if arguments[0] == "train" else digitlab(*arguments), code, message)


def test_train_ensemble_trains_one_run_per_seed_and_averages_them(learnable_dir, tmp_path):
    out = tmp_path / "ensemble"
    result = digitlab("train", "--model", "linear", "--ensemble", "2", "--seed", "5", "--epochs", "1", "--lr", "0.01",
                      "--data-dir", str(learnable_dir), "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["runs"] == [str(out / "seed5"), str(out / "seed6")]
    assert [json.loads((out / name / "config.json").read_text())["training"]["seed"] for name in ("seed5", "seed6")] \
        == [5, 6]
    assert json.loads((out / "ensemble.json").read_text()) == payload
    again = digitlab("ensemble", str(out / "seed5"), str(out / "seed6"), "--data-dir", str(learnable_dir), "--json")
    assert json.loads(again.stdout)["accuracy"] == payload["accuracy"]


@pytest.mark.parametrize("arguments", [("models",), ("tune", "--model", "mlp", "--show-space")])
def test_a_reader_that_goes_away_is_not_a_traceback(arguments):
    reader, writer = os.pipe()
    os.close(reader)  # like `digitlab models | head -0`: nobody reads
    result = subprocess.run([sys.executable, "-m", "digitlab", *arguments], stdout=writer, stderr=subprocess.PIPE,
                            text=True, timeout=60)
    os.close(writer)
    assert result.returncode == 141 and result.stderr == ""


def test_foreign_and_incompatible_runs_are_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    assert_one_line_error(digitlab("evaluate", str(tmp_path / "photos")), 1, "not a digitlab run directory")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps({"digitlab_run_format": 0, "status": "complete"}))
    assert_one_line_error(digitlab("evaluate", str(tmp_path / "old")), 1, "this digitlab reads format 1")


def test_existing_output_is_not_overwritten(learnable_dir, tmp_path):
    out = tmp_path / "run"
    assert digitlab(*TRAIN, "--epochs", "1", "--data-dir", str(learnable_dir), "--out", str(out)).returncode == 0
    before = (out / "model.keras").read_bytes()
    result = digitlab(*TRAIN, "--epochs", "1", "--data-dir", str(learnable_dir), "--out", str(out))
    assert_one_line_error(result, 1, "already exists; pass --overwrite")
    assert (out / "model.keras").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["learnable", "run"]  # no half-made directory left beside it
