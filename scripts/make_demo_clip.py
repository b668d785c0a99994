"""Make samples/demo.mp4: a 640x480 clip with one face that moves and zooms, from the bundled photos.

    python scripts/make_demo_clip.py [OUT]

The clip is what the README's main command, the end-to-end test and the benchmarks run on when there
is no camera: 8 seconds at 30 FPS, the Grace Hopper portrait for the first half, then the astronaut.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WIDTH, HEIGHT, FPS, SECONDS = 640, 480, 30, 8


def frame_at(photo: np.ndarray, t: float) -> np.ndarray:
    """The photo scaled to fill the frame, slowly zooming (1.0-1.25x) and panning; t in [0, 1]."""
    zoom = 1.0 + 0.25 * np.sin(np.pi * t)
    scale = zoom * max(WIDTH / photo.shape[1], HEIGHT / photo.shape[0])
    resized = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    x = int((resized.shape[1] - WIDTH) * (0.5 + 0.4 * np.sin(2 * np.pi * t) / 2))
    y = int((resized.shape[0] - HEIGHT) * 0.3)
    return np.ascontiguousarray(resized[y:y + HEIGHT, x:x + WIDTH])


def main(out: Path) -> None:
    photos = [cv2.imread(str(SAMPLES / name)) for name in ("grace_hopper.jpg", "astronaut.png")]
    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}{out.suffix}")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    total = FPS * SECONDS
    for i in range(total):
        photo = photos[0] if i < total // 2 else photos[1]
        writer.write(frame_at(photo, (i % (total // 2)) / (total // 2)))
    writer.release()
    os.replace(tmp, out)
    print(f"wrote {out} ({total} frames, {out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES / "demo.mp4")
