"""The flag groups several commands share: the model (`ModelOptions`) and the detector (`DetectorOptions`),
for fer-edge, its bench and info, and fer-eval."""

from __future__ import annotations

import argparse

from edge.blazeface import BlazeFaceOptions
from edge.classify import INTERPRETERS, ModelOptions
from edge.detect import DETECTORS, DetectorOptions, HaarOptions, ScanOptions
from edge.model_file import PROFILES

MODEL = ModelOptions()
DETECTOR, BLAZEFACE, SCAN, HAAR = DetectorOptions(), BlazeFaceOptions(), ScanOptions(), HaarOptions()


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """--profile, --threads, --interpreter and --flip: the `ModelOptions` flags, shared by fer-edge and fer-eval."""
    p.add_argument("--profile", type=str, choices=tuple(PROFILES), default=MODEL.profile,
                   help="the shipped model that runs when no model is given: fast (one compact CNN) or accurate "
                        "(two layouts and their mirror images averaged inside one file: 1.3 points more "
                        "accurate, about 4x classification time)")
    p.add_argument("--threads", type=int, default=MODEL.threads, help="interpreter threads")
    p.add_argument("--interpreter", type=str, choices=INTERPRETERS, default=MODEL.interpreter,
                   help="TFLite interpreter package")
    p.add_argument("--flip", action="store_true",
                   help="average each face with its mirror image: more accurate, about 2x classification time")


def model_options(args: argparse.Namespace) -> ModelOptions:
    """The `ModelOptions` of parsed flags; a model file and a profile other than the default conflict."""
    if args.model is not None and args.profile != MODEL.profile:
        raise ValueError(f"give a model file or --profile {args.profile}, not both")
    return ModelOptions(path=args.model, profile=args.profile, threads=args.threads, interpreter=args.interpreter,
                        flip=args.flip)


def add_detector_flags(p: argparse.ArgumentParser) -> None:
    """--detector and its settings: the `DetectorOptions` flags, shared by fer-edge, its bench and fer-eval."""
    p.add_argument("--detector", type=str, choices=DETECTORS, default=DETECTOR.kind,
                   help="blazeface: BlazeFace short range on every frame plus a small-face scan on tiles; "
                        "blazeface-full: BlazeFace full range; haar: OpenCV's Haar cascade")
    p.add_argument("--min-score", type=float, default=BLAZEFACE.score_threshold, help="blazeface: smallest face score")
    p.add_argument("--nms-iou", type=float, default=BLAZEFACE.nms_iou,
                   help="blazeface: boxes overlapping a better one by more than this are merged into it")
    p.add_argument("--max-faces", type=int, default=BLAZEFACE.max_faces, help="blazeface: most faces per frame")
    p.add_argument("--scan-interval", type=float, default=SCAN.interval,
                   help="blazeface: seconds between small-face scans, which run in a background thread (0 = never)")
    p.add_argument("--scan-min-face", type=int, default=SCAN.min_face,
                   help="blazeface: smallest face side the scan looks for, frame pixels")
    p.add_argument("--detect-width", type=int, default=HAAR.detect_width,
                   help="haar: downscale frames to this width for detection (0 = full size)")
    p.add_argument("--min-face", type=int, default=HAAR.min_face, help="haar: smallest face side, frame pixels")
    p.add_argument("--scale-factor", type=float, default=HAAR.scale_factor, help="haar: pyramid step")
    p.add_argument("--min-neighbors", type=int, default=HAAR.min_neighbors, help="haar: min neighbours")


def describe_detector(options: DetectorOptions) -> dict:
    """The detector a run would use, with its model file and crop framing (for `fer-edge info`)."""
    from edge.blazeface import MODELS
    from edge.detect import FRAMINGS

    model = {"blazeface": MODELS["short"], "blazeface-full": MODELS["full"]}.get(options.kind)
    return {"name": options.kind, "file": str(model.path) if model else options.haar.cascade,
            "framing": vars(FRAMINGS[options.kind])}


def detector_options(args: argparse.Namespace) -> DetectorOptions:
    return DetectorOptions(
        kind=args.detector,
        blazeface=BlazeFaceOptions(score_threshold=args.min_score, nms_iou=args.nms_iou, max_faces=args.max_faces),
        scan=ScanOptions(interval=args.scan_interval, min_face=args.scan_min_face),
        haar=HaarOptions(detect_width=args.detect_width, scale_factor=args.scale_factor,
                         min_neighbors=args.min_neighbors, min_face=args.min_face))
