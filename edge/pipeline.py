"""The recogniser: detect faces, classify them, track and smooth them per face. The run loop is `edge.runner`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.capture import Capture, Captured
from edge.classify import Classifier, ModelOptions
from edge.contract import to_gray, to_model_pixels
from edge.detect import DetectorOptions, FaceDetector
from edge.model_file import default_model
from edge.results import Box, Face, FrameResult
from edge.sources import FrameSource
from edge.timing import FpsMonitor, StageTimer
from edge.track import Tracker, TrackerOptions

__all__ = ["Recognizer", "RecognizerOptions", "default_model", "first_frame"]

FRAME_STAGES = ("capture", "detect", "preprocess", "infer")
"""The stages a `FrameResult` times (drawing and writing happen after it is made)."""


@dataclass(frozen=True)
class RecognizerOptions:
    """How faces are found and classified."""

    model: ModelOptions = field(default_factory=ModelOptions)
    """The emotion model and how it runs."""
    smooth: bool = True
    """Track faces across frames and smooth their probabilities."""
    detect_every: int = 1
    """Run the detector every k-th frame and reuse its boxes in between."""
    detector: DetectorOptions = field(default_factory=DetectorOptions)
    tracker: TrackerOptions = field(default_factory=TrackerOptions)

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {self.detect_every}")


class Recognizer:
    """Frame in, faces out: `Recognizer().recognize(bgr_frame) -> list[Face]`; `stream(source)` for results."""

    def __init__(self, options: RecognizerOptions = RecognizerOptions()) -> None:
        self.options = options
        self.model_path = options.model.resolved_path
        self.classifier = Classifier.from_options(options.model)
        self.detector = FaceDetector(options.detector)
        self.tracker = Tracker(options.tracker) if options.smooth else None
        self.timer = StageTimer()
        self.fps = FpsMonitor()
        self._frame_index = 0
        self._boxes: list[Box] = []

    def recognize(self, frame: np.ndarray) -> list[Face]:
        """Faces in a BGR (or gray) frame, largest first."""
        gray = to_gray(frame)
        with self.timer.stage("detect"):
            if self._frame_index % self.options.detect_every == 0:
                self._boxes = self.detector.detect(gray)
            self._frame_index += 1
        boxes = [b for b in self._boxes if b.w > 0 and b.h > 0]
        classifier = self.classifier
        with self.timer.stage("preprocess"):
            pixels = np.stack([to_model_pixels(b.crop(gray), classifier.info.input) for b in boxes]) \
                if boxes else np.zeros((0, *classifier.info.input.shape), np.uint8)
        with self.timer.stage("infer"):
            predictions = classifier.predict(pixels)
        faces = [Face(box, prediction) for box, prediction in zip(boxes, predictions)]
        return self.tracker.update(faces) if self.tracker is not None else faces

    def process(self, captured: Captured) -> FrameResult:
        """The result of one captured frame: its faces, the FPS so far and this frame's stage times."""
        faces = self.recognize(captured.image)
        self.fps.tick()
        stages = {k: v for k, v in self.timer.latest().items() if k in FRAME_STAGES}
        return FrameResult(captured.index, captured.time, captured.name, tuple(faces), self.fps.fps,
                           captured.dropped, stages)

    def stream(self, source: FrameSource, loop: bool = False) -> Iterator[tuple[np.ndarray, FrameResult]]:
        """(frame, result) for every frame of a source, read ahead in a capture thread; the source is
        closed at the end."""
        with Capture(source, loop=loop) as capture:
            while True:
                with self.timer.stage("capture"):
                    captured = next(capture, None)
                if captured is None:
                    return
                yield captured.image, self.process(captured)


def first_frame(path: Path) -> np.ndarray:
    """Read one image as BGR (for the API examples and tests)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: cannot read this image")
    return image
