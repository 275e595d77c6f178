"""The house rules the code keeps: no import cycles, a CLI that only parses and prints, one declaration
of the training settings, no process-wide side effects, and exit codes that say what went wrong."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
from pathlib import Path

import pytest

import digitlab
from conftest import running_server
from digitlab.errors import InvalidArgument
from digitlab.training.settings import TrainingSettings, setting_rules

PACKAGE = Path(digitlab.__file__).parent


def module_imports() -> dict[str, set[str]]:
    """digitlab module -> the digitlab modules it imports anywhere (inside functions too)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts).removesuffix(".__init__")] = path

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        graph[name] = {resolved for target in targets if (resolved := resolve(target))
                       and resolved not in (name, "digitlab")}
    return graph


def test_no_import_cycles():
    graph = module_imports()
    visiting, done, cycles = [], set(), []

    def visit(module: str) -> None:
        visiting.append(module)
        for imported in graph[module]:
            if imported in visiting:
                cycles.append(visiting[visiting.index(imported):] + [imported])
            elif imported not in done:
                visit(imported)
        visiting.pop()
        done.add(module)

    for module in graph:
        if module not in done:
            visit(module)
    assert not cycles, cycles
    assert "digitlab.evaluation" not in graph["digitlab.training.fit"]
    assert "digitlab.training.fit" not in graph["digitlab.evaluation"]


# The layers, first to last: a module may import its own layer and earlier ones, never a later one.
LAYERS = [
    ("foundation", ["digitlab.errors", "digitlab.fileio", "digitlab.tables", "digitlab.cpu", "digitlab._keras",
                    "digitlab.plots", "digitlab.rules", "digitlab.runs", "digitlab.version"]),
    ("data", ["digitlab.data"]),
    ("models", ["digitlab.models"]),
    ("training", ["digitlab.training"]),
    ("inference", ["digitlab.inference"]),
    ("evaluation and reading", ["digitlab.evaluation", "digitlab.reading"]),
    ("experiments", ["digitlab.abstention", "digitlab.gate", "digitlab.pipeline", "digitlab.tuning"]),
    ("feedback", ["digitlab.feedback"]),
    ("serving", ["digitlab.serving"]),
    ("cli", ["digitlab.cli", "digitlab.__main__"]),
]
# Modules whose import loads Keras: the only digitlab imports that may wait inside a function.
LOADS_KERAS = {"digitlab._keras", "digitlab.training.fit", "digitlab.training.augment"}


def layer_of(module: str) -> int:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def test_layers_point_one_way():
    backwards = [f"{module} ({LAYERS[layer_of(module)][0]}) imports {imported} ({LAYERS[layer_of(imported)][0]})"
                 for module, imported_modules in module_imports().items() if module != "digitlab"
                 for imported in imported_modules if layer_of(imported) > layer_of(module)]
    assert not backwards, backwards


def test_digitlab_imports_wait_only_for_keras_and_only_in_one_place_per_module():
    """Imports of digitlab modules sit at module top; only those that load Keras may wait in a function, and
    the CLI imports a command's module in its one registry function."""
    late = {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("digitlab"):
                    assert node.module in LOADS_KERAS, f"{path.name}:{node.lineno} imports {node.module} late"
                    late.setdefault(path, set()).add(function.name)
    assert all(len(functions) <= 2 for functions in late.values()), late


def test_no_function_is_longer_than_80_lines():
    long = [f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in PACKAGE.rglob("*.py") for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 80]
    assert not long, long


def test_every_module_opens_with_a_docstring():
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__main__.py":
            assert ast.get_docstring(ast.parse(path.read_text())), path


def test_cli_writes_no_files_and_types_no_choice_lists():
    writers = {"open", "atomic_write", "atomic_write_text", "atomic_write_bytes", "write_text", "write_bytes",
               "savefig", "write_idx"}
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                assert name not in writers, f"{path.name} line {node.lineno} calls {name}"
                for keyword in node.keywords:
                    if keyword.arg == "choices":
                        assert not isinstance(keyword.value, ast.Tuple | ast.List | ast.Set), \
                            f"{path.name} line {node.lineno} types a choice list"


def test_train_takes_the_settings_object_and_checks_each_override_against_its_declaration(learnable_dataset, tmp_path):
    from digitlab.pipeline import train

    parameters = inspect.signature(train).parameters
    assert list(parameters)[:2] == ["model", "settings"] and parameters["settings"].default is None
    assert not set(parameters) & set(setting_rules())  # no setting is spelled out a second time
    with pytest.raises(InvalidArgument, match="unknown training setting momentum"):
        train("linear", momentum=0.9, dataset=learnable_dataset, out=tmp_path / "run")
    settings = TrainingSettings(epochs=1, batch_size=64, val_split=0.2)
    run = train("linear", settings, seed=3, dataset=learnable_dataset, out=tmp_path / "run", verbose=0)
    assert run.config["training"] == {**dataclasses.asdict(settings), "seed": 3}


def test_train_flags_are_generated_from_the_declaration():
    from digitlab.cli import build_parser

    commands = next(action for action in build_parser()._actions if action.dest == "command")
    train = commands.choices["train"]
    options = {action.dest: action for action in train._actions}
    for name, rule in setting_rules().items():
        assert options[name].help == rule.help
        if rule.choices:
            assert tuple(options[name].choices) == rule.choices
    tuning_optimizers = next(p.choices for p in digitlab.tuning.TRAINING_SPACE if p.name == "optimizer")
    assert tuning_optimizers == setting_rules()["optimizer"].choices


def test_settings_are_frozen_and_resolving_leaves_them_unchanged():
    settings = TrainingSettings(folds=4)
    with pytest.raises(AttributeError):
        settings.val_split = 0.0  # type: ignore[misc]
    assert settings.resolved().val_split == 0.0 and settings.val_split == 0.1


def test_nothing_process_wide_is_left_changed(learnable_dataset, tmp_path, monkeypatch):
    """No umask changes (atomic writes still give the umask's permissions), no patched Starlette class,
    and TensorFlow's op determinism switched back off after training."""
    from starlette.formparsers import MultiPartParser
    from tensorflow.python.framework import config as tf_config

    from digitlab.fileio import atomic_write_text
    from digitlab.pipeline import train
    from digitlab.serving.app import create_app
    from digitlab.serving.config import ServeConfig

    previous = os.umask(0o027)
    try:
        def no_umask(*_):
            raise AssertionError("os.umask called")

        monkeypatch.setattr(os, "umask", no_umask)
        atomic_write_text(tmp_path / "file.txt", "x")
        assert (tmp_path / "file.txt").stat().st_mode & 0o777 == 0o640
    finally:
        monkeypatch.undo()
        os.umask(previous)

    spool = MultiPartParser.spool_max_size
    assert not tf_config.is_op_determinism_enabled()
    run = train("linear", dataset=learnable_dataset, out=tmp_path / "run", epochs=1, verbose=0)
    assert not tf_config.is_op_determinism_enabled()
    create_app(ServeConfig(run.path))
    assert MultiPartParser.spool_max_size == spool


def test_a_run_stores_its_split_and_evaluation_checks_it(learnable_dataset, tmp_path):
    from digitlab.evaluation import evaluate
    from digitlab.pipeline import train
    from digitlab.runs import RunError

    run = train("linear", dataset=learnable_dataset, out=tmp_path / "run", epochs=1, val_split=0.2, verbose=0)
    split = run.config["split"]
    assert (split["fit_count"], split["validation_count"], split["seed"]) == (480, 120, 0)
    assert evaluate(run, split="val", dataset=learnable_dataset).count == 120

    run.update_config(split={**split, "validation_sha256": "0" * 64})  # as if the shuffling had changed
    with pytest.raises(RunError, match="differs from the one recorded at training time"):
        evaluate(run, split="val", dataset=learnable_dataset)
    assert evaluate(run, split="test", dataset=learnable_dataset).count == 200  # the test set needs no split


def test_an_internal_error_is_not_called_bad_input(monkeypatch, capsys):
    from digitlab import cli
    from digitlab.cli import training

    def broken(_arguments):
        raise ValueError("a bug")

    monkeypatch.setattr(training, "command_models", broken)
    assert cli.main(["models"]) == cli.EXIT_INTERNAL == 70
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "internal error: ValueError: a bug" in error and "--debug" in error
    assert "Traceback" not in error

    assert cli.main(["--debug", "models"]) == 70
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("DIGITLAB_DEBUG", "1")
    assert cli.main(["models"]) == 70
    assert "Traceback" in capsys.readouterr().err


def test_serve_takes_its_options_as_flags(exported_run, tmp_path):
    """Two worker processes, each building the app from the config given on the command line."""
    import urllib.request

    environment = {key: value for key, value in os.environ.items() if not key.startswith("DIGITLAB_SERVE")}
    with running_server(exported_run.path, "--workers", "2", "--engine", "keras", "--max-batch", "3", "--max-bytes",
                        "1000", "--max-pixels", "5000", environment=environment, ready="/v1/model") as (_, url):
        with urllib.request.urlopen(f"{url}/v1/model", timeout=10) as response:
            model = json.loads(response.read())
    assert model["engine"] == "keras"
    assert {key: model["limits"][key] for key in ("max_bytes", "max_pixels", "max_batch")} == \
        {"max_bytes": 1000, "max_pixels": 5000, "max_batch": 3}
