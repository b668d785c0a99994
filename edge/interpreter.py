"""Load a TFLite interpreter: ai-edge-litert, then tflite-runtime, then tensorflow.lite.

The only place in the project that knows about the three interpreter packages.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from edge.errors import FerEdgeError

log = logging.getLogger(__name__)

# (package name shown to users, module to import, attribute holding the Interpreter class)
BACKENDS: tuple[tuple[str, str, str], ...] = (
    ("ai-edge-litert", "ai_edge_litert.interpreter", "Interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter", "Interpreter"),
    ("tensorflow", "tensorflow.lite", "Interpreter"),
)


class NoInterpreterError(FerEdgeError):
    """No TFLite interpreter package is installed."""


def interpreter_class(preferred: str | None = None) -> tuple[str, Any]:
    """The first importable interpreter class, in fallback order, and its package name."""
    order = [b for b in BACKENDS if preferred in (None, "auto", b[0])]
    if not order:
        raise ValueError(f"unknown interpreter {preferred!r} (choose from auto, "
                         f"{', '.join(b[0] for b in BACKENDS)})")
    for name, module, attribute in order:
        try:
            return name, getattr(importlib.import_module(module), attribute)
        except ImportError:
            log.debug("interpreter %s not installed", name)
    raise NoInterpreterError("no TFLite interpreter: pip install ai-edge-litert (or tflite-runtime on "
                             "platforms without an ai-edge-litert wheel)")


def load_interpreter(model_content: bytes, threads: int = 1, preferred: str | None = None) -> tuple[str, Any]:
    """An allocated interpreter for the flatbuffer `model_content`, and its package name."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    name, cls = interpreter_class(preferred)
    interpreter = cls(model_content=model_content, num_threads=threads)
    interpreter.allocate_tensors()
    return name, interpreter
