"""BlazeFace (MediaPipe's face detectors) on the project's interpreter: letterbox, SSD anchors, decoding
and weighted non-max suppression, written here from the models' published graph settings.

The model files and their provenance are in `edge/detectors/` (README.md there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.interpreter import load_interpreter
from edge.model_file import ModelFileError, read_tflite
from edge.results import Box, Detection

DETECTORS_DIR = Path(__file__).resolve().parent / "detectors"
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear_tragion", "left_ear_tragion")
"""The six keypoints, in output order (the subject's right eye first: on the left of an unmirrored image)."""


@dataclass(frozen=True)
class BlazeFaceModel:
    """One BlazeFace model file and the settings of its SSD head (MediaPipe's graph options)."""

    file: str
    size: int
    """Square input side in pixels."""
    strides: tuple[int, ...]
    """Feature-map strides of the anchor layers; layers with one stride share a grid."""
    anchors_per_layer: int
    """Anchors per grid cell per layer (2 with the interpolated-scale anchor, else 1)."""

    @property
    def path(self) -> Path:
        return DETECTORS_DIR / self.file


MODELS = {
    "short": BlazeFaceModel("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2),
    "full": BlazeFaceModel("face_detection_full_range_sparse.tflite", 192, (4,), 1),
}


def anchor_groups(size: int, strides: tuple[int, ...], anchors_per_layer: int) -> list[tuple[int, int]]:
    """(grid side, anchors per cell) of each group of consecutive layers with one stride, in output order."""
    groups = []
    layer = 0
    while layer < len(strides):
        stride, same = strides[layer], 0
        while layer < len(strides) and strides[layer] == stride:
            same += 1
            layer += 1
        groups.append((int(np.ceil(size / stride)), same * anchors_per_layer))
    return groups


def ssd_anchors(size: int, strides: tuple[int, ...], anchors_per_layer: int) -> np.ndarray:
    """Anchor centres (n, 2) as (x, y) in [0, 1], in the models' output order (fixed-size anchors).

    Consecutive layers with the same stride share one grid; each of its cells holds
    `anchors_per_layer` anchors for each of those layers.
    """
    centres = []
    for cells, per_cell in anchor_groups(size, strides, anchors_per_layer):
        grid = (np.arange(cells) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        centres.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def per_image(output: np.ndarray, images: int, groups: list[int]) -> np.ndarray:
    """A batched output (1, images x anchors, k) -> (images, anchors, k). The models reshape each anchor
    group to (1, -1, k) before concatenating, so the batch is major within each group, not overall."""
    flat = output.reshape(-1, output.shape[-1])
    parts, start = [], 0
    for count in groups:
        parts.append(flat[start:start + images * count].reshape(images, count, -1))
        start += images * count
    return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class Letterbox:
    """How a frame region was scaled and padded into the square input: input = (frame - origin) * scale + pad."""

    scale: float
    pad_x: float
    pad_y: float
    origin_x: float = 0.0
    origin_y: float = 0.0

    def to_frame(self, points: np.ndarray, size: int) -> np.ndarray:
        """Points (..., 2) normalised to the input square -> frame pixels."""
        xy = np.asarray(points, dtype=np.float64) * size
        return (xy - (self.pad_x, self.pad_y)) / self.scale + (self.origin_x, self.origin_y)


def letterbox(image: np.ndarray, size: int, out: np.ndarray | None = None) -> tuple[np.ndarray, Letterbox]:
    """The image scaled to fit a size x size square (aspect kept, centred), as the model's input: RGB in
    [-1, 1], the padding -1 (black). Writes into `out` (size, size, 3) float32 when given."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    resized = cv2.cvtColor(resized, cv2.COLOR_GRAY2RGB if resized.ndim == 2 else cv2.COLOR_BGR2RGB)
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    square = np.empty((size, size, 3), np.float32) if out is None else out
    square.fill(-1.0)
    inner = square[pad_y:pad_y + new_h, pad_x:pad_x + new_w]
    np.multiply(resized, 1 / 127.5, out=inner, casting="unsafe")
    inner -= 1.0
    return square, Letterbox(new_w / width, pad_x, pad_y)


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.minimum(np.maximum(values, -80.0), 80.0)))


def decode(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, size: int,
           threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes (n, 4) as x0, y0, x1, y1, keypoints (n, 6, 2), scores (n,)) normalised to the input square,
    for the anchors whose score reaches `threshold` (compared as logits: the sigmoid is monotonic)."""
    logits = logits.reshape(-1)
    keep = np.flatnonzero(logits >= np.log(threshold / (1.0 - threshold)))
    scores = sigmoid(logits[keep])
    raw = regressors.reshape(len(anchors), -1)[keep] / size
    centres = anchors[keep]
    cx, cy = raw[:, 0] + centres[:, 0], raw[:, 1] + centres[:, 1]
    half_w, half_h = raw[:, 2] / 2, raw[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    keypoints = raw[:, 4:4 + 2 * len(KEYPOINTS)].reshape(-1, len(KEYPOINTS), 2) + centres[:, None, :]
    return boxes, keypoints, scores


def iou_matrix(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one x0, y0, x1, y1 box with each of `boxes`."""
    ix = np.maximum(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0.0)
    iy = np.maximum(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0.0)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float,
                 max_faces: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted suppression: each cluster of boxes overlapping the best remaining one by more
    than `iou` becomes one box, the score-weighted mean of the cluster, with the best one's score."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.arange(len(scores))
    kept = []
    while len(remaining) and len(kept) < max_faces:
        in_cluster = iou_matrix(boxes[remaining[0]], boxes[remaining]) > iou
        in_cluster[0] = True
        cluster = remaining[in_cluster]
        weights = scores[cluster] / scores[cluster].sum()
        kept.append((weights @ boxes[cluster], (weights @ keypoints[cluster].reshape(len(cluster), -1))
                     .reshape(-1, 2), float(scores[remaining[0]])))
        remaining = remaining[~in_cluster]
    return kept


@dataclass(frozen=True)
class BlazeFaceOptions:
    """BlazeFace detection settings."""

    model: str = "short"
    """short (128x128 input, faces of about 1/8 of the frame and more) or full (192x192, smaller faces)."""
    score_threshold: float = 0.5
    """Smallest face score kept (MediaPipe uses 0.5 for short range, 0.6 for full range)."""
    nms_iou: float = 0.3
    """Boxes overlapping a better one by more than this are merged into it."""
    max_faces: int = 20
    """Most faces kept per frame, best first."""

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"BlazeFace model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if not 0.0 < self.score_threshold < 1.0 or not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"score_threshold must be in (0, 1) and nms_iou in (0, 1], got "
                             f"{self.score_threshold}, {self.nms_iou}")
        if self.max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {self.max_faces}")


class BlazeFaceDetector:
    """`detect(frame) -> list[Detection]`, boxes and six keypoints in frame pixels, best score first."""

    def __init__(self, options: BlazeFaceOptions = BlazeFaceOptions(), path: Path | None = None,
                 interpreter: str = "auto") -> None:
        self.options = options
        self.spec = MODELS[options.model]
        path = Path(path) if path is not None else self.spec.path
        content = read_tflite(path, "face detector")
        self.backend, self._interpreter = load_interpreter(content, 1, interpreter)
        self.anchors = ssd_anchors(self.spec.size, self.spec.strides, self.spec.anchors_per_layer)
        self._groups = [cells * cells * per_cell for cells, per_cell in
                        anchor_groups(self.spec.size, self.spec.strides, self.spec.anchors_per_layer)]
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        shapes = sorted(tuple(int(v) for v in o["shape"]) for o in outputs)
        expected = sorted([(1, len(self.anchors), 16), (1, len(self.anchors), 1)])
        size = self.spec.size
        if len(inputs) != 1 or tuple(inputs[0]["shape"]) != (1, size, size, 3) or shapes != expected:
            raise ModelFileError(f"{path}: not a BlazeFace {options.model}-range detector (expected input "
                                 f"(1, {size}, {size}, 3) and outputs {expected}, got "
                                 f"{tuple(int(v) for v in inputs[0]['shape'])} and {shapes})")
        self._input = inputs[0]["index"]
        by_width = {int(o["shape"][-1]): o["index"] for o in outputs}
        self._regressors, self._logits = by_width[16], by_width[1]
        self._tensor = np.empty((1, size, size, 3), np.float32)

    @property
    def name(self) -> str:
        return "blazeface" if self.options.model == "short" else "blazeface-full"

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Faces in a BGR (or gray) frame."""
        return self.detect_regions(frame, [(0, 0, frame.shape[1], frame.shape[0])])[0]

    def detect_regions(self, frame: np.ndarray, regions: list[tuple[int, int, int, int]]) -> list[list[Detection]]:
        """Faces inside each (x, y, w, h) region of the frame (each scaled to the model's input), in frame
        pixels; all regions go through the model in one invoke."""
        placed: list[Letterbox | None] = []
        if len(self._tensor) != len(regions):
            self._interpreter.resize_tensor_input(self._input, [len(regions), self.spec.size, self.spec.size, 3])
            self._interpreter.allocate_tensors()
            self._tensor = np.empty((len(regions), self.spec.size, self.spec.size, 3), np.float32)
        for slot, (x, y, w, h) in enumerate(regions):
            x0, y0 = max(0, x), max(0, y)
            x1, y1 = min(frame.shape[1], x + w), min(frame.shape[0], y + h)
            if x1 - x0 < 2 or y1 - y0 < 2:
                self._tensor[slot] = -1.0
                placed.append(None)
                continue
            _, box = letterbox(frame[y0:y1, x0:x1], self.spec.size, self._tensor[slot])
            placed.append(Letterbox(box.scale, box.pad_x, box.pad_y, x0, y0))
        self._interpreter.set_tensor(self._input, self._tensor)
        self._interpreter.invoke()
        regressors = per_image(self._interpreter.get_tensor(self._regressors), len(regions), self._groups)
        logits = per_image(self._interpreter.get_tensor(self._logits), len(regions), self._groups)
        return [self._faces(regressors[i], logits[i], box) if box is not None else []
                for i, box in enumerate(placed)]

    def _faces(self, regressors: np.ndarray, logits: np.ndarray, placed: Letterbox) -> list[Detection]:
        boxes, keypoints, scores = decode(regressors, logits, self.anchors, self.spec.size,
                                          self.options.score_threshold)
        found = []
        for corners, points, score in weighted_nms(boxes, keypoints, scores, self.options.nms_iou,
                                                   self.options.max_faces) if len(scores) else ():
            in_frame = placed.to_frame(np.concatenate([corners.reshape(2, 2), points]), self.spec.size).tolist()
            (left, top), (right, bottom) = in_frame[:2]
            found.append(Detection(Box(round(left), round(top), round(right - left), round(bottom - top)), score,
                                   tuple((px, py) for px, py in in_frame[2:])))
        return found
