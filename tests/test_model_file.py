"""Metadata inside model files: round trip, replacement, and files without it."""

import zipfile

import pytest

from edge.contract import InputSpec
from edge.files import write_atomic
from edge.model_file import (
    ModelFileError,
    ModelInfo,
    embed_in_keras,
    read_info,
    strip_info,
    with_info,
)

FLATBUFFER = b"\x1c\x00\x00\x00TFL3" + bytes(range(256)) * 4


def test_round_trip_through_an_appended_zip(tmp_path):
    info = ModelInfo(labels=["a", "b"], input=InputSpec(height=32, width=32, channels=3, scale=2 / 255, offset=-1),
                     variant="int8", io_dtype="uint8", accuracy={"PublicTest": 0.7})
    path = tmp_path / "m.tflite"
    write_atomic(path, with_info(FLATBUFFER, info))
    assert read_info(path) == info
    assert strip_info(path.read_bytes()) == FLATBUFFER  # the interpreter gets the flatbuffer unchanged


def test_writing_twice_replaces_the_metadata():
    once = with_info(FLATBUFFER, ModelInfo(variant="float32"))
    twice = with_info(once, ModelInfo(variant="int8"))
    assert strip_info(twice) == FLATBUFFER
    with zipfile.ZipFile(__import__("io").BytesIO(twice)) as archive:
        assert archive.namelist() == ["fer_edge.json"]


def test_a_file_without_metadata(tmp_path):
    path = tmp_path / "bare.tflite"
    path.write_bytes(FLATBUFFER)
    assert read_info(path) is None


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        read_info(tmp_path / "absent.tflite")


def test_keras_archive_member(tmp_path):
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
    embed_in_keras(path, ModelInfo(architecture="x"))
    assert read_info(path).architecture == "x"


