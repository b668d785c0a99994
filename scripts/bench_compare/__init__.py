"""Side-by-side benchmark on one video: this package's pipeline against what users would pick instead.

    python -m scripts.bench_compare [--video samples/demo.mp4] [--repeats 3] [--fer-python .venv-fer/bin/python]

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
      or pass --setup-fer to have the benchmark do it.

A contender whose environment is missing is reported as skipped with its install command. Accuracy is
measured once per classifier on FER2013 PublicTest (--data): our models through the project's own
evaluation (train/evaluate.py), fer's classifier directly with fer's preprocessing. The output is a
Markdown report (--out) with a chart (--chart), the machine, versions, the exact command, and a
clearly labelled Raspberry Pi 4/5 ESTIMATE from the measured per-stage costs and published ratios.
"""

# Modules, one job each: contenders (what is compared; the options), environment (each contender's Python:
# probed, fer's created), runner (workers spawned, their results, medians), ours_worker + ours_measure,
# tutorial_worker, peer_worker (the workers), pi_estimate, host (the machine), report (Markdown), chart (PNG),
# cli. This file is standard library only: the peers' workers import the package in Pythons that may lack
# the project's dependencies.

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The checkout."""


def checkout_relative(path: str | Path) -> str:
    """`path` relative to the checkout (`../shared/...` for the data beside it), so reports are portable."""
    try:
        return os.path.relpath(Path(path).resolve(), ROOT)
    except ValueError:
        return str(path)
