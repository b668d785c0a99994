"""Artifacts appear whole or not at all: every file the project writes goes to a temporary name beside
its target and is renamed into place (event streams, which readers follow while they grow, are the one
exception: see `edge.sinks.JsonlSink`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from edge.errors import WriteError


def temp_name(path: Path) -> Path:
    """A hidden temporary name beside `path`, with the same suffix (writers such as OpenCV's choose the
    format by it)."""
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """`with atomic_path(target) as tmp:` write `tmp` (any writer); on a clean exit it is renamed to
    `target`, on an error it is removed. OS errors become `WriteError("cannot write to PATH: reason")`."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # no temp file to remove when its folder is not one
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise WriteError(f"cannot write to {path}: {exc.strerror or exc}") from exc
        raise


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write bytes or text (UTF-8) through `atomic_path`."""
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
