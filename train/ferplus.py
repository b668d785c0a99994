"""FER+ crowd labels (Barsoum et al., 2016): ten annotators' votes per FER2013 image, as soft targets.

`fer2013new.csv` has one row per fer2013.csv row, in the same order, with vote counts for
neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown and NF. Faces loaded
from fer2013.csv find their row by index; faces loaded from Kaggle's folders need
`kaggle_to_fer2013_row.csv` (`kaggle_path,fer2013_row`) in the same folder. Only the seven votes
that are FER2013 classes are used (contempt, unknown and not-a-face are dropped).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from edge.contract import FER2013_LABELS
from train.data import DataError

VOTES_FILE = "fer2013new.csv"
KAGGLE_MAP_FILE = "kaggle_to_fer2013_row.csv"
# FER+ vote columns for each FER2013 label, in FER2013 label order.
VOTE_COLUMNS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
                "sad": "sadness", "surprise": "surprise", "neutral": "neutral"}


def read_votes(folder: Path) -> np.ndarray:
    """The votes of every fer2013.csv row, shape (rows, 7) in FER2013 label order."""
    path = Path(folder) / VOTES_FILE
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [VOTE_COLUMNS[label] for label in FER2013_LABELS]
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: missing vote columns {', '.join(missing)}")
            return np.array([[float(row[c] or 0) for c in columns] for row in reader], dtype=np.float32)
    except OSError as exc:
        raise DataError(f"{path}: cannot read FER+ votes ({exc.strerror})") from exc
    except ValueError as exc:
        raise DataError(f"{path}: a vote count is not a number ({exc})") from exc


def read_kaggle_rows(folder: Path) -> dict[str, int]:
    """Kaggle file path (relative to the FER2013 root) -> fer2013.csv row, for the mapped images."""
    path = Path(folder) / KAGGLE_MAP_FILE
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            columns, rows = reader.fieldnames or [], list(reader)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the Kaggle-to-row map ({exc.strerror})") from exc
    if not {"kaggle_path", "fer2013_row"} <= set(columns):
        raise DataError(f"{path}: expected columns kaggle_path,fer2013_row")
    try:
        return {row["kaggle_path"]: int(row["fer2013_row"]) for row in rows if row["fer2013_row"]}
    except ValueError as exc:
        raise DataError(f"{path}: a fer2013_row is not a row number ({exc})") from exc


def row_of(name: str, kaggle_rows: dict[str, int]) -> int | None:
    """The fer2013.csv row of a face named by the loaders (`fer2013.csv:ROW` or a Kaggle path)."""
    if ":" in name:
        return int(name.rsplit(":", 1)[1])
    return kaggle_rows.get(name)


def vote_distributions(folder: Path, names: list[str]) -> np.ndarray:
    """Per face, the FER+ vote share over the seven FER2013 classes; a row of zeros where there is none."""
    votes = read_votes(folder)
    kaggle_rows = read_kaggle_rows(folder) if any(":" not in n for n in names) else {}
    shares = np.zeros((len(names), len(FER2013_LABELS)), dtype=np.float32)
    for i, name in enumerate(names):
        row = row_of(name, kaggle_rows)
        if row is not None and 0 <= row < len(votes) and votes[row].sum() > 0:
            shares[i] = votes[row] / votes[row].sum()
    return shares


def soft_targets(labels: np.ndarray, shares: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) * one-hot FER2013 label + weight * FER+ vote share; one-hot where FER+ has no votes."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"FER+ weight must be between 0 and 1, got {weight}")
    onehot = np.eye(shares.shape[1], dtype=np.float32)[labels]
    has_votes = shares.sum(axis=1, keepdims=True) > 0
    return np.where(has_votes, (1.0 - weight) * onehot + weight * shares, onehot).astype(np.float32)
