"""Compare two `fer-edge --jsonl` outputs of the same input, frame by frame (used by scripts/pi-check.sh).

    python scripts/pi_compare.py REFERENCE.jsonl OTHER.jsonl [--tolerance 0.02] [--decoded]

Strict (the default), for runs that read bit-identical pixels (images, PNG frames): the same number of
frames, the same number of faces in every frame, the same boxes, the same labels, and every probability
within --tolerance (absolute) of the reference. Fails on the first kind of mismatch it counts.

--decoded, for runs that decode a compressed video on each machine: video decoders and their colour
conversion are not bit-exact across CPU architectures (a few grey levels), so the Haar boxes can move by
a few pixels and a borderline face can change label. Then only the structure must agree (frames, faces
per frame, each box overlapping its counterpart by IoU >= --min-iou); labels and probabilities are
counted and printed, not judged.

Prints one line per frame that differs (all frames with --verbose), a summary and a final PASS or FAIL
line. Exit status: 0 pass, 1 mismatch, 2 unreadable input. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(path: Path) -> list[dict]:
    """The JSONL records of `path`, in file order."""
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
    return records


def iou(a: list[int], b: list[int]) -> float:
    """Intersection over union of two [x, y, w, h] boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def pair_faces(ref: list[dict], other: list[dict]) -> list[tuple[dict, dict]]:
    """Match faces by best box overlap (both lists have the same length)."""
    left = list(other)
    pairs = []
    for face in ref:
        best = max(left, key=lambda candidate: iou(face["box"], candidate["box"]))
        left.remove(best)
        pairs.append((face, best))
    return pairs


def compare(ref: list[dict], other: list[dict], tolerance: float, decoded: bool, min_iou: float,
            verbose: bool) -> list[str]:
    """Print per-frame lines and a summary; return the reasons to fail (empty: pass)."""
    failures: list[str] = []
    if len(ref) != len(other):
        failures.append(f"frame count differs: {len(ref)} vs {len(other)}")
    frames = min(len(ref), len(other))
    faces = same_boxes = same_labels = same_probs = face_count_mismatch = low_iou = 0
    differing_frames = 0
    largest = 0.0
    worst_iou = 1.0
    for index in range(frames):
        a, b = ref[index]["faces"], other[index]["faces"]
        notes = []
        if len(a) != len(b):
            face_count_mismatch += 1
            notes.append(f"faces {len(a)} vs {len(b)}")
        else:
            for fa, fb in pair_faces(a, b):
                faces += 1
                overlap = iou(fa["box"], fb["box"])
                worst_iou = min(worst_iou, overlap)
                if fa["box"] == fb["box"]:
                    same_boxes += 1
                else:
                    notes.append(f"box {fa['box']} vs {fb['box']} (IoU {overlap:.2f})")
                    low_iou += overlap < min_iou
                if fa["label"] == fb["label"]:
                    same_labels += 1
                else:
                    notes.append(f"label {fa['label']} {fa['score']:.3f} vs {fb['label']} {fb['score']:.3f}")
                if set(fa["probs"]) != set(fb["probs"]):
                    notes.append("label sets differ")
                    failures.append(f"frame {index}: probability labels differ")
                    continue
                diff = max(abs(fa["probs"][k] - fb["probs"][k]) for k in fa["probs"])
                largest = max(largest, diff)
                same_probs += diff == 0
                if diff > tolerance:
                    notes.append(f"max |dp| {diff:.4f}")
        differing_frames += bool(notes)
        if notes or verbose:
            labels = ",".join(f["label"] for f in a) or "-"
            print(f"  frame {index:4d}: {labels:<10} " + ("; ".join(notes) if notes else "same"))
    print(f"  {frames} frames compared ({len(ref)} vs {len(other)}), {faces} faces paired, "
          f"{differing_frames} frame(s) with a difference")
    print(f"  boxes equal {same_boxes}/{faces} (lowest IoU {worst_iou:.3f}), labels equal {same_labels}/{faces}, "
          f"probabilities identical {same_probs}/{faces}, largest |difference| {largest:.4f} (tolerance {tolerance})")
    if face_count_mismatch:
        failures.append(f"{face_count_mismatch} frame(s) with a different number of faces")
    if decoded:
        if low_iou:
            failures.append(f"{low_iou} box(es) with IoU below {min_iou}")
    else:
        if same_boxes != faces:
            failures.append(f"{faces - same_boxes} box(es) differ")
        if same_labels != faces:
            failures.append(f"{faces - same_labels} label(s) differ")
        if largest > tolerance:
            failures.append(f"probability difference {largest:.4f} above tolerance {tolerance}")
    if frames and not faces:
        failures.append("no face in any frame: nothing was compared")
    return failures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reference", type=Path, help="JSONL of the reference run (x86_64)")
    p.add_argument("other", type=Path, help="JSONL of the run to check (aarch64)")
    p.add_argument("--tolerance", type=float, default=0.02, help="largest absolute probability difference")
    p.add_argument("--decoded", action="store_true",
                   help="inputs were decoded separately on each machine: check structure only")
    p.add_argument("--min-iou", type=float, default=0.5, help="--decoded: smallest box overlap accepted")
    p.add_argument("--name", default="", help="what is compared, for the PASS/FAIL line")
    p.add_argument("--verbose", action="store_true", help="a line for every frame, not only differing ones")
    args = p.parse_args(argv)
    try:
        ref, other = load(args.reference), load(args.other)
    except (OSError, ValueError, KeyError) as exc:
        print(f"pi_compare: error: {exc}", file=sys.stderr)
        return 2
    name = args.name or f"{args.reference.name} vs {args.other.name}"
    try:
        failures = compare(ref, other, args.tolerance, args.decoded, args.min_iou, args.verbose)
    except (KeyError, TypeError, IndexError) as exc:
        print(f"pi_compare: error: unexpected record layout ({exc!r})", file=sys.stderr)
        return 2
    mode = "structure only (decoded separately)" if args.decoded else "strict"
    if failures:
        print(f"FAIL {name} [{mode}]: " + "; ".join(failures))
        return 1
    print(f"PASS {name} [{mode}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
