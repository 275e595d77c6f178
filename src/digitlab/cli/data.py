"""``digitlab data``: fetch and verify MNIST, then print the lesson's first facts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from digitlab.cli.common import EXIT_OK, new_command, whole
from digitlab.data import inspect_dataset


def print_facts(facts: dict) -> None:
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


def add_data(commands) -> None:
    data = new_command(commands, "data", command_data, json="print the facts as JSON (for scripts)", data_dir=True)
    data.add_argument("--show", type=whole(1), metavar="N", help="also draw the first N training images")
    data.add_argument("--out", type=Path, default=Path("samples.png"), help="PNG for --show (default: %(default)s)")


def command_data(arguments: argparse.Namespace) -> int:
    """fetch/verify MNIST and show its facts (sizes, shapes, class balance, samples)

    Load MNIST (fetching, verifying and caching it the first time) and print what the lesson asks first: the
    sizes of the training and test sets, the shape of one image, what X and y hold, and the class balance.
    """
    facts = inspect_dataset(arguments.data_dir, show=arguments.show or 0, samples_png=arguments.out,
                            verbose=not arguments.json)
    if arguments.json:
        print(json.dumps(facts, indent=2))
        return EXIT_OK
    print_facts(facts)
    if "samples" in facts:
        print(f"Wrote a grid of the first {facts['samples']['count']} training images with their labels to "
              f"{facts['samples']['png']}")
    return EXIT_OK
