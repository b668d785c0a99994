"""Frame sources: camera index, Raspberry Pi camera, video file, image, image folder, stream URL."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.errors import FerEdgeError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm"}
STREAM_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://")


class SourceError(FerEdgeError):
    """A source cannot be opened; the message says what was tried."""


def read_image(path: Path, flags: int = cv2.IMREAD_COLOR) -> tuple[np.ndarray | None, str]:
    """An image file decoded, or (None, why not). A JPEG cut short (no end-of-image marker) is refused:
    OpenCV decodes what is there and fills the rest with grey, with only a libjpeg warning naming no file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, f"cannot read ({exc.strerror})"
    if data[:2] == b"\xff\xd8" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        return None, "truncated JPEG (no end-of-image marker after its last scan)"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags) if data else None
    return (image, "") if image is not None and image.size else (None, "not a readable image")


@dataclass(frozen=True)
class SourceOptions:
    """Where frames come from."""

    source: str = "0"
    """Camera index, picam, a video file, an image, a folder of images, or an RTSP/HTTP URL."""
    width: int = 640
    """Requested camera frame width in pixels (cameras only)."""
    height: int = 480
    """Requested camera frame height in pixels (cameras only)."""
    retries: int = 5
    """Reconnection attempts after a live camera or stream stops delivering frames."""
    retry_delay: float = 0.5
    """Seconds before the first reconnection attempt; doubles after each failure."""
    loop: bool = False
    """Replay a video, image or folder from the start when it ends (live sources refuse it)."""
    timeout: float = 10.0
    """Stream URLs: seconds to wait for the connection, and for each frame, before giving up."""

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"frame size must be positive, got {self.width}x{self.height}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        if self.retries < 0 or self.retry_delay < 0:
            raise ValueError(f"retries and retry_delay must not be negative ({self.retries}, {self.retry_delay})")


@dataclass
class SourceStats:
    """What a source delivered and what it had to skip."""

    frames: int = 0
    bad_frames: int = 0
    reconnects: int = 0
    lost: bool = False
    """A live source stopped delivering and did not come back."""


class FrameSource:
    """Yields BGR frames; `stats` counts skipped frames and reconnections. Always `close()` it (or use `with`)."""

    live = False
    """A camera or stream: frames keep coming whether or not they are read (the newest one matters)."""
    name = "frames"
    """What the frames are called in results: a file's name, `camera 0`, `picam` or a URL."""
    fps = 30.0
    """The source's nominal frame rate (for a saved video)."""
    still = False
    """Its frames are unrelated photos (an image or a folder), not a video's frames."""

    def __init__(self) -> None:
        self.stats = SourceStats()

    def frames(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def named_frames(self) -> Iterator[tuple[str, np.ndarray]]:
        """(name, frame) pairs; a folder names each frame after its file."""
        for frame in self.frames():
            yield self.name, frame

    def rewind(self) -> None:
        """Start again from the first frame (files only)."""
        raise SourceError(f"{self.name}: cannot replay this source")

    def close(self) -> None:
        """Release the device or file."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _valid(self, frame: np.ndarray | None) -> bool:
        if frame is None or frame.size == 0 or frame.ndim not in (2, 3):
            self.stats.bad_frames += 1
            return False
        self.stats.frames += 1
        return True


class CaptureSource(FrameSource):
    """OpenCV VideoCapture: cameras, video files and stream URLs; live ones reconnect with backoff."""

    def __init__(self, target: int | str, options: SourceOptions, live: bool) -> None:
        super().__init__()
        self.target, self.options, self.live = target, options, live
        self.name = f"camera {target}" if isinstance(target, int) else \
            (target if live else Path(str(target)).name)
        self._capture = self._open()
        if self._capture is None:
            what = f"camera {target}" if isinstance(target, int) else str(target)
            hint = " (is a camera connected, and is this user in the 'video' group?)" if isinstance(target, int) else ""
            raise SourceError(f"cannot open {what}{hint}")

    def _open(self) -> cv2.VideoCapture | None:
        if isinstance(self.target, str) and self.live:  # a stream URL: say where, and do not wait forever
            log.info("connecting to %s (timeout %g s)", self.target, self.options.timeout)
            milliseconds = round(self.options.timeout * 1000)
            capture = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, milliseconds,
                                                                   cv2.CAP_PROP_READ_TIMEOUT_MSEC, milliseconds])
        else:
            capture = cv2.VideoCapture(self.target)
        if not capture.isOpened():
            capture.release()
            return None
        if isinstance(self.target, int):
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.options.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.options.height)
        return capture

    def frames(self) -> Iterator[np.ndarray]:
        misses = 0
        while self._capture is not None:
            ok, frame = self._capture.read()
            if ok and self._valid(frame):
                misses = 0
                yield frame
                continue
            if not self.live:
                if ok:
                    continue  # a corrupt frame inside a file: counted, skipped
                return
            misses += 1
            if misses > 3 and not self._reconnect():
                log.warning("%s stopped delivering frames; giving up after %d retries",
                            self.target, self.options.retries)
                self.stats.lost = True
                return

    def rewind(self) -> None:
        if self.live:
            super().rewind()
        self.close()
        self._capture = self._open()
        if self._capture is None:
            raise SourceError(f"cannot reopen {self.target}")

    def _reconnect(self) -> bool:
        self._capture.release()
        self._capture = None
        delay = self.options.retry_delay
        for attempt in range(1, self.options.retries + 1):
            log.warning("%s: no frames, reconnecting (attempt %d/%d)", self.target, attempt, self.options.retries)
            time.sleep(delay)
            delay *= 2
            self._capture = self._open()
            if self._capture is not None:
                self.stats.reconnects += 1
                return True
        return False

    @property
    def fps(self) -> float:
        value = self._capture.get(cv2.CAP_PROP_FPS) if self._capture is not None else 0.0
        return value if value and value < 1000 else 30.0

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class ImageSource(FrameSource):
    """One image file or every image in a folder (sorted); unreadable files are counted and skipped."""

    still = True

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) \
            if path.is_dir() else [path]
        if not self.paths:
            raise SourceError(f"{path}: no images in this folder")
        self.name = path.name
        self.fps = 1.0

    def frames(self) -> Iterator[np.ndarray]:
        for _, frame in self.named_frames():
            yield frame

    def named_frames(self) -> Iterator[tuple[str, np.ndarray]]:
        for path in self.paths:
            frame, why = read_image(path)
            if self._valid(frame):
                yield path.name, frame
            else:
                log.warning("%s: %s, counted as a bad frame and skipped", path, why)

    def rewind(self) -> None:
        """Nothing to do: each pass reads the files again."""


PICAMERA2_HINT = ("picamera2 is not installed: on Raspberry Pi OS run 'sudo apt install python3-picamera2' "
                  "and create the virtual environment with --system-site-packages")


class PicameraSource(FrameSource):
    """The Raspberry Pi camera through picamera2 (imported only when asked for)."""

    live = True

    def __init__(self, options: SourceOptions) -> None:
        super().__init__()
        try:
            module = importlib.import_module("picamera2")
        except ImportError as exc:
            raise SourceError(PICAMERA2_HINT) from exc
        try:
            self._camera = module.Picamera2()
            config = self._camera.create_video_configuration(
                main={"size": (options.width, options.height), "format": "RGB888"})
            self._camera.configure(config)
            self._camera.start()
        except (RuntimeError, IndexError, OSError) as exc:
            raise SourceError(f"cannot start the Pi camera: {exc}") from exc
        self.name = "picam"

    def frames(self) -> Iterator[np.ndarray]:
        while True:
            try:
                frame = self._camera.capture_array("main")
            except (RuntimeError, OSError) as exc:
                log.warning("Pi camera stopped: %s", exc)
                self.stats.lost = True
                return
            if self._valid(frame):
                # picamera2's "RGB888" is BGR byte order in memory, which is what OpenCV wants.
                yield frame[:, :, :3] if frame.ndim == 3 and frame.shape[2] == 4 else frame

    def close(self) -> None:
        camera, self._camera = getattr(self, "_camera", None), None
        if camera is not None:
            camera.stop()
            camera.close()


def open_source(options: SourceOptions) -> FrameSource:
    """Open what `options.source` names; raises SourceError with what was tried."""
    source = _open(options)
    if options.loop and source.live:
        source.close()
        raise SourceError(f"--loop replays files, not a live source ({source.name})")
    return source


def _open(options: SourceOptions) -> FrameSource:
    text = options.source.strip()
    if text.isdigit():
        return CaptureSource(int(text), options, live=True)
    if text.lower() in ("picam", "picamera", "picamera2"):
        return PicameraSource(options)
    if text.lower().startswith(STREAM_PREFIXES):
        return CaptureSource(text, options, live=True)
    path = Path(text)
    if not path.exists():
        raise SourceError(f"{text}: no such file, folder or camera (use a camera index, picam, a file or a URL)")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path)
    return CaptureSource(str(path), options, live=False)
