"""One long-lived background thread that runs a job when offered one and idle: the small-face scan's.

A new thread per job grew a long run's native memory by about 1 KB a job (per-thread state the native
libraries keep), so the thread is made once and reused. It is a daemon, stopped and joined by `stop()`
or at interpreter exit (the job offered finishes first: tearing the interpreter down under a TensorFlow
Lite invoke aborts the process).
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

_RUNNING: weakref.WeakSet[Worker] = weakref.WeakSet()


class Worker:
    """`offer(*args)` hands `job(*args)` to the thread unless it is busy (then returns False)."""

    def __init__(self, job: Callable[..., Any], name: str) -> None:
        # A method is held weakly, so an owner nobody closes can still be collected (weakref.finalize
        # on the owner should then stop the worker).
        self._job = weakref.WeakMethod(job) if hasattr(job, "__self__") else (lambda: job)
        self._cond = threading.Condition()
        self._pending: tuple | None = None
        self._busy = self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        _RUNNING.add(self)

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._busy or self._pending is not None

    def offer(self, *args: Any) -> bool:
        with self._cond:
            if self._stopping or self._busy or self._pending is not None:
                return False
            self._pending = args
            self._cond.notify_all()
            return True

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stopping)
                if self._pending is None:  # stopping, nothing left to do
                    return
                args, self._pending, self._busy = self._pending, None, True
            try:
                job = self._job()
                if job is not None:
                    job(*args)
            except Exception:  # a failed scan must not end the thread; the next one may succeed
                log.exception("%s failed", self._thread.name)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def stop(self) -> None:
        """Finish the job offered (if any), take no more, and end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        _RUNNING.discard(self)


@atexit.register
def _stop_all() -> None:
    for worker in list(_RUNNING):
        worker.stop()
