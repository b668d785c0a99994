"""`fer-convert`: export a trained Keras model to self-describing TFLite files, verified every time."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from convert.export import ConvertOptions, check_targets, run
from convert.quantize import IO_TYPES, VARIANTS
from edge.help_format import command_parser
from train.cli import shifts_flag

log = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    d = ConvertOptions(model=Path("."), data=Path("."))
    p = command_parser("fer-convert", __doc__)
    p.add_argument("model", type=Path, nargs="+",
                   help="trained model.keras; several (same input contract and labels) make one file that "
                        "averages their probabilities inside the graph")
    for variant in VARIANTS:
        note = " (the default when none is given)" if variant == "int8" else ""
        p.add_argument(f"--{variant}", dest=variant, action="store_true", help=f"write the {variant} model{note}")
    p.add_argument("--data", type=Path, required=True,
                   help="FER2013 Kaggle root or fer2013.csv (calibration and verification)")
    p.add_argument("--io", type=str, choices=IO_TYPES, default=d.io, help="int8 model input/output type")
    p.add_argument("--out", "--out-dir", dest="out_dir", type=Path, default=d.out_dir,
                   help="output folder, created if missing (default: the input model's folder)")
    p.add_argument("--force", action="store_true", help="replace output files that already exist")
    p.add_argument("--verbose", action="store_true",
                   help="show TensorFlow's and the converter's own output (by default it goes to NAME_convert.log "
                        "in the output folder)")
    p.add_argument("--name", type=str, default=d.name, help="file name stem (NAME_VARIANT.tflite)")
    p.add_argument("--calib-size", type=int, default=d.calib_size, help="calibration faces")
    p.add_argument("--seed", type=int, default=d.seed, help="calibration sample seed")
    p.add_argument("--split", type=str, default=d.split, help="report split for verification")
    p.add_argument("--max-drop", type=float, default=d.max_drop, help="largest allowed accuracy drop, points")
    p.add_argument("--flip-average", action="store_true",
                   help="average each face with its mirror image inside the model (about 2x invoke time)")
    p.add_argument("--shifts", type=shifts_flag, default=d.shifts, metavar="DX:DY,...",
                   help="average over copies of each face moved DX pixels right and DY down, inside the model "
                        "(more than one invoke per copy; with --flip-average, each copy and its mirror image; "
                        "default: 0:0, the face as it is)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow" and "keras" not in sys.modules:
        # Training may run on another backend (KERAS_BACKEND=torch is faster on a small CPU); the
        # TFLite converter traces TensorFlow graphs, and a .keras file loads on any backend.
        log.warning("fer-convert: KERAS_BACKEND=%s ignored: conversion runs on TensorFlow",
                    os.environ["KERAS_BACKEND"])
        os.environ["KERAS_BACKEND"] = "tensorflow"
    from edge.errors import FerEdgeError, WriteError
    from train.extra import command_failed
    from train.quiet import native_output_to

    try:
        options = ConvertOptions(model=args.model[0], members=tuple(args.model[1:]), data=args.data,
                                 variants=tuple(v for v in VARIANTS if getattr(args, v)) or ("int8",),
                                 io=args.io, out_dir=args.out_dir, force=args.force, name=args.name,
                                 calib_size=args.calib_size,
                                 seed=args.seed, split=args.split, max_drop=args.max_drop,
                                 flip_average=args.flip_average, shifts=args.shifts)
        if args.verbose:
            run(options)
        else:
            check_targets(options)
            log_path = options.targets()[0].parent / f"{options.name}_convert.log"
            try:
                log_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WriteError(f"cannot write to {log_path.parent}: {exc.strerror or exc}") from exc
            with native_output_to(log_path) as terminal:
                run(options, lambda line: print(line, file=terminal))
            print(f"TensorFlow's and the converter's log: {log_path}")
    except (FerEdgeError, ValueError, OSError, ModuleNotFoundError) as exc:
        return command_failed("fer-convert", exc)
    return 0
