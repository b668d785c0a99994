"""fer-train's options: `TrainOptions`, checked when made, and the plain form report.json records.

No TensorFlow or Keras here: `fer-train --help` and option errors answer without them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from edge.contract import InputSpec
from train.architectures import check_architecture, input_spec_for
from train.augment import AugmentOptions
from train.data import check_val_fraction

STRATEGIES = ("default", "mirrored", "multiworker")
CLASS_WEIGHTING = ("none", "sqrt", "balanced")


@dataclass(frozen=True)
class TrainOptions:
    """Everything one training run needs; saved in report.json."""

    data: Path
    """A Kaggle FER2013 root (train/, test/), a folder of class folders, or fer2013.csv."""
    out: Path = Path("runs/fer")
    """Output folder: model.keras, report.json, curves.png, confusion.png."""
    arch: str = "compact"
    """compact (48x48 gray edge CNN), vgg (the heavier 48x48 VGG-style CNN) or mobilenetv2 (ImageNet transfer)."""
    epochs: int = 34
    """Training epochs in all (for mobilenetv2 including the frozen-base epochs)."""
    batch_size: int = 128
    """Images per step."""
    learning_rate: float = 0.1
    """Peak learning rate (SGD with Nesterov momentum), reached after warm-up, then cosine decay."""
    warmup_epochs: int = 2
    """Epochs of linear learning-rate warm-up."""
    weight_decay: float = 1e-4
    """L2 penalty on conv and dense kernels (compact, vgg)."""
    label_smoothing: float = 0.1
    """Label smoothing of the cross-entropy."""
    class_weighting: str = "sqrt"
    """none, sqrt (inverse square-root frequency) or balanced (inverse frequency)."""
    ferplus: Path | None = None
    """A FER+ folder (fer2013new.csv, kaggle_to_fer2013_row.csv): train on FER2013 labels mixed with FER+ votes."""
    ferplus_weight: float = 0.5
    """With `ferplus`: the share of the FER+ vote distribution in each training target (0..1)."""
    teachers: tuple[Path, ...] = ()
    """Trained `.keras` models whose mean probabilities are mixed into the training targets (distillation)."""
    teacher_weight: float = 0.5
    """With `teachers`: the share of the teachers' probabilities in each training target (0..1)."""
    teacher_online: bool = False
    """With `teachers`: run them on each augmented training batch instead of once on the plain faces."""
    val_fraction: float = 0.1
    """Seeded, stratified share of the training split held out to pick the best epoch."""
    patience: int = 12
    """Stop after this many epochs without a better validation accuracy; the best epoch is kept."""
    augment: AugmentOptions = AugmentOptions()
    """Random erasing, mixup, CutMix (fer-train's --erasing, --mixup, --cutmix; see `train.augment`)."""
    swa_start: int = 0
    """Stochastic weight averaging: from this epoch (1-based) on, the learning rate stays at `swa_lr` and
    the weights at each epoch's end are averaged; the average, with batch-norm statistics recomputed on
    the training faces, becomes model.keras. 0 = off. Early stopping is off with it."""
    swa_lr: float = 0.01
    """With `swa_start`: the constant learning rate of the averaging epochs."""
    seed: int = 1
    """Seeds the split, the shuffling, the augmentation and the weights."""
    filters: int | None = None
    """compact, vgg: filters of the first stage (default 16 for compact, 24 for vgg)."""
    alpha: float = 0.35
    """mobilenetv2: width multiplier."""
    size: int | None = None
    """Input side in pixels (default 48 for compact, 96 for mobilenetv2)."""
    weights: str | None = "imagenet"
    """mobilenetv2: imagenet, a weights file path, or none."""
    freeze_epochs: int = 5
    """mobilenetv2: epochs with the base frozen before fine-tuning at a tenth of the learning rate."""
    strategy: str = "default"
    """tf.distribute strategy: default (one device), mirrored (all local GPUs), multiworker (TF_CONFIG)."""
    mixed_precision: bool = False
    """Compute in float16 (GPU only); the output layer stays float32."""
    resume: bool = False
    """Continue from the last checkpoint in `out`."""
    init: Path | None = None
    """Start from this trained `.keras` model's weights (same input) with a fresh schedule: a warm restart."""
    limit: int | None = None
    """Use at most this many training images (smoke tests)."""

    def __post_init__(self) -> None:
        check_architecture(self.arch)
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r} (choose from {', '.join(STRATEGIES)})")
        if self.class_weighting not in CLASS_WEIGHTING:
            raise ValueError(f"unknown class weighting {self.class_weighting!r}")
        for name in ("epochs", "batch_size", "filters"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        check_val_fraction(self.val_fraction)
        for name in ("ferplus_weight", "teacher_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.teacher_online and not self.teachers:
            raise ValueError("teacher_online needs teachers")
        if self.learning_rate <= 0 or self.swa_lr <= 0:
            raise ValueError(f"learning rates must be positive, got {self.learning_rate} and {self.swa_lr}")
        if not 0 <= self.swa_start <= self.epochs:
            raise ValueError(f"swa_start must be between 0 (off) and epochs ({self.epochs}), got {self.swa_start}")

    @property
    def spec(self) -> InputSpec:
        return input_spec_for(self.arch, self.size)


def options_dict(options: Any) -> dict[str, Any]:
    """Options as JSON values (paths as strings, tuples as lists), a nested options field flattened into
    its parent in place: report.json's config keeps one flat key per fer-train flag."""
    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return str(value) if isinstance(value, Path) else value

    record: dict[str, Any] = {}
    for option in fields(options):
        value = getattr(options, option.name)
        record.update(options_dict(value) if is_dataclass(value) else {option.name: plain(value)})
    return record
