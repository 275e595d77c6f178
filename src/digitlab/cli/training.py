"""``digitlab models``, ``train`` and ``quickstart``: the architectures, training a run, the whole lesson."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from digitlab import models as registry  # read when a parser is built: a new model module is found by then
from digitlab import pipeline
from digitlab.cli.common import EXIT_ERROR, EXIT_OK, keras_verbosity, new_command, positive_float, rule_type, whole
from digitlab.cli.data import print_facts
from digitlab.cli.evaluation import print_evaluation
from digitlab.data import describe
from digitlab.evaluation import Evaluation, ensemble_json, summary_text
from digitlab.pipeline import EXTRA_WEIGHT, LEADERBOARD_FILE, QUICKSTART_MODELS, quickstart
from digitlab.runs import leaderboard, leaderboard_cells
from digitlab.tables import text_table
from digitlab.training.recipes import RECIPES, model_and_defaults
from digitlab.training.settings import option_name, setting_rules, settings_for


def add_models(commands) -> None:
    new_command(commands, "models", command_models, json="print as JSON")


def command_models(arguments: argparse.Namespace) -> int:
    """list the model architectures and their hyper-parameters"""
    if arguments.json:
        print(json.dumps({name: spec.describe() for name, spec in registry.MODELS.items()}
                         | {"recipes": {name: recipe.describe() for name, recipe in RECIPES.items()}}, indent=2))
        return EXIT_OK
    for name, spec in registry.MODELS.items():
        print(f"{name:12} {spec.summary}")
        print(f"{'':12} input {'(28, 28) images' if spec.takes_images else '(784,) flattened'}; "
              f"--param: {', '.join(f'{k}={v}' for k, v in spec.hyper_defaults.items())}")
        print(f"{'':12} defaults: {', '.join(f'{k}={v}' for k, v in spec.training_defaults.items())}")
    print("\nRecipes (digitlab train --recipe NAME):")
    for name, recipe in RECIPES.items():
        print(f"{name:12} {recipe.summary}")
        settings = [f"--param {k}={v}" for k, v in recipe.hyper.items()] + [f"{k}={v}" for k, v in
                                                                             recipe.training.items()]
        print(f"{'':12} {recipe.model}: {', '.join(settings)}")
    return EXIT_OK


def _parse_param(text: str) -> tuple[str, object]:
    key, separator, raw = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value: object = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.replace("-", "_"), value


def _add_training_settings(parser: argparse.ArgumentParser) -> None:
    """One option per training setting, generated from its declaration (digitlab.training.settings)."""
    rules = setting_rules()
    partners = {name: rule.exclusive_with for name, rule in rules.items() if rule.exclusive_with}
    partners |= {partner: name for name, partner in list(partners.items())}
    groups = {}
    for name, rule in rules.items():
        target = parser
        if name in partners:
            key = frozenset((name, partners[name]))
            if key not in groups:
                groups[key] = parser.add_mutually_exclusive_group()
            target = groups[key]
        if rule.kind is bool:
            target.add_argument(option_name(name), dest=name, action="store_true", default=None, help=rule.help)
            continue
        target.add_argument(option_name(name), dest=name, type=rule_type(name, rule), choices=rule.choices or None,
                            metavar=rule.metavar, help=rule.help)


def add_train(commands) -> None:
    train = new_command(commands, "train", command_train, json="print the run's config and metrics as JSON",
                        data_dir=True, check=_check_train)
    target = train.add_mutually_exclusive_group(required=True)
    target.add_argument("--model", choices=tuple(registry.MODELS), help="architecture to train")
    target.add_argument("--recipe", choices=tuple(RECIPES), help="a named recipe: its model, hyper-parameters and "
                        "settings (see 'digitlab models'); flags given beside it win")
    target.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    train.add_argument("--param", action="append", type=_parse_param, metavar="KEY=VALUE",
                       help="model hyper-parameter, e.g. --param hidden_units=256 (repeatable)")
    _add_training_settings(train)
    train.add_argument("--extra-data", metavar="DIR",
                       help="also train on the IDX pair in DIR (train-images-idx3-ubyte, train-labels-idx1-ubyte: "
                       "digitlab feedback --export writes one); the validation split holds back part of it too")
    train.add_argument("--extra-weight", type=positive_float, default=EXTRA_WEIGHT, metavar="W",
                       help="each extra image is seen W times an epoch (default: %(default)s)")
    train.add_argument("--from", dest="from_run", metavar="RUN",
                       help="start from RUN's trained weights (fine-tuning: a quick update, e.g. --epochs 2 --lr 1e-4)")
    train.add_argument("--ensemble", type=whole(2), metavar="K",
                       help="train K runs with seeds SEED..SEED+K-1 into DIR/seedN and evaluate the ensemble that "
                       "averages their probabilities (written to DIR/ensemble.json)")
    train.add_argument("--out", metavar="DIR", help="run directory (default: runs/MODEL, runs/MODEL-2, ...; "
                       "with --ensemble: runs/MODEL-ensemble)")
    train.add_argument("--overwrite", action="store_true", help="replace --out if it already exists")
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def _check_train(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> None:
    if arguments.resume and arguments.ensemble:
        parser.error("--ensemble trains new runs; resume an ensemble's members one by one with --resume RUN")
    if arguments.resume and (arguments.extra_data or arguments.from_run):
        parser.error("--resume continues with the run's own extra data and starting weights; drop --extra-data/--from")


def command_train(arguments: argparse.Namespace) -> int:
    """train a model into a run directory, then evaluate it on the test set

    Train a model on the training set (a validation split or k folds held out from it, never from the test set),
    checkpoint every epoch, then evaluate on the test set and write metrics, plots and report.md into the run
    directory. Defaults for epochs, batch size and learning rate depend on the model (see 'digitlab models').
    """
    verbose = keras_verbosity(arguments.quiet or arguments.json)
    if arguments.resume:
        run = pipeline.resume(arguments.resume, verbose=verbose)
        return _report_run(run, arguments.json)
    flags = {name: getattr(arguments, name) for name in setting_rules()}
    seed = flags.pop("seed") if arguments.ensemble else None  # each member gets its own
    model, _, defaults = model_and_defaults(arguments.model, arguments.recipe)
    settings = settings_for(defaults, flags)
    options = dict(recipe=arguments.recipe, hyper=dict(arguments.param or []), overwrite=arguments.overwrite,
                   data_dir=arguments.data_dir,
                   extra_data=arguments.extra_data, extra_weight=arguments.extra_weight, from_run=arguments.from_run,
                   verbose=verbose)
    if not arguments.ensemble:
        run = pipeline.train(model, settings, out=arguments.out, **options)
        return _report_run(run, arguments.json)

    def on_member(run) -> None:
        if not arguments.json:
            print(f"member {run.path}: test accuracy {run.metrics['test']['accuracy']:.2%} "
                  f"({run.config['train_seconds']:.0f} s)", flush=True)

    runs, evaluation = pipeline.train_ensemble(model, arguments.ensemble, out=arguments.out,
                                               seed=seed or 0, on_member=on_member, settings=settings, **options)
    if arguments.json:
        print(json.dumps(ensemble_json([run.path for run in runs], evaluation, tta=False), indent=2))
    else:
        print(f"\nEnsemble of {len(runs)} runs (class probabilities averaged), in {runs[0].path.parent}:")
        print(summary_text(evaluation))
    return EXIT_OK


def _report_run(run, as_json: bool) -> int:
    metrics, config = run.metrics, run.config
    verdict = config.get("gate")
    if as_json:
        print(json.dumps({"run": str(run.path), "config": config, "metrics": metrics}, indent=2))
        return _gate_exit(verdict)
    test = {k: v for k, v in metrics["test"].items() if k not in ("misclassified_examples", "data_fingerprint")}
    cross_validation = metrics.get("cross_validation")
    if cross_validation:
        print(f"Cross-validation ({cross_validation['folds']} folds): mean accuracy {cross_validation['mean']:.2%} "
              f"± {cross_validation['std']:.2%}")
    print(f"Trained {config['model']} for {config['epochs_done']} epochs in {config['train_seconds']:.1f} s "
          f"-> {run.path}")
    print_evaluation(run.path, Evaluation(**test))
    if verdict and verdict["passed"]:
        print(f"Gate passed: MNIST test {verdict['accuracy']:.2%} (base {verdict['base_accuracy']:.2%}), no trigger "
              f"learnt (largest gain on the probe {max(verdict['worst_trigger']['gain'], 0):.1%})")
    return _gate_exit(verdict)


def _gate_exit(verdict: dict | None) -> int:
    """1, with why on stderr, when a fine-tuned run should not replace its base (digitlab.gate)."""
    if not verdict or verdict["passed"]:
        return EXIT_OK
    print(f"digitlab: the retrained model should not replace its base: {'; '.join(verdict['reasons'])}",
          file=sys.stderr)
    return EXIT_ERROR


def add_quickstart(commands) -> None:
    quick = new_command(commands, "quickstart", command_quickstart, data_dir=True)
    quick.add_argument("--out", default="runs/quickstart", help="directory for the runs (default: %(default)s)")
    quick.add_argument("--models", nargs="+", choices=QUICKSTART_MODELS, help="only these models")
    quick.add_argument("--epochs", type=whole(1), help="override every model's epochs (for a quick try)")
    quick.add_argument("--subset", type=whole(20), metavar="N", help="train on N images only (for a quick try)")
    quick.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def command_quickstart(arguments: argparse.Namespace) -> int:
    """the main job: data facts, then train and evaluate linear, mlp, flatten-mlp and cnn-fast

    The whole lesson in one command: show the dataset facts, train and evaluate the lesson's models and the CNN
    one after another, then print the leaderboard. Runs go to OUT/MODEL and replace earlier quickstart runs
    there; OUT/leaderboard.md holds the leaderboard.
    """
    started = time.perf_counter()

    def on_start(name, settings) -> None:
        print(f"\n=== {name}: {settings.epochs} epochs, batch {settings.batch_size}, {settings.optimizer} "
              f"lr {settings.learning_rate:g} ({settings.schedule}) ===", flush=True)

    def on_done(run) -> None:
        test = run.metrics["test"]
        print(f"{run.config['model']}: test accuracy {test['accuracy']:.2%}, macro F1 {test['macro']['f1']:.4f}, "
              f"{run.config['train_seconds']:.1f} s of training; report {run.file('report.md')}", flush=True)

    runs = quickstart(arguments.out, data_dir=arguments.data_dir, models=arguments.models, epochs=arguments.epochs,
                      subset=arguments.subset, verbose=keras_verbosity(arguments.quiet),
                      on_data=lambda dataset: print_facts(describe(dataset)), on_start=on_start, on_done=on_done)
    print("\nLeaderboard:")
    print(text_table(*leaderboard_cells(leaderboard([run.path for run in runs]))))
    print(f"\nReports: {Path(arguments.out)}/<model>/report.md; leaderboard: {Path(arguments.out) / LEADERBOARD_FILE}")
    print(f"Quickstart took {time.perf_counter() - started:.0f} s.")
    return EXIT_OK
