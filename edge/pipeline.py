"""The recogniser: detect faces, classify them, track and smooth them per face. The run loop is `edge.runner`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.ahead import Ahead
from edge.capture import Capture, Captured
from edge.classify import Classifier, ModelOptions
from edge.contract import to_model_pixels
from edge.detect import FRAMINGS, DetectorOptions, make_detector
from edge.model_file import default_model
from edge.results import Detection, Face, FrameResult
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


@dataclass(frozen=True)
class Found:
    """One frame's boxes, and the milliseconds detection took on it."""

    detections: list[Detection]
    milliseconds: float


class Recognizer:
    """Frame in, faces out: `Recognizer().recognize(bgr_frame) -> list[Face]`; `stream(source)` for results."""

    def __init__(self, options: RecognizerOptions = RecognizerOptions()) -> None:
        self.options = options
        self.model_path = options.model.resolved_path
        self.classifier = Classifier.from_options(options.model)
        self.detector = make_detector(options.detector, options.model.interpreter)
        self.framing = FRAMINGS[self.detector.name]
        self.tracker = Tracker(options.tracker) if options.smooth else None
        self.timer = StageTimer()
        self.fps = FpsMonitor()
        self._frame_index = 0
        self._detections: list[Detection] = []

    def recognize(self, frame: np.ndarray, still: bool = False) -> list[Face]:
        """Faces in a BGR (or gray) frame of a stream, largest first, tracked across calls. For a photo on
        its own pass `still=True`: the whole detector (small-face scan included) runs on it at once and
        nothing carries over from earlier frames (no tracking)."""
        return self.classify(frame, self.find(frame, still).detections, still)

    def find(self, frame: np.ndarray, still: bool = False, restarted: bool = False) -> Found:
        """The detector's half of `recognize`: this frame's boxes (every `detect_every`-th frame detected,
        the others reuse them). It may run in a thread of its own, one frame ahead of `classify`."""
        if restarted:
            self.detector.reset()
            self._frame_index = 0
            self._detections = []
        start = time.perf_counter()
        if still or self._frame_index % self.options.detect_every == 0:
            self._detections = self.detector.detect(frame, still)
        self._frame_index += 1
        milliseconds = (time.perf_counter() - start) * 1000.0
        self.timer.add("detect", milliseconds)
        return Found(self._detections, milliseconds)

    def classify(self, frame: np.ndarray, detections: list[Detection], still: bool = False,
                 restarted: bool = False) -> list[Face]:
        """The classifier's half of `recognize`: crop, classify, then track and smooth (not for a photo)."""
        if restarted and self.tracker is not None:
            self.tracker.reset()
        detections = sorted((d for d in detections if d.box.w > 0 and d.box.h > 0),
                            key=lambda d: d.box.w * d.box.h, reverse=True)
        classifier = self.classifier
        with self.timer.stage("preprocess"):
            pixels = np.stack([to_model_pixels(self.framing.crop_box(d.box).crop(frame), classifier.info.input)
                               for d in detections]) if detections \
                else np.zeros((0, *classifier.info.input.shape), np.uint8)
        with self.timer.stage("infer"):
            predictions = classifier.predict(pixels)
        faces = [Face(d.box, prediction, keypoints=d.keypoints) for d, prediction in zip(detections, predictions)]
        return self.tracker.update(faces) if self.tracker is not None and not still else faces

    def reset(self) -> None:
        """Forget earlier frames' faces, boxes and tracks (the stream was cut: a --loop replay)."""
        self.detector.reset()
        if self.tracker is not None:
            self.tracker.reset()
        self._frame_index = 0
        self._detections = []

    def close(self) -> None:
        """Stop the detector's background work."""
        self.detector.close()

    def find_captured(self, captured: Captured) -> tuple[Captured, Found]:
        """`find` on a captured frame, the frame kept with its boxes (the work of the detection thread)."""
        return captured, self.find(captured.image, captured.still, captured.restarted)

    def process(self, captured: Captured, found: Found | None = None) -> FrameResult:
        """The result of one captured frame: its faces, the FPS so far and this frame's stage times.
        `found`: its boxes when they were found already (in the detection thread)."""
        if found is None:
            found = self.find(captured.image, captured.still, captured.restarted)
        faces = self.classify(captured.image, found.detections, captured.still, captured.restarted)
        self.fps.tick()
        stages = {"detect": found.milliseconds, **self.timer.latest(("capture", "preprocess", "infer"))}
        stages = {name: stages[name] for name in FRAME_STAGES if name in stages}
        return FrameResult(captured.index, captured.time, captured.name, tuple(faces), self.fps.fps or None,
                           captured.dropped, stages, self.detector.name, self.model_path.name)

    def frames(self, capture: Capture, detect_thread: bool = True) -> Ahead[Captured, tuple[Captured, Found | None]]:
        """(captured, found) for each frame of a capture, the boxes found one frame ahead in a thread of
        their own; with `detect_thread=False`, (captured, None): `process` detects. Closing it closes the
        capture."""
        work = self.find_captured if detect_thread else _not_detected
        return Ahead(capture, work, capture.close, "fer-edge-detect", threaded=detect_thread)

    def stream(self, source: FrameSource, loop: bool = False) -> Iterator[tuple[np.ndarray, FrameResult]]:
        """(frame, result) for every frame of a source, read and detected ahead in threads; the source is
        closed at the end."""
        with self.frames(Capture(source, loop=loop)) as frames:  # closing it closes the capture
            while True:
                with self.timer.stage("capture"):
                    item = next(frames, None)
                if item is None:
                    return
                captured, found = item
                yield captured.image, self.process(captured, found)


def _not_detected(captured: Captured) -> tuple[Captured, None]:
    return captured, None


def first_frame(path: Path) -> np.ndarray:
    """Read one image as BGR (for the API examples and tests)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: cannot read this image")
    return image
