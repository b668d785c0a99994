"""Read a run back: a `--jsonl` file (one `FrameResult` record a line) as `FrameResult`s again.

    for result in RunFile("run.jsonl"):
        ...

Bad input is one clear error (`RunFileError`, naming the file and line): a file that is not fer-edge
JSONL, or a run with no frames. A last line without its newline is what a killed run leaves: it is
skipped, and `truncated` says so once the file has been read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from edge.errors import FerEdgeError
from edge.results import FrameResult


class RunFileError(FerEdgeError, ValueError):
    """The file is not a fer-edge run (JSONL of frame records), or holds no frames."""


class RunFile:
    """Iterate for the run's `FrameResult`s, in file order; the file is read as it is iterated."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise RunFileError(f"{self.path}: {'a folder' if self.path.is_dir() else 'no such file'}, "
                               f"not a fer-edge --jsonl run")
        self.frames = 0
        """Records read so far."""
        self.truncated = False
        """Whether the last line was cut off (a killed run) and skipped."""

    def __iter__(self) -> Iterator[FrameResult]:
        self.frames, self.truncated = 0, False
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    if not raw.endswith(b"\n"):  # only the file's last line can lack it: a run killed mid-write
                        self.truncated = True
                        break
                    raise RunFileError(f"{self.path}:{number}: not a JSON line ({exc})") from exc
                yield self._result(record, number)
                self.frames += 1
        if self.frames == 0:
            raise RunFileError(f"{self.path}: no frame records"
                               + (" (only a cut-off line: the run was killed)" if self.truncated else ""))

    def _result(self, record: object, number: int) -> FrameResult:
        if not isinstance(record, dict) or "schema" not in record:
            raise RunFileError(f"{self.path}:{number}: not a fer-edge frame record (no \"schema\" field)")
        try:
            return FrameResult.from_dict(record)
        except (KeyError, TypeError, ValueError) as exc:
            detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise RunFileError(f"{self.path}:{number}: not a fer-edge frame record ({detail})") from exc

    def read(self) -> list[FrameResult]:
        """Every result, in a list (a 1-hour run at 30 FPS is about 108,000)."""
        return list(self)
