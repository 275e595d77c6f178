"""Tuning with Optuna: spaces, resumable SQLite studies, a killed worker, bad input, and a real PostgreSQL
shared by two worker processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from digitlab import tuning
from digitlab.models import MODELS

digitlab = run_cli  # in-process; the killed worker and the two PostgreSQL workers are real processes


def test_every_model_has_a_search_space():
    for model in MODELS:
        names = [parameter.name for parameter in tuning.search_space(model)]
        assert {"learning_rate", "batch_size", "optimizer"} <= set(names)
    dense = {parameter.name for parameter in tuning.search_space("mlp")}
    assert {"hidden_layers", "hidden_units", "activation", "dropout"} <= dense
    assert {"filters", "kernel_size"} <= {parameter.name for parameter in tuning.search_space("cnn")}
    assert "learning_rate    training  float in [0.0001, 0.01], log scale" in tuning.space_text("mlp")


def test_params_split_into_model_and_training_settings():
    hyper, training = tuning.split_params("mlp", {"learning_rate": 0.01, "hidden_units": 64})
    assert hyper == {"hidden_units": 64} and training == {"learning_rate": 0.01}
    with pytest.raises(tuning.TuningError, match="not in the mlp search space"):
        tuning.split_params("mlp", {"filters": 3})


def test_passwords_are_masked():
    assert tuning.safe_url("postgresql://ann:hunter2@db.example:5432/optuna") == \
        "postgresql://ann:***@db.example:5432/optuna"


def test_sqlite_study_resumes_and_retrains_the_best(learnable_dir, tmp_path):
    options = {"epochs": 1, "data_dir": str(learnable_dir), "root": tmp_path}
    first = tuning.tune("linear", 3, **options)
    assert first["counts"]["COMPLETE"] + first["counts"]["PRUNED"] == 3
    second = tuning.tune("linear", 5, **options)  # the same command, more trials: continues the study
    numbers = [trial["number"] for trial in second["trials"]]
    assert numbers == list(range(len(numbers))) and len(numbers) == 5
    assert second["trials"][:3] == first["trials"]
    assert (tmp_path / "linear-study" / "study.db").exists()

    storage = tuning.default_storage("linear-study", tmp_path)
    study = tuning.load_study("linear-study", storage, "linear", create=False)
    assert second["best"]["number"] == study.best_trial.number and second["best"]["value"] == study.best_value
    written = tuning.write_study_report(second, "linear-study", storage, tmp_path / "linear-study")
    assert {path.name for path in written} >= {"trials.csv", "best.json", "history.png", "parallel.png"}
    run = tuning.retrain_best(second, out=tmp_path / "best", epochs=1, data_dir=str(learnable_dir))
    assert run.config["training"]["val_split"] == 0.0 and run.metrics["test"]["count"] == 200
    assert run.config["training"]["learning_rate"] == pytest.approx(second["best"]["params"]["learning_rate"])


def _trial_states(database: Path) -> list[str]:
    """The study's trial states, without the stale-trial sweep or attribute writes of load_study, so the
    test does not change the study of the worker it watches."""
    import optuna

    if not database.exists():
        return []
    try:
        study = optuna.load_study(study_name="mlp-study", storage=tuning.open_storage(f"sqlite:///{database}"))
    except KeyError:  # the worker has not created the study yet
        return []
    return [trial.state.name for trial in study.get_trials(deepcopy=False)]


def _open_when(url: str, start: float, results) -> None:
    while time.time() < start:  # all openers go at once
        pass
    try:
        tuning.open_storage(url)
        results.put("ok")
    except tuning.TuningError as error:
        results.put(str(error))


def test_workers_opening_a_new_study_together_all_succeed(tmp_path):
    """They race to create the tables and stamp the schema version; the losers retry instead of failing."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for attempt in range(4):  # before the fix, about one round in four lost a worker
        url = f"sqlite:///{tmp_path / f'study{attempt}.db'}"
        results, start = context.Queue(), time.time() + 1.0
        openers = [context.Process(target=_open_when, args=(url, start, results)) for _ in range(6)]
        for opener in openers:
            opener.start()
        outcomes = [results.get(timeout=60) for _ in openers]
        for opener in openers:
            opener.join(timeout=30)
        assert outcomes == ["ok"] * len(openers)


def test_killed_worker_loses_only_its_running_trial(learnable_dir, tmp_path):
    with (tmp_path / "worker.log").open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "digitlab", "tune", "--model", "mlp", "--trials", "500",
                                    "--epochs", "30", "--data-dir", str(learnable_dir), "--studies-dir",
                                    str(tmp_path), "--no-retrain"], stdout=log, stderr=subprocess.STDOUT)
    database = tmp_path / "mlp-study" / "study.db"
    storage = f"sqlite:///{database}"
    deadline, states = time.monotonic() + 180, []
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        states = _trial_states(database)
        if states.count("COMPLETE") + states.count("PRUNED") >= 1 and states[-1] == "RUNNING":
            break
    else:
        process.kill()
        process.wait(timeout=30)
        output = (tmp_path / "worker.log").read_text()[-3000:]
        pytest.fail(f"no trial finished while the worker ran (exit {process.returncode}); trials {states}; "
                    f"worker output:\n{output}")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    time.sleep(3)
    study = tuning.load_study("mlp-study", storage, "mlp", create=False, grace_seconds=2)
    states = [trial.state.name for trial in study.get_trials(deepcopy=False)]
    assert states.count("FAIL") == 1 and "RUNNING" not in states  # only the running trial was lost
    finished = states.count("COMPLETE") + states.count("PRUNED")
    summary = tuning.tune("mlp", finished + 1, epochs=1, data_dir=str(learnable_dir), root=tmp_path)
    assert summary["counts"]["COMPLETE"] + summary["counts"]["PRUNED"] == finished + 1  # the study still works


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (("tune", "--model", "mlp", "--trials", "0"), 2, "must be at least 1"),
        (("tune", "--model", "resnet", "--trials", "3"), 2, "invalid choice"),
        (("tune", "--model", "mlp"), 2, "--trials N is required"),
        (("tune", "--model", "mlp", "--trials", "2", "--storage", "postgresql://ann:hunter2@127.0.0.1:1/optuna"),
         1, "cannot use storage postgresql://ann:***@127.0.0.1:1/optuna"),
        (("tune", "--model", "mlp", "--trials", "2", "--storage", "nonsense://x"), 1, "cannot use storage"),
    ],
)
def test_bad_input(arguments, code, message):
    result = digitlab(*arguments)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr and "hunter2" not in result.stderr


def test_study_of_another_model_is_refused(learnable_dir, tmp_path):
    tuning.tune("linear", 1, epochs=1, data_dir=str(learnable_dir), root=tmp_path, study_name="shared")
    result = digitlab("tune", "--model", "mlp", "--trials", "1", "--study", "shared", "--studies-dir", str(tmp_path))
    assert result.returncode == 1
    assert "study 'shared' was created for model 'linear', not 'mlp'" in result.stderr


# ------------------------------------------------------------------------------------------------
# Many workers, one real PostgreSQL


@pytest.fixture(scope="module")
def postgres_url(postgres_server):
    return postgres_server("optuna")


@pytest.mark.integration
def test_two_workers_share_one_postgres_study(postgres_url, tmp_path):
    command = [sys.executable, "-m", "digitlab", "tune", "--model", "mlp", "--trials", "8", "--subset", "2000",
               "--epochs", "1", "--storage", postgres_url, "--study", "shared-mlp", "--no-retrain", "--json",
               "--studies-dir", str(tmp_path)]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
    summaries = [json.loads(stdout) for stdout, _ in outputs]
    by_worker = [set(summary["trials_by_worker"][0]) for summary in summaries]
    assert by_worker[0] and by_worker[1], "both workers ran trials"
    assert not by_worker[0] & by_worker[1], "no trial was run twice"

    study = tuning.load_study("shared-mlp", postgres_url, "mlp", create=False)
    trials = study.get_trials(deepcopy=False)
    numbers = [trial.number for trial in trials]
    assert numbers == list(range(len(numbers))), "every trial recorded exactly once"
    assert set(numbers) == by_worker[0] | by_worker[1]
    assert len(numbers) >= 8
    assert {trial.state.name for trial in trials} <= {"COMPLETE", "PRUNED"}, "nothing failed or hung"
    final = tuning.study_summary("shared-mlp", postgres_url, "mlp")
    assert final["best"]["number"] == study.best_trial.number and final["best"]["value"] == study.best_value
    assert "unused-password" not in final["storage"]
