"""Latency benchmarks: interpreter invoke per model and thread count; the whole pipeline on a video."""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.classify import Classifier, ModelOptions
from edge.detect import DETECTORS, DetectorOptions, make_detector
from edge.pipeline import Recognizer, RecognizerOptions
from edge.runner import RunOptions, run
from edge.sources import SourceOptions, open_source


@dataclass(frozen=True)
class BenchOptions:
    """How long to measure."""

    warmup: int = 20
    """Untimed invokes before measuring."""
    runs: int = 300
    """Timed invokes per model and thread count."""
    def __post_init__(self) -> None:
        if self.warmup < 0 or self.runs < 1:
            raise ValueError(f"warmup must be >= 0 and runs >= 1 (got {self.warmup}, {self.runs})")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2.0**20 if sys.platform == "darwin" else 1024.0)


def invoke_latency(model: ModelOptions, options: BenchOptions) -> dict[str, Any]:
    """Milliseconds per single-face classification (quantize + invoke + dequantize) of one model."""
    classifier = Classifier.from_options(model)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(1, *classifier.info.input.shape), dtype=np.uint8)
    for _ in range(options.warmup):
        classifier.probabilities_of_pixels(pixels)
    times = np.empty(options.runs)
    for i in range(options.runs):
        start = time.perf_counter()
        classifier.probabilities_of_pixels(pixels)
        times[i] = (time.perf_counter() - start) * 1000.0
    path = model.resolved_path
    return {"model": str(path), "variant": classifier.info.variant, "flip": model.flip, "threads": model.threads,
            "interpreter": classifier.backend, "size_kib": round(path.stat().st_size / 1024, 1),
            "p50_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90)),
            "p99_ms": float(np.percentile(times, 99)), "runs": options.runs}


CAPTURE_MODES = ("ahead", "thread", "inline")


def pipeline_figures(video: Path, configs: list[RecognizerOptions], max_frames: int = 0, passes: int = 1,
                     captures: tuple[str, ...] = ("ahead",)) -> list[dict[str, Any]]:
    """Whole-pipeline FPS, per-stage latency and peak memory on a video file (no display, no drawing).

    One row per recogniser configuration (a model, with its threads) and capture mode ("ahead": frames
    read ahead in the capture thread and faces detected one frame ahead in another, "thread": frames
    read ahead only, "inline": everything in the pipeline's thread). All of them take turns pass by pass,
    so a shared machine's drift hits them alike; each row's `fps` is the median over its passes
    (`fps_per_pass` lists them) and its other figures are those of its last pass. The peak resident
    memory after each pass shows whether memory stays flat.
    """
    if passes < 1:
        raise ValueError(f"passes must be at least 1, got {passes}")
    unknown = set(captures) - set(CAPTURE_MODES)
    if not captures or unknown:
        raise ValueError(f"capture modes are {', '.join(CAPTURE_MODES)}, got {sorted(unknown) or 'none'}")
    turns = [(config, capture) for config in range(len(configs)) for capture in captures]
    fps: dict[tuple[int, str], list[float]] = {turn: [] for turn in turns}
    rss: dict[tuple[int, str], list[float]] = {turn: [] for turn in turns}
    last: dict[tuple[int, str], tuple[Recognizer, Any]] = {}
    for _ in range(passes):
        for config, capture in turns:
            recognizer = Recognizer(configs[config])
            summary = run(recognizer, open_source(SourceOptions(source=str(video))), (),
                          RunOptions(max_frames=max_frames, report_every=0, draw=False,
                                     capture_thread=capture != "inline", detect_thread=capture == "ahead"))
            recognizer.close()
            fps[config, capture].append(round(summary.fps, 2))
            rss[config, capture].append(round(peak_rss_mb(), 1))
            last[config, capture] = recognizer, summary
    rows = []
    for config, capture in turns:
        recognizer, summary = last[config, capture]
        rows.append({"video": str(video), "model": str(recognizer.model_path),
                     "threads": configs[config].model.threads, "interpreter": recognizer.classifier.backend,
                     "capture": capture, **summary.to_dict(), "fps": float(np.median(fps[config, capture])),
                     "fps_per_pass": fps[config, capture],
                     "face_frame_share": round(summary.frames_with_faces / max(summary.frames, 1), 4),
                     "peak_rss_mb": rss[config, capture][-1], "peak_rss_mb_after_pass": rss[config, capture]})
    return rows


def detector_latency(video: Path, options: DetectorOptions, kinds: tuple[str, ...] = DETECTORS,
                     max_frames: int = 0, interpreter: str = "auto") -> list[dict[str, Any]]:
    """Milliseconds per frame of each detector on the same decoded frames, side by side: the detectors
    take turns frame by frame (the default's scan in its own thread, as in a run)."""
    frames = []
    with open_source(SourceOptions(source=str(video))) as source:
        for frame in source.frames():
            frames.append(frame)
            if max_frames and len(frames) >= max_frames:
                break
    detectors = [make_detector(replace(options, kind=kind), interpreter) for kind in kinds]
    times: list[list[float]] = [[] for _ in kinds]
    found = [0] * len(kinds)
    for frame in frames:
        for i, detector in enumerate(detectors):
            start = time.perf_counter()
            found[i] += len(detector.detect(frame))
            times[i].append((time.perf_counter() - start) * 1000.0)
    for detector in detectors:
        detector.close()
    return [{"detector": kind, "frames": len(frames), "faces_per_frame": round(found[i] / max(len(frames), 1), 3),
             "p50_ms": float(np.percentile(times[i], 50)), "p95_ms": float(np.percentile(times[i], 95)),
             "mean_ms": float(np.mean(times[i]))} for i, kind in enumerate(kinds)]


def format_detector_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| detector | frames | faces/frame | p50 ms | p95 ms | mean ms |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['detector']} | {r['frames']} | {r['faces_per_frame']:.2f} | {r['p50_ms']:.2f} | "
              f"{r['p95_ms']:.2f} | {r['mean_ms']:.2f} |" for r in rows]
    return "\n".join(lines)


def format_latency_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | variant | KiB | threads | interpreter | p50 ms | p90 ms | p99 ms |",
             "|---|---|---:|---:|---|---:|---:|---:|"]
    lines += [f"| {Path(r['model']).name} | {r['variant'] + (' + flip' if r.get('flip') else '')} "
              f"| {r['size_kib']:.0f} | {r['threads']} | {r['interpreter']} "
              f"| {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | {r['p99_ms']:.3f} |" for r in rows]
    return "\n".join(lines)
