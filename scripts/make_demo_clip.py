"""Make samples/demo.mp4: a 640x480 clip with one face that moves and zooms, from the bundled photos.

    python scripts/make_demo_clip.py [OUT] [--size WIDTHxHEIGHT]

The clip is what the README's main command, the end-to-end test and the benchmarks run on when there
is no camera: 8 seconds at 30 FPS, the Grace Hopper portrait for the first half, then the astronaut.
`--size 1280x720` makes the same clip larger (for timing the capture thread on costlier decoding).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from edge.files import atomic_path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WIDTH, HEIGHT, FPS, SECONDS = 640, 480, 30, 8


def frame_at(photo: np.ndarray, t: float, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The photo scaled to fill the frame, slowly zooming (1.0-1.25x) and panning; t in [0, 1]."""
    zoom = 1.0 + 0.25 * np.sin(np.pi * t)
    scale = zoom * max(width / photo.shape[1], height / photo.shape[0])
    resized = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    x = int((resized.shape[1] - width) * (0.5 + 0.4 * np.sin(2 * np.pi * t) / 2))
    y = int((resized.shape[0] - height) * 0.3)
    return np.ascontiguousarray(resized[y:y + height, x:x + width])


def main(out: Path, width: int = WIDTH, height: int = HEIGHT) -> None:
    photos = [cv2.imread(str(SAMPLES / name)) for name in ("grace_hopper.jpg", "astronaut.png")]
    total = FPS * SECONDS
    with atomic_path(out) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (width, height))
        for i in range(total):
            photo = photos[0] if i < total // 2 else photos[1]
            writer.write(frame_at(photo, (i % (total // 2)) / (total // 2), width, height))
        writer.release()
    print(f"wrote {out} ({total} frames, {out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, nargs="?", default=SAMPLES / "demo.mp4", help="where to write the clip")
    parser.add_argument("--size", type=str, default=f"{WIDTH}x{HEIGHT}", help="frame size, WIDTHxHEIGHT")
    args = parser.parse_args()
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size takes WIDTHxHEIGHT, e.g. 1280x720 (got {args.size!r})")
    main(args.out, width, height)
