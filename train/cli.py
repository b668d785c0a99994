"""`fer-train`: train an emotion model on FER2013 and write the model and its report."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from edge.help_format import command_parser
from train.architectures import ARCHITECTURES
from train.extra import command_failed
from train.fit import CLASS_WEIGHTING, STRATEGIES, TrainOptions
from train.quiet import native_output_to

DEFAULTS = TrainOptions(data=Path("."))


def parser() -> argparse.ArgumentParser:
    p = command_parser("fer-train", __doc__)
    d = DEFAULTS
    p.add_argument("data", type=Path, help="Kaggle FER2013 root (train/, test/), a folder of class folders, "
                   "or fer2013.csv")
    p.add_argument("--out", type=Path, default=d.out, help="output folder")
    p.add_argument("--arch", type=str, choices=ARCHITECTURES, default=d.arch, help="architecture")
    p.add_argument("--epochs", type=int, default=d.epochs, help="training epochs in all")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per step")
    p.add_argument("--lr", type=float, default=d.learning_rate, help="peak learning rate (SGD, Nesterov)")
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
    p.add_argument("--teacher", type=Path, action="append", default=[], metavar="MODEL",
                   help="distil from this trained .keras model (repeat for an ensemble; default: none)")
    p.add_argument("--teacher-weight", type=float, default=d.teacher_weight,
                   help="share of the teachers' probabilities in each training target")
    p.add_argument("--teacher-online", action="store_true",
                   help="run the teachers on every augmented training batch (the view the student sees) instead "
                        "of once on the plain faces: consistent targets, a teacher forward pass per face")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help="stratified share of train held out to pick the best epoch")
    p.add_argument("--patience", type=int, default=d.patience, help="early-stopping patience in epochs")
    p.add_argument("--erasing", type=float, default=d.erasing, metavar="SHARE",
                   help="random erasing: share of training faces with one rectangle replaced by noise")
    p.add_argument("--mixup", type=float, default=d.mixup, metavar="ALPHA",
                   help="mixup: blend training faces and targets in pairs, Beta(ALPHA, ALPHA) (0 = off)")
    p.add_argument("--cutmix", type=float, default=d.cutmix, metavar="SHARE",
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
    p.add_argument("--weights", type=str, default=d.weights,
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


def options_from(args: argparse.Namespace) -> TrainOptions:
    return TrainOptions(
        data=args.data, out=args.out, arch=args.arch, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.lr, warmup_epochs=args.warmup_epochs, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, class_weighting=args.class_weighting,
        ferplus=args.ferplus, ferplus_weight=args.ferplus_weight,
        teachers=tuple(args.teacher), teacher_weight=args.teacher_weight, teacher_online=args.teacher_online,
        val_fraction=args.val_fraction, patience=args.patience, erasing=args.erasing, mixup=args.mixup,
        cutmix=args.cutmix,
        swa_start=args.swa_start, swa_lr=args.swa_lr, seed=args.seed, filters=args.filters,
        alpha=args.alpha, size=args.size, weights=None if args.weights == "none" else args.weights,
        freeze_epochs=args.freeze_epochs, strategy=args.strategy, mixed_precision=args.mixed_precision,
        resume=args.resume, init=args.init, limit=args.limit)


def main(argv: list[str] | None = None) -> int:
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
    except (ValueError, OSError, RuntimeError, ModuleNotFoundError) as exc:
        return command_failed("fer-train", exc)
    for result in report["results"]:
        print(format_summary(result))
    print(f"wrote {options.out}/model.keras, report.json, curves.png, confusion.png "
          f"(best epoch {report['best_epoch']}, {report['seconds'] / 60:.1f} min)")
    return 0
