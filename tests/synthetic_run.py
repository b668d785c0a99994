"""A long run made up, written as fer-edge writes its --jsonl: for report tests and `scripts/bench_report.py`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.contract import FER2013_LABELS
from edge.results import Box, Face, FrameResult, Prediction


def write_synthetic_run(path: Path, frames: int, fps: float = 30.0, seed: int = 0) -> Path:
    """`frames` records at `fps`: face 1 in view throughout, drifting from neutral to happy; face 2 in view
    for the middle third, mostly sad; a frame without faces every 50th frame."""
    rng = np.random.default_rng(seed)
    start = 1_800_000_000.0
    with path.open("w", encoding="utf-8") as handle:
        for index in range(frames):
            faces = []
            if index % 50 != 49:
                drift = index / max(frames - 1, 1)
                faces.append(_face(1, Box(200, 100, 120, 120), {"neutral": 1 - drift, "happy": drift}, rng))
                if frames // 3 <= index < 2 * frames // 3:
                    faces.append(_face(2, Box(420, 140, 80, 80), {"sad": 0.7, "neutral": 0.3}, rng))
            result = FrameResult(index, start + index / fps, "synthetic.mp4", tuple(faces), fps if index else None,
                                 0, {"capture": 0.02, "detect": 1.9, "preprocess": 0.3, "infer": 0.5},
                                 "blazeface", "fer_compact_int8.tflite")
            handle.write(json.dumps(result.to_dict(), separators=(",", ":")) + "\n")
    return path


def _face(track: int, box: Box, weights: dict[str, float], rng: np.random.Generator) -> Face:
    raw = np.array([weights.get(label, 0.0) for label in FER2013_LABELS]) + rng.uniform(0, 0.1, len(FER2013_LABELS))
    return Face(box, Prediction.of(FER2013_LABELS, raw / raw.sum()), track)
