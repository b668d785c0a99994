"""fer-edge's worker, run in this project's Python from the checkout:

    python -m scripts.bench_compare.ours_worker --job video --video V --model M [--threads N] [--flip] [--detector D]

It times the import of what the contender itself needs (import_s), then measures (`ours_measure`).
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any

from scripts.bench_compare.peer_worker import emit, parse_worker_args

CONTENDER_MODULES = ("edge", "edge.classify", "edge.detect", "edge.pipeline", "edge.render", "edge.results",
                     "edge.timing")
"""What the fer-edge contender imports (with numpy, OpenCV and the interpreter under them): import_s times
these. The harness's own imports (edge.bench for the memory reader, edge.sources) come after, untimed."""


def main(argv: list[str] | None = None) -> int:
    args = parse_worker_args(argv, "fer-edge's worker: one job, one JSON result line.")

    def measure() -> dict[str, Any]:
        started = time.perf_counter()
        for module in CONTENDER_MODULES:
            importlib.import_module(module)
        import_s = time.perf_counter() - started
        from scripts.bench_compare import ours_measure

        if args.job == "accuracy":
            return ours_measure.accuracy(Path(args.model), Path(args.data), args.flip)
        return ours_measure.measure_video(args, import_s)

    return emit(measure)


if __name__ == "__main__":
    sys.exit(main())
