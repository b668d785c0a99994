"""Scene benchmark for the face detectors: recall by face size and brightness, false boxes, cost, label flicker.

    python scripts/bench_scenes.py [--photos ../shared/data/faces-wild] [--scenes 60] [--json OUT]

Builds still-scene sequences (10 frames each, fresh sensor noise per frame) from whole-head photos: 1-4
faces of 24-200 px per 640x480 scene, rotated up to +-30 degrees, squeezed sideways to mimic a turned
head, on generated backgrounds (colour ramps, blurred blobs and bars, grain), at normal light or
dimmed. The true face box of each photo comes from BlazeFace short range on the photo itself at full
size (photos where it finds no face, or more than one, are not used). Each detector runs through the
real `Recognizer` (detect, crop, classify, track), a fresh one per sequence; recall and false boxes
are counted on each sequence's last frame, so a schedule's periodic scan has had its chance. A
detection is a hit when its centre lies inside a true face box and its side is 0.5-2x the true side.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.blazeface import BlazeFaceDetector, BlazeFaceOptions  # noqa: E402
from edge.classify import ModelOptions  # noqa: E402
from edge.detect import DetectorOptions, HaarOptions, ScanOptions  # noqa: E402
from edge.pipeline import Recognizer, RecognizerOptions  # noqa: E402
from edge.results import Box  # noqa: E402

WIDTH, HEIGHT, FRAMES = 640, 480, 10
SIZE_BINS = ((24, 40), (40, 80), (80, 201))
CONTENDERS = {
    "blazeface (default: short range + scan)": DetectorOptions(scan=ScanOptions(background=False)),
    "blazeface, no scan": DetectorOptions(scan=ScanOptions(interval=0)),
    "blazeface-full": DetectorOptions(kind="blazeface-full"),
    "haar (defaults: width 320, min face 48, scale 1.15, 4 neighbours)": DetectorOptions(kind="haar"),
    "haar, width 320, min face 40, scale 1.1, 3 neighbours": DetectorOptions(
        kind="haar", haar=HaarOptions(detect_width=320, min_face=40, scale_factor=1.1, min_neighbors=3)),
    "haar, the defaults until 2026-11-29 (width 240, min face 80, scale 1.2, 5 neighbours)": DetectorOptions(
        kind="haar", haar=HaarOptions(detect_width=240, min_face=80, scale_factor=1.2, min_neighbors=5)),
    "haar, width 320, min face 40, scale 1.1": DetectorOptions(
        kind="haar", haar=HaarOptions(detect_width=320, min_face=40, scale_factor=1.1)),
    "haar, width 480, min face 32, scale 1.1": DetectorOptions(
        kind="haar", haar=HaarOptions(detect_width=480, min_face=32, scale_factor=1.1)),
    "haar, full resolution, min face 24, scale 1.1": DetectorOptions(
        kind="haar", haar=HaarOptions(detect_width=0, min_face=24, scale_factor=1.1)),
}


@dataclass
class Photo:
    image: np.ndarray
    face: tuple[float, float, float]
    """Face centre x, y and side in the photo's pixels."""


@dataclass
class Scene:
    frames: list[np.ndarray]
    faces: list[Box]
    dim: bool


def load_photos(folder: Path, limit: int, seed: int) -> list[Photo]:
    """Photos whose single face BlazeFace short range finds at full size, with that face's box."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    random.Random(seed).shuffle(paths)
    finder = BlazeFaceDetector(BlazeFaceOptions(score_threshold=0.7))
    photos = []
    for path in paths:
        image = cv2.imread(str(path))
        if image is None:
            continue
        found = finder.detect(image)
        if len(found) == 1:
            box = found[0].box
            photos.append(Photo(image, (box.x + box.w / 2, box.y + box.h / 2, (box.w + box.h) / 2)))
        if len(photos) >= limit:
            break
    return photos


def background(rng: np.random.Generator) -> np.ndarray:
    """A face-free background: a colour ramp with blurred blobs and bars (clutter), and grain."""
    top, bottom = rng.integers(30, 230, 3), rng.integers(30, 230, 3)
    ramp = np.linspace(0, 1, HEIGHT)[:, None, None]
    canvas = ((top * (1 - ramp) + bottom * ramp) * np.ones((HEIGHT, WIDTH, 3))).astype(np.uint8)
    for _ in range(rng.integers(4, 12)):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        if rng.random() < 0.5:
            cv2.ellipse(canvas, (x, y), (int(rng.integers(10, 120)), int(rng.integers(10, 120))),
                        float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:
            cv2.rectangle(canvas, (x, y), (x + int(rng.integers(5, 200)), y + int(rng.integers(5, 200))), colour, -1)
    canvas = cv2.GaussianBlur(canvas, (0, 0), float(rng.uniform(1, 6)))
    return np.clip(canvas + rng.normal(0, 6, canvas.shape), 0, 255).astype(np.uint8)


def place(canvas: np.ndarray, photo: Photo, side: float, cx: float, cy: float, angle: float,
          squeeze: float) -> Box:
    """Paste the photo (feathered oval) so its face has `side` px, centred at (cx, cy); the face's box."""
    fx, fy, fside = photo.face
    scale = side / fside
    linear = np.diag([squeeze, 1.0]) @ cv2.getRotationMatrix2D((0, 0), angle, scale)[:, :2]
    matrix = np.hstack([linear, (np.array([cx, cy]) - linear @ np.array([fx, fy]))[:, None]])
    h, w = photo.image.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (round(fx), round(fy)), (round(fside * 1.1), round(fside * 1.45)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), fside * 0.12)
    warped = cv2.warpAffine(photo.image, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_AREA if scale < 1 else
                            cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(mask, matrix, (WIDTH, HEIGHT))[..., None]
    canvas[:] = (canvas * (1 - alpha) + warped * alpha).astype(np.uint8)
    w_side = side * squeeze
    return Box(round(cx - w_side / 2), round(cy - side / 2), round(w_side), round(side))


def make_scene(rng: np.random.Generator, photos: list[Photo], dim: bool) -> Scene:
    canvas = background(rng)
    faces: list[Box] = []
    for _ in range(rng.integers(1, 5)):
        low, high = SIZE_BINS[rng.integers(len(SIZE_BINS))]
        side = float(rng.uniform(low, high))
        for _attempt in range(20):  # no overlapping heads
            cx, cy = rng.uniform(side * 0.6, WIDTH - side * 0.6), rng.uniform(side * 0.6, HEIGHT - side * 0.6)
            box = Box(round(cx - side * 1.3), round(cy - side * 1.7), round(side * 2.6), round(side * 3.4))
            if all(box.iou(Box(f.x - f.w, f.y - f.h, f.w * 3, f.h * 3)) == 0 for f in faces):
                faces.append(place(canvas, photos[rng.integers(len(photos))], side, cx, cy,
                                   float(rng.uniform(-30, 30)), float(rng.uniform(0.7, 1.0))))
                break
    light = rng.uniform(0.2, 0.4) if dim else rng.uniform(0.85, 1.1)
    base = canvas.astype(np.float32) * light
    noise = 8.0 if dim else 3.0
    frames = [np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8) for _ in range(FRAMES)]
    return Scene(frames, faces, dim)


def size_bin(side: float) -> str:
    for low, high in SIZE_BINS:
        if low <= side < high:
            return f"{low}-{high - 1 if high == 201 else high} px"
    return "other"


def is_hit(found: Box, truth: Box) -> bool:
    cx, cy = found.x + found.w / 2, found.y + found.h / 2
    ratio = (found.w + found.h) / (truth.w + truth.h)
    return truth.x <= cx <= truth.x + truth.w and truth.y <= cy <= truth.y + truth.h and 0.5 <= ratio <= 2.0


def evaluate(name: str, options: DetectorOptions, scenes: list[Scene]) -> dict:
    hits: dict[str, list[int]] = {}
    false_boxes, changed, tracked = 0, 0, 0
    for scene in scenes:
        recognizer = Recognizer(RecognizerOptions(model=ModelOptions(), detector=options))  # fresh tracks
        labels: list[set[str]] = [set() for _ in scene.faces]
        for frame in scene.frames:
            faces = recognizer.recognize(frame.copy())
            for i, truth in enumerate(scene.faces):
                labels[i].update(f.label for f in faces if is_hit(f.box, truth))
        recognizer.close()
        light = "dim" if scene.dim else "normal"
        for i, truth in enumerate(scene.faces):
            hits.setdefault(f"{light} {size_bin(truth.h)}", []).append(int(any(is_hit(f.box, truth) for f in faces)))
            if labels[i]:
                tracked += 1
                changed += len(labels[i]) > 1
        false_boxes += sum(not any(is_hit(f.box, t) for t in scene.faces) for f in faces)
    return {"detector": name, "recall": {k: [sum(v), len(v)] for k, v in sorted(hits.items())},
            "false_boxes_per_scene": false_boxes / len(scenes), "label_changed_share": changed / max(tracked, 1)}


def detect_cost(options: DetectorOptions, scenes: list[Scene]) -> dict:
    """Detection milliseconds per frame over all the scenes' frames, as the pipeline runs it (scan in the
    background for the default)."""
    live = replace(options, scan=replace(options.scan, background=True))
    recognizer = Recognizer(RecognizerOptions(model=ModelOptions(), detector=live))
    times = []
    for scene in scenes:
        for frame in scene.frames:
            start = time.perf_counter()
            recognizer.detector.detect(frame)
            times.append((time.perf_counter() - start) * 1000)
    recognizer.close()
    return {"mean": float(np.mean(times)), "p95": float(np.percentile(times, 95))}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "faces-wild")
    p.add_argument("--scenes", type=int, default=60, help="scenes per light level")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", type=str, nargs="*", default=None, help="contender names to run (substrings)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    if not args.photos.is_dir():
        print(f"bench_scenes: error: {args.photos}: no such folder of photos", file=sys.stderr)
        return 2
    photos = load_photos(args.photos, 300, args.seed)
    rng = np.random.default_rng(args.seed)
    scenes = [make_scene(rng, photos, dim) for dim in (False, True) for _ in range(args.scenes)]
    print(f"{len(scenes)} scenes of {FRAMES} frames, {sum(len(s.faces) for s in scenes)} faces, "
          f"from {len(photos)} photos")
    rows = []
    for name, options in CONTENDERS.items():
        if args.only and not any(o in name for o in args.only):
            continue
        row = evaluate(name, options, scenes)
        row["detect_ms"] = detect_cost(options, scenes)
        rows.append(row)
        recall = ", ".join(f"{k} {h}/{n} ({h / n:.0%})" for k, (h, n) in row["recall"].items())
        print(f"{name}: {recall}; false boxes/scene {row['false_boxes_per_scene']:.3f}; labels changed "
              f"{row['label_changed_share']:.1%}; detect ms mean {row['detect_ms']['mean']:.2f} "
              f"p95 {row['detect_ms']['p95']:.2f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
