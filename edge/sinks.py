"""Where results go: JSONL events, an annotated video, a window (the live view is in `edge.serve`).

Every sink has the same shape: `write(frame, result)` once per frame; used as a context manager, a
clean exit finalises it (`close`) and an error discards what must not be kept (`discard`).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import cv2
import numpy as np

from edge.errors import FerEdgeError
from edge.files import AtomicFile
from edge.results import FrameResult


class SinkError(FerEdgeError):
    """An output cannot be written; the message names the path."""


def check_writable(path: Path) -> None:
    """Refuse, with one line, a target that is a folder or whose folder is missing or not writable."""
    if path.is_dir():
        raise SinkError(f"cannot write to {path}: it is a folder")
    folder = path.parent
    if not folder.is_dir():
        raise SinkError(f"cannot write to {path}: no folder {folder}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SinkError(f"cannot write to {path}: permission denied")


class Sink:
    """Receives every frame and its result; `close` finalises, `discard` drops what must not be kept."""

    draws = False
    """Whether this sink shows or stores the frame, so the run loop draws boxes and labels on it first."""
    stop_reason: str | None = None
    """Set when the sink asks the run to end (for example, its window was closed)."""

    def write(self, frame: np.ndarray, result: FrameResult) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finalise the output (a clean end of the run)."""

    def discard(self) -> None:
        """Drop what must not be kept after an error; by default the same as `close`."""
        self.close()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


class JsonlSink(Sink):
    """An event stream: one JSON line per frame, written whole and flushed as soon as its frame is done.

    The file is opened (and truncated, unless `append`) when the sink is made, so readers can `tail -f`
    it from the first frame; a crash or SIGKILL keeps every complete line, and the file is synced to disk
    at most every `sync_every` seconds, so a power loss costs at most that much. '-' writes to stdout.
    """

    def __init__(self, target: str, append: bool = False, sync_every: float = 1.0) -> None:
        self.path = None if target == "-" else Path(target)
        self.sync_every, self.lines = sync_every, 0
        self._synced = time.monotonic()
        self._created = False
        if self.path is None:
            self._handle: IO[str] = sys.stdout
            return
        check_writable(self.path)
        self._created = not self.path.exists()
        try:
            self._handle = self.path.open("a" if append else "w", encoding="utf-8")
        except OSError as exc:
            raise SinkError(f"cannot write to {self.path}: {exc.strerror}") from exc

    def write(self, frame: np.ndarray | None, result: FrameResult) -> None:
        if self.stop_reason:
            return
        try:
            self._handle.write(json.dumps(result.to_dict(), separators=(",", ":")) + "\n")
            self._handle.flush()
        except BrokenPipeError:  # the reader of stdout went away (`| head`): end the run cleanly
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._handle.fileno())
            self.stop_reason = "output closed"
            return
        self.lines += 1
        if self.path is not None and time.monotonic() - self._synced >= self.sync_every:
            os.fsync(self._handle.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if self.path is None:
            if not self.stop_reason:
                self._handle.flush()
            return
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def discard(self) -> None:
        """Keep the lines written (they are events); remove the file only if this sink made it and wrote nothing."""
        self.close()
        if self.path is not None and self._created and self.lines == 0:
            self.path.unlink(missing_ok=True)


class VideoSink(Sink):
    """An annotated video file, opened on the first frame (its size), renamed into place on close."""

    draws = True

    def __init__(self, path: str, fps: float) -> None:
        self.path, self.fps = Path(path), fps
        check_writable(self.path)
        self._file = AtomicFile(self.path)
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray, result: FrameResult) -> None:
        if self._writer is None:
            fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.suffix.lower() in (".mp4", ".m4v") else "MJPG"))
            self._writer = cv2.VideoWriter(str(self._file.tmp), fourcc, self.fps, (frame.shape[1], frame.shape[0]))
            if not self._writer.isOpened():
                raise SinkError(f"cannot write to {self.path}: OpenCV cannot write this video format")
        self._writer.write(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            self._file.commit()

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._file.discard()


class WindowSink(Sink):
    """An OpenCV window; closing it or pressing q or Esc ends the run."""

    draws = True

    def __init__(self, title: str = "fer-edge") -> None:
        if not opencv_has_gui():
            raise SinkError("this OpenCV build cannot show windows (opencv-python-headless): "
                            "pip install opencv-python, or run with --headless")
        self.title = title

    def write(self, frame: np.ndarray, result: FrameResult) -> None:
        cv2.imshow(self.title, frame)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.stop_reason = "window closed"

    def close(self) -> None:
        cv2.destroyAllWindows()


def opencv_has_gui() -> bool:
    """False for the headless OpenCV wheels, which cannot open windows."""
    match = re.search(r"GUI:\s*(\S+)", cv2.getBuildInformation())
    return bool(match) and match.group(1).upper() != "NONE"


def has_display() -> bool:
    """Whether a window can be shown: an OpenCV with GUI support and a display (or Windows/macOS)."""
    if not opencv_has_gui():
        return False
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
