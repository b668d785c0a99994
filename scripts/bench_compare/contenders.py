"""What is compared: the contenders, the options of a comparison, and what became of each contender."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import FerEdgeError
from scripts.bench_compare import ROOT


class CompareError(FerEdgeError, ValueError):
    """Bad options or inputs of the benchmark: the message names the value."""


@dataclass(frozen=True)
class Contender:
    """One thing to measure."""

    name: str
    label: str
    kind: str
    """ours, tutorial or fer."""
    variant: str = ""
    """ours: int8, float32 or accurate (the accurate profile's int8 file)."""
    threads: int = 1
    """ours: interpreter threads."""
    fer_tflite: bool = True
    """fer: its TFLite model (the default) or its Keras model."""
    flip: bool = False
    """ours: each face averaged with its mirror image (`fer-edge --flip`)."""
    detector: str = "blazeface"
    """ours: the face detector (`fer-edge --detector`)."""


CONTENDERS: dict[str, Contender] = {c.name: c for c in (
    Contender("ours-int8-1t", "fer-edge int8, 1 thread", "ours", "int8", 1),
    Contender("ours-int8-2t", "fer-edge int8, 2 threads", "ours", "int8", 2),
    Contender("ours-int8-flip-1t", "fer-edge int8 --flip, 1 thread", "ours", "int8", 1, flip=True),
    Contender("ours-accurate-1t", "fer-edge --profile accurate, 1 thread", "ours", "accurate", 1),
    Contender("ours-int8-haar-1t", "fer-edge int8 --detector haar, 1 thread", "ours", "int8", 1, detector="haar"),
    Contender("ours-int8-full-1t", "fer-edge int8 --detector blazeface-full, 1 thread", "ours", "int8", 1,
              detector="blazeface-full"),
    Contender("ours-float32-1t", "fer-edge float32, 1 thread", "ours", "float32", 1),
    Contender("ours-float32-2t", "fer-edge float32, 2 threads", "ours", "float32", 2),
    Contender("tutorial", "tutorial loop (Keras MobileNetV2)", "tutorial"),
    Contender("fer", "fer FER(mtcnn=False)", "fer", fer_tflite=True),
    Contender("fer-keras", "fer FER(mtcnn=False, use_tflite=False)", "fer", fer_tflite=False),
)}


@dataclass(frozen=True)
class CompareOptions:
    """What to run and where to write it."""

    video: Path = ROOT / "samples" / "demo.mp4"
    """The video every contender runs on."""
    repeats: int = 3
    """Runs per contender (interleaved); medians are reported."""
    frames: int = 0
    """Timed frames per run (0 = the whole video once; more than the video loops it)."""
    warmup: int = 10
    """Untimed frames processed first in every run (caches, lazy graph building)."""
    contenders: tuple[str, ...] = tuple(CONTENDERS)
    int8_model: Path = ROOT / "models" / "fer_compact_int8.tflite"
    float32_model: Path = ROOT / "models" / "fer_compact_float32.tflite"
    accurate_model: Path = ROOT / "models" / "fer_accurate_int8.tflite"
    tutorial_python: Path = Path(sys.executable)
    fer_python: Path = ROOT / ".venv-fer" / "bin" / "python"
    data: Path = ROOT.parent / "shared" / "data" / "fer2013"
    """FER2013 in Kaggle layout (test/<class>/PublicTest_*.jpg) for the accuracy column."""
    accuracy: bool = True
    out: Path = ROOT / "docs" / "benchmarks.md"
    chart: Path = ROOT / "docs" / "benchmarks.png"
    json_out: Path | None = None
    banner: str = ""
    """A note put at the top of the report (for example that the figures are provisional)."""
    timeout: float = 1800.0
    """Seconds before one worker is given up."""

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.frames < 0 or self.warmup < 0:
            raise CompareError(f"repeats must be >= 1 and frames, warmup >= 0 (got {self.repeats}, {self.frames}, "
                               f"{self.warmup})")
        unknown = [c for c in self.contenders if c not in CONTENDERS]
        if unknown:
            raise CompareError(f"unknown contender(s) {', '.join(unknown)} (choose from {', '.join(CONTENDERS)})")


def model_of(contender: Contender, options: CompareOptions) -> Path:
    """Our model file for a contender (the int8 or accurate one; the float32 one otherwise, peers ignore it)."""
    return {"int8": options.int8_model, "accurate": options.accurate_model}.get(contender.variant,
                                                                                options.float32_model)


@dataclass
class Outcome:
    """What became of one contender: its runs, their medians, its accuracy."""

    contender: Contender
    status: str = "ok"
    """ok, skipped or failed."""
    reason: str = ""
    install: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"contender": asdict(self.contender), "status": self.status, "reason": self.reason,
                "install": self.install, "runs": self.runs, "summary": self.summary, "accuracy": self.accuracy}
