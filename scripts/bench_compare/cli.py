"""The command line: `python -m scripts.bench_compare [options]` from the checkout."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from edge.errors import FerEdgeError
from scripts import bench_compare
from scripts.bench_compare.chart import write_chart
from scripts.bench_compare.contenders import CONTENDERS, CompareError, CompareOptions
from scripts.bench_compare.environment import setup_fer
from scripts.bench_compare.host import machine
from scripts.bench_compare.outputs import write_output
from scripts.bench_compare.report import format_report, format_table
from scripts.bench_compare.runner import compare

COMMAND = ("python", "-m", "scripts.bench_compare")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def parser() -> argparse.ArgumentParser:
    d = CompareOptions()
    p = argparse.ArgumentParser(prog=" ".join(COMMAND), description=bench_compare.__doc__,
                                formatter_class=lambda prog: _Formatter(prog, max_help_position=30))
    p.add_argument("--video", type=Path, default=d.video, help="the video every contender runs on")
    p.add_argument("--repeats", type=int, default=d.repeats, help="runs per contender (median reported; >= 3 "
                   "for final figures)")
    p.add_argument("--frames", type=int, default=d.frames, help="timed frames per run (0 = the whole video once)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="untimed frames first in every run")
    p.add_argument("--contenders", nargs="+", choices=list(CONTENDERS), default=list(d.contenders), metavar="NAME",
                   help=f"what to run, from: {', '.join(CONTENDERS)}")
    p.add_argument("--int8-model", type=Path, default=d.int8_model, help="our int8 model")
    p.add_argument("--float32-model", type=Path, default=d.float32_model, help="our float32 model")
    p.add_argument("--accurate-model", type=Path, default=d.accurate_model, help="the accurate profile's model")
    p.add_argument("--tutorial-python", type=Path, default=d.tutorial_python,
                   help="python with TensorFlow/Keras for the tutorial loop")
    p.add_argument("--fer-python", type=Path, default=d.fer_python, help="python of the fer environment")
    p.add_argument("--setup-fer", action="store_true", help="create the fer environment first if it is missing")
    p.add_argument("--data", type=Path, default=d.data, help="FER2013 (Kaggle layout) for the accuracy column")
    p.add_argument("--no-accuracy", action="store_true", help="skip the accuracy measurements")
    p.add_argument("--out", type=Path, default=d.out, help="Markdown report")
    p.add_argument("--chart", type=Path, default=d.chart, help="PNG chart (linked from the report)")
    p.add_argument("--json", type=Path, default=None, help="also write every run's figures here")
    p.add_argument("--banner", type=str, default=d.banner, help="a note at the top of the report")
    p.add_argument("--timeout", type=float, default=d.timeout, help="seconds before a worker is given up")
    return p


def options_from(args: argparse.Namespace) -> CompareOptions:
    """The options the arguments ask for; CompareError when they are bad or the video is missing."""
    options = CompareOptions(video=args.video, repeats=args.repeats, frames=args.frames, warmup=args.warmup,
                             contenders=tuple(args.contenders), int8_model=args.int8_model,
                             float32_model=args.float32_model, accurate_model=args.accurate_model,
                             tutorial_python=args.tutorial_python,
                             fer_python=args.fer_python, data=args.data, accuracy=not args.no_accuracy,
                             out=args.out, chart=args.chart, json_out=args.json, banner=args.banner,
                             timeout=args.timeout)
    if not options.video.is_file():
        raise CompareError(f"{options.video}: no such video")
    return options


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and write the report; 0 when every contender ran or was skipped, 1 when one
    failed, 2 on an error the user can act on (one line on stderr)."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    try:
        return _run(args, shlex.join([*COMMAND, *argv]))
    except FerEdgeError as exc:
        print(f"bench_compare: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, command: str) -> int:
    options = options_from(args)
    if args.setup_fer and any(CONTENDERS[c].kind == "fer" for c in options.contenders):
        setup_fer(options.fer_python)
    options = replace(options, video=options.video.resolve())
    host = machine()
    print(f"{host['cpu']}, {host['cores']} cores, load {host['load_1min']}; {options.repeats} run(s) per contender")
    outcomes = compare(options)
    chart_name = None
    if write_chart(outcomes, options.chart, options.banner):
        chart_name = os.path.relpath(options.chart.resolve(), options.out.resolve().parent)
    write_output(options.out, format_report(outcomes, options, command, host, chart_name))
    if options.json_out:
        write_output(options.json_out, json.dumps({"command": command, "machine": host,
                                                   "outcomes": [o.to_dict() for o in outcomes]}, indent=1))
    print(format_table(outcomes))
    print(f"wrote {options.out}" + (f" and {options.chart}" if chart_name else ""))
    return 1 if any(o.status == "failed" for o in outcomes) else 0
