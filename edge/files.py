"""Artifacts appear whole or not at all: every file the project writes goes to a temporary name beside
its target and is renamed into place (event streams, which readers follow while they grow, are the one
exception: see `edge.sinks.JsonlSink`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from edge.errors import WriteError


class AtomicFile:
    """A target and the temporary name beside it that any writer fills; `commit()` renames it into place,
    `discard()` removes it. OS errors become `WriteError("cannot write to PATH: reason")`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{os.getpid()}{self.path.suffix}")
        """Same suffix as the target: writers such as OpenCV's and Keras' choose the format by it."""

    def commit(self) -> None:
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.discard()
            raise self.error(exc) from exc

    def discard(self) -> None:
        with contextlib.suppress(OSError):  # no temp file to remove when its folder is not one
            self.tmp.unlink(missing_ok=True)

    def error(self, exc: OSError) -> WriteError:
        return WriteError(f"cannot write to {self.path}: {exc.strerror or exc}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """`with atomic_path(target) as tmp:` write `tmp` with any writer; renamed to `target` on a clean exit,
    removed on an error."""
    file = AtomicFile(path)
    try:
        yield file.tmp
    except OSError as exc:
        file.discard()
        raise file.error(exc) from exc
    except BaseException:
        file.discard()
        raise
    file.commit()


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write bytes or text (UTF-8) through `atomic_path`."""
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
