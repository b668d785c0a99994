"""How long `fer-edge report` takes on a long run, and how big its outputs are.

    python scripts/bench_report.py [--frames 108000] [--repeats 3]

The run is made up (tests/synthetic_run.py: two faces, 30 FPS; 108,000 frames = 1 hour) and written as
fer-edge writes --jsonl. Prints the median seconds of the report with its CSV, each file's size, and the
peak resident memory.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.bench import peak_rss_mb  # noqa: E402
from edge.report import ReportOptions, make_report  # noqa: E402
from tests.synthetic_run import write_synthetic_run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=108_000, help="frames in the run (default: 108000)")
    parser.add_argument("--repeats", type=int, default=3, help="reports timed (default: 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run.jsonl"
        started = time.perf_counter()
        write_synthetic_run(run, args.frames)
        print(f"run: {args.frames:,} frames, {run.stat().st_size / 1e6:.1f} MB of JSONL "
              f"(written in {time.perf_counter() - started:.1f} s)")
        seconds = []
        for _ in range(args.repeats):
            report = make_report(run, ReportOptions(csv=Path(folder) / "faces.csv"))
            seconds.append(report.seconds)
        print(f"report with CSV: {statistics.median(seconds):.1f} s median of {args.repeats} "
              f"({', '.join(f'{s:.1f}' for s in seconds)}); HTML {report.html.stat().st_size / 1e3:.0f} kB, "
              f"CSV {report.csv.stat().st_size / 1e6:.1f} MB; peak RSS {peak_rss_mb():.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
