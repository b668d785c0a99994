"""Associate faces across frames and smooth their probabilities so labels don't flicker."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import count

import numpy as np

from edge.results import Box, Face, Prediction


@dataclass(frozen=True)
class TrackerOptions:
    """Face association and smoothing."""

    smoothing: float = 0.6
    """Weight of the past in the exponential moving average of probabilities (0 = no smoothing)."""
    min_iou: float = 0.3
    """Overlap needed to call a box the same face as in the previous frame."""
    max_missed: int = 5
    """Frames a face may go unseen before it is forgotten."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing}")
        if not 0.0 < self.min_iou <= 1.0:
            raise ValueError(f"min_iou must be in (0, 1], got {self.min_iou}")


@dataclass
class _Track:
    id: int
    box: Box
    probabilities: np.ndarray
    missed: int = 0


@dataclass
class Tracker:
    """Greedy IoU matching of this frame's boxes to the known faces, then an EMA per face."""

    options: TrackerOptions = field(default_factory=TrackerOptions)
    _tracks: list[_Track] = field(default_factory=list)
    _ids: count = field(default_factory=lambda: count(1))

    def reset(self) -> None:
        """Forget every face (ids keep counting, so a face after a cut never reuses an earlier id)."""
        self._tracks = []

    def update(self, faces: list[Face]) -> list[Face]:
        """The same faces, in the order given, each with its track id and smoothed prediction."""
        pairs = sorted(((face.box.iou(t.box), i, j) for i, face in enumerate(faces)
                        for j, t in enumerate(self._tracks)), reverse=True)
        matched: dict[int, int] = {}
        used: set[int] = set()
        for overlap, i, j in pairs:
            if overlap < self.options.min_iou:
                break
            if i not in matched and j not in used:
                matched[i] = j
                used.add(j)
        alpha = self.options.smoothing
        tracked = []
        for i, face in enumerate(faces):
            if i in matched:
                track = self._tracks[matched[i]]
                track.box, track.missed = face.box, 0
                track.probabilities = alpha * track.probabilities + (1 - alpha) * face.prediction.vector
            else:
                track = _Track(next(self._ids), face.box, face.prediction.vector)
                self._tracks.append(track)
                used.add(len(self._tracks) - 1)
            labels = list(face.prediction.probabilities)
            tracked.append(replace(face, id=track.id, prediction=Prediction.of(labels, track.probabilities)))
        for j, track in enumerate(self._tracks):
            if j not in used:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.options.max_missed]
        return tracked
