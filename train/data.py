"""Load FER2013 as users get it (Kaggle's class folders or the original fer2013.csv) and split it as fer-train does."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.contract import FER2013_LABELS, InputSpec, to_model_pixels
from edge.errors import FerEdgeError
from edge.sources import read_image

log = logging.getLogger(__name__)

SPLIT_PREFIXES = ("Training", "PublicTest", "PrivateTest")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm"}
CSV_COLUMNS = ("emotion", "pixels", "Usage")
# Folder names users meet (Kaggle's lower case, some copies capitalised) mapped to FER2013 labels.
CLASS_ALIASES = {name: name for name in FER2013_LABELS} | {"anger": "angry", "happiness": "happy",
                                                            "sadness": "sad", "surprised": "surprise"}


class DataError(FerEdgeError, ValueError):
    """The data set is missing, empty or malformed; the message names the path or value."""


@dataclass
class FaceSet:
    """Face images in model pixels with FER2013-order labels and the split each came from."""

    images: np.ndarray
    """uint8, shape (n, height, width, channels)."""
    labels: np.ndarray
    """int64 indices into `FER2013_LABELS`."""
    splits: np.ndarray
    """The split of each image: Training, PublicTest, PrivateTest, or the folder name."""
    names: list[str] = field(default_factory=list)
    """Where each image came from (file name or CSV row)."""
    skipped: list[str] = field(default_factory=list)
    """Files or rows that could not be read, each with the reason."""

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask_or_index: np.ndarray) -> FaceSet:
        idx = np.flatnonzero(mask_or_index) if mask_or_index.dtype == bool else mask_or_index
        return FaceSet(self.images[idx], self.labels[idx], self.splits[idx],
                       [self.names[i] for i in idx], list(self.skipped))

    def split(self, name: str) -> FaceSet:
        return self.subset(self.splits == name)

    def counts(self) -> dict[str, int]:
        """Images per label, in label order."""
        found = np.bincount(self.labels, minlength=len(FER2013_LABELS))
        return {label: int(n) for label, n in zip(FER2013_LABELS, found)}


def split_of(path: Path, default: str) -> str:
    """The FER2013 split a Kaggle file name encodes (`Training_123.jpg`), else `default`."""
    prefix = path.name.split("_", 1)[0]
    return prefix if prefix in SPLIT_PREFIXES else default


def class_folders(root: Path) -> dict[str, Path]:
    """The class-name folders under `root`, by FER2013 label; unknown names are an error."""
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    folders = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        label = CLASS_ALIASES.get(sub.name.lower())
        if label is None:
            known = ", ".join(FER2013_LABELS)
            raise DataError(f"{sub}: unknown class folder {sub.name!r} (expected one of {known})")
        folders[label] = sub
    if not folders:
        raise DataError(f"{root}: no class folders (expected {', '.join(FER2013_LABELS)})")
    return folders


def load_folder(root: Path, spec: InputSpec, default_split: str | None = None) -> FaceSet:
    """Read a folder of class-name folders of images; unreadable images are skipped and counted."""
    default = default_split or root.name
    images, labels, splits, names, skipped = [], [], [], [], []
    for label, folder in class_folders(root).items():
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            image, why = read_image(path, cv2.IMREAD_GRAYSCALE)
            if image is None or image.size == 0:
                skipped.append(f"{path}: {why}")
                continue
            images.append(to_model_pixels(image, spec))
            labels.append(FER2013_LABELS.index(label))
            splits.append(split_of(path, default))
            names.append(str(path.relative_to(root.parent)))
    if not images:
        raise DataError(f"{root}: no readable images in its class folders")
    if skipped:
        log.warning("%s: skipped %d unreadable images, first: %s", root, len(skipped), skipped[0])
    return FaceSet(np.stack(images), np.array(labels, dtype=np.int64), np.array(splits), names, skipped)


def load_csv(path: Path, spec: InputSpec) -> FaceSet:
    """Read the original fer2013.csv (`emotion,pixels,Usage`, 48x48 pixels per row)."""
    images, labels, splits, names, skipped = [], [], [], [], []
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing columns {', '.join(missing)} (expected {','.join(CSV_COLUMNS)})")
        for row_number, row in enumerate(reader):
            try:
                label = int(row["emotion"])
                pixels = np.array(row["pixels"].split(), dtype=np.uint8)
                if not 0 <= label < len(FER2013_LABELS) or pixels.size != 48 * 48:
                    raise ValueError("label out of range or not 48x48 pixels")
            except (ValueError, OverflowError, AttributeError) as exc:
                skipped.append(f"{path.name} row {row_number}: {exc}")
                continue
            images.append(to_model_pixels(pixels.reshape(48, 48), spec))
            labels.append(label)
            splits.append(row["Usage"])
            names.append(f"{path.name}:{row_number}")
    if not images:
        raise DataError(f"{path}: no usable rows")
    if skipped:
        log.warning("%s: skipped %d rows, first: %s", path, len(skipped), skipped[0])
    return FaceSet(np.stack(images), np.array(labels, dtype=np.int64), np.array(splits), names, skipped)


def concat(parts: list[FaceSet]) -> FaceSet:
    return FaceSet(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]),
                   np.concatenate([p.splits for p in parts]), [n for p in parts for n in p.names],
                   [s for p in parts for s in p.skipped])


def load_fer2013(source: Path, spec: InputSpec) -> FaceSet:
    """Load a Kaggle root (train/ and test/), one folder of class folders, or fer2013.csv."""
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    if source.is_file():
        if source.suffix.lower() != ".csv":
            raise DataError(f"{source}: expected fer2013.csv or a folder")
        return load_csv(source, spec)
    subsets = [source / name for name in ("train", "test") if (source / name).is_dir()]
    if subsets:
        return concat([load_folder(sub, spec, "Training" if sub.name == "train" else "test") for sub in subsets])
    return load_folder(source, spec)


def holdout_description(fraction: float, seed: int) -> str:
    """How `stratified_holdout` chose the validation split, as models and reports record it."""
    return f"seeded stratified holdout of Training ({fraction}, seed {seed})"


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask picking a seeded, class-stratified `fraction` of the items."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        take = max(1, round(len(members) * fraction)) if len(members) > 1 else 0
        mask[rng.choice(members, size=take, replace=False)] = True
    return mask


@dataclass
class Splits:
    """The three roles: fit on train, pick epochs on val, report on each test split."""

    train: FaceSet
    val: FaceSet
    tests: dict[str, FaceSet] = field(default_factory=dict)


def check_val_fraction(val_fraction: float) -> None:
    """fer-train's --val-fraction (and the tools' that re-create its split) is a share between 0 and 1."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")


def make_splits(faces: FaceSet, val_fraction: float, seed: int, limit: int | None = None) -> Splits:
    """fer-train's split: a seeded, stratified `val_fraction` of the Training split held out to pick epochs
    (at most `limit` of the rest kept for training, a seeded sample); every other split is a report split."""
    check_val_fraction(val_fraction)
    training = faces.split("Training")
    if len(training) == 0:
        raise DataError("the data has no Training split (expected train/ or Usage=Training rows)")
    held_out = stratified_holdout(training.labels, val_fraction, seed)
    train = training.subset(~held_out)
    if limit:
        keep = np.random.default_rng(seed).permutation(len(train))[:limit]
        train = train.subset(np.sort(keep))
    tests = {name: faces.split(name) for name in sorted(set(faces.splits.tolist()) - {"Training"})}
    return Splits(train=train, val=training.subset(held_out), tests=tests)
