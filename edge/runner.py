"""The run loop: frames from a source through the recogniser into sinks, until something ends it."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.capture import Capture
from edge.pipeline import Recognizer
from edge.render import Annotator
from edge.sinks import Sink
from edge.sources import FrameSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """How long a run lasts, how it reads frames, and how often it reports."""

    max_frames: int = 0
    """Stop after this many frames (0 = until the source ends, Ctrl-C or SIGTERM)."""
    loop: bool = False
    """Replay a file source from the start each time it ends."""
    report_every: float = 5.0
    """Seconds between FPS lines on the terminal (0 = never)."""
    draw: bool = True
    """Draw boxes and labels on frames for sinks that show or store them."""
    capture_thread: bool = True
    """Read and decode frames ahead in their own thread (False: in the pipeline's thread)."""
    detect_thread: bool = True
    """Detect faces one frame ahead in their own thread, beside classification (needs capture_thread)."""

    def __post_init__(self) -> None:
        if self.max_frames < 0 or self.report_every < 0:
            raise ValueError(f"max_frames and report_every must not be negative "
                             f"(got {self.max_frames}, {self.report_every})")
        if self.detect_thread and not self.capture_thread:
            raise ValueError("detecting ahead in a thread needs the capture thread")


@dataclass
class Summary:
    """What a run did."""

    source: str = ""
    detector: str = ""
    model: str = ""
    """The emotion model's file name."""
    frames: int = 0
    faces: int = 0
    frames_with_faces: int = 0
    seconds: float = 0.0
    bad_frames: int = 0
    dropped: int = 0
    reconnects: int = 0
    stopped_by: str = "end of source"
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    outputs: dict[str, dict[str, int]] = field(default_factory=dict)
    """Figures of sinks that count their own (`figures()`), e.g. {"mqtt": {"sent": 120, "dropped": 3}}."""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "detector": self.detector, "model": self.model, "frames": self.frames,
                "faces": self.faces,
                "frames_with_faces": self.frames_with_faces, "seconds": round(self.seconds, 3),
                "fps": round(self.fps, 2), "bad_frames": self.bad_frames, "dropped": self.dropped,
                "reconnects": self.reconnects, "stopped_by": self.stopped_by,
                "stages_ms": {k: {m: round(v, 3) for m, v in s.items()} for k, s in self.stages.items()},
                **self.outputs}

    def format(self) -> str:
        lines = [f"{self.frames} frames, {self.faces} faces ({self.frames_with_faces} frames with a face), "
                 f"{self.fps:.1f} FPS mean over {self.seconds:.1f} s; detector {self.detector}; model {self.model}; "
                 f"stopped by {self.stopped_by}"]
        if self.bad_frames or self.reconnects or self.dropped:
            lines.append(f"skipped {self.bad_frames} bad frames, dropped {self.dropped} stale frames, "
                         f"{self.reconnects} reconnections")
        lines += [f"{name}: " + ", ".join(f"{v} {k}" for k, v in figures.items())
                  for name, figures in self.outputs.items()]
        lines += [f"  {name:<10} p50 {s['p50']:7.2f} ms  p95 {s['p95']:7.2f} ms" for name, s in self.stages.items()]
        return "\n".join(lines)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def run(recognizer: Recognizer, source: FrameSource, sinks: Sequence[Sink] = (),
        options: RunOptions = RunOptions()) -> Summary:
    """Run until the source ends, `max_frames`, a sink asks to stop (a closed window), Ctrl-C or SIGTERM.

    Those are clean ends: every sink is finalised. An error discards what the sinks must not keep, and
    propagates. Either way the capture thread is joined and the source released. Returns the summary.
    """
    timer, summary = recognizer.timer, Summary(source=source.name, detector=recognizer.detector.name,
                                               model=recognizer.model_path.name)
    annotator = Annotator()
    draw = options.draw and any(sink.draws for sink in sinks)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_stop) if in_main_thread else None
    started = last_report = time.perf_counter()
    try:
        with contextlib.ExitStack() as outputs:
            for sink in sinks:
                outputs.enter_context(sink)
            capture = Capture(source, loop=options.loop, threaded=options.capture_thread)
            frames = outputs.enter_context(recognizer.frames(capture, options.detect_thread))
            try:
                while True:
                    with timer.stage("capture"):
                        item = next(frames, None)
                    if item is None:
                        summary.stopped_by = "source stopped delivering" if source.stats.lost else "end of source"
                        break
                    captured, found = item
                    result = recognizer.process(captured, found)
                    summary.frames += 1
                    summary.faces += len(result.faces)
                    summary.frames_with_faces += bool(result.faces)
                    with timer.stage("render"):
                        frame = annotator.annotate(captured.image, result) if draw else captured.image
                        for sink in sinks:
                            sink.write(frame, result)
                    now = time.perf_counter()
                    if options.report_every and now - last_report >= options.report_every:
                        log.info("%d frames, %.1f FPS, %d faces in this frame", summary.frames,
                                 result.fps or 0.0, len(result.faces))
                        last_report = now
                    stop = next((sink.stop_reason for sink in sinks if sink.stop_reason), None)
                    if stop:
                        summary.stopped_by = stop
                        break
                    if options.max_frames and summary.frames >= options.max_frames:
                        summary.stopped_by = "max frames"
                        break
            except KeyboardInterrupt:
                summary.stopped_by = "Ctrl-C"
            except _Stop as stop_signal:
                summary.stopped_by = str(stop_signal)
            summary.dropped = capture.dropped
            summary.seconds = time.perf_counter() - started  # the frames' time, not the outputs' closing
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        summary.seconds = summary.seconds or time.perf_counter() - started
    summary.bad_frames, summary.reconnects = source.stats.bad_frames, source.stats.reconnects
    summary.stages = timer.summary()
    for sink in sinks:  # after they closed, so their counts are final
        if hasattr(sink, "figures"):
            summary.outputs.update(sink.figures())
    return summary
