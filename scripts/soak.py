"""Soak: does a long run stay flat? Replays a clip with `fer-edge --loop` for N minutes and samples the
process's memory and frame rate every 10 s.

    python scripts/soak.py [--minutes 10] [--video samples/demo.mp4] [--serve] [--every 10] [--warmup 60]
                           [--json FILE] [-- extra fer-edge flags]

It runs the real command (`python -m edge --source VIDEO --loop --headless --report-every 0 --jsonl -`), counts its
JSONL records as they arrive for the frame rate, and reads /proc/PID/status for memory: VmRSS (what `top`
shows), RssAnon (the heap: where a leak would show) and VmHWM (the peak). With `--serve`, the live view
runs too and one viewer reads /stream.mjpg for the whole run. At the end the run gets SIGINT and must
finish with its summary. Reported: the first sample after the warm-up against the last (growth), the
largest value after the warm-up, and FPS of the first and last minute after the warm-up. Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("VmRSS", "RssAnon", "VmHWM")


def memory_mib(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in FIELDS:
            values[name] = int(rest.split()[0]) / 1024
    return values


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Viewer(threading.Thread):
    """Reads /stream.mjpg like a browser tab left open, counting parts; reconnects if the stream drops."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.parts, self.megabytes, self.connects = port, 0, 0.0, 0
        self.stopping = threading.Event()

    def run(self) -> None:
        marker = b"--frame"
        while not self.stopping.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                    sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: soak\r\n\r\n")
                    self.connects += 1
                    tail = b""
                    while not self.stopping.is_set():
                        chunk = sock.recv(1 << 18)
                        if not chunk:
                            break
                        self.megabytes += len(chunk) / 2**20
                        data = tail + chunk
                        self.parts += data.count(marker)
                        tail = data[-(len(marker) - 1):]
            except OSError:
                pass
            self.stopping.wait(0.5)


class Records(threading.Thread):
    """Counts the run's JSONL records (one per frame) and keeps the last one."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream, self.count, self.last = stream, 0, None

    def run(self) -> None:
        for line in self.stream:
            self.count += 1
            self.last = line


def soak(video: Path, minutes: float, every: float, serve: bool, extra: list[str]) -> dict:
    command = [sys.executable, "-m", "edge", "--source", str(video), "--loop", "--headless",
               "--report-every", "0", "--jsonl", "-", *extra]
    port = free_port() if serve else None
    if serve:
        command += ["--serve", str(port)]
    log = tempfile.TemporaryFile("w+")
    # SIGINT back to its default in the child: a shell starts background jobs with it ignored, and the
    # run must see the Ctrl-C that ends it.
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    records = Records(process.stdout)
    records.start()
    viewer = Viewer(port) if serve else None
    started = time.monotonic()
    if viewer is not None:
        viewer.start()
    samples, frames_before, clock = [], 0, started
    try:
        while time.monotonic() - started < minutes * 60:
            time.sleep(max(0.0, clock + every - time.monotonic()))
            if process.poll() is not None:
                log.seek(0)
                raise SystemExit(f"soak: error: fer-edge exited early ({process.returncode}): "
                                 f"{log.read().strip().splitlines()[-1:]}")
            now, frames = time.monotonic(), records.count
            samples.append({"seconds": round(now - started, 1), "frames": frames,
                            "fps": round((frames - frames_before) / (now - clock), 1),
                            **{k: round(v, 1) for k, v in memory_mib(process.pid).items()},
                            **({"viewer_parts": viewer.parts} if viewer is not None else {})})
            print(json.dumps(samples[-1]), flush=True)
            frames_before, clock = frames, now
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        records.join(timeout=10)
        if viewer is not None:
            viewer.stopping.set()
    log.seek(0)
    summary = [line.strip() for line in log.read().splitlines() if "frames" in line][-1:]
    return {"command": " ".join(command[1:]), "exit": process.returncode, "summary": summary, "samples": samples,
            "viewer": {"parts": viewer.parts, "mib": round(viewer.megabytes, 1), "connects": viewer.connects}
            if viewer is not None else None}


def report(result: dict, warmup: float) -> list[str]:
    after = [s for s in result["samples"] if s["seconds"] >= warmup]
    if len(after) < 2:
        return [f"too short: {len(after)} samples after the {warmup:g} s warm-up"]
    first, last = after[0], after[-1]
    per_minute = max(1, round(60 / (after[1]["seconds"] - after[0]["seconds"])))
    lines = [f"{result['command']}  (exit {result['exit']})", *result["summary"],
             f"{len(result['samples'])} samples, {last['frames']} frames, {last['seconds'] / 60:.1f} min"]
    for field in FIELDS:
        top = max(s[field] for s in after)
        lines.append(f"{field:8} at {first['seconds']:.0f} s {first[field]:7.1f} MiB, "
                     f"at the end {last[field]:7.1f} MiB, growth {last[field] - first[field]:+.1f} MiB "
                     f"(largest after warm-up {top:.1f})")
    early = statistics.median(s["fps"] for s in after[:per_minute])
    late = statistics.median(s["fps"] for s in after[-per_minute:])
    lines.append(f"FPS      first minute after warm-up {early:.1f}, last minute {late:.1f} ({late / early:.2f}x); "
                 f"all samples {min(s['fps'] for s in after):.1f}-{max(s['fps'] for s in after):.1f}")
    if result["viewer"]:
        v = result["viewer"]
        lines.append(f"viewer   {v['parts']} JPEG parts, {v['mib']} MiB, {v['connects']} connection(s)")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", type=Path, default=ROOT / "samples" / "demo.mp4", help="clip to loop")
    p.add_argument("--minutes", type=float, default=10.0, help="how long to run")
    p.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=60.0, help="seconds before growth is counted")
    p.add_argument("--serve", action="store_true", help="also run the live view, with one /stream.mjpg viewer")
    p.add_argument("--json", type=Path, default=None, help="also write every sample here")
    p.add_argument("extra", nargs="*", help="more fer-edge flags, after --")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.every <= 0 or args.warmup < 0:
        p.error("--minutes and --every must be positive, --warmup not negative")
    if not args.video.is_file():
        p.error(f"no such video: {args.video}")
    if not Path(f"/proc/{os.getpid()}/status").exists():
        p.error("needs Linux's /proc to read memory")
    result = soak(args.video, args.minutes, args.every, args.serve, args.extra)
    print("\n".join(report(result, args.warmup)))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if result["exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
