"""How the training commands fail: one line for the errors they expect, and for a missing optional package
(the `train` extra) one that says how to install it."""

from __future__ import annotations

import os
import sys

from edge.errors import FerEdgeError
from edge.help_format import error_text

TRAINING_PACKAGES = frozenset({"keras", "tensorflow", "matplotlib"})
INSTALL = 'pip install "fer-edge[train]"'


COMMAND_ERRORS = (FerEdgeError, ValueError, OSError, ModuleNotFoundError)
"""What a training command turns into one line (`command_failed`): the project's errors, bad option values,
files it cannot read or write, a missing training package. Anything else is a bug and keeps its traceback."""

KERAS_BACKENDS = frozenset({"torch", "jax"})
"""Keras backends other than TensorFlow: chosen with KERAS_BACKEND, installed by the user."""


def missing_extra(error: ModuleNotFoundError, tool: str) -> str | None:
    """The one-line error for a missing training package (or the Keras backend KERAS_BACKEND names), or
    None when `error` is about something else."""
    name = (error.name or "").split(".")[0]
    if name in KERAS_BACKENDS and os.environ.get("KERAS_BACKEND") == name:
        return (f"{tool}: error: KERAS_BACKEND is {name} but {name} is not installed: pip install {name} "
                f"(or unset KERAS_BACKEND to train on TensorFlow)")
    if name not in TRAINING_PACKAGES:
        return None
    return f"{tool}: error: {name} is not installed: {tool} needs the train extra ({INSTALL})"


def command_failed(tool: str, error: Exception) -> int:
    """Print a training tool's one-line error (a missing training package says how to install it) and
    return exit code 2; a ModuleNotFoundError about anything else is a bug and is raised again."""
    if isinstance(error, ModuleNotFoundError):
        message = missing_extra(error, tool)
        if message is None:
            raise error
    else:
        message = f"{tool}: error: {error_text(error)}"
    print(message, file=sys.stderr)
    return 2
