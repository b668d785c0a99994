"""The tutorial loop's worker, run in --tutorial-python (TensorFlow, Keras, OpenCV; the project itself is
not needed there): `python -m scripts.bench_compare.tutorial_worker --job video --video V` from the checkout."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from scripts.bench_compare.peer_worker import (
    StageSums,
    emit,
    package_versions,
    parse_worker_args,
    peak_rss_mb,
    ready_times,
    timed_loop,
    video_frames,
)

TUTORIAL_LABELS = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
"""The tutorial's labels, in its model's output order."""


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


def measure_tutorial(args: argparse.Namespace) -> dict[str, Any]:
    """The tutorial's loop, as written there (per face), without the window."""
    started = time.perf_counter()
    import cv2
    import keras
    import numpy as np
    import tensorflow as tf

    import_s = time.perf_counter() - started
    model = tutorial_model()
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    ready = ready_times(args.spawned_at, import_s)
    stages = StageSums()
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

    for frame, _ in video_frames(args.video, args.warmup) if args.warmup else ():
        process(frame)
    stages.samples = {}
    result = timed_loop(process, args.video, args.frames, 0)
    return {**result, **ready, "peak_rss_mb": round(peak_rss_mb(), 1), "stages_ms": stages.means(result["frames"]),
            "model_note": "MobileNetV2 alpha 1.0 224x224x3 + Dense 128/64/7, weights=None (untrained)",
            "interpreter": f"Keras {keras.__version__} predict, TensorFlow {tf.__version__}",
            "versions": package_versions("numpy", "opencv-python-headless", "opencv-python", "tensorflow", "keras")}


def main(argv: list[str] | None = None) -> int:
    args = parse_worker_args(argv, "The tutorial loop's worker: one job, one JSON result line.")
    return emit(lambda: measure_tutorial(args))


if __name__ == "__main__":
    sys.exit(main())
