"""Per-stage latency and a rolling FPS monitor."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

STAGES = ("capture", "detect", "preprocess", "infer", "render")


class StageTimer:
    """Milliseconds per named stage over the last `window` samples; `summary()` gives p50/p95 per stage.

    The window keeps memory flat on runs of any length.
    """

    def __init__(self, window: int = 10_000) -> None:
        self.window = window
        self.samples: dict[str, deque[float]] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - start) * 1000.0)

    def add(self, name: str, milliseconds: float) -> None:
        self.samples.setdefault(name, deque(maxlen=self.window)).append(milliseconds)

    def summary(self) -> dict[str, dict[str, float]]:
        ordered = [s for s in STAGES if s in self.samples] + [s for s in self.samples if s not in STAGES]
        return {name: {"p50": float(np.percentile(self.samples[name], 50)),
                       "p95": float(np.percentile(self.samples[name], 95)),
                       "mean": float(np.mean(self.samples[name])), "n": len(self.samples[name])}
                for name in ordered if self.samples[name]}


class FpsMonitor:
    """Frames per second over the last `window` frames: (n - 1) / span of their time stamps."""

    def __init__(self, window: int = 30) -> None:
        self._stamps: deque[float] = deque(maxlen=window)

    def tick(self) -> None:
        self._stamps.append(time.perf_counter())

    @property
    def fps(self) -> float:
        if len(self._stamps) < 2:
            return 0.0
        span = self._stamps[-1] - self._stamps[0]
        return (len(self._stamps) - 1) / span if span > 0 else 0.0
