"""The model registry: shapes, parameter counts (by hand), and hyper-parameter validation."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.errors import InvalidArgument
from digitlab.models import MODELS, build_model, get_spec, validate_hyper
from digitlab.training.fit import compile_model

# Parameter counts worked out by hand: weights + biases of each layer.
EXPECTED_PARAMETERS = {
    "linear": 784 * 10 + 10,
    "mlp": (784 * 128 + 128) + (128 * 10 + 10),
    "flatten-mlp": (784 * 128 + 128) + (128 * 10 + 10),
    "cnn": (3 * 3 * 1 * 32 + 32) + (3 * 3 * 32 * 64 + 64) + (7 * 7 * 64 * 128 + 128) + (128 * 10 + 10),
    "cnn-fast": (5 * 5 * 1 * 16 + 16) + (3 * 3 * 16 * 32 + 32) + (6 * 6 * 32 * 128 + 128) + (128 * 10 + 10),
}


def test_a_new_architecture_module_is_registered_with_no_other_edit(tmp_path, monkeypatch):
    """Adding an architecture means one module: the registry finds it, its search space comes with it,
    and the train command offers it."""
    import sys
    import textwrap

    import digitlab.models as registry
    from digitlab import tuning
    from digitlab.cli import build_parser

    (tmp_path / "tiny.py").write_text(textwrap.dedent('''
        from digitlab.models.spec import ModelSpec, Parameter, keras_module, output_layer

        def build_tiny(output_activation: str = "softmax"):
            keras = keras_module()
            return keras.Sequential([keras.Input((784,)), output_layer(output_activation)], name="tiny")

        SPECS = (ModelSpec("tiny", "a test architecture", False, build_tiny, {"epochs": 1},
                           (Parameter("output_activation", "categorical", choices=("softmax",)),), order=99),)
    '''))
    monkeypatch.setattr(registry, "__path__", [*registry.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "digitlab.models.tiny", raising=False)
    found = registry._discover()
    monkeypatch.setattr(registry, "MODELS", found)
    assert list(found) == ["linear", "mlp", "flatten-mlp", "cnn", "cnn-fast", "tiny"]  # the lesson's order first
    assert build_model("tiny").count_params() == 784 * 10 + 10
    assert "output_activation" in {parameter.name for parameter in tuning.search_space("tiny")}
    assert build_parser().parse_args(["train", "--model", "tiny"]).model == "tiny"
    monkeypatch.delitem(sys.modules, "digitlab.models.tiny")


@pytest.mark.parametrize("name", tuple(MODELS))
def test_shapes_and_parameter_counts(name):
    spec = get_spec(name)
    model = build_model(name)
    assert model.count_params() == EXPECTED_PARAMETERS[name]
    assert tuple(model.input_shape[1:]) == ((28, 28) if spec.takes_images else (784,))
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    probabilities = np.asarray(model(spec.prepare(images)))
    assert probabilities.shape == (3, 10)
    assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_linear_is_the_lessons_sigmoid_layer():
    model = build_model("linear")
    (dense,) = model.layers
    assert dense.units == 10 and dense.activation.__name__ == "sigmoid"
    assert build_model("linear", output_activation="softmax").layers[0].activation.__name__ == "softmax"


def test_mlp_hyper_parameters_shape_the_network():
    model = build_model("mlp", hidden_units=64, hidden_layers=2, activation="tanh", dropout=0.2)
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert [layer.units for layer in dense] == [64, 64, 10]
    assert dense[0].activation.__name__ == "tanh"
    assert sum(layer.__class__.__name__ == "Dropout" for layer in model.layers) == 2


def test_cnn_blocks_can_hold_two_convolutions():
    def conv_widths(model):
        return [layer.filters for layer in model.layers if layer.__class__.__name__ == "Conv2D"]

    assert conv_widths(build_model("cnn")) == [32, 64]
    assert conv_widths(build_model("cnn", convs_per_block=2, filters=16)) == [16, 16, 32, 32]


def test_fast_cnn_hidden_layer_and_padding_can_be_changed():
    def dense_units(model):
        return [layer.units for layer in model.layers if layer.__class__.__name__ == "Dense"]

    model = build_model("cnn-fast")
    assert dense_units(model) == [128, 10] and "Dropout" not in [layer.__class__.__name__ for layer in model.layers]
    assert model.layers[1].output.shape[1:3] == (24, 24)  # a "valid" 5x5 first convolution
    assert dense_units(build_model("cnn-fast", dense_units=0)) == [10]  # 0: no hidden layer
    assert build_model("cnn-fast", first_padding="same").layers[1].output.shape[1:3] == (28, 28)
    with pytest.raises(InvalidArgument, match="first_padding must be one of same, valid"):
        build_model("cnn-fast", first_padding="full")


def test_flatten_mlp_starts_with_flatten():
    assert build_model("flatten-mlp").layers[0].__class__.__name__ == "Flatten"


@pytest.mark.parametrize(
    ("name", "hyper", "message"),
    [
        ("mlp", {"units": 5}, "has no hyper-parameter units; it takes: hidden_units=128"),
        ("mlp", {"hidden_units": 0}, "hidden_units must be a whole number >= 1"),
        ("mlp", {"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ("mlp", {"activation": "magic"}, "activation must be one of relu"),
        ("cnn", {"filters": 2.5}, "filters must be a whole number"),
        ("cnn", {"normalization": "layer"}, "normalization must be one of none, batch"),
        ("linear", {"output_activation": "relu"}, "output_activation must be one of sigmoid, softmax"),
    ],
)
def test_bad_hyper_parameters_are_explained(name, hyper, message):
    with pytest.raises(ValueError, match=message):
        validate_hyper(name, hyper)


def test_unknown_model_lists_the_choices():
    with pytest.raises(ValueError, match="unknown model 'resnet'; choose one of: linear, mlp, flatten-mlp, cnn"):
        build_model("resnet")


def test_compile_uses_the_lessons_loss_and_metric():
    model = compile_model(build_model("linear"), "sgd", 0.01)
    assert model.loss == "sparse_categorical_crossentropy"
    assert model.optimizer.__class__.__name__ == "SGD"
    with pytest.raises(ValueError, match="unknown optimizer"):
        compile_model(build_model("linear"), "lbfgs")
