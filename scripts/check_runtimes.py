"""Check that a model gives the same answers on this environment's interpreter as on reference outputs.

    python scripts/check_runtimes.py MODEL FACES_DIR --write ref.npz          # in one environment
    python scripts/check_runtimes.py MODEL FACES_DIR --compare ref.npz        # in another

FACES_DIR is a folder of class-name folders (for example FER2013's test/). Only the edge runtime is
imported (numpy, OpenCV, a TFLite interpreter), so it runs in an environment with tflite-runtime 2.14
and numpy<2 as well as in one with ai-edge-litert. `scripts/check_runtimes.sh` runs both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.classify import Classifier, ModelOptions  # noqa: E402
from edge.contract import to_model_pixels  # noqa: E402


def load_faces(root: Path, spec, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    pixels, truth = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if image is not None:
                pixels.append(to_model_pixels(image, spec))
                truth.append(labels.index(folder.name))
    return np.stack(pixels), np.array(truth)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path)
    p.add_argument("faces", type=Path)
    p.add_argument("--interpreter", type=str, default="auto")
    p.add_argument("--min-agreement", type=float, default=0.99,
                   help="--compare fails below this share of faces with the same top-1 label")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, help="save this environment's probabilities here")
    group.add_argument("--compare", type=Path, help="compare with probabilities saved by --write")
    args = p.parse_args()
    classifier = Classifier.from_options(ModelOptions(path=args.model, interpreter=args.interpreter))
    pixels, truth = load_faces(args.faces, classifier.info.input, classifier.labels)
    probabilities = classifier.probabilities_of_pixels(pixels)
    accuracy = float((probabilities.argmax(1) == truth).mean())
    print(f"{classifier.backend} (numpy {np.__version__}): {len(truth)} faces, accuracy {accuracy:.2%}")
    if args.write:
        np.savez(args.write, probabilities=probabilities, backend=classifier.backend)
        return 0
    reference = np.load(args.compare)
    same = float((reference["probabilities"].argmax(1) == probabilities.argmax(1)).mean())
    largest = float(np.abs(reference["probabilities"] - probabilities).max())
    print(f"vs {reference['backend']}: same top-1 label for {same:.2%} of faces, largest probability "
          f"difference {largest:.5f}")
    return 0 if same >= args.min_agreement else 1


if __name__ == "__main__":
    sys.exit(main())
