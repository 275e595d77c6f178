"""``digitlab tune``: an Optuna study of a model's hyper-parameters."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from digitlab import models as registry  # read when the parser is built
from digitlab import tuning
from digitlab.cli.common import EXIT_OK, keras_verbosity, new_command, positive_float, whole
from digitlab.tables import text_table
from digitlab.tuning import MIN_TUNING_SUBSET


def add_tune(commands) -> None:
    tune = new_command(commands, "tune", command_tune, json="print the study summary as JSON", data_dir=True,
                       check=_check_tune)
    tune.add_argument("--model", choices=tuple(registry.MODELS), required=True)
    tune.add_argument("--trials", type=whole(1), help="finished trials the study should hold (required)")
    tune.add_argument("--timeout", type=positive_float, metavar="SECONDS", help="stop starting trials after this")
    tune.add_argument("--study", metavar="NAME", help="study name (default: MODEL-study)")
    tune.add_argument("--storage", metavar="URL", help="Optuna RDB URL, e.g. postgresql://user:pw@host/db")
    tune.add_argument("--workers", type=whole(1), default=1, help="local worker processes (default: 1)")
    tune.add_argument("--subset", type=whole(MIN_TUNING_SUBSET), metavar="M",
                      help="tune on M training images (faster trials)")
    tune.add_argument("--epochs", type=whole(1), default=3, help="epochs per trial (default: 3)")
    tune.add_argument("--final-epochs", type=whole(1), help="epochs to retrain the best (default: the model's)")
    tune.add_argument("--no-retrain", action="store_true", help="do not retrain the best trial")
    tune.add_argument("--seed", type=whole(0), default=0, help="sampler and training seed (default: 0)")
    tune.add_argument("--studies-dir", default="studies", help="where study directories go (default: %(default)s)")
    tune.add_argument("--show-space", action="store_true", help="print the model's search space and exit")


def _check_tune(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> None:
    if arguments.trials is None and not arguments.show_space:
        parser.error("--trials N is required (or --show-space)")


def command_tune(arguments: argparse.Namespace) -> int:
    """tune hyper-parameters with Optuna (one machine or many sharing a storage)

    Search learning rate, batch size, optimizer, layers, units, activation and dropout (filters and kernel size
    for the cnn) with Optuna's TPE sampler and median pruning, scoring each trial on a validation split of the
    training set. The study is kept in --storage (default: SQLite in studies/STUDY/study.db): re-running the
    same command continues it, and the same command on several machines with one postgresql:// URL shares it.
    Then the best trial is retrained on the full training set and evaluated once on the test set.
    """
    if arguments.show_space:
        print(tuning.space_text(arguments.model))
        return EXIT_OK

    def report(trial) -> None:
        value = "-" if trial.value is None else f"{trial.value:.4f}"
        print(f"trial {trial.number:>3} {trial.state.name:8} value {value}  {trial.params}", flush=True)

    quiet = arguments.json
    summary = tuning.tune(arguments.model, arguments.trials, study_name=arguments.study, storage=arguments.storage,
                          workers=arguments.workers, timeout=arguments.timeout, epochs=arguments.epochs,
                          subset=arguments.subset, seed=arguments.seed, data_dir=arguments.data_dir,
                          root=arguments.studies_dir, retrain=not arguments.no_retrain,
                          final_epochs=arguments.final_epochs, report=None if quiet else report,
                          say=None if quiet else lambda line: print(f"\n{line}", flush=True),
                          verbose=0 if quiet else keras_verbosity(False))
    if arguments.json:
        print(json.dumps(summary, indent=2, default=str))
        return EXIT_OK
    rows = [[str(t["number"]), t["state"], "-" if t["value"] is None else f"{t['value']:.4f}",
             "-" if t["duration_seconds"] is None else f"{t['duration_seconds']:.1f} s",
             ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["params"].items())]
            for t in summary["trials"]]
    print(f"\nStudy {summary['study']} ({summary['storage']}), {summary['seconds']:.0f} s:")
    print(text_table(["trial", "state", "val acc", "duration", "params"], rows))
    counts = summary["counts"]
    print(f"{counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed")
    if summary["best"]:
        print(f"Best: trial {summary['best']['number']}, validation accuracy {summary['best']['value']:.4f}, "
              f"params {summary['best']['params']}")
    print(f"Wrote {', '.join(Path(path).name for path in summary['written'])} to {summary['directory']}")
    final = summary.get("final_run")
    if final:
        print(f"Best trial retrained on all 60,000 training images -> {final['path']}: test accuracy "
              f"{final['test_accuracy']:.2%}, macro F1 {final['macro_f1']:.4f}")
    return EXIT_OK
