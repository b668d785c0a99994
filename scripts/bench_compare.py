"""Side-by-side benchmark on one video: this package's pipeline against what users would pick instead.

    python scripts/bench_compare.py [--video samples/demo.mp4] [--repeats 3] [--fer-python .venv-fer/bin/python]

Contenders (each run in its own subprocess, so peak memory and start-up are its own; runs are
interleaved over the repeats and the median of each figure is reported):

  ours-int8-1t, ours-int8-2t, ours-int8-flip-1t, ours-float32-1t, ours-float32-2t
      `edge.pipeline.Recognizer` (the default detector: BlazeFace short range plus the small-face scan;
      TFLite classifier; tracking) plus `edge.render.Annotator` drawing, with the shipped models in
      models/ (whatever is there).
  ours-int8-haar-1t, ours-int8-full-1t
      The same with `--detector haar` and `--detector blazeface-full`.
  tutorial
      The tutorial's loop: Haar `detectMultiScale(gray, 1.1, 4)` on the full frame, the cascade again on
      each face's ROI, crop, resize to 224x224 BGR, /255, Keras `predict` of MobileNetV2 (alpha 1.0,
      include_top=False + average pooling, Dense 128/64/7 head, weights=None: untrained, speed only),
      rectangle + text per face, no display. Needs TensorFlow in --tutorial-python.
  fer, fer-keras
      The `fer` package, `FER(mtcnn=False).detect_emotions(frame)` per frame (its default TFLite model;
      fer-keras: `use_tflite=False`, its Keras model). Needs a separate environment (--fer-python):
        python3 -m venv .venv-fer && .venv-fer/bin/pip install -r scripts/requirements-fer.txt \\
          && .venv-fer/bin/pip install --no-deps fer==25.10.3
      or pass --setup-fer to have this script do it.

A contender whose environment is missing is reported as skipped with its install command. Accuracy is
measured once per classifier on FER2013 PublicTest (--data): our models through the project's own
evaluation (train/evaluate.py), fer's classifier directly with fer's preprocessing. The output is a
Markdown report (--out) with a chart (--chart), the machine, versions, the exact command, and a
clearly labelled Raspberry Pi 4/5 ESTIMATE from the measured per-stage costs and published ratios.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# Module level: standard library only. The fer worker runs this same file in fer's own environment,
# which has neither this project nor its dependencies.

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
RESULT_PREFIX = "BENCH_COMPARE_RESULT "
FER2013_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_VERSION = "25.10.3"
FER_REQUIREMENTS = "scripts/requirements-fer.txt"
FER_INSTALL = (f"python3 -m venv .venv-fer && .venv-fer/bin/pip install -r {FER_REQUIREMENTS} "
               f"&& .venv-fer/bin/pip install --no-deps fer=={FER_VERSION}")
TF_INSTALL = 'pip install "tensorflow>=2.16,<2.22"  (or pip install -e ".[train]")'
OURS_INSTALL = 'pip install -e .  (from this checkout)'

# --- Published ratios for the Raspberry Pi ESTIMATE -------------------------------------------------
# The same OpenCV program, one thread, on a Raspberry Pi 4 (Cortex-A72 at 1.5 GHz, 64-bit Raspberry Pi
# OS Bookworm) and on an x86 laptop core (Intel Core i7-1255U), milliseconds per image (images 0-2 at
# 320x320 and at 640x640): github.com/TonyCongqianWang/cv_facedetection_eval, time_comparison_pi.md and
# time_comparison_laptop.md. Pairs are (Pi 4 ms, laptop ms).
HAAR_PI4_VS_X86 = ((379.9, 106.2), (346.2, 94.7), (360.4, 98.7), (1593.0, 444.4), (1188.3, 303.6),
                   (1471.6, 391.1))
"""OpenCV `CascadeClassifier` (haarcascade_frontalface_default): Pi 4 is 3.6-3.9x slower."""
CNN_PI4_VS_X86 = ((58.7, 6.3), (54.4, 6.5), (54.4, 5.7), (213.2, 28.1), (212.6, 27.9), (229.8, 29.0))
"""A small CNN (YuNet, fp32, OpenCV DNN): Pi 4 is 7.6-9.5x slower."""
PI5_OVER_PI4 = (1.85, 3.0)
"""Raspberry Pi 5 speed over Pi 4, single thread: 1.85x by sysbench cpu (2737.49 vs 1477.83 events/s,
leoncode.co.uk/articles/raspberry-pi-benchmarks) up to the 2-3x of the launch announcement (ZDNet,
"The Raspberry Pi 5 is here", 2023)."""
PI_SOURCES = (
    ("Pi 4 vs an x86 core, same OpenCV code, 1 thread (Haar 3.6-3.9x, CNN 7.6-9.5x)",
     "https://github.com/TonyCongqianWang/cv_facedetection_eval (time_comparison_pi.md, "
     "time_comparison_laptop.md)"),
    ("Pi 5 vs Pi 4, sysbench cpu single thread: 2737.49 vs 1477.83 events/s (1.85x)",
     "https://leoncode.co.uk/articles/raspberry-pi-benchmarks"),
    ("Pi 5 vs Pi 4, launch claim: two to three times faster",
     "https://www.zdnet.com/google-amp/article/the-raspberry-pi-5-is-here-and-it-comes-with-some-huge-improvements/"),
)


@dataclass(frozen=True)
class Contender:
    """One thing to measure."""

    name: str
    label: str
    kind: str
    """ours, tutorial or fer."""
    variant: str = ""
    """ours: int8 or float32."""
    threads: int = 1
    """ours: interpreter threads."""
    fer_tflite: bool = True
    """fer: its TFLite model (the default) or its Keras model."""
    flip: bool = False
    """ours: each face averaged with its mirror image (`fer-edge --flip`)."""
    detector: str = "blazeface"
    """ours: the face detector (`fer-edge --detector`)."""


CONTENDERS: dict[str, Contender] = {c.name: c for c in (
    Contender("ours-int8-1t", "fer-edge int8, 1 thread", "ours", "int8", 1),
    Contender("ours-int8-2t", "fer-edge int8, 2 threads", "ours", "int8", 2),
    Contender("ours-int8-flip-1t", "fer-edge int8 --flip, 1 thread", "ours", "int8", 1, flip=True),
    Contender("ours-int8-haar-1t", "fer-edge int8 --detector haar, 1 thread", "ours", "int8", 1, detector="haar"),
    Contender("ours-int8-full-1t", "fer-edge int8 --detector blazeface-full, 1 thread", "ours", "int8", 1,
              detector="blazeface-full"),
    Contender("ours-float32-1t", "fer-edge float32, 1 thread", "ours", "float32", 1),
    Contender("ours-float32-2t", "fer-edge float32, 2 threads", "ours", "float32", 2),
    Contender("tutorial", "tutorial loop (Keras MobileNetV2)", "tutorial"),
    Contender("fer", "fer FER(mtcnn=False)", "fer", fer_tflite=True),
    Contender("fer-keras", "fer FER(mtcnn=False, use_tflite=False)", "fer", fer_tflite=False),
)}


@dataclass(frozen=True)
class CompareOptions:
    """What to run and where to write it."""

    video: Path = ROOT / "samples" / "demo.mp4"
    """The video every contender runs on."""
    repeats: int = 3
    """Runs per contender (interleaved); medians are reported."""
    frames: int = 0
    """Timed frames per run (0 = the whole video once; more than the video loops it)."""
    warmup: int = 10
    """Untimed frames processed first in every run (caches, lazy graph building)."""
    contenders: tuple[str, ...] = tuple(CONTENDERS)
    int8_model: Path = ROOT / "models" / "fer_compact_int8.tflite"
    float32_model: Path = ROOT / "models" / "fer_compact_float32.tflite"
    tutorial_python: Path = Path(sys.executable)
    fer_python: Path = ROOT / ".venv-fer" / "bin" / "python"
    data: Path = ROOT.parent / "shared" / "data" / "fer2013"
    """FER2013 in Kaggle layout (test/<class>/PublicTest_*.jpg) for the accuracy column."""
    accuracy: bool = True
    out: Path = ROOT / "docs" / "benchmarks.md"
    chart: Path = ROOT / "docs" / "benchmarks.png"
    json_out: Path | None = None
    banner: str = ""
    """A note put at the top of the report (for example that the figures are provisional)."""
    timeout: float = 1800.0
    """Seconds before one worker is given up."""

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.frames < 0 or self.warmup < 0:
            raise ValueError(f"repeats must be >= 1 and frames, warmup >= 0 (got {self.repeats}, {self.frames}, "
                             f"{self.warmup})")
        unknown = [c for c in self.contenders if c not in CONTENDERS]
        if unknown:
            raise ValueError(f"unknown contender(s) {', '.join(unknown)} (choose from {', '.join(CONTENDERS)})")


@dataclass
class Outcome:
    """What became of one contender: its runs, their medians, its accuracy."""

    contender: Contender
    status: str = "ok"
    """ok, skipped or failed."""
    reason: str = ""
    install: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"contender": asdict(self.contender), "status": self.status, "reason": self.reason,
                "install": self.install, "runs": self.runs, "summary": self.summary, "accuracy": self.accuracy}


# ==================================================================================================
# Workers: run inside the contender's own interpreter. Third-party imports stay inside functions.
# ==================================================================================================

def _rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def _versions(*names: str) -> dict[str, str]:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def _frames(video: str, count: int) -> Iterator[tuple[Any, float]]:
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


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class _Stages:
    """Milliseconds per named stage, summed per frame."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, name: str, ms: float) -> None:
        self.samples.setdefault(name, []).append(ms)

    def means(self, frames: int) -> dict[str, float]:
        return {k: round(sum(v) / max(frames, 1), 4) for k, v in self.samples.items()}


def _timed_loop(process: Callable[[Any], int], video: str, frames: int, warmup: int) -> dict[str, Any]:
    """Warm up on the first frames, then time every frame: FPS with decoding, latency without."""
    for frame, _ in _frames(video, warmup) if warmup else ():
        process(frame)
    latencies: list[float] = []
    decode: list[float] = []
    faces = frames_with_faces = 0
    started = time.perf_counter()
    for frame, decode_ms in _frames(video, frames):
        start = time.perf_counter()
        found = process(frame)
        latencies.append((time.perf_counter() - start) * 1000.0)
        decode.append(decode_ms)
        faces += found
        frames_with_faces += found > 0
    seconds = time.perf_counter() - started
    n = len(latencies)
    return {"frames": n, "seconds": round(seconds, 4), "fps": round(n / seconds, 3) if seconds > 0 else 0.0,
            "p50_ms": round(_percentile(latencies, 50), 4), "p95_ms": round(_percentile(latencies, 95), 4),
            "mean_ms": round(sum(latencies) / max(n, 1), 4), "decode_ms": round(sum(decode) / max(n, 1), 4),
            "faces_per_frame": round(faces / max(n, 1), 4), "frames_with_faces": frames_with_faces}


def _ready(spawned_at: float, import_s: float) -> dict[str, float]:
    return {"import_s": round(import_s, 4), "startup_s": round(time.time() - spawned_at, 4)}


def worker_ours(args: argparse.Namespace) -> dict[str, Any]:
    """This package: Recognizer (detect, preprocess, infer, track) and Annotator drawing."""
    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    import edge
    from edge.classify import ModelOptions
    from edge.detect import DetectorOptions
    from edge.pipeline import Recognizer, RecognizerOptions
    from edge.render import Annotator
    from edge.results import FrameResult
    from edge.timing import StageTimer

    import_s = time.perf_counter() - started
    if args.job == "accuracy":
        return _accuracy_ours(Path(args.model), Path(args.data), args.flip)
    recognizer = Recognizer(RecognizerOptions(model=ModelOptions(path=Path(args.model), threads=args.threads,
                                                                 flip=args.flip),
                                              detector=DetectorOptions(kind=args.detector)))
    annotator = Annotator(show_fps=False)
    ready = _ready(args.spawned_at, import_s)
    draw = _Stages()

    def process(frame: Any) -> int:
        faces = recognizer.recognize(frame)
        start = time.perf_counter()
        annotator.annotate(frame, FrameResult(0, 0.0, args.video, tuple(faces)))
        draw.add("draw", (time.perf_counter() - start) * 1000.0)
        return len(faces)

    for frame, _ in _frames(args.video, args.warmup) if args.warmup else ():
        process(frame)
    recognizer.timer, draw.samples = StageTimer(), {}
    result = _timed_loop(process, args.video, args.frames, 0)
    recognizer.close()
    stages = {name: round(s["mean"], 4) for name, s in recognizer.timer.summary().items()}
    stages.update(draw.means(result["frames"]))
    info = recognizer.classifier.info
    return {**result, **ready, "peak_rss_mb": round(_rss_mb(), 1), "stages_ms": stages,
            "model": str(recognizer.model_path), "model_note": f"{info.variant} {info.architecture}".strip(),
            "interpreter": recognizer.classifier.backend,
            "versions": {"fer-edge": edge.__version__, **_versions("numpy", "opencv-python-headless", "opencv-python",
                                                                   "ai-edge-litert", "tflite-runtime")}}


def _accuracy_ours(model: Path, data: Path, flip: bool = False) -> dict[str, Any]:
    """PublicTest accuracy through train/evaluate.py (what `fer-eval` prints), else the model's metadata
    (which holds the plain accuracy only, so none with `flip`)."""
    from edge.model_file import read_info

    note = f"{data} not found"
    if data.is_dir():
        try:
            from edge.classify import ModelOptions
            from train.evaluate import evaluate_model
        except ImportError as exc:
            note = f"train/ not importable ({exc})"
        else:
            results = {r["split"]: r for r in evaluate_model(ModelOptions(path=model, flip=flip), data)[0]}
            result = results.get("PublicTest") or next(iter(results.values()))
            return {"accuracy": result["accuracy"], "n": result["n"], "split": result["split"],
                    "source": f"fer-eval {model.name} {_rel(data)}{' --flip' if flip else ''}"}
    if flip:
        return {"accuracy": None, "n": 0, "split": "PublicTest",
                "source": f"not measured ({note}; the metadata has no flip accuracy)"}
    info = read_info(model)
    value = (info.accuracy if info else {}).get("PublicTest")
    return {"accuracy": value, "n": 3589 if value is not None else 0, "split": "PublicTest",
            "source": f"model metadata ({note})"}


# The tutorial's labels, in its model's output order.
TUTORIAL_LABELS = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")


def tutorial_model() -> Any:
    """MobileNetV2 (alpha 1.0, 224x224x3) up to its pooled penultimate layer, then Dense 128/64/7 (untrained)."""
    import keras

    base = keras.applications.MobileNetV2(input_shape=(224, 224, 3), alpha=1.0, include_top=False,
                                          pooling="avg", weights=None)
    x = keras.layers.Dense(128)(base.output)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Dense(64)(x)
    x = keras.layers.Activation("relu")(x)
    outputs = keras.layers.Dense(7, activation="softmax")(x)
    return keras.Model(base.input, outputs)


def worker_tutorial(args: argparse.Namespace) -> dict[str, Any]:
    """The tutorial's loop, as written there (per face), without the window."""
    started = time.perf_counter()
    import cv2
    import keras
    import numpy as np
    import tensorflow as tf

    import_s = time.perf_counter() - started
    model = tutorial_model()
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    ready = _ready(args.spawned_at, import_s)
    stages = _Stages()
    font = cv2.FONT_HERSHEY_SIMPLEX
    last_face_roi: list[Any] = []

    def process(frame: Any) -> int:
        t0 = time.perf_counter()
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        faces = cascade.detectMultiScale(gray, 1.1, 4)
        t1 = time.perf_counter()
        stages.add("detect", (t1 - t0) * 1000.0)
        roi_ms = prep_ms = predict_ms = draw_ms = 0.0
        for x, y, w, h in faces:
            a = time.perf_counter()
            roi_gray = gray[y:y + h, x:x + w]
            roi_color = frame[y:y + h, x:x + w]
            inner = cascade.detectMultiScale(roi_gray)
            for ex, ey, ew, eh in inner:  # as the tutorial: the last face found in the ROI is kept
                last_face_roi[:] = [roi_color[ey:ey + eh, ex:ex + ew]]
            b = time.perf_counter()
            roi_ms += (b - a) * 1000.0
            if not last_face_roi:  # the tutorial reuses the previous crop when the ROI has none
                continue
            final_image = cv2.resize(last_face_roi[0], (224, 224))
            final_image = np.expand_dims(final_image, axis=0) / 255.0
            c = time.perf_counter()
            prep_ms += (c - b) * 1000.0
            predictions = model.predict(final_image, verbose=0)
            d = time.perf_counter()
            predict_ms += (d - c) * 1000.0
            status = TUTORIAL_LABELS[int(np.argmax(predictions))]
            cv2.rectangle(frame, (x, y), (x + w, y + h), (255, 0, 0), 2)
            cv2.putText(frame, status, (x, max(0, y - 10)), font, 1.0, (0, 0, 255), 2, cv2.LINE_4)
            draw_ms += (time.perf_counter() - d) * 1000.0
        for name, ms in (("roi_detect", roi_ms), ("preprocess", prep_ms), ("infer", predict_ms), ("draw", draw_ms)):
            stages.add(name, ms)
        return len(faces)

    for frame, _ in _frames(args.video, args.warmup) if args.warmup else ():
        process(frame)
    stages.samples = {}
    result = _timed_loop(process, args.video, args.frames, 0)
    return {**result, **ready, "peak_rss_mb": round(_rss_mb(), 1), "stages_ms": stages.means(result["frames"]),
            "model_note": "MobileNetV2 alpha 1.0 224x224x3 + Dense 128/64/7, weights=None (untrained)",
            "interpreter": f"Keras {keras.__version__} predict, TensorFlow {tf.__version__}",
            "versions": _versions("numpy", "opencv-python-headless", "opencv-python", "tensorflow", "keras")}


def _import_fer() -> tuple[Any, str]:
    """fer's FER class; `from fer import FER` as its README says, else `fer.fer` (25.10.x lost the re-export)."""
    try:
        from fer import FER

        return FER, "from fer import FER"
    except ImportError:
        from fer.fer import FER

        return FER, "from fer.fer import FER (from fer import FER failed)"


def _fer_detector(FER: Any, tflite: bool) -> tuple[Any, str]:
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


def worker_fer(args: argparse.Namespace) -> dict[str, Any]:
    """The fer package: FER(mtcnn=False).detect_emotions(frame) per frame."""
    started = time.perf_counter()
    logging_quiet()
    FER, import_path = _import_fer()
    import numpy as np

    import_s = time.perf_counter() - started
    detector, model_note = _fer_detector(FER, args.fer_tflite)
    if args.job == "accuracy":
        return {**_accuracy_fer(detector, Path(args.data), args.fer_tflite), "model_note": model_note}
    ready = _ready(args.spawned_at, import_s)
    result = _timed_loop(lambda frame: len(detector.detect_emotions(frame)), args.video, args.frames, args.warmup)
    # Per-stage split for the Pi estimate: detect_emotions is one call, so time its parts apart afterwards.
    detect, infer = [], []
    size = getattr(detector, "_FER__emotion_target_size", (64, 64))
    warm = np.zeros((1, size[1], size[0]), np.float32)
    detector._classify_emotions(warm if args.fer_tflite else warm[..., None])
    for frame, _ in _frames(args.video, min(30, max(result["frames"], 1))):
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
    return {**result, **ready, "peak_rss_mb": round(_rss_mb(), 1), "stages_ms": stages, "model_note": model_note,
            "interpreter": import_path,
            "versions": _versions("fer", "numpy", "opencv-contrib-python", "opencv-python", "tensorflow", "keras")}


def logging_quiet() -> None:
    import logging

    logging.getLogger("fer").setLevel(logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore")


def _fer2013_public_test(data: Path) -> list[tuple[Path, str]]:
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


def _accuracy_fer(detector: Any, data: Path, tflite: bool) -> dict[str, Any]:
    """fer's classifier on the 48x48 faces directly (resize to its input, /255, -0.5, x2, as fer does)."""
    import cv2
    import numpy as np

    faces = _fer2013_public_test(data)
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


WORKERS = {"ours": worker_ours, "tutorial": worker_tutorial, "fer": worker_fer}


def run_worker(args: argparse.Namespace) -> int:
    """The --worker mode: one contender, one job; prints one JSON result line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        result = WORKERS[args.kind](args)
    except Exception as exc:  # reported to the parent as this contender's failure
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


# ==================================================================================================
# Parent: probes, runs, medians, report.
# ==================================================================================================

def _python_has(python: Path, *modules: str) -> bool:
    code = ("import importlib.util, sys; sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) "
            "else 1)")
    try:
        return subprocess.run([str(python), "-c", code, *modules], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def model_of(contender: Contender, options: CompareOptions) -> Path:
    """Our model file for a contender (the int8 or the float32 one)."""
    return options.int8_model if contender.variant == "int8" else options.float32_model


def probe(contender: Contender, options: CompareOptions) -> Outcome:
    """An outcome that is ok when the contender's environment has what it needs, else skipped with why."""
    outcome = Outcome(contender)
    if contender.kind == "ours":
        model = model_of(contender, options)
        if not model.is_file():
            outcome.status, outcome.reason, outcome.install = "skipped", f"{model}: no such model", ""
        elif not _python_has(Path(sys.executable), "cv2", "numpy"):
            outcome.status, outcome.reason, outcome.install = "skipped", "OpenCV/numpy missing", OURS_INSTALL
    elif contender.kind == "tutorial":
        if not _python_has(options.tutorial_python, "tensorflow", "keras", "cv2"):
            outcome.status = "skipped"
            outcome.reason = f"no TensorFlow/Keras in {options.tutorial_python}"
            outcome.install = TF_INSTALL
    elif not options.fer_python.exists():
        outcome.status, outcome.reason = "skipped", f"{options.fer_python}: no such python"
        outcome.install = FER_INSTALL
    elif not _python_has(options.fer_python, "fer", "tensorflow", "cv2"):
        outcome.status, outcome.reason = "skipped", f"the fer package or TensorFlow missing in {options.fer_python}"
        outcome.install = FER_INSTALL
    return outcome


def worker_command(contender: Contender, options: CompareOptions, job: str) -> list[str]:
    python = {"ours": Path(sys.executable), "tutorial": options.tutorial_python, "fer": options.fer_python}
    model = model_of(contender, options)
    command = [str(python[contender.kind]), str(SCRIPT), "--worker", contender.kind, "--job", job,
               "--video", str(options.video), "--frames", str(options.frames), "--warmup", str(options.warmup),
               "--data", str(options.data), "--model", str(model), "--threads", str(contender.threads),
               "--spawned-at", repr(time.time())]
    return command + ([] if contender.fer_tflite else ["--fer-keras"]) + (["--flip"] if contender.flip else []) \
        + (["--detector", contender.detector] if contender.kind == "ours" else [])


def spawn(contender: Contender, options: CompareOptions, job: str) -> dict[str, Any]:
    """Run one worker; its JSON result, or {"error": the last line it printed on stderr}."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONDONTWRITEBYTECODE": "1"}
    if contender.kind in ("tutorial", "fer"):
        env["KERAS_BACKEND"] = "tensorflow"
    command = worker_command(contender, options, job)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=options.timeout, env=env,
                              cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {options.timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return {"error": lines[-1] if lines else f"exit code {done.returncode}, no output"}


MEDIAN_KEYS = ("fps", "p50_ms", "p95_ms", "mean_ms", "decode_ms", "peak_rss_mb", "import_s", "startup_s",
               "faces_per_frame")


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs of every figure; stage means too; text fields from the last run."""
    summary: dict[str, Any] = {k: round(statistics.median(r[k] for r in runs), 4) for k in MEDIAN_KEYS}
    summary["frames"] = runs[-1]["frames"]
    summary["runs"] = len(runs)
    stages = list(dict.fromkeys(name for r in reversed(runs) for name in r.get("stages_ms", {})))
    summary["stages_ms"] = {s: round(statistics.median(r.get("stages_ms", {}).get(s, 0.0) for r in runs), 4)
                            for s in stages}
    for key in ("model", "model_note", "interpreter", "versions"):
        if key in runs[-1]:
            summary[key] = runs[-1][key]
    return summary


def accuracy_key(contender: Contender) -> str:
    return {"ours": f"ours-{contender.variant}{'-flip' if contender.flip else ''}", "tutorial": "tutorial",
            "fer": "fer" if contender.fer_tflite else "fer-keras"}[contender.kind]


def compare(options: CompareOptions, log: Callable[[str], None] = print) -> list[Outcome]:
    """Probe every contender, run the available ones `repeats` times (interleaved), measure accuracy."""
    outcomes = [probe(CONTENDERS[name], options) for name in options.contenders]
    for outcome in outcomes:
        if outcome.status == "skipped":
            log(f"  {outcome.contender.name}: skipped ({outcome.reason}); install: {outcome.install}")
    active = [o for o in outcomes if o.status == "ok"]
    for repeat in range(options.repeats):
        for outcome in active:
            if outcome.status != "ok":
                continue
            result = spawn(outcome.contender, options, "video")
            if "error" in result:
                outcome.status, outcome.reason = "failed", result["error"]
                log(f"  {outcome.contender.name}: failed: {result['error']}")
                continue
            outcome.runs.append(result)
            log(f"  run {repeat + 1}/{options.repeats} {outcome.contender.name}: {result['fps']:.1f} FPS, "
                f"p50 {result['p50_ms']:.1f} ms, peak RSS {result['peak_rss_mb']:.0f} MiB, "
                f"start-up {result['startup_s']:.2f} s")
    accuracies: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        if outcome.runs:
            outcome.summary = summarize_runs(outcome.runs)
        key = accuracy_key(outcome.contender)
        if outcome.contender.kind == "tutorial":
            outcome.accuracy = {"accuracy": None, "source": "untrained (weights=None): speed only"}
        elif outcome.status == "ok" and options.accuracy:
            if key not in accuracies:
                result = spawn(outcome.contender, options, "accuracy")
                accuracies[key] = ({"accuracy": None, "source": f"failed: {result['error']}"} if "error" in result
                                   else result)
                log(f"  accuracy {key}: {_format_accuracy(accuracies[key])} ({accuracies[key].get('source', '')})")
            outcome.accuracy = accuracies[key]
    return outcomes


# --------------------------------------------------------------------------------------------------
# The Raspberry Pi estimate
# --------------------------------------------------------------------------------------------------

def ratio_range(pairs: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    """Smallest and largest Pi/x86 time ratio of published pairs."""
    ratios = [pi / x86 for pi, x86 in pairs]
    return min(ratios), max(ratios)


def pi_estimate(summary: dict[str, Any], cnn_detector: bool = False) -> dict[str, tuple[float, float]]:
    """Estimated ms per frame on a Pi 4 and Pi 5 (low, high) from this machine's per-stage means.

    The CNN stages ("infer", and "detect" when the detector is a CNN such as BlazeFace) scale by the
    published CNN ratio; everything else (decoding, Haar detection, preprocessing, drawing, Python) by the
    Haar ratio. Pi 5 = Pi 4 / (1.85 .. 3).
    """
    stages = dict(summary.get("stages_ms", {}))
    infer = stages.pop("infer", 0.0) + (stages.pop("detect", 0.0) if cnn_detector else 0.0)
    rest = summary.get("mean_ms", 0.0) - infer + summary.get("decode_ms", 0.0)
    haar, cnn = ratio_range(HAAR_PI4_VS_X86), ratio_range(CNN_PI4_VS_X86)
    pi4 = (rest * haar[0] + infer * cnn[0], rest * haar[1] + infer * cnn[1])
    pi5 = (pi4[0] / PI5_OVER_PI4[1], pi4[1] / PI5_OVER_PI4[0])
    return {"host_ms": (infer, rest), "pi4_ms": pi4, "pi5_ms": pi5}


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------

ARM_PARTS = {"0xd03": "Cortex-A53", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76"}


def machine() -> dict[str, Any]:
    """CPU model, cores, board (on a Raspberry Pi), OS, Python and the 1-minute load average."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    cpu = (fields.get("model name") or ARM_PARTS.get(fields.get("cpu part", ""), "")
           or platform.processor() or platform.machine())
    try:
        board = Path("/proc/device-tree/model").read_text().strip("\x00 \n")
    except OSError:
        board = ""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"cpu": cpu, "board": board, "cores": os.cpu_count(), "arch": platform.machine(),
            "os": platform.platform(), "python": platform.python_version(), "load_1min": round(load[0], 2)}


def is_x86(host: dict[str, Any]) -> bool:
    return host.get("arch", "").lower() in ("x86_64", "amd64", "i686", "i386")


def _format_accuracy(accuracy: dict[str, Any]) -> str:
    value = accuracy.get("accuracy")
    return f"{value:.2%}" if isinstance(value, float) else ("untrained" if "untrained" in
                                                            accuracy.get("source", "") else "n/a")


def table_row(outcome: Outcome) -> list[str]:
    """One Markdown table row: the contender, then its medians (or why it has none)."""
    c, s = outcome.contender, outcome.summary
    if outcome.status != "ok" or not s:
        reason = outcome.reason + (f"; install: `{outcome.install}`" if outcome.install else "")
        return [c.label, outcome.status, "", "", "", "", "", "", "", reason]
    accuracy = _format_accuracy(outcome.accuracy) if outcome.accuracy else "not measured"
    return [c.label, f"{s['fps']:.1f}", f"{s['p50_ms']:.1f}", f"{s['p95_ms']:.1f}", f"{s['peak_rss_mb']:.0f}",
            f"{s['import_s']:.2f}", f"{s['startup_s']:.2f}", accuracy, f"{s['faces_per_frame']:.2f}",
            s.get("model_note", "")]


TABLE_HEADER = ["contender", "FPS", "p50 ms", "p95 ms", "peak RSS MiB", "import s", "start-up s",
                "PublicTest accuracy", "faces/frame", "model"]


def format_table(outcomes: list[Outcome]) -> str:
    """The headline Markdown table (the same columns on every machine, so Pi runs compare with ours)."""
    lines = ["| " + " | ".join(TABLE_HEADER) + " |",
             "|---|" + "---:|" * (len(TABLE_HEADER) - 2) + "---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in table_row(o)) + " |" for o in outcomes]
    return "\n".join(lines)


def bars(outcomes: list[Outcome]) -> list[str]:
    """The project's bars, measured on this run, for int8 on 1 thread with and without --flip (information, not
    a verdict on other machines)."""
    by = {o.contender.name: o for o in outcomes if o.status == "ok" and o.summary}
    ours_runs = [(by[n], what) for n, what in (("ours-int8-1t", "int8, 1 thread"),
                                                ("ours-int8-flip-1t", "int8 --flip, 1 thread")) if n in by]
    if not ours_runs:
        return ["- ours-int8-1t did not run: no bars to check."]
    lines = []
    for ours, mine in ours_runs:
        for name, need, what in (("tutorial", 10.0, "FPS vs the tutorial loop"), ("fer", 2.5, "FPS vs fer")):
            if name in by:
                ratio = ours.summary["fps"] / by[name].summary["fps"]
                lines.append(f"- {mine}, {what}: **{ratio:.1f}x** (bar: at least {need:g}x) - "
                             f"{'meets' if ratio >= need else 'misses'} it")
        if "fer" in by:
            ratio = by["fer"].summary["peak_rss_mb"] / ours.summary["peak_rss_mb"]
            lines.append(f"- peak memory, fer / {mine}: **{ratio:.1f}x** (bar: at least 4x, i.e. at most a "
                         f"quarter of fer's) - {'meets' if ratio >= 4 else 'misses'} it")
            ours_acc, fer_acc = ours.accuracy.get("accuracy"), by["fer"].accuracy.get("accuracy")
            if isinstance(ours_acc, float) and isinstance(fer_acc, float):
                lines.append(f"- PublicTest accuracy, {mine} vs fer: **{ours_acc:.2%} vs {fer_acc:.2%}** (bar: at "
                             f"least equal) - {'meets' if ours_acc >= fer_acc else 'misses'} it")
    return lines or ["- neither the tutorial loop nor fer ran: no ratios."]


def _fps(ms: float) -> float:
    return 1000.0 / ms if ms > 0 else 0.0


def pi_section(outcomes: list[Outcome]) -> list[str]:
    haar, cnn = ratio_range(HAAR_PI4_VS_X86), ratio_range(CNN_PI4_VS_X86)
    lines = ["## Raspberry Pi 4 and 5: ESTIMATE (not measured)", "",
             "> **ESTIMATE.** No Raspberry Pi was available. These figures are this machine's measured per-stage "
             "costs scaled by published single-thread Pi/x86 ratios; they are a range, not a measurement. Run the "
             "recipe below on a Pi for real figures.", "",
             "Method, per frame: the CNN stages (`infer`: TFLite invoke, Keras predict; and `detect` for the "
             "BlazeFace detectors) are multiplied by the "
             f"published Pi 4/x86 ratio for a small CNN, **{cnn[0]:.1f}-{cnn[1]:.1f}x**; everything else (decoding, "
             f"Haar detection, preprocessing, drawing, Python) by the ratio for OpenCV's Haar cascade, "
             f"**{haar[0]:.1f}-{haar[1]:.1f}x**. Pi 5 = Pi 4 divided by "
             f"**{PI5_OVER_PI4[0]:.2f}-{PI5_OVER_PI4[1]:.0f}x**. "
             "One-thread rows only (the Pi has 4 cores, this machine has fewer). Assumes one core of this machine "
             "is about as fast as the published x86 laptop core (Intel i7-1255U); if it is slower, the Pi "
             "figures below are pessimistic, and the other way round.", "",
             "| contender | here: CNN ms | here: other ms | Pi 4 ms/frame | Pi 4 FPS | Pi 5 ms/frame | Pi 5 FPS |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for o in outcomes:
        if o.status != "ok" or not o.summary or o.contender.threads != 1:
            continue
        e = pi_estimate(o.summary, o.contender.kind == "ours" and o.contender.detector.startswith("blazeface"))
        pi4, pi5 = e["pi4_ms"], e["pi5_ms"]
        lines.append(f"| {o.contender.label} | {e['host_ms'][0]:.1f} | {e['host_ms'][1]:.1f} | "
                     f"{pi4[0]:.0f}-{pi4[1]:.0f} | {_fps(pi4[1]):.1f}-{_fps(pi4[0]):.1f} | "
                     f"{pi5[0]:.0f}-{pi5[1]:.0f} | {_fps(pi5[1]):.1f}-{_fps(pi5[0]):.1f} |")
    lines += ["", "Sources of the ratios:", ""]
    lines += [f"- {what}: {where}" for what, where in PI_SOURCES]
    lines += ["", "Caveats: the CNN ratio is for OpenCV's DNN module (fp32), not TFLite/XNNPACK; int8 on the Pi 4's "
              "Cortex-A72 lacks the dot-product instructions the Pi 5's Cortex-A76 has, so int8 may gain more than "
              "the Pi 5 range above. Keras/TensorFlow on a Pi adds its own overheads.", ""]
    return lines


def pi_recipe() -> list[str]:
    return ["## Real figures on a Raspberry Pi", "",
            "On a Raspberry Pi 4 or 5 (64-bit Raspberry Pi OS, Python 3.10-3.12), from a checkout of this project, "
            "one command installs the three environments and writes the same report as this one:", "",
            "```bash",
            'python3 -m venv .venv && .venv/bin/pip install -e ".[train]" && .venv/bin/python scripts/bench_compare.py '
            "--setup-fer --out docs/benchmarks-pi.md --chart docs/benchmarks-pi.png",
            "```", "",
            "`--setup-fer` creates `.venv-fer` with the pinned fer environment if it is missing. FER2013 for the "
            "accuracy column is read from `../shared/data/fer2013` (`--data`); without it our accuracy comes from "
            "the model metadata and fer's is not measured.", ""]


def format_report(outcomes: list[Outcome], options: CompareOptions, command: str, host: dict[str, Any],
                  chart_name: str | None) -> str:
    """The whole Markdown document."""
    runs = max((o.summary.get("runs", 0) for o in outcomes if o.summary), default=0)
    frames = max((o.summary.get("frames", 0) for o in outcomes if o.summary), default=0)
    lines = ["# Side-by-side benchmark: fer-edge vs the tutorial loop vs the `fer` package", ""]
    if options.banner:
        lines += [f"> **{options.banner}**", ""]
    lines += [f"Generated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by:", "", "```bash", command,
              "```", "",
              f"Machine: {host['board'] + ', ' if host.get('board') else ''}{host['cpu']}, {host['cores']} cores "
              f"({host['arch']}), {host['os']}, Python {host['python']}; "
              f"1-minute load average at start {host['load_1min']}"
              + (" (**the machine was busy: figures are not final**)" if host["load_1min"] > 0.5 else "") + ".", "",
              f"Video: `{_rel(options.video)}`, {frames} timed frames per run after {options.warmup} warm-up frames; "
              f"each figure is the median of {runs} run(s) per contender, contenders interleaved"
              + (" (**fewer than 3 runs: not a final figure**)" if runs < 3 else "") + ".", "",
              format_table(outcomes), ""]
    if chart_name:
        lines += [f"![FPS, peak memory and accuracy per contender]({chart_name})", ""]
    lines += ["What the columns mean:", "",
              "- **FPS**: timed frames / wall time of the loop, video decoding (`cv2.VideoCapture`, the same for all) "
              "included.",
              "- **p50/p95 ms**: per-frame processing latency, decoding excluded.",
              "- **peak RSS**: the worker process's peak resident memory (`ru_maxrss`) at the end of the run: "
              "imports, model, warm-up and the run.",
              "- **import s**: importing the contender's modules; **start-up s**: process spawn to ready for the "
              "first frame (Python start, imports, model and cascade load).",
              "- **PublicTest accuracy**: the classifier on FER2013's 3,589 PublicTest faces. Ours: the project's "
              "evaluation (`fer-eval MODEL DATA`, train/evaluate.py). fer: its emotion classifier on each 48x48 face "
              "with fer's own preprocessing (resize to 64x64, /255, -0.5, x2); fer's labels are FER2013's names in "
              "FER2013's order, mapped by name. The tutorial's model has no trained weights here (no download "
              "allowed), so only its speed is compared. fer's model (Arriaga's mini-Xception) was trained on the "
              "first 80% of fer2013.csv, which is exactly Training, with the rest (PublicTest and PrivateTest) as the "
              "validation set that chose its checkpoint (face_classification: src/train_emotion_classifier.py, "
              "src/utils/datasets.py `split_data`): no PublicTest face was trained on, but its PublicTest figure is "
              "from a model selected on PublicTest, so it is slightly optimistic.",
              "- **faces/frame**: faces found per frame (detectors differ: ours by default BlazeFace short range on "
              "the whole frame plus a small-face scan every 0.5 s, with `--detector haar` Haar at 320 px wide, "
              "minimum face 48 px; the tutorial runs Haar 1.1/4 on the full frame; fer Haar 1.1/5, minimum 50 px, "
              "full frame).", ""]
    lines += ["## Against the project's bars (this run)", "", *bars(outcomes), ""]
    lines += ["## Details per contender", ""]
    for o in outcomes:
        c = o.contender
        if o.status != "ok" or not o.summary:
            lines.append(f"- **{c.label}**: {o.status}: {o.reason}"
                         + (f". Install: `{o.install}`" if o.install else ""))
            continue
        s = o.summary
        versions = ", ".join(f"{k} {v}" for k, v in s.get("versions", {}).items())
        stages = ", ".join(f"{k} {v:.2f}" for k, v in s.get("stages_ms", {}).items())
        extra = ""
        if "accuracy_detect_emotions" in o.accuracy:
            extra = (f"; accuracy through `detect_emotions` with the whole 48x48 image as the face box "
                     f"(fer's padding and 10 px offsets): {o.accuracy['accuracy_detect_emotions']:.2%}")
        lines.append(f"- **{c.label}** (`{c.name}`): {s.get('model_note', '')}; runs with {s.get('interpreter', '')}; "
                     f"mean ms per frame by stage: {stages}; decode {s['decode_ms']:.2f} ms; accuracy source: "
                     f"{o.accuracy.get('source', 'not measured')}{extra}; versions: {versions}.")
    lines += [""]
    if is_x86(host):
        lines += pi_section(outcomes)
    lines += pi_recipe()
    lines += ["## The `fer` environment", "",
              f"`fer` is installed only for this benchmark, in its own virtual environment ({FER_REQUIREMENTS}): "
              f"`{FER_INSTALL}`. Plain `pip install fer` ({FER_VERSION}) does not give a working install today: it "
              "resolves to opencv-contrib-python 5.x, whose wheel has no Haar cascade files (fer's default face "
              "detector), and to a setuptools without `pkg_resources`, which fer imports; its facenet-pytorch "
              "dependency (only for `mtcnn=True`) pulls PyTorch. fer 25.10.x also no longer re-exports `FER` from "
              "the package (`from fer import FER` fails; `from fer.fer import FER` works).", ""]
    return "\n".join(lines)


def _rel(path: Path) -> str:
    """`path` relative to the checkout (`../shared/...` for the data beside it), so reports are portable."""
    try:
        return os.path.relpath(Path(path).resolve(), ROOT)
    except ValueError:
        return str(path)


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        _usual_mode(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _usual_mode(path: str) -> None:
    """The mode a plain open() would have given (mkstemp makes files private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_chart(outcomes: list[Outcome], path: Path, banner: str = "") -> bool:
    """FPS, peak memory and accuracy per contender as a PNG; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    done = [o for o in outcomes if o.status == "ok" and o.summary]
    if not done:
        return False
    labels = [o.contender.label for o in done][::-1]
    colours = ["#2b7bba" if o.contender.kind == "ours" else "#d9822b" if o.contender.kind == "fer" else "#8c8c8c"
               for o in done][::-1]
    panels = (("FPS (higher is better)", [o.summary["fps"] for o in done][::-1], "{:.1f}"),
              ("peak RSS, MiB (lower is better)", [o.summary["peak_rss_mb"] for o in done][::-1], "{:.0f}"),
              ("PublicTest accuracy, % (tutorial: untrained)",
               [100 * (o.accuracy.get("accuracy") or 0.0) for o in done][::-1], "{:.1f}"))
    figure, axes = plt.subplots(1, 3, figsize=(15, 0.55 * len(done) + 1.8), sharey=True)
    for axis, (title, values, fmt) in zip(axes, panels):
        bars_ = axis.barh(labels, values, color=colours)
        axis.set_title(title, fontsize=10)
        axis.bar_label(bars_, labels=[fmt.format(v) if v else "" for v in values], fontsize=8, padding=2)
        axis.margins(x=0.18)
        axis.tick_params(labelsize=8)
    figure.suptitle("fer-edge vs alternatives" + (f" - {banner}" if banner else ""), fontsize=11)
    figure.tight_layout()
    png = io.BytesIO()
    try:
        figure.savefig(png, format="png", dpi=110)
    finally:
        plt.close(figure)
    write_atomic(path, png.getvalue())
    return True


def setup_fer(python: Path, log: Callable[[str], None] = print) -> None:
    """Create the fer environment at python's venv (…/bin/python) from scripts/requirements-fer.txt."""
    if python.exists():
        return
    venv = python.parent.parent
    log(f"creating {venv} for fer ({FER_REQUIREMENTS}, then fer=={FER_VERSION} without its dependencies)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-r", str(ROOT / FER_REQUIREMENTS)], check=True)
    subprocess.run([*pip, "--no-deps", f"fer=={FER_VERSION}"], check=True)


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    d = CompareOptions()
    p = argparse.ArgumentParser(prog="bench_compare.py", description=__doc__,
                                formatter_class=lambda prog: _Formatter(prog, max_help_position=30))
    p.add_argument("--video", type=Path, default=d.video, help="the video every contender runs on")
    p.add_argument("--repeats", type=int, default=d.repeats, help="runs per contender (median reported; >= 3 "
                   "for final figures)")
    p.add_argument("--frames", type=int, default=d.frames, help="timed frames per run (0 = the whole video once)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="untimed frames first in every run")
    p.add_argument("--contenders", nargs="+", choices=list(CONTENDERS), default=list(d.contenders), metavar="NAME",
                   help=f"what to run, from: {', '.join(CONTENDERS)}")
    p.add_argument("--int8-model", type=Path, default=d.int8_model, help="our int8 model")
    p.add_argument("--float32-model", type=Path, default=d.float32_model, help="our float32 model")
    p.add_argument("--tutorial-python", type=Path, default=d.tutorial_python,
                   help="python with TensorFlow/Keras for the tutorial loop")
    p.add_argument("--fer-python", type=Path, default=d.fer_python, help="python of the fer environment")
    p.add_argument("--setup-fer", action="store_true", help="create the fer environment first if it is missing")
    p.add_argument("--data", type=Path, default=d.data, help="FER2013 (Kaggle layout) for the accuracy column")
    p.add_argument("--no-accuracy", action="store_true", help="skip the accuracy measurements")
    p.add_argument("--out", type=Path, default=d.out, help="Markdown report")
    p.add_argument("--chart", type=Path, default=d.chart, help="PNG chart (linked from the report)")
    p.add_argument("--json", type=Path, default=None, help="also write every run's figures here")
    p.add_argument("--banner", type=str, default=d.banner, help="a note at the top of the report")
    p.add_argument("--timeout", type=float, default=d.timeout, help="seconds before a worker is given up")
    worker = p.add_argument_group("worker mode (internal)")
    worker.add_argument("--worker", dest="kind", choices=list(WORKERS), default=None, help=argparse.SUPPRESS)
    worker.add_argument("--job", choices=("video", "accuracy"), default="video", help=argparse.SUPPRESS)
    worker.add_argument("--model", type=str, default="", help=argparse.SUPPRESS)
    worker.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    worker.add_argument("--fer-keras", dest="fer_tflite", action="store_false", help=argparse.SUPPRESS)
    worker.add_argument("--flip", action="store_true", help=argparse.SUPPRESS)
    worker.add_argument("--detector", type=str, default="blazeface", help=argparse.SUPPRESS)
    worker.add_argument("--spawned-at", type=float, default=0.0, help=argparse.SUPPRESS)
    return p


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    if args.kind:
        args.video, args.data = str(args.video), str(args.data)
        args.spawned_at = args.spawned_at or time.time()
        return run_worker(args)
    try:
        options = CompareOptions(video=args.video, repeats=args.repeats, frames=args.frames, warmup=args.warmup,
                                 contenders=tuple(args.contenders), int8_model=args.int8_model,
                                 float32_model=args.float32_model, tutorial_python=args.tutorial_python,
                                 fer_python=args.fer_python, data=args.data, accuracy=not args.no_accuracy,
                                 out=args.out, chart=args.chart, json_out=args.json, banner=args.banner,
                                 timeout=args.timeout)
        if not options.video.is_file():
            raise ValueError(f"{options.video}: no such video")
        if args.setup_fer and any(CONTENDERS[c].kind == "fer" for c in options.contenders):
            setup_fer(options.fer_python)
    except (ValueError, OSError, subprocess.CalledProcessError) as exc:
        print(f"bench_compare: error: {exc}", file=sys.stderr)
        return 2
    options = replace(options, video=options.video.resolve())
    command = "python " + shlex.join([_rel(SCRIPT), *argv])
    host = machine()
    print(f"{host['cpu']}, {host['cores']} cores, load {host['load_1min']}; {options.repeats} run(s) per contender")
    outcomes = compare(options)
    chart_name = None
    if write_chart(outcomes, options.chart, options.banner):
        chart_name = os.path.relpath(options.chart.resolve(), options.out.resolve().parent)
    report = format_report(outcomes, options, command, host, chart_name)
    write_atomic(options.out, report.encode())
    if options.json_out:
        write_atomic(options.json_out, json.dumps({"command": command, "machine": host,
                                               "outcomes": [o.to_dict() for o in outcomes]}, indent=1).encode())
    print(format_table(outcomes))
    print(f"wrote {options.out}" + (f" and {options.chart}" if chart_name else ""))
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
