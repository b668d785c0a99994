"""Edge stages on their own: detector, tracker, classifier batching, interpreter fallback, sources."""

import sys
import types

import cv2
import numpy as np
import pytest

from edge import interpreter as interpreter_module
from edge.blazeface import BlazeFaceDetector
from edge.classify import Classifier
from edge.detect import DETECTORS, DetectorOptions, HaarDetector, HaarOptions, ScanOptions, make_detector
from edge.model_file import ModelFileError
from edge.results import Box, Face, Prediction
from edge.sources import CaptureSource, PicameraSource, SourceError, SourceOptions, open_source
from edge.track import Tracker, TrackerOptions
from tests.conftest import SAMPLES


@pytest.mark.parametrize("photo", ["grace_hopper.jpg", "astronaut.png"])
@pytest.mark.parametrize("detect_width", [0, 320])
def test_haar_finds_the_face_in_full_frame_coordinates(photo, detect_width):
    image = cv2.imread(str(SAMPLES / photo), cv2.IMREAD_GRAYSCALE)
    truth = BlazeFaceDetector().detect(image)[0].box
    found = [d.box for d in HaarDetector(HaarOptions(detect_width=detect_width)).detect(image)]
    face = max(found, key=truth.iou)
    assert truth.iou(face) > 0.5 and 0 <= face.x and face.x + face.w <= image.shape[1]


def test_downscaled_and_full_size_detection_agree():
    image = cv2.imread(str(SAMPLES / "grace_hopper.jpg"), cv2.IMREAD_GRAYSCALE)
    full = HaarDetector(HaarOptions(detect_width=0)).detect(image)[0].box
    small = HaarDetector(HaarOptions(detect_width=300)).detect(image)[0].box
    assert full.iou(small) > 0.7


@pytest.mark.parametrize("kind", DETECTORS)
def test_no_face_in_a_blank_frame(kind):
    detector = make_detector(DetectorOptions(kind=kind, scan=ScanOptions(background=False)))
    assert detector.detect(np.zeros((480, 640, 3), np.uint8)) == []


@pytest.mark.parametrize("kwargs", [{"scale_factor": 1.0}, {"min_face": 0}, {"cascade": "nope.xml"}])
def test_bad_haar_options(kwargs):
    with pytest.raises((ValueError, FileNotFoundError)):
        HaarDetector(HaarOptions(**kwargs))


def face(box: Box, probabilities: list[float]) -> Face:
    return Face(box, Prediction.of(["sad", "happy"], probabilities))


def test_tracker_keeps_ids_and_smooths():
    tracker = Tracker(TrackerOptions(smoothing=0.5))
    happy, sad = [0.0, 1.0], [1.0, 0.0]
    first, = tracker.update([face(Box(10, 10, 50, 50), happy)])
    assert first.label == "happy" and first.id > 0
    second, = tracker.update([face(Box(12, 11, 50, 50), sad)])  # same face, moved a little
    assert second.id == first.id and second.box == Box(12, 11, 50, 50)
    assert second.probabilities == {"sad": 0.5, "happy": 0.5}
    third, = tracker.update([face(Box(400, 10, 50, 50), sad)])  # far away: a new face
    assert third.id != first.id and third.label == "sad"


@pytest.mark.parametrize("missed, same", [(3, True), (4, False)])
def test_tracker_keeps_a_face_for_max_missed_frames_then_forgets_it(missed, same):
    tracker = Tracker(TrackerOptions(max_missed=3))
    first, = tracker.update([face(Box(0, 0, 10, 10), [0.5, 0.5])])
    for _ in range(missed):
        tracker.update([])
    again, = tracker.update([face(Box(0, 0, 10, 10), [0.5, 0.5])])
    assert (again.id == first.id) is same


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


def test_video_file_source_yields_every_frame(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()
    source = open_source(SourceOptions(source=str(path)))
    assert len(list(source.frames())) == 5 and source.stats.frames == 5
    source.close()


def test_image_folder_skips_unreadable_files(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "b.jpg").write_bytes(b"broken")
    source = open_source(SourceOptions(source=str(tmp_path)))
    assert len(list(source.frames())) == 1 and source.stats.bad_frames == 1


@pytest.mark.parametrize("text, message", [("/no/such/video.mp4", "no such file, folder or camera"),
                                           ("7", "cannot open camera 7")])
def test_sources_that_cannot_open(text, message, monkeypatch):
    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture.factory([]))
    with pytest.raises(SourceError, match=message):
        open_source(SourceOptions(source=text))


class FakeCapture:
    """cv2.VideoCapture's API over a scripted list of (ok, frame); the camera is the hardware boundary."""

    opened: list = []

    def __init__(self, script, is_open=True):
        self.script, self.is_open, self.settings = list(script), is_open, {}

    @classmethod
    def factory(cls, scripts):
        scripts = list(scripts)
        cls.opened = []

        def make(target):
            capture = cls(scripts.pop(0), True) if scripts else cls([], False)
            cls.opened.append(capture)
            return capture
        return make

    def isOpened(self):
        return self.is_open

    def set(self, prop, value):
        self.settings[prop] = value
        return True

    def get(self, prop):
        return 30.0

    def read(self):
        return self.script.pop(0) if self.script else (False, None)

    def release(self):
        self.is_open = False


def test_camera_reconnects_after_a_drop_then_ends_cleanly(monkeypatch):
    frame = np.zeros((48, 64, 3), np.uint8)
    first = [(True, frame)] * 3 + [(False, None)] * 4        # the camera drops out
    second = [(True, frame)] * 2 + [(True, np.zeros((0, 0, 3), np.uint8))]  # back, one empty frame
    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture.factory([first, second]))
    source = open_source(SourceOptions(source="0", width=320, height=240, retries=2, retry_delay=0.0))
    assert isinstance(source, CaptureSource)
    frames = list(source.frames())
    assert len(frames) == 5 and source.stats.reconnects == 1 and source.stats.bad_frames >= 1
    assert FakeCapture.opened[0].settings[cv2.CAP_PROP_FRAME_WIDTH] == 320


class FakePicamera2:
    """The slice of picamera2's API the adapter uses: configure, start, capture_array, stop, close."""

    instances: list = []

    def __init__(self, frames=3):
        self.frames, self.calls = frames, []
        FakePicamera2.instances.append(self)

    def create_video_configuration(self, main):
        self.calls.append(("config", main))
        return {"main": main}

    def configure(self, config):
        self.calls.append(("configure", config))

    def start(self):
        self.calls.append(("start",))

    def capture_array(self, name="main"):
        if self.frames == 0:
            raise RuntimeError("camera stopped")
        self.frames -= 1
        return np.zeros((240, 320, 4), np.uint8)

    def stop(self):
        self.calls.append(("stop",))

    def close(self):
        self.calls.append(("close",))


def test_picamera2_adapter_against_a_fake_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakePicamera2))
    source = open_source(SourceOptions(source="picam", width=320, height=240))
    assert isinstance(source, PicameraSource)
    frames = list(source.frames())
    source.close()
    camera = FakePicamera2.instances[-1]
    assert len(frames) == 3 and frames[0].shape == (240, 320, 3)
    assert camera.calls[0] == ("config", {"size": (320, 240), "format": "RGB888"})
    assert camera.calls[-2:] == [("stop",), ("close",)]


def test_picamera2_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails
    with pytest.raises(SourceError, match="apt install python3-picamera2.*--system-site-packages"):
        open_source(SourceOptions(source="picam"))
