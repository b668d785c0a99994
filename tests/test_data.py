"""FER2013 loaders: Kaggle folders, fer2013.csv, split prefixes, bad input, and the real data."""

import csv

import cv2
import numpy as np
import pytest

from edge.contract import FER2013_LABELS, InputSpec
from tests.conftest import need_shared_data, write_kaggle_tree
from train.data import DataError, load_fer2013, split_of, stratified_holdout

SPEC = InputSpec()


def test_kaggle_layout_labels_follow_fer2013_order(tiny_kaggle):
    faces = load_fer2013(tiny_kaggle, SPEC)
    assert faces.images.shape[1:] == (48, 48, 1)
    assert faces.counts() == {label: 24 + 8 for label in FER2013_LABELS}
    # the folder "neutral" sorts before "sad" but is index 6 in FER2013's order
    neutral = [i for i, n in enumerate(faces.names) if "/neutral/" in n]
    assert set(faces.labels[neutral]) == {FER2013_LABELS.index("neutral")}


@pytest.mark.parametrize("name, expected", [
    ("Training_123.jpg", "Training"),
    ("PublicTest_9.jpg", "PublicTest"),
    ("PrivateTest_77.jpg", "PrivateTest"),
    ("my_photo.jpg", "test"),  # no known prefix: the folder's split
])
def test_split_from_file_name_prefix(tmp_path, name, expected):
    assert split_of(tmp_path / name, "test") == expected


def test_prefix_splits_are_kept_apart(tiny_kaggle):
    faces = load_fer2013(tiny_kaggle, SPEC)
    assert {s: int((faces.splits == s).sum()) for s in set(faces.splits)} == \
        {"Training": 7 * 24, "PublicTest": 7 * 4, "PrivateTest": 7 * 4}


def write_csv(path, rows, header=("emotion", "pixels", "Usage")):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_csv_loader(tmp_path):
    pixels = " ".join(["128"] * 48 * 48)
    path = write_csv(tmp_path / "fer2013.csv", [(3, pixels, "Training"), (6, pixels, "PublicTest"),
                                                (0, pixels, "PrivateTest"), (9, pixels, "Training"),
                                                (1, "1 2 3", "Training")])
    faces = load_fer2013(path, SPEC)
    assert list(faces.labels) == [3, 6, 0]
    assert list(faces.splits) == ["Training", "PublicTest", "PrivateTest"]
    assert len(faces.skipped) == 2  # label 9 and a short pixel row, counted not silent


def test_csv_with_wrong_columns(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [(1, 2)], header=("label", "image"))
    with pytest.raises(DataError, match="missing columns emotion, pixels, Usage"):
        load_fer2013(path, SPEC)


@pytest.mark.parametrize("make, message", [
    (lambda root: root / "absent", "no such file or folder"),
    (lambda root: root, "no class folders"),
    (lambda root: (root / "joy").mkdir() or root, "unknown class folder 'joy'"),
    (lambda root: (root / "happy").mkdir() or root, "no readable images"),
])
def test_bad_folders(tmp_path, make, message):
    with pytest.raises(DataError, match=message):
        load_fer2013(make(tmp_path), SPEC)


def test_corrupt_images_are_skipped_and_counted(tmp_path):
    root = write_kaggle_tree(tmp_path, {"train": 2, "test": 1})
    (root / "train" / "happy" / "Training_bad.jpg").write_bytes(b"not a jpeg")
    faces = load_fer2013(root, SPEC)
    assert len(faces.skipped) == 1 and "Training_bad.jpg" in faces.skipped[0]
    assert len(faces) == 7 * 3


def test_stratified_holdout_is_seeded_and_stratified():
    labels = np.repeat(np.arange(7), [400, 40, 400, 700, 500, 300, 480])
    first, again = stratified_holdout(labels, 0.1, seed=3), stratified_holdout(labels, 0.1, seed=3)
    assert (first == again).all()
    assert list(np.bincount(labels[first])) == [40, 4, 40, 70, 50, 30, 48]
    assert not (first == stratified_holdout(labels, 0.1, seed=4)).all()


def test_real_fer2013_public_test():
    """Integration: the real PublicTest folder from ../shared loads with the published counts."""
    root = need_shared_data()
    faces = load_fer2013(root / "test", SPEC)
    assert len(faces) == 3589 and set(faces.splits) == {"PublicTest"}
    assert faces.counts()["disgust"] == 56 and faces.counts()["happy"] == 895
    assert not faces.skipped
    image = cv2.imread(str(root / faces.names[0]), cv2.IMREAD_GRAYSCALE)
    assert image is not None and (faces.images[0][:, :, 0] == image).all()
