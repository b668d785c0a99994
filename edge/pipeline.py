"""The edge pipeline: detect faces, classify them, smooth per face; and the run loop around it."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.classify import Classifier
from edge.contract import to_gray, to_model_pixels
from edge.detect import Box, DetectorOptions, FaceDetector
from edge.render import Annotator
from edge.sources import FrameSource, SourceOptions, open_source
from edge.timing import FpsMonitor, StageTimer
from edge.track import Tracker, TrackerOptions

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "fer_compact_int8.tflite"


def default_model() -> Path:
    """The shipped int8 model: `models/` of a checkout, else the installed `edge.models` package."""
    checkout = Path(__file__).resolve().parent.parent / "models" / DEFAULT_MODEL_NAME
    if checkout.is_file():
        return checkout
    try:
        return Path(str(resources.files("edge.models") / DEFAULT_MODEL_NAME))
    except ModuleNotFoundError:
        return checkout


@dataclass(frozen=True)
class Face:
    """One recognised face: where it is, its emotion, and the probabilities in label order."""

    box: Box
    label: str
    score: float
    probabilities: dict[str, float]
    id: int = 0
    """Stable across frames while the face is tracked (0 when smoothing is off)."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "box": self.box.as_list(), "label": self.label, "score": round(self.score, 4),
                "probs": {k: round(v, 4) for k, v in self.probabilities.items()}}


@dataclass(frozen=True)
class RecognizerOptions:
    """How faces are found and classified."""

    model: Path | None = None
    """A .tflite model (default: the shipped int8 model)."""
    threads: int = 1
    """Interpreter threads."""
    interpreter: str = "auto"
    """auto (ai-edge-litert, then tflite-runtime, then tensorflow.lite) or one of those names."""
    smooth: bool = True
    """Track faces across frames and smooth their probabilities."""
    flip: bool = False
    """Average each face's probabilities with its mirror image's (about 2x classification time)."""
    detect_every: int = 1
    """Run the detector every k-th frame and reuse its boxes in between."""
    detector: DetectorOptions = field(default_factory=DetectorOptions)
    tracker: TrackerOptions = field(default_factory=TrackerOptions)

    def __post_init__(self) -> None:
        if self.threads < 1 or self.detect_every < 1:
            raise ValueError(f"threads and detect_every must be at least 1 ({self.threads}, {self.detect_every})")


class Recognizer:
    """Frame in, faces out: `Recognizer().recognize(bgr_frame) -> list[Face]`."""

    def __init__(self, options: RecognizerOptions = RecognizerOptions()) -> None:
        self.options = options
        self.model_path = Path(options.model) if options.model else default_model()
        self.classifier = Classifier.from_file(self.model_path, options.threads, options.interpreter, options.flip)
        self.detector = FaceDetector(options.detector)
        self.tracker = Tracker(options.tracker) if options.smooth else None
        self.timer = StageTimer()
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
                if boxes else None
        with self.timer.stage("infer"):
            probabilities = classifier.probabilities_of_pixels(pixels) if pixels is not None else []
        ids = [0] * len(boxes)
        if self.tracker is not None:
            tracked = self.tracker.update(boxes, list(probabilities))
            ids = [face_id for face_id, _ in tracked]
            probabilities = [probs for _, probs in tracked]
        labels = classifier.labels
        faces = []
        for box, face_id, probs in zip(boxes, ids, probabilities):
            best = int(np.argmax(probs))
            faces.append(Face(box, labels[best], float(probs[best]),
                              {label: float(p) for label, p in zip(labels, probs)}, face_id))
        return faces

    def stream(self, source: FrameSource) -> Iterator[tuple[np.ndarray, list[Face]]]:
        """(frame, faces) for every frame of a source; the source is closed at the end."""
        try:
            for frame in source.frames():
                yield frame, self.recognize(frame)
        finally:
            source.close()


@dataclass(frozen=True)
class RunOptions:
    """The run loop: how long, and how often to report."""

    max_frames: int = 0
    """Stop after this many frames (0 = until the source ends or Ctrl-C)."""
    report_every: float = 5.0
    """Seconds between FPS lines on the terminal (0 = never)."""
    draw: bool = True
    """Draw boxes and labels (needed for a window or a saved video)."""


@dataclass
class Summary:
    """What a run did."""

    frames: int = 0
    faces: int = 0
    frames_with_faces: int = 0
    seconds: float = 0.0
    bad_frames: int = 0
    reconnects: int = 0
    stopped_by: str = "end of source"
    stages: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "faces": self.faces, "frames_with_faces": self.frames_with_faces,
                "seconds": round(self.seconds, 3), "fps": round(self.fps, 2), "bad_frames": self.bad_frames,
                "reconnects": self.reconnects, "stopped_by": self.stopped_by,
                "stages_ms": {k: {m: round(v, 3) for m, v in s.items()} for k, s in self.stages.items()}}

    def format(self) -> str:
        lines = [f"{self.frames} frames, {self.faces} faces ({self.frames_with_faces} frames with a face), "
                 f"{self.fps:.1f} FPS mean over {self.seconds:.1f} s; stopped by {self.stopped_by}"]
        if self.bad_frames or self.reconnects:
            lines.append(f"skipped {self.bad_frames} bad frames, {self.reconnects} reconnections")
        lines += [f"  {name:<10} p50 {s['p50']:7.2f} ms  p95 {s['p95']:7.2f} ms" for name, s in self.stages.items()]
        return "\n".join(lines)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def run(recognizer: Recognizer, source: SourceOptions | FrameSource, run_options: RunOptions = RunOptions(),
        jsonl=None, video=None, window=None, live=None) -> Summary:
    """Run the pipeline until the source ends, `max_frames`, a closed window, Ctrl-C or SIGTERM.

    Sinks are finalized and the source released whatever happens; returns the run's summary.
    `live` (an `edge.serve.LiveServer`) gets each annotated frame and its JSONL record.
    """
    source = open_source(source) if isinstance(source, SourceOptions) else source
    if video is not None:
        video.fps = getattr(source, "fps", video.fps)
    timer, fps_monitor, summary = recognizer.timer, FpsMonitor(), Summary()
    annotator = Annotator()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_stop) if in_main_thread else None
    started = last_report = time.perf_counter()
    frames = source.frames()
    try:
        while True:
            with timer.stage("capture"):
                frame = next(frames, None)
            if frame is None:
                break
            faces = recognizer.recognize(frame)
            fps_monitor.tick()
            summary.frames += 1
            summary.faces += len(faces)
            summary.frames_with_faces += bool(faces)
            with timer.stage("render"):
                if run_options.draw and (video is not None or window is not None or live is not None):
                    annotator.annotate(frame, faces, fps_monitor.fps)
                if video is not None:
                    video.write(frame)
                if window is not None:
                    window.write(frame)
                if jsonl is not None or live is not None:
                    record = {"frame": summary.frames - 1, "time": round(time.time(), 3),
                              "faces": [f.to_dict() for f in faces], "fps": round(fps_monitor.fps, 2)}
                if jsonl is not None:
                    jsonl.write(record)
                if live is not None:
                    live.publish(frame, record, timer)
            now = time.perf_counter()
            if run_options.report_every and now - last_report >= run_options.report_every:
                log.info("%d frames, %.1f FPS, %d faces in this frame", summary.frames, fps_monitor.fps, len(faces))
                last_report = now
            if window is not None and window.closed:
                summary.stopped_by = "window closed"
                break
            if run_options.max_frames and summary.frames >= run_options.max_frames:
                summary.stopped_by = "max frames"
                break
    except KeyboardInterrupt:
        summary.stopped_by = "Ctrl-C"
    except _Stop as stop:
        summary.stopped_by = str(stop)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        summary.seconds = time.perf_counter() - started
        frames.close()
        source.close()
        for sink in (jsonl, video, window, live):
            if sink is not None:
                sink.close()
    summary.bad_frames, summary.reconnects = source.stats.bad_frames, source.stats.reconnects
    summary.stages = timer.summary()
    return summary


def first_frame(path: Path) -> np.ndarray:
    """Read one image as BGR (for the API examples and tests)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: cannot read this image")
    return image
