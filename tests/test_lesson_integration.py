"""The lesson on the real MNIST, kept short (subsets, few epochs); full-length numbers live in benchmarks/."""

from __future__ import annotations

import pytest

from conftest import run_cli
from digitlab import load_dataset, train

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mnist():
    return load_dataset()


def test_hidden_layer_beats_the_linear_model_on_real_mnist(mnist, tmp_path):
    linear = train("linear", dataset=mnist, subset=12000, epochs=3, out=tmp_path / "linear", verbose=0)
    mlp = train("mlp", dataset=mnist, subset=12000, epochs=3, out=tmp_path / "mlp", verbose=0)
    linear_accuracy = linear.metrics["test"]["accuracy"]
    mlp_accuracy = mlp.metrics["test"]["accuracy"]
    assert 0.85 < linear_accuracy < 0.93
    assert mlp_accuracy > linear_accuracy + 0.02
    assert mlp.metrics["test"]["count"] == 10000
    assert mlp.metrics["test"]["first_predictions"]["true"] == [7, 2, 1, 0, 4]


def test_quickstart_runs_the_whole_lesson(tmp_path):
    out = tmp_path / "quick"
    result = run_cli("quickstart", "--epochs", "1", "--subset", "2000",
                             "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "training set:  60000 images" in result.stdout
    for model in ("linear", "mlp", "flatten-mlp", "cnn-fast"):
        assert (out / model / "report.md").exists()
        assert f" {model} " in result.stdout
    assert (out / "leaderboard.md").read_text().count("\n") == 6
    assert "Quickstart took" in result.stdout
