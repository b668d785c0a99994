"""Frame sources: video files, image folders, cameras that drop, picamera2, sources that cannot open."""

import sys
import types

import cv2
import numpy as np
import pytest

from edge.sources import CaptureSource, PicameraSource, SourceError, SourceOptions, open_source


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
