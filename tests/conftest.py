"""Shared fixtures: tiny generated FER2013-style data, a tiny trained model and its TFLite files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.contract import FER2013_LABELS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data" / "fer2013"
SAMPLES = ROOT / "samples"


def pattern_face(label: int, rng: np.random.Generator) -> np.ndarray:
    """A 48x48 gray image whose class is easy to learn: a bright bar at a class-specific height."""
    image = rng.integers(0, 60, size=(48, 48), dtype=np.uint8)
    top = 3 + label * 6
    image[top:top + 5, 6:42] = 200 + rng.integers(0, 40)
    return image


def write_kaggle_tree(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """A Kaggle-layout FER2013 folder (train/ and test/ with class folders and split prefixes)."""
    rng = np.random.default_rng(seed)
    for subset, prefix_for in (("train", lambda i: "Training"),
                               ("test", lambda i: "PublicTest" if i % 2 == 0 else "PrivateTest")):
        for label_index, label in enumerate(FER2013_LABELS):
            folder = root / subset / label
            folder.mkdir(parents=True, exist_ok=True)
            count = per_class[subset]
            for i in range(count):
                name = f"{prefix_for(i)}_{label_index * 1000 + i}.jpg"
                cv2.imwrite(str(folder / name), pattern_face(label_index, rng))
    return root


@pytest.fixture(scope="session")
def tiny_kaggle(tmp_path_factory) -> Path:
    return write_kaggle_tree(tmp_path_factory.mktemp("fer2013"), {"train": 24, "test": 8})


@pytest.fixture(scope="session")
def tiny_run(tiny_kaggle, tmp_path_factory) -> Path:
    """A compact model trained for 8 epochs on the tiny data (the real fer-train code path; 4 epochs
    learnt the pattern in only some runs, since CPU training is not bit-for-bit repeatable)."""
    from train.fit import train
    from train.options import TrainOptions

    out = tmp_path_factory.mktemp("run")
    train(TrainOptions(data=tiny_kaggle, out=out, epochs=8, filters=4, batch_size=16, learning_rate=0.05,
                       warmup_epochs=0, val_fraction=0.2, patience=10))
    return out


@pytest.fixture(scope="session")
def tiny_tflite(tiny_run, tiny_kaggle, tmp_path_factory) -> dict[str, Path]:
    """The tiny model converted to every variant by fer-convert's library code."""
    from convert.export import ConvertOptions, run

    out = tmp_path_factory.mktemp("tflite")
    paths = run(ConvertOptions(model=tiny_run / "model.keras", data=tiny_kaggle,
                               variants=("int8", "float32", "float16", "dynamic"), out_dir=out, name="tiny",
                               calib_size=21, max_drop=100.0))
    return {p.stem.split("_")[-1]: p for p in paths}


def need_shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real FER2013 not found at {SHARED_DATA} (integration test)")
    return SHARED_DATA


def heavy_modules_after(code: str, timeout: float = 120) -> list[str]:
    """The training-side frameworks (TensorFlow, Keras, torch) that running `code` in a fresh interpreter imports."""
    probe = (f"{code}\nimport json, sys\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'torch'})))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
