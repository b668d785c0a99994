"""The preprocessing contract: one face crop in, one model input tensor out.

Training, calibration, evaluation and the live runtime all call these functions, so the same
pixels give the same tensor everywhere. The model's own metadata (an `InputSpec`) drives them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

# FER2013's own index order (fer2013.csv): the label order of every model this project trains.
FER2013_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@dataclass(frozen=True)
class InputSpec:
    """What a model expects: size, channels and the pixel normalization `x * scale + offset`."""

    height: int = 48
    """Input height in pixels."""
    width: int = 48
    """Input width in pixels."""
    channels: int = 1
    """1 for grayscale; 3 for grayscale replicated to three channels (faces are always gray)."""
    scale: float = 1.0 / 255.0
    """Multiplier applied to 0..255 pixel values."""
    offset: float = 0.0
    """Added after scaling: 0 gives [0, 1]; with scale 2/255, -1 gives [-1, 1]."""

    def __post_init__(self) -> None:
        if self.height < 8 or self.width < 8:
            raise ValueError(f"input size {self.height}x{self.width} is too small (minimum 8x8)")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """The (height, width, channels) of one input tensor."""
        return (self.height, self.width, self.channels)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        return cls(**{k: data[k] for k in ("height", "width", "channels", "scale", "offset") if k in data})


def to_gray(image: np.ndarray) -> np.ndarray:
    """A uint8 grayscale view of a BGR, BGRA or gray image."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"expected a gray, BGR or BGRA image, got shape {image.shape}")


def to_model_pixels(face: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Turn a face crop (any size, BGR or gray, uint8) into uint8 pixels of shape `spec.shape`."""
    if face.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {face.dtype}")
    if face.size == 0:
        raise ValueError("empty face crop")
    gray = to_gray(face)
    if gray.shape != (spec.height, spec.width):
        shrinking = gray.shape[0] > spec.height
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        gray = cv2.resize(gray, (spec.width, spec.height), interpolation=interpolation)
    if spec.channels == 3:
        return np.repeat(gray[:, :, None], 3, axis=2)
    return gray[:, :, None]


def normalize(pixels: Any, spec: InputSpec) -> Any:
    """Scale 0..255 pixels to the model's range. Works on NumPy arrays and TensorFlow tensors alike."""
    return pixels * spec.scale + spec.offset


def preprocess(face: np.ndarray, spec: InputSpec) -> np.ndarray:
    """The whole contract: a face crop to a float32 tensor of shape `spec.shape`."""
    return normalize(to_model_pixels(face, spec).astype(np.float32), spec).astype(np.float32)
