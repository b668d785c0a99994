"""Measure each detector's crop framing: the box-to-crop transform that reproduces FER2013's own framing.

    python scripts/measure_framing.py ../shared/data/fer2013 [--faces 600] [--photos ../shared/data/faces-wild]

FER2013 training faces are upscaled 5x (48 -> 240 px) and padded with their own border (edge pixels
repeated) to 640x640; each detector runs on them, and the crop that equals the face image's own extent
is expressed in units of the detector's box: side / box side (scale), and the offset of its centre in
box widths (dx) and heights (dy); the medians are `edge.detect.FRAMINGS` for blazeface-full and haar.
For blazeface (the default) it then scores a grid of framings (scale x dy) by the shipped model's
accuracy on held-out FER2013 faces (fer-train's validation split), so framed; the best is the default's
framing (the geometric fit is a little worse there, and on the whole-head photos). For comparison it also fits,
on the whole-head photos, each BlazeFace box to Haar's box so framed (an alternative that was measured
and not taken: see the README). Then, on other whole-head photos, it reports how well the mapped crops
of the detectors agree (their IoU), and how often the shipped model's label changes when the mapped
crop is shifted by 3 px or scaled by 5%.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.classify import Classifier, ModelOptions  # noqa: E402
from edge.contract import to_model_pixels  # noqa: E402
from edge.detect import DETECTORS, FRAMINGS, DetectorOptions, Framing, ScanOptions, make_detector  # noqa: E402
from edge.results import Box  # noqa: E402

UPSCALE, PAD = 5, 200


def fer_faces(data: Path, count: int, seed: int) -> list[np.ndarray]:
    paths = sorted((data / "train").glob("*/*.jpg")) or sorted(data.glob("*/*.jpg"))
    if not paths:
        raise SystemExit(f"measure_framing: error: no FER2013 training images under {data}")
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in random.Random(seed).sample(paths, count)]


def fit(detector_name: str, faces: list[np.ndarray]) -> tuple[Framing, int, np.ndarray]:
    detector = make_detector(DetectorOptions(kind=detector_name, scan=ScanOptions(interval=0)))
    side = 48 * UPSCALE
    extent = Box(PAD, PAD, side, side)
    rows = []
    for face in faces:
        big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        canvas = cv2.cvtColor(cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE), cv2.COLOR_GRAY2BGR)
        found = [d.box for d in detector.detect(canvas) if d.box.iou(extent) > 0.3]
        if found:
            box = max(found, key=extent.iou)
            cx, cy = box.x + box.w / 2, box.y + box.h / 2
            rows.append((side / ((box.w + box.h) / 2), (PAD + side / 2 - cx) / box.w, (PAD + side / 2 - cy) / box.h))
    values = np.array(rows)
    scale, dx, dy = np.median(values, axis=0)
    return Framing(round(float(scale), 3), round(float(dx), 3), round(float(dy), 3)), len(rows), values


def fit_to_haar(name: str, photos: Path, count: int, seed: int, haar_framing: Framing) -> tuple[Framing, int]:
    """`name`'s box -> Haar's box on the whole-head photos, composed with Haar's FER2013 framing."""
    paths = random.Random(seed).sample(sorted(photos.rglob("*.jpg")), count)
    detector = make_detector(DetectorOptions(kind=name, scan=ScanOptions(interval=0)))
    haar = make_detector(DetectorOptions(kind="haar"))
    rows = []
    for path in paths:
        image = cv2.imread(str(path))
        found, reference = detector.detect(image), haar.detect(image)
        if not found or not reference:
            continue
        target = haar_framing.crop_box(reference[0].box)
        box = max(found, key=lambda d: d.box.iou(target)).box
        if box.iou(target) < 0.3:
            continue
        rows.append((target.w / ((box.w + box.h) / 2), (target.x + target.w / 2 - box.x - box.w / 2) / box.w,
                     (target.y + target.h / 2 - box.y - box.h / 2) / box.h))
    scale, dx, dy = np.median(np.array(rows), axis=0)
    return Framing(round(float(scale), 3), round(float(dx), 3), round(float(dy), 3)), len(rows)


SCALES, DYS = (1.1, 1.15, 1.2, 1.25, 1.3, 1.4), (-0.12, -0.076, -0.04, 0.0)


def accuracy_grid(data: Path, count: int, fitted: Framing) -> list[tuple[Framing, float]]:
    """The shipped model's accuracy on held-out FER2013 faces (fer-train's validation split, never trained
    on; upscaled and padded as above), cropped from the default detector's box with each framing of a
    scale x dy grid and with the geometric fit: (framing, accuracy) best first."""
    from edge.contract import InputSpec
    from train.data import load_fer2013, make_splits

    val = make_splits(load_fer2013(data, InputSpec()), 0.1, 1).val
    classifier = Classifier.from_options(ModelOptions())
    detector = make_detector(DetectorOptions(kind="blazeface", scan=ScanOptions(interval=0)))
    grid = [Framing(s, 0.0, dy) for s in SCALES for dy in DYS] + [fitted]
    hits, found = np.zeros(len(grid)), 0
    for i in np.random.default_rng(0).permutation(len(val))[:count]:
        big = cv2.resize(val.images[i][..., 0], (48 * UPSCALE, 48 * UPSCALE), interpolation=cv2.INTER_CUBIC)
        canvas = cv2.cvtColor(cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE), cv2.COLOR_GRAY2BGR)
        faces = detector.detect(canvas)
        if not faces:
            continue
        box = max(faces, key=lambda d: d.box.w * d.box.h).box
        found += 1
        crops = np.stack([to_model_pixels(f.crop_box(box).crop(canvas), classifier.info.input) for f in grid])
        hits += [classifier.labels.index(p.label) == val.labels[i] for p in classifier.predict(crops)]
    print(f"held-out FER2013 faces: blazeface found {found} of {count}")
    return sorted(zip(grid, hits / max(found, 1)), key=lambda row: -row[1])


def photo_checks(photos: Path, count: int, seed: int) -> None:
    paths = sorted(p for p in photos.rglob("*.jpg"))
    paths = random.Random(seed).sample(paths, min(count, len(paths)))
    detectors = {name: make_detector(DetectorOptions(kind=name, scan=ScanOptions(interval=0))) for name in DETECTORS}
    classifier = Classifier.from_options(ModelOptions())
    overlaps: dict[tuple[str, str], list[float]] = {}
    changed: dict[str, list[int]] = {}
    for path in paths:
        image = cv2.imread(str(path))
        crops = {}
        for name, detector in detectors.items():
            found = detector.detect(image)
            if found:
                crops[name] = FRAMINGS[name].crop_box(max(found, key=lambda d: d.box.w * d.box.h).box)
        for a, b in itertools.combinations(sorted(crops), 2):
            overlaps.setdefault((a, b), []).append(crops[a].iou(crops[b]))
        if "blazeface" in crops:
            base = crops["blazeface"]
            variants = {"shift 3 px": [Box(base.x + dx, base.y + dy, base.w, base.h)
                                       for dx, dy in ((3, 0), (-3, 0), (0, 3), (0, -3))],
                        "scale 5%": [Framing(s).crop_box(base) for s in (0.95, 1.05)]}
            labels = classifier.predict(np.stack([to_model_pixels(b.crop(image), classifier.info.input)
                                                  for b in [base, *variants["shift 3 px"], *variants["scale 5%"]]]))
            first = labels[0].label
            changed.setdefault("shift 3 px", []).extend(p.label != first for p in labels[1:5])
            changed.setdefault("scale 5%", []).extend(p.label != first for p in labels[5:])
    for (a, b), values in overlaps.items():
        print(f"whole-head photos: mapped crops of {a} and {b}: mean IoU {np.mean(values):.3f} "
              f"(median {np.median(values):.3f}, {len(values)} photos)")
    for what, flags in changed.items():
        print(f"whole-head photos, blazeface crop {what}: the label changes in {np.mean(flags):.1%} of {len(flags)} "
              f"crops")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", type=Path, help="FER2013 in Kaggle's layout (its train/ is used)")
    p.add_argument("--faces", type=int, default=600, help="training faces to measure on")
    p.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "faces-wild")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--accuracy-faces", type=int, default=1500,
                   help="held-out faces for the accuracy grid of the default detector's framing (0: skip it)")
    args = p.parse_args()
    faces = fer_faces(args.data, args.faces, args.seed)
    fitted = {}
    for name in DETECTORS:
        fitted[name], found, values = fit(name, faces)
        q1, q3 = np.percentile(values, [25, 75], axis=0)
        print(f"on FER2013 faces, {name}: found {found}/{len(faces)}; {fitted[name]} (quartiles scale "
              f"{q1[0]:.3f}-{q3[0]:.3f}, dx {q1[1]:.3f}-{q3[1]:.3f}, dy {q1[2]:.3f}-{q3[2]:.3f})", flush=True)
    if args.accuracy_faces:
        for framing, accuracy in accuracy_grid(args.data, args.accuracy_faces, fitted["blazeface"]):
            print(f"  {framing}: {accuracy:.2%}{'  (the geometric fit)' if framing == fitted['blazeface'] else ''}")
    if args.photos.is_dir():
        for name in ("blazeface", "blazeface-full"):
            framing, found = fit_to_haar(name, args.photos, 500, args.seed, fitted["haar"])
            print(f"for comparison, on whole-head photos, {name} box -> Haar's box so framed: {framing} "
                  f"({found} photos)")
        photo_checks(args.photos, 300, args.seed + 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
