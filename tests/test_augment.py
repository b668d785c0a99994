"""Training augmentation ops: random erasing, mixup and CutMix on TensorFlow batches."""

import numpy as np
import pytest


def test_random_erasing_replaces_one_rectangle_per_chosen_face():
    import tensorflow as tf

    from train.augment import erase_rectangles

    faces = tf.fill([64, 48, 48, 1], 100.0)
    assert np.array_equal(erase_rectangles(faces, 0.0).numpy(), faces.numpy())
    changed = erase_rectangles(faces, 1.0).numpy()[..., 0] != 100.0
    for mask in changed:
        rows, cols = np.nonzero(mask)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert 0.015 < mask.mean() < 0.26 and mask.sum() / box > 0.95  # one filled rectangle


def _labelled_batch(side: int):
    """64 flat faces whose pixel value is their class (0-6), one-hot targets, loss weights class + 1."""
    import tensorflow as tf

    classes = np.arange(64) % 7
    pixels = tf.constant(np.broadcast_to(classes[:, None, None, None], (64, side, side, 1)).astype("float32"))
    targets = tf.constant(np.eye(7, dtype="float32")[classes])
    weights = tf.constant((classes + 1).astype("float32"))
    return classes, pixels, targets, weights


def test_mixup_blends_faces_targets_and_weights_alike():
    from train.augment import mix_pairs

    classes, pixels, targets, weights = _labelled_batch(side=4)
    mixed, soft, weight = (t.numpy() for t in mix_pairs(pixels, targets, weights, alpha=0.4))
    assert np.allclose(soft.sum(1), 1.0) and (soft.max(1) >= 0.5 - 1e-6).all()
    assert np.allclose(mixed.mean(axis=(1, 2, 3)), soft @ np.arange(7), atol=1e-5)
    assert np.allclose(weight, soft @ np.arange(1, 8), atol=1e-5)
    assert (soft.max(1) < 0.999).mean() > 0.5  # most faces really are blends


def test_cutmix_pastes_a_square_and_mixes_targets_by_its_area():
    from train.augment import cut_pairs

    classes, pixels, targets, weights = _labelled_batch(side=48)
    mixed, soft, weight = (t.numpy() for t in cut_pairs(pixels, targets, weights, share=1.0))
    assert np.allclose(soft.sum(1), 1.0) and (soft.max(1) >= 0.5 - 1e-6).all()
    for face, target, own in zip(mixed[..., 0], soft, classes):
        pasted = face != own
        if pasted.any():
            rows, cols = np.nonzero(pasted)
            assert (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1) == pasted.sum()  # one rectangle
            assert target[own] == pytest.approx(1 - pasted.mean(), abs=1e-5)
    assert np.allclose(weight, soft @ np.arange(1, 8), atol=1e-5)
    assert (soft.max(1) < 0.999).mean() > 0.5  # most faces really are mixed
    kept, kept_targets, _ = cut_pairs(pixels, targets, weights, share=0.0)
    assert np.array_equal(kept.numpy(), pixels.numpy()) and np.array_equal(kept_targets.numpy(), targets.numpy())
