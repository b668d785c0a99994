"""Keep TensorFlow's start-up and converter chatter off the terminal: the training tools' own lines stay."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def native_output_to(path: Path | None) -> Iterator[IO[str]]:
    """Send everything written to file descriptors 1 and 2 (C++ logging, and Python's own stdout and stderr)
    to `path` (None: discard it) while the block runs; yields a stream to the real terminal for the tool's
    own lines. Restored on the way out, whatever happens, so errors are printed where they belong."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    target = os.open(path if path is not None else os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)
        terminal.close()
