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

    def latest(self, names: tuple[str, ...]) -> dict[str, float]:
        """The most recent milliseconds of each of `names` that has been timed, in that order."""
        return {name: self.samples[name][-1] for name in names if self.samples.get(name)}

    def summary(self, last: int | None = None) -> dict[str, dict[str, float]]:
        """p50, p95 and mean milliseconds per stage, over the last `last` samples (default: the window).

        Safe to call from another thread while the pipeline adds samples (each stage is copied once).
        """
        names = list(self.samples)
        ordered = [s for s in STAGES if s in names] + [s for s in names if s not in STAGES]
        figures = {}
        for name in ordered:
            recent = list(self.samples[name])[-last:] if last else list(self.samples[name])
            if recent:
                p50, p95 = np.percentile(recent, [50, 95])
                figures[name] = {"p50": float(p50), "p95": float(p95), "mean": float(np.mean(recent)),
                                 "n": len(recent)}
        return figures


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
