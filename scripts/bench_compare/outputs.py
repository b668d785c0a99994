"""The benchmark's files (report, chart, JSON) go through the project's one atomic writer, `edge.files`;
their folder is created first, as `--out some/new/folder/report.md` expects."""

from __future__ import annotations

from pathlib import Path

from edge.errors import WriteError
from edge.files import write_atomic


def make_parent(path: Path) -> None:
    """Create `path`'s folder (and its parents) if missing; WriteError if it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot write to {path}: {exc.strerror or exc}") from exc


def write_output(path: Path, data: str) -> None:
    """Write text to `path` whole or not at all, its folder created first."""
    make_parent(path)
    write_atomic(path, data)
