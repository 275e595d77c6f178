"""Augmentation keeps labels and shapes and really moves the digits; ensembles average probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from digitlab.evaluation import ensemble_probabilities, evaluate_ensemble
from digitlab.inference.predictor import Predictor
from digitlab.pipeline import train
from digitlab.training.augment import AugmentedBatches, augment_images, shift_images, shifted_views


def digits(count: int = 16) -> np.ndarray:
    images = np.zeros((count, 28, 28), np.float32)
    images[:, 6:22, 12:16] = 1.0  # a centred '1'
    return images


def test_augmentation_moves_digits_but_keeps_shape_range_and_ink():
    images = digits()
    augmented = augment_images(images, np.random.default_rng(0), strength=1.0)
    assert augmented.shape == images.shape and augmented.dtype == images.dtype
    assert augmented.min() >= 0 and augmented.max() <= 1
    assert not np.allclose(augmented, images)
    ink_ratio = augmented.sum(axis=(1, 2)) / images.sum(axis=(1, 2))
    assert np.all((ink_ratio > 0.7) & (ink_ratio < 1.35))  # zoom changes the area a little, nothing vanishes
    centres = np.array([ndimage.center_of_mass(image) for image in augmented])
    assert np.all(np.abs(centres - 13.5) < 4.5)  # shifted a little, still in the frame
    assert np.array_equal(augment_images(images, np.random.default_rng(0), 0.0), images)
    with pytest.raises(ValueError, match="strength must be in"):
        augment_images(images, np.random.default_rng(0), 1.5)


def test_batches_keep_labels_with_their_images_and_are_reproducible():
    images = np.stack([np.full((28, 28), label / 10, np.float32) for label in range(10)] * 3)
    labels = np.array(list(range(10)) * 3)
    batches = AugmentedBatches(images, labels, batch_size=8, strength=0.0, seed=3, flatten=True)
    seen = []
    for index in range(len(batches)):
        batch, batch_labels = batches[index]
        assert batch.shape[1] == 784
        np.testing.assert_allclose(batch[:, 400], batch_labels / 10)  # each image still has its own label
        seen += batch_labels.tolist()
    assert sorted(seen) == sorted(labels.tolist()) and len(batches) == 4
    again = AugmentedBatches(images, labels, batch_size=8, strength=0.5, seed=3, flatten=False)
    first = AugmentedBatches(images, labels, batch_size=8, strength=0.5, seed=3, flatten=False)
    np.testing.assert_array_equal(first[1][0], again[1][0])
    first.on_epoch_end()
    assert not np.array_equal(first[1][1], again[1][1]) or not np.array_equal(first[1][0], again[1][0])


def test_training_with_augmentation(learnable_dataset, tmp_path):
    run = train("cnn", dataset=learnable_dataset, out=tmp_path / "aug", epochs=1, augment=0.5, verbose=0,
                hyper={"filters": 8, "dense_units": 16})
    assert run.config["training"]["augment"] == 0.5 and run.status == "complete"
    with pytest.raises(ValueError, match="augment"):
        train("cnn", dataset=learnable_dataset, out=tmp_path / "bad", augment=2.0, verbose=0)


def test_ensemble_averages_the_members_probabilities(learnable_dataset, tmp_path):
    runs = [train("linear", dataset=learnable_dataset, out=tmp_path / f"seed{seed}", epochs=1, seed=seed, verbose=0,
                  learning_rate=0.01) for seed in (1, 2)]
    images = learnable_dataset.x_test
    members = [Predictor(run).predict_batch(images).probabilities for run in runs]
    averaged = ensemble_probabilities(runs, images)
    np.testing.assert_allclose(averaged, (members[0] + members[1]) / 2, atol=1e-7)
    evaluation = evaluate_ensemble([run.path for run in runs], dataset=learnable_dataset)
    assert evaluation.accuracy == pytest.approx(np.mean(averaged.argmax(axis=1) == learnable_dataset.y_test))
    with pytest.raises(ValueError, match="at least two runs \\(or one with test-time augmentation\\)"):
        evaluate_ensemble([runs[0].path], dataset=learnable_dataset)


@pytest.mark.parametrize(("rows", "columns"), [(1, 0), (-1, 0), (0, 1), (0, -1), (2, -3)])
def test_shift_moves_the_digit_and_fills_with_background(rows, columns):
    images = (digits(3) * 255).astype(np.uint8)
    moved = shift_images(images, rows, columns)
    assert moved.shape == images.shape and moved.dtype == images.dtype
    np.testing.assert_array_equal(moved, np.roll(images, (rows, columns), axis=(1, 2)))  # the margins are empty
    edge = np.zeros_like(images)
    edge[:, :, 0] = 200  # ink on the left border: a right shift must not wrap it round to the other side
    assert shift_images(edge, 0, 1)[:, :, 0].max() == 0 and shift_images(edge, 0, 1)[:, :, 1].min() == 200
    assert shift_images(edge, 0, -1).max() == 0


def test_test_time_augmentation_averages_the_views_of_each_run(learnable_dataset, tmp_path):
    run = train("linear", dataset=learnable_dataset, out=tmp_path / "one", epochs=1, learning_rate=0.01, verbose=0)
    images = learnable_dataset.x_test
    views = shifted_views(images)
    assert len(views) == 5 and views[0] is images
    expected = np.mean([Predictor(run).predict_batch(view).probabilities for view in views], axis=0)
    np.testing.assert_allclose(ensemble_probabilities([run], images, tta=True), expected, atol=1e-7)
    evaluation = evaluate_ensemble([run.path], dataset=learnable_dataset, tta=True)  # one run is enough with TTA
    assert evaluation.accuracy == pytest.approx(np.mean(expected.argmax(axis=1) == learnable_dataset.y_test))
