"""Export a trained Keras model to self-describing TFLite files, verified every time (`fer-convert` is
`convert.cli`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from convert.quantize import IO_TYPES, VARIANTS
from train.cli import AS_IS


@dataclass(frozen=True)
class ConvertOptions:
    """One conversion run."""

    model: Path
    """The trained model.keras."""
    data: Path
    """FER2013 (Kaggle root or fer2013.csv): Training faces calibrate, the report split verifies."""
    members: tuple[Path, ...] = ()
    """Further trained models of the same input contract and labels: the file averages their probabilities
    with `model`'s inside the graph (one invoke; an ensemble)."""
    variants: tuple[str, ...] = ("int8",)
    """Which files to write: int8, float32, float16, dynamic."""
    io: str = "int8"
    """int8 models: the type of the input and output tensors (int8, uint8 or float32)."""
    out_dir: Path | None = None
    """Folder for the .tflite files (None: the input model's own folder); created if missing."""
    force: bool = False
    """Replace files that already exist (without it they are refused, so a shipped model is never replaced
    by accident)."""
    name: str = "fer_compact"
    """File name stem: NAME_VARIANT.tflite."""
    calib_size: int = 500
    """Real training faces in the representative data set (stratified by class, seeded)."""
    seed: int = 1
    """Seeds the calibration sample."""
    split: str = "PublicTest"
    """The report split used for verification."""
    max_drop: float = 1.0
    """Fail when a converted model's accuracy is more than this many points below the Keras model."""
    flip_average: bool = False
    """Average each face's probabilities with its mirror image's, inside the model (about 2x invoke)."""
    shifts: tuple[tuple[int, int], ...] = AS_IS
    """Average over copies of each face moved (DX, DY) pixels, inside the model (more than one invoke per
    copy; with flip_average, each copy and its mirror image)."""

    def __post_init__(self) -> None:
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad or not self.variants:
            raise ValueError(f"unknown variant {', '.join(bad) or '(none)'} (choose from {', '.join(VARIANTS)})")
        if self.io not in IO_TYPES:
            raise ValueError(f"unknown I/O type {self.io!r} (choose from {', '.join(IO_TYPES)})")
        if self.calib_size < 10:
            raise ValueError(f"calib_size must be at least 10, got {self.calib_size}")
        if not self.shifts or len(set(self.shifts)) != len(self.shifts):
            raise ValueError(f"shifts must be distinct (DX, DY) pairs, got {self.shifts}")

    def targets(self) -> list[Path]:
        """The files this run writes."""
        folder = self.out_dir if self.out_dir is not None else Path(self.model).parent
        return [folder / f"{self.name}_{variant}.tflite" for variant in self.variants]


def check_targets(options: ConvertOptions) -> None:
    """Refuse, before any work, an input that is not a Keras file, outputs that exist (without --force) or a
    folder that cannot be written."""
    from convert.quantize import ConversionError
    from edge.model_file import check_keras_file

    for model in (options.model, *options.members):
        check_keras_file(model)

    existing = [path for path in options.targets() if path.exists()]
    if existing and not options.force:
        raise ConversionError(f"{existing[0]}: already exists (--force replaces it, --out-dir writes elsewhere)")
    folder = options.targets()[0].parent
    ancestor = next(p for p in (folder, *folder.parents) if p.exists())
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK):
        raise ConversionError(f"cannot write to {folder}: {ancestor} is not a writable folder")


def run(options: ConvertOptions, say: Callable[[str], None] = print) -> list[Path]:
    """Convert, verify and write each variant; returns the written paths. `say` gets the lines that
    matter (each variant's verification, each file written)."""
    import keras

    from convert.quantize import ConversionError, calibration_faces, convert
    from convert.verify import verify
    from edge.files import write_atomic
    from edge.model_file import with_info
    from train.data import load_fer2013
    from train.evaluate import predict_keras
    from train.models import ensemble, flip_averaged, load_keras, views_averaged

    check_targets(options)
    if keras.backend.backend() != "tensorflow":
        raise ConversionError(f"TFLite conversion needs Keras' TensorFlow backend, not {keras.backend.backend()}: "
                              "set KERAS_BACKEND=tensorflow before keras is imported (the fer-convert command does)")
    model, info = load_keras(options.model)
    if options.members:
        model, info = ensemble([(options.model, model, info), *((path, *load_keras(path)) for path in options.members)])
    if options.shifts != AS_IS:
        model = views_averaged(model, options.shifts, options.flip_average)
        shifts = [list(shift) for shift in options.shifts]
        info = replace(info, architecture=model.name, training={
            **info.training, "shifts": shifts, "flip_average": options.flip_average})
    elif options.flip_average:
        model = flip_averaged(model)
        info = replace(info, architecture=model.name, training={**info.training, "flip_average": True})
    faces = load_fer2013(options.data, info.input)
    report = faces.split(options.split)
    if len(report) == 0:
        raise ConversionError(f"{options.data}: no {options.split} images to verify against")
    keras_probs = predict_keras(model, report, info.input)
    written = []
    for variant, path in zip(options.variants, options.targets()):
        calibration = calibration_faces(faces.split("Training"), options.calib_size, options.seed) \
            if variant == "int8" else None
        content = convert(model, variant, info.input, calibration, options.io)
        io_dtype = options.io if variant == "int8" else "float32"
        draft = replace(info, variant=variant, io_dtype=io_dtype)
        check = verify(keras_probs, content, draft, report, options.split)
        say(check.format(variant))
        if check.drop_points > options.max_drop:
            raise ConversionError(f"{variant}: accuracy dropped {check.drop_points:.2f} points on {options.split} "
                                  f"(more than --max-drop {options.max_drop}); nothing written")
        final = replace(draft, accuracy={options.split: round(check.tflite_accuracy, 4)},
                        verification={**check.to_dict(), "calibration": {
                            "faces": options.calib_size, "seed": options.seed, "source": "Training split"}
                            if variant == "int8" else None})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConversionError(f"cannot write to {path.parent}: {exc.strerror}") from exc
        write_atomic(path, with_info(content, final))
        say(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
        written.append(path)
    return written
