"""Each contender's Python: whether it has what the contender needs (else skipped, with the install
command), and creating the `fer` package's own environment (`--setup-fer`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from edge.errors import FerEdgeError
from scripts.bench_compare import ROOT
from scripts.bench_compare.contenders import CompareOptions, Contender, Outcome, model_of

FER_VERSION = "25.10.3"
FER_REQUIREMENTS = "scripts/requirements-fer.txt"
FER_INSTALL = (f"python3 -m venv .venv-fer && .venv-fer/bin/pip install -r {FER_REQUIREMENTS} "
               f"&& .venv-fer/bin/pip install --no-deps fer=={FER_VERSION}")
TF_INSTALL = 'pip install "tensorflow>=2.16,<2.22"  (or pip install -e ".[train]")'
OURS_INSTALL = 'pip install -e .  (from this checkout)'


class SetupError(FerEdgeError):
    """The fer environment could not be created: the message names the step."""


def python_has(python: Path, *modules: str) -> bool:
    """Whether `python` runs and finds every one of `modules`."""
    code = ("import importlib.util, sys; sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) "
            "else 1)")
    try:
        return subprocess.run([str(python), "-c", code, *modules], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def probe(contender: Contender, options: CompareOptions) -> Outcome:
    """An outcome that is ok when the contender's environment has what it needs, else skipped with why."""
    outcome = Outcome(contender)
    if contender.kind == "ours":
        model = model_of(contender, options)
        if not model.is_file():
            outcome.status, outcome.reason, outcome.install = "skipped", f"{model}: no such model", ""
        elif not python_has(Path(sys.executable), "cv2", "numpy"):
            outcome.status, outcome.reason, outcome.install = "skipped", "OpenCV/numpy missing", OURS_INSTALL
    elif contender.kind == "tutorial":
        if not python_has(options.tutorial_python, "tensorflow", "keras", "cv2"):
            outcome.status = "skipped"
            outcome.reason = f"no TensorFlow/Keras in {options.tutorial_python}"
            outcome.install = TF_INSTALL
    elif not options.fer_python.exists():
        outcome.status, outcome.reason = "skipped", f"{options.fer_python}: no such python"
        outcome.install = FER_INSTALL
    elif not python_has(options.fer_python, "fer", "tensorflow", "cv2"):
        outcome.status, outcome.reason = "skipped", f"the fer package or TensorFlow missing in {options.fer_python}"
        outcome.install = FER_INSTALL
    return outcome


def setup_fer(python: Path, log: Callable[[str], None] = print) -> None:
    """Create the fer environment at python's venv (…/bin/python) from scripts/requirements-fer.txt."""
    if python.exists():
        return
    venv = python.parent.parent
    log(f"creating {venv} for fer ({FER_REQUIREMENTS}, then fer=={FER_VERSION} without its dependencies)")
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    for step in ([sys.executable, "-m", "venv", str(venv)], [*pip, "--upgrade", "pip"],
                 [*pip, "-r", str(ROOT / FER_REQUIREMENTS)], [*pip, "--no-deps", f"fer=={FER_VERSION}"]):
        try:
            subprocess.run(step, check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SetupError(f"cannot create {venv}: {exc}") from exc
