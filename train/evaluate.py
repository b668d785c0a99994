"""Evaluate a Keras or TFLite model on FER2013 splits, as the device would compute it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.classify import ModelOptions
from edge.contract import InputSpec, normalize
from edge.detect import DetectorOptions
from train.data import FaceSet
from train.metrics import summarize


def predict_keras(model, faces: FaceSet, spec: InputSpec, batch_size: int = 256) -> np.ndarray:
    """Class probabilities of a Keras model, through the contract's normalization."""
    inputs = normalize(faces.images.astype(np.float32), spec)
    return np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0), dtype=np.float32)


def evaluate_splits(probabilities_of, parts: dict[str, FaceSet], labels: tuple[str, ...]) -> list[dict[str, Any]]:
    """Metrics for each named split, given a function from a FaceSet to probabilities."""
    return [summarize(faces.labels, probabilities_of(faces), labels, name) for name, faces in parts.items()
            if len(faces)]


def report_splits(faces: FaceSet) -> dict[str, FaceSet]:
    """The splits to report: every split but Training (PublicTest and PrivateTest reported apart)."""
    names = sorted(set(faces.splits.tolist()) - {"Training"}) or sorted(set(faces.splits.tolist()))
    return {name: faces.split(name) for name in names}


def load_for_eval(model: ModelOptions):
    """(info, function from FaceSet to probabilities) for a .keras or .tflite model; `model.flip` averages
    each face with its mirror image, and the function's `flip` argument overrides it per call, so one
    load gives both (threads and interpreter apply to .tflite models)."""
    from edge.model_file import ModelFileError

    model_path = model.resolved_path
    if model_path.suffix == ".tflite":
        from edge.classify import Classifier

        classifier = Classifier.from_options(model)
        return classifier.info, lambda part, flip=model.flip: classifier.probabilities_of_pixels(part.images, flip=flip)
    if model_path.suffix == ".keras":
        from train.models import flip_averaged, load_keras

        plain, info = load_keras(model_path)
        both = {False: plain, True: flip_averaged(plain)}
        return info, lambda part, flip=model.flip: predict_keras(both[flip], part, info.input)
    raise ModelFileError(f"{model_path}: expected a .keras or .tflite model")


def evaluate_model(model: ModelOptions, data: Path) -> tuple[list[dict[str, Any]], FaceSet]:
    """`fer-eval`'s metrics per report split, and the faces read; a Kaggle root is evaluated on test/."""
    from train.data import load_fer2013

    info, probabilities_of = load_for_eval(model)
    data = data / "test" if (data / "test").is_dir() and (data / "train").is_dir() else data
    faces = load_fer2013(data, info.input)
    return evaluate_splits(probabilities_of, report_splits(faces), tuple(info.labels)), faces


def evaluate_detect(model: ModelOptions, data: Path, detector: DetectorOptions) -> dict[str, Any]:
    """Whole labelled images (a folder of class folders) through detection: the largest face is cropped
    (with the detector's framing, and with its raw box) and classified; images with no face are counted,
    and scored on the whole image as a fallback. Each whole image classified as it is, for comparison."""
    from edge.classify import Classifier
    from edge.contract import to_model_pixels
    from edge.detect import FRAMINGS, Framing, make_detector
    from edge.sources import IMAGE_SUFFIXES, read_image
    from train.data import DataError

    classifier = Classifier.from_options(model)
    labels = classifier.labels
    folders = sorted(p for p in data.iterdir() if p.is_dir()) if data.is_dir() else []
    unknown = [f.name for f in folders if f.name not in labels]
    if not folders or unknown:
        raise DataError(f"{data}: --detect needs a folder of class folders named after the model's labels "
                        f"({', '.join(labels)}); " + (f"unknown: {', '.join(unknown)}" if unknown else "none found"))
    finder = make_detector(detector)
    framing = FRAMINGS[finder.name]
    rows: dict[str, list[bool]] = {"crop": [], "raw box": [], "whole image": [], "crop, else whole image": []}
    no_face, unreadable = [], []
    for folder in folders:
        truth = labels.index(folder.name)
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            image, why = read_image(path)
            if image is None:
                unreadable.append(f"{folder.name}/{path.name} ({why})")
                continue
            found = finder.detect(image, still=True)
            regions = [image]
            if found:
                box = max(found, key=lambda d: d.box.w * d.box.h).box
                regions += [framing.crop_box(box).crop(image), Framing().crop_box(box).crop(image)]
            pixels = np.stack([to_model_pixels(r, classifier.info.input) for r in regions])
            right = [int(p.argmax()) == truth for p in classifier.probabilities_of_pixels(pixels)]
            rows["whole image"].append(right[0])
            if found:
                rows["crop"].append(right[1])
                rows["raw box"].append(right[2])
            else:
                no_face.append(f"{folder.name}/{path.name}")
            rows["crop, else whole image"].append(right[1] if found else right[0])
    finder.close()
    if not rows["whole image"]:
        raise DataError(f"{data}: no readable images")
    return {"detector": finder.name, "framing": vars(framing), "images": len(rows["whole image"]),
            "with_face": len(rows["crop"]), "no_face": len(no_face), "no_face_first": no_face[:10],
            "unreadable": unreadable,
            "accuracy": {k: (float(np.mean(v)) if v else None) for k, v in rows.items()}}


def format_detect(result: dict[str, Any]) -> str:
    a = result["accuracy"]
    lines = [f"detector {result['detector']} (framing {result['framing']}): a face in {result['with_face']} of "
             f"{result['images']} images"]
    lines += [f"  accuracy, {name} ({'faces found' if name in ('crop', 'raw box') else 'all images'}): "
              f"{value:.2%}" for name, value in a.items() if value is not None]
    if result["no_face"]:
        lines.append(f"  no face in {result['no_face']} images, first: {', '.join(result['no_face_first'])}")
    if result["unreadable"]:
        lines.append(f"  skipped {len(result['unreadable'])} unreadable images, first: {result['unreadable'][0]}")
    return "\n".join(lines)
