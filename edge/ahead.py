"""A stage run one item ahead in its own thread: `Ahead(items, work)` yields `work(item)` for each item, in
order, computing the next ones while the caller handles this one.

The pipeline detects faces on the next frames this way while it classifies the current one. TensorFlow
Lite's invoke releases the GIL, so on two cores detection and classification run side by side.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from edge.capture import JOIN_TIMEOUT

Item = TypeVar("Item")
Done = TypeVar("Done")


class Ahead(Generic[Item, Done]):
    """Iterate for `work(item)` of each of `items`; at most `depth` results wait ahead of the caller.

    An error raised by `items` or `work` reaches the caller at the item where it happened. `close()` (or
    leaving `with`) stops the thread, then calls `close_items` (which must make a blocked `next(items)`
    return, as `Capture.close` does) and joins it. With `threaded=False` the work is done in the caller's
    thread, item by item (for comparison and debugging).
    """

    def __init__(self, items: Iterator[Item], work: Callable[[Item], Done], close_items: Callable[[], None],
                 name: str, depth: int = 2, threaded: bool = True) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.depth = depth
        self._items, self._work, self._close_items = items, work, close_items
        self._cond = threading.Condition()
        self._done: deque[Done] = deque()
        self._ended = self._stopping = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._items:
                done = self._work(item)
                with self._cond:
                    self._cond.wait_for(lambda: len(self._done) < self.depth or self._stopping)
                    if self._stopping:
                        return
                    self._done.append(done)
                    self._cond.notify_all()
                if self._stopping:
                    return
        except BaseException as error:  # handed to the consumer, which raises it
            self._error = error
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def __iter__(self) -> Iterator[Done]:
        return self

    def __next__(self) -> Done:
        if self._thread is None:
            return self._work(next(self._items))
        with self._cond:
            self._cond.wait_for(lambda: self._done or self._ended)
            if self._done:
                done = self._done.popleft()
                self._cond.notify_all()
                return done
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            raise StopIteration

    def close(self) -> None:
        """Stop working ahead, close the items, join the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._close_items()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT)

    def __enter__(self) -> Ahead[Item, Done]:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
