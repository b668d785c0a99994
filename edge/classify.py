"""Classify face crops with a TFLite model: batching, int8/uint8/float I/O, probabilities."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.contract import FER2013_LABELS, InputSpec, normalize, to_model_pixels
from edge.interpreter import BACKENDS, load_interpreter
from edge.model_file import PROFILES, ModelFileError, ModelInfo, read_info, read_tflite, shipped_model, strip_info
from edge.results import Prediction

log = logging.getLogger(__name__)

INTERPRETERS = ("auto", *(b[0] for b in BACKENDS))


@dataclass(frozen=True)
class ModelOptions:
    """Which emotion model runs, and how: shared by fer-edge, its benchmark, fer-eval and fer-convert's check."""

    path: Path | None = None
    """A .tflite model (None: the shipped model of `profile`)."""
    profile: str = "fast"
    """Which shipped model runs when no path is given: fast or accurate."""
    threads: int = 1
    """Interpreter threads."""
    interpreter: str = "auto"
    """auto (ai-edge-litert, then tflite-runtime, then tensorflow.lite) or one of those names."""
    flip: bool = False
    """Average each face's probabilities with its mirror image's (about 2x classification time)."""

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        if self.interpreter not in INTERPRETERS:
            raise ValueError(f"unknown interpreter {self.interpreter!r} (choose from {', '.join(INTERPRETERS)})")
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r} (choose from {', '.join(PROFILES)})")

    @property
    def resolved_path(self) -> Path:
        """The model file that runs."""
        if self.path is not None:
            return Path(self.path)
        shipped = shipped_model(PROFILES[self.profile])
        if not shipped.is_file():
            raise ModelFileError(f"the {self.profile} profile's model is not installed: no {shipped}")
        return shipped


@dataclass(frozen=True)
class _Tensor:
    index: int
    dtype: type
    scale: float
    zero_point: int

    @classmethod
    def of(cls, detail: dict) -> _Tensor:
        scale, zero_point = detail.get("quantization", (0.0, 0))
        return cls(detail["index"], detail["dtype"], float(scale), int(zero_point))

    @property
    def quantized(self) -> bool:
        return self.scale > 0 and self.dtype in (np.int8, np.uint8, np.int16)


class Classifier:
    """Runs a `.tflite` emotion model on face crops; reads shapes and quantization from the model.

    With `flip`, each face's probabilities are the mean over the face and its mirror image (test-time
    flip averaging: about twice the classification time).
    """

    def __init__(self, model_content: bytes, info: ModelInfo, threads: int = 1,
                 interpreter: str | None = None, source: str = "<bytes>", flip: bool = False) -> None:
        self.info = info
        self.flip = flip
        self.backend, self._interpreter = load_interpreter(strip_info(model_content), threads, interpreter)
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelFileError(f"{source}: expected one input and one output tensor, "
                                 f"got {len(inputs)} and {len(outputs)}")
        shape = tuple(int(v) for v in inputs[0]["shape"][1:])
        if shape != info.input.shape:
            raise ModelFileError(f"{source}: input tensor {shape} differs from the metadata {info.input.shape}")
        classes = int(outputs[0]["shape"][-1])
        if classes != len(info.labels):
            raise ModelFileError(f"{source}: {classes} outputs but {len(info.labels)} labels")
        self._input, self._output = _Tensor.of(inputs[0]), _Tensor.of(outputs[0])
        signature = inputs[0].get("shape_signature", inputs[0]["shape"])
        self.batchable = int(signature[0]) == -1
        self._batch = int(inputs[0]["shape"][0])

    @classmethod
    def from_file(cls, path: Path | str, threads: int = 1, interpreter: str | None = None,
                  flip: bool = False) -> Classifier:
        """Load a `.tflite` file. Without embedded metadata, an image model with seven outputs is taken as a
        FER2013 model (labels in FER2013's order, a [0, 1] input) and said so; anything else is refused."""
        path = Path(path)
        info = read_info(path)
        content = read_tflite(path)
        if info is None:
            info = _guess_info(content, threads, interpreter, path)
            log.warning("%s has no fer-edge metadata: assuming it is a FER2013 model, labels %s in that order, "
                        "input %s", path, ", ".join(info.labels), info.input)
        return cls(content, info, threads, interpreter, source=str(path), flip=flip)

    @classmethod
    def from_options(cls, options: ModelOptions) -> Classifier:
        return cls.from_file(options.resolved_path, options.threads, options.interpreter, options.flip)

    @property
    def labels(self) -> list[str]:
        return self.info.labels

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self._interpreter.resize_tensor_input(self._input.index, [batch, *self.info.input.shape])
            self._interpreter.allocate_tensors()
            self._batch = batch

    def _quantize(self, tensor: np.ndarray) -> np.ndarray:
        t = self._input
        if not t.quantized:
            return tensor.astype(t.dtype)
        info = np.iinfo(t.dtype)
        return np.clip(np.round(tensor / t.scale + t.zero_point), info.min, info.max).astype(t.dtype)

    def _invoke(self, tensor: np.ndarray) -> np.ndarray:
        self._resize(len(tensor))
        self._interpreter.set_tensor(self._input.index, self._quantize(tensor))
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._output.index)
        out = self._output
        if out.quantized:
            return (raw.astype(np.float32) - out.zero_point) * out.scale
        return raw.astype(np.float32)

    def probabilities_of_pixels(self, pixels: np.ndarray, max_batch: int = 64, flip: bool | None = None) -> np.ndarray:
        """Probabilities (n, classes) for contract pixels (n, height, width, channels), uint8; `flip`
        overrides the classifier's own flip averaging for this call."""
        flip = self.flip if flip is None else flip
        tensor = normalize(pixels.astype(np.float32), self.info.input)
        if flip:  # the mirror images go in the same invokes, after the faces
            tensor = np.concatenate([tensor, tensor[:, :, ::-1]])
        step = max_batch if self.batchable else 1
        parts = [self._invoke(tensor[i:i + step]) for i in range(0, len(tensor), step)]
        if not parts:
            return np.zeros((0, len(self.labels)), np.float32)
        probabilities = np.clip(np.concatenate(parts), 0.0, None)
        if flip:
            probabilities = (probabilities[:len(pixels)] + probabilities[len(pixels):]) / 2
        return probabilities / np.maximum(probabilities.sum(axis=1, keepdims=True), 1e-12)

    def predict(self, pixels: np.ndarray) -> list[Prediction]:
        """One prediction per face of contract pixels (n, height, width, channels), uint8."""
        return [Prediction.of(self.labels, row) for row in self.probabilities_of_pixels(pixels)] if len(pixels) else []

    def classify(self, faces: list[np.ndarray]) -> list[Prediction]:
        """Predictions for face crops (any size, BGR or gray, uint8), in one invoke when the model allows."""
        if not faces:
            return []
        return self.predict(np.stack([to_model_pixels(face, self.info.input) for face in faces]))


def _guess_info(content: bytes, threads: int, interpreter: str | None, path: Path) -> ModelInfo:
    """Metadata for a bare `.tflite` that looks like a FER2013 model: one image input (N, H, W, 1 or 3)
    and seven outputs; ModelFileError with one line otherwise."""
    _, probe = load_interpreter(content, threads, interpreter)
    inputs, outputs = probe.get_input_details(), probe.get_output_details()
    shape = [int(v) for v in inputs[0]["shape"]] if len(inputs) == 1 else []
    if len(shape) != 4 or shape[3] not in (1, 3) or min(shape[1:3]) < 8:
        raise ModelFileError(f"{path}: not an image model (input shape {shape or len(inputs)}) and no fer-edge "
                             f"metadata: convert it with fer-convert")
    classes = int(outputs[0]["shape"][-1]) if len(outputs) == 1 else 0
    if classes != len(FER2013_LABELS):
        raise ModelFileError(f"{path}: {classes or len(outputs)} outputs and no fer-edge metadata naming its labels "
                             f"(only a 7-output FER2013 model is accepted without it): convert it with fer-convert")
    return ModelInfo(labels=list(FER2013_LABELS), input=InputSpec(height=shape[1], width=shape[2], channels=shape[3]),
                     variant="unknown")
