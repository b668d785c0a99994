"""The project's error base. Every command maps a `FerEdgeError` to one line on stderr and exit code 2;
anything else is a bug and keeps its traceback. Subclasses that callers also catch as `ValueError`
(bad models, bad data) keep that base too."""

from __future__ import annotations


class FerEdgeError(Exception):
    """An error the user can act on: its message is the whole story (one line, naming the file or value)."""


class WriteError(FerEdgeError, OSError):
    """An artifact could not be written: "cannot write to PATH: reason"."""
