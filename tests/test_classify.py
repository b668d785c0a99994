"""The classifier: batching, flip averaging, bad model files, the interpreter fallback."""

import types

import numpy as np
import pytest

from edge import interpreter as interpreter_module
from edge.classify import Classifier
from edge.model_file import ModelFileError


def test_classifier_batches_faces_in_one_invoke(tiny_tflite):
    classifier = Classifier.from_file(tiny_tflite["int8"])
    crops = [np.random.default_rng(i).integers(0, 255, (60 + i, 50, 3), dtype=np.uint8) for i in range(4)]
    invokes = []
    interpreter = classifier._interpreter  # the third-party interpreter: count its invokes
    real_invoke = interpreter.invoke
    interpreter.invoke = lambda: invokes.append(1) or real_invoke()
    together = classifier.classify(crops)
    assert len(invokes) == 1
    alone = [classifier.classify([crop])[0] for crop in crops]
    assert len(invokes) == 5
    assert [p.label for p in together] == [p.label for p in alone]
    assert np.allclose([p.vector for p in together], [p.vector for p in alone], atol=1e-6)
    assert list(together[0].probabilities) == classifier.labels
    assert classifier.classify([]) == []


def test_flip_averages_each_face_with_its_mirror(tiny_tflite):
    plain = Classifier.from_file(tiny_tflite["int8"])
    flipped = Classifier.from_file(tiny_tflite["int8"], flip=True)
    pixels = np.random.default_rng(0).integers(0, 255, (3, *plain.info.input.shape), dtype=np.uint8)
    expected = (plain.probabilities_of_pixels(pixels) + plain.probabilities_of_pixels(pixels[:, :, ::-1])) / 2
    np.testing.assert_allclose(flipped.probabilities_of_pixels(pixels), expected, atol=1e-4)  # renormalized
    assert not np.allclose(plain.probabilities_of_pixels(pixels), expected, atol=1e-3)  # the mirror matters


def test_flip_can_be_chosen_per_call(tiny_tflite):
    plain = Classifier.from_file(tiny_tflite["int8"])
    flipped = Classifier.from_file(tiny_tflite["int8"], flip=True)
    pixels = np.random.default_rng(1).integers(0, 255, (3, *plain.info.input.shape), dtype=np.uint8)
    same = np.testing.assert_array_equal
    same(plain.probabilities_of_pixels(pixels, flip=True), flipped.probabilities_of_pixels(pixels))
    same(flipped.probabilities_of_pixels(pixels, flip=False), plain.probabilities_of_pixels(pixels))


@pytest.mark.parametrize("content, message", [(b"", "not a TFLite model"), (b"PK\x03\x04junkjunk", "not a TFLite")])
def test_not_a_tflite_model(tmp_path, content, message):
    path = tmp_path / "m.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        Classifier.from_file(path)


def test_interpreter_fallback_order(monkeypatch):
    """ai-edge-litert first; without it tflite-runtime; without both tensorflow.lite."""
    real_import = interpreter_module.importlib.import_module
    fake_runtime = types.SimpleNamespace(Interpreter="tflite-runtime class")

    def importer(missing):
        def import_module(name):
            if name.split(".")[0] in missing:
                raise ImportError(name)
            if name == "tflite_runtime.interpreter":
                return fake_runtime
            return real_import(name)
        return import_module

    monkeypatch.setattr(interpreter_module.importlib, "import_module", importer(set()))
    assert interpreter_module.interpreter_class()[0] == "ai-edge-litert"
    monkeypatch.setattr(interpreter_module.importlib, "import_module", importer({"ai_edge_litert"}))
    assert interpreter_module.interpreter_class() == ("tflite-runtime", "tflite-runtime class")
    monkeypatch.setattr(interpreter_module.importlib, "import_module",
                        importer({"ai_edge_litert", "tflite_runtime", "tensorflow"}))
    with pytest.raises(interpreter_module.NoInterpreterError, match="pip install ai-edge-litert"):
        interpreter_module.interpreter_class()
