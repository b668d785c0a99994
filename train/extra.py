"""The training side's optional packages (the `train` extra): one clear line when they are missing."""

from __future__ import annotations

TRAINING_PACKAGES = frozenset({"keras", "tensorflow", "matplotlib"})
INSTALL = 'pip install "fer-edge[train]"'


def missing_extra(error: ModuleNotFoundError, tool: str) -> str | None:
    """The one-line error for a missing training package, or None when `error` is about something else."""
    name = (error.name or "").split(".")[0]
    if name not in TRAINING_PACKAGES:
        return None
    return f"{tool}: error: {name} is not installed: {tool} needs the train extra ({INSTALL})"
