"""The source of notebooks/walkthrough.ipynb, and the tool that builds and executes it.

The notebook is written here as a list of cells so that it can be reviewed and diffed as Python;
``python notebooks/walkthrough.py`` (or ``make notebook``) rebuilds the .ipynb and executes it in place
with nbclient, so the committed notebook always holds outputs of the code it shows.

    python notebooks/walkthrough.py                 # build + execute in place (the lesson's settings)
    python notebooks/walkthrough.py --out X.ipynb   # build + execute into another file
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().with_suffix(".ipynb")

CELLS: list[tuple[str, str]] = [
    ("markdown", """\
# Handwritten digits with Keras: the MNIST lesson, step by step

This notebook walks through the classic lesson (load the data, scale and flatten it, train a one-layer
network with Adam, evaluate it, read the confusion matrix, add a hidden layer, add a Flatten layer)
with plain Keras where the lesson asks for Keras calls and with **digitlab** beside it. Every number
quoted in the text is printed by a cell above it.

`LESSON_EPOCHS` is the number of epochs of the lesson's first model: 20, as in the lesson. Set the
environment variable `WALKTHROUGH_LESSON_EPOCHS` to try a shorter run."""),
    ("code", """\
import os

import matplotlib.pyplot as plt
import numpy as np

import digitlab
from digitlab import keras, load_mnist, preprocess  # keras: Keras 3 on TensorFlow, minus its C++ start-up log

%matplotlib inline
keras.utils.set_random_seed(0)  # the same numbers every time this notebook runs on this machine
LESSON_EPOCHS = int(os.environ.get("WALKTHROUGH_LESSON_EPOCHS", 20))
HIDDEN_EPOCHS = 5
print("Keras", keras.__version__, "on", keras.backend.backend(), "| digitlab", digitlab.__version__)
print("LESSON_EPOCHS =", LESSON_EPOCHS)"""),
    ("markdown", """\
## 1. Data preprocessing

`keras.datasets.mnist.load_data()` downloads MNIST from the internet. `digitlab.load_mnist()` returns the
same arrays, and also works offline: it fetches, verifies and caches the data (see the README)."""),
    ("code", """\
(X_train, y_train), (X_test, y_test) = load_mnist()
print("len(X_train) =", len(X_train), "  len(X_test) =", len(X_test))
print("shape of one image:", X_train[0].shape)
print("X_train:", X_train.shape, X_train.dtype, "values", X_train.min(), "to", X_train.max())
print("y_train:", y_train.shape, y_train.dtype, "first ten:", y_train[:10])"""),
    ("code", """\
plt.matshow(X_train[0], cmap="gray_r")
plt.title(f"X_train[0], labelled y_train[0] = {y_train[0]}")
plt.show()"""),
    ("markdown", """\
**X_train vs y_train.** The printout above shows the difference: `X_train` holds the images, one 28x28
array of pixel intensities (0-255) per sample; `y_train` holds the labels, one integer per image saying
which digit it shows. The plot is the first image, and its label is the first entry of `y_train`.

Neural networks train better on small inputs, so we scale the pixels to [0, 1] by dividing by 255,
then flatten each 28x28 image into a vector of 784 numbers for a `Dense` layer."""),
    ("code", """\
X_train = X_train / 255
X_test = X_test / 255
X_train_flattened = X_train.reshape(len(X_train), 28 * 28)
X_test_flattened = X_test.reshape(len(X_test), 28 * 28)
print("X_train_flattened:", X_train_flattened.shape, "  X_test_flattened:", X_test_flattened.shape)

# digitlab.preprocess does the same in one call (as float32):
(raw_train, _), _ = load_mnist()
print("same as digitlab.preprocess:", np.allclose(preprocess(raw_train), X_train_flattened))"""),
    ("markdown", """\
## 2. Model building

The simplest network: one `Dense` layer of 10 neurons (one per digit) on the 784 inputs, with sigmoid
activation; Adam, sparse categorical cross-entropy (the labels are integers), accuracy.

`steps_per_execution=32` runs 32 batches per call into Keras' compiled training step: the same updates
in the same order, with a 32nd of the Python work per batch, which for a model this small is most of
the time an epoch takes. It changes how fast the lesson runs, not what it learns."""),
    ("code", """\
model = keras.Sequential([
    keras.Input(shape=(784,)),
    keras.layers.Dense(10, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              steps_per_execution=32)
history = model.fit(X_train_flattened, y_train, epochs=LESSON_EPOCHS, verbose=2)"""),
    ("markdown", """\
## 3. Model evaluation

`model.evaluate()` on the test set, which the model has never seen; then `model.predict()` gives ten
scores per image, and `np.argmax` picks the digit with the highest score."""),
    ("code", """\
test_loss, linear_accuracy = model.evaluate(X_test_flattened, y_test, verbose=0)
print(f"test loss {test_loss:.4f}, test accuracy {linear_accuracy:.2%}")
y_predicted = model.predict(X_test_flattened, verbose=0)
print("scores for the first test image:", np.round(y_predicted[0], 3))
y_predicted_labels = np.argmax(y_predicted, axis=1)
print("first 5 predictions:", y_predicted_labels[:5])
print("first 5 true labels:", y_test[:5])
print("they agree:", bool(np.all(y_predicted_labels[:5] == y_test[:5])))"""),
    ("markdown", """\
The confusion matrix counts, for each true digit (row), how often the model predicted each digit
(column). The diagonal holds the correct answers; everything else is a mistake."""),
    ("code", """\
from sklearn.metrics import confusion_matrix

from digitlab.plots import confusion_figure

cm = confusion_matrix(y_test, y_predicted_labels)
confusion_figure(cm, title=f"One Dense layer: test accuracy {linear_accuracy:.2%}")"""),
    ("markdown", """\
## 4. Improving accuracy: a hidden layer

Put a hidden layer of 128 ReLU neurons between the input and the output layer."""),
    ("code", """\
hidden_model = keras.Sequential([
    keras.Input(shape=(784,)),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(10, activation="sigmoid"),
])
hidden_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                     steps_per_execution=32)
hidden_model.fit(X_train_flattened, y_train, epochs=HIDDEN_EPOCHS, verbose=2)
_, hidden_accuracy = hidden_model.evaluate(X_test_flattened, y_test, verbose=0)
hidden_predictions = np.argmax(hidden_model.predict(X_test_flattened, verbose=0), axis=1)
confusion_figure(confusion_matrix(y_test, hidden_predictions),
                 title=f"With a hidden layer: test accuracy {hidden_accuracy:.2%}")"""),
    ("code", """\
print(f"one Dense layer ({LESSON_EPOCHS} epochs): {linear_accuracy:.2%}")
print(f"with a hidden layer ({HIDDEN_EPOCHS} epochs): {hidden_accuracy:.2%}")
print("Did the accuracy increase?", "yes" if hidden_accuracy > linear_accuracy else "no",
      f"({100 * (hidden_accuracy - linear_accuracy):+.2f} percentage points; "
      f"{int(round((1 - linear_accuracy) * len(y_test)))} -> {int(round((1 - hidden_accuracy) * len(y_test)))} "
      "wrong test images)")"""),
    ("markdown", """\
The cell above answers the lesson's question with the two measured accuracies: a single hidden layer
lets the network combine pixels into strokes before deciding, which a single linear layer cannot.

## 5. A model with a Flatten layer

Instead of flattening the images by hand, a `Flatten` layer can do it inside the model, which then
takes the 28x28 images directly."""),
    ("code", """\
flatten_model = keras.Sequential([
    keras.Input(shape=(28, 28)),
    keras.layers.Flatten(),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(10, activation="sigmoid"),
])
flatten_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      steps_per_execution=32)
flatten_model.fit(X_train, y_train, epochs=HIDDEN_EPOCHS, verbose=2)  # X_train: 28x28 images, not flattened
_, flatten_accuracy = flatten_model.evaluate(X_test, y_test, verbose=0)
print(f"hidden layer, flattened by hand: {hidden_accuracy:.2%}")
print(f"hidden layer, Flatten layer:     {flatten_accuracy:.2%}")
print(f"difference: {100 * (flatten_accuracy - hidden_accuracy):+.2f} percentage points; "
      f"within run-to-run noise (under 0.5 points): {abs(flatten_accuracy - hidden_accuracy) < 0.005}")
print("input the model expects:", flatten_model.input_shape, "vs", hidden_model.input_shape)"""),
    ("markdown", """\
**What changes?** The network is the same (a Flatten layer has no weights, so the parameter counts
match), and the printout shows the accuracy differs from the hand-flattened model only by the noise of
a different random initialisation and shuffling. What changes is convenience: no manual reshaping,
and the model accepts 28x28 images directly, so the same preprocessing serves training and prediction."""),
    ("code", """\
print("parameters:", hidden_model.count_params(), "(hand-flattened) vs", flatten_model.count_params(), "(Flatten)")"""),
    ("markdown", """\
## 6. Beyond the lesson

Accuracy is one number; **precision, recall and F1 per class** show which digits are hard. digitlab
computes them with scikit-learn from the same predictions."""),
    ("code", """\
from digitlab.evaluation import metrics_from_predictions, per_class_text

hidden_evaluation = metrics_from_predictions(y_test, hidden_model.predict(X_test_flattened, verbose=0))
print(per_class_text(hidden_evaluation))
print("most confused (true -> predicted, count):",
      [(p["true"], p["predicted"], p["count"]) for p in hidden_evaluation.most_confused])"""),
    ("markdown", """\
**A convolutional network.** `digitlab.train("cnn-fast", epochs=4)` trains digitlab's quick CNN as the
quickstart does (convolutions see strokes wherever they are in the image) into a run directory with
checkpoints, metrics, plots and a report, exactly as `digitlab train --model cnn-fast --epochs 4` does on
the command line."""),
    ("code", """\
from digitlab import evaluate, train
from digitlab.plots import misclassified_figure

cnn_run = train("cnn-fast", epochs=4, out="runs/walkthrough-cnn", overwrite=True, verbose=2)
cnn_evaluation = evaluate(cnn_run)
print(f"CNN test accuracy: {cnn_evaluation.accuracy:.2%} ({cnn_evaluation.misclassified} wrong), "
      f"macro F1 {cnn_evaluation.macro['f1']:.4f}, trained in {cnn_run.config['train_seconds']:.0f} s")
print("most confused (true -> predicted, count):",
      [(p["true"], p["predicted"], p["count"]) for p in cnn_evaluation.most_confused])"""),
    ("code", """\
from digitlab.evaluation import misclassified_examples

(_, _), (raw_test, _) = load_mnist()
misclassified_figure(raw_test, misclassified_examples(cnn_evaluation, y_test, limit=20))"""),
    ("markdown", """\
**Why did it say that?** A saliency map shows which pixels were the evidence for an answer. digitlab's
default method, occlusion, hides one 4x4 square of the input at a time and measures how much the
answer's log-probability drops: red squares are ink the answer depends on, blue ones speak against it.
Here are the CNN's two most confident mistakes, with the evidence for its wrong answer and for the
runner-up (the same pictures as `digitlab explain RUN IMAGE`)."""),
    ("code", """\
from IPython.display import display

from digitlab import explain
from digitlab.plots import explanation_figure

mistakes = misclassified_examples(cnn_evaluation, y_test, limit=2)
for mistake, why in zip(mistakes, explain(cnn_run, raw_test[[m["index"] for m in mistakes]]), strict=True):
    print(f"test image {mistake['index']}: a {mistake['true']} read as {why.digit} ({why.confidence:.0%}), "
          f"runner-up {why.runner_up} ({why.runner_up_confidence:.1%})")
    display(explanation_figure(why))"""),
    ("markdown", """\
**Where next.** Compare runs with `digitlab compare runs/`; every command and its options are in the
README and in `digitlab --help`."""),
]


def build() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        for kind, source in CELLS
    ]
    return notebook


def execute(notebook: nbformat.NotebookNode, working_directory: Path, timeout: int = 900) -> None:
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(working_directory)}}).execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=NOTEBOOK, help="where to write the executed notebook")
    parser.add_argument("--cwd", type=Path, default=Path.cwd(), help="working directory of the kernel")
    arguments = parser.parse_args()
    started = time.perf_counter()
    notebook = build()
    execute(notebook, arguments.cwd)
    from digitlab.fileio import atomic_write_text

    atomic_write_text(arguments.out, nbformat.writes(notebook))
    print(f"Executed {len(notebook.cells)} cells into {arguments.out} in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
