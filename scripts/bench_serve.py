"""What the live view costs: pipeline FPS on a video without --serve, with --serve and nobody watching,
and with N viewers reading /stream.mjpg over loopback.

    python scripts/bench_serve.py [--video samples/demo.mp4] [--frames 600] [--viewers 5] [--repeats 3]

Viewers are separate processes (as browsers would be), so they do not share the pipeline's interpreter
lock; on a small machine they still share its CPU cores. Modes are interleaved over the repeats and the
median FPS of each is reported, with the ratio to the run without --serve.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.classify import ModelOptions  # noqa: E402
from edge.pipeline import Recognizer, RecognizerOptions  # noqa: E402
from edge.runner import RunOptions, run  # noqa: E402
from edge.serve import LiveServer, ServeOptions  # noqa: E402
from edge.sources import SourceOptions, open_source  # noqa: E402

VIEWER = r"""
import json, socket, sys
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=120)
sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: bench\r\n\r\n")
marker, tail, received, parts = b"--frame\r\nContent-Type: image/jpeg", b"", 0, 0
while True:
    try:
        chunk = sock.recv(1 << 18)
    except OSError:
        break
    if not chunk:
        break
    received += len(chunk)
    data = tail + chunk
    parts += data.count(marker)
    tail = data[-(len(marker) - 1):]
print(json.dumps({"bytes": received, "frames": parts}))
"""


def measure(video: Path, frames: int, viewers: int | None, model: Path | None) -> dict:
    """One run: viewers=None is without --serve; otherwise a LiveServer with that many stream readers."""
    recognizer = Recognizer(RecognizerOptions(model=ModelOptions(path=model)))
    live = LiveServer(ServeOptions(port=0, max_viewers=max(viewers or 1, 1)), recognizer.timer) \
        if viewers is not None else None
    readers = []
    if live is not None and viewers:
        readers = [subprocess.Popen([sys.executable, "-c", VIEWER, str(live.port)], stdout=subprocess.PIPE,
                                    text=True) for _ in range(viewers)]
        deadline = time.monotonic() + 20
        while live.viewers < viewers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {live.viewers} of {viewers} viewers connected")
            time.sleep(0.02)
    source = open_source(SourceOptions(source=str(video), loop=True))
    summary = run(recognizer, source, [live] if live is not None else [],
                  RunOptions(max_frames=frames, loop=True, report_every=0))
    got = []
    for reader in readers:
        out, _ = reader.communicate(timeout=60)
        got.append(json.loads(out))
    return {"viewers": viewers, "fps": summary.fps, "frames": summary.frames,
            "encoded": live.encoded if live is not None else 0,
            "viewer_frames": [g["frames"] for g in got],
            "viewer_mib": round(sum(g["bytes"] for g in got) / 2**20, 1),
            "render_p50_ms": summary.stages.get("render", {}).get("p50", 0.0)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", type=Path, default=ROOT / "samples" / "demo.mp4", help="video to loop")
    p.add_argument("--frames", type=int, default=600, help="frames per run")
    p.add_argument("--viewers", type=int, default=5, help="concurrent /stream.mjpg readers in the last mode")
    p.add_argument("--repeats", type=int, default=3, help="runs per mode (interleaved; the median is reported)")
    p.add_argument("--model", type=Path, default=None, help="a .tflite model (default: the shipped int8 model)")
    p.add_argument("--json", type=Path, default=None, help="also write every run's figures here")
    args = p.parse_args(argv)
    if args.frames < 1 or args.viewers < 1 or args.repeats < 1:
        p.error("--frames, --viewers and --repeats must be at least 1")
    modes = {"no --serve": None, "--serve, 0 viewers": 0, f"--serve, {args.viewers} viewers": args.viewers}
    measure(args.video, min(60, args.frames), 0, args.model)  # warm-up: caches, lazy imports
    runs: dict[str, list[dict]] = {name: [] for name in modes}
    for _ in range(args.repeats):
        for name, viewers in modes.items():
            runs[name].append(measure(args.video, args.frames, viewers, args.model))
    baseline = statistics.median(r["fps"] for r in runs["no --serve"])
    print(f"{args.video.name}, {args.frames} frames per run, median of {args.repeats} runs per mode")
    for name, results in runs.items():
        fps = statistics.median(r["fps"] for r in results)
        last = results[-1]
        extra = (f"; last run: {last['encoded']} JPEG encodes for {last['frames']} frames, frames per viewer "
                 f"{last['viewer_frames']}, {last['viewer_mib']} MiB sent") if last["viewer_frames"] else ""
        print(f"  {name:<20} {fps:6.1f} FPS  ({fps / baseline:.2f} of no --serve; "
              f"render p50 {last['render_p50_ms']:.2f} ms{extra})")
    zero = statistics.median(r["fps"] for r in runs["--serve, 0 viewers"])
    many = statistics.median(r["fps"] for r in runs[f"--serve, {args.viewers} viewers"])
    print(f"ratio {args.viewers} viewers / 0 viewers: {many / zero:.2f}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
