"""Model metadata that travels inside the model file, readable without TensorFlow.

The metadata is a JSON document stored as `fer_edge.json` in a zip archive: appended to the end of a
`.tflite` flatbuffer (the TFLite convention for associated files, which interpreters ignore), or
added as one more member of a `.keras` archive.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edge import __version__
from edge.contract import FER2013_LABELS, InputSpec
from edge.errors import FerEdgeError

METADATA_NAME = "fer_edge.json"
DEFAULT_MODEL_NAME = "fer_compact_int8.tflite"
PROFILES = {"fast": DEFAULT_MODEL_NAME, "accurate": "fer_accurate_int8.tflite"}
"""The shipped models by profile: fast (the default: one compact CNN) and accurate (two layouts and their
mirror images averaged inside one file: 1.3 points more accurate, about 4x the classification time)."""


def shipped_model(name: str = DEFAULT_MODEL_NAME) -> Path:
    """A shipped model file: `models/` of a checkout, else the installed `edge.models` package."""
    checkout = Path(__file__).resolve().parent.parent / "models" / name
    if checkout.is_file():
        return checkout
    try:
        return Path(str(resources.files("edge.models") / name))
    except ModuleNotFoundError:
        return checkout


def default_model() -> Path:
    """The shipped int8 model of the default (fast) profile."""
    return shipped_model(DEFAULT_MODEL_NAME)


class ModelFileError(FerEdgeError, ValueError):
    """A model file is missing, unreadable or inconsistent; the message names the path."""


@dataclass
class ModelInfo:
    """What a device needs to know about a model, and where the model came from."""

    labels: list[str] = field(default_factory=lambda: list(FER2013_LABELS))
    """Class names in the model's output order."""
    input: InputSpec = field(default_factory=InputSpec)
    """The preprocessing contract the model was trained with."""
    variant: str = "float32"
    """keras, float32, float16, dynamic or int8."""
    io_dtype: str = "float32"
    """Data type of the input and output tensors."""
    architecture: str = ""
    """The network, for example compact_w24."""
    training: dict[str, Any] = field(default_factory=dict)
    """Data set, command and best epoch of the training run."""
    accuracy: dict[str, Any] = field(default_factory=dict)
    """Measured accuracy per split, for example {"PublicTest": 0.66}."""
    verification: dict[str, Any] = field(default_factory=dict)
    """A converted model's agreement with the Keras model it came from."""
    version: str = __version__
    """The fer-edge version that wrote the file."""

    def to_json(self) -> str:
        data = asdict(self)
        data["input"] = self.input.to_dict()
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelInfo:
        data = json.loads(text)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["input"] = InputSpec.from_dict(known.get("input", {}))
        info = cls(**known)
        if not info.labels:
            raise ValueError("metadata has no labels")
        return info


def read_info(path: Path) -> ModelInfo | None:
    """The metadata embedded in a `.tflite` or `.keras` file, or None when it has none."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with zipfile.ZipFile(path) as archive:
            if METADATA_NAME not in archive.namelist():
                return None
            return ModelInfo.from_json(archive.read(METADATA_NAME).decode())
    except zipfile.BadZipFile:
        return None
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(f"{path}: unreadable fer-edge metadata ({exc})") from exc


def with_info(model_bytes: bytes, info: ModelInfo) -> bytes:
    """A `.tflite` flatbuffer with the metadata zip appended (any earlier metadata is replaced)."""
    buffer = io.BytesIO(strip_info(model_bytes))
    buffer.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA_NAME, info.to_json())
    return buffer.getvalue()


def strip_info(model_bytes: bytes) -> bytes:
    """The bare flatbuffer, without an appended metadata zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
            names = archive.namelist()
            start = min(archive.getinfo(n).header_offset for n in names) if names else None
    except zipfile.BadZipFile:
        return model_bytes
    if start is None or model_bytes[:4] == b"PK\x03\x04":
        return model_bytes
    return model_bytes[:start]


def read_tflite(path: Path, what: str = "model") -> bytes:
    """A TFLite flatbuffer's bytes; a missing, unreadable or non-TFLite file is a one-line ModelFileError."""
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    if content[4:8] != b"TFL3":
        raise ModelFileError(f"{path}: not a TFLite model")
    return content




def check_keras_file(path: Path) -> None:
    """Refuse, with one line, a path that is not a file or not a zip archive (every .keras file is one)."""
    if not Path(path).is_file():
        raise ModelFileError(f"{path}: no such file")
    if Path(path).suffix == ".tflite":
        raise ModelFileError(f"{path}: a TFLite model; this takes the trained Keras model (model.keras)")
    if not zipfile.is_zipfile(path):  # Keras would say "File not found" about a file that exists
        raise ModelFileError(f"{path}: not a Keras model (a .keras file is a zip archive; this file is not one)")


def embed_in_keras(path: Path, info: ModelInfo) -> None:
    """Add the metadata as a member of a `.keras` archive (Keras ignores members it does not know)."""
    with zipfile.ZipFile(path, "a") as archive:
        if METADATA_NAME in archive.namelist():
            raise ModelFileError(f"{path}: already has fer-edge metadata")
        archive.writestr(METADATA_NAME, info.to_json())
