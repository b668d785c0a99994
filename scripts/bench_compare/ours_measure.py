"""fer-edge on the video, measured with the project's own parts: `edge.pipeline.Recognizer` and
`edge.render.Annotator` on every frame, frames read through `edge.sources`, stages and per-frame latency
timed by `edge.timing.StageTimer`, peak memory from `edge.bench.peak_rss_mb`. And our models' PublicTest
accuracy. The figures are those of the peers' loop (peer_worker.timed_loop), so the report compares like
with like: FPS over the timed loop's wall time with decoding, latency per frame without it."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import edge
from edge.bench import peak_rss_mb
from edge.classify import ModelOptions
from edge.detect import DetectorOptions
from edge.model_file import read_info
from edge.pipeline import Recognizer, RecognizerOptions
from edge.render import Annotator
from edge.results import FrameResult
from edge.sources import SourceOptions, open_source
from edge.timing import StageTimer
from scripts.bench_compare import checkout_relative
from scripts.bench_compare.peer_worker import package_versions, ready_times

WHOLE_RUN = sys.maxsize
"""The window of the timer for the run's own figures (frame latency, decode, draw): every timed frame
counts, however long the run. The recogniser's stages keep StageTimer's default window, as in `fer-edge`."""


def video_frames(video: str, count: int, timer: StageTimer) -> Iterator[np.ndarray]:
    """The video once (count 0) or exactly `count` frames, replaying the file as often as needed. Each read
    is timed as the "decode" stage (opening and reopening the file are not)."""
    with open_source(SourceOptions(source=video)) as source:
        delivered = 0
        while True:
            frames, got = source.frames(), 0
            while count == 0 or delivered < count:
                start = time.perf_counter()
                frame = next(frames, None)
                decode_ms = (time.perf_counter() - start) * 1000.0
                if frame is None:
                    break
                timer.add("decode", decode_ms)
                got += 1
                delivered += 1
                yield frame
            if count == 0 or delivered >= count or got == 0:
                return
            source.rewind()


def measure_video(args: argparse.Namespace, import_s: float) -> dict[str, Any]:
    """This package: Recognizer (detect, preprocess, infer, track) and Annotator drawing, frame by frame."""
    recognizer = Recognizer(RecognizerOptions(model=ModelOptions(path=Path(args.model), threads=args.threads,
                                                                 flip=args.flip),
                                              detector=DetectorOptions(kind=args.detector)))
    annotator = Annotator(show_fps=False)
    ready = ready_times(args.spawned_at, import_s)

    def process(frame: np.ndarray, timer: StageTimer) -> int:
        faces = recognizer.recognize(frame)
        with timer.stage("draw"):
            annotator.annotate(frame, FrameResult(0, 0.0, args.video, tuple(faces)))
        return len(faces)

    warmup = StageTimer()
    for frame in video_frames(args.video, args.warmup, warmup) if args.warmup else ():
        process(frame, warmup)
    recognizer.timer, timer = StageTimer(), StageTimer(window=WHOLE_RUN)
    faces = frames_with_faces = 0
    started = time.perf_counter()
    for frame in video_frames(args.video, args.frames, timer):
        with timer.stage("frame"):
            found = process(frame, timer)
        faces += found
        frames_with_faces += found > 0
    seconds = time.perf_counter() - started
    recognizer.close()
    run = timer.summary()
    latency = run.get("frame", {"p50": 0.0, "p95": 0.0, "mean": 0.0, "n": 0})
    n = latency["n"]
    stages = {name: round(s["mean"], 4) for name, s in recognizer.timer.summary().items()}
    if "draw" in run:
        stages["draw"] = round(run["draw"]["mean"], 4)
    info = recognizer.classifier.info
    return {"frames": n, "seconds": round(seconds, 4), "fps": round(n / seconds, 3) if seconds > 0 else 0.0,
            "p50_ms": round(latency["p50"], 4), "p95_ms": round(latency["p95"], 4),
            "mean_ms": round(latency["mean"], 4), "decode_ms": round(run["decode"]["mean"], 4) if n else 0.0,
            "faces_per_frame": round(faces / max(n, 1), 4), "frames_with_faces": frames_with_faces,
            **ready, "peak_rss_mb": round(peak_rss_mb(), 1), "stages_ms": stages,
            "model": str(recognizer.model_path), "model_note": f"{info.variant} {info.architecture}".strip(),
            "interpreter": recognizer.classifier.backend,
            "versions": {"fer-edge": edge.__version__,
                         **package_versions("numpy", "opencv-python-headless", "opencv-python", "ai-edge-litert",
                                            "tflite-runtime")}}


def accuracy(model: Path, data: Path, flip: bool = False) -> dict[str, Any]:
    """PublicTest accuracy through train/evaluate.py (what `fer-eval` prints), else the model's metadata
    (which holds the plain accuracy only, so none with `flip`)."""
    note = f"{data} not found"
    if data.is_dir():
        try:
            from train.evaluate import evaluate_model
        except ImportError as exc:
            note = f"train/ not importable ({exc})"
        else:
            results = {r["split"]: r for r in evaluate_model(ModelOptions(path=model, flip=flip), data)[0]}
            result = results.get("PublicTest") or next(iter(results.values()))
            return {"accuracy": result["accuracy"], "n": result["n"], "split": result["split"],
                    "source": f"fer-eval {model.name} {checkout_relative(data)}{' --flip' if flip else ''}"}
    if flip:
        return {"accuracy": None, "n": 0, "split": "PublicTest",
                "source": f"not measured ({note}; the metadata has no flip accuracy)"}
    info = read_info(model)
    value = (info.accuracy if info else {}).get("PublicTest")
    return {"accuracy": value, "n": 3589 if value is not None else 0, "split": "PublicTest",
            "source": f"model metadata ({note})"}
