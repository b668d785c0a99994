"""Where results go: a window, an annotated video, JSONL events. Each is finalized on close."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np


class SinkError(RuntimeError):
    """An output cannot be written; the message names the path."""


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


class JsonlSink:
    """One JSON object per frame, to a file (written to a temp file, renamed on close) or stdout ('-')."""

    def __init__(self, target: str) -> None:
        self.path = None if target == "-" else Path(target)
        self._tmp: Path | None = None
        if self.path is None:
            self._handle: IO[str] = sys.stdout
            return
        self._tmp = _temp_beside(self.path)
        try:
            self._handle = self._tmp.open("w")
        except OSError as exc:
            raise SinkError(f"{self.path}: cannot write ({exc.strerror})") from exc

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self._tmp is None:
            self._handle.flush()
            return
        self._handle.close()
        os.replace(self._tmp, self.path)
        self._tmp = None

    def discard(self) -> None:
        """Close without writing the target (the run never started)."""
        if self._tmp is not None:
            self._handle.close()
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


class VideoSink:
    """An annotated video file, opened on the first frame (its size), renamed into place on close."""

    def __init__(self, path: str, fps: float) -> None:
        self.path, self.fps = Path(path), fps
        self._tmp = _temp_beside(self.path)
        self._writer: cv2.VideoWriter | None = None
        if not self.path.parent.is_dir() or not os.access(self.path.parent, os.W_OK):
            raise SinkError(f"{self.path}: cannot write (no such folder, or not writable)")

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.suffix.lower() in (".mp4", ".m4v") else "MJPG"))
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, (frame.shape[1], frame.shape[0]))
            if not self._writer.isOpened():
                raise SinkError(f"{self.path}: OpenCV cannot write this video format")
        self._writer.write(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            os.replace(self._tmp, self.path)


class WindowSink:
    """An OpenCV window; closing it or pressing q or Esc ends the run."""

    def __init__(self, title: str = "fer-edge") -> None:
        if not opencv_has_gui():
            raise SinkError("this OpenCV build cannot show windows (opencv-python-headless): "
                            "pip install opencv-python, or run with --headless")
        self.title = title
        self.closed = False

    def write(self, frame: np.ndarray) -> None:
        cv2.imshow(self.title, frame)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.closed = True

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
