"""Face detectors behind one interface, `detect(frame) -> list[Detection]` (boxes in frame pixels), and
the crop framing that maps each detector's box to the framing the classifier was trained on.

- `blazeface` (the default): BlazeFace short-range on the whole frame every frame, plus a small-face
  scan (short-range on overlapping tiles) at most every `scan.interval` seconds, in a background
  thread; the faces only the scan found are kept until the next scan ends.
- `blazeface-full`: BlazeFace full-range on the whole frame.
- `haar`: OpenCV's Haar cascade (no model file).
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge.blazeface import BlazeFaceDetector, BlazeFaceOptions
from edge.contract import to_gray
from edge.results import Box, Detection
from edge.worker import Worker

DETECTORS = ("blazeface", "blazeface-full", "haar")


class Detector(Protocol):
    name: str

    def detect(self, frame: np.ndarray, still: bool = False) -> list[Detection]:
        """Faces in a BGR (or gray) frame, boxes in frame pixels. `still`: the frame stands alone (a photo),
        so nothing carries over from earlier frames and any scan runs on it at once."""

    def reset(self) -> None:
        """Forget what earlier frames found (the stream was cut)."""

    def close(self) -> None:
        """Stop any background work."""


@dataclass(frozen=True)
class Framing:
    """Box -> crop: a square of side `scale` x the box's side, centred `dx` box widths right and `dy` box
    heights below the box's centre. Measured per detector so crops match FER2013's framing."""

    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def crop_box(self, box: Box) -> Box:
        side = self.scale * (box.w + box.h) / 2
        cx, cy = box.x + box.w / 2 + self.dx * box.w, box.y + box.h / 2 + self.dy * box.h
        return Box(round(cx - side / 2), round(cy - side / 2), round(side), round(side))


FRAMINGS = {
    "haar": Framing(1.017, -0.004, 0.0),
    "blazeface": Framing(1.2, 0.0, 0.0),
    "blazeface-full": Framing(1.143, 0.004, -0.039),
}
"""haar and blazeface-full: medians over 600 FER2013 training faces, upscaled 5x and padded with their own
border (found: Haar 426, full range 482). blazeface (the default): the best of a grid of scales and
vertical offsets by the shipped model's accuracy on 1,355 held-out FER2013 faces so framed (68.27%; the
geometric median, 1.212x, 0.008, -0.076, scored 67.01%). Measured on 2026-11-29 by
`python scripts/measure_framing.py ../shared/data/fer2013` (see the README's crop framing)."""


@dataclass(frozen=True)
class HaarOptions:
    """Haar detection settings; cost is set mostly by detect_width, min_face and scale_factor."""

    detect_width: int = 320
    """Frames wider than this are downscaled to this width before detection (pixels; 0 = never)."""
    scale_factor: float = 1.15
    """Image-pyramid step of the cascade (> 1; smaller finds more faces, slower)."""
    min_neighbors: int = 4
    """Overlapping detections needed to keep a face (higher = fewer false faces)."""
    min_face: int = 48
    """Smallest face side to find, in full-frame pixels."""
    cascade: str = "haarcascade_frontalface_default.xml"
    """Cascade file: a name in OpenCV's bundled data folder, or a path."""

    def __post_init__(self) -> None:
        if self.scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be above 1, got {self.scale_factor}")
        if self.min_neighbors < 0 or self.min_face < 1 or self.detect_width < 0:
            raise ValueError(f"bad Haar options: min_neighbors={self.min_neighbors}, "
                             f"min_face={self.min_face}, detect_width={self.detect_width}")


def cascade_path(name: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    bundled = Path(cv2.data.haarcascades) / name
    if not bundled.is_file():
        raise FileNotFoundError(f"{name}: no such cascade (looked in {cv2.data.haarcascades})")
    return bundled


class HaarDetector:
    """Frontal faces with OpenCV's Haar cascade, on a downscaled grayscale frame."""

    name = "haar"

    def __init__(self, options: HaarOptions = HaarOptions()) -> None:
        self.options = options
        path = cascade_path(options.cascade)
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ValueError(f"{path}: not a valid cascade file")

    def detect(self, frame: np.ndarray, still: bool = False) -> list[Detection]:
        """Faces in a frame, largest first."""
        o = self.options
        gray = to_gray(frame)
        height, width = gray.shape[:2]
        factor = o.detect_width / width if o.detect_width and width > o.detect_width else 1.0
        small = cv2.resize(gray, (round(width * factor), round(height * factor)),
                           interpolation=cv2.INTER_AREA) if factor < 1.0 else gray
        side = max(12, round(o.min_face * factor))
        found = self._cascade.detectMultiScale(small, scaleFactor=o.scale_factor, minNeighbors=o.min_neighbors,
                                               minSize=(side, side))
        boxes = [Box(round(x / factor), round(y / factor), round(w / factor), round(h / factor))
                 for x, y, w, h in (found if len(found) else [])]
        return [Detection(b) for b in sorted(boxes, key=lambda b: b.w * b.h, reverse=True)]

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class ScanOptions:
    """The small-face scan of the default detector: BlazeFace short-range on overlapping tiles."""

    interval: float = 0.5
    """Seconds between the starts of two scans (0 = never: the whole-frame pass only). A scan costs about
    20 short-range passes; in the background it runs beside the pipeline on another core."""
    min_face: int = 32
    """Smallest face side the tiles are sized for, in frame pixels."""
    min_score: float = 0.75
    """Smallest score of a face the scan finds (above the whole-frame pass's: more looks, more false faces)."""
    background: bool = True
    """Run scans in a background thread (on another core); their faces join when each scan ends."""

    def __post_init__(self) -> None:
        if self.interval < 0 or self.min_face < 8 or not 0.0 < self.min_score < 1.0:
            raise ValueError(f"scan interval must be >= 0, min_face >= 8 and min_score in (0, 1), got "
                             f"{self.interval}, {self.min_face}, {self.min_score}")


@dataclass(frozen=True)
class DetectorOptions:
    """Which detector, and its settings."""

    kind: str = "blazeface"
    """blazeface (short range + small-face scan), blazeface-full or haar."""
    blazeface: BlazeFaceOptions = field(default_factory=BlazeFaceOptions)
    scan: ScanOptions = field(default_factory=ScanOptions)
    haar: HaarOptions = field(default_factory=HaarOptions)

    def __post_init__(self) -> None:
        if self.kind not in DETECTORS:
            raise ValueError(f"unknown detector {self.kind!r} (choose from {', '.join(DETECTORS)})")


SCAN_BATCH = 1
"""Tiles per invoke in a scan. One at a time keeps the scan's interpreter buffers small: 4 at once made a
scan about 12% faster (43 against 49 ms in 640x480) but the run's peak memory 7 MiB larger, and 24 at once
about 50 MB larger (measured 2026-11-29)."""
SHORT_RANGE_MIN_SIDE = 20
"""Face side, in BlazeFace short-range input pixels, from which it finds faces reliably."""


def tiles(width: int, height: int, side: int) -> list[tuple[int, int, int, int]]:
    """Square tiles (x, y, side, side) covering a frame, overlapping by half a tile, so any face up to
    half a tile wide lies whole inside one of them."""
    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        count = int(np.ceil((length - side) / (side / 2))) + 1
        return sorted({round(i * (length - side) / (count - 1)) for i in range(count)})
    return [(x, y, side, side) for y in starts(height) for x in starts(width)]


def merge(first: list[Detection], second: list[Detection], iou: float) -> list[Detection]:
    """`first`, plus each of `second` that overlaps none of them (or each other) by more than `iou`."""
    kept = list(first)
    for candidate in sorted(second, key=lambda d: -d.score):
        if all(candidate.box.iou(d.box) <= iou and not _inside(candidate.box, d.box) for d in kept):
            kept.append(candidate)
    return kept


def _inside(a: Box, b: Box) -> bool:
    """Whether most of the smaller box lies inside the larger (a face and a part of it)."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    return ix * iy > 0.6 * min(a.w * a.h, b.w * b.h)


class ScanningDetector:
    """BlazeFace short-range on the whole frame every frame, and a small-face scan on tiles."""

    name = "blazeface"

    def __init__(self, options: BlazeFaceOptions, scan: ScanOptions, interpreter: str = "auto") -> None:
        self.options, self.scan = options, scan
        self.whole = BlazeFaceDetector(options, interpreter=interpreter)
        scanning = BlazeFaceOptions(options.model, scan.min_score, options.nms_iou, options.max_faces)
        self._scanner = BlazeFaceDetector(scanning, interpreter=interpreter) if scan.interval else None
        self._last_scan = -float("inf")
        self._small: list[Detection] = []
        self._lock = threading.Lock()
        self._worker: Worker | None = None
        self._cuts = 0
        self.scans = 0

    def _scan(self, frame: np.ndarray) -> list[Detection]:
        side = round(self.whole.spec.size * self.scan.min_face / SHORT_RANGE_MIN_SIDE)
        regions = tiles(frame.shape[1], frame.shape[0], side)
        found: list[Detection] = []
        for start in range(0, len(regions), SCAN_BATCH):
            for faces in self._scanner.detect_regions(frame, regions[start:start + SCAN_BATCH]):
                found = merge(found, faces, self.options.nms_iou)
        return found

    def _scan_and_keep(self, frame: np.ndarray, cuts: int) -> None:
        found = self._scan(frame)
        with self._lock:
            if cuts == self._cuts:  # a scan of a frame from before a cut is dropped
                self._small = found
            self.scans += 1

    def detect(self, frame: np.ndarray, still: bool = False) -> list[Detection]:
        found = self.whole.detect(frame)
        if still:
            return merge(found, self._scan(frame), self.options.nms_iou) if self._scanner is not None else found
        now = time.monotonic()
        if self._scanner is not None and now - self._last_scan >= self.scan.interval:
            if not self.scan.background:
                self._last_scan = now
                self._scan_and_keep(frame, self._cuts)
            else:
                if self._worker is None:
                    self._worker = Worker(self._scan_and_keep, "fer-edge-scan")
                    weakref.finalize(self, self._worker.stop)
                if not self._worker.busy and self._worker.offer(frame.copy(), self._cuts):
                    self._last_scan = now
        with self._lock:
            small = self._small
        return merge(found, small, self.options.nms_iou)

    def reset(self) -> None:
        """Drop the held small faces and scan the next frame."""
        with self._lock:
            self._cuts += 1
            self._small = []
        self._last_scan = -float("inf")

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()


class SingleBlazeFace(BlazeFaceDetector):
    """BlazeFace on the whole frame only (the full-range model)."""

    def detect(self, frame: np.ndarray, still: bool = False) -> list[Detection]:
        return super().detect(frame)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def make_detector(options: DetectorOptions, interpreter: str = "auto") -> Detector:
    """The detector `options.kind` names; raises ModelFileError/ValueError/FileNotFoundError with one line."""
    if options.kind == "haar":
        return HaarDetector(options.haar)
    if options.kind == "blazeface-full":
        full = BlazeFaceOptions(model="full", score_threshold=options.blazeface.score_threshold,
                                nms_iou=options.blazeface.nms_iou, max_faces=options.blazeface.max_faces)
        return SingleBlazeFace(full, interpreter=interpreter)
    return ScanningDetector(options.blazeface, options.scan, interpreter)
