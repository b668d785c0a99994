"""Haar-cascade face detection on a downscaled grayscale frame, boxes in full-frame pixels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.results import Box


@dataclass(frozen=True)
class DetectorOptions:
    """Haar detection settings; cost is set mostly by detect_width, min_face and scale_factor."""

    detect_width: int = 240
    """Frames wider than this are downscaled to this width before detection (pixels; 0 = never)."""
    scale_factor: float = 1.2
    """Image-pyramid step of the cascade (> 1; smaller finds more faces, slower)."""
    min_neighbors: int = 5
    """Overlapping detections needed to keep a face (higher = fewer false faces)."""
    min_face: int = 80
    """Smallest face side to find, in full-frame pixels."""
    cascade: str = "haarcascade_frontalface_default.xml"
    """Cascade file: a name in OpenCV's bundled data folder, or a path."""

    def __post_init__(self) -> None:
        if self.scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be above 1, got {self.scale_factor}")
        if self.min_neighbors < 0 or self.min_face < 1 or self.detect_width < 0:
            raise ValueError(f"bad detector options: min_neighbors={self.min_neighbors}, "
                             f"min_face={self.min_face}, detect_width={self.detect_width}")


def cascade_path(name: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    bundled = Path(cv2.data.haarcascades) / name
    if not bundled.is_file():
        raise FileNotFoundError(f"{name}: no such cascade (looked in {cv2.data.haarcascades})")
    return bundled


class FaceDetector:
    """Finds frontal faces with OpenCV's Haar cascade."""

    def __init__(self, options: DetectorOptions = DetectorOptions()) -> None:
        self.options = options
        path = cascade_path(options.cascade)
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ValueError(f"{path}: not a valid cascade file")

    def detect(self, gray: np.ndarray) -> list[Box]:
        """Faces in a full-size grayscale frame, largest first."""
        o = self.options
        height, width = gray.shape[:2]
        factor = o.detect_width / width if o.detect_width and width > o.detect_width else 1.0
        small = cv2.resize(gray, (round(width * factor), round(height * factor)),
                           interpolation=cv2.INTER_AREA) if factor < 1.0 else gray
        side = max(12, round(o.min_face * factor))
        found = self._cascade.detectMultiScale(small, scaleFactor=o.scale_factor, minNeighbors=o.min_neighbors,
                                               minSize=(side, side))
        boxes = [Box(round(x / factor), round(y / factor), round(w / factor), round(h / factor))
                 for x, y, w, h in (found if len(found) else [])]
        return sorted(boxes, key=lambda b: b.w * b.h, reverse=True)
