"""Frames read and decoded ahead, in their own thread, so decoding overlaps detection and inference.

From files, no frame is dropped and order is kept (a small bounded queue: the reader waits when it is
full). From live cameras and streams the newest frame wins: a frame not taken before the next one
arrives is dropped and counted, so the pipeline is never more than about one frame behind the camera.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from edge.sources import FrameSource

log = logging.getLogger(__name__)

JOIN_TIMEOUT = 10.0
"""Seconds to wait for the capture thread at shut-down (a stalled stream read may hold it that long)."""


@dataclass(frozen=True)
class Captured:
    """A frame as it left the source."""

    index: int
    """Its number in the source, from 0, counting frames that were dropped."""
    time: float
    """When it was read, in seconds since the epoch."""
    name: str
    """The source's name for it (a folder's file name)."""
    image: np.ndarray
    dropped: int = 0
    """Stale frames dropped just before this one (live sources only)."""
    still: bool = False
    """A photo that stands alone (image and folder sources), not a frame of a video."""
    restarted: bool = False
    """The first frame after `--loop` rewound the source: a cut, nothing before it carries over."""


def source_frames(source: FrameSource, loop: bool = False) -> Iterator[tuple[str, np.ndarray, bool]]:
    """(name, frame, restarted) of a source; with `loop`, replayed from the start each time it ends
    (`restarted` marks the first frame of each replay)."""
    restarted = False
    while True:
        delivered = 0
        for name, frame in source.named_frames():
            yield name, frame, restarted and delivered == 0
            delivered += 1
        if not loop or delivered == 0:
            return
        source.rewind()
        restarted = True


class Capture:
    """Iterate for `Captured` frames; `close()` (or leaving `with`) stops reading, joins the thread and
    releases the source, whatever happened.

    With `threaded=False`, frames are read in the caller's thread (for comparison and debugging).
    """

    def __init__(self, source: FrameSource, loop: bool = False, threaded: bool = True, depth: int = 2) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.source, self.depth = source, 1 if source.live else depth
        self.dropped = 0
        """Frames dropped so far because a newer one arrived first."""
        self._frames = source_frames(source, loop)
        self._index = 0
        self._cond = threading.Condition()
        self._buffer: deque[Captured] = deque()
        self._pending_drops = 0
        self._ended = self._stopping = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._read, name="fer-edge-capture", daemon=True)
            self._thread.start()

    def _next_from_source(self) -> Captured | None:
        item = next(self._frames, None)
        if item is None:
            return None
        name, image, restarted = item
        captured = Captured(self._index, time.time(), name, image, still=self.source.still, restarted=restarted)
        self._index += 1
        return captured

    def _read(self) -> None:
        """The capture thread: read ahead until the source ends, an error, or `close`."""
        try:
            while not self._stopping:
                captured = self._next_from_source()
                if captured is None:
                    break
                with self._cond:
                    if self.source.live:
                        while self._buffer:  # the newest frame wins
                            self._buffer.popleft()
                            self._pending_drops += 1
                    else:
                        self._cond.wait_for(lambda: len(self._buffer) < self.depth or self._stopping)
                    self._buffer.append(captured)
                    self._cond.notify_all()
        except BaseException as error:  # handed to the consumer, which raises it
            self._error = error
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def __iter__(self) -> Iterator[Captured]:
        return self

    def __next__(self) -> Captured:
        if self._thread is None:
            captured = self._next_from_source()
            if captured is None:
                raise StopIteration
            return captured
        with self._cond:
            self._cond.wait_for(lambda: self._buffer or self._ended)
            if not self._buffer:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                raise StopIteration
            captured = self._buffer.popleft()
            drops, self._pending_drops = self._pending_drops, 0
            self._cond.notify_all()
        if drops:
            self.dropped += drops
            captured = replace(captured, dropped=drops)
        return captured

    def close(self) -> None:
        """Stop reading, join the thread, release the source."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT)
            if self._thread.is_alive():
                log.warning("%s: the capture thread is still inside a read after %.0f s; releasing the source anyway",
                            self.source.name, JOIN_TIMEOUT)
        if self._thread is None or not self._thread.is_alive():
            self._frames.close()
        self.source.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
