"""What a run did, gathered in one pass over its `FrameResult`s: per tracked face its probabilities over
time and its dominant-emotion shares, and for the run faces per frame, FPS and per-stage latency.

Memory grows with the frames and faces seen (a few numbers each), never with the records themselves, so
a 1-hour run at 30 FPS (108,000 frames) is summed in well under a second of arithmetic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from edge.results import FrameResult

AXES = ("clock", "frame")
"""What a run's time axis counts: seconds since its first frame, or frame numbers."""


def shares_of(counts: Counter) -> dict[str, float]:
    """Each label's share of the counted frames, largest first (empty when nothing was counted)."""
    total = sum(counts.values())
    return {label: count / total for label, count in counts.most_common()} if total else {}


@dataclass
class FaceTrack:
    """One tracked face (one track id) over the run."""

    id: int
    at: list[float] = field(default_factory=list)
    """Where on the time axis it was seen, one entry per frame."""
    probabilities: list[list[float]] = field(default_factory=list)
    """Its (smoothed) probabilities in each of those frames, in the run's label order."""
    labels: Counter = field(default_factory=Counter)
    """Frames per dominant emotion."""

    @property
    def frames(self) -> int:
        return len(self.at)

    def shares(self) -> dict[str, float]:
        """Share of its frames per dominant emotion, largest first."""
        return shares_of(self.labels)


@dataclass
class RunStats:
    """Add results with `add` (or build with `of`); then read the run's figures."""

    axis: str = "clock"
    """clock: seconds since the first frame (when frames were captured); frame: frame numbers."""
    source: str = ""
    detector: str = ""
    model: str = ""
    labels: tuple[str, ...] = ()
    """The emotions, in the model's order (from the first face seen)."""
    frames: int = 0
    first_time: float | None = None
    last_time: float | None = None
    dropped: int = 0
    at: list[float] = field(default_factory=list)
    """Each frame's place on the time axis."""
    faces_per_frame: list[int] = field(default_factory=list)
    fps: list[float] = field(default_factory=list)
    """Each frame's FPS (NaN before a rate was measured)."""
    stages: dict[str, list[float]] = field(default_factory=dict)
    """Milliseconds per stage, one entry per frame that timed it."""
    tracks: dict[int, FaceTrack] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.axis not in AXES:
            raise ValueError(f"axis must be one of {', '.join(AXES)}, got {self.axis!r}")

    @classmethod
    def of(cls, results: Iterable[FrameResult], axis: str = "clock") -> RunStats:
        stats = cls(axis=axis)
        for result in results:
            stats.add(result)
        return stats

    def add(self, result: FrameResult) -> None:
        if self.first_time is None:
            self.first_time = result.time
            self.source, self.detector, self.model = result.source, result.detector, result.model
        self.last_time = result.time
        at = result.time - self.first_time if self.axis == "clock" else float(result.index)
        self.frames += 1
        self.dropped += result.dropped
        self.at.append(at)
        self.faces_per_frame.append(len(result.faces))
        self.fps.append(np.nan if result.fps is None else result.fps)
        for name, milliseconds in result.stages_ms.items():
            self.stages.setdefault(name, []).append(milliseconds)
        for face in result.faces:
            if not self.labels:
                self.labels = tuple(face.probabilities)
            track = self.tracks.get(face.id)
            if track is None:
                track = self.tracks[face.id] = FaceTrack(face.id)
            track.at.append(at)
            track.probabilities.append([face.probabilities.get(label, 0.0) for label in self.labels])
            track.labels[face.label] += 1

    @property
    def seconds(self) -> float:
        """Wall-clock span from the first frame to the last."""
        return 0.0 if self.first_time is None else self.last_time - self.first_time

    @property
    def mean_fps(self) -> float:
        return (self.frames - 1) / self.seconds if self.seconds > 0 else 0.0

    @property
    def face_frames(self) -> int:
        return sum(self.faces_per_frame)

    @property
    def frames_with_faces(self) -> int:
        return sum(1 for n in self.faces_per_frame if n)

    def stage_latency(self) -> dict[str, dict[str, float]]:
        """p50 and p95 milliseconds per stage."""
        figures = {}
        for name, values in self.stages.items():
            p50, p95 = np.percentile(values, [50, 95])
            figures[name] = {"p50": float(p50), "p95": float(p95)}
        return figures

    def shares(self) -> dict[str, float]:
        """Share of all face-frames per dominant emotion, largest first."""
        return shares_of(sum((track.labels for track in self.tracks.values()), Counter()))

    def longest_tracks(self, count: int) -> list[FaceTrack]:
        """The `count` faces seen in the most frames, in order of first appearance."""
        longest = sorted(self.tracks.values(), key=lambda t: -t.frames)[:count]
        return sorted(longest, key=lambda t: t.at[0])


def downsample(at: np.ndarray, values: np.ndarray, points: int, gap: float) -> tuple[np.ndarray, np.ndarray]:
    """At most about `points` points of a series: means of runs of consecutive samples, so a long run draws
    as fast as a short one. Where two samples lie more than `gap` apart on the axis (a face out of view),
    a NaN row is put between them, so lines and areas break there instead of bridging the gap."""
    at, values = np.asarray(at, dtype=float), np.asarray(values, dtype=float)
    if len(at) == 0:
        return at, values
    breaks = np.flatnonzero(np.diff(at) > gap) + 1
    size = max(1, int(np.ceil(len(at) / max(points, 1))))
    xs, ys = [], []
    for piece_at, piece_values in zip(np.split(at, breaks), np.split(values, breaks)):
        starts = np.arange(0, len(piece_at), size)
        counts = np.diff(np.append(starts, len(piece_at)))
        xs.append(np.add.reduceat(piece_at, starts) / counts)
        ys.append(np.add.reduceat(piece_values, starts, axis=0) / counts.reshape(-1, *([1] * (values.ndim - 1))))
        xs.append(np.array([xs[-1][-1]]))
        ys.append(np.full((1, *values.shape[1:]), np.nan))
    return np.concatenate(xs[:-1]), np.concatenate(ys[:-1])


def typical_gap(at: list[float]) -> float:
    """How far apart on the axis a face may go unseen before its chart breaks: 10 typical frame spacings."""
    steps = np.diff(np.asarray(at, dtype=float))
    steps = steps[steps > 0]
    return 10.0 * float(np.median(steps)) if len(steps) else 1.0
