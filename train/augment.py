"""Training-time augmentation: the options a run chooses, the TensorFlow ops, and the tf.data stream.

Every face gets a random affine warp and a brightness/contrast change (`Jitter`, fixed); a run may add
random erasing, mixup or CutMix (`AugmentOptions`, fer-train's --erasing, --mixup, --cutmix). TensorFlow
is imported only when a stream is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.contract import FER2013_LABELS, InputSpec, normalize
from train.data import FaceSet


@dataclass(frozen=True)
class AugmentOptions:
    """The augmentation a training run chooses beyond the fixed `Jitter`; saved in report.json's config."""

    erasing: float = 0.0
    """Random erasing: the share of training faces that get one random rectangle replaced by noise."""
    mixup: float = 0.0
    """Mixup: blend training faces and their targets in pairs, Beta(mixup, mixup) (0 = off; 0.2 is usual)."""
    cutmix: float = 0.0
    """CutMix: the share of training faces that get a square from another face of the batch pasted in
    (up to half the face; target and loss weight mixed by area). 0 = off. Not together with mixup."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.erasing <= 1.0 or not 0.0 <= self.cutmix <= 1.0 or self.mixup < 0:
            raise ValueError(f"erasing and cutmix must be between 0 and 1 and mixup at least 0, "
                             f"got {self.erasing}, {self.cutmix}, {self.mixup}")
        if self.mixup and self.cutmix:
            raise ValueError("choose mixup or cutmix, not both")


@dataclass(frozen=True)
class Jitter:
    """Random geometry and photometry applied to every training face (on 0..255 pixels)."""

    flip: bool = True
    """Mirror half the faces left-right."""
    rotation: float = 10.0
    """Largest rotation, degrees."""
    shift: float = 0.1
    """Largest shift, as a share of the side."""
    zoom: float = 0.1
    """Largest zoom in or out, as a share."""
    brightness: float = 0.15
    """Largest brightness change, as a share of 255."""
    contrast: float = 0.2
    """Largest contrast change, as a share."""


def jitter_batch(pixels, jitter: Jitter):
    """Jitter a float batch (n, h, w, c) of 0..255 pixels with one affine warp per image (TensorFlow ops)."""
    import tensorflow as tf

    a = jitter
    n = tf.shape(pixels)[0]
    height, width = tf.cast(tf.shape(pixels)[1], tf.float32), tf.cast(tf.shape(pixels)[2], tf.float32)
    angle = tf.random.uniform([n], -a.rotation, a.rotation) * (math.pi / 180.0)
    scale = 1.0 + tf.random.uniform([n], -a.zoom, a.zoom)
    mirror = tf.where(tf.random.uniform([n]) < 0.5, -1.0, 1.0) if a.flip else tf.ones([n])
    dx = tf.random.uniform([n], -a.shift, a.shift) * width
    dy = tf.random.uniform([n], -a.shift, a.shift) * height
    # The inverse map (output -> input pixel) about the image centre, as ImageProjectiveTransformV3 wants.
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a0, a1 = cos * mirror, -sin
    b0, b1 = sin * mirror, cos
    transforms = tf.stack([a0, a1, cx - a0 * cx - a1 * cy + dx, b0, b1, cy - b0 * cx - b1 * cy + dy,
                           tf.zeros([n]), tf.zeros([n])], axis=1)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=pixels, transforms=transforms, output_shape=tf.shape(pixels)[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="NEAREST")
    mean = tf.reduce_mean(warped, axis=[1, 2, 3], keepdims=True)
    contrast = 1.0 + tf.random.uniform([n, 1, 1, 1], -a.contrast, a.contrast)
    brightness = tf.random.uniform([n, 1, 1, 1], -a.brightness, a.brightness) * 255.0
    return tf.clip_by_value((warped - mean) * contrast + mean + brightness, 0.0, 255.0)


def rectangle_masks(height, width, top, left, box_height, box_width):
    """[n, height, width] booleans, true inside each face's rectangle (all arguments in one dtype)."""
    import tensorflow as tf

    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    return ((rows >= top[:, None, None]) & (rows < (top + box_height)[:, None, None])
            & (cols >= left[:, None, None]) & (cols < (left + box_width)[:, None, None]))


def blend_pairs(x, partner, own_share):
    """Each row of `x` mixed with row `partner` of it: `own_share` of itself, the rest of its partner."""
    import tensorflow as tf

    s = tf.reshape(own_share, [-1] + [1] * (len(x.shape) - 1))
    return s * x + (1 - s) * tf.gather(x, partner)


def erase_rectangles(pixels, share: float):
    """Replace one random rectangle (2-25% of the area, aspect 0.3-3.3) by uniform noise in `share` of the faces."""
    import tensorflow as tf

    n = tf.shape(pixels)[0]
    height, width = tf.cast(tf.shape(pixels)[1], tf.float32), tf.cast(tf.shape(pixels)[2], tf.float32)
    area = tf.random.uniform([n], 0.02, 0.25) * height * width
    aspect = tf.exp(tf.random.uniform([n], math.log(0.3), math.log(1 / 0.3)))
    h = tf.minimum(tf.sqrt(area * aspect), height)
    w = tf.minimum(tf.sqrt(area / aspect), width)
    top = tf.random.uniform([n]) * (height - h)
    left = tf.random.uniform([n]) * (width - w)
    inside = rectangle_masks(height, width, top, left, h, w)
    chosen = tf.random.uniform([n, 1, 1]) < share
    mask = tf.cast(inside & chosen, pixels.dtype)[..., None]
    noise = tf.random.uniform(tf.shape(pixels), 0.0, 255.0)
    return pixels * (1 - mask) + noise * mask


def mix_pairs(pixels, targets, weights, alpha: float):
    """Mixup: each face (its target and loss weight too) blended with another face of the batch.

    The blend factor is drawn from Beta(alpha, alpha) per face and folded to at least 0.5, so each
    face stays the larger part of its own mix.
    """
    import tensorflow as tf

    n = tf.shape(pixels)[0]
    first, second = tf.random.gamma([n], alpha), tf.random.gamma([n], alpha)
    share = first / (first + second)
    share = tf.maximum(share, 1 - share)
    partner = tf.random.shuffle(tf.range(n))
    return (blend_pairs(pixels, partner, share), blend_pairs(targets, partner, share),
            None if weights is None else blend_pairs(weights, partner, share))


def cut_pairs(pixels, targets, weights, share: float):
    """CutMix: in `share` of the faces, a square from another face of the batch (same place) is pasted in.

    The square covers a uniform 0-50% of the face, so each face stays the larger part of its own mix;
    its target and loss weight are mixed by the pasted area.
    """
    import tensorflow as tf

    n = tf.shape(pixels)[0]
    height, width = tf.shape(pixels)[1], tf.shape(pixels)[2]
    cut = tf.where(tf.random.uniform([n]) < share, tf.random.uniform([n], 0.0, 0.5), 0.0)
    side_h = tf.cast(tf.round(tf.sqrt(cut) * tf.cast(height, tf.float32)), tf.int32)
    side_w = tf.cast(tf.round(tf.sqrt(cut) * tf.cast(width, tf.float32)), tf.int32)
    top = tf.cast(tf.random.uniform([n]) * tf.cast(height - side_h + 1, tf.float32), tf.int32)
    left = tf.cast(tf.random.uniform([n]) * tf.cast(width - side_w + 1, tf.float32), tf.int32)
    mask = tf.cast(rectangle_masks(height, width, top, left, side_h, side_w), pixels.dtype)[..., None]
    partner = tf.random.shuffle(tf.range(n))
    kept = 1 - tf.reduce_mean(mask, axis=[1, 2, 3])  # the share of its own face, after rounding
    mixed = pixels * (1 - mask) + tf.gather(pixels, partner) * mask
    return (mixed, blend_pairs(targets, partner, kept),
            None if weights is None else blend_pairs(weights, partner, kept))


def make_dataset(faces: FaceSet, spec: InputSpec, batch_size: int, *, training: bool, seed: int,
                 weights: np.ndarray | None = None, targets: np.ndarray | None = None,
                 jitter: Jitter = Jitter(), augment: AugmentOptions = AugmentOptions()):
    """A tf.data pipeline: uint8 pixels -> (augment) -> the contract's normalize -> batches.

    `targets` are per-face class distributions (soft labels); by default the one-hot labels. Training
    faces are jittered, then erased, and after normalization mixed in pairs (`mix_pairs`) or cut and
    pasted (`cut_pairs`), as `augment` says.
    """
    import tensorflow as tf

    if targets is None:
        targets = np.eye(len(FER2013_LABELS), dtype=np.float32)[faces.labels]
    parts: tuple = (faces.images, targets)
    if weights is not None:
        parts += (weights[faces.labels].astype(np.float32),)
    data = tf.data.Dataset.from_tensor_slices(parts)
    if training:
        data = data.shuffle(len(faces), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size, drop_remainder=training)
    if training:
        tf.random.set_seed(seed)

    def prepare(images, batch_targets, *rest):
        pixels = tf.cast(images, tf.float32)
        if training:
            pixels = jitter_batch(pixels, jitter)
            if augment.erasing > 0:
                pixels = erase_rectangles(pixels, augment.erasing)
        pixels = normalize(pixels, spec)
        if training and augment.mixup > 0:
            pixels, batch_targets, weight = mix_pairs(pixels, batch_targets, rest[0] if rest else None, augment.mixup)
            rest = () if weight is None else (weight,)
        if training and augment.cutmix > 0:
            pixels, batch_targets, weight = cut_pairs(pixels, batch_targets, rest[0] if rest else None,
                                                      augment.cutmix)
            rest = () if weight is None else (weight,)
        return (pixels, batch_targets, *rest)

    return data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

