"""The training commands fer-train, fer-eval and fer-average: each a thin `main` that parses its flags,
builds the options, calls the library and turns the library's errors into one line and exit code 2.

Nothing here imports TensorFlow or Keras at import time: every `--help` answers without them.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import fields, is_dataclass
from pathlib import Path

from edge.help_format import command_parser
from train.architectures import ARCHITECTURES
from train.extra import COMMAND_ERRORS, command_failed
from train.options import CLASS_WEIGHTING, STRATEGIES, TrainOptions
from train.quiet import native_output_to

DEFAULTS = TrainOptions(data=Path("."))


def add_split_flags(p: argparse.ArgumentParser) -> None:
    """--seed and --val-fraction, for tools that re-create fer-train's validation split."""
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="fer-train's --seed (the validation split)")
    p.add_argument("--val-fraction", type=float, default=DEFAULTS.val_fraction, help="fer-train's --val-fraction")


AS_IS: tuple[tuple[int, int], ...] = ((0, 0),)
"""--shifts' default: one view, the face as it is."""


def shifts_flag(value: str) -> tuple[tuple[int, int], ...]:
    """--shifts: views as DX:DY pairs separated by commas, such as 0:0,1:0,-1:0."""
    try:
        views = tuple((int(dx), int(dy)) for dx, dy in (view.split(":") for view in value.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DX:DY pairs separated by commas, got {value!r}") from None
    if any(max(abs(dx), abs(dy)) > 8 for dx, dy in views):
        raise argparse.ArgumentTypeError(f"shifts are at most 8 pixels, got {value!r}")
    if len(set(views)) != len(views):
        raise argparse.ArgumentTypeError(f"each shift once, got {value!r}")
    return views


def weights_flag(value: str) -> str | None:
    """--weights: "none" is no weights (None)."""
    return None if value == "none" else value


def parser() -> argparse.ArgumentParser:
    """fer-train's flags: each stores into the `TrainOptions` field of its name (`dest`), with its default."""
    p = command_parser("fer-train", main.__doc__)
    d = DEFAULTS
    p.add_argument("data", type=Path, help="Kaggle FER2013 root (train/, test/), a folder of class folders, "
                   "or fer2013.csv")
    p.add_argument("--out", type=Path, default=d.out, help="output folder")
    p.add_argument("--arch", type=str, choices=ARCHITECTURES, default=d.arch, help="architecture")
    p.add_argument("--epochs", type=int, default=d.epochs, help="training epochs in all")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per step")
    p.add_argument("--lr", dest="learning_rate", metavar="LR", type=float, default=d.learning_rate,
                   help="peak learning rate (SGD, Nesterov)")
    p.add_argument("--warmup-epochs", type=int, default=d.warmup_epochs, help="linear warm-up epochs")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="L2 on kernels (compact, vgg)")
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing, help="label smoothing")
    p.add_argument("--class-weighting", type=str, choices=CLASS_WEIGHTING, default=d.class_weighting,
                   help="loss weight per class against imbalance")
    p.add_argument("--ferplus", type=Path, default=None,
                   help="FER+ folder (fer2013new.csv, kaggle_to_fer2013_row.csv): mix its crowd votes into "
                        "the training targets; validation and reports stay on FER2013 labels")
    p.add_argument("--ferplus-weight", type=float, default=d.ferplus_weight,
                   help="with --ferplus: share of the FER+ vote distribution in each training target")
    p.add_argument("--teacher", dest="teachers", type=Path, action="append", default=[], metavar="MODEL",
                   help="distil from this trained .keras model (repeat for an ensemble; default: none)")
    p.add_argument("--teacher-weight", type=float, default=d.teacher_weight,
                   help="share of the teachers' probabilities in each training target")
    p.add_argument("--teacher-online", action="store_true",
                   help="run the teachers on every augmented training batch (the view the student sees) instead "
                        "of once on the plain faces: consistent targets, a teacher forward pass per face")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help="stratified share of train held out to pick the best epoch")
    p.add_argument("--patience", type=int, default=d.patience, help="early-stopping patience in epochs")
    p.add_argument("--erasing", type=float, default=d.augment.erasing, metavar="SHARE",
                   help="random erasing: share of training faces with one rectangle replaced by noise")
    p.add_argument("--mixup", type=float, default=d.augment.mixup, metavar="ALPHA",
                   help="mixup: blend training faces and targets in pairs, Beta(ALPHA, ALPHA) (0 = off)")
    p.add_argument("--cutmix", type=float, default=d.augment.cutmix, metavar="SHARE",
                   help="cutmix: share of training faces with a square (up to half the face) pasted from another "
                        "face, targets mixed by area (0 = off; not with --mixup)")
    p.add_argument("--swa-start", type=int, default=d.swa_start, metavar="EPOCH",
                   help="stochastic weight averaging: from this epoch on, hold the learning rate at --swa-lr and "
                        "average the weights of each epoch into model.keras (0 = off; early stopping is off with it)")
    p.add_argument("--swa-lr", type=float, default=d.swa_lr, help="with --swa-start: the constant learning rate")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed")
    p.add_argument("--filters", type=int, default=None, help="compact, vgg: first-stage filters (compact 16, vgg 24)")
    p.add_argument("--alpha", type=float, default=d.alpha, help="mobilenetv2: width multiplier")
    p.add_argument("--size", type=int, default=None, help="input side in pixels (compact and vgg 48, mobilenetv2 96)")
    p.add_argument("--weights", type=weights_flag, default=d.weights,
                   help="mobilenetv2: imagenet (download), a weights file, or none")
    p.add_argument("--freeze-epochs", type=int, default=d.freeze_epochs,
                   help="mobilenetv2: epochs with a frozen base before fine-tuning")
    p.add_argument("--strategy", type=str, choices=STRATEGIES, default=d.strategy, help="tf.distribute strategy")
    p.add_argument("--mixed-precision", action="store_true", help="float16 compute (GPU)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--init", type=Path, default=None,
                   help="warm restart: start from this trained .keras model (same input), fresh schedule")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own start-up output")
    p.add_argument("--limit", type=int, default=None, help="use at most this many training images")
    return p


def options_from(args: argparse.Namespace, kind: type = TrainOptions):
    """`kind` made from the parsed flags of its fields' names (a repeated flag's list as a tuple); a field
    holding options of its own (`TrainOptions.augment`) is made the same way from its fields."""
    values = {}
    for option in fields(kind):
        if is_dataclass(option.default):
            values[option.name] = options_from(args, type(option.default))
        else:
            value = getattr(args, option.name)
            values[option.name] = tuple(value) if isinstance(value, list) else value
    return kind(**values)


def main(argv: list[str] | None = None) -> int:
    """`fer-train`: train an emotion model on FER2013 and write the model and its report."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        options = options_from(args)
        if not args.verbose:
            with native_output_to(None):  # TensorFlow's start-up lines (CUDA probes on a CPU machine, ...)
                import keras

                if keras.backend.backend() == "tensorflow":
                    import tensorflow as tf

                    tf.config.list_physical_devices("GPU")  # the device probe, which logs cuInit failures
        from train.fit import train
        from train.metrics import format_summary

        report = train(options)
    except COMMAND_ERRORS as exc:
        return command_failed("fer-train", exc)
    for result in report["results"]:
        print(format_summary(result))
    print(f"wrote {options.out}/model.keras, report.json, curves.png, confusion.png "
          f"(best epoch {report['best_epoch']}, {report['seconds'] / 60:.1f} min)")
    return 0


def eval_main(argv: list[str] | None = None) -> int:
    """`fer-eval [MODEL] DATA [--profile P] [--flip] [--detect] [--json OUT]`: accuracy, macro-F1, per-class
    metrics, confusion matrix; without MODEL, the shipped model of --profile; --flip as fer-edge --flip;
    --detect scores whole photos through detection."""
    from edge.flags import add_detector_flags, add_model_flags, detector_options, model_options

    p = command_parser("fer-eval", eval_main.__doc__)
    p.add_argument("model", type=Path, nargs="?", default=None,
                   help="a .keras or .tflite model (default: the shipped model of --profile)")
    p.add_argument("data", type=Path, help="Kaggle FER2013 root (evaluates test/), a folder of class folders, "
                   "or fer2013.csv")
    add_model_flags(p)
    p.add_argument("--detect", action="store_true",
                   help="DATA holds whole images in class folders: detect, crop the largest face, classify (.tflite)")
    add_detector_flags(p)
    p.add_argument("--json", type=Path, default=None, help="write the metrics here as JSON")
    args = p.parse_args(argv)
    try:
        from edge.files import write_atomic
        from edge.model_file import ModelFileError
        from train.evaluate import evaluate_detect, evaluate_model, format_detect
        from train.metrics import format_summary

        model = model_options(args)
        path = model.resolved_path
        print(f"model: {path}" + (f" (the {args.profile} profile)" if args.model is None else ""))
        if args.detect:
            if path.suffix != ".tflite":
                raise ModelFileError(f"{path}: --detect runs the device pipeline: give a .tflite model")
            result = evaluate_detect(model, args.data, detector_options(args))
            print(format_detect(result))
            if args.json:
                write_atomic(args.json, json.dumps(result, indent=1))
            return 0
        results, faces = evaluate_model(model, args.data)
        for result in results:
            print(format_summary(result))
        if faces.skipped:
            print(f"skipped {len(faces.skipped)} unreadable images, first: {faces.skipped[0]}")
        if args.json:
            write_atomic(args.json, json.dumps({"model": str(path), "flip": args.flip, "results": results,
                                                "skipped": len(faces.skipped)}, indent=1))
    except COMMAND_ERRORS as exc:
        return command_failed("fer-eval", exc)
    return 0


def average_main(argv: list[str] | None = None) -> int:
    """`fer-average MODEL MODEL [...] --data DATA --out DIR`: one model from the mean of several's weights."""
    p = command_parser("fer-average", average_main.__doc__)
    p.add_argument("models", type=Path, nargs="+", help=".keras models of one architecture and input contract")
    p.add_argument("--data", type=Path, required=True, help="FER2013 as fer-train read it (batch-norm statistics "
                   "from its training part; validation and report splits evaluated)")
    p.add_argument("--out", type=Path, required=True, help="output folder: model.keras, report.json")
    add_split_flags(p)
    args = p.parse_args(argv)
    try:
        from train.average import average_models
        from train.metrics import format_summary

        report = average_models(args.models, args.data, args.out, args.seed, args.val_fraction)
    except COMMAND_ERRORS as exc:
        return command_failed("fer-average", exc)
    for result in report["results"]:
        print(format_summary(result))
    print(f"wrote {args.out}/model.keras and report.json")
    return 0
