"""The records the pipeline's stages take and return, at the bottom of `edge/` (numpy only).

`FrameResult.to_dict` is the JSONL schema (`SCHEMA`, documented in the README); `from_dict` reads it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMA = 1
"""Version of the JSONL record; bumped when a field changes meaning or goes away (new fields keep it)."""


@dataclass(frozen=True)
class Box:
    """A face box in full-frame pixels: top-left corner, width and height."""

    x: int
    y: int
    w: int
    h: int

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The image inside the box; parts outside the image are filled by repeating its edge."""
        height, width = image.shape[:2]
        x0, y0, x1, y1 = max(self.x, 0), max(self.y, 0), min(self.x + self.w, width), min(self.y + self.h, height)
        inside = image[y0:y1, x0:x1]
        if (x0, y0, x1, y1) == (self.x, self.y, self.x + self.w, self.y + self.h) or not inside.size:
            return inside
        pad = ((y0 - self.y, self.y + self.h - y1), (x0 - self.x, self.x + self.w - x1))
        return np.pad(inside, pad + ((0, 0),) * (inside.ndim - 2), mode="edge")

    def iou(self, other: Box) -> float:
        ix = max(0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union else 0.0


@dataclass(frozen=True)
class Detection:
    """A face as a detector found it: its box in frame pixels, its score, and landmarks when the detector gives them."""

    box: Box
    score: float = 1.0
    keypoints: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class Prediction:
    """One face's emotion: the top label, its probability, and every label's probability in label order."""

    label: str
    score: float
    probabilities: dict[str, float]

    @classmethod
    def of(cls, labels: Sequence[str], probabilities: Sequence[float] | np.ndarray) -> Prediction:
        """The prediction for probabilities given in the order of `labels`."""
        values = [float(p) for p in probabilities]
        if len(values) != len(labels) or not values:
            raise ValueError(f"{len(values)} probabilities for {len(labels)} labels")
        best = int(np.argmax(values))
        return cls(labels[best], values[best], dict(zip(labels, values)))

    @property
    def vector(self) -> np.ndarray:
        """The probabilities as an array, in label order."""
        return np.fromiter(self.probabilities.values(), dtype=np.float64, count=len(self.probabilities))


@dataclass(frozen=True)
class Face:
    """One recognised face: where it is, who it is across frames, and its emotion."""

    box: Box
    prediction: Prediction
    id: int = 0
    """Stable across frames while the face is tracked (0 when tracking is off)."""
    keypoints: tuple[tuple[float, float], ...] | None = None
    """Landmarks in frame pixels, when the detector gives them."""

    @property
    def label(self) -> str:
        return self.prediction.label

    @property
    def score(self) -> float:
        return self.prediction.score

    @property
    def probabilities(self) -> dict[str, float]:
        return self.prediction.probabilities

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"id": self.id, "box": self.box.as_list(), "label": self.label,
                                  "score": round(self.score, 4),
                                  "probs": {k: round(v, 4) for k, v in self.probabilities.items()}}
        if self.keypoints is not None:
            record["keypoints"] = [[round(x, 1), round(y, 1)] for x, y in self.keypoints]
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Face:
        probabilities = {str(k): float(v) for k, v in record["probs"].items()}
        keypoints = record.get("keypoints")
        return cls(Box(*(int(v) for v in record["box"])),
                   Prediction(str(record["label"]), float(record["score"]), probabilities), int(record["id"]),
                   tuple((float(x), float(y)) for x, y in keypoints) if keypoints is not None else None)


@dataclass(frozen=True)
class FrameResult:
    """Everything the pipeline found in one frame."""

    index: int
    """The frame's number in its source, from 0 (a gap means frames were dropped)."""
    time: float
    """When the frame was captured, in seconds since the epoch."""
    source: str
    """Where the frame came from: the file's name for files and folders, else the camera or URL."""
    faces: tuple[Face, ...] = ()
    """Largest first."""
    fps: float | None = None
    """Frames per second over the last 30 frames (None until two frames have been timed)."""
    dropped: int = 0
    """Stale frames a live source dropped just before this one (always 0 for files)."""
    stages_ms: dict[str, float] = field(default_factory=dict)
    """This frame's milliseconds per stage (capture, detect, preprocess, infer)."""
    detector: str = ""
    """The face detector that found the faces."""
    model: str = ""
    """The emotion model's file name."""

    def to_dict(self) -> dict[str, Any]:
        """The JSONL record."""
        return {"schema": SCHEMA, "frame": self.index, "time": round(self.time, 3), "source": self.source,
                "detector": self.detector, "model": self.model, "fps": None if self.fps is None else round(self.fps, 2),
                "dropped": self.dropped,
                "faces": [f.to_dict() for f in self.faces],
                "stages_ms": {k: round(v, 3) for k, v in self.stages_ms.items()}}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> FrameResult:
        """A record read back from JSONL; raises ValueError for another schema, KeyError for a missing field."""
        if record.get("schema") != SCHEMA:
            raise ValueError(f"JSONL schema {record.get('schema')!r}, this reader knows {SCHEMA}")
        return cls(int(record["frame"]), float(record["time"]), str(record["source"]),
                   tuple(Face.from_dict(f) for f in record["faces"]),
                   None if record["fps"] is None else float(record["fps"]),
                   int(record.get("dropped", 0)), {str(k): float(v) for k, v in record.get("stages_ms", {}).items()},
                   str(record.get("detector", "")), str(record.get("model", "")))
