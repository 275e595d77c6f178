"""Training on small learnable synthetic data: run directories, seeds, splits, folds, resume, overwrite."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitlab.models import get_spec
from digitlab.pipeline import resume, train
from digitlab.runs import RunError, open_run
from digitlab.training.fit import learning_rate_for
from digitlab.training.settings import (
    TrainingSettings,
    bfloat16_is_fast,
    setting_rules,
    settings_for,
    train_command,
)
from digitlab.training.splits import training_indices


def test_train_writes_a_complete_run(learnable_dataset, tmp_path):
    run = train("linear", dataset=learnable_dataset, out=tmp_path / "run", epochs=3, batch_size=16,
                learning_rate=0.01, verbose=0)
    for name in ("config.json", "model.keras", "checkpoint.keras", "history.json", "metrics.json",
                 "report.md", "curves.png", "confusion.png", "misclassified.png"):
        assert (run.path / name).exists(), name
    config = run.config
    assert config["status"] == "complete" and config["epochs_done"] == 3
    assert config["data"]["fingerprint"] == learnable_dataset.fingerprint
    assert config["versions"]["keras"].startswith("3.")
    assert len(run.history["loss"]) == 3 and len(run.history["val_loss"]) == 3
    assert len(run.history["epoch_seconds"]) == 3 and all(seconds > 0 for seconds in run.history["epoch_seconds"])
    assert sum(run.history["epoch_seconds"]) == pytest.approx(config["train_seconds"], abs=0.01)
    test = run.metrics["test"]
    assert test["count"] == 200 and test["accuracy"] > 0.9  # the blocks are easy to tell apart
    report = (run.path / "report.md").read_text()
    assert "![confusion matrix](confusion.png)" in report and "accuracy" in report
    reloaded = open_run(run.path).load_model()
    assert reloaded.count_params() == 7850


def test_same_seed_same_metrics(learnable_dataset, tmp_path):
    def accuracy_and_loss(out, seed):
        run = train("mlp", dataset=learnable_dataset, out=tmp_path / out, epochs=2, seed=seed, verbose=0,
                    hyper={"hidden_units": 16, "dropout": 0.2})
        return run.metrics["test"]["loss"], run.history["loss"]

    first, second = accuracy_and_loss("a", 7), accuracy_and_loss("b", 7)
    assert first == second
    assert accuracy_and_loss("c", 8) != first


def test_validation_split_is_stratified_held_out_from_training(learnable_dataset):
    fit, held_out = training_indices(learnable_dataset.y_train, subset=None, val_split=0.2, seed=3)
    assert len(held_out) == 120 and len(fit) == 480
    assert not set(fit) & set(held_out)
    assert np.bincount(learnable_dataset.y_train[held_out]).tolist() == [12] * 10


def test_existing_run_needs_overwrite(learnable_dataset, tmp_path):
    train("linear", dataset=learnable_dataset, out=tmp_path / "run", epochs=1, verbose=0)
    with pytest.raises(RunError, match="already exists; pass overwrite=True"):
        train("linear", dataset=learnable_dataset, out=tmp_path / "run", epochs=1, verbose=0)
    run = train("mlp", dataset=learnable_dataset, out=tmp_path / "run", epochs=1, verbose=0, overwrite=True)
    assert run.config["model"] == "mlp"
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.tex").write_text("do not delete")
    with pytest.raises(RunError, match="is not a digitlab run; refusing"):
        train("linear", dataset=learnable_dataset, out=tmp_path / "precious", epochs=1, verbose=0, overwrite=True)
    assert (tmp_path / "precious" / "thesis.tex").exists()


def test_k_fold_reports_every_fold(learnable_dataset, tmp_path):
    run = train("linear", dataset=learnable_dataset, out=tmp_path / "cv", folds=3, epochs=2, verbose=0,
                learning_rate=0.01)
    cross_validation = run.metrics["cross_validation"]
    assert cross_validation["folds"] == 3 and len(cross_validation["fold_accuracies"]) == 3
    assert cross_validation["mean"] == pytest.approx(np.mean(cross_validation["fold_accuracies"]))
    assert run.config["training"]["val_split"] == 0.0  # the final model trains on all the data
    assert "Cross-validation" in (run.path / "report.md").read_text()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": -1}, "epochs must be a whole number >= 1"),
        ({"batch_size": 0}, "batch_size must be a whole number >= 1"),
        ({"val_split": 1.5}, r"val_split must be in \(0, 1\)"),
        ({"folds": 1}, "folds must be a whole number >= 2"),
        ({"learning_rate": 0}, "learning_rate must be in"),
        ({"early_stopping": 2, "val_split": 0}, "need a val_split > 0"),
        ({"momentum": 0.9}, "unknown training setting momentum"),
    ],
)
def test_bad_settings_are_explained(settings, message):
    from digitlab.models import get_spec

    with pytest.raises(ValueError, match=message):
        settings_for(get_spec("linear").training_defaults, settings)


def test_open_run_refuses_foreign_and_future_directories(tmp_path):
    with pytest.raises(RunError, match="run directory not found"):
        open_run(tmp_path / "missing")
    (tmp_path / "foreign").mkdir()
    with pytest.raises(RunError, match="not a digitlab run directory"):
        open_run(tmp_path / "foreign")
    (tmp_path / "future").mkdir()
    (tmp_path / "future" / "config.json").write_text(json.dumps({"digitlab_run_format": 99, "status": "complete"}))
    with pytest.raises(RunError, match="run format 99 .* this digitlab reads format 1"):
        open_run(tmp_path / "future")


def test_cosine_schedule_warms_up_then_decays_to_zero(learnable_dataset, tmp_path):
    settings = TrainingSettings(epochs=4, learning_rate=0.01, schedule="cosine").validated()
    schedule = learning_rate_for(settings, steps_per_epoch=10)
    total, warmup = 4 * 10, 4  # warm-up is a tenth of the run
    rates = [float(schedule(step)) for step in (0, warmup // 2, warmup, total // 2, total)]
    assert rates[0] == 0 and rates[1] == pytest.approx(0.005) and rates[2] == pytest.approx(0.01)
    assert 0 < rates[3] < 0.01 and rates[4] == pytest.approx(0, abs=1e-9)
    assert learning_rate_for(TrainingSettings(learning_rate=0.01).validated(), steps_per_epoch=10) == 0.01

    # In training the optimizer follows the schedule step by step: after the last step the rate is ~0.
    run = train("linear", dataset=learnable_dataset, out=tmp_path / "run", epochs=2, batch_size=60,
                learning_rate=0.01, schedule="cosine", verbose=0)
    trained = run.load_model("checkpoint.keras")
    assert int(trained.optimizer.iterations) == 2 * 9  # 540 fit images / 60
    assert float(trained.optimizer.learning_rate) == pytest.approx(0, abs=1e-6)


def test_bfloat16_trains_in_mixed_precision_and_saves_float32(learnable_dataset, tmp_path):
    run = train("cnn-fast", dataset=learnable_dataset, out=tmp_path / "run", epochs=3, batch_size=32,
                learning_rate=0.005, precision="bfloat16", hyper={"filters": 8}, verbose=0)
    assert run.config["training"]["precision"] == "bfloat16"
    assert run.metrics["test"]["accuracy"] > 0.9

    checkpoint = run.load_model("checkpoint.keras")  # what --resume continues from: still mixed precision
    convolutions = [layer for layer in checkpoint.layers if layer.__class__.__name__ == "Conv2D"]
    assert {layer.compute_dtype for layer in convolutions} == {"bfloat16"}
    assert {layer.variable_dtype for layer in convolutions} == {"float32"}
    assert checkpoint.layers[-1].compute_dtype == "float32"  # the softmax stays float32

    saved = run.load_model()  # what evaluation, export and serving use: float32, the same weights
    assert {layer.compute_dtype for layer in saved.layers} == {"float32"}
    for trained, kept in zip(checkpoint.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(trained, kept)
    images = get_spec("cnn-fast").prepare(learnable_dataset.x_test)
    mixed, full = checkpoint.predict(images, verbose=0), saved.predict(images, verbose=0)
    assert np.abs(mixed - full).max() < 0.05  # bfloat16 keeps 8 bits of mantissa
    assert np.mean(mixed.argmax(1) == full.argmax(1)) > 0.97

    # A resumed run continues from the mixed-precision checkpoint and again saves a float32 model.
    run.update_config(status="interrupted", epochs_done=2)
    resumed = resume(run.path, dataset=learnable_dataset, verbose=0)
    assert resumed.status == "complete" and resumed.config["epochs_done"] == 3
    assert {layer.compute_dtype for layer in resumed.load_model().layers} == {"float32"}


def test_bfloat16_is_fast_where_it_was_measured_faster():
    """AMX tiles and an AMD EPYC's AVX-512 BF16 train bfloat16 faster than float32; an Intel Xeon's AVX-512
    BF16 without AMX (or with oneDNN capped below AMX) does not, nor does a CPU without bfloat16."""
    intel, amd = "vendor_id\t: GenuineIntel\n", "vendor_id\t: AuthenticAMD\n"
    xeon = intel + "flags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
    xeon_without_amx = intel + "flags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_fp16\n"
    epyc = amd + "flags\t\t: fpu sse avx2 avx512f avx512_bf16\n"
    old = amd + "flags\t\t: fpu sse avx2 avx512f\nbugs\t\t: amx_bf16_in_a_bug_name avx512_bf16\n"
    assert bfloat16_is_fast(xeon, "") and bfloat16_is_fast(epyc, "") and bfloat16_is_fast(xeon, "avx10_1_512_amx")
    assert not bfloat16_is_fast(xeon_without_amx, "") and not bfloat16_is_fast(xeon, "AVX512_CORE_BF16")
    assert bfloat16_is_fast(epyc, "AVX512_CORE_BF16")
    assert not bfloat16_is_fast(old, "") and not bfloat16_is_fast("", "")


def test_cpuinfo_gives_the_first_processors_model_maker_and_flags():
    from digitlab.cpu import CPU, parse_cpuinfo

    text = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14 96-Core Processor\n"
            "flags\t\t: fpu avx512f avx512_bf16\nbugs\t\t: sysret_ss_attrs\n\nprocessor\t: 1\n"
            "model name\t: another\nflags\t\t: fpu\n")
    assert parse_cpuinfo(text) == CPU("AMD EPYC 9R14 96-Core Processor", "AuthenticAMD",
                                      frozenset({"fpu", "avx512f", "avx512_bf16"}))
    assert parse_cpuinfo("") == CPU("unknown", "unknown", frozenset())


@pytest.mark.parametrize(("fast", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_precision_is_resolved_in_a_copy(monkeypatch, fast, expected):
    import digitlab.training.settings as settings_module

    monkeypatch.setattr(settings_module, "bfloat16_is_fast", lambda: fast)
    given = TrainingSettings(precision="auto", folds=3)
    resolved = given.resolved()
    assert (resolved.precision, resolved.val_split) == (expected, 0.0)
    assert (given.precision, given.val_split) == ("auto", 0.1)  # the caller's settings are left as they were
    assert settings_for(get_spec("cnn-fast").training_defaults, {}).precision == expected
    assert settings_for(get_spec("cnn").training_defaults, {}).precision == "float32"
    with pytest.raises(ValueError, match="unknown precision 'float16'; choose one of: float32, bfloat16, auto"):
        settings_for(get_spec("cnn").training_defaults, {"precision": "float16"})


def test_train_command_reproduces_the_settings(learnable_dataset, tmp_path):
    import shlex

    from digitlab.cli import build_parser

    run = train("cnn", dataset=learnable_dataset, out=tmp_path / "run", epochs=1, batch_size=64, augment=0.4,
                learning_rate=0.002, keep_best=True, seed=3, hyper={"filters": 4, "dense_units": 8}, verbose=0)
    command = train_command(run.config)
    assert command.startswith("digitlab train --model cnn --param filters=4 --param dense_units=8")
    assert "--subset" not in command and "--optimizer" not in command  # defaults are left out
    arguments = build_parser().parse_args(shlex.split(command)[1:])
    assert dict(arguments.param) == {"filters": 4, "dense_units": 8}
    parsed = {name: getattr(arguments, name) for name in setting_rules()}
    assert settings_for(get_spec("cnn").training_defaults, parsed) == TrainingSettings(**run.config["training"])
    assert (parsed["epochs"], parsed["batch_size"], parsed["learning_rate"], parsed["augment"], parsed["keep_best"],
            parsed["seed"]) == (1, 64, 0.002, 0.4, True, 3)
    assert f"Reproduce: `{command}`" in (run.path / "report.md").read_text()


def test_train_command_of_a_cross_validated_run_parses(learnable_dataset, tmp_path):
    """With folds the run records val_split 0; the command must not repeat it beside --folds (argparse refuses)."""
    import shlex

    from digitlab.cli import build_parser

    run = train("linear", dataset=learnable_dataset, out=tmp_path / "run", epochs=1, folds=2, verbose=0)
    assert run.config["training"]["val_split"] == 0
    command = train_command(run.config)
    assert "--folds 2" in command and "--val-split" not in command
    arguments = build_parser().parse_args(shlex.split(command)[1:])
    parsed = {name: getattr(arguments, name) for name in setting_rules()}
    assert settings_for(get_spec("linear").training_defaults, parsed) == TrainingSettings(**run.config["training"])
