"""The workers' common ground and the `fer` package's worker. Standalone: it runs as a file in fer's own
environment, which has neither this project nor its dependencies, so it imports nothing of the project,
only the standard library at module level (OpenCV, numpy and fer inside the functions that need them).

    .venv-fer/bin/python scripts/bench_compare/peer_worker.py --job video --video V [--frames N] [--fer-keras]

Defined here for every worker: the arguments (`parse_worker_args`), the one result line on stdout
(`emit`), package versions and start-up times. For the peers (fer, the tutorial loop), which cannot use
`edge`: the video loop, the stage sums and the peak-memory reader.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_COMPARE_RESULT "
FER2013_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_CHECKOUT = Path(__file__).resolve().parents[2]


# --- Every worker ------------------------------------------------------------------------------------------

def parse_worker_args(argv: list[str] | None, description: str) -> argparse.Namespace:
    """A worker's arguments (the runner passes the same ones to every worker)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--job", choices=("video", "accuracy"), default="video")
    p.add_argument("--video", type=str, default=str(_CHECKOUT / "samples" / "demo.mp4"))
    p.add_argument("--frames", type=int, default=0, help="timed frames (0 = the whole video once)")
    p.add_argument("--warmup", type=int, default=10, help="untimed frames first")
    p.add_argument("--data", type=str, default=str(_CHECKOUT.parent / "shared" / "data" / "fer2013"))
    p.add_argument("--model", type=str, default="", help="ours: the model file")
    p.add_argument("--threads", type=int, default=1, help="ours: interpreter threads")
    p.add_argument("--flip", action="store_true", help="ours: average each face with its mirror image")
    p.add_argument("--detector", type=str, default="blazeface", help="ours: the face detector")
    p.add_argument("--fer-keras", dest="fer_tflite", action="store_false", help="fer: its Keras model")
    p.add_argument("--spawned-at", type=float, default=0.0, help="time.time() when the runner started it")
    args = p.parse_args(argv)
    args.spawned_at = args.spawned_at or time.time()
    return args


def emit(measure: Callable[[], dict[str, Any]]) -> int:
    """Run one worker's job: its result as one JSON line on stdout (exit 0), or its error on stderr (exit 1)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        result = measure()
    except Exception as exc:  # reported to the runner as this contender's failure
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


def package_versions(*names: str) -> dict[str, str]:
    """Python's version and those of the installed `names`."""
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def ready_times(spawned_at: float, import_s: float) -> dict[str, float]:
    """import_s, and startup_s: from the runner's spawn to now (ready for the first frame)."""
    return {"import_s": round(import_s, 4), "startup_s": round(time.time() - spawned_at, 4)}


# --- The peers' measuring loop -----------------------------------------------------------------------------

def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (`ru_maxrss`: KiB on Linux, bytes on macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def video_frames(video: str, count: int) -> Iterator[tuple[Any, float]]:
    """(frame, decode ms): the video once (count 0) or exactly `count` frames, looping the file."""
    import cv2

    delivered = 0
    while True:
        capture = cv2.VideoCapture(video)
        if not capture.isOpened():
            raise RuntimeError(f"{video}: cannot open this video")
        got = 0
        try:
            while count == 0 or delivered < count:
                start = time.perf_counter()
                ok, frame = capture.read()
                decode_ms = (time.perf_counter() - start) * 1000.0
                if not ok:
                    break
                got += 1
                delivered += 1
                yield frame, decode_ms
        finally:
            capture.release()
        if count == 0 or delivered >= count or got == 0:
            return


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, interpolated linearly between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class StageSums:
    """Milliseconds per named stage, summed per frame."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, name: str, ms: float) -> None:
        self.samples.setdefault(name, []).append(ms)

    def means(self, frames: int) -> dict[str, float]:
        return {k: round(sum(v) / max(frames, 1), 4) for k, v in self.samples.items()}


def timed_loop(process: Callable[[Any], int], video: str, frames: int, warmup: int) -> dict[str, Any]:
    """Warm up on the first frames, then time every frame: FPS with decoding, latency without.
    `process` handles one frame and returns the number of faces it found."""
    for frame, _ in video_frames(video, warmup) if warmup else ():
        process(frame)
    latencies: list[float] = []
    decode: list[float] = []
    faces = frames_with_faces = 0
    started = time.perf_counter()
    for frame, decode_ms in video_frames(video, frames):
        start = time.perf_counter()
        found = process(frame)
        latencies.append((time.perf_counter() - start) * 1000.0)
        decode.append(decode_ms)
        faces += found
        frames_with_faces += found > 0
    seconds = time.perf_counter() - started
    n = len(latencies)
    return {"frames": n, "seconds": round(seconds, 4), "fps": round(n / seconds, 3) if seconds > 0 else 0.0,
            "p50_ms": round(percentile(latencies, 50), 4), "p95_ms": round(percentile(latencies, 95), 4),
            "mean_ms": round(sum(latencies) / max(n, 1), 4), "decode_ms": round(sum(decode) / max(n, 1), 4),
            "faces_per_frame": round(faces / max(n, 1), 4), "frames_with_faces": frames_with_faces}


# --- The fer package ---------------------------------------------------------------------------------------

def import_fer() -> tuple[Any, str]:
    """fer's FER class; `from fer import FER` as its README says, else `fer.fer` (25.10.x lost the re-export)."""
    try:
        from fer import FER

        return FER, "from fer import FER"
    except ImportError:
        from fer.fer import FER

        return FER, "from fer.fer import FER (from fer import FER failed)"


def fer_detector(FER: Any, tflite: bool) -> tuple[Any, str]:
    """FER(mtcnn=False) with its TFLite or its Keras model, and which model that is."""
    import inspect

    if "use_tflite" in inspect.signature(FER.__init__).parameters:
        detector = FER(mtcnn=False, use_tflite=tflite)
    elif tflite:
        detector = FER(mtcnn=False)
    else:
        raise RuntimeError("this fer version has no use_tflite option")
    uses_tflite = bool(getattr(detector, "use_tflite", False))
    model = ("TFLite: fer/data/emotion_model_quantized.tflite through tf.lite.Interpreter" if uses_tflite
             else "Keras: fer/data/emotion_model.hdf5 (mini-Xception)")
    return detector, model


def measure_fer(args: argparse.Namespace) -> dict[str, Any]:
    """The fer package: FER(mtcnn=False).detect_emotions(frame) per frame."""
    started = time.perf_counter()
    quiet_fer_logging()
    FER, import_path = import_fer()
    import numpy as np

    import_s = time.perf_counter() - started
    detector, model_note = fer_detector(FER, args.fer_tflite)
    if args.job == "accuracy":
        return {**accuracy_fer(detector, Path(args.data), args.fer_tflite), "model_note": model_note}
    ready = ready_times(args.spawned_at, import_s)
    result = timed_loop(lambda frame: len(detector.detect_emotions(frame)), args.video, args.frames, args.warmup)
    # Per-stage split for the Pi estimate: detect_emotions is one call, so time its parts apart afterwards.
    detect, infer = [], []
    size = getattr(detector, "_FER__emotion_target_size", (64, 64))
    warm = np.zeros((1, size[1], size[0]), np.float32)
    detector._classify_emotions(warm if args.fer_tflite else warm[..., None])
    for frame, _ in video_frames(args.video, min(30, max(result["frames"], 1))):
        start = time.perf_counter()
        boxes = detector.find_faces(frame)
        detect.append((time.perf_counter() - start) * 1000.0)
        batch = np.zeros((len(boxes), size[1], size[0]), np.float32)
        start = time.perf_counter()
        if len(boxes):
            np.asarray(detector._classify_emotions(batch if args.fer_tflite else batch[..., None]))
        infer.append((time.perf_counter() - start) * 1000.0)
    parts = statistics.mean(detect), statistics.mean(infer)
    scale = min(1.0, result["mean_ms"] / max(sum(parts), 1e-9))  # a separate pass: fit it into the timed mean
    stages = {"detect": round(parts[0] * scale, 4), "infer": round(parts[1] * scale, 4)}
    stages["other"] = round(max(result["mean_ms"] - stages["detect"] - stages["infer"], 0.0), 4)
    return {**result, **ready, "peak_rss_mb": round(peak_rss_mb(), 1), "stages_ms": stages, "model_note": model_note,
            "interpreter": import_path,
            "versions": package_versions("fer", "numpy", "opencv-contrib-python", "opencv-python", "tensorflow",
                                         "keras")}


def quiet_fer_logging() -> None:
    import logging
    import warnings

    logging.getLogger("fer").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")


def fer2013_public_test(data: Path) -> list[tuple[Path, str]]:
    """(path, label) of FER2013 PublicTest faces: test/<class>/PublicTest_*.jpg (all files if unprefixed)."""
    test = data / "test" if (data / "test").is_dir() else data
    found = []
    for label in FER2013_LABELS:
        folder = test / label
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            public = [p for p in files if p.name.startswith("PublicTest")]
            found += [(p, label) for p in (public or files)]
    return found


def accuracy_fer(detector: Any, data: Path, tflite: bool) -> dict[str, Any]:
    """fer's classifier on the 48x48 faces directly (resize to its input, /255, -0.5, x2, as fer does)."""
    import cv2
    import numpy as np

    faces = fer2013_public_test(data)
    if not faces:
        return {"accuracy": None, "n": 0, "split": "PublicTest", "source": f"{data}: no FER2013 test faces"}
    names = detector._get_labels()  # {index: name}
    fer_labels = [names[i] for i in range(len(names))]
    truth = np.array([fer_labels.index(label) for _, label in faces])  # same names: identity by name
    size = getattr(detector, "_FER__emotion_target_size", (64, 64))
    images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p, _ in faces]
    batch = np.stack([cv2.resize(im, tuple(size)) for im in images]).astype(np.float32)
    batch = (batch / 255.0 - 0.5) * 2.0
    chunks = []
    for i in range(0, len(batch), 256):
        part = batch[i:i + 256]
        chunks.append(np.asarray(detector._classify_emotions(part if tflite else part[..., None])))
    predicted = np.concatenate(chunks).argmax(axis=1)
    accuracy = float((predicted == truth).mean())
    result = {"accuracy": accuracy, "n": len(faces), "split": "PublicTest",
              "source": "fer's classifier on each 48x48 face (resize to its input, /255, -0.5, x2)",
              "label_map": "fer's labels are FER2013's names in FER2013's order: identity by name"}
    if tflite:  # also through detect_emotions with the whole face as the box (fer's padding and offsets)
        hits = 0
        for image, label in zip(images, (label for _, label in faces)):
            emotions = detector.detect_emotions(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR),
                                                face_rectangles=[(0, 0, image.shape[1], image.shape[0])])
            scores = emotions[0]["emotions"] if emotions else {}
            hits += bool(scores) and max(scores, key=scores.get) == label
        result["accuracy_detect_emotions"] = hits / len(faces)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_worker_args(argv, "The fer package's worker: one job, one JSON result line.")
    return emit(lambda: measure_fer(args))


if __name__ == "__main__":
    sys.exit(main())
